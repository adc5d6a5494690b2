//! What the autoscaler is doing and what it did, read-only: `autoscaler status` (one row per
//! managed target, as `kubectl get hpa` shows workloads) and `autoscaler activities` (one
//! target's recent changes, as `describe-scaling-activities` shows them).
//!
//! Both read the way an evaluation does (the same plan, the same paced and batched reads:
//! alarms, queues, event source mappings, `GetFunction`, the state table) and write nothing.

use crate::context::Context;
use crate::event_sources;
use crate::observe::{self, Shared, TARGETS_PER_CHUNK};
use crate::outcome::TargetOutcome;
use crate::plan::{Plan, PlannedTarget};
use crate::ports::Stored;
use crate::report::describe;
use crate::state::{Activity, ActivityOutcome, Direction, History, SavedState};
use serde::Serialize;

/// One managed target now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetStatus {
    pub function: String,
    /// The bounds now: the document's, or those of its active schedules.
    pub min: u32,
    pub max: u32,
    /// The schedules active now, by name ([`crate::schedule`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<String>,
    /// The reservation now; `null` for none.
    pub reservation: Option<u32>,
    /// The recommendation in force and since when (epoch seconds), from the saved history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<Recommended>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_change: Option<ChangeStatus>,
    /// Seconds left of each cooldown (0 when none holds).
    pub cooldown: Cooldowns,
    pub alarms: Vec<AlarmStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub event_sources: Vec<MappingStatus>,
    /// Why the target could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What of a target that was read could not be (its saved state is unusable, its event
    /// source mappings unreadable): the rest of the row stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Recommended {
    pub value: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChangeStatus {
    pub at: i64,
    /// `out` or `in`.
    pub direction: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cooldowns {
    pub scale_out_seconds_left: i64,
    pub scale_in_seconds_left: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmStatus {
    pub name: String,
    /// `OK`, `ALARM`, `INSUFFICIENT_DATA`, or `unknown` (CloudWatch does not know it).
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatus {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingStatus {
    pub uuid: String,
    pub queue: String,
    pub maximum_concurrency: Option<u32>,
    pub state: String,
    /// True when the autoscaler keeps it paused.
    pub paused_by_autoscaler: bool,
}

/// The status of every target of `plan` (its reads are paced like an evaluation's).
pub async fn collect(
    plan: &Plan,
    shared: &Shared,
    ctx: &Context,
    concurrency: usize,
) -> Vec<TargetStatus> {
    let now = ctx.clock.epoch_seconds();
    let mut rows = Vec::with_capacity(plan.targets.len());
    for chunk in plan.targets.chunks(TARGETS_PER_CHUNK) {
        let observed = observe::chunk(chunk, ctx, concurrency, None, None).await;
        for (planned, observed) in chunk.iter().zip(observed) {
            rows.push(match observed {
                Ok(observed) => row(planned, &observed.view, &observed.stored, shared, now),
                Err(unread) => unread_row(planned, *unread),
            });
        }
    }
    rows
}

fn row(
    planned: &PlannedTarget,
    view: &crate::ports::FunctionView,
    stored: &Stored,
    shared: &Shared,
    now: i64,
) -> TargetStatus {
    let target = &planned.target;
    let bounds = crate::schedule::bounds(target, now);
    let history = stored.state.history();
    let last_change = history.and_then(|h| h.last_change);
    let left = |cooldown: u32| last_change.map_or(0, |c| (c.at + i64::from(cooldown) - now).max(0));
    let records = stored.state.event_sources();
    let sources = shared.event_sources(target, &view.arn);
    let event_sources = sources
        .mappings()
        .unwrap_or_default()
        .iter()
        .map(|m| MappingStatus {
            uuid: m.uuid.clone(),
            queue: m.queue_name().to_owned(),
            maximum_concurrency: m.maximum_concurrency,
            state: m.state.clone(),
            // A resume stays recorded as paused until the next plan finds it enabled.
            paused_by_autoscaler: crate::event_sources::paused_by_autoscaler(records, &m.uuid)
                && m.is_disabled(),
        })
        .collect();
    let alarm_states = shared.alarms_of(target);
    let alarms = target
        .alarms
        .iter()
        .map(|rule| AlarmStatus {
            name: rule.name.clone(),
            state: alarm_states
                .get(&rule.name)
                .map_or("unknown".into(), |a| a.state.to_string()),
        })
        .collect();
    let queue = target.queue.as_ref().map(|spec| {
        let (visible, in_flight, error) = match shared.queue(target) {
            Some(Ok(depth)) => (Some(depth.visible), Some(depth.in_flight), None),
            Some(Err(e)) => (None, None, Some(e.to_string())),
            None => (None, None, None),
        };
        QueueStatus {
            name: spec.queue.name().to_owned(),
            visible,
            in_flight,
            error,
        }
    });
    TargetStatus {
        function: target.function.name().to_owned(),
        min: bounds.min,
        max: bounds.max,
        schedules: bounds.active,
        reservation: view.reserved,
        recommendation: history.and_then(|h| {
            h.in_force().map(|value| Recommended {
                value,
                since: h.in_force_since,
            })
        }),
        last_change: last_change.map(|c| ChangeStatus {
            at: c.at,
            direction: match c.direction {
                Direction::Out => "out",
                Direction::In => "in",
            },
        }),
        cooldown: Cooldowns {
            scale_out_seconds_left: left(target.stability.scale_out_cooldown_seconds),
            scale_in_seconds_left: left(target.stability.scale_in_cooldown_seconds),
        },
        alarms,
        queue,
        event_sources,
        error: None,
        warning: match (&stored.state, &sources) {
            (SavedState::Unusable { why, .. }, _) => Some(format!("saved state unusable: {why}")),
            (_, event_sources::Observed::Unreadable(why)) => {
                Some(format!("event source mappings unreadable: {why}"))
            }
            _ => None,
        },
    }
}

fn unread_row(planned: &PlannedTarget, unread: TargetOutcome) -> TargetStatus {
    let (_, error) = unread.into_report();
    TargetStatus {
        function: planned.target.function.name().to_owned(),
        min: planned.target.min,
        max: planned.target.max,
        schedules: Vec::new(),
        reservation: None,
        recommendation: None,
        last_change: None,
        cooldown: Cooldowns {
            scale_out_seconds_left: 0,
            scale_in_seconds_left: 0,
        },
        alarms: Vec::new(),
        queue: None,
        event_sources: Vec::new(),
        error: Some(error.map_or("not read".into(), |e| e.to_string())),
        warning: None,
    }
}

/// "5 s", "3 min", "2 h", "4 d": how long ago, as people read it.
pub fn ago(now: i64, at: i64) -> String {
    // Saturating: an archived item may carry any time.
    let s = now.saturating_sub(at).max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// The status rows as a table.
pub fn table(rows: &[TargetStatus], now: i64) -> String {
    let mut lines = vec![[
        "FUNCTION",
        "MIN",
        "MAX",
        "RESERVED",
        "RECOMMENDED",
        "LAST CHANGE",
        "COOLDOWN OUT/IN",
        "SIGNALS",
        "EVENT SOURCES",
    ]
    .map(str::to_owned)
    .to_vec()];
    for r in rows {
        let recommended = match r.recommendation {
            Some(Recommended {
                value,
                since: Some(since),
            }) => format!("{value} for {}", ago(now, since)),
            Some(Recommended { value, since: None }) => value.to_string(),
            None => "-".into(),
        };
        let last = r.last_change.map_or("-".into(), |c| {
            format!("{} {} ago", c.direction, ago(now, c.at))
        });
        let mut signals: Vec<String> = r
            .alarms
            .iter()
            .map(|a| format!("{}={}", a.name, a.state))
            .collect();
        signals.extend(r.schedules.iter().map(|name| format!("schedule {name}")));
        if let Some(q) = &r.queue {
            signals.push(match (q.visible, q.in_flight) {
                (Some(v), Some(f)) => format!("{}: {v} visible, {f} in flight", q.name),
                _ => format!("{}: unreadable", q.name),
            });
        }
        let sources: Vec<String> = r
            .event_sources
            .iter()
            .map(|m| {
                let paused = if m.paused_by_autoscaler {
                    " (paused)"
                } else {
                    ""
                };
                format!(
                    "{} max {} {}{paused}",
                    m.queue,
                    m.maximum_concurrency
                        .map_or("none".into(), |n| n.to_string()),
                    m.state
                )
            })
            .collect();
        // A target that could not be read has no known reservation ("unreserved" would say
        // it has none) and no cooldowns.
        let (reservation, cooldowns) = if r.error.is_some() {
            ("unknown".into(), "-".into())
        } else {
            (
                describe(r.reservation),
                format!(
                    "{}s/{}s",
                    r.cooldown.scale_out_seconds_left, r.cooldown.scale_in_seconds_left
                ),
            )
        };
        let mut line = vec![
            r.function.clone(),
            r.min.to_string(),
            r.max.to_string(),
            reservation,
            recommended,
            last,
            cooldowns,
            if signals.is_empty() {
                "-".into()
            } else {
                signals.join(", ")
            },
            if sources.is_empty() {
                "-".into()
            } else {
                sources.join(", ")
            },
        ];
        if let Some(error) = &r.error {
            line[7] = format!("error: {error}");
        }
        if let Some(warning) = &r.warning {
            line[8] = format!("{} (warning: {warning})", line[8]);
        }
        lines.push(line);
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for line in lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// One activity as `autoscaler activities --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityView {
    pub at: i64,
    pub trigger: String,
    pub previous: Option<u32>,
    pub desired: Option<u32>,
    pub reasons: Vec<String>,
    /// `applied`, `failed: ...`, `blocked: ...`, `unconfirmed: ...`, or for the latest attempt
    /// before the next write: `pending` with what the reservation is now.
    pub outcome: String,
}

/// The target's activities, newest first, at most `limit`; `reservation` is the function's
/// reservation now, which a pending attempt is compared with.
pub fn activities(history: &History, reservation: Option<u32>, limit: usize) -> Vec<ActivityView> {
    history
        .activities
        .iter()
        .rev()
        .take(limit)
        .map(|a: &Activity| {
            let outcome = match (&a.outcome, a.outcome.detail()) {
                (ActivityOutcome::Pending, _) => format!(
                    "pending: no outcome recorded yet; the reservation is now {}{}",
                    describe(reservation),
                    if reservation == a.desired {
                        " as desired"
                    } else {
                        ""
                    }
                ),
                (outcome, Some(detail)) => format!("{}: {detail}", outcome.word()),
                (outcome, None) => outcome.word().to_owned(),
            };
            ActivityView {
                at: a.at,
                trigger: a.trigger.clone(),
                previous: a.previous,
                desired: a.desired,
                reasons: a.reasons.clone(),
                outcome,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(at: i64, desired: u32, outcome: ActivityOutcome) -> Activity {
        Activity {
            at,
            trigger: "t".into(),
            previous: Some(1),
            desired: Some(desired),
            reasons: vec![],
            outcome,
        }
    }

    #[test]
    fn activities_are_newest_first_and_a_pending_one_says_what_the_reservation_is_now() {
        let history = History {
            activities: vec![
                activity(1, 5, ActivityOutcome::Failed("throttled".into())),
                activity(2, 6, ActivityOutcome::Applied),
                activity(3, 7, ActivityOutcome::Pending),
            ],
            ..History::default()
        };
        let views = activities(&history, Some(7), 2);
        assert_eq!(views.len(), 2);
        assert_eq!(views[0].at, 3);
        assert!(
            views[0].outcome.contains("now 7 as desired"),
            "{}",
            views[0].outcome
        );
        assert_eq!(views[1].outcome, "applied");
        let all = activities(&history, Some(4), 20);
        assert_eq!(all[2].outcome, "failed: throttled");
        assert!(!all[0].outcome.contains("as desired"));
    }

    #[test]
    fn ago_reads_like_people_say_it() {
        assert_eq!(ago(1000, 995), "5 s");
        assert_eq!(ago(10_000, 10_000 - 600), "10 min");
        assert_eq!(ago(100_000, 100_000 - 3 * 3600), "3 h");
        assert_eq!(ago(1_000_000, 1_000_000 - 4 * 86_400), "4 d");
    }
}
