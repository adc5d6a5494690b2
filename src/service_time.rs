//! A target's service time per message from its CloudWatch metrics: `Duration` (AWS/Lambda,
//! summed) over the messages its queue deleted (AWS/SQS `NumberOfMessagesDeleted`). Pure; the
//! Lambda function reads the points with `GetMetricData` ([`crate::ports`]) and the simulator
//! makes them from its model, late and noisy, so both summarize the same way.
//!
//! `Duration` is per invocation, and an invocation takes a batch that is often smaller than
//! `BatchSize` at low load, so the time per message is the total duration over the messages
//! processed, never the mean duration.

use crate::drain::{Measured, Reference};

/// The period of the points read: CloudWatch's finest for these metrics.
pub const PERIOD_SECONDS: i64 = 60;
/// The recent span: the service time now.
pub const RECENT_SECONDS: i64 = 300;
/// The span before it that says what usual is, for the slow-dependency check.
pub const REFERENCE_SECONDS: i64 = 3600;
/// How far back a read looks: both spans, plus the minutes the metrics arrive late.
pub const LOOKBACK_SECONDS: i64 = RECENT_SECONDS + REFERENCE_SECONDS + 600;
/// How long a read serves before the next (the Lambda function keeps it in memory): service
/// time moves slowly, and every metric read costs (docs/deploy.md "What it costs").
pub const REREAD_SECONDS: i64 = 600;
/// How soon a read that measured nothing is first tried again: the metrics of a queue that
/// has just got traffic arrive a few minutes late, and until then the proposal assumes the
/// largest service time the goal allows. Each further read that measures nothing (or fails)
/// doubles the wait, up to [`REREAD_SECONDS`]: a queue too light to measure, or a role
/// without `cloudwatch:GetMetricData`, costs no more reads than a measured one.
pub const RETRY_SECONDS: i64 = 120;
/// A span with fewer messages than this says too little to measure a service time.
pub const MIN_MESSAGES: f64 = 20.0;
/// The oldest a measurement serves, from the end of its latest period: the minutes the
/// metrics arrive late (up to 10) and one [`REREAD_SECONDS`] between reads. An older one
/// (the reads since failed, or found no new traffic yet) describes an earlier load: its
/// batch size and its slow-dependency verdict would shrink or hold back a proposal now, so
/// the proposal falls back to what a missing measurement gives ([`crate::drain`]).
pub const MAX_AGE_SECONDS: i64 = 600 + REREAD_SECONDS;

/// One target's service-time reads, as the Lambda function (in a warm container) and the
/// simulator keep them: when it was last read, and the last measurement, which a read that
/// fails or measures nothing keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Readings {
    last_read: Option<i64>,
    measured: Option<Measured>,
    /// The reads in a row that measured nothing, and what the latest found.
    misses: u32,
    latest: Option<Unmeasured>,
}

/// Why the latest read measured nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmeasured {
    /// The read failed (logged at WARN).
    Failed,
    /// Too few messages in its recent span (or its metrics have not arrived).
    TooFew,
}

impl Readings {
    /// Whether to read again at `now`: only while the queue has traffic (messages waiting
    /// or in flight), at most every [`REREAD_SECONDS`]; while nothing serves (never
    /// measured, or too old) after [`RETRY_SECONDS`], doubled for each read in a row that
    /// measured nothing, up to [`REREAD_SECONDS`].
    pub fn due(&self, now: i64, has_traffic: bool) -> bool {
        let every = if self.measured(now).is_some() {
            REREAD_SECONDS
        } else {
            let doublings = self.misses.saturating_sub(1).min(8);
            (RETRY_SECONDS << doublings).min(REREAD_SECONDS)
        };
        has_traffic && self.last_read.is_none_or(|at| now - at >= every)
    }

    /// Records a read made at `now`: its points, or `None` when it failed.
    pub fn record(&mut self, now: i64, points: Option<&[Point]>) {
        self.last_read = Some(now);
        match points.map(summarize) {
            Some(Some(measured)) => {
                self.measured = Some(measured);
                self.misses = 0;
                self.latest = None;
            }
            unmeasured => {
                self.misses = self.misses.saturating_add(1);
                self.latest = Some(match unmeasured {
                    None => Unmeasured::Failed,
                    Some(_) => Unmeasured::TooFew,
                });
            }
        }
    }

    /// Why the latest read measured nothing, if it did not.
    pub fn unmeasured(&self) -> Option<Unmeasured> {
        self.latest
    }

