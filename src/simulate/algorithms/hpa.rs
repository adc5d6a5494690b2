//! `hpa`: the Kubernetes Horizontal Pod Autoscaler (autoscaling/v2 with its default behavior)
//! on the queue's backlog, as KEDA's SQS scaler drives it: an external metric, the backlog,
//! with an `AverageValue` target of `--baseline-messages-per-instance` (not the policy's).
//!
//! Following the HPA controller (pkg/controller/podautoscaler):
//! 1. desired = ceil(backlog / target), i.e. ceil(current x backlog-per-instance / target),
//!    unless |backlog / (target x current) - 1| <= 0.1 (the tolerance): then current.
//! 2. Scale-down stabilization: at most the highest desired value of the last 300 s (this one
//!    included); no scale-up stabilization.
//! 3. Rate limits over the events of each policy's period: up by max(100 %, 4 pods) per 15 s,
//!    down by 100 % per 15 s (no limit).
//! 4. Bounds: the target's min and max.

use super::{Moment, Scaler};
use crate::decide::backlog;
use crate::policy::{QueueSpec, Target};

pub const TOLERANCE: f64 = 0.1;
pub const SCALE_DOWN_STABILIZATION_SECONDS: u64 = 300;
/// Scale-up policies: `Percent 100` and `Pods 4` per 15 s, `selectPolicy: Max`.
pub const SCALE_UP_PERIOD_SECONDS: u64 = 15;
pub const SCALE_UP_PERCENT: u64 = 100;
pub const SCALE_UP_PODS: u64 = 4;

pub struct Hpa<'a> {
    target: &'a Target,
    queue: &'a QueueSpec,
    /// (second, unstabilized desired value) of recent evaluations.
    recommendations: Vec<(u64, u64)>,
    /// (second, replicas added or, negative, removed) of recent changes: scale-downs are not
    /// rate-limited by default, but as in the controller they loosen the scale-up limit
    /// (its period starts from current − added + deleted).
    changes: Vec<(u64, i64)>,
}

impl<'a> Hpa<'a> {
    pub fn new(target: &'a Target, queue: &'a QueueSpec) -> Hpa<'a> {
        Hpa {
            target,
            queue,
            recommendations: Vec::new(),
            changes: Vec::new(),
        }
    }

    /// Step 1: the replica calculator for an `AverageValue` external metric.
    fn desired(&self, current: u64, backlog: u64) -> u64 {
        let per_instance = u64::from(self.queue.messages_per_instance().unwrap_or(1));
        let wanted = backlog.div_ceil(per_instance);
        if current == 0 {
            return wanted;
        }
        let usage_ratio = backlog as f64 / (per_instance * current) as f64;
        if (1.0 - usage_ratio).abs() > TOLERANCE {
            wanted
        } else {
            current
        }
    }

    /// Steps 2 to 4 around `current`, at `now`.
    fn normalize(&mut self, now: u64, current: u64, desired: u64) -> u64 {
        self.recommendations
            .retain(|(at, _)| now - at < SCALE_DOWN_STABILIZATION_SECONDS);
        let highest_recent = self
            .recommendations
            .iter()
            .map(|(_, value)| *value)
            .fold(desired, u64::max);
        self.recommendations.push((now, desired));
        // Scale up at once; scale down only as far as the window's highest.
        let stabilized = if desired > current {
            desired
        } else {
            highest_recent.min(current)
        };
        self.changes
            .retain(|(at, _)| now - at < SCALE_UP_PERIOD_SECONDS);
        let limited = if stabilized > current {
            let added: u64 = self
                .changes
                .iter()
                .map(|(_, n)| n.max(&0).unsigned_abs())
                .sum();
            let deleted: u64 = self
                .changes
                .iter()
                .map(|(_, n)| n.min(&0).unsigned_abs())
                .sum();
            let period_start = (current + deleted).saturating_sub(added);
            let by_percent = (period_start * (100 + SCALE_UP_PERCENT)).div_ceil(100);
            let limit = by_percent.max(period_start + SCALE_UP_PODS).max(current);
            stabilized.min(limit)
        } else {
            stabilized
        };
        let bounded = limited.clamp(u64::from(self.target.min), u64::from(self.target.max));
        if bounded != current {
            // Both at most the target's max, a u32.
            self.changes.push((now, bounded as i64 - current as i64));
        }
        bounded
    }
}

