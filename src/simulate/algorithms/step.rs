//! `step`: Application Auto Scaling step scaling. Two CloudWatch alarms watch the backlog per
//! instance (backlog / reservation, by metric math) against `--baseline-messages-per-instance`
//! (the target T, not the policy's); each alarm invokes a step scaling policy with
//! `PercentChangeInCapacity` steps, `MinAdjustmentMagnitude` 1 and a 300 s cooldown. While an
//! alarm stays in ALARM it invokes its policy again at each evaluation (each alarm period).
//!
//! The steps, by backlog per instance as a multiple of T (docs/simulation.md says why):
//!
//! | alarm | backlog per instance | change |
//! |---|---|---|
//! | high: > T | T to 2T | +50 % |
//! | | 2T to 4T | +100 % |
//! | | 4T to 8T | +300 % |
//! | | 8T and more | +700 % |
//! | low: < T/2 | T/4 to T/2 | -25 % |
//! | | below T/4 | -50 % |
//!
//! Cooldowns, as Application Auto Scaling documents them: during a scale-out's cooldown the
//! capacity that scale-out added counts towards the next one, so only a larger step adds
//! more; a scale-in is blocked until the last scale-in's cooldown has passed, and a
//! scale-out ends that cooldown.

use super::{Moment, Scaler};
use crate::decide::backlog;
use crate::policy::{QueueSpec, Target};

pub const COOLDOWN_SECONDS: u64 = 300;
/// (lowest backlog per instance in multiples of T, percent change), highest band last.
pub const SCALE_OUT_STEPS: [(f64, i64); 4] = [(1.0, 50), (2.0, 100), (4.0, 300), (8.0, 700)];
/// (highest backlog per instance in multiples of T, exclusive; percent change), lowest last.
pub const SCALE_IN_STEPS: [(f64, i64); 2] = [(0.5, -25), (0.25, -50)];

pub struct StepScaling<'a> {
    target: &'a Target,
    queue: &'a QueueSpec,
    /// When the running scale-out cooldown began, and the capacity before that scale-out.
    scale_out_cooldown: Option<(u64, u64)>,
    /// When the running scale-in cooldown began.
    scale_in_cooldown: Option<u64>,
}

impl<'a> StepScaling<'a> {
    pub fn new(target: &'a Target, queue: &'a QueueSpec) -> StepScaling<'a> {
        StepScaling {
            target,
            queue,
            scale_out_cooldown: None,
            scale_in_cooldown: None,
        }
    }

    fn bounded(&self, capacity: i64) -> u64 {
        // Clamped into [min, max], both u32.
        capacity.clamp(i64::from(self.target.min), i64::from(self.target.max)) as u64
    }

    fn evaluate(&mut self, now: u64, current: u64, backlog: u64) -> u64 {
        let per_instance = f64::from(self.queue.messages_per_instance().unwrap_or(1));
        let ratio = match current {
            0 if backlog > 0 => f64::INFINITY,
            0 => 0.0,
            _ => backlog as f64 / (current as f64 * per_instance),
        };
        if ratio > 1.0 {
            let percent = SCALE_OUT_STEPS
                .iter()
                .rev()
                .find(|(lowest, _)| ratio >= *lowest)
                .map_or(SCALE_OUT_STEPS[0].1, |(_, percent)| *percent);
            let cooling = self
                .scale_out_cooldown
                .filter(|(began, _)| now - began < COOLDOWN_SECONDS);
            let base = cooling.map_or(current, |(_, before)| before);
            let proposed = self.bounded(base as i64 + adjustment(base, percent));
            if proposed > current {
                if cooling.is_none() {
                    self.scale_out_cooldown = Some((now, current));
                }
                self.scale_in_cooldown = None;
                return proposed;
            }
        } else if ratio < SCALE_IN_STEPS[0].0 {
            if self
                .scale_in_cooldown
                .is_some_and(|began| now - began < COOLDOWN_SECONDS)
            {
                return current;
            }
            let percent = SCALE_IN_STEPS
                .iter()
                .rev()
                .find(|(highest, _)| ratio < *highest)
                .map_or(SCALE_IN_STEPS[0].1, |(_, percent)| *percent);
            let proposed = self.bounded(current as i64 + adjustment(current, percent));
            if proposed < current {
                self.scale_in_cooldown = Some(now);
                return proposed;
            }
        }
        current
    }
}

/// `percent` of `capacity`, rounded as Auto Scaling rounds `PercentChangeInCapacity`: towards
/// zero, but at least one unit (`MinAdjustmentMagnitude` 1).
pub fn adjustment(capacity: u64, percent: i64) -> i64 {
    let magnitude = (capacity as f64 * percent.unsigned_abs() as f64 / 100.0).floor() as i64;
    magnitude.max(1) * percent.signum()
}

