//! The pure decision core: policy + observations + saved history + now -> desired reserved
//! concurrency + reasons + the history to save.
//!
//! No I/O, no clock and no AWS types. Every rule that holds or shapes the result adds a
//! human-readable reason, so the decision record explains itself.
//!
//! # Order of application
//!
//! 1. **Proposals**: every applicable alarm action, the queue's (its backlog over
//!    `messages_per_instance`, or a drain-time proposal, [`crate::drain`]), or a direct
//!    command. A drain-time proposal that a slow dependency drives up is held at the current
//!    reservation.
//! 2. **Largest** proposal wins (scaling out wins, as in Application Auto Scaling and the HPA).
//! 3. **Tolerance**: a change smaller than `tolerance` x current is skipped
//!    (`scale_out_tolerance` x current for an increase, when set; both narrowed while the
//!    reservation holds with `tolerance_narrows_to`, `narrowed_knobs`). The value after this step
//!    is the evaluation's *recommendation*, recorded in the history (a drain-time proposal's
//!    draining part is not, when it lifts the recommendation by more than the tolerance: it
//!    ends with the backlog).
//! 4. **Cooldowns**: no step in a direction until its cooldown has passed since the last
//!    applied change.
//! 5. **Scale-in stabilization**: scale in only to the highest recommendation within the
//!    window (this evaluation's included), never above the current value. A drain-time
//!    target's drop beyond the noise of its executions at work skips the window, unless such
//!    a drop was undone within the hour ([`crate::drain_stability`]).
//! 6. **Step limits**: at most `max_scale_out_step` up or `max_scale_in_step` down, or the
//!    `_percent` variants of the current value; the tighter one when both are set.
//! 7. **Caps** from alarms: the smallest active cap, at once, whatever steps 3 to 6 said.
//! 8. **Bounds** `[min, max]`: always, whatever steps 3 to 7 said. They are the document's,
//!    replaced by those of the target's active **schedules** ([`crate::schedule`]) for the
//!    fields a window sets. **Caps win over windows**: under an active cap, a min that a
//!    window raised lifts the value at most to the cap (the document's own min still holds
//!    above a cap, as it always has). Then the **event source floor**: a target whose SQS
//!    mappings follow its reservation never goes below 2 per mapping
//!    ([`crate::event_sources`]), unless a cap, an explicit set (an alarm's `set` or a
//!    direct command) or a window's `max` or `set` below it wins: that pauses the mappings
//!    instead (a window's pause ends with the window).
//! 9. **Missing data**: when the target's alarms or queue could not be read, its proposals
//!    are replaced by its `on_metric_failure` (hold, or set N), and it never scales in
//!    unless a cap or a bound forces it.
//! 10. **Account headroom**: a scale-out takes at most what the account's unreserved pool
//!     has above its floor (the share the plan left for this target).
//!
//! Steps 3 to 6 need a current reservation to be stable around; a direct command (an
//! operator's explicit value) skips them too. No proposal and no cap means no change.
//!
//! Before all of these, a direct command whose target has an alarm that could not be read is
//! refused, not decided ([`on_unread_alarm`]); a direct command ignores the queue (step 1).

use crate::alarm::AlarmState;
use crate::drain::Signals as DrainSignals;
use crate::drain_stability::Skip;
use crate::policy::{Action, MetricFailure, QueueGoal, QueueSpec, Stability, Target};
use crate::schedule::Bounds;
use crate::state::{Direction, History, LastChange, SavedState, MAX_CLOCK_SKEW_SECONDS};

use std::collections::HashMap;

/// Where an alarm's state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateSource {
    /// Read from CloudWatch during this evaluation (preferred: level-triggered).
    CloudWatch,
    /// Taken from the triggering event because CloudWatch did not return the alarm.
    Event,
    /// Taken from the triggering event because CloudWatch could not be read: only its caps
    /// count (protection is never delayed, but nothing scales on partial data).
    EventWhileUnreadable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservedAlarm {
    pub state: AlarmState,
    pub source: StateSource,
}

/// Alarm states by alarm name.
pub type AlarmStates = HashMap<String, ObservedAlarm>;

/// What the evaluation was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Act on the current states of the target's alarms.
    FollowAlarms,
    /// An operator's direct command: propose exactly this value. It replaces the alarms'
    /// proposals, but their caps and the target's bounds still hold.
    Direct(u32),
}

/// What an evaluation does when an alarm of its target could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnreadAlarm {
    /// Refuse the request: nothing is decided and the read's error is the result.
    Refuse,
    /// Decide with the read failure among the target's missing data (step 9: its
    /// `on_metric_failure` replaces the proposals, and it never scales in on it).
    DecideOnMissingData,
}

/// The rule for an alarm that could not be read. An operator's direct command is refused:
/// the alarm may hold a cap, and a command must never pass a cap that could not be checked
/// (an operator can retry; a wrong value throttles production). Every other request is
/// decided, on missing data.
pub fn on_unread_alarm(request: Request) -> UnreadAlarm {
    match request {
        Request::Direct(_) => UnreadAlarm::Refuse,
        Request::FollowAlarms => UnreadAlarm::DecideOnMissingData,
    }
}

/// The rule for event source mappings that could not be listed: an operator's direct
/// command that lowers the reservation is refused, since the mappings' pollers may run more
/// than the new value and their throttled batches end in the dead-letter queue (an operator
/// can retry). A raise throttles nothing; every other request is decided on missing data,
/// which never scales in (caps still act).
pub fn refuses_without_mappings(request: Request, decision: &Decision) -> bool {
    matches!(request, Request::Direct(_)) && decision.lowers()
}