impl Scaler for Hpa<'_> {
    fn reservation(&mut self, moment: &Moment) -> u32 {
        let Some(depth) = moment.observed else {
            return moment.current;
        };
        let current = u64::from(moment.current);
        // The backlog as the policy counts it; KEDA's SQS scaler has the same switches
        // (`scaleOnInFlight`, `scaleOnDelayed`).
        let desired = self.desired(current, backlog(self.queue, depth));
        // Bounded by the target's max, a u32.
        self.normalize(moment.second, current, desired) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn target(min: u32, max: u32, per_instance: u32) -> Target {
        let json = format!(
            r#"{{"targets": [{{"function": "f", "min": {min}, "max": {max},
                "queue": {{"name": "q", "messages_per_instance": {per_instance}}}}}]}}"#
        );
        Policy::from_json(&json, "test").unwrap().targets.remove(0)
    }

    fn observe(hpa: &mut Hpa, second: u64, current: u32, backlog: u64) -> u32 {
        hpa.reservation(&Moment::observing(second, current, backlog))
    }

    #[test]
    fn desired_is_ceil_of_current_times_metric_over_target_outside_the_tolerance() {
        let t = target(1, 1000, 10);
        let q = t.queue.clone().unwrap();
        let hpa = Hpa::new(&t, &q);
        // 10 pods, 205 messages: 20.5 per pod against 10 -> ceil(10 x 20.5 / 10) = 21.
        assert_eq!(hpa.desired(10, 205), 21);
        // 109 messages: ratio 1.09, within 0.1 of 1 -> stay at 10.
        assert_eq!(hpa.desired(10, 109), 10);
        // 111 messages: ratio 1.11 -> ceil(11.1) = 12.
        assert_eq!(hpa.desired(10, 111), 12);
        // 91 messages: ratio 0.91, within tolerance; 89: ratio 0.89 -> ceil(8.9) = 9.
        assert_eq!(hpa.desired(10, 91), 10);
        assert_eq!(hpa.desired(10, 89), 9);
    }

    #[test]
    fn scale_up_is_limited_to_double_or_four_more_per_fifteen_seconds() {
        let t = target(1, 1000, 10);
        let q = t.queue.clone().unwrap();
        let mut hpa = Hpa::new(&t, &q);
        // From 1, a backlog of 10000 wants 1000: +4 beats +100 % -> 5.
        assert_eq!(observe(&mut hpa, 0, 1, 10_000), 5);
        // 15 s later the period starts afresh: 5 -> max(10, 9) = 10.
        assert_eq!(observe(&mut hpa, 15, 5, 10_000), 10);
        // 5 s later the 15 s period began at 5: limit max(10, 9) = 10, already there.
        assert_eq!(observe(&mut hpa, 20, 10, 10_000), 10);
        assert_eq!(observe(&mut hpa, 30, 10, 10_000), 20);
        assert_eq!(observe(&mut hpa, 45, 20, 10_000), 40);
    }

    #[test]
    fn scale_down_waits_for_the_highest_recommendation_of_five_minutes() {
        let t = target(1, 1000, 10);
        let q = t.queue.clone().unwrap();
        let mut hpa = Hpa::new(&t, &q);
        assert_eq!(observe(&mut hpa, 0, 40, 400), 40);
        // The queue empties: desired 0, but the window still holds 40.
        assert_eq!(observe(&mut hpa, 60, 40, 0), 40);
        assert_eq!(observe(&mut hpa, 120, 40, 100), 40);
        // At 300 s the recommendation of second 0 has left the window; 10 (second 120) holds.
        assert_eq!(observe(&mut hpa, 300, 40, 0), 10);
        // At 420 s only recommendations of 1 remain: straight to 1 (100 % per 15 s).
        assert_eq!(observe(&mut hpa, 420, 10, 0), 1);
    }

    #[test]
    fn the_result_stays_within_min_and_max() {
        let t = target(3, 8, 10);
        let q = t.queue.clone().unwrap();
        let mut hpa = Hpa::new(&t, &q);
        assert_eq!(observe(&mut hpa, 0, 3, 0), 3);
        assert_eq!(observe(&mut hpa, 15, 3, 10_000), 7);
        assert_eq!(observe(&mut hpa, 30, 7, 10_000), 8);
    }

    #[test]
    fn the_rate_limit_and_the_window_count_seconds_not_evaluations() {
        let t = target(1, 1000, 10);
        let q = t.queue.clone().unwrap();
        // Every 10 s (hpa@10): the scale-up of second 0 still limits the evaluation at 10 s,
        // which is within its 15 s period, and no longer the one at 20 s.
        let mut hpa = Hpa::new(&t, &q);
        assert_eq!(observe(&mut hpa, 0, 1, 10_000), 5);
        assert_eq!(observe(&mut hpa, 10, 5, 10_000), 5);
        assert_eq!(observe(&mut hpa, 20, 5, 10_000), 10);
        // Every 10 s, a recommendation of 40 holds the scale-down for 300 s, 30 evaluations.
        let mut hpa = Hpa::new(&t, &q);
        assert_eq!(observe(&mut hpa, 0, 40, 400), 40);
        for second in (10..300).step_by(10) {
            assert_eq!(observe(&mut hpa, second, 40, 0), 40, "second {second}");
        }
        assert_eq!(observe(&mut hpa, 300, 40, 0), 1);
        // Every 120 s (hpa@120): each evaluation starts a fresh 15 s period, and the window
        // of 300 s holds the two recommendations before it, not five.
        let mut hpa = Hpa::new(&t, &q);
        assert_eq!(observe(&mut hpa, 0, 1, 10_000), 5);
        assert_eq!(observe(&mut hpa, 120, 5, 10_000), 10);
        assert_eq!(observe(&mut hpa, 240, 10, 100), 10);
        assert_eq!(observe(&mut hpa, 360, 10, 0), 10);
        assert_eq!(observe(&mut hpa, 480, 10, 0), 10);
        assert_eq!(observe(&mut hpa, 600, 10, 0), 1);
    }

    #[test]
    fn between_evaluations_the_replicas_are_kept() {
        let t = target(1, 100, 10);
        let q = t.queue.clone().unwrap();
        let mut hpa = Hpa::new(&t, &q);
        assert_eq!(hpa.reservation(&Moment::between_evaluations(7, 9)), 9);
    }

    #[test]
    fn a_scale_down_within_the_period_loosens_the_scale_up_limit_as_in_the_controller() {
        // At 5 s, as hpa@5: the controller starts the period from current - added + deleted,
        // so after 40 -> 10 at 300 s, a scale-up at 305 s may go to max(2 x 40, 40 + 4) = 80
        // (not 2 x 10 = 20). At 15 s or more apart, as hpa@15, nothing is in the period.
        let t = target(1, 1000, 1);
        let q = t.queue.clone().unwrap();
        let mut hpa = Hpa::new(&t, &q);
        assert_eq!(observe(&mut hpa, 0, 40, 40), 40);
        assert_eq!(observe(&mut hpa, 300, 40, 10), 10);
        assert_eq!(observe(&mut hpa, 305, 10, 100), 80);
        let mut hpa = Hpa::new(&t, &q);
        assert_eq!(observe(&mut hpa, 0, 40, 40), 40);
        assert_eq!(observe(&mut hpa, 300, 40, 10), 10);
        assert_eq!(observe(&mut hpa, 315, 10, 100), 20);
    }
}