impl Scaler for StepScaling<'_> {
    fn reservation(&mut self, moment: &Moment) -> u32 {
        let Some(depth) = moment.observed else {
            return moment.current;
        };
        let backlog = backlog(self.queue, depth);
        // Bounded by the target's max, a u32.
        self.evaluate(moment.second, u64::from(moment.current), backlog) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn target(min: u32, max: u32) -> Target {
        let json = format!(
            r#"{{"targets": [{{"function": "f", "min": {min}, "max": {max},
                "allow_zero": {},
                "queue": {{"name": "q", "messages_per_instance": 10}}}}]}}"#,
            min == 0
        );
        Policy::from_json(&json, "test").unwrap().targets.remove(0)
    }

    #[test]
    fn percent_adjustments_round_towards_zero_but_move_at_least_one() {
        assert_eq!(adjustment(10, 50), 5);
        assert_eq!(adjustment(7, 50), 3);
        assert_eq!(adjustment(1, 50), 1);
        assert_eq!(adjustment(0, 700), 1);
        assert_eq!(adjustment(7, -25), -1);
        assert_eq!(adjustment(10, -25), -2);
        assert_eq!(adjustment(2, -25), -1);
    }

    #[test]
    fn the_step_grows_with_the_backlog_per_instance() {
        let t = target(1, 1000);
        let q = t.queue.clone().unwrap();
        // 10 instances, target 10 per instance; each case starts afresh.
        for (backlog, expected) in [(100, 10), (101, 15), (200, 20), (400, 40), (800, 80)] {
            let mut step = StepScaling::new(&t, &q);
            assert_eq!(step.evaluate(0, 10, backlog), expected, "backlog {backlog}");
        }
    }

    #[test]
    fn during_a_scale_out_cooldown_only_a_larger_step_adds_and_only_the_difference() {
        let t = target(1, 1000);
        let q = t.queue.clone().unwrap();
        let mut step = StepScaling::new(&t, &q);
        // Ratio 1.5: +50 % of 10 -> 15.
        assert_eq!(step.evaluate(0, 10, 150), 15);
        // 60 s later, still ratio 225/150 = 1.5: +50 % of the 10 the cooldown began from is
        // 15, no more than now: hold.
        assert_eq!(step.evaluate(60, 15, 225), 15);
        // Ratio 600/150 = 4: +300 % of 10 = 40, so 25 more.
        assert_eq!(step.evaluate(120, 15, 600), 40);
        // After the cooldown (300 s from second 0), steps count from the current value again.
        assert_eq!(step.evaluate(300, 40, 600), 60);
    }

    #[test]
    fn scale_in_waits_for_its_cooldown_and_a_scale_out_ends_it() {
        let t = target(1, 1000);
        let q = t.queue.clone().unwrap();
        let mut step = StepScaling::new(&t, &q);
        // Ratio 0.4: -25 % of 40 -> 30.
        assert_eq!(step.evaluate(0, 40, 160), 30);
        // Ratio 0: -50 %, but within 300 s of the last scale-in: hold.
        assert_eq!(step.evaluate(60, 30, 0), 30);
        assert_eq!(step.evaluate(300, 30, 0), 15);
        // A scale-out ends the scale-in cooldown.
        assert_eq!(step.evaluate(360, 15, 300), 30);
        assert_eq!(step.evaluate(420, 30, 0), 15);
    }

    #[test]
    fn the_cooldowns_count_seconds_not_evaluations() {
        let t = target(1, 1000);
        let q = t.queue.clone().unwrap();
        // Every 15 s (step@15): a scale-out's cooldown covers the 19 evaluations of 300 s.
        let mut step = StepScaling::new(&t, &q);
        assert_eq!(step.evaluate(0, 10, 150), 15);
        for second in (15..300).step_by(15) {
            assert_eq!(step.evaluate(second, 15, 225), 15, "second {second}");
        }
        assert_eq!(step.evaluate(300, 15, 225), 22);
        // Every 10 s: a scale-in waits 300 s for the next one, however often it looks.
        let mut step = StepScaling::new(&t, &q);
        assert_eq!(step.evaluate(0, 40, 0), 20);
        for second in (10..300).step_by(10) {
            assert_eq!(step.evaluate(second, 20, 0), 20, "second {second}");
        }
        assert_eq!(step.evaluate(300, 20, 0), 10);
        // Every 600 s: each evaluation is past the cooldown of the one before.
        let mut step = StepScaling::new(&t, &q);
        assert_eq!(step.evaluate(0, 10, 150), 15);
        assert_eq!(step.evaluate(600, 15, 225), 22);
    }

    #[test]
    fn between_the_alarms_nothing_changes() {
        let t = target(1, 1000);
        let q = t.queue.clone().unwrap();
        let mut step = StepScaling::new(&t, &q);
        for backlog in [50, 75, 100] {
            assert_eq!(step.evaluate(0, 10, backlog), 10);
        }
    }

    #[test]
    fn bounds_hold_and_an_idle_function_with_a_backlog_gets_one() {
        let t = target(0, 12);
        let q = t.queue.clone().unwrap();
        let mut step = StepScaling::new(&t, &q);
        assert_eq!(step.evaluate(0, 0, 5), 1);
        let mut step = StepScaling::new(&t, &q);
        assert_eq!(step.evaluate(0, 10, 10_000), 12);
    }
}