    /// The last measurement, if a read has made one no older than [`MAX_AGE_SECONDS`] at
    /// `now`.
    pub fn measured(&self, now: i64) -> Option<Measured> {
        self.measured.filter(|m| now - m.as_of <= MAX_AGE_SECONDS)
    }

    /// The service time last measured, whatever its age: too old to serve, it still bounds
    /// from below the one a missing measurement assumes ([`crate::drain::Signals`]).
    pub fn last_seconds(&self) -> Option<f64> {
        self.measured.map(|m| m.seconds)
    }
}

/// One period of a target's metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Epoch seconds at the end of the period.
    pub end: i64,
    /// `Duration` summed over the period, in seconds.
    pub duration_seconds: f64,
    /// Invocations in the period (`Duration`'s sample count), if read.
    pub invocations: Option<f64>,
    /// `NumberOfMessagesDeleted` summed over the period.
    pub messages: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    duration: f64,
    messages: f64,
    invocations: f64,
    /// The messages of the periods that carried their invocations.
    messages_invoked: f64,
    periods: usize,
}

impl Sums {
    fn of<'a>(points: impl Iterator<Item = &'a Point>) -> Sums {
        let mut sums = Sums::default();
        for p in points {
            sums.duration += p.duration_seconds;
            sums.messages += p.messages;
            if let Some(n) = p.invocations {
                sums.invocations += n;
                sums.messages_invoked += p.messages;
            }
            sums.periods += 1;
        }
        sums
    }

    fn seconds_per_message(&self) -> Option<f64> {
        (self.messages >= MIN_MESSAGES && self.duration > 0.0)
            .then(|| self.duration / self.messages)
    }

    /// Messages per invocation, over the periods that carried their invocations: a period
    /// whose count is missing (late, or its query failed) must not make the batch unknown,
    /// which could shrink the proposal.
    fn messages_per_invocation(&self) -> Option<f64> {
        (self.invocations > 0.0).then(|| self.messages_invoked / self.invocations)
    }

    fn throughput(&self) -> f64 {
        self.messages / (self.periods.max(1) as f64 * PERIOD_SECONDS as f64)
    }
}

