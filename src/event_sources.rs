//! SQS event source mappings that follow their function's reservation. Pure: the mappings
//! and the saved records in, the mappings' desired settings and the reasons out.
//!
//! # Why
//!
//! An SQS mapping's pollers do not look at the function's reserved concurrency. Below what
//! they run, Lambda throttles their batches; the messages come back after the visibility
//! timeout with a higher receive count and end in the dead-letter queue. AWS's rule: keep the
//! sum of the mappings' `ScalingConfig.MaximumConcurrency` (2 to 1000) at or below the
//! reservation. So a target that follows its mappings ([`EventSources::Follow`], the default):
//!
//! - **shares its reservation among its followed mappings** (on-demand SQS mappings that are
//!   enabled, or that the autoscaler paused): evenly, each at least 2 and at most its
//!   *ceiling*, a mapping below its ceiling taking what a capped one leaves (water-filling);
//! - **never goes below 2 per followed mapping** through its bounds or its proposals
//!   ([`floor`]; [`crate::decide`] raises the value to it). Only a cap or an explicit `set`
//!   (an alarm's or an operator's) below that floor goes lower, and then the mappings are
//!   **paused** (disabled): their messages wait in the queue, unreceived, and their receive
//!   counts do not grow. A later value at or above the floor enables them again;
//! - writes **decreases first** (lower or disabled mappings), then the reservation, then
//!   increases (higher or enabled mappings), so that at no point do the mappings' settled
//!   maximums add up to more than the reservation ([`crate::apply`]).
//!
//! # Ceilings and records
//!
//! A `MaximumConcurrency` the user set before the autoscaler first changed the mapping is a
//! ceiling: the mapping is never raised above it. The reservation itself is not limited by
//! the ceilings: other invokers of the function share it, and limiting it would starve them.
//! The first change of a mapping records its ceiling (`None`: it had none, so 1000 applies),
//! and whether the autoscaler paused it, in the target's saved state
//! ([`crate::state::MappingRecord`]). Only a mapping recorded as paused is ever enabled again:
//! one disabled by hand stays disabled and is not followed. A mapping in provisioned mode
//! (`ProvisionedPollerConfig`) has no `MaximumConcurrency` and is left alone, with a warning.

use crate::ports::{AwsError, ErrorKind, EventSourceMapping, MappingUpdate};
use crate::state::MappingRecord;
use serde::Serialize;

/// The least `MaximumConcurrency` AWS accepts, and so each followed mapping's share.
pub const MIN_PER_MAPPING: u32 = 2;
/// The most `MaximumConcurrency` AWS accepts: the ceiling of a mapping that had none.
pub const MAX_PER_MAPPING: u32 = 1000;

/// What was observed of a target's mappings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// No state table keeps the records following needs, or the mappings cannot be
    /// followed; with the reason to give, if any.
    NotFollowed(Option<String>),
    /// The target ignores them (policy `"event_sources": "ignore"`); the function's
    /// mappings when they were listed just now, for a pause recorded before the switch (it
    /// is over once the mapping is enabled or gone).
    Ignored(Option<Vec<EventSourceMapping>>),
    /// The mappings could not be listed (why): the reservation acts alone.
    Unreadable(AwsError),
    /// The function's SQS mappings (possibly none).
    Read(Vec<EventSourceMapping>),
}

impl Observed {
    /// How a target's mappings are seen when listing them failed: a role without the
    /// permission means the reservation acts alone (as before mappings were followed); any
    /// other failure is missing data, on which the target never scales in.
    pub fn from_list_error(error: &AwsError) -> Observed {
        if error.kind() == ErrorKind::AccessDenied {
            Observed::NotFollowed(Some(format!(
                "event sources not followed: the autoscaler's role may not list them ({error}); \
                 the reservation acts alone. Add lambda:ListEventSourceMappings, \
                 GetEventSourceMapping and UpdateEventSourceMapping (docs/deploy.md)"
            )))
        } else {
            Observed::Unreadable(error.clone())
        }
    }

    /// The mappings, when they were read.
    pub fn mappings(&self) -> Option<&[EventSourceMapping]> {
        match self {
            Observed::Read(m) => Some(m),
            _ => None,
        }
    }
}