/// A queue's approximate depth, as `GetQueueAttributes` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    /// `ApproximateNumberOfMessages`: available for retrieval.
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible`: received, not yet deleted (in flight).
    pub in_flight: u64,
    /// `ApproximateNumberOfMessagesDelayed`: not yet available.
    pub delayed: u64,
}

/// The backlog a target counts: visible, plus in-flight and delayed if the target says so.
pub fn backlog(spec: &QueueSpec, depth: QueueDepth) -> u64 {
    let mut total = depth.visible;
    if spec.include_in_flight {
        total = total.saturating_add(depth.in_flight);
    }
    if spec.include_delayed {
        total = total.saturating_add(depth.delayed);
    }
    total
}

/// The queue's proposal: `min` below `activation`; else ceil(backlog /
/// messages_per_instance), or the drain-time proposal of a `target_wait_seconds` goal
/// ([`crate::drain::propose`]).
pub fn queue_proposal(
    spec: &QueueSpec,
    depth: QueueDepth,
    min: u32,
    signals: &DrainSignals,
    tolerance: f64,
) -> crate::drain::Proposal {
    let plain = |value: i64, reason: String| crate::drain::Proposal {
        value,
        sustained: None,
        reason,
        slow_dependency: None,
    };
    let total = backlog(spec, depth);
    let mut parts = vec![format!("{} visible", depth.visible)];
    if spec.include_in_flight {
        parts.push(format!("{} in flight", depth.in_flight));
    }
    if spec.include_delayed {
        parts.push(format!("{} delayed", depth.delayed));
    }
    let seen = format!(
        "queue {}: backlog {total} ({})",
        spec.queue.name(),
        parts.join(" + ")
    );
    if total < u64::from(spec.activation) {
        return plain(
            i64::from(min),
            format!(
                "{seen} is below activation {}: propose min {min}",
                spec.activation
            ),
        );
    }
    match spec.goal {
        QueueGoal::PerInstance(per) => {
            let per = u64::from(per);
            let proposal = total.div_ceil(per).min(crate::count::MAX_COUNT as u64) as i64;
            plain(
                proposal,
                format!("{seen} / {per} per instance -> propose {proposal}"),
            )
        }
        QueueGoal::Wait(goal) => crate::drain::propose(spec, &goal, depth, signals, tolerance),
    }
}

/// Everything one evaluation observed.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// The current reservation; `None` when the function has none.
    pub current: Option<u32>,
    pub alarms: &'a AlarmStates,
    /// The target's queue depth, when it follows a queue and it was read.
    pub queue: Option<QueueDepth>,
    pub saved: &'a SavedState,
    /// Epoch seconds.
    pub now: i64,
    /// The reads that failed for this target (e.g. "DescribeAlarms failed: ..."); when any
    /// did, the target follows its `on_metric_failure`.
    pub unread: &'a [String],
    /// What this target may take from the account's unreserved pool; `None`: not limited
    /// (unknown, or not a scale-out).
    pub headroom: Option<Headroom>,
    /// 2 per SQS event source mapping that follows the reservation, 0 without any
    /// ([`crate::event_sources::floor`]): nothing but a cap or an explicit set goes below it.
    pub mapping_floor: u32,
    /// True while an explicit set (an operator's command, an alarm's `set`) keeps the
    /// mappings paused: until something proposes a value, the floor does not resume them.
    pub pause_held: bool,
    /// What a `target_wait_seconds` goal reads besides the depth ([`crate::drain`]).
    pub drain: DrainSignals,
}

/// Everything one evaluation observed, owned: the writer decides again with the account's
/// headroom from these, without reading again.
#[derive(Debug, Clone)]
pub struct Observations {
    pub current: Option<u32>,
    /// The states of this target's alarms.
    pub alarms: AlarmStates,
    pub queue: Option<QueueDepth>,
    pub saved: SavedState,
    pub now: i64,
    pub unread: Vec<String>,
    pub mapping_floor: u32,
    pub pause_held: bool,
    pub drain: DrainSignals,
}

impl Observations {
    /// [`decide`] on these observations.
    pub fn decide(
        &self,
        target: &Target,
        request: Request,
        headroom: Option<Headroom>,
    ) -> Decision {
        let inputs = Inputs {
            current: self.current,
            alarms: &self.alarms,
            queue: self.queue,
            saved: &self.saved,
            now: self.now,
            unread: &self.unread,
            headroom,
            mapping_floor: self.mapping_floor,
            pause_held: self.pause_held,
            drain: self.drain,
        };
        decide(target, &inputs, request)
    }
}

/// The share of the account's unreserved pool a scale-out may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headroom {
    /// What this target may take: the plan's remaining budget.
    pub available: u32,
    /// `UnreservedConcurrentExecutions` as read.
    pub unreserved: u32,
    /// The unreserved pool's floor (100, or what Lambda said).
    pub floor: u32,
}

/// The outcome of one evaluation of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The reservation before the decision; `None` when the function has none.
    pub previous: Option<u32>,
    /// The reservation the policy wants; `None` only when there was none and nothing applies.
    pub desired: Option<u32>,
    pub reasons: Vec<String>,
    /// The history to save once this decision has been carried out.
    pub history: History,
    /// Whether `history` differs from what was saved (or must replace an unusable item):
    /// nothing is written otherwise.
    pub history_changed: bool,
    /// Whether an active cap lowered the value (a protective decrease, applied first).
    pub capped: bool,
    /// Whether an explicit set keeps the value below the event source floor (the mappings'
    /// pause then holds until something proposes a value; a cap's lifts with the cap, a
    /// window's with the window).
    pub explicit_pause: bool,
    /// The target's schedules that were active, by name ([`crate::schedule`]).
    pub schedules: Vec<String>,
    /// Set when the account's headroom held a scale-out below what it asked for.
    pub headroom_clamp: Option<HeadroomClamp>,
}

/// A scale-out the account's headroom held back: the increase asked for and the one granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HeadroomClamp {
    pub wanted: u32,
    pub granted: u32,
}

impl Decision {
    /// The value to write, if the desired value differs from the current one.
    pub fn change(&self) -> Option<u32> {
        match self.desired {
            Some(desired) if self.previous != Some(desired) => Some(desired),
            _ => None,
        }
    }

    /// True when the decision lowers the reservation ([`lowers`]).
    pub fn lowers(&self) -> bool {
        lowers(self.previous, self.change())
    }
}

/// True when a reservation of `previous` (`None`: none, the whole unreserved pool) set to
/// `to` is lowered; `to` `None` is no change (or back to the pool), never a decrease. A
/// decrease writes its mappings before the reservation ([`crate::apply`]), which the lease
/// relies on ([`crate::lease`]).
pub fn lowers(previous: Option<u32>, to: Option<u32>) -> bool {
    match (previous, to) {
        (Some(from), Some(to)) => to < from,
        (None, Some(_)) => true,
        (_, None) => false,
    }
}

/// The history decide starts from, and whether the saved item must be replaced even if the
/// history does not change (it was unusable). Without a usable history the current
/// reservation counts as recommended now, so that a first scale-in waits a full
/// stabilization window.
fn starting_history(
    target: &Target,
    bounds: &Bounds,
    inputs: &Inputs,
    reasons: &mut Vec<String>,
) -> Started {
    let window = target.stability.scale_in_stabilization_seconds;
    let (mut history, repair) = match inputs.saved {
        SavedState::Valid(h) => match ahead(h, inputs.now) {
            Some(seconds) => {
                reasons.push(format!(
                    "saved state is from the future ({seconds} s ahead): treated as no history"
                ));
                (None, true)
            }
            None => (Some(h.clone()), false),
        },
        SavedState::Missing => {
            reasons.push("no saved state: no history yet".into());
            (None, false)
        }
        SavedState::Unusable { why, .. } => {
            reasons.push(format!(
                "saved state unusable ({why}): treated as no history"
            ));
            (None, true)
        }
        SavedState::NotKept => {
            reasons.push(
                "no state table is configured (AUTOSCALER_STATE_TABLE): decided without history"
                    .into(),
            );
            (None, false)
        }
    };
    let seeded = history.is_none();
    match &mut history {
        Some(h) => h.expire(inputs.now, window),
        None => {
            let mut seeded = History::started_at(inputs.now);
            if let (Some(current), true) = (inputs.current, window > 0) {
                let seed = current.clamp(bounds.min, bounds.max);
                seeded.record(inputs.now, seed, window);
                // Said with the bounds when they move it (a window's min above it).
                let counted = if seed == current {
                    format!("({seed})")
                } else {
                    format!("({current}, within the bounds {seed})")
                };
                reasons.push(format!(
                    "without history the current reservation counts as recommended now \
                     {counted}: a scale-in waits a full stabilization window ({window} s)"
                ));
            }
            // The event source records carry no times: they outlive a history set aside,
            // so that a pause is still the autoscaler's and a ceiling still the user's.
            seeded.event_sources = inputs.saved.event_sources().to_vec();
            history = Some(seeded);
        }
    }
    Started {
        history: history.unwrap_or_default(),
        repair,
        seeded,
    }
}

/// The target's knobs at this evaluation, with a [`crate::policy::Narrowing`] its
/// tolerances narrowed by the seconds the reservation has held since the last change a
/// usable history records; with none recorded (none yet, an item that expired after days
/// without a change, or one set aside), or one that did not land (its write failed or was
/// deferred after the save, so the reservation is not what it set), held longer than
/// known: at the floor. Without a reservation, as set: nothing has held. With them, the
/// reason to give where a tolerance acts (step 3).
fn narrowed_knobs(target: &Target, inputs: &Inputs) -> (Stability, Option<String>) {
    let set = target.stability;
    let (Some(narrowing), Some(_)) = (set.narrowing, inputs.current) else {
        return (set, None);
    };
    let now = inputs.now;
    let saved = match inputs.saved {
        SavedState::Valid(saved) if ahead(saved, now).is_none() => Some(saved),
        _ => None,
    };
    // The attempt of the last change, when the history still keeps it: what it set.
    let attempted = |change: &LastChange| {
        let newest = saved?.activities.last()?;
        (newest.at == change.at).then_some(newest.desired)
    };
    // The reservation is not what the last change set: it did not land (its write failed,
    // or was deferred after the save), or it was changed since by someone else, at a time
    // no one recorded.
    let (knobs, since) = match saved.and_then(|h| h.last_change) {
        Some(change) => match attempted(&change) {
            Some(desired) if desired != inputs.current => (
                set.after_holding(i64::MAX),
                format!(
                    "the reservation is not what the last change set ({}, {} s ago): that \
                     change did not land or the reservation was changed since, so held longer \
                     than known",
                    desired.map_or("none".to_owned(), |d| d.to_string()),
                    now - change.at
                ),
            ),
            _ => {
                let held = now - change.at;
                (
                    set.after_holding(held),
                    format!("{held} s since the last change"),
                )
            }
        },
        None => (
            set.after_holding(i64::MAX),
            "no change recorded, so held longer than known".to_owned(),
        ),
    };
    let narrowed = [
        ("tolerance", Some(set.tolerance), Some(knobs.tolerance)),
        (
            "scale-out tolerance",
            set.scale_out_tolerance,
            knobs.scale_out_tolerance,
        ),
    ]
    .into_iter()
    .filter_map(|(which, from, to)| match (from, to) {
        (Some(from), Some(to)) if from != to => Some(format!("{which} {from} narrowed to {to}")),
        _ => None,
    })
    .collect::<Vec<_>>();
    let reason = (!narrowed.is_empty()).then(|| {
        format!(
            "{since}: {} (towards {} with a time constant of {} s)",
            narrowed.join(", "),
            narrowing.to,
            narrowing.seconds
        )
    });
    (knobs, reason)
}

/// How far in the future a saved history's latest time is, when it is further than clocks
/// may disagree: such a history is set aside.
fn ahead(history: &History, now: i64) -> Option<i64> {
    history
        .latest_time()
        .filter(|&t| t > now + MAX_CLOCK_SKEW_SECONDS)
        .map(|t| t - now)
}

/// The history an evaluation starts from.
struct Started {
    history: History,
    /// The saved state must be replaced (unusable, or from the future).
    repair: bool,
    /// There was none to use: this one was just started, its only recommendation the current
    /// reservation.
    seeded: bool,
}

/// Decides the desired reserved concurrency of `target`. Pure: `inputs.now` is the clock.
/// Each step is a function of its own, in the order of the module documentation.
pub fn decide(target: &Target, inputs: &Inputs, request: Request) -> Decision {
    let current = inputs.current;
    let now = inputs.now;
    // The bounds at this instant: the document's, or its active schedules'.
    let bounds = crate::schedule::bounds(target, now);
    let mut reasons = bounds.reasons.clone();
    // A function without a reservation draws on the unreserved pool, up to everything the
    // account has; for relative steps the policy's max is the meaningful stand-in.
    let basis = i64::from(current.unwrap_or(bounds.max));
    let (knobs, narrowed) = narrowed_knobs(target, inputs);
    let asked = proposals(
        target,
        &knobs,
        inputs,
        request,
        &bounds,
        basis,
        &mut reasons,
    );

    let Started {
        mut history,
        repair,
        seeded,
    } = starting_history(target, &bounds, inputs, &mut reasons);
    let started_from = history.clone();

    // Without a proposal, a cap or a window's max, an unreserved function stays unreserved; a
    // reservation stays as it is, only brought within [min, max].
    if asked.proposals.is_empty()
        && asked.caps.is_empty()
        && bounds.max_by.is_none()
        && current.is_none()
    {
        let pool = match &bounds.min_by {
            Some(name) => format!(
                " (no reservation: the function draws on the account's unreserved pool; \
                 schedule {name}'s min applies once it has one)"
            ),
            None => String::new(),
        };
        reasons.push(format!(
            "no proposal and no cap: leave the reservation as it is{pool}"
        ));
        return Decision {
            previous: current,
            desired: current,
            reasons,
            history_changed: repair,
            history,
            capped: false,
            explicit_pause: false,
            schedules: bounds.active,
            headroom_clamp: None,
        };
    }

    let mut value = largest_proposal(&asked, basis, &mut reasons);
    if !asked.proposals.is_empty() {
        let mut record = Record {
            history: &mut history,
            now,
            knobs,
            narrowed,
            ceiling: asked.sustained_ceiling,
            // A just-started history's seed holds a scale-in for the whole window.
            drops_skip_window: follows_drain(target) && !seeded,
        };
        value = stabilize_around_current(
            target,
            &bounds,
            request,
            current,
            &mut record,
            value,
            &mut reasons,
        );
    }
    let proposed = value;
    let capped;
    (value, capped) = apply_caps(&asked, value, &mut reasons);
    value = apply_bounds(target, &bounds, &asked, value, &mut reasons);
    let explicit_pause;
    (value, explicit_pause) =
        apply_event_source_floor(inputs, &bounds, &asked, value, &mut reasons);
    value = hold_on_missing_data(target, &bounds, &asked, current, value, &mut reasons);
    let headroom_clamp;
    (value, headroom_clamp) = clamp_to_headroom(inputs.headroom, current, value, &mut reasons);

    // Within [min, max] or the event source floor, all u32.
    let desired = value as u32;
    if follows_drain(target) {
        let evaluated = Evaluated {
            current,
            proposed,
            value,
            capped,
            now,
        };
        history.load = remember_load(&knobs, &asked, request, &bounds, evaluated, history.load);
    }
    if current != Some(desired) {
        let from = i64::from(current.unwrap_or(bounds.max));
        history.last_change = Some(LastChange {
            at: now,
            direction: if value >= from {
                Direction::Out
            } else {
                Direction::In
            },
        });
    }
    Decision {
        previous: current,
        desired: Some(desired),
        reasons,
        history_changed: repair || history != started_from,
        history,
        // From no reservation (the whole unreserved pool) any cap is a decrease.
        capped: capped && current.is_none_or(|c| desired < c),
        explicit_pause,
        schedules: bounds.active,
        headroom_clamp,
    }
}

/// Step 5's memory for a drain-time target: what an evaluation says of its load
/// ([`crate::drain_stability`]).
fn remember_load(
    knobs: &Stability,
    asked: &Asked,
    request: Request,
    bounds: &Bounds,
    evaluated: Evaluated,
    load: crate::state::LoadMemory,
) -> crate::state::LoadMemory {
    let Evaluated {
        current,
        proposed,
        value,
        capped,
        now,
    } = evaluated;
    // Direct commands and on_metric_failure's proposals say nothing of the load.
    // The queue's proposal as the load's (see Asked::queue), the last of them.
    let asked_for = match request {
        Request::FollowAlarms if !asked.missing => {
            let others = asked.proposals.len() - usize::from(asked.queue.is_some());
            (asked.proposals[..others].iter().copied())
                .chain(asked.queue)
                .max()
        }
        _ => None,
    };
    let evaluation = crate::drain_stability::Evaluation {
        // A first reservation is a change from none.
        from: current.map_or(-1, i64::from),
        asked: asked_for,
        queue_asked: asked_for.and(asked.queue),
        tolerance: knobs.tolerance_of(true),
        proposed,
        to: value,
        capped,
        // An idle queue's min that no other proposal exceeds: the bound's value.
        at_min: asked.queue_idle
            && asked_for.is_some_and(|asked| asked < value)
            && value <= i64::from(bounds.min),
    };
    if current.is_some() {
        crate::drain_stability::after_change(load, &evaluation, now)
    } else {
        crate::drain_stability::after_first(load, &evaluation)
    }
}

/// What an evaluation at `now` did: from `current`, the proposals stabilized to `proposed`,
/// then caps and bounds gave `value` (`capped`: a cap lowered it).
#[derive(Debug, Clone, Copy)]
struct Evaluated {
    current: Option<u32>,
    proposed: i64,
    value: i64,
    capped: bool,
    now: i64,
}

/// What the alarms, the queue and a direct command ask for (steps 1 and 9's first half).
struct Asked {
    proposals: Vec<i64>,
    /// The proposals that are exact values (a direct command, a `set` action).
    explicit: Vec<i64>,
    caps: Vec<i64>,
    /// The target's reads were partial: its `on_metric_failure` replaced the proposals.
    missing: bool,
    /// The most a recommendation is recorded as for scale-in stabilization, when the
    /// queue's drain-time proposal wins by the part that drains its backlog: that part ends
    /// with the backlog, so the window keeps only what the arrivals need (and any other
    /// proposal).
    sustained_ceiling: Option<i64>,
    /// The queue's own proposal, the load's (for [`crate::drain_stability`]): 0 below its
    /// activation, where the proposal is the min's.
    queue: Option<i64>,
    /// The queue's backlog is below its activation: it proposes the min.
    queue_idle: bool,
}

impl Asked {
    fn smallest_cap(&self) -> Option<i64> {
        self.caps.iter().min().copied()
    }
}

/// Step 1: every applicable alarm action, the queue's backlog, or a direct command; step 9
/// (first half): with partial reads, the target's `on_metric_failure` replaces the proposals.
fn proposals(
    target: &Target,
    knobs: &Stability,
    inputs: &Inputs,
    request: Request,
    bounds: &Bounds,
    basis: i64,
    reasons: &mut Vec<String>,
) -> Asked {
    let mut asked = Asked {
        proposals: Vec::new(),
        explicit: Vec::new(),
        caps: Vec::new(),
        missing: false,
        sustained_ceiling: None,
        queue: None,
        queue_idle: false,
    };
    if let Request::Direct(value) = request {
        reasons.push(format!("direct command: propose {value}"));
        asked.proposals.push(i64::from(value));
        asked.explicit.push(i64::from(value));
    }
    let mut used_basis = false;
    let mut sustained = None;
    for rule in &target.alarms {
        used_basis |= alarm_action(rule, inputs, request, basis, &mut asked, reasons);
    }
    if let Some(spec) = &target.queue {
        match (request, inputs.queue) {
            (Request::Direct(_), _) => {}
            (Request::FollowAlarms, Some(depth)) => {
                let proposal = queue_proposal(
                    spec,
                    depth,
                    bounds.min,
                    &inputs.drain,
                    // A drain-time proposal aims above the need by what holds an increase.
                    knobs.tolerance_of(true),
                );
                reasons.push(proposal.reason);
                let value = match (proposal.slow_dependency, inputs.current) {
                    (Some(why), Some(current)) if proposal.value > i64::from(current) => {
                        reasons.push(format!(
                            "{why}: no scale-out on it, the queue proposes the current \
                             {current} (caps still act)"
                        ));
                        i64::from(current)
                    }
                    _ => proposal.value,
                };
                sustained = proposal.sustained.filter(|&part| part < value);
                asked.proposals.push(value);
                // Below its activation the queue proposes the min: the bound's value; the
                // load asks for nothing.
                asked.queue_idle = backlog(spec, depth) < u64::from(spec.activation);
                asked.queue = Some(if asked.queue_idle { 0 } else { value });
            }
            (Request::FollowAlarms, None) => reasons.push(format!(
                "queue {}: depth not read: no opinion",
                spec.queue.name()
            )),
        }
    }
    asked.missing = !inputs.unread.is_empty() && request == Request::FollowAlarms;
    if let Some(part) = sustained {
        // Queue proposal last: the others are the alarms' (or a direct command's).
        let others = asked.proposals[..asked.proposals.len() - 1].iter().max();
        asked.sustained_ceiling = Some(others.map_or(part, |&o| o.max(part)));
    }
    if asked.missing {
        asked.sustained_ceiling = None;
        asked.queue = None;
        asked.proposals.clear();
        let fallback = target.on_metric_failure;
        reasons.push(format!(
            "metrics unavailable ({}): on_metric_failure {fallback}",
            inputs.unread.join("; ")
        ));
        match fallback {
            MetricFailure::Hold => {}
            MetricFailure::Set(n) => asked.proposals.push(i64::from(n)),
        }
    }
    if used_basis && inputs.current.is_none() && !asked.missing {
        reasons.push(format!(
            "no reservation yet: relative actions count from max {}{}",
            bounds.max,
            Bounds::source(&bounds.max_by)
        ));
    }
    asked
}

/// One alarm's action in its current state, added to `asked`; true when the action counts
/// from the current value (`change`, `percent`).
fn alarm_action(
    rule: &crate::policy::AlarmRule,
    inputs: &Inputs,
    request: Request,
    basis: i64,
    asked: &mut Asked,
    reasons: &mut Vec<String>,
) -> bool {
    let Some(observed) = inputs.alarms.get(&rule.name) else {
        reasons.push(format!(
            "alarm {}: state unknown (CloudWatch does not know it and the event does not \
             carry it): no opinion",
            rule.name
        ));
        return false;
    };
    let seen = match observed.source {
        StateSource::CloudWatch => format!("alarm {} is {}", rule.name, observed.state),
        StateSource::Event => format!(
            "alarm {} is {} (state from the event; CloudWatch did not return it)",
            rule.name, observed.state
        ),
        StateSource::EventWhileUnreadable => format!(
            "alarm {} is {} (state from the event; CloudWatch could not be read)",
            rule.name, observed.state
        ),
    };
    let Some(action) = rule.action_for(observed.state) else {
        reasons.push(format!("{seen}: no action for this state"));
        return false;
    };
    match action {
        Action::Cap(cap) => {
            reasons.push(format!("{seen}: cap {cap}"));
            asked.caps.push(i64::from(cap));
        }
        _ if observed.source == StateSource::EventWhileUnreadable => {
            reasons.push(format!(
                "{seen}: {action} ignored (only caps act on such a state)"
            ));
        }
        _ if matches!(request, Request::Direct(_)) => {
            reasons.push(format!(
                "{seen}: {action} ignored (the direct command replaces alarm proposals)"
            ));
        }
        Action::Set(value) => {
            reasons.push(format!("{seen}: {action} -> propose {value}"));
            asked.proposals.push(i64::from(value));
            asked.explicit.push(i64::from(value));
        }
        Action::Change(delta) => {
            let proposal = basis + delta;
            reasons.push(format!(
                "{seen}: {action} from {basis} -> propose {proposal}"
            ));
            asked.proposals.push(proposal);
            return true;
        }
        Action::Percent(percent) => {
            let proposal = basis + percent_step(basis, percent);
            reasons.push(format!("{seen}: {action} of {basis} -> propose {proposal}"));
            asked.proposals.push(proposal);
            return true;
        }
    }
    false
}

/// Step 2: the largest proposal wins (scaling out wins); without one, the caps apply to `basis`.
fn largest_proposal(asked: &Asked, basis: i64, reasons: &mut Vec<String>) -> i64 {
    match asked.proposals.iter().max() {
        Some(&largest) => {
            if asked.proposals.len() > 1 {
                reasons.push(format!("largest proposal wins: {largest}"));
            }
            largest
        }
        None if asked.caps.is_empty() => {
            reasons.push("no proposal and no cap: leave the reservation as it is".into());
            basis
        }
        None => {
            reasons.push(format!("no proposal: caps apply to {basis}"));
            basis
        }
    }
}

/// Steps 3 to 6 when they apply: a direct command skips them, and a function without a
/// reservation only records its recommendation.
fn stabilize_around_current(
    target: &Target,
    bounds: &Bounds,
    request: Request,
    current: Option<u32>,
    record: &mut Record,
    value: i64,
    reasons: &mut Vec<String>,
) -> i64 {
    match (request, current) {
        (Request::Direct(_), _) => {
            reasons.push(
                "direct command: tolerance, cooldowns, stabilization and step limits do not apply"
                    .into(),
            );
            value
        }
        (Request::FollowAlarms, None) => {
            record.recommendation(target, bounds, value, reasons);
            reasons.push(
                "no reservation yet: tolerance, cooldowns, stabilization and step limits \
                 start once there is one"
                    .into(),
            );
            value
        }
        (Request::FollowAlarms, Some(current)) => {
            stabilize(target, bounds, record, i64::from(current), value, reasons)
        }
    }
}

/// Where an evaluation records its recommendation: the history, at `now`, at most `ceiling`.
struct Record<'a> {
    history: &'a mut History,
    now: i64,
    /// The target's knobs at this evaluation: its tolerances narrowed while the reservation
    /// held ([`narrowed_knobs`]).
    knobs: Stability,
    /// Why the knobs' tolerances are narrower than set, if they are: said where they act.
    narrowed: Option<String>,
    /// [`Asked::sustained_ceiling`].
    ceiling: Option<i64>,
    /// A decrease beyond noise may skip the scale-in window ([`crate::drain_stability`]).
    drops_skip_window: bool,
}

impl Record<'_> {
    /// Records `value` within the bounds (and at most the ceiling) for scale-in
    /// stabilization.
    fn recommendation(
        &mut self,
        target: &Target,
        bounds: &Bounds,
        value: i64,
        reasons: &mut Vec<String>,
    ) {
        let (min, max) = (i64::from(bounds.min), i64::from(bounds.max));
        let mut kept = value.clamp(min, max);
        // As set, not narrowed: this only keeps noise from being saved.
        let tolerance = target.stability.tolerance;
        if let Some(ceiling) = self.ceiling.map(|c| c.clamp(min, max)) {
            // Within the tolerance the recommendation stands, so that a steady target's
            // noise changes nothing to save.
            if ceiling < kept && (kept - ceiling) as f64 > tolerance * kept as f64 {
                reasons.push(format!(
                    "recorded for scale-in stabilization as {ceiling}, not {kept}: the part \
                     that drains the backlog ends with it"
                ));
                kept = ceiling;
            }
        }
        let window = target.stability.scale_in_stabilization_seconds;
        // Within [min, max], a u32.
        self.history.record(self.now, kept as u32, window);
    }
}

/// Step 7, caps: the smallest active cap, at once, whatever cooldowns, stabilization and step
/// limits said. Returns the value and whether a cap lowered it.
fn apply_caps(asked: &Asked, value: i64, reasons: &mut Vec<String>) -> (i64, bool) {
    match asked.smallest_cap() {
        Some(cap) if value > cap => {
            reasons.push(format!("cap {cap} lowers {value} to {cap}"));
            (cap, true)
        }
        _ => (value, false),
    }
}

/// Step 8, bounds, always. Caps win over windows: under an active cap, a min a window raised
/// lifts the value no higher than the cap (the document's own min still does, as ever).
fn apply_bounds(
    target: &Target,
    bounds: &Bounds,
    asked: &Asked,
    value: i64,
    reasons: &mut Vec<String>,
) -> i64 {
    let (min, max) = (i64::from(bounds.min), i64::from(bounds.max));
    let mut lower = min;
    if let (Some(cap), Some(name)) = (asked.smallest_cap(), &bounds.min_by) {
        if cap < min && bounds.min_raised(target) {
            lower = cap.max(i64::from(target.min));
            reasons.push(format!(
                "cap {cap} wins over schedule {name}'s min {min}: the min is {lower} while \
                 the cap holds"
            ));
        }
    }
    if value < lower {
        let by = if lower == min {
            Bounds::source(&bounds.min_by)
        } else {
            String::new()
        };
        reasons.push(format!("raised from {value} to min {lower}{by}"));
        lower
    } else if value > max {
        reasons.push(format!(
            "lowered from {value} to max {max}{}",
            Bounds::source(&bounds.max_by)
        ));
        max
    } else {
        value
    }
}

/// Step 8 (second half): the event source floor (2 per followed SQS mapping), which only a cap,
/// an explicit set or a window's max passes. Returns the value and whether an explicit set
/// keeps the mappings paused.
fn apply_event_source_floor(
    inputs: &Inputs,
    bounds: &Bounds,
    asked: &Asked,
    value: i64,
    reasons: &mut Vec<String>,
) -> (i64, bool) {
    let floor = i64::from(inputs.mapping_floor);
    let max = i64::from(bounds.max);
    if value >= floor {
        return (value, false);
    }
    let capped_below = asked.smallest_cap().filter(|&cap| cap < floor);
    let set_below = asked
        .proposals
        .iter()
        .max()
        .filter(|largest| asked.explicit.contains(largest) && **largest < floor);
    // A window's max (or set) below the floor is as explicit as a set.
    let window_below = bounds.max_by.as_ref().filter(|_| max < floor);
    // A cap's or a window's pause lifts with it, but an explicit set's that it overlaps
    // still holds until something proposes a value.
    let still_held = inputs.pause_held && asked.proposals.is_empty();
    if let Some(cap) = capped_below {
        reasons.push(format!(
            "cap {cap} is below the event source floor {floor} (2 per SQS mapping): the \
             mappings are paused"
        ));
        (value, still_held)
    } else if let Some(set) = set_below {
        reasons.push(format!(
            "set {set} is below the event source floor {floor} (2 per SQS mapping): the \
             mappings are paused until something proposes a value"
        ));
        (value, true)
    } else if let Some(name) = window_below {
        reasons.push(format!(
            "schedule {name}'s max {max} is below the event source floor {floor} (2 per \
             SQS mapping): the mappings are paused while the window is active"
        ));
        (value, still_held)
    } else if still_held {
        reasons.push(format!(
            "the mappings stay paused at {value}: an explicit set paused them, and nothing \
             has proposed a value since"
        ));
        (value, true)
    } else {
        let over_max = if floor > max {
            format!(" (above max {max}: the mappings cannot run on less)")
        } else {
            String::new()
        };
        reasons.push(format!(
            "but {value} is below the event source floor {floor} (2 per SQS mapping, the \
             least MaximumConcurrency AWS allows): raised to {floor}{over_max}"
        ));
        (floor, false)
    }
}

/// Step 9 (second half): never a scale-in on missing data, unless a cap or max forces it,
/// and then only as far as it does: held at the current reservation, or at the smallest
/// active cap or the max where those are lower.
fn hold_on_missing_data(
    target: &Target,
    bounds: &Bounds,
    asked: &Asked,
    current: Option<u32>,
    value: i64,
    reasons: &mut Vec<String>,
) -> i64 {
    let Some(c) = current.map(i64::from).filter(|_| asked.missing) else {
        return value;
    };
    let ceiling = i64::from(bounds.max).min(asked.smallest_cap().unwrap_or(i64::MAX));
    let held = c.min(ceiling);
    if value >= held {
        return value;
    }
    reasons.push(format!(
        "held at {held}: no scale-in on missing data (on_metric_failure {}){}",
        target.on_metric_failure,
        if held < c {
            ", lower only as far as a cap or max forces"
        } else {
            ""
        }
    ));
    held
}

/// Step 10, account headroom: a scale-out takes at most what is available above the floor.
fn clamp_to_headroom(
    headroom: Option<Headroom>,
    current: Option<u32>,
    value: i64,
    reasons: &mut Vec<String>,
) -> (i64, Option<HeadroomClamp>) {
    let (Some(h), Some(c)) = (headroom, current.map(i64::from)) else {
        return (value, None);
    };
    let need = value - c;
    if need <= i64::from(h.available) {
        return (value, None);
    }
    let granted = i64::from(h.available);
    reasons.push(format!(
        "clamped by account headroom: {granted} of {need} available (unreserved {}, \
         floor {}; the plan's earlier scale-outs come first)",
        h.unreserved, h.floor
    ));
    let clamp = HeadroomClamp {
        // The value is within the bounds, a u32, and above the current one.
        wanted: need as u32,
        granted: h.available,
    };
    (c + granted, Some(clamp))
}

/// Steps 3 to 6 around the current reservation `current`; records the recommendation.
fn stabilize(
    target: &Target,
    bounds: &Bounds,
    record: &mut Record,
    current: i64,
    value: i64,
    reasons: &mut Vec<String>,
) -> i64 {
    reasons.extend(record.narrowed.take());
    let value = within_tolerance(&record.knobs, current, value, reasons);
    record.recommendation(target, bounds, value, reasons);
    let (history, now) = (&*record.history, record.now);
    if cooling_down(target, history, current, value, now, reasons) {
        return current;
    }
    let skips = record.drops_skip_window;
    let value = stabilize_scale_in(target, history, current, value, now, skips, reasons);
    limit_steps(target, current, value, reasons)
}

/// Step 3, tolerance: a change smaller than `tolerance` x current is skipped, or
/// `scale_out_tolerance` x current for an increase when it is set (a value outside the bounds
/// is forced at step 8 anyway).
fn within_tolerance(knobs: &Stability, current: i64, value: i64, reasons: &mut Vec<String>) -> i64 {
    let increase = value > current;
    let tolerance = knobs.tolerance_of(increase);
    let delta = (value - current).abs();
    if delta != 0 && (delta as f64) < tolerance * current as f64 {
        let which = match knobs.scale_out_tolerance {
            Some(_) if increase => "scale-out tolerance",
            _ => "tolerance",
        };
        reasons.push(format!(
            "held: a change of {delta} is within {which} {tolerance} of {current}"
        ));
        return current;
    }
    value
}

/// Step 4, cooldowns: true when no step in this direction is allowed yet since the last change.
fn cooling_down(
    target: &Target,
    history: &History,
    current: i64,
    value: i64,
    now: i64,
    reasons: &mut Vec<String>,
) -> bool {
    let knobs = target.stability;
    let direction = match value.cmp(&current) {
        std::cmp::Ordering::Greater => Direction::Out,
        std::cmp::Ordering::Less => Direction::In,
        std::cmp::Ordering::Equal => return false,
    };
    let Some(last) = history.last_change else {
        return false;
    };
    let cooldown = i64::from(match direction {
        Direction::Out => knobs.scale_out_cooldown_seconds,
        Direction::In => knobs.scale_in_cooldown_seconds,
    });
    let elapsed = now - last.at;
    if elapsed >= cooldown {
        return false;
    }
    reasons.push(format!(
        "held: {} cooldown, {} s left (last change: {} {} s ago)",
        direction.word(),
        cooldown - elapsed,
        last.direction.word(),
        elapsed.max(0)
    ));
    true
}

/// Step 5, scale-in stabilization: scale in only to the highest recommendation within the
/// window, never above the current value.
fn stabilize_scale_in(
    target: &Target,
    history: &History,
    current: i64,
    value: i64,
    now: i64,
    drops_skip: bool,
    reasons: &mut Vec<String>,
) -> i64 {
    let window = target.stability.scale_in_stabilization_seconds;
    if value >= current || window == 0 {
        return value;
    }
    let mut held_after_an_undo = None;
    if drops_skip {
        match crate::drain_stability::skip_window(&history.load, current, value, now) {
            Some(Skip::Yes(why)) => {
                reasons.push(why);
                return value;
            }
            Some(Skip::No(why)) => held_after_an_undo = Some(why),
            None => {}
        }
    }
    let Some(high) = history.window_max(now, window) else {
        return value;
    };
    let stabilized = current.min(i64::from(high));
    if stabilized <= value {
        return value;
    }
    // Said only when the window does hold the drop.
    reasons.extend(held_after_an_undo);
    let seen = format!("highest recommendation in the last {window} s was {high}");
    if stabilized == current {
        reasons.push(format!("held: scale-in stabilization, {seen}"));
    } else {
        reasons.push(format!(
            "scale-in stabilization: {seen}, so scale in to {stabilized}, not {value}"
        ));
    }
    stabilized
}

/// True for a target whose queue has a drain-time goal (`target_wait_seconds`).
fn follows_drain(target: &Target) -> bool {
    target
        .queue
        .as_ref()
        .is_some_and(|q| matches!(q.goal, QueueGoal::Wait(_)))
}

/// Step 6, step limits: at most `max_scale_out_step` up or `max_scale_in_step` down (or their
/// percent variants; the tighter one when both are set).
fn limit_steps(target: &Target, current: i64, mut value: i64, reasons: &mut Vec<String>) -> i64 {
    let knobs = target.stability;
    let up = step_limit(
        "max_scale_out_step",
        knobs.max_scale_out_step,
        knobs.max_scale_out_step_percent,
        current,
    );
    let down = step_limit(
        "max_scale_in_step",
        knobs.max_scale_in_step,
        knobs.max_scale_in_step_percent,
        current,
    );
    if let Some((step, knob)) = up.filter(|(step, _)| value - current > *step) {
        let limited = current + step;
        reasons.push(format!("{knob}: {value} limited to {limited}"));
        value = limited;
    }
    if let Some((step, knob)) = down.filter(|(step, _)| current - value > *step) {
        let limited = current - step;
        reasons.push(format!("{knob}: {value} limited to {limited}"));
        value = limited;
    }
    value
}

/// The largest move one action may make from `current` in one direction, and the knob that
/// sets it, e.g. `max_scale_out_step 20` or `max_scale_out_step_percent 50 (of 40: 20)`. With
/// both knobs set the tighter one holds; a percent limit always allows a step of 1.
fn step_limit(
    name: &str,
    absolute: Option<u32>,
    percent: Option<u32>,
    current: i64,
) -> Option<(i64, String)> {
    let by_percent = percent.map(|p| {
        let step = (current * i64::from(p) / 100).max(1);
        (step, format!("{name}_percent {p} (of {current}: {step})"))
    });
    let absolute = absolute.map(|step| (i64::from(step), format!("{name} {step}")));
    match (absolute, by_percent) {
        (Some(a), Some(p)) => Some(if p.0 < a.0 { p } else { a }),
        (a, p) => a.or(p),
    }
}

/// `basis * percent / 100`, rounded away from zero (away from the current value), and at
/// least one step so a percent action always moves.
pub fn percent_step(basis: i64, percent: i64) -> i64 {
    let scaled = basis * percent;
    let step = if scaled >= 0 {
        (scaled + 99) / 100
    } else {
        -((-scaled + 99) / 100)
    };
    match step {
        0 if percent > 0 => 1,
        0 => -1,
        step => step,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function_ref::FunctionRef;
    use crate::policy::{AlarmRule, MetricFailure, QueueRef, Stability};
    use proptest::prelude::*;

    /// A target with every stability knob off: the core rules of the alarm issue.
    fn target(min: u32, max: u32, rules: Vec<AlarmRule>) -> Target {
        Target {
            function: FunctionRef::parse("orders-worker").unwrap(),
            min,
            max,
            alarms: rules,
            queue: None,
            stability: Stability::OFF,
            on_metric_failure: MetricFailure::Hold,
            event_sources: crate::policy::EventSources::Follow,
            event_source_ceiling: None,
            schedules: Vec::new(),
        }
    }

    /// One evaluation without history at time 0 (enough for targets without stability).
    fn decide(
        target: &Target,
        current: Option<u32>,
        alarms: &AlarmStates,
        request: Request,
    ) -> Decision {
        decide_with_unread(target, current, alarms, request, &[])
    }

    /// [`decide`] with the reads that failed (`unread`): missing data.
    fn decide_with_unread(
        target: &Target,
        current: Option<u32>,
        alarms: &AlarmStates,
        request: Request,
        unread: &[String],
    ) -> Decision {
        let inputs = Inputs {
            current,
            alarms,
            queue: None,
            saved: &SavedState::Missing,
            now: 0,
            unread,
            headroom: None,
            mapping_floor: 0,
            pause_held: false,
            drain: Default::default(),
        };
        super::decide(target, &inputs, request)
    }

    fn rule(name: &str, on_alarm: Option<Action>, on_ok: Option<Action>) -> AlarmRule {
        AlarmRule {
            name: name.into(),
            on_alarm,
            on_ok,
            on_insufficient_data: None,
        }
    }

    fn states(pairs: &[(&str, AlarmState)]) -> AlarmStates {
        pairs
            .iter()
            .map(|(name, state)| {
                (
                    name.to_string(),
                    ObservedAlarm {
                        state: *state,
                        source: StateSource::CloudWatch,
                    },
                )
            })
            .collect()
    }

    fn backlog_and_db() -> Target {
        target(
            2,
            100,
            vec![
                rule(
                    "backlog",
                    Some(Action::Change(10)),
                    Some(Action::Change(-5)),
                ),
                rule("db", Some(Action::Cap(3)), None),
            ],
        )
    }

    use AlarmState::{Alarm, InsufficientData, Ok as Fine};

    #[test]
    fn change_adds_to_the_current_value() {
        let d = decide(
            &backlog_and_db(),
            Some(5),
            &states(&[("backlog", Alarm), ("db", Fine)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(15));
        assert_eq!(d.change(), Some(15));
        assert!(
            d.reasons
                .iter()
                .any(|r| r == "alarm backlog is ALARM: change +10 from 5 -> propose 15"),
            "{:?}",
            d.reasons
        );
    }

    #[test]
    fn negative_change_shrinks_but_not_below_min() {
        let d = decide(
            &backlog_and_db(),
            Some(5),
            &states(&[("backlog", Fine)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(2));
        assert!(
            d.reasons.contains(&"raised from 0 to min 2".to_string()),
            "{:?}",
            d.reasons
        );
    }

    #[test]
    fn steps_stop_at_max() {
        let d = decide(
            &backlog_and_db(),
            Some(95),
            &states(&[("backlog", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(100));
        assert!(d
            .reasons
            .contains(&"lowered from 105 to max 100".to_string()));
    }

    #[test]
    fn a_cap_overrides_the_largest_proposal() {
        let d = decide(
            &backlog_and_db(),
            Some(5),
            &states(&[("backlog", Alarm), ("db", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(3));
        assert!(
            d.reasons.contains(&"cap 3 lowers 15 to 3".to_string()),
            "{:?}",
            d.reasons
        );
    }

    #[test]
    fn a_cap_alone_lowers_the_current_value_and_never_raises_it() {
        let t = backlog_and_db();
        let d = decide(
            &t,
            Some(40),
            &states(&[("db", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(3));
        let d = decide(
            &t,
            Some(2),
            &states(&[("db", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(2));
        assert_eq!(d.change(), None);
    }

    #[test]
    fn a_cap_below_min_is_held_at_min() {
        let t = target(5, 100, vec![rule("db", Some(Action::Cap(1)), None)]);
        let d = decide(
            &t,
            Some(40),
            &states(&[("db", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(5));
    }

    #[test]
    fn a_zero_cap_throttles_completely_when_min_is_zero() {
        let t = target(0, 100, vec![rule("breaker", Some(Action::Cap(0)), None)]);
        let d = decide(
            &t,
            Some(40),
            &states(&[("breaker", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(0));
    }

    #[test]
    fn scaling_out_wins_over_scaling_in() {
        let t = target(
            1,
            100,
            vec![
                rule("in", Some(Action::Change(-4)), None),
                rule("out", Some(Action::Set(30)), None),
                rule("pct", Some(Action::Percent(50)), None),
            ],
        );
        let d = decide(
            &t,
            Some(10),
            &states(&[("in", Alarm), ("out", Alarm), ("pct", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(30));
        assert!(d.reasons.contains(&"largest proposal wins: 30".to_string()));
    }

    #[test]
    fn set_proposes_an_exact_value() {
        let t = target(1, 100, vec![rule("x", None, Some(Action::Set(7)))]);
        let d = decide(&t, Some(50), &states(&[("x", Fine)]), Request::FollowAlarms);
        assert_eq!(d.desired, Some(7));
    }

    #[test]
    fn percent_rounds_away_from_the_current_value_and_moves_at_least_one() {
        assert_eq!(percent_step(10, 15), 2); // 1.5 -> 2
        assert_eq!(percent_step(10, -15), -2); // -1.5 -> -2
        assert_eq!(percent_step(10, 10), 1);
        assert_eq!(percent_step(5, 1), 1); // 0.05 -> 1
        assert_eq!(percent_step(5, -1), -1);
        assert_eq!(percent_step(0, 50), 1); // from nothing, still a step
        assert_eq!(percent_step(200, 50), 100);
        assert_eq!(percent_step(200, -100), -200);
        let t = target(
            1,
            1000,
            vec![rule(
                "x",
                Some(Action::Percent(50)),
                Some(Action::Percent(-25)),
            )],
        );
        assert_eq!(
            decide(&t, Some(7), &states(&[("x", Alarm)]), Request::FollowAlarms).desired,
            Some(11)
        );
        assert_eq!(
            decide(&t, Some(7), &states(&[("x", Fine)]), Request::FollowAlarms).desired,
            Some(5)
        );
    }

    #[test]
    fn no_reservation_counts_as_max_for_relative_actions() {
        let d = decide(
            &backlog_and_db(),
            None,
            &states(&[("backlog", Fine)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.previous, None);
        assert_eq!(d.desired, Some(95));
        assert!(d
            .reasons
            .contains(&"no reservation yet: relative actions count from max 100".to_string()));
    }

    #[test]
    fn a_cap_on_an_unreserved_function_reserves_the_cap() {
        let d = decide(
            &backlog_and_db(),
            None,
            &states(&[("db", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(3));
        assert_eq!(d.change(), Some(3));
    }

    #[test]
    fn no_applicable_action_changes_nothing() {
        let t = backlog_and_db();
        let d = decide(
            &t,
            Some(5),
            &states(&[("db", Fine), ("backlog", InsufficientData)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(5));
        assert_eq!(d.change(), None);
        assert!(d
            .reasons
            .iter()
            .any(|r| r == "alarm db is OK: no action for this state"));
        let d = decide(&t, None, &AlarmStates::new(), Request::FollowAlarms);
        assert_eq!((d.previous, d.desired, d.change()), (None, None, None));
        assert!(d
            .reasons
            .iter()
            .any(|r| r.starts_with("alarm backlog: state unknown")));
        assert!(d
            .reasons
            .last()
            .unwrap()
            .starts_with("no proposal and no cap"));
    }

    #[test]
    fn states_taken_from_the_event_say_so() {
        let mut alarms = AlarmStates::new();
        alarms.insert(
            "db".into(),
            ObservedAlarm {
                state: Alarm,
                source: StateSource::Event,
            },
        );
        let d = decide(&backlog_and_db(), Some(9), &alarms, Request::FollowAlarms);
        assert_eq!(d.desired, Some(3));
        assert!(
            d.reasons[1].contains("state from the event"),
            "{:?}",
            d.reasons
        );
    }

    #[test]
    fn a_direct_command_obeys_bounds_and_caps_but_replaces_alarm_proposals() {
        let t = backlog_and_db();
        let d = decide(
            &t,
            Some(5),
            &states(&[("backlog", Alarm)]),
            Request::Direct(40),
        );
        assert_eq!(d.desired, Some(40));
        assert!(d.reasons.iter().any(|r| r.contains("change +10 ignored")));
        assert_eq!(
            decide(&t, Some(5), &AlarmStates::new(), Request::Direct(500)).desired,
            Some(100)
        );
        assert_eq!(
            decide(&t, Some(5), &AlarmStates::new(), Request::Direct(0)).desired,
            Some(2)
        );
        assert_eq!(
            decide(&t, Some(5), &states(&[("db", Alarm)]), Request::Direct(40)).desired,
            Some(3)
        );
    }

    #[test]
    fn an_unread_alarm_refuses_a_direct_command_and_leaves_alarm_driven_requests_to_missing_data() {
        assert_eq!(on_unread_alarm(Request::Direct(40)), UnreadAlarm::Refuse);
        assert_eq!(on_unread_alarm(Request::Direct(0)), UnreadAlarm::Refuse);
        assert_eq!(
            on_unread_alarm(Request::FollowAlarms),
            UnreadAlarm::DecideOnMissingData
        );
    }

    fn any_action() -> impl Strategy<Value = Option<Action>> {
        prop_oneof![
            Just(None),
            (-500i64..500)
                .prop_filter("nonzero", |n| *n != 0)
                .prop_map(|n| Some(Action::Change(n))),
            (-100i64..1000)
                .prop_filter("nonzero", |p| *p != 0)
                .prop_map(|p| Some(Action::Percent(p))),
            (0u32..2000).prop_map(|n| Some(Action::Set(n))),
            (0u32..2000).prop_map(|n| Some(Action::Cap(n))),
        ]
    }

    fn any_state() -> impl Strategy<Value = AlarmState> {
        prop_oneof![Just(Alarm), Just(Fine), Just(InsufficientData)]
    }

    proptest! {
        #[test]
        fn desired_always_lies_within_bounds_and_under_every_active_cap(
            min in 0u32..50,
            span in 0u32..1000,
            current in proptest::option::of(0u32..3000),
            actions in proptest::collection::vec((any_action(), any_action(), any_state()), 0..6),
        ) {
            let max = min + span;
            let rules: Vec<AlarmRule> = actions.iter().enumerate()
                .map(|(i, (on_alarm, on_ok, _))| rule(&format!("a{i}"), *on_alarm, *on_ok))
                .collect();
            let observed: AlarmStates = actions.iter().enumerate()
                .map(|(i, (_, _, s))| (format!("a{i}"), ObservedAlarm { state: *s, source: StateSource::CloudWatch }))
                .collect();
            let t = target(min, max, rules.clone());
            let d = decide(&t, current, &observed, Request::FollowAlarms);
            let applicable: Vec<Action> = rules.iter()
                .filter_map(|r| r.action_for(observed[&r.name].state))
                .collect();
            if applicable.is_empty() {
                // Nothing to do but keep the reservation within the bounds.
                prop_assert_eq!(d.desired, current.map(|c| c.clamp(min, max)));
            } else {
                let desired = d.desired.unwrap();
                prop_assert!(desired >= min && desired <= max, "{} not in [{}, {}]", desired, min, max);
                for action in &applicable {
                    if let Action::Cap(cap) = action {
                        prop_assert!(desired <= (*cap).max(min), "cap {} broken by {}", cap, desired);
                    }
                    if let Action::Set(n) = action {
                        let capped = applicable.iter().any(|a| matches!(a, Action::Cap(c) if c < n));
                        if !capped {
                            prop_assert!(desired >= (*n).min(max), "set {} lost to a smaller proposal: {}", n, desired);
                        }
                    }
                }
            }
            prop_assert!(!d.reasons.is_empty());
        }

        #[test]
        fn a_percent_step_always_moves_in_its_direction(basis in 0i64..100_000, percent in -100i64..10_000) {
            prop_assume!(percent != 0);
            let step = percent_step(basis, percent);
            if percent > 0 {
                prop_assert!(step >= 1);
                prop_assert!(step * 100 >= basis * percent);
            } else {
                prop_assert!(step <= -1);
                prop_assert!(step * 100 <= basis * percent);
            }
        }
    }

    // ---- queue tracking and stability --------------------------------------------------

    const NOW: i64 = 1_700_000_000;

    fn queue_spec(per: u32, in_flight: bool, delayed: bool, activation: u32) -> QueueSpec {
        QueueSpec {
            queue: QueueRef::Name("orders".into()),
            goal: QueueGoal::PerInstance(per),
            include_in_flight: in_flight,
            include_delayed: delayed,
            activation,
        }
    }

    fn depth(visible: u64, in_flight: u64, delayed: u64) -> QueueDepth {
        QueueDepth {
            visible,
            in_flight,
            delayed,
        }
    }

    fn tracker(min: u32, max: u32, stability: Stability) -> Target {
        Target {
            queue: Some(queue_spec(10, true, false, 0)),
            stability,
            ..target(min, max, vec![])
        }
    }

    /// A saved history: the last change (seconds ago) and recommendations as (value, seconds
    /// since it ended, or `None` while in force), oldest first.
    fn history(last: Option<(i64, Direction)>, recs: &[(u32, Option<i64>)]) -> SavedState {
        SavedState::Valid(History {
            last_change: last.map(|(ago, direction)| LastChange {
                at: NOW - ago,
                direction,
            }),
            recommendations: recs
                .iter()
                .map(|(value, ended)| crate::state::Recommendation {
                    value: *value,
                    until: ended.map(|ago| NOW - ago),
                })
                .collect(),
            event_sources: Vec::new(),
            in_force_since: None,
            activities: Vec::new(),
            earlier_activities: 0,
            load: Default::default(),
        })
    }

    fn with_queue(t: &Target, current: Option<u32>, backlog: u64, saved: &SavedState) -> Decision {
        with_all(t, current, backlog, saved, &AlarmStates::new())
    }

    fn with_all(
        t: &Target,
        current: Option<u32>,
        backlog: u64,
        saved: &SavedState,
        alarms: &AlarmStates,
    ) -> Decision {
        let queue = depth(backlog, 0, 0);
        with_drain(t, current, queue, DrainSignals::default(), saved, alarms)
    }

    fn has(d: &Decision, text: &str) -> bool {
        d.reasons.iter().any(|r| r.contains(text))
    }

    /// A `target_wait_seconds` goal of 10 s at 1 s a message, with `stability`.
    fn drain_tracker(stability: Stability) -> Target {
        Target {
            queue: Some(QueueSpec {
                goal: QueueGoal::Wait(crate::policy::WaitGoal {
                    target_wait_seconds: 10,
                    service_seconds: Some(1.0),
                    batch_size: None,
                }),
                ..queue_spec(1, true, false, 0)
            }),
            stability,
            ..target(1, 500, vec![])
        }
    }

    fn with_drain(
        t: &Target,
        current: Option<u32>,
        queue: QueueDepth,
        drain: DrainSignals,
        saved: &SavedState,
        alarms: &AlarmStates,
    ) -> Decision {
        with_drain_of(t, (current, queue, drain), saved, alarms, NOW)
    }

    /// [`with_drain`] at `now`, without alarms or drain signals.
    fn with_drain_at(
        t: &Target,
        current: Option<u32>,
        queue: QueueDepth,
        saved: &SavedState,
        now: i64,
    ) -> Decision {
        let observed = (current, queue, DrainSignals::default());
        with_drain_of(t, observed, saved, &AlarmStates::new(), now)
    }

    fn with_drain_of(
        t: &Target,
        (current, queue, drain): (Option<u32>, QueueDepth, DrainSignals),
        saved: &SavedState,
        alarms: &AlarmStates,
        now: i64,
    ) -> Decision {
        let inputs = Inputs {
            current,
            alarms,
            queue: Some(queue),
            saved,
            now,
            unread: &[],
            headroom: None,
            mapping_floor: 0,
            pause_held: false,
            drain,
        };
        super::decide(t, &inputs, Request::FollowAlarms)
    }

    #[test]
    fn a_drain_proposal_records_only_its_lasting_part_for_scale_in_stabilization() {
        let t = drain_tracker(Stability {
            scale_in_stabilization_seconds: 300,
            ..Stability::OFF
        });
        // 20 at work (one sample: headroom 2 x sqrt(20 x 60) / 10 = 6.9) and 1000 waiting,
        // drained within 10 s: 100 more.
        let d = with_drain(
            &t,
            Some(20),
            depth(1000, 20, 0),
            DrainSignals::default(),
            &SavedState::Missing,
            &AlarmStates::new(),
        );
        assert_eq!(d.desired, Some(127));
        assert_eq!(d.history.in_force(), Some(27), "{:?}", d.reasons);
        // Once the backlog is gone, the window holds 27, not 127.
        let later = with_drain(
            &t,
            Some(127),
            depth(0, 20, 0),
            DrainSignals::default(),
            &SavedState::Valid(d.history.clone()),
            &AlarmStates::new(),
        );
        assert_eq!(later.desired, Some(27));
    }

    /// An alarm "db-overloaded" that caps the target at 5.
    fn db_overloaded_cap_5() -> Vec<AlarmRule> {
        vec![AlarmRule {
            name: "db-overloaded".into(),
            on_alarm: Some(Action::Cap(5)),
            on_ok: None,
            on_insufficient_data: None,
        }]
    }

    /// "db-overloaded" in `state`, as CloudWatch returns it.
    fn db_overloaded(state: AlarmState) -> AlarmStates {
        AlarmStates::from([(
            "db-overloaded".to_owned(),
            ObservedAlarm {
                state,
                source: StateSource::CloudWatch,
            },
        )])
    }

    /// A drain-time evaluation's inputs: reserved at `current`, the queue at `queue`.
    fn drain_inputs<'a>(
        current: u32,
        queue: QueueDepth,
        saved: &'a SavedState,
        alarms: &'a AlarmStates,
        unread: &'a [String],
        now: i64,
    ) -> Inputs<'a> {
        Inputs {
            current: Some(current),
            alarms,
            queue: Some(queue),
            saved,
            now,
            unread,
            headroom: None,
            mapping_floor: 0,
            pause_held: false,
            drain: DrainSignals::default(),
        }
    }

    /// `saved` with its load memory set.
    fn with_load(saved: SavedState, load: crate::state::LoadMemory) -> SavedState {
        match saved {
            SavedState::Valid(history) => SavedState::Valid(History { load, ..history }),
            other => other,
        }
    }

    #[test]
    fn a_drain_targets_drop_beyond_noise_skips_the_window_unless_one_was_undone_within_the_hour() {
        let stability = Stability {
            scale_in_stabilization_seconds: 300,
            ..Stability::OFF
        };
        let t = drain_tracker(stability);
        // The window holds 250 (ended 100 s ago); now 10 at work and nothing waiting: 10 +
        // headroom 2 x sqrt(10 x 60) / 10 = 14.9.
        let spiked = history(None, &[(250, Some(100)), (20, None)]);
        let none = AlarmStates::new();
        let quiet = depth(0, 10, 0);
        let d = with_drain(
            &t,
            Some(250),
            quiet,
            DrainSignals::default(),
            &spiked,
            &none,
        );
        assert_eq!(d.desired, Some(15), "{:?}", d.reasons);
        assert_eq!(d.history.load.drop_at, Some(NOW));
        assert!(
            has(&d, "beyond noise (235 > 3 x √250 = 47.4)"),
            "{:?}",
            d.reasons
        );
        // A messages_per_instance target's window holds the same drop, as the HPA's does.
        let counted = with_queue(&tracker(1, 500, stability), Some(250), 150, &spiked);
        assert_eq!(counted.desired, Some(250), "{:?}", counted.reasons);
        assert_eq!(counted.history.load, crate::state::LoadMemory::default());
        // A drop like it undone 20 minutes ago: the window holds.
        let undone = crate::state::LoadMemory {
            drop_at: Some(NOW - 1500),
            drop_to: Some(15),
            drop_undone_at: Some(NOW - 1200),
            last_set: None,
        };
        let saved = with_load(spiked.clone(), undone);
        let d = with_drain(&t, Some(250), quiet, DrainSignals::default(), &saved, &none);
        assert_eq!(d.desired, Some(250), "{:?}", d.reasons);
        assert!(has(&d, "but one was undone 1200 s ago"), "{:?}", d.reasons);
        // An hour after that, it skips the window again.
        let long_ago = crate::state::LoadMemory {
            drop_undone_at: Some(NOW - crate::drain_stability::REMEMBERED_SECONDS),
            last_set: None,
            ..undone
        };
        let saved = with_load(spiked.clone(), long_ago);
        let d = with_drain(&t, Some(250), quiet, DrainSignals::default(), &saved, &none);
        assert_eq!(d.desired, Some(15), "{:?}", d.reasons);
        // Nothing saved (or a history set aside): the seed holds the drop for the window.
        let d = with_drain(
            &t,
            Some(250),
            quiet,
            DrainSignals::default(),
            &SavedState::Missing,
            &none,
        );
        assert_eq!(d.desired, Some(250), "{:?}", d.reasons);
        // An empty queue proposes 0, which the min raises to 1: still a drop the load made.
        let d = with_drain(
            &t,
            Some(250),
            depth(0, 0, 0),
            DrainSignals::default(),
            &spiked,
            &none,
        );
        assert_eq!(d.desired, Some(1), "{:?}", d.reasons);
        assert_eq!(d.history.load.drop_at, Some(NOW));
        // A drop within noise (20 -> 15: 5 of 3 x √20 = 13.4) waits out the window.
        let steady = history(None, &[(20, Some(100)), (15, None)]);
        let d = with_drain(&t, Some(20), quiet, DrainSignals::default(), &steady, &none);
        assert_eq!(d.desired, Some(20), "{:?}", d.reasons);
        assert_eq!(d.history.load.drop_at, None);
    }

    #[test]
    fn a_scale_out_soon_after_a_drop_beyond_noise_undoes_it_and_a_caps_or_bounds_drop_is_none() {
        let mut t = drain_tracker(Stability::OFF);
        let none = AlarmStates::new();
        let dropped = crate::state::LoadMemory {
            drop_at: Some(NOW - 300),
            ..Default::default()
        };
        let saved = with_load(history(None, &[]), dropped);
        // 100 at work again five minutes after the drop: a scale-out that undoes it.
        let busy = depth(0, 100, 0);
        let d = with_drain(&t, Some(15), busy, DrainSignals::default(), &saved, &none);
        assert!(d.desired > Some(15), "{:?}", d.reasons);
        assert_eq!(d.history.load.drop_undone_at, Some(NOW));
        // Eleven minutes after it, the same scale-out undoes nothing.
        let earlier = crate::state::LoadMemory {
            drop_at: Some(NOW - 660),
            ..Default::default()
        };
        let saved = with_load(history(None, &[]), earlier);
        let d = with_drain(&t, Some(15), busy, DrainSignals::default(), &saved, &none);
        assert_eq!(d.history.load.drop_undone_at, None);
        assert_eq!(d.history.load.drop_at, earlier.drop_at);
        // A cap's drop says nothing of the load: not remembered.
        t.alarms = db_overloaded_cap_5();
        let alarm = db_overloaded(AlarmState::Alarm);
        let d = with_drain(
            &t,
            Some(250),
            busy,
            DrainSignals::default(),
            &history(None, &[]),
            &alarm,
        );
        assert_eq!(d.desired, Some(5));
        assert_eq!(d.history.load.drop_at, None, "{:?}", d.reasons);
        // Nor a bound's: 300 at work, but the max is now 100.
        let bounded = Target {
            max: 100,
            ..drain_tracker(Stability::OFF)
        };
        let d = with_drain(
            &bounded,
            Some(400),
            depth(0, 300, 0),
            DrainSignals::default(),
            &history(None, &[]),
            &none,
        );
        assert_eq!(d.desired, Some(100), "{:?}", d.reasons);
        assert_eq!(d.history.load.drop_at, None, "{:?}", d.reasons);
    }

    /// A drop 250 -> 15 beyond noise 200 s ago, with a window of 300 s holding 15.
    fn dropped_to_15() -> SavedState {
        let dropped = crate::state::LoadMemory {
            drop_at: Some(NOW - 200),
            drop_to: Some(15),
            drop_undone_at: None,
            last_set: None,
        };
        with_load(history(Some((200, Direction::In)), &[(15, None)]), dropped)
    }

    #[test]
    fn only_the_proposals_rising_above_where_a_drop_left_them_undo_it() {
        let stability = Stability {
            scale_in_stabilization_seconds: 300,
            ..Stability::OFF
        };
        let mut t = drain_tracker(stability);
        t.alarms = db_overloaded_cap_5();
        let saved = dropped_to_15();
        // 10 at work: the proposals still ask for 15.
        let same_load = depth(0, 10, 0);
        // A cap holding the reservation at 5, then lifted (or a direct command's 5, then the
        // next scheduled run): the load did not rise.
        for state in [AlarmState::Alarm, AlarmState::Ok] {
            let d = with_drain(
                &t,
                Some(5),
                same_load,
                DrainSignals::default(),
                &saved,
                &db_overloaded(state),
            );
            assert_eq!(d.history.load.drop_undone_at, None, "{:?}", d.reasons);
            assert!(
                !d.history_changed || state == AlarmState::Ok,
                "{:?}",
                d.reasons
            );
        }
        // 40 at work under the cap: the load rose, though the cap holds 5.
        let d = with_drain(
            &t,
            Some(5),
            depth(0, 40, 0),
            DrainSignals::default(),
            &saved,
            &db_overloaded(AlarmState::Alarm),
        );
        assert_eq!(d.desired, Some(5));
        assert_eq!(d.history.load.drop_undone_at, Some(NOW), "{:?}", d.reasons);
        // A queue read that failed, with on_metric_failure set 50: not the load.
        let mut failing = drain_tracker(stability);
        failing.on_metric_failure = MetricFailure::Set(50);
        let none = AlarmStates::new();
        let unread = ["GetQueueAttributes on orders failed: throttled".to_owned()];
        let inputs = drain_inputs(15, same_load, &saved, &none, &unread, NOW);
        let d = super::decide(&failing, &inputs, Request::FollowAlarms);
        assert_eq!(d.desired, Some(50), "{:?}", d.reasons);
        assert_eq!(d.history.load.drop_undone_at, None, "{:?}", d.reasons);
        // A rise that a long scale-out cooldown holds still undoes the drop.
        let slow = drain_tracker(Stability {
            scale_out_cooldown_seconds: 900,
            ..stability
        });
        let d = with_drain(
            &slow,
            Some(15),
            depth(0, 100, 0),
            DrainSignals::default(),
            &saved,
            &none,
        );
        assert_eq!(d.desired, Some(15), "{:?}", d.reasons);
        assert_eq!(d.history.load.drop_undone_at, Some(NOW), "{:?}", d.reasons);
    }

    #[test]
    fn leaving_a_reservation_that_a_direct_command_or_on_metric_failure_set_is_no_drop() {
        let stability = Stability {
            scale_in_stabilization_seconds: 300,
            ..Stability::OFF
        };
        let mut t = drain_tracker(stability);
        t.on_metric_failure = MetricFailure::Set(250);
        let none = AlarmStates::new();
        let quiet = depth(0, 10, 0);
        let settled = history(Some((600, Direction::In)), &[(15, None)]);
        let unread = ["GetQueueAttributes on orders failed: throttled".to_owned()];
        let commanded = super::decide(
            &t,
            &drain_inputs(15, quiet, &settled, &none, &[], NOW),
            Request::Direct(250),
        );
        let fallen_back = super::decide(
            &t,
            &drain_inputs(15, quiet, &settled, &none, &unread, NOW),
            Request::FollowAlarms,
        );
        // A function without a reservation, given its first by a command.
        let unreserved = Inputs {
            current: None,
            ..drain_inputs(15, quiet, &settled, &none, &[], NOW)
        };
        let first = super::decide(&t, &unreserved, Request::Direct(250));
        for d in [commanded, fallen_back, first] {
            assert_eq!(d.desired, Some(250), "{:?}", d.reasons);
            let set = d.history.load.last_set.unwrap();
            assert_eq!(
                (set.value, set.by_proposals),
                (250, false),
                "{:?}",
                d.reasons
            );
            // A minute later the proposals (10 at work) bring it back down: no drop of the
            // load's, so a rise after it undoes nothing.
            let saved = SavedState::Valid(d.history.clone());
            let back = super::decide(
                &t,
                &drain_inputs(250, quiet, &saved, &none, &[], NOW + 60),
                Request::FollowAlarms,
            );
            assert_eq!(back.desired, Some(15), "{:?}", back.reasons);
            assert_eq!(back.history.load.drop_at, None, "{:?}", back.reasons);
            // It landed on what the proposals ask for: theirs again.
            let set = back.history.load.last_set.unwrap();
            assert_eq!((set.value, set.by_proposals), (15, true));
        }
    }

    #[test]
    fn stepping_down_from_a_commanded_reservation_is_no_drop() {
        // Step by step under max_scale_in_step, or by an alarm's `change: -100`, which counts
        // from the reservation in place.
        let stepped = drain_tracker(Stability {
            max_scale_in_step: Some(50),
            ..Stability::OFF
        });
        let mut shedding = drain_tracker(Stability::OFF);
        shedding.alarms = vec![rule("shed", Some(Action::Change(-100)), None)];
        let quiet = depth(0, 10, 0);
        let settled = history(Some((600, Direction::In)), &[(15, None)]);
        let none = AlarmStates::new();
        let shed = states(&[("shed", AlarmState::Alarm)]);
        for (t, alarms, expected) in [
            (&stepped, &none, vec![250, 200, 150, 100, 50, 15]),
            (&shedding, &shed, vec![250, 150, 50]),
        ] {
            let commanded = super::decide(
                t,
                &drain_inputs(15, quiet, &settled, &none, &[], NOW),
                Request::Direct(250),
            );
            let (mut current, mut now) = (250, NOW);
            let mut saved = SavedState::Valid(commanded.history);
            let mut path = vec![current];
            while path.len() < expected.len() {
                now += 60;
                let d = super::decide(
                    t,
                    &drain_inputs(current, quiet, &saved, alarms, &[], now),
                    Request::FollowAlarms,
                );
                current = d.desired.unwrap();
                path.push(current);
                assert_eq!(d.history.load.drop_at, None, "{path:?}: {:?}", d.reasons);
                saved = SavedState::Valid(d.history);
            }
            assert_eq!(path, expected);
        }
    }

    #[test]
    fn an_undone_drop_is_saved_once_and_said_only_when_the_window_holds_a_drop() {
        let stability = Stability {
            scale_in_stabilization_seconds: 300,
            ..Stability::OFF
        };
        let none = AlarmStates::new();
        // Held at its max of 100 with 300 at work, already undone: nothing new to save at
        // each evaluation.
        let pinned = Target {
            max: 100,
            ..drain_tracker(stability)
        };
        let undone = crate::state::LoadMemory {
            drop_at: Some(NOW - 200),
            drop_to: Some(15),
            drop_undone_at: Some(NOW - 100),
            last_set: None,
        };
        let saved = with_load(history(Some((100, Direction::Out)), &[(100, None)]), undone);
        let d = with_drain(
            &pinned,
            Some(100),
            depth(0, 300, 0),
            DrainSignals::default(),
            &saved,
            &none,
        );
        assert_eq!(d.desired, Some(100));
        assert!(!d.history_changed, "{:?} {:?}", d.history.load, d.reasons);
        // A drop from 250 (a direct command's, which records nothing) to 15, with the window
        // holding only 15: it goes at once, and no reason says the window held it.
        let t = drain_tracker(stability);
        let long_undone = crate::state::LoadMemory {
            drop_at: Some(NOW - 1500),
            drop_to: Some(15),
            drop_undone_at: Some(NOW - 1200),
            last_set: None,
        };
        let saved = with_load(
            history(Some((100, Direction::Out)), &[(15, None)]),
            long_undone,
        );
        let d = with_drain(
            &t,
            Some(250),
            depth(0, 10, 0),
            DrainSignals::default(),
            &saved,
            &none,
        );
        assert_eq!(d.desired, Some(15), "{:?}", d.reasons);
        // The words that a_drain_targets_drop_beyond_noise_skips_the_window_unless_one_was_
        // undone_within_the_hour finds when the window does hold the drop.
        assert!(!has(&d, "but one was undone"), "{:?}", d.reasons);
    }

    #[test]
    fn a_burst_after_a_lull_scales_out_though_its_small_batches_looked_slower() {
        use crate::service_time::{summarize, Point};
        // A fixed 0.2 s an invocation and 0.05 s a message: the hour before, 100/s in full
        // batches of 10 (0.07 s a message, 0.7 s an invocation); the last 5 minutes one at a
        // time (0.25 s): at 1/s, or at 30/s, when more executions are busy than before.
        let minute = |m: i64, messages: f64, per_invocation: f64, seconds: f64| Point {
            end: NOW - 600 - (65 - m) * 60,
            duration_seconds: messages * seconds,
            invocations: Some(messages / per_invocation),
            messages,
        };
        let mut t = drain_tracker(Stability::OFF);
        t.queue = t.queue.map(|q| QueueSpec {
            goal: QueueGoal::Wait(crate::policy::WaitGoal {
                target_wait_seconds: 30,
                service_seconds: None,
                batch_size: Some(10),
            }),
            ..q
        });
        // And an invocation whose time is mostly fixed (a batch handled at once): 1.1 s for
        // 10 before, 1.01 s for 1 in a lull of 1/s.
        let lulls = [(60.0, 0.25, 0.07), (1800.0, 0.25, 0.07), (60.0, 1.01, 0.11)];
        for (per_minute, seconds, before) in lulls {
            let mut points: Vec<Point> =
                (1..=60).map(|m| minute(m, 6000.0, 10.0, before)).collect();
            points.extend((61..=65).map(|m| minute(m, per_minute, 1.0, seconds)));
            // Then 20,000 wait, 200 more a second, with 1 execution reserved.
            let mut samples = crate::drain::DepthSamples::default();
            samples.add(NOW - 10, 18_000, 10);
            let signals = DrainSignals {
                rates: Some(samples.add(NOW, 20_000, 10)),
                measured: summarize(&points),
                ..DrainSignals::default()
            };
            let d = with_drain(
                &t,
                Some(1),
                depth(20_000, 10, 0),
                signals,
                &SavedState::Missing,
                &AlarmStates::new(),
            );
            assert!(
                d.desired > Some(100),
                "{per_minute} {seconds}: {:?}",
                d.reasons
            );
            assert!(
                !has(&d, "slow dependency"),
                "{per_minute} {seconds}: {:?}",
                d.reasons
            );
        }
    }

    #[test]
    fn a_slow_dependency_does_not_scale_out_but_caps_still_act() {
        let mut t = drain_tracker(Stability::OFF);
        t.alarms = db_overloaded_cap_5();
        let slow = DrainSignals {
            measured: Some(crate::drain::Measured {
                seconds: 3.0,
                messages_per_invocation: None,
                throughput: 10.0,
                reference: Some(crate::drain::Reference {
                    seconds: 1.0,
                    throughput: 10.0,
                    messages_per_invocation: None,
                }),
                as_of: NOW - 300,
            }),
            ..DrainSignals::default()
        };
        let ok = db_overloaded(AlarmState::Ok);
        let d = with_drain(
            &t,
            Some(20),
            depth(500, 20, 0),
            slow,
            &SavedState::Missing,
            &ok,
        );
        assert_eq!(d.desired, Some(20), "{:?}", d.reasons);
        assert!(has(&d, "a slow dependency, not demand"));
        // The same backlog with a usual service time scales out.
        let usual = with_drain(
            &t,
            Some(20),
            depth(500, 20, 0),
            DrainSignals::default(),
            &SavedState::Missing,
            &ok,
        );
        assert!(usual.desired > Some(20));
        // A cap still lowers it.
        let alarm = db_overloaded(AlarmState::Alarm);
        let capped = with_drain(
            &t,
            Some(20),
            depth(500, 20, 0),
            slow,
            &SavedState::Missing,
            &alarm,
        );
        assert_eq!(capped.desired, Some(5));
    }

    #[test]
    fn a_direct_command_ignores_the_queue_and_its_missing_data() {
        let t = tracker(1, 100, Stability::OFF);
        let unread = ["GetQueueAttributes on orders failed: throttled".to_owned()];
        let alarms = AlarmStates::new();
        let inputs = Inputs {
            current: Some(10),
            alarms: &alarms,
            queue: Some(depth(5000, 0, 0)),
            saved: &SavedState::Missing,
            now: NOW,
            unread: &unread,
            headroom: None,
            mapping_floor: 0,
            pause_held: false,
            drain: Default::default(),
        };
        let d = super::decide(&t, &inputs, Request::Direct(4));
        assert_eq!(d.desired, Some(4), "{:?}", d.reasons);
        assert!(!has(&d, "metrics unavailable"), "{:?}", d.reasons);
        // The same reads without the command: the queue's missing data holds the target.
        let d = super::decide(&t, &inputs, Request::FollowAlarms);
        assert_eq!(d.desired, Some(10), "{:?}", d.reasons);
        assert!(has(&d, "metrics unavailable"), "{:?}", d.reasons);
    }

    #[test]
    fn backlog_counts_visible_plus_in_flight_and_delayed_when_asked() {
        let d = depth(100, 20, 7);
        assert_eq!(backlog(&queue_spec(10, true, false, 0), d), 120);
        assert_eq!(backlog(&queue_spec(10, false, false, 0), d), 100);
        assert_eq!(backlog(&queue_spec(10, true, true, 0), d), 127);
        assert_eq!(backlog(&queue_spec(10, false, true, 0), d), 107);
        assert_eq!(
            backlog(&queue_spec(1, true, true, 0), depth(u64::MAX, 1, 1)),
            u64::MAX
        );
    }

    #[test]
    fn the_queue_proposes_the_backlog_divided_by_messages_per_instance_rounded_up() {
        let spec = queue_spec(10, true, false, 0);
        assert_eq!(
            queue_proposal(&spec, depth(0, 0, 0), 1, &DrainSignals::default(), 0.0).value,
            0
        );
        assert_eq!(
            queue_proposal(&spec, depth(1, 0, 0), 1, &DrainSignals::default(), 0.0).value,
            1
        );
        assert_eq!(
            queue_proposal(&spec, depth(100, 0, 0), 1, &DrainSignals::default(), 0.0).value,
            10
        );
        assert_eq!(
            queue_proposal(&spec, depth(100, 1, 0), 1, &DrainSignals::default(), 0.0).value,
            11
        );
        let crate::drain::Proposal {
            value: p, reason, ..
        } = queue_proposal(&spec, depth(95, 20, 4), 1, &DrainSignals::default(), 0.0);
        assert_eq!(p, 12);
        assert_eq!(
            reason,
            "queue orders: backlog 115 (95 visible + 20 in flight) / 10 per instance -> propose 12"
        );
        assert_eq!(
            queue_proposal(
                &queue_spec(1, true, true, 0),
                depth(u64::MAX, 0, 0),
                1,
                &DrainSignals::default(),
                0.0
            )
            .value,
            i64::from(i32::MAX)
        );
    }

    #[test]
    fn below_activation_the_queue_proposes_min() {
        let spec = queue_spec(10, true, false, 50);
        let crate::drain::Proposal {
            value: p, reason, ..
        } = queue_proposal(&spec, depth(49, 0, 0), 3, &DrainSignals::default(), 0.0);
        assert_eq!(p, 3);
        assert!(
            reason.contains("below activation 50: propose min 3"),
            "{reason}"
        );
        assert_eq!(
            queue_proposal(&spec, depth(50, 0, 0), 3, &DrainSignals::default(), 0.0).value,
            5
        );
    }

    #[test]
    fn the_queue_proposal_combines_with_alarms_largest_then_smallest_cap() {
        let mut t = tracker(1, 200, Stability::OFF);
        t.alarms = vec![
            rule("surge", Some(Action::Set(40)), None),
            rule("db", Some(Action::Cap(25)), None),
        ];
        let d = with_all(
            &t,
            Some(10),
            300,
            &SavedState::Missing,
            &states(&[("surge", Alarm)]),
        );
        assert_eq!(d.desired, Some(40));
        let d = with_all(
            &t,
            Some(10),
            600,
            &SavedState::Missing,
            &states(&[("surge", Alarm)]),
        );
        assert_eq!(d.desired, Some(60));
        assert!(has(&d, "largest proposal wins: 60"));
        let d = with_all(
            &t,
            Some(10),
            600,
            &SavedState::Missing,
            &states(&[("db", Alarm)]),
        );
        assert_eq!(d.desired, Some(25));
    }

    #[test]
    fn tolerance_skips_small_changes_but_not_changes_at_or_beyond_it() {
        let t = tracker(
            1,
            200,
            Stability {
                tolerance: 0.1,
                ..Stability::OFF
            },
        );
        let d = with_queue(&t, Some(50), 540, &SavedState::Missing); // 54: 4 < 5
        assert_eq!(d.desired, Some(50));
        assert!(
            has(&d, "held: a change of 4 is within tolerance 0.1 of 50"),
            "{:?}",
            d.reasons
        );
        assert_eq!(
            with_queue(&t, Some(50), 550, &SavedState::Missing).desired,
            Some(55)
        );
        assert_eq!(
            with_queue(&t, Some(50), 450, &SavedState::Missing).desired,
            Some(45)
        );
    }

    #[test]
    fn a_scale_out_tolerance_holds_increases_within_its_own_band_and_decreases_within_tolerance() {
        let t = tracker(
            1,
            200,
            Stability {
                tolerance: 0.3,
                scale_out_tolerance: Some(0.05),
                ..Stability::OFF
            },
        );
        // +4 of 50 is 8 %: beyond the scale-out tolerance (the 0.3 would hold it).
        assert_eq!(
            with_queue(&t, Some(50), 540, &SavedState::Missing).desired,
            Some(54)
        );
        let d = with_queue(&t, Some(50), 510, &SavedState::Missing);
        assert_eq!(d.desired, Some(50));
        assert!(
            has(
                &d,
                "held: a change of 1 is within scale-out tolerance 0.05 of 50"
            ),
            "{:?}",
            d.reasons
        );
        // Decreases keep the target's tolerance.
        let d = with_queue(&t, Some(50), 400, &SavedState::Missing);
        assert_eq!(d.desired, Some(50));
        assert!(
            has(&d, "held: a change of 10 is within tolerance 0.3 of 50"),
            "{:?}",
            d.reasons
        );
        assert_eq!(
            with_queue(&t, Some(50), 300, &SavedState::Missing).desired,
            Some(30)
        );
    }

    #[test]
    fn a_drain_proposal_aims_above_the_need_by_the_scale_out_tolerance() {
        let at_work = |stability| {
            with_drain(
                &drain_tracker(stability),
                Some(10),
                depth(0, 20, 0),
                DrainSignals::default(),
                &SavedState::Missing,
                &AlarmStates::new(),
            )
        };
        let symmetric = Stability {
            tolerance: 0.3,
            ..Stability::OFF
        };
        // 20 at work, 30 % above: 26, + 6.9 of headroom.
        assert_eq!(at_work(symmetric).desired, Some(33));
        // Increases act on any change: the proposal needs no margin above the need.
        let d = at_work(Stability {
            scale_out_tolerance: Some(0.0),
            ..symmetric
        });
        assert_eq!(d.desired, Some(27), "{:?}", d.reasons);
    }

    /// A tolerance of 0.3 that narrows towards 0.1 with a time constant of 1200 s.
    const NARROWING: Stability = Stability {
        tolerance: 0.3,
        narrowing: Some(crate::policy::Narrowing {
            to: 0.1,
            seconds: 1200,
        }),
        ..Stability::OFF
    };

    #[test]
    fn a_narrowing_tolerance_holds_a_change_after_a_change_and_acts_on_it_once_held_long() {
        let t = tracker(1, 500, NARROWING);
        // 100 -> 120 is 20 %: within 0.3 a minute after the last change (0.29)...
        let fresh = with_queue(
            &t,
            Some(100),
            1200,
            &history(Some((60, Direction::Out)), &[]),
        );
        assert_eq!(fresh.desired, Some(100), "{:?}", fresh.reasons);
        assert!(
            has(
                &fresh,
                "60 s since the last change: tolerance 0.3 narrowed to 0.29 \
                 (towards 0.1 with a time constant of 1200 s)"
            ) && has(
                &fresh,
                "held: a change of 20 is within tolerance 0.29 of 100"
            ),
            "{:?}",
            fresh.reasons
        );
        // ...and beyond it after an hour held (0.1 + 0.2 e^-3 = 0.11).
        let held = with_queue(
            &t,
            Some(100),
            1200,
            &history(Some((3600, Direction::Out)), &[]),
        );
        assert_eq!(held.desired, Some(120), "{:?}", held.reasons);
        assert!(
            has(&held, "tolerance 0.3 narrowed to 0.11 "),
            "{:?}",
            held.reasons
        );
        // It never narrows below its floor: 100 -> 109 stays held however long.
        let long = history(Some((86_400, Direction::Out)), &[]);
        let d = with_queue(&t, Some(100), 1090, &long);
        assert_eq!(d.desired, Some(100), "{:?}", d.reasons);
        assert!(has(&d, "within tolerance 0.1 of 100"), "{:?}", d.reasons);
        // Without a narrowing the same hour changes nothing.
        let plain = tracker(
            1,
            500,
            Stability {
                narrowing: None,
                ..NARROWING
            },
        );
        let d = with_queue(
            &plain,
            Some(100),
            1200,
            &history(Some((3600, Direction::Out)), &[]),
        );
        assert_eq!(d.desired, Some(100));
        assert!(!has(&d, "narrowed"), "{:?}", d.reasons);
    }

    #[test]
    fn a_narrowing_tolerance_is_at_its_floor_without_a_recorded_change() {
        let t = tracker(1, 500, NARROWING);
        // Its last change an hour ago, but a recommendation from the future: set aside.
        let from_the_future = history(
            Some((3600, Direction::Out)),
            &[(100, Some(-3 * MAX_CLOCK_SKEW_SECONDS))],
        );
        // A steady target's item expires after days without a write.
        let never_changed = history(None, &[]);
        for saved in [SavedState::Missing, never_changed, from_the_future] {
            let d = with_queue(&t, Some(100), 1200, &saved);
            assert_eq!(d.desired, Some(120), "{saved:?}: {:?}", d.reasons);
            assert!(
                has(
                    &d,
                    "no change recorded, so held longer than known: tolerance 0.3 narrowed to 0.1 \
                     (towards 0.1"
                ),
                "{saved:?}: {:?}",
                d.reasons
            );
        }
    }

    #[test]
    fn a_narrowing_tolerance_counts_only_a_change_that_landed() {
        let t = tracker(1, 500, NARROWING);
        // The change a minute ago set 100; an attempt of 125 that did not land set nothing.
        let attempted = |desired: u32| {
            let SavedState::Valid(mut h) = history(Some((60, Direction::Out)), &[]) else {
                unreachable!()
            };
            h.activities.push(crate::state::Activity {
                at: NOW - 60,
                trigger: "schedule".into(),
                previous: Some(90),
                desired: Some(desired),
                reasons: Vec::new(),
                outcome: crate::state::ActivityOutcome::Pending,
            });
            SavedState::Valid(h)
        };
        let landed = with_queue(&t, Some(100), 1200, &attempted(100));
        assert_eq!(landed.desired, Some(100), "{:?}", landed.reasons);
        assert!(has(
            &landed,
            "60 s since the last change: tolerance 0.3 narrowed to 0.29"
        ));
        let lost = with_queue(&t, Some(100), 1200, &attempted(125));
        assert_eq!(lost.desired, Some(120), "{:?}", lost.reasons);
        assert!(
            has(
                &lost,
                "the reservation is not what the last change set (125, 60 s ago): that change \
                 did not land or the reservation was changed since, so held longer than known: \
                 tolerance 0.3 narrowed to 0.1"
            ),
            "{:?}",
            lost.reasons
        );
    }

    /// A day of one evaluation a minute of a drain-time target whose load is steady at `mean`
    /// executions at work, each sample drawn afresh (Gaussian, spread sqrt(mean), from a
    /// fixed seed; no smoothing between samples, so noisier than watch mode sees), from 1.3
    /// times the mean and no history. Returns the writes of the target's item, the
    /// reservation's changes among them, and the reservation at the end.
    fn day_of_steady_load(
        narrowing: Option<crate::policy::Narrowing>,
        mean: f64,
    ) -> (u32, u32, Option<u32>) {
        let t = Target {
            max: 10_000,
            ..drain_tracker(Stability {
                narrowing,
                scale_in_cooldown_seconds: 60,
                scale_in_stabilization_seconds: 180,
                ..NARROWING
            })
        };
        let mut saved = SavedState::Missing;
        let mut current = Some((mean * 1.3) as u32);
        let mut seed: u64 = 12345;
        let (mut item_writes, mut changes) = (0, 0);
        for minute in 0..24 * 60 {
            // The sum of 12 uniforms less 6: close enough to a standard normal.
            let mut z = -6.0;
            for _ in 0..12 {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                z += (seed >> 11) as f64 / (1u64 << 53) as f64;
            }
            let in_flight = (mean + z * mean.sqrt()).round().max(0.0) as u64;
            let d = with_drain_at(
                &t,
                current,
                depth(0, in_flight, 0),
                &saved,
                NOW + 60 * minute,
            );
            if d.history_changed {
                item_writes += 1;
                saved = SavedState::Valid(d.history.clone());
            }
            if d.desired != current {
                changes += 1;
                current = d.desired;
            }
        }
        (item_writes, changes, current)
    }

    #[test]
    fn a_steady_load_held_far_above_its_need_is_brought_down_by_the_narrowing_in_a_few_writes() {
        // 2,000 at work spread by 45 (2 %), from 2,600 and no history. The band as set (0.3)
        // holds 2,600 all day without a write; narrowed, the reservation comes down to
        // about 10 % above the need plus the headroom for a minute's arrivals.
        assert_eq!(day_of_steady_load(None, 2000.0), (0, 0, Some(2600)));
        let (writes, changes, end) = day_of_steady_load(NARROWING.narrowing, 2000.0);
        assert!(
            writes <= 20 && changes <= writes,
            "{writes} writes, {changes} changes"
        );
        assert!(
            end.is_some_and(|end| (2200..2400).contains(&end)),
            "{end:?}"
        );
    }

    /// `cargo test --lib -- --ignored --nocapture state_writes_of_a_steady_noisy_load`:
    /// docs/policy.md quotes it.
    #[test]
    #[ignore]
    fn state_writes_of_a_steady_noisy_load() {
        for mean in [20.0, 200.0, 2000.0] {
            let wide = day_of_steady_load(None, mean);
            let narrowing = day_of_steady_load(NARROWING.narrowing, mean);
            println!(
                "{mean} at work: (item writes, reservation changes, at the end) a day: \
                 0.3 {wide:?}, narrowing to 0.1 {narrowing:?}"
            );
        }
    }

    #[test]
    fn a_narrowing_tolerance_is_not_said_where_tolerances_do_not_apply() {
        let t = tracker(1, 500, NARROWING);
        let long = history(Some((3600, Direction::Out)), &[]);
        let inputs = Inputs {
            current: Some(100),
            alarms: &AlarmStates::new(),
            queue: None,
            saved: &long,
            now: NOW,
            unread: &[],
            headroom: None,
            mapping_floor: 0,
            pause_held: false,
            drain: DrainSignals::default(),
        };
        let direct = super::decide(&t, &inputs, Request::Direct(120));
        assert_eq!(direct.desired, Some(120));
        assert!(!has(&direct, "narrowed"), "{:?}", direct.reasons);
        // No depth read: no proposal, nothing a tolerance could hold.
        let unread = super::decide(&t, &inputs, Request::FollowAlarms);
        assert_eq!(unread.desired, Some(100));
        assert!(!has(&unread, "narrowed"), "{:?}", unread.reasons);
        let first = with_queue(&t, None, 1200, &long);
        assert_eq!(first.desired, Some(120));
        assert!(!has(&first, "narrowed"), "{:?}", first.reasons);
        // Nothing has held without a reservation: a first one aims the full 30 % above the
        // need (20 at work: 26, + 6.9 of headroom), as right after a change.
        let first = with_drain(
            &drain_tracker(NARROWING),
            None,
            depth(0, 20, 0),
            DrainSignals::default(),
            &long,
            &AlarmStates::new(),
        );
        assert_eq!(first.desired, Some(33), "{:?}", first.reasons);
    }

    #[test]
    fn a_narrowing_tolerance_brings_a_drain_proposal_closer_above_the_need() {
        let at_work = |saved: &SavedState| {
            with_drain(
                &drain_tracker(NARROWING),
                Some(10),
                depth(0, 20, 0),
                DrainSignals::default(),
                saved,
                &AlarmStates::new(),
            )
        };
        // 20 at work: 30 % above right after a change (26, + 6.9 of headroom)...
        let fresh = at_work(&history(Some((0, Direction::Out)), &[]));
        assert_eq!(fresh.desired, Some(33), "{:?}", fresh.reasons);
        // ...11 % above after an hour held (22.2, + 6.9).
        let held = at_work(&history(Some((3600, Direction::Out)), &[]));
        assert_eq!(held.desired, Some(30), "{:?}", held.reasons);
    }

    #[test]
    fn a_narrowing_tolerance_narrows_a_scale_out_tolerance_above_its_floor_only() {
        let knobs = |out| Stability {
            scale_out_tolerance: Some(out),
            ..NARROWING
        };
        let wide = knobs(0.2).after_holding(1200);
        // 0.1 + 0.2 / e and 0.1 + 0.1 / e, to three decimals.
        assert_eq!(
            (wide.tolerance, wide.scale_out_tolerance),
            (0.174, Some(0.137))
        );
        let narrow = knobs(0.05).after_holding(1200);
        assert_eq!(narrow.scale_out_tolerance, Some(0.05));
        // What the reasons say 1200 s after the last change, with 100 proposed.
        let said = |stability| {
            let t = tracker(1, 500, stability);
            let saved = history(Some((1200, Direction::Out)), &[]);
            let d = with_queue(&t, Some(100), 1000, &saved);
            d.reasons
                .into_iter()
                .find(|r| r.contains("since the last change"))
        };
        assert_eq!(
            said(knobs(0.2)).as_deref(),
            Some(
                "1200 s since the last change: tolerance 0.3 narrowed to 0.174, scale-out \
                 tolerance 0.2 narrowed to 0.137 (towards 0.1 with a time constant of 1200 s)"
            )
        );
        // Only what narrows is said: a tolerance at the floor stays as it is.
        let at_floor = Stability {
            tolerance: 0.1,
            ..knobs(0.2)
        };
        assert_eq!(
            said(at_floor).as_deref(),
            Some(
                "1200 s since the last change: scale-out tolerance 0.2 narrowed to 0.137 \
                 (towards 0.1 with a time constant of 1200 s)"
            )
        );
    }

    #[test]
    fn tolerance_never_blocks_a_change_forced_by_bounds_or_a_cap() {
        let mut t = tracker(
            10,
            100,
            Stability {
                tolerance: 0.5,
                ..Stability::OFF
            },
        );
        // Above max: 104 proposed, 4 is within tolerance of 104, but max still applies.
        assert_eq!(
            with_queue(&t, Some(104), 1040, &SavedState::Missing).desired,
            Some(100)
        );
        // Below min.
        assert_eq!(
            with_queue(&t, Some(8), 80, &SavedState::Missing).desired,
            Some(10)
        );
        t.alarms = vec![rule("db", Some(Action::Cap(45)), None)];
        let d = with_all(
            &t,
            Some(50),
            500,
            &SavedState::Missing,
            &states(&[("db", Alarm)]),
        );
        assert_eq!(d.desired, Some(45));
    }

    #[test]
    fn cooldowns_hold_each_direction_and_say_how_long_is_left() {
        let t = tracker(
            1,
            200,
            Stability {
                scale_out_cooldown_seconds: 60,
                scale_in_cooldown_seconds: 300,
                ..Stability::OFF
            },
        );
        let recent = history(Some((88, Direction::In)), &[]);
        let d = with_queue(&t, Some(50), 200, &recent);
        assert_eq!(d.desired, Some(50));
        assert!(
            has(
                &d,
                "held: scale-in cooldown, 212 s left (last change: scale-in 88 s ago)"
            ),
            "{:?}",
            d.reasons
        );
        assert_eq!(d.change(), None);
        // A scale-out after 88 s is past its 60 s cooldown.
        assert_eq!(with_queue(&t, Some(50), 800, &recent).desired, Some(80));
        let just_out = history(Some((30, Direction::Out)), &[]);
        let d = with_queue(&t, Some(50), 800, &just_out);
        assert_eq!(d.desired, Some(50));
        assert!(has(&d, "held: scale-out cooldown, 30 s left"));
        // Past the scale-in cooldown, scale in.
        let old = history(Some((301, Direction::Out)), &[]);
        assert_eq!(with_queue(&t, Some(50), 200, &old).desired, Some(20));
    }

    #[test]
    fn caps_and_bounds_apply_at_once_during_a_cooldown() {
        let mut t = tracker(
            30,
            200,
            Stability {
                scale_in_cooldown_seconds: 300,
                ..Stability::OFF
            },
        );
        t.alarms = vec![rule("db", Some(Action::Cap(40)), None)];
        let recent = history(Some((10, Direction::Out)), &[]);
        let d = with_all(&t, Some(90), 100, &recent, &states(&[("db", Alarm)]));
        assert_eq!(d.desired, Some(40));
        assert!(has(&d, "held: scale-in cooldown"));
        assert!(has(&d, "cap 40 lowers 90 to 40"));
        // Below min during a cooldown: raised at once.
        let d = with_queue(&t, Some(5), 0, &recent);
        assert_eq!(d.desired, Some(30));
    }

    #[test]
    fn stabilization_scales_in_only_to_the_highest_recent_recommendation() {
        let t = tracker(
            1,
            200,
            Stability {
                scale_in_stabilization_seconds: 300,
                ..Stability::OFF
            },
        );
        // 80 was recommended until 250 s ago, 60 until 100 s ago; 30 is in force.
        let saved = history(None, &[(80, Some(250)), (60, Some(100)), (30, None)]);
        let d = with_queue(&t, Some(100), 100, &saved);
        assert_eq!(d.desired, Some(80));
        assert!(has(&d, "scale-in stabilization: highest recommendation in the last 300 s was 80, so scale in to 80, not 10"), "{:?}", d.reasons);
        // 80 ended 310 s ago: it has left the window.
        let later = history(None, &[(80, Some(310)), (60, Some(100)), (30, None)]);
        assert_eq!(with_queue(&t, Some(100), 100, &later).desired, Some(60));
        // A window maximum at or above the current value holds it.
        let high = history(None, &[(150, Some(100)), (100, None)]);
        let d = with_queue(&t, Some(100), 100, &high);
        assert_eq!(d.desired, Some(100));
        assert!(has(
            &d,
            "held: scale-in stabilization, highest recommendation in the last 300 s was 150"
        ));
        // Stabilization never delays a scale-out.
        assert_eq!(with_queue(&t, Some(100), 1200, &high).desired, Some(120));
    }

    #[test]
    fn the_recommendation_is_recorded_so_the_next_evaluation_remembers_it() {
        let t = tracker(
            1,
            200,
            Stability {
                scale_in_stabilization_seconds: 300,
                ..Stability::OFF
            },
        );
        let d = with_queue(&t, Some(10), 900, &SavedState::Valid(History::default()));
        assert_eq!(d.desired, Some(90));
        assert_eq!(
            d.history.recommendations,
            [crate::state::Recommendation {
                value: 90,
                until: None
            }]
        );
        assert_eq!(
            d.history.last_change,
            Some(LastChange {
                at: NOW,
                direction: Direction::Out
            })
        );
        // 60 s later the queue is empty: held at 90 by the saved recommendation.
        let inputs = Inputs {
            current: Some(90),
            alarms: &AlarmStates::new(),
            queue: Some(depth(0, 0, 0)),
            saved: &SavedState::Valid(d.history),
            now: NOW + 60,
            unread: &[],
            headroom: None,
            mapping_floor: 0,
            pause_held: false,
            drain: Default::default(),
        };
        let next = super::decide(&t, &inputs, Request::FollowAlarms);
        assert_eq!(next.desired, Some(90));
        assert!(
            next.history.last_change.unwrap().at == NOW,
            "an unchanged value is not a change"
        );
        assert!(next.history_changed, "the lower recommendation is new");
        // The same again: nothing new to save.
        let inputs = Inputs {
            saved: &SavedState::Valid(next.history),
            now: NOW + 120,
            ..inputs
        };
        let again = super::decide(&t, &inputs, Request::FollowAlarms);
        assert_eq!(again.desired, Some(90));
        assert!(!again.history_changed, "{:?}", again.history);
    }

    #[test]
    fn without_history_the_reason_names_the_current_reservation_and_the_bounds_that_move_it() {
        // 100 reserved, a max of 50: 50 is what counts, and the reason says why.
        let t = tracker(1, 50, Stability::default());
        let d = with_queue(&t, Some(100), 0, &SavedState::Missing);
        assert_eq!(d.desired, Some(50));
        assert!(
            has(&d, "counts as recommended now (100, within the bounds 50)"),
            "{:?}",
            d.reasons
        );
    }

    #[test]
    fn without_history_a_scale_in_waits_a_full_window_but_a_scale_out_does_not() {
        let t = tracker(1, 200, Stability::default());
        for saved in [SavedState::Missing, SavedState::unusable("corrupt")] {
            let d = with_queue(&t, Some(100), 0, &saved);
            assert_eq!(d.desired, Some(100), "{saved:?}");
            assert!(
                has(&d, "counts as recommended now (100)"),
                "{:?}",
                d.reasons
            );
            assert!(has(&d, "held: scale-in stabilization"));
            assert_eq!(d.history.recommendations[0].value, 100);
            assert_eq!(with_queue(&t, Some(100), 3000, &saved).desired, Some(200));
        }
        let d = with_queue(
            &t,
            Some(100),
            0,
            &SavedState::unusable("format v2 is not one"),
        );
        assert!(has(
            &d,
            "saved state unusable (format v2 is not one): treated as no history"
        ));
    }

    #[test]
    fn state_from_the_future_is_treated_as_no_history() {
        let t = tracker(1, 200, Stability::default());
        let future = SavedState::Valid(History {
            last_change: Some(LastChange {
                at: NOW + 10_000,
                direction: Direction::Out,
            }),
            recommendations: vec![],
            event_sources: Vec::new(),
            in_force_since: None,
            activities: Vec::new(),
            earlier_activities: 0,
            load: Default::default(),
        });
        let d = with_queue(&t, Some(100), 0, &future);
        assert!(has(&d, "saved state is from the future"), "{:?}", d.reasons);
        assert!(!has(&d, "cooldown"));
        assert!(d.history_changed, "the future-dated item is replaced");
    }

    #[test]
    fn event_source_records_outlive_a_history_set_aside() {
        let t = tracker(1, 200, Stability::default());
        let records = vec![crate::state::MappingRecord {
            uuid: "m".into(),
            ceiling: Some(40),
            paused: true,
            held: true,
        }];
        let future = SavedState::Valid(History {
            last_change: Some(LastChange {
                at: NOW + 10_000,
                direction: Direction::Out,
            }),
            event_sources: records.clone(),
            ..History::default()
        });
        let broken = SavedState::Unusable {
            why: "corrupt".into(),
            event_sources: records.clone(),
        };
        for saved in [future, broken] {
            let d = with_queue(&t, Some(100), 0, &saved);
            assert!(d.history.last_change.is_none(), "{saved:?}");
            assert_eq!(d.history.event_sources, records, "{saved:?}");
        }
    }

    #[test]
    fn percent_step_limits_bound_each_action_and_the_tighter_limit_holds() {
        let t = tracker(
            1,
            500,
            Stability {
                max_scale_out_step_percent: Some(50),
                max_scale_in_step_percent: Some(10),
                ..Stability::OFF
            },
        );
        let d = with_queue(&t, Some(40), 2000, &SavedState::Missing);
        assert_eq!(d.desired, Some(60));
        assert!(
            has(
                &d,
                "max_scale_out_step_percent 50 (of 40: 20): 200 limited to 60"
            ),
            "{:?}",
            d.reasons
        );
        let d = with_queue(&t, Some(40), 10, &SavedState::Missing);
        assert_eq!(d.desired, Some(36));
        // 10 % of 5 rounds down to 0, but a percent limit always allows one step.
        let d = with_queue(&t, Some(5), 10, &SavedState::Missing);
        assert_eq!(d.desired, Some(4));
        let both = tracker(
            1,
            500,
            Stability {
                max_scale_out_step: Some(8),
                max_scale_out_step_percent: Some(50),
                ..Stability::OFF
            },
        );
        let d = with_queue(&both, Some(40), 2000, &SavedState::Missing);
        assert_eq!(d.desired, Some(48), "8 is tighter than 50 % of 40");
        assert!(has(&d, "max_scale_out_step 8: 200 limited to 48"));
    }

    #[test]
    fn step_limits_bound_each_action() {
        let t = tracker(
            1,
            500,
            Stability {
                max_scale_out_step: Some(20),
                max_scale_in_step: Some(5),
                ..Stability::OFF
            },
        );
        let d = with_queue(&t, Some(50), 2000, &SavedState::Missing);
        assert_eq!(d.desired, Some(70));
        assert!(has(&d, "max_scale_out_step 20: 200 limited to 70"));
        let d = with_queue(&t, Some(50), 10, &SavedState::Missing);
        assert_eq!(d.desired, Some(45));
        assert!(
            has(&d, "max_scale_in_step 5: 1 limited to 45"),
            "{:?}",
            d.reasons
        );
    }

    #[test]
    fn a_direct_command_skips_the_stability_knobs_but_not_caps_or_bounds() {
        let t = tracker(1, 200, Stability::default());
        let saved = history(Some((5, Direction::Out)), &[(150, None)]);
        let inputs = Inputs {
            current: Some(150),
            alarms: &AlarmStates::new(),
            queue: Some(depth(5000, 0, 0)),
            saved: &saved,
            now: NOW,
            unread: &[],
            headroom: None,
            mapping_floor: 0,
            pause_held: false,
            drain: Default::default(),
        };
        let d = super::decide(&t, &inputs, Request::Direct(12));
        assert_eq!(d.desired, Some(12));
        assert!(has(
            &d,
            "direct command: tolerance, cooldowns, stabilization and step limits do not apply"
        ));
        assert!(
            !has(&d, "queue orders"),
            "the direct command replaces the queue's proposal"
        );
        assert_eq!(
            d.history.last_change,
            Some(LastChange {
                at: NOW,
                direction: Direction::In
            })
        );
        // The same reads without the command do say the queue's proposal.
        let followed = super::decide(&t, &inputs, Request::FollowAlarms);
        assert!(has(&followed, "queue orders"), "{:?}", followed.reasons);
    }

    /// Each stage shapes the value in turn; the reasons come in the documented order.
    #[test]
    fn the_order_of_application_is_largest_tolerance_cooldown_stabilization_steps_caps_bounds() {
        let knobs = Stability {
            tolerance: 0.1,
            scale_out_cooldown_seconds: 60,
            scale_in_cooldown_seconds: 300,
            scale_in_stabilization_seconds: 300,
            max_scale_out_step: Some(10),
            max_scale_in_step: Some(15),
            ..Stability::OFF
        };
        let mut t = tracker(5, 60, knobs);
        t.alarms = vec![
            rule("surge", Some(Action::Set(30)), None),
            rule("db", Some(Action::Cap(8)), None),
        ];
        // Scale in from 100 (above max): queue 0, surge says 30 -> largest 30; no cooldown;
        // the window's highest is 70 -> 70; step limit 15 -> 85; no cap; max 60 -> 60.
        let saved = history(Some((400, Direction::Out)), &[(70, Some(200))]);
        let d = with_all(&t, Some(100), 0, &saved, &states(&[("surge", Alarm)]));
        assert_eq!(d.desired, Some(60));
        let order = [
            "largest proposal wins: 30",
            "scale-in stabilization: highest",
            "max_scale_in_step 15: 70 limited to 85",
            "lowered from 85 to max 60",
        ];
        let positions: Vec<usize> = order
            .iter()
            .map(|o| {
                d.reasons
                    .iter()
                    .position(|r| r.contains(o))
                    .unwrap_or_else(|| panic!("{o}: {:?}", d.reasons))
            })
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{:?}", d.reasons);
        // Same, with the cap active: the cap comes after the step limit, then min.
        let d = with_all(
            &t,
            Some(100),
            0,
            &saved,
            &states(&[("surge", Alarm), ("db", Alarm)]),
        );
        assert_eq!(d.desired, Some(8));
        let i = d
            .reasons
            .iter()
            .position(|r| r.contains("max_scale_in_step"))
            .unwrap();
        let j = d
            .reasons
            .iter()
            .position(|r| r == "cap 8 lowers 85 to 8")
            .unwrap();
        assert!(i < j);
        // Tolerance comes before the cooldown: a tiny change is not reported as held by it.
        let saved = history(Some((10, Direction::Out)), &[]);
        let d = with_queue(&t, Some(40), 420, &saved);
        assert_eq!(d.desired, Some(40));
        assert!(
            has(&d, "within tolerance") && !has(&d, "cooldown"),
            "{:?}",
            d.reasons
        );
    }

    fn any_stability() -> impl Strategy<Value = Stability> {
        (
            prop_oneof![Just(0.0), Just(0.1), Just(0.5), Just(0.99)],
            proptest::option::of(prop_oneof![Just(0.0), Just(0.05), Just(0.3)]),
            0u32..600,
            0u32..600,
            0u32..=3600,
            proptest::option::of(1u32..50),
            proptest::option::of(1u32..50),
            proptest::option::of(1u32..=300),
            proptest::option::of(1u32..=100),
            proptest::option::of((prop_oneof![Just(0.0), Just(0.05), Just(0.1)], 1u32..3600)),
        )
            .prop_map(
                |(
                    tolerance,
                    out_tolerance,
                    out,
                    inn,
                    window,
                    up,
                    down,
                    up_pct,
                    down_pct,
                    narrow,
                )| {
                    Stability {
                        tolerance,
                        scale_out_tolerance: out_tolerance,
                        narrowing: narrow.map(|(to, seconds)| crate::policy::Narrowing {
                            to: f64::min(to, tolerance),
                            seconds,
                        }),
                        scale_out_cooldown_seconds: out,
                        scale_in_cooldown_seconds: inn,
                        scale_in_stabilization_seconds: window,
                        max_scale_out_step: up,
                        max_scale_in_step: down,
                        max_scale_out_step_percent: up_pct,
                        max_scale_in_step_percent: down_pct,
                    }
                },
            )
    }

    fn any_saved() -> impl Strategy<Value = SavedState> {
        prop_oneof![
            Just(SavedState::Missing),
            Just(SavedState::unusable("corrupt")),
            (
                proptest::option::of((
                    0i64..1000,
                    prop_oneof![Just(Direction::In), Just(Direction::Out)]
                )),
                proptest::collection::vec((0i64..4000, 0u32..400), 0..8),
            )
                .prop_map(|(last, mut recs)| {
                    recs.sort_by_key(|(ago, _)| -ago);
                    let mut h = History {
                        last_change: last.map(|(ago, direction)| LastChange {
                            at: NOW - ago,
                            direction,
                        }),
                        recommendations: vec![],
                        event_sources: Vec::new(),
                        in_force_since: None,
                        activities: Vec::new(),
                        earlier_activities: 0,
                        load: Default::default(),
                    };
                    for (ago, v) in recs {
                        h.record(NOW - ago, v, 3600);
                    }
                    SavedState::Valid(h)
                }),
        ]
    }

    proptest! {
        #[test]
        fn stability_never_breaks_bounds_caps_or_the_window_maximum(
            min in 1u32..20,
            span in 0u32..300,
            current in proptest::option::of(0u32..400),
            backlog in 0u64..5000,
            cap in proptest::option::of(0u32..400),
            knobs in any_stability(),
            saved in any_saved(),
        ) {
            let max = min + span;
            let mut t = tracker(min, max, knobs);
            let mut alarms = AlarmStates::new();
            if let Some(cap) = cap {
                t.alarms.push(rule("db", Some(Action::Cap(cap)), None));
                alarms = states(&[("db", Alarm)]);
            }
            let d = with_all(&t, current, backlog, &saved, &alarms);
            let desired = d.desired.unwrap();
            // Within bounds, and never above an active cap (unless min is above it).
            prop_assert!(desired >= min && desired <= max, "{} not in [{}, {}]", desired, min, max);
            if let Some(cap) = cap {
                prop_assert!(desired <= cap.max(min), "cap {} broken by {}", cap, desired);
            }
            let Some(c) = current else { return Ok(()); };
            // Tolerance or cooldowns never keep a value outside the bounds or above a cap.
            if c < min || c > max || cap.is_some_and(|cap| c > cap.max(min)) {
                prop_assert_ne!(desired, c);
            }
            // A scale-in never goes below the window's highest recommendation (nor the current
            // value), unless a cap or min forces it.
            let window = knobs.scale_in_stabilization_seconds;
            if desired < c && cap.is_none_or(|cap| cap >= c) && c <= max {
                if let Some(high) = d.history.window_max(NOW, window) {
                    prop_assert!(desired >= c.min(high).max(min), "{} below window max {}", desired, high);
                }
            }
            // Within the cooldown after a change nothing moves in that direction on its own.
            if let SavedState::Valid(h) = &saved {
                if let Some(last) = h.last_change {
                    let age = NOW - last.at;
                    let forced = c < min || c > max || cap.is_some_and(|cap| c > cap.max(min));
                    if !forced && age < i64::from(knobs.scale_in_cooldown_seconds) {
                        prop_assert!(desired >= c, "scale-in during cooldown: {} -> {}", c, desired);
                    }
                    if !forced && age < i64::from(knobs.scale_out_cooldown_seconds) {
                        prop_assert!(desired <= c, "scale-out during cooldown: {} -> {}", c, desired);
                    }
                }
            }
            // Step limits bound every unforced move.
            let forced = c < min || c > max || cap.is_some_and(|cap| c > cap.max(min));
            if !forced {
                if let Some(step) = knobs.max_scale_out_step {
                    prop_assert!(desired <= c + step);
                }
                if let Some(p) = knobs.max_scale_out_step_percent {
                    let step = (c * p / 100).max(1);
                    prop_assert!(desired <= c + step, "{} -> {} beyond {}% of {}", c, desired, p, c);
                }
                if let Some(p) = knobs.max_scale_in_step_percent {
                    let step = (c * p / 100).max(1);
                    prop_assert!(desired + step >= c, "{} -> {} beyond {}% of {}", c, desired, p, c);
                }
                if let Some(step) = knobs.max_scale_in_step {
                    prop_assert!(desired + step >= c);
                }
            }
            // Without history a scale-in never happens at all (it waits a full window).
            if !matches!(saved, SavedState::Valid(_)) && window > 0 && (min..=max).contains(&c) && cap.is_none_or(|cap| cap >= c) {
                prop_assert!(desired >= c, "scaled in without history: {} -> {}", c, desired);
            }
        }
    }

    // ---- invariants for any policy, history and observations (issue: reliability) ------

    /// Anything a target can be: bounds, alarm rules with any actions, a queue or not, any
    /// knobs, and any fallback for missing data.
    fn any_target() -> impl Strategy<Value = Target> {
        (
            0u32..30,
            0u32..300,
            proptest::collection::vec((any_action(), any_action()), 0..4),
            any::<bool>(),
            any_stability(),
            prop_oneof![Just(None), (0u32..330).prop_map(Some)],
        )
            .prop_map(|(min, span, actions, follows_queue, stability, fallback)| {
                let max = min + span;
                let on_metric_failure = match fallback {
                    Some(n) => MetricFailure::Set(n.clamp(min, max)),
                    None => MetricFailure::Hold,
                };
                Target {
                    alarms: actions
                        .into_iter()
                        .enumerate()
                        .map(|(i, (a, o))| rule(&format!("a{i}"), a, o))
                        .collect(),
                    queue: follows_queue.then(|| queue_spec(10, true, false, 0)),
                    stability,
                    on_metric_failure,
                    ..target(min, max, vec![])
                }
            })
    }

    /// Everything an evaluation can observe for `target`s of `any_target` (alarms a0..a3).
    #[derive(Debug, Clone)]
    struct World {
        current: Option<u32>,
        alarms: AlarmStates,
        backlog: Option<u64>,
        saved: SavedState,
        unread: Vec<String>,
        headroom: Option<Headroom>,
        request: Request,
    }

    fn any_world() -> impl Strategy<Value = World> {
        let source = prop_oneof![
            Just(StateSource::CloudWatch),
            Just(StateSource::Event),
            Just(StateSource::EventWhileUnreadable)
        ];
        (
            proptest::option::of(0u32..400),
            proptest::collection::vec(proptest::option::of((any_state(), source)), 4),
            proptest::option::of(0u64..5000),
            any_saved(),
            any::<bool>(),
            proptest::option::of(0u32..200),
            proptest::option::of(0u32..500),
        )
            .prop_map(
                |(current, states, backlog, saved, unread, headroom, direct)| World {
                    current,
                    alarms: states
                        .into_iter()
                        .enumerate()
                        .filter_map(|(i, s)| {
                            s.map(|(state, source)| {
                                (format!("a{i}"), ObservedAlarm { state, source })
                            })
                        })
                        .collect(),
                    backlog,
                    saved,
                    unread: if unread {
                        vec!["GetQueueAttributes on q failed: boom".into()]
                    } else {
                        vec![]
                    },
                    headroom: headroom.map(|available| Headroom {
                        available,
                        unreserved: available + 100,
                        floor: 100,
                    }),
                    request: direct.map_or(Request::FollowAlarms, Request::Direct),
                },
            )
    }

    fn decide_in(t: &Target, w: &World) -> Decision {
        let inputs = Inputs {
            current: w.current,
            alarms: &w.alarms,
            queue: w.backlog.map(|b| depth(b, 0, 0)),
            saved: &w.saved,
            now: NOW,
            unread: &w.unread,
            headroom: w.headroom,
            mapping_floor: 0,
            pause_held: false,
            drain: Default::default(),
        };
        super::decide(t, &inputs, w.request)
    }

    /// The smallest cap that is active in `w` for `t` (caps act from any source).
    fn active_cap(t: &Target, w: &World) -> Option<u32> {
        t.alarms
            .iter()
            .filter_map(|r| {
                let observed = w.alarms.get(&r.name)?;
                match r.action_for(observed.state)? {
                    Action::Cap(c) => Some(c),
                    _ => None,
                }
            })
            .min()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_decision_respects_bounds_zero_steps_cooldowns_and_headroom(t in any_target(), w in any_world()) {
            let d = decide_in(&t, &w);
            prop_assert!(!d.reasons.is_empty());
            let Some(desired) = d.desired else {
                prop_assert_eq!(w.current, None, "no desired value only without a reservation");
                return Ok(());
            };
            let cap = active_cap(&t, &w);
            let headroom_hit = d.headroom_clamp.is_some();
            // Within [min, max], unless a cap or the headroom holds it lower.
            prop_assert!(desired <= t.max, "{} above max {}", desired, t.max);
            if desired < t.min {
                prop_assert!(headroom_hit, "{} below min {}: {:?}", desired, t.min, d.reasons);
            }
            // Never 0 unless the policy allows it (min 0), or the function already is at 0.
            if desired == 0 {
                prop_assert!(t.min == 0 || w.current == Some(0), "{:?}", d.reasons);
            }
            // Never above an active cap (or min, which the policy puts above caps).
            if let Some(cap) = cap {
                prop_assert!(desired <= cap.max(t.min), "cap {} broken by {}", cap, desired);
            }
            let Some(c) = w.current else { return Ok(()); };
            let forced = c < t.min || c > t.max || cap.is_some_and(|cap| c > cap.max(t.min));
            // The headroom never lets a scale-out take more than is available.
            if let Some(h) = w.headroom {
                if desired > c {
                    prop_assert!(desired - c <= h.available, "{} -> {} with {} available", c, desired, h.available);
                }
            }
            if w.request != Request::FollowAlarms || forced {
                return Ok(());
            }
            // Step limits bound every unforced move.
            let k = t.stability;
            if let Some(step) = k.max_scale_out_step {
                prop_assert!(desired <= c + step, "{} -> {} beyond step {}", c, desired, step);
            }
            if let Some(step) = k.max_scale_in_step {
                prop_assert!(desired + step >= c, "{} -> {} beyond step {}", c, desired, step);
            }
            if let Some(p) = k.max_scale_out_step_percent {
                prop_assert!(desired <= c + (c * p / 100).max(1));
            }
            if let Some(p) = k.max_scale_in_step_percent {
                prop_assert!(desired + (c * p / 100).max(1) >= c);
            }
            // No scale-in inside a cooldown (caps and bounds were excluded above as forced).
            if let SavedState::Valid(h) = &w.saved {
                if let Some(last) = h.last_change {
                    let age = NOW - last.at;
                    if (0..i64::from(k.scale_in_cooldown_seconds)).contains(&age) {
                        prop_assert!(desired >= c, "scale-in {} -> {} {} s into a cooldown", c, desired, age);
                    }
                }
            }
            // Never a scale-in on missing data.
            if !w.unread.is_empty() {
                prop_assert!(desired >= c, "scale-in {} -> {} on missing data", c, desired);
            }
        }

        #[test]
        fn deciding_twice_on_the_same_inputs_gives_the_same_decision(t in any_target(), w in any_world()) {
            prop_assert_eq!(decide_in(&t, &w), decide_in(&t, &w));
        }

        /// Level-triggered: after a decision is carried out, deciding again on the same
        /// observations (an old event replayed, a duplicate delivery) inside the cooldowns
        /// does not move the target.
        #[test]
        fn replaying_an_event_after_the_decision_it_caused_does_not_move_the_target(
            t in any_target(), w in any_world(), later in 0i64..30,
        ) {
            let mut t = t;
            t.stability.scale_out_cooldown_seconds = t.stability.scale_out_cooldown_seconds.max(30);
            t.stability.scale_in_cooldown_seconds = t.stability.scale_in_cooldown_seconds.max(30);
            let first = decide_in(&t, &w);
            let Some(applied) = first.desired else { return Ok(()); };
            let replay = World {
                current: Some(applied),
                saved: SavedState::Valid(first.history.clone()),
                headroom: None,
                ..w.clone()
            };
            let inputs = Inputs {
                current: replay.current,
                alarms: &replay.alarms,
                queue: replay.backlog.map(|b| depth(b, 0, 0)),
                saved: &replay.saved,
                now: NOW + later,
                unread: &replay.unread,
                headroom: None,
                mapping_floor: 0,
                pause_held: false,
                drain: Default::default(),
            };
            let second = super::decide(&t, &inputs, replay.request);
            // A decision the headroom clamped is not what the observations asked for.
            if first.headroom_clamp.is_some() {
                return Ok(());
            }
            // A direct command is an operator's value, not a step: replaying it sets it again.
            if w.request == Request::FollowAlarms && first.change().is_some() {
                prop_assert_eq!(second.desired, Some(applied), "{:?}\nthen {:?}", first.reasons, second.reasons);
            }
            if let Request::Direct(_) = w.request {
                prop_assert_eq!(second.desired, Some(applied));
            }
        }
    }

    // ---- scheduled capacity (issue 15) -------------------------------------------------

    /// A target following the orders queue (10 messages per instance) with every knob off,
    /// `min`/`max` as given, `allow_zero`, these alarms and windows.
    fn scheduled(min: u32, max: u32, alarms: &str, schedules: &str) -> Target {
        let json = format!(
            r#"{{"targets":[{{"function":"orders-worker","min":{min},"max":{max},"allow_zero":true,
                "queue":{{"name":"orders","messages_per_instance":10}},
                "tolerance":0,"scale_out_cooldown_seconds":0,"scale_in_cooldown_seconds":0,
                "scale_in_stabilization_seconds":0,
                "alarms":[{alarms}],"schedules":[{schedules}]}}]}}"#
        );
        crate::policy::Policy::from_json(&json, "test")
            .unwrap()
            .targets
            .remove(0)
    }

    fn epoch(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().unwrap().as_second()
    }

    /// One evaluation at `now` with this reservation, backlog, alarm states and event source
    /// floor.
    fn scheduled_at(
        t: &Target,
        now: &str,
        current: Option<u32>,
        backlog: u64,
        alarms: &AlarmStates,
        mapping_floor: u32,
    ) -> Decision {
        let inputs = Inputs {
            current,
            alarms,
            queue: Some(depth(backlog, 0, 0)),
            saved: &SavedState::Missing,
            now: epoch(now),
            unread: &[],
            headroom: None,
            mapping_floor,
            pause_held: false,
            drain: Default::default(),
        };
        super::decide(t, &inputs, Request::FollowAlarms)
    }

    const BUSINESS_HOURS: &str = r#"{"name":"business-hours","start":"0 8 * * MON-FRI",
        "duration_seconds":36000,"timezone":"Europe/Berlin","min":20}"#;
    const BREAKER: &str = r#"{"name":"orders-db-down","on_alarm":{"cap":0}}"#;
    /// Tuesday 2026-12-01, 09:00 in Berlin; and 20:00, after business hours.
    const TUESDAY_MORNING: &str = "2026-12-01T08:00:00Z";
    const TUESDAY_EVENING: &str = "2026-12-01T19:00:00Z";

    #[test]
    fn leaving_a_schedules_min_is_no_drop_whatever_the_activation() {
        for activation in [0, 5] {
            let json = format!(
                r#"{{"targets":[{{"function":"orders-worker","min":1,"max":500,
                    "queue":{{"name":"orders","target_wait_seconds":10,"service_seconds":1,
                              "activation":{activation}}},
                    "tolerance":0.3,"scale_out_cooldown_seconds":0,"scale_in_cooldown_seconds":0,
                    "scale_in_stabilization_seconds":300,"schedules":[{}]}}]}}"#,
                BUSINESS_HOURS.replace("\"min\":20", "\"min\":100")
            );
            let t = crate::policy::Policy::from_json(&json, "test")
                .unwrap()
                .targets
                .remove(0);
            let none = AlarmStates::new();
            // `visible` waiting, 100 more a second when any wait.
            let at = |now: i64, current: u32, visible: u64, saved: &SavedState| {
                let mut inputs = Inputs {
                    now,
                    ..drain_inputs(current, depth(visible, 0, 0), saved, &none, &[], 0)
                };
                if visible > 0 {
                    let mut samples = crate::drain::DepthSamples::default();
                    samples.add(now - 10, visible - 1000, 0);
                    inputs.drain.rates = Some(samples.add(now, visible, 0));
                }
                super::decide(&t, &inputs, Request::FollowAlarms)
            };
            let (morning, evening) = (epoch(TUESDAY_MORNING), epoch(TUESDAY_EVENING));
            // The window's min 100 in the morning: not the load's.
            let opened = at(morning, 1, 0, &SavedState::Missing);
            assert_eq!(opened.desired, Some(100), "{:?}", opened.reasons);
            // Busy, then the queue empties: down to the window's min.
            let busy = at(morning + 60, 100, 3000, &SavedState::Valid(opened.history));
            let busy_to = busy.desired.unwrap();
            assert!(busy_to > 200, "{:?}", busy.reasons);
            let idle = at(morning + 120, busy_to, 0, &SavedState::Valid(busy.history));
            assert_eq!(idle.desired, Some(100), "{:?}", idle.reasons);
            // In the evening the document's min 1: leaving the window's 100 is no drop.
            let closed = at(evening, 100, 0, &SavedState::Valid(idle.history.clone()));
            assert_eq!(closed.desired, Some(1), "{:?}", closed.reasons);
            assert_eq!(
                closed.history.load.drop_at, idle.history.load.drop_at,
                "activation {activation}: {:?}",
                closed.reasons
            );
            // So a burst five minutes later undoes nothing, and the next drop goes at once.
            let burst = at(evening + 300, 1, 3000, &SavedState::Valid(closed.history));
            let burst_to = burst.desired.unwrap();
            let after = at(
                evening + 360,
                burst_to,
                0,
                &SavedState::Valid(burst.history),
            );
            assert_eq!(
                after.desired,
                Some(1),
                "activation {activation}: {:?}",
                after.reasons
            );
        }
    }

    #[test]
    fn an_active_window_raises_min_at_once_and_the_decision_names_it() {
        let t = scheduled(2, 100, "", BUSINESS_HOURS);
        let none = AlarmStates::new();
        let d = scheduled_at(&t, TUESDAY_MORNING, Some(3), 0, &none, 0);
        assert_eq!(d.desired, Some(20));
        assert_eq!(d.schedules, ["business-hours"]);
        assert!(
            has(&d, "raised from 0 to min 20 (schedule business-hours)"),
            "{:?}",
            d.reasons
        );
        // After hours the document's min is back, and nothing names a window.
        let d = scheduled_at(&t, TUESDAY_EVENING, Some(3), 0, &none, 0);
        assert_eq!(d.desired, Some(2));
        assert!(d.schedules.is_empty());
        // A load above the window's min still scales out past it.
        let d = scheduled_at(&t, TUESDAY_MORNING, Some(20), 450, &none, 0);
        assert_eq!(d.desired, Some(45));
    }

    #[test]
    fn a_zero_cap_wins_over_a_windows_min() {
        let t = scheduled(0, 100, BREAKER, BUSINESS_HOURS);
        let open = states(&[("orders-db-down", Alarm)]);
        let d = scheduled_at(&t, TUESDAY_MORNING, Some(20), 500, &open, 0);
        assert_eq!(d.desired, Some(0), "{:?}", d.reasons);
        assert!(d.capped);
        assert_eq!(d.schedules, ["business-hours"]);
        // With the mappings following, the cap pauses them (and not as a held set).
        let d = scheduled_at(&t, TUESDAY_MORNING, Some(20), 500, &open, 2);
        assert_eq!(d.desired, Some(0));
        assert!(!d.explicit_pause);
        // The document's own min still holds above a cap, as it always has.
        let t = scheduled(2, 100, BREAKER, BUSINESS_HOURS);
        let d = scheduled_at(&t, TUESDAY_MORNING, Some(20), 500, &open, 0);
        assert_eq!(d.desired, Some(2));
    }

    #[test]
    fn a_cap_below_a_windows_min_holds_the_value_at_the_cap() {
        let t = scheduled(
            2,
            100,
            r#"{"name":"db-slow","on_alarm":{"cap":5}}"#,
            BUSINESS_HOURS,
        );
        let slow = states(&[("db-slow", Alarm)]);
        // An empty queue proposes min; the window wants 20; the cap allows 5.
        let d = scheduled_at(&t, TUESDAY_MORNING, Some(20), 0, &slow, 0);
        assert_eq!(d.desired, Some(5), "{:?}", d.reasons);
        // A cap at or above the window's min leaves it alone.
        let t = scheduled(
            2,
            100,
            r#"{"name":"db-slow","on_alarm":{"cap":30}}"#,
            BUSINESS_HOURS,
        );
        let d = scheduled_at(&t, TUESDAY_MORNING, Some(20), 0, &slow, 0);
        assert_eq!(d.desired, Some(20));
    }

    #[test]
    fn a_window_may_raise_max_above_the_documents_for_a_launch() {
        let t = scheduled(
            2,
            100,
            "",
            r#"{"name":"launch","at":"2026-12-01T08:00:00","duration_seconds":7200,
                "timezone":"Europe/Berlin","min":50,"max":400}"#,
        );
        let none = AlarmStates::new();
        let d = scheduled_at(&t, "2026-12-01T07:30:00Z", Some(100), 3000, &none, 0);
        assert_eq!(d.desired, Some(300));
        let d = scheduled_at(&t, "2026-12-01T07:30:00Z", Some(100), 9000, &none, 0);
        assert_eq!(d.desired, Some(400));
        let d = scheduled_at(&t, "2026-12-01T10:00:00Z", Some(100), 9000, &none, 0);
        assert_eq!(d.desired, Some(100), "the launch is over");
    }

    #[test]
    fn a_night_window_below_the_event_source_floor_pauses_until_the_morning() {
        let t = scheduled(
            2,
            100,
            "",
            r#"{"name":"night","start":"0 22 * * *","end":"0 6 * * *",
                "timezone":"Europe/Berlin","max":0}"#,
        );
        let none = AlarmStates::new();
        // 23:00 in Berlin: the window's max 0 is as explicit as a set; the floor gives way.
        let d = scheduled_at(&t, "2026-12-01T22:00:00Z", Some(10), 300, &none, 2);
        assert_eq!(d.desired, Some(0), "{:?}", d.reasons);
        assert!(!d.explicit_pause, "a window's pause ends with the window");
        assert_eq!(d.schedules, ["night"]);
        // 07:00: the window is over, the floor (and the queue) bring the consumer back.
        let d = scheduled_at(&t, "2026-12-02T06:00:00Z", Some(0), 0, &none, 2);
        assert_eq!(d.desired, Some(2), "{:?}", d.reasons);
        let d = scheduled_at(&t, "2026-12-02T06:00:00Z", Some(0), 300, &none, 2);
        assert_eq!(d.desired, Some(30));
        // A window's min below the floor is not explicit: the floor raises it.
        let t = scheduled(
            2,
            100,
            "",
            r#"{"name":"quiet","start":"0 22 * * *","end":"0 6 * * *","min":0}"#,
        );
        let d = scheduled_at(&t, "2026-12-01T23:00:00Z", Some(10), 0, &none, 2);
        assert_eq!(d.desired, Some(2));
    }

    #[test]
    fn an_unreserved_function_takes_a_windows_max_but_not_a_min_alone() {
        let none = AlarmStates::new();
        let night = scheduled(
            2,
            100,
            "",
            r#"{"name":"night","start":"0 22 * * *","end":"0 6 * * *","set":0}"#,
        );
        let inputs = |now: &str| Inputs {
            current: None,
            alarms: &none,
            queue: None,
            saved: &SavedState::Missing,
            now: epoch(now),
            unread: &[],
            headroom: None,
            mapping_floor: 0,
            pause_held: false,
            drain: Default::default(),
        };
        let d = super::decide(
            &night,
            &inputs("2026-12-01T23:00:00Z"),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(0));
        let hours = scheduled(2, 100, "", BUSINESS_HOURS);
        let d = super::decide(&hours, &inputs(TUESDAY_MORNING), Request::FollowAlarms);
        assert_eq!(d.desired, None, "{:?}", d.reasons);
        assert!(has(
            &d,
            "schedule business-hours's min applies once it has one"
        ));
    }

    #[test]
    fn when_a_window_ends_the_scale_in_waits_for_stabilization() {
        let mut t = scheduled(2, 100, "", BUSINESS_HOURS);
        t.stability.scale_in_stabilization_seconds = 300;
        let none = AlarmStates::new();
        let inputs = |now: &str, saved| Inputs {
            current: Some(20),
            alarms: &none,
            queue: Some(depth(0, 0, 0)),
            saved,
            now: epoch(now),
            unread: &[],
            headroom: None,
            mapping_floor: 0,
            pause_held: false,
            drain: Default::default(),
        };
        let during = super::decide(
            &t,
            &inputs("2026-12-01T16:58:00Z", &SavedState::Missing),
            Request::FollowAlarms,
        );
        assert_eq!(during.desired, Some(20));
        // 18:01: the window is over, but it recommended 20 until this evaluation, so the
        // scale-in waits out the stabilization window (300 s) like any other.
        let mut saved = SavedState::Valid(during.history);
        for (now, expected) in [
            ("2026-12-01T17:01:00Z", 20),
            ("2026-12-01T17:05:59Z", 20),
            ("2026-12-01T17:06:01Z", 2),
        ] {
            let d = super::decide(
                &t,
                &Inputs {
                    saved: &saved,
                    ..inputs(now, &SavedState::Missing)
                },
                Request::FollowAlarms,
            );
            assert_eq!(d.desired, Some(expected), "{now}: {:?}", d.reasons);
            saved = SavedState::Valid(d.history);
        }
    }

    fn any_window_bounds() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u32..60).prop_map(|n| format!(r#""min":{n}"#)),
            (0u32..300).prop_map(|n| format!(r#""max":{n}"#)),
            (0u32..300).prop_map(|n| format!(r#""set":{n}"#)),
            (0u32..60, 0u32..300).prop_map(|(a, b)| format!(r#""min":{a},"max":{}"#, a + b)),
        ]
    }

    proptest! {
        /// Windows that are always active (they start every minute and last a minute), with
        /// any bounds, any cap and any backlog: caps win over windows, and the value lies
        /// within the merged bounds otherwise.
        #[test]
        fn caps_win_over_windows_and_merged_bounds_hold(
            doc_min in 0u32..20,
            doc_span in 0u32..100,
            windows in proptest::collection::vec(any_window_bounds(), 1..4),
            cap in proptest::option::of(0u32..80),
            current in proptest::option::of(0u32..300),
            backlog in 0u64..4000,
            floor in prop_oneof![Just(0u32), Just(2), Just(4)],
        ) {
            let doc_max = doc_min + doc_span;
            let schedules: Vec<String> = windows.iter().enumerate().map(|(i, b)| format!(
                r#"{{"name":"w{i}","start":"* * * * *","duration_seconds":60,{b}}}"#
            )).collect();
            let alarms = if cap.is_some() { r#"{"name":"db","on_alarm":{"cap":CAP}}"#.replace("CAP", &cap.unwrap().to_string()) } else { String::new() };
            let json = format!(
                r#"{{"targets":[{{"function":"f","min":{doc_min},"max":{doc_max},"allow_zero":true,
                    "queue":{{"name":"orders","messages_per_instance":10}},
                    "alarms":[{alarms}],"schedules":[{}]}}]}}"#,
                schedules.join(",")
            );
            // Windows a target cannot take (a min above its max) are refused; skip them.
            let Ok(policy) = crate::policy::Policy::from_json(&json, "p") else { return Ok(()); };
            let t = &policy.targets[0];
            let b = crate::schedule::bounds(t, NOW);
            prop_assert_eq!(b.active.len(), windows.len());
            prop_assert!(b.min <= b.max);
            let open = states(&[("db", Alarm)]);
            let inputs = Inputs {
                current,
                alarms: &open,
                queue: Some(depth(backlog, 0, 0)),
                saved: &SavedState::Missing,
                now: NOW,
                unread: &[],
                headroom: None,
                mapping_floor: floor,
                pause_held: false,
                drain: Default::default(),
            };
            let d = super::decide(t, &inputs, Request::FollowAlarms);
            let desired = d.desired.unwrap();
            // The floor raises only a document's max; a window's max below it pauses instead.
            let ceiling = if b.max_by.is_some() { b.max } else { b.max.max(floor) };
            prop_assert!(desired <= ceiling, "{} above max {}: {:?}", desired, b.max, d.reasons);
            if let Some(cap) = cap {
                // Never above the cap, unless the document's own min (or the floor, which a
                // cap passes by pausing) holds it: a window's min never does.
                prop_assert!(desired <= cap.max(doc_min.min(b.min)), "cap {} broken by {}: {:?}", cap, desired, d.reasons);
            } else {
                prop_assert!(desired >= b.min.min(b.max), "{} below min {}: {:?}", desired, b.min, d.reasons);
            }
            prop_assert_eq!(d.schedules.len(), windows.len());
        }
    }

    fn decide_unread(target: &Target, current: Option<u32>, alarms: &AlarmStates) -> Decision {
        let unread = ["DescribeAlarms failed: throttled".to_string()];
        decide_with_unread(target, current, alarms, Request::FollowAlarms, &unread)
    }

    #[test]
    fn on_missing_data_the_hold_never_lifts_the_reservation_above_an_active_cap() {
        // DescribeAlarms failed; the event carries the db alarm in ALARM (cap 40).
        let mut t = target(0, 100, vec![rule("db", Some(Action::Cap(40)), None)]);
        t.on_metric_failure = MetricFailure::Set(10);
        let alarms: AlarmStates = [(
            "db".to_string(),
            ObservedAlarm {
                state: Alarm,
                source: StateSource::EventWhileUnreadable,
            },
        )]
        .into_iter()
        .collect();
        let d = decide_unread(&t, Some(50), &alarms);
        assert!(
            d.desired.unwrap() <= 40,
            "cap 40 active, yet desired {:?}; reasons {:?}",
            d.desired,
            d.reasons
        );
    }

    #[test]
    fn on_missing_data_a_reservation_above_max_comes_down_only_to_max() {
        // The reservation (100) is above max 80; metrics are unreadable, on_metric_failure set 10.
        let mut t = target(0, 80, vec![]);
        t.on_metric_failure = MetricFailure::Set(10);
        let d = decide_unread(&t, Some(100), &AlarmStates::new());
        assert_eq!(
            d.desired,
            Some(80),
            "never a scale-in on missing data unless a cap or max forces it; reasons {:?}",
            d.reasons
        );
    }
}
