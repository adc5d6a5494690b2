//! `policy`: the user's policy, decided by the same core as the Lambda function, stability
//! knobs included. The history the Lambda function keeps in its DynamoDB state table is kept
//! in memory here.

use super::{Moment, Scaler};
use crate::decide::{decide, AlarmStates, Inputs, QueueDepth, Request};
use crate::drain::{DepthSamples, Signals};
use crate::policy::{QueueGoal, Target};
use crate::service_time::{Point, Readings, LOOKBACK_SECONDS};
use crate::simulate::alarms::AlarmThresholds;
use crate::state::{History, SavedState};

/// The simulated clock's default origin (`--start`), 2026-01-01T00:00:00Z (a Thursday) in
/// epoch seconds: a real date, because the decision core reasons about saved times and
/// evaluates the target's schedules at it.
pub const DEFAULT_START: i64 = 1_767_225_600;

pub struct PolicyScaler<'a> {
    target: &'a Target,
    alarms: &'a AlarmThresholds,
    saved: SavedState,
    /// Epoch seconds of the trace's second 0.
    start: i64,
    /// What a drain-time goal reads besides the depth, kept as the Lambda function keeps it
    /// in a warm container.
    drain: DrainReads,
}

/// A drain-time goal's reads: the depth samples, and the service time measured from the
/// CloudWatch points published so far.
#[derive(Debug, Default)]
struct DrainReads {
    samples: DepthSamples,
    points: Vec<Point>,
    service: Readings,
}

impl<'a> PolicyScaler<'a> {
    pub fn new(target: &'a Target, alarms: &'a AlarmThresholds, start: i64) -> PolicyScaler<'a> {
        PolicyScaler {
            target,
            alarms,
            saved: SavedState::Missing,
            start,
            drain: DrainReads::default(),
        }
    }
}

impl Scaler for PolicyScaler<'_> {
    fn reservation(&mut self, moment: &Moment) -> u32 {
        let Some(depth) = moment.observed else {
            return moment.current;
        };
        let alarms = self.alarms.states(depth.visible);
        // The trace is at most a month of seconds, far inside i64.
        let now = self.start.saturating_add(moment.second as i64);
        let signals = self.drain_signals(depth, now);
        let (desired, history) = evaluate_policy(
            self.target,
            moment.current,
            &alarms,
            depth,
            &signals,
            &self.saved,
            now,
        );
        self.saved = SavedState::Valid(history);
        desired
    }

    fn metrics(&mut self, published: &[Point]) {
        self.drain.points.extend_from_slice(published);
    }
}

impl PolicyScaler<'_> {
    /// A drain-time goal's signals at `now`, as the Lambda function gathers them: the depth
    /// sample added, and the service time read again when due.
    fn drain_signals(&mut self, depth: QueueDepth, now: i64) -> Signals {
        let Some(spec) = self.target.queue.as_ref() else {
            return Signals::default();
        };
        let QueueGoal::Wait(goal) = spec.goal else {
            return Signals::default();
        };
        let waiting = depth.visible
            + if spec.include_delayed {
                depth.delayed
            } else {
                0
            };
        let reads = &mut self.drain;
        let rates = reads.samples.add(now, waiting, depth.in_flight);
        let traffic = waiting + depth.in_flight > 0;
        if goal.service_seconds.is_none() && reads.service.due(now, traffic) {
            reads.points.retain(|p| p.end > now - LOOKBACK_SECONDS);
            reads.service.record(now, Some(&reads.points));
        }
        Signals {
            rates: Some(rates),
            measured: reads.service.measured(now),
            mapping_batch_size: None,
            last_seconds: reads.service.last_seconds(),
            queue_elsewhere: false,
            unmeasured: reads.service.unmeasured(),
        }
    }
}