fn record_of<'a>(records: &'a [MappingRecord], uuid: &str) -> Option<&'a MappingRecord> {
    records.iter().find(|r| r.uuid == uuid)
}

/// True when the records say the autoscaler paused the mapping `uuid` (and so may enable it).
pub fn paused_by_autoscaler(records: &[MappingRecord], uuid: &str) -> bool {
    record_of(records, uuid).is_some_and(|r| r.paused)
}

/// The mappings that follow the reservation: on demand, and enabled or paused by the
/// autoscaler.
pub fn followed<'a>(
    mappings: &'a [EventSourceMapping],
    records: &[MappingRecord],
) -> Vec<&'a EventSourceMapping> {
    mappings
        .iter()
        .filter(|m| !m.provisioned && m.state != "Deleting")
        .filter(|m| !m.is_disabled() || paused_by_autoscaler(records, &m.uuid))
        .collect()
}

/// True while an explicit set keeps any followed mapping paused.
pub fn pause_held(records: &[MappingRecord]) -> bool {
    records.iter().any(|r| r.paused && r.held)
}

/// The least reservation that runs every followed mapping: 2 each (0 without mappings).
pub fn floor(observed: &Observed, records: &[MappingRecord]) -> u32 {
    match observed {
        Observed::Read(mappings) => {
            MIN_PER_MAPPING.saturating_mul(followed(mappings, records).len() as u32)
        }
        _ => 0,
    }
}

/// One followed mapping before and after the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingChange {
    pub uuid: String,
    pub queue: String,
    /// `None`: no `MaximumConcurrency` (no limit).
    pub previous_max: Option<u32>,
    pub desired_max: Option<u32>,
    pub previous_enabled: bool,
    pub desired_enabled: bool,
}

impl MappingChange {
    /// The update that carries it out, if anything changes.
    pub fn update(&self) -> Option<MappingUpdate> {
        let max = (self.desired_max != self.previous_max)
            .then_some(self.desired_max)
            .flatten();
        let enabled =
            (self.desired_enabled != self.previous_enabled).then_some(self.desired_enabled);
        (max.is_some() || enabled.is_some()).then_some(MappingUpdate {
            maximum_concurrency: max,
            enabled,
        })
    }

    /// True when the change lets the pollers run less: a lower maximum, or a pause. Such
    /// changes are written before the reservation; the others after it.
    pub fn lowers(&self) -> bool {
        let limit = |m: Option<u32>| m.unwrap_or(MAX_PER_MAPPING);
        match (self.previous_enabled, self.desired_enabled) {
            (true, false) => true,
            // A resume goes after the reservation, its new maximum with it.
            (false, true) | (false, false) => false,
            (true, true) => limit(self.desired_max) < limit(self.previous_max),
        }
    }
}

/// The mappings' desired settings for one reservation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourcePlan {
    /// Every followed mapping, changed or not, in UUID order.
    pub changes: Vec<MappingChange>,
    /// The records to save with the target's history.
    pub records: Vec<MappingRecord>,
    pub reasons: Vec<String>,
}

impl SourcePlan {
    /// How many mappings the autoscaler keeps paused after this plan.
    pub fn paused(&self) -> usize {
        self.changes.iter().filter(|c| !c.desired_enabled).count()
    }

    /// How many mappings must be written.
    pub fn updates(&self) -> usize {
        self.changes.iter().filter(|c| c.update().is_some()).count()
    }

    /// True when a mapping must be written.
    pub fn writes(&self) -> bool {
        self.updates() > 0
    }

    /// True when a mapping must be lowered or paused (before the reservation).
    pub fn lowers(&self) -> bool {
        self.changes
            .iter()
            .any(|c| c.update().is_some() && c.lowers())
    }
}

