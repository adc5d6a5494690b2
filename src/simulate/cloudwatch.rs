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

    /// Records the messages processed in `second`; a minute's point is made at its end.
    /// `start` is the epoch second of the trace's second 0.
    pub fn record(&mut self, second: u64, processed: f64, start: i64) {
        self.minute_messages += processed;
        let period = PERIOD_SECONDS as u64;
        if (second + 1).is_multiple_of(period) {
            let messages = std::mem::take(&mut self.minute_messages);
            if messages > 0.0 {
                // The sum of `messages` service times: mean messages x s, spread by the square
                // root of their number.
                let spread = SERVICE_TIME_SPREAD * self.service_seconds * messages.sqrt();
                let duration = (messages * self.service_seconds
                    + spread * self.random.standard_normal())
                .max(0.0);
                let end = start + (second + 1) as i64;
                self.unpublished.push_back((
                    second + 1 + PUBLISH_DELAY_SECONDS,
                    Point {
                        end,
                        duration_seconds: duration,
                        // One message an invocation: the model does not batch.
                        invocations: Some(messages),
                        messages,
                    },
                ));
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