/// The service time of the latest [`RECENT_SECONDS`] of `points`, with the
/// [`REFERENCE_SECONDS`] before them as reference; `None` when the recent span has too few
/// messages (no traffic, or the metrics have not arrived). Points in any order; a period
/// without traffic has no point, as CloudWatch returns none.
pub fn summarize(points: &[Point]) -> Option<Measured> {
    let latest = points.iter().map(|p| p.end).max()?;
    let recent_from = latest - RECENT_SECONDS;
    let reference_from = recent_from - REFERENCE_SECONDS;
    let recent = Sums::of(points.iter().filter(|p| p.end > recent_from));
    let earlier = Sums::of(
        points
            .iter()
            .filter(|p| p.end > reference_from && p.end <= recent_from),
    );
    let seconds = recent.seconds_per_message()?;
    let messages_per_invocation = recent.messages_per_invocation();
    let reference = earlier.seconds_per_message().map(|seconds| Reference {
        seconds,
        throughput: earlier.throughput(),
        messages_per_invocation: earlier.messages_per_invocation(),
    });
    Some(Measured {
        seconds,
        messages_per_invocation,
        throughput: recent.throughput(),
        reference,
        as_of: latest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(end: i64, messages: f64, seconds_each: f64) -> Point {
        Point {
            end,
            duration_seconds: messages * seconds_each,
            invocations: Some(messages / 2.0),
            messages,
        }
    }

    #[test]
    fn the_time_per_message_is_the_total_duration_over_the_messages_not_the_mean_duration() {
        // Batches of 2: each invocation runs 2 s for two messages of 1 s.
        let points: Vec<Point> = (1..=5).map(|m| minute(m * 60, 120.0, 1.0)).collect();
        let measured = summarize(&points).unwrap();
        assert_eq!(measured.seconds, 1.0);
        assert_eq!(measured.messages_per_invocation, Some(2.0));
        assert_eq!(measured.throughput, 2.0);
        assert_eq!(measured.as_of, 300);
        assert_eq!(measured.reference, None, "nothing before the recent span");
    }

    #[test]
    fn the_hour_before_the_recent_span_is_the_reference() {
        let mut points: Vec<Point> = (1..=60).map(|m| minute(m * 60, 600.0, 0.5)).collect();
        points.extend((61..=65).map(|m| minute(m * 60, 600.0, 1.5)));
        let measured = summarize(&points).unwrap();
        assert_eq!(measured.seconds, 1.5);
        let reference = measured.reference.unwrap();
        assert_eq!(reference.seconds, 0.5);
        assert_eq!(reference.throughput, 10.0);
        assert!(measured.slow_dependency().is_some());
    }

    #[test]
    fn too_few_messages_or_no_points_measure_nothing() {
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[minute(60, 10.0, 1.0)]), None);
        let without_duration = Point {
            duration_seconds: 0.0,
            ..minute(60, 100.0, 1.0)
        };
        assert_eq!(summarize(&[without_duration]), None);
    }

    #[test]
    fn a_read_is_due_with_traffic_every_reread_seconds() {
        let mut readings = Readings::default();
        assert!(readings.due(0, true));
        assert!(!readings.due(0, false));
        // Nothing measured yet: sooner.
        readings.record(100, Some(&[]));
        assert_eq!(readings.unmeasured(), Some(Unmeasured::TooFew));
        assert!(!readings.due(100 + RETRY_SECONDS - 1, true));
        assert!(readings.due(100 + RETRY_SECONDS, true));
        let points: Vec<Point> = (1..=5).map(|m| minute(m * 60, 120.0, 1.0)).collect();
        readings.record(100, Some(&points));
        assert_eq!(readings.unmeasured(), None);
        assert!(!readings.due(100 + REREAD_SECONDS - 1, true));
        assert!(readings.due(100 + REREAD_SECONDS, true));
    }

    #[test]
    fn reads_that_keep_measuring_nothing_come_twice_as_far_apart_each_time_up_to_the_reread() {
        let mut readings = Readings::default();
        let mut at = 0;
        let mut gaps = Vec::new();
        for read in 0..7 {
            // Light traffic measures nothing; a read that fails counts the same.
            readings.record(at, if read % 2 == 0 { Some(&[]) } else { None });
            let next = (at + 1..).find(|&t| readings.due(t, true)).unwrap();
            gaps.push(next - at);
            at = next;
        }
        assert_eq!(gaps, [120, 240, 480, 600, 600, 600, 600]);
        assert_eq!(readings.unmeasured(), Some(Unmeasured::TooFew));
        readings.record(at, None);
        assert_eq!(readings.unmeasured(), Some(Unmeasured::Failed));
        // A measurement starts the count again.
        let points: Vec<Point> = (1..=5).map(|m| minute(at + m * 60, 120.0, 1.0)).collect();
        readings.record(at + 300, Some(&points));
        readings.record(at + 2000, Some(&[]));
        assert!(readings.due(at + 2000 + RETRY_SECONDS, true));
    }

    #[test]
    fn a_failed_or_empty_read_keeps_the_last_measurement_until_it_is_too_old() {
        // Periods ending at 60..300: the measurement is as of 300.
        let points: Vec<Point> = (1..=5).map(|m| minute(m * 60, 120.0, 0.5)).collect();
        let mut readings = Readings::default();
        readings.record(400, Some(&points));
        let measured = readings.measured(400);
        assert_eq!(measured.map(|m| m.seconds), Some(0.5));
        readings.record(1000, None);
        readings.record(1200, Some(&[]));
        assert_eq!(readings.measured(1200), measured);
        assert!(
            !readings.due(1200 + RETRY_SECONDS, true),
            "read at 1200, and the measurement still serves"
        );
        // Past its age it serves no more, and the reads come sooner again.
        let too_old = 300 + MAX_AGE_SECONDS + 1;
        assert_eq!(readings.measured(300 + MAX_AGE_SECONDS), measured);
        assert_eq!(readings.measured(too_old), None);
        assert!(readings.due(too_old.max(1200 + RETRY_SECONDS), true));
    }

    #[test]
    fn a_point_without_invocations_leaves_the_batch_to_the_others_and_none_leaves_it_unknown() {
        // Batches of 2; one minute's count has not arrived (or its query failed), and that
        // minute ran a different load: the batch is read from the minutes that have both.
        let mut points: Vec<Point> = (1..=5).map(|m| minute(m * 60, 120.0, 1.0)).collect();
        points[2] = Point {
            invocations: None,
            ..minute(180, 600.0, 1.0)
        };
        assert_eq!(
            summarize(&points).unwrap().messages_per_invocation,
            Some(2.0)
        );
        for p in &mut points {
            p.invocations = None;
        }
        assert_eq!(summarize(&points).unwrap().messages_per_invocation, None);
    }
}