/// Shares `total` among mappings with these ceilings: evenly, smallest ceilings first, each
/// taking at most its ceiling and the rest going to the others. `total` must be at least
/// 2 per mapping; every share is then at least 2 and the shares add up to at most `total`.
pub fn split(total: u32, ceilings: &[u32]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..ceilings.len()).collect();
    order.sort_by_key(|&i| (ceilings[i], i));
    let mut shares = vec![0; ceilings.len()];
    let mut remaining = total;
    for (k, &i) in order.iter().enumerate() {
        let left = (ceilings.len() - k) as u32;
        let fair = (remaining / left).max(MIN_PER_MAPPING);
        let share = fair.min(ceilings[i]).min(MAX_PER_MAPPING);
        shares[i] = share;
        remaining = remaining.saturating_sub(share);
    }
    shares
}

/// What a plan of the mappings goes by, besides the mappings and their records.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanFor<'a> {
    /// The reservation the target will have.
    pub reservation: u32,
    /// The target's queue and its visible messages, when it follows one (a pause names them).
    pub visible: Option<(&'a str, u64)>,
    /// An explicit set keeps the pause (recorded so).
    pub held: bool,
    /// The policy's `event_source_ceiling`, in place of each mapping's recorded one.
    pub ceiling: Option<u32>,
}