/// The simulator's only call into the decision core: one scheduled evaluation of `target`,
/// as the Lambda function makes it. The history is opaque here: it is only handed back in.
fn evaluate_policy(
    target: &Target,
    current: u32,
    alarms: &AlarmStates,
    depth: QueueDepth,
    drain: &Signals,
    saved: &SavedState,
    now: i64,
) -> (u32, History) {
    let inputs = Inputs {
        current: Some(current),
        alarms,
        queue: Some(depth),
        saved,
        now,
        // The model's observations never fail, and its pool is unlimited.
        unread: &[],
        headroom: None,
        mapping_floor: 0,
        pause_held: false,
        drain: *drain,
    };
    let decision = decide(target, &inputs, Request::FollowAlarms);
    // With a current reservation the core always desires one; keep it if it ever does not.
    (decision.desired.unwrap_or(current), decision.history)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn target(knobs: &str) -> Target {
        let json = format!(
            r#"{{"targets": [{{"function": "orders-worker", "min": 1, "max": 100,
                "queue": {{"name": "orders", "messages_per_instance": 10}} {knobs}}}]}}"#
        );
        Policy::from_json(&json, "test").unwrap().targets.remove(0)
    }

    #[test]
    fn between_evaluations_the_reservation_is_kept() {
        let target = target("");
        let alarms = AlarmThresholds::default();
        let mut policy = PolicyScaler::new(&target, &alarms, DEFAULT_START);
        assert_eq!(policy.reservation(&Moment::between_evaluations(5, 7)), 7);
    }

    #[test]
    fn the_queue_proposal_applies_at_once_when_scaling_out() {
        let target = target("");
        let alarms = AlarmThresholds::default();
        let mut policy = PolicyScaler::new(&target, &alarms, DEFAULT_START);
        // ceil(455 / 10) = 46.
        assert_eq!(policy.reservation(&Moment::observing(0, 1, 455)), 46);
    }

    #[test]
    fn the_history_is_carried_so_the_scale_in_cooldown_holds() {
        let target =
            target(r#", "scale_in_cooldown_seconds": 300, "scale_in_stabilization_seconds": 0"#);
        let alarms = AlarmThresholds::default();
        let mut policy = PolicyScaler::new(&target, &alarms, DEFAULT_START);
        assert_eq!(policy.reservation(&Moment::observing(0, 1, 500)), 50);
        // 60 s after scaling out, an empty queue may not scale in yet...
        assert_eq!(policy.reservation(&Moment::observing(60, 50, 0)), 50);
        // ...but 300 s after it may.
        assert_eq!(policy.reservation(&Moment::observing(300, 50, 0)), 1);
    }

    #[test]
    fn simulated_alarms_reach_the_core() {
        let json = r#"{"targets": [{"function": "f", "min": 1, "max": 100,
            "queue": {"name": "orders", "messages_per_instance": 1000},
            "alarms": [{"name": "backlog-high", "on_alarm": {"set": 80}}]}]}"#;
        let target = Policy::from_json(json, "test").unwrap().targets.remove(0);
        let parsed = AlarmThresholds::parse(&["backlog-high=100".into()], &target).unwrap();
        let mut policy = PolicyScaler::new(&target, &parsed.thresholds, DEFAULT_START);
        assert_eq!(policy.reservation(&Moment::observing(0, 1, 101)), 80);
    }

    #[test]
    fn the_start_puts_the_trace_on_the_clock_that_schedules_read() {
        let json = r#"{"targets": [{"function": "f", "min": 1, "max": 100,
            "queue": {"name": "orders", "messages_per_instance": 10},
            "schedules": [{"name": "business-hours", "start": "0 8 * * MON-FRI",
              "duration_seconds": 36000, "timezone": "Europe/Berlin", "min": 40}]}]}"#;
        let target = Policy::from_json(json, "test").unwrap().targets.remove(0);
        let alarms = AlarmThresholds::default();
        // Tuesday 2026-12-01 00:00 in Berlin; 08:00 is 8 h into the trace.
        let start = crate::cron::parse_instant("2026-12-01T00:00:00+01:00").unwrap();
        let mut policy = PolicyScaler::new(&target, &alarms, start);
        assert_eq!(policy.reservation(&Moment::observing(7 * 3600, 1, 0)), 1);
        assert_eq!(policy.reservation(&Moment::observing(8 * 3600, 1, 0)), 40);
        assert_eq!(policy.reservation(&Moment::observing(18 * 3600, 40, 0)), 40);
        // A Saturday start: no business hours.
        let saturday = crate::cron::parse_instant("2026-12-05T00:00:00+01:00").unwrap();
        let mut policy = PolicyScaler::new(&target, &alarms, saturday);
        assert_eq!(policy.reservation(&Moment::observing(9 * 3600, 1, 0)), 1);
    }
}
