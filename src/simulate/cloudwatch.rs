//! What CloudWatch would tell the policy about the model's consumer: one point a minute of
//! `Duration` summed and messages deleted, published minutes late, with the noise of real
//! service times. The policy never sees the model's exact service time: it measures it as
//! the Lambda function would ([`crate::service_time`]).

use super::random::Random;
use crate::service_time::{Point, PERIOD_SECONDS};
use std::collections::VecDeque;

/// How late a minute's point becomes readable: AWS/Lambda and AWS/SQS metrics arrive a few
/// minutes after the minute they describe.
pub const PUBLISH_DELAY_SECONDS: u64 = 180;
/// The spread of one message's service time around the mean (coefficient of variation):
/// real handlers vary with payloads and their dependencies.
pub const SERVICE_TIME_SPREAD: f64 = 0.5;

/// The minute points of one run, made as the consumer works.
#[derive(Debug, Clone)]
pub struct SimulatedMetrics {
    service_seconds: f64,
    random: Random,
    /// The minute being summed: messages processed so far.
    minute_messages: f64,
    /// Points made, not yet published, oldest first.
    unpublished: VecDeque<(u64, Point)>,
}

impl SimulatedMetrics {
    /// `start` is the trace's second 0 in epoch seconds: the points' times are on that clock.
    pub fn new(service_seconds: f64, seed: u64) -> SimulatedMetrics {
        SimulatedMetrics {
            service_seconds,
            // Its own stream: the trace's arrivals stay as they were.
            random: Random::new(seed ^ 0x5EC0_4D5E_C04D_5EC0),
            minute_messages: 0.0,
            unpublished: VecDeque::new(),
        }
    }

    /// The points of the hour before the trace: the model assumes the first minute's load
    /// went on before ([`super::engine::steady_reservation`]), and CloudWatch would have
    /// measured it. Each is readable [`PUBLISH_DELAY_SECONDS`] after its minute, as the
    /// trace's own: the last three minutes before it only during its first three minutes.
    /// `rate` is messages per second.
    pub fn before(&mut self, rate: f64, start: i64) {
        let period = PERIOD_SECONDS as u64;
        let minutes = (crate::service_time::LOOKBACK_SECONDS as u64).div_ceil(period);
        for minute in (1..=minutes).rev() {
            let messages = rate * PERIOD_SECONDS as f64;
            if messages > 0.0 {
                let ago = (minute as i64 - 1) * PERIOD_SECONDS;
                let point = self.point(messages, start - ago);
                let readable = (PUBLISH_DELAY_SECONDS as i64 - ago).max(0) as u64;
                self.unpublished.push_back((readable, point));
            }
        }
    }

    /// One minute's point: the sum of `messages` service times (mean messages x s, spread
    /// by the square root of their number), ending at `end`.
    fn point(&mut self, messages: f64, end: i64) -> Point {
        let spread = SERVICE_TIME_SPREAD * self.service_seconds * messages.sqrt();
        let duration =
            (messages * self.service_seconds + spread * self.random.standard_normal()).max(0.0);
        Point {
            end,
            duration_seconds: duration,
            // One message an invocation: the model does not batch.
            invocations: Some(messages),
            messages,
        }
    }

    /// Records the messages processed in `second`; a minute's point is made at its end.
    /// `start` is the epoch second of the trace's second 0.
    pub fn record(&mut self, second: u64, processed: f64, start: i64) {
        self.minute_messages += processed;
        let period = PERIOD_SECONDS as u64;
        if (second + 1).is_multiple_of(period) {
            let messages = std::mem::take(&mut self.minute_messages);
            if messages > 0.0 {
                let point = self.point(messages, start + (second + 1) as i64);
                self.unpublished
                    .push_back((second + 1 + PUBLISH_DELAY_SECONDS, point));
            }
        }
    }

    /// The points that become readable at `second`.
    pub fn published(&mut self, second: u64) -> Vec<Point> {
        let mut out = Vec::new();
        while let Some((at, point)) = self.unpublished.front() {
            if *at > second {
                break;
            }
            out.push(*point);
            self.unpublished.pop_front();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minutes_point_is_readable_only_after_the_publishing_delay() {
        let mut metrics = SimulatedMetrics::new(1.0, 1);
        for second in 0..60 {
            metrics.record(second, 10.0, 1000);
            assert!(metrics.published(second).is_empty());
        }
        assert!(metrics.published(60 + PUBLISH_DELAY_SECONDS - 1).is_empty());
        let points = metrics.published(60 + PUBLISH_DELAY_SECONDS);
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].end, 1060);
        assert_eq!(points[0].messages, 600.0);
        // 600 messages of 1 s, spread 0.5 x sqrt(600) = 12 s: within 5 standard deviations.
        assert!((points[0].duration_seconds - 600.0).abs() < 5.0 * 12.3);
    }

    #[test]
    fn the_hour_before_the_trace_is_readable_as_late_as_any_minute() {
        let mut metrics = SimulatedMetrics::new(1.0, 1);
        metrics.before(10.0, 10_000);
        let mut points = metrics.published(0);
        // The look-back of a read, 4500 s (75 minutes), but its last three minutes: those
        // end less than the publishing delay before the trace.
        assert_eq!(points.len(), 72);
        assert_eq!(points.last().unwrap().end, 10_000 - 180);
        for (second, end) in [(60, 9_880), (120, 9_940), (180, 10_000)] {
            assert!(metrics.published(second - 1).is_empty(), "{second}");
            let now = metrics.published(second);
            assert_eq!(now.iter().map(|p| p.end).collect::<Vec<_>>(), [end]);
            points.extend(now);
        }
        assert!(points
            .iter()
            .all(|p| p.end <= 10_000 && p.messages == 600.0));
        let measured = crate::service_time::summarize(&points).unwrap();
        assert!(
            (measured.seconds - 1.0).abs() < 0.05,
            "{}",
            measured.seconds
        );
        assert!(
            metrics.published(10_000_000).is_empty(),
            "all of it at once"
        );
    }

    #[test]
    fn a_minute_without_messages_has_no_point() {
        let mut metrics = SimulatedMetrics::new(1.0, 1);
        for second in 0..60 {
            metrics.record(second, 0.0, 0);
        }
        assert!(metrics.published(10_000).is_empty());
    }

    #[test]
    fn the_measured_service_time_is_near_the_models_but_not_exact() {
        let mut metrics = SimulatedMetrics::new(2.0, 7);
        for second in 0..600 {
            metrics.record(second, 5.0, 0);
        }
        let points = metrics.published(10_000);
        let measured = crate::service_time::summarize(&points).unwrap();
        assert!((measured.seconds - 2.0).abs() < 0.1, "{}", measured.seconds);
        assert_ne!(measured.seconds, 2.0);
    }
}