/// Plans the target's mappings for the reservation it will have.
pub fn plan(
    mappings: &[EventSourceMapping],
    records: &[MappingRecord],
    target: PlanFor,
) -> SourcePlan {
    let PlanFor {
        reservation,
        visible,
        held,
        ceiling: policy_ceiling,
    } = target;
    let mut reasons = Vec::new();
    for m in mappings {
        if m.provisioned {
            reasons.push(format!(
                "event source {} (queue {}) is in provisioned mode: left alone; its pollers \
                 (up to 200 by default, about 10 invocations each) can run more than the \
                 reservation of {reservation}, and throttled batches go back to the queue",
                m.uuid,
                m.queue_name()
            ));
        } else if m.is_disabled() && !paused_by_autoscaler(records, &m.uuid) {
            reasons.push(format!(
                "event source {} (queue {}) was disabled by someone else: left alone",
                m.uuid,
                m.queue_name()
            ));
        }
    }
    let mut followed = followed(mappings, records);
    followed.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    // Records of mappings still there are kept; a deleted mapping's record goes.
    let mut kept: Vec<MappingRecord> = records
        .iter()
        .filter(|r| mappings.iter().any(|m| m.uuid == r.uuid))
        .cloned()
        .collect();
    if followed.is_empty() {
        return SourcePlan {
            changes: Vec::new(),
            records: kept,
            reasons,
        };
    }
    let n = followed.len() as u32;
    let floor = MIN_PER_MAPPING * n;
    let ceiling = |m: &EventSourceMapping| match (policy_ceiling, record_of(records, &m.uuid)) {
        (Some(c), _) => Some(c),
        (None, Some(r)) => r.ceiling,
        // Never changed by the autoscaler: what it has now is the user's.
        (None, None) => m.maximum_concurrency,
    };
    let pause = reservation < floor;
    let shares = if pause {
        Vec::new()
    } else {
        let limits: Vec<u32> = followed
            .iter()
            .map(|m| ceiling(m).unwrap_or(MAX_PER_MAPPING))
            .collect();
        split(reservation, &limits)
    };
    let changes: Vec<MappingChange> = followed
        .iter()
        .enumerate()
        .map(|(i, m)| MappingChange {
            uuid: m.uuid.clone(),
            queue: m.queue_name().to_owned(),
            previous_max: m.maximum_concurrency,
            desired_max: if pause {
                m.maximum_concurrency
            } else {
                Some(shares[i])
            },
            previous_enabled: !m.is_disabled(),
            desired_enabled: !pause,
        })
        .collect();
    for (c, m) in changes.iter().zip(&followed) {
        let changed = c.update().is_some();
        let paused = !c.desired_enabled;
        // The history is saved before the writes: a mapping being resumed stays recorded as
        // paused until a plan finds it enabled, so that a resume that fails (or never gets
        // sent) is tried again instead of leaving it "disabled by someone else" for good.
        let resuming = !c.previous_enabled && c.desired_enabled;
        match kept.iter_mut().find(|r| r.uuid == c.uuid) {
            Some(r) => {
                r.paused = paused || resuming;
                r.held = paused && held;
            }
            None if changed => kept.push(MappingRecord {
                uuid: c.uuid.clone(),
                ceiling: m.maximum_concurrency,
                paused,
                held: paused && held,
            }),
            None => {}
        }
    }
    kept.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    let queues = changes
        .iter()
        .map(|c| c.queue.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if pause {
        let waiting = match visible {
            Some((queue, count)) => format!("; {count} messages visible in {queue} wait there"),
            None => String::new(),
        };
        reasons.push(format!(
            "reservation {reservation} is below 2 for each of the {n} SQS event source \
             mapping(s) ({queues}): pause them (disable), so that their messages stay in the \
             queue instead of being received, throttled and counted towards the dead-letter \
             queue{waiting}; batches already received finish or are throttled"
        ));
    } else {
        let shares = changes
            .iter()
            .map(|c| format!("{} {}", c.queue, c.desired_max.unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", ");
        let resumed = changes
            .iter()
            .filter(|c| c.desired_enabled && !c.previous_enabled)
            .count();
        let resume = if resumed > 0 {
            format!("; resume {resumed} paused mapping(s) after the reservation is raised")
        } else {
            String::new()
        };
        let used: u32 = changes.iter().filter_map(|c| c.desired_max).sum();
        let rest = if used < reservation {
            format!(
                " ({} of the reservation left to other invokers: the mappings' ceilings)",
                reservation - used
            )
        } else {
            String::new()
        };
        reasons.push(format!(
            "event sources follow the reservation {reservation}: maximum concurrency {shares}\
             {rest}{resume}"
        ));
    }
    SourcePlan {
        changes,
        records: kept,
        reasons,
    }
}

/// One mapping in the decision record and its log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceReport {
    pub uuid: String,
    pub queue: String,
    pub maximum_concurrency: Transition<Option<u32>>,
    pub enabled: Transition<bool>,
    /// True when the mapping was updated as desired (false: unchanged, failed or deferred).
    pub applied: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A value before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Transition<T> {
    pub previous: T,
    pub desired: T,
}

impl SourceReport {
    pub fn of(change: &MappingChange) -> SourceReport {
        SourceReport {
            uuid: change.uuid.clone(),
            queue: change.queue.clone(),
            maximum_concurrency: Transition {
                previous: change.previous_max,
                desired: change.desired_max,
            },
            enabled: Transition {
                previous: change.previous_enabled,
                desired: change.desired_enabled,
            },
            applied: false,
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(uuid: &str, max: Option<u32>, state: &str) -> EventSourceMapping {
        EventSourceMapping {
            uuid: uuid.into(),
            function_arn: "arn:aws:lambda:us-east-1:1:function:f".into(),
            queue_arn: format!("arn:aws:sqs:us-east-1:1:q-{uuid}"),
            state: state.into(),
            maximum_concurrency: max,
            provisioned: false,
            batch_size: Some(10),
        }
    }

    fn at(reservation: u32, visible: Option<(&str, u64)>) -> PlanFor<'_> {
        PlanFor {
            reservation,
            visible,
            ..PlanFor::default()
        }
    }

    #[test]
    fn the_policys_ceiling_replaces_the_recorded_one() {
        let m = [mapping("a", Some(6), "Enabled")];
        let records = [record("a", Some(10), false)];
        let plan_for = PlanFor {
            ceiling: Some(4),
            ..at(40, None)
        };
        assert_eq!(plan(&m, &records, plan_for).changes[0].desired_max, Some(4));
        assert_eq!(
            plan(&m, &records, at(40, None)).changes[0].desired_max,
            Some(10)
        );
    }

    fn record(uuid: &str, ceiling: Option<u32>, paused: bool) -> MappingRecord {
        MappingRecord {
            uuid: uuid.into(),
            ceiling,
            paused,
            held: false,
        }
    }

    #[test]
    fn split_is_even_with_the_remainder_to_the_later_mappings() {
        assert_eq!(split(7, &[1000, 1000]), [3, 4]);
        assert_eq!(split(4, &[1000, 1000]), [2, 2]);
        assert_eq!(split(10, &[1000]), [10]);
    }

    #[test]
    fn split_gives_what_a_ceiling_leaves_to_the_others() {
        assert_eq!(split(20, &[1000, 3, 1000]), [8, 3, 9]);
        assert_eq!(split(3000, &[1000, 1000]), [1000, 1000]);
    }

    #[test]
    fn a_first_change_records_the_users_maximum_as_the_ceiling() {
        let m = [mapping("a", Some(10), "Enabled")];
        let p = plan(&m, &[], at(6, None));
        assert_eq!(p.changes[0].desired_max, Some(6));
        assert_eq!(p.records, [record("a", Some(10), false)]);
        assert!(p.lowers());
        // Raised later, it stops at the recorded ceiling.
        let m = [mapping("a", Some(6), "Enabled")];
        let p = plan(&m, &p.records, at(40, None));
        assert_eq!(p.changes[0].desired_max, Some(10));
        assert!(!p.lowers());
    }

    #[test]
    fn a_mapping_already_within_its_share_writes_nothing_and_records_nothing() {
        let m = [mapping("a", Some(5), "Enabled")];
        let p = plan(&m, &[], at(5, None));
        assert!(!p.writes());
        assert!(p.records.is_empty());
    }

    #[test]
    fn below_two_per_mapping_pauses_every_followed_mapping_and_records_it() {
        let m = [
            mapping("a", Some(4), "Enabled"),
            mapping("b", None, "Enabled"),
        ];
        let p = plan(&m, &[], at(3, Some(("q-a", 120))));
        assert!(p.changes.iter().all(|c| !c.desired_enabled));
        assert_eq!(
            p.changes[0].desired_max,
            Some(4),
            "the maximum is left as it was"
        );
        assert_eq!(p.paused(), 2);
        assert!(p.lowers());
        assert!(p.reasons.iter().any(|r| r.contains("120 messages visible")));
    }

    #[test]
    fn resuming_enables_only_what_the_autoscaler_paused() {
        let m = [
            mapping("a", Some(4), "Disabled"),
            mapping("b", Some(4), "Disabled"),
        ];
        let records = [record("a", None, true)];
        let p = plan(&m, &records, at(8, None));
        assert_eq!(p.changes.len(), 1, "b was disabled by hand: not followed");
        assert!(p.changes[0].desired_enabled && !p.changes[0].previous_enabled);
        assert_eq!(p.changes[0].desired_max, Some(8));
        assert!(!p.lowers(), "an enable goes after the reservation");
        assert_eq!(p.paused(), 0);
        // Recorded as paused until a plan finds it enabled: a failed enable is tried again.
        assert_eq!(p.records, [record("a", None, true)]);
        let enabled = [mapping("a", Some(8), "Enabled"), m[1].clone()];
        let next = plan(&enabled, &p.records, at(8, None));
        assert_eq!(next.updates(), 0);
        assert_eq!(next.records, [record("a", None, false)]);
        assert!(p
            .reasons
            .iter()
            .any(|r| r.contains("disabled by someone else")));
    }

    #[test]
    fn the_floor_counts_paused_and_enabled_mappings_but_not_provisioned_or_hand_disabled_ones() {
        let mut provisioned = mapping("p", None, "Enabled");
        provisioned.provisioned = true;
        let m = vec![
            mapping("a", None, "Enabled"),
            mapping("b", None, "Disabled"),
            mapping("c", None, "Disabled"),
            provisioned,
        ];
        let records = [record("b", None, true)];
        assert_eq!(floor(&Observed::Read(m.clone()), &records), 4);
        let p = plan(&m, &records, at(10, None));
        assert!(p.reasons.iter().any(|r| r.contains("provisioned mode")));
        assert!(p.changes.iter().all(|c| c.uuid != "p" && c.uuid != "c"));
    }

    #[test]
    fn a_deleted_mappings_record_is_dropped() {
        let m = [mapping("a", Some(3), "Enabled")];
        let records = [record("a", None, false), record("gone", Some(5), true)];
        let p = plan(&m, &records, at(3, None));
        assert_eq!(p.records, [record("a", None, false)]);
    }
}
