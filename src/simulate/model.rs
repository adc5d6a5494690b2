//! The model of an SQS-fed Lambda consumer, one second at a time.
//!
//! - Each concurrent execution processes one message per `service_seconds`, so a reservation
//!   of C processes at most C / `service_seconds` messages in a second.
//! - A second's arrivals join the queue; what the reservation cannot process waits (stays
//!   visible) and carries over to the next second.
//! - The backlog is fluid: fractions of a message are kept, so any service time is exact on
//!   average (3 executions at 2 s each process 1.5 messages a second).
//! - `GetQueueAttributes` would report the waiting messages as visible and the messages being
//!   processed as in flight: by Little's law, throughput x service time of them.

use crate::decide::QueueDepth;

/// Waiting counts below this many messages are float dust (50 - 49.9999999), not a backlog.
const DUST: f64 = 1e-6;

/// A queue and the function consuming it; starts empty.
#[derive(Debug, Clone)]
pub struct Consumer {
    service_seconds: f64,
    waiting: f64,
}

/// What one second did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Second {
    pub processed: f64,
    /// Messages waiting (visible) at the end of the second.
    pub waiting: f64,
    /// What `GetQueueAttributes` would report at the end of the second.
    pub depth: QueueDepth,
}

impl Consumer {
    /// `service_seconds` must be positive and finite (the command checks it).
    pub fn new(service_seconds: f64) -> Consumer {
        Consumer {
            service_seconds,
            waiting: 0.0,
        }
    }

    /// Messages waiting now.
    pub fn waiting(&self) -> f64 {
        self.waiting
    }

    /// Runs one second: `arrivals` join the queue and `reservation` executions work on it.
    pub fn step(&mut self, arrivals: u64, reservation: u32) -> Second {
        let available = self.waiting + arrivals as f64;
        let processed = available.min(self.capacity(reservation));
        let left = available - processed;
        self.waiting = if left < DUST { 0.0 } else { left };
        let busy = (processed * self.service_seconds).round() as u64;
        Second {
            processed,
            waiting: self.waiting,
            depth: QueueDepth {
                visible: self.waiting.round() as u64,
                in_flight: busy.min(u64::from(reservation)),
                delayed: 0,
            },
        }
    }

    /// The most messages `reservation` executions process in one second.
    pub fn capacity(&self, reservation: u32) -> f64 {
        f64::from(reservation) / self.service_seconds
    }

    /// The smallest reservation that processes `messages` within one second.
    pub fn reservation_for(&self, messages: f64) -> u64 {
        // Without the dust allowance, 50 x 0.3 = 15.000000000000002 would ask for 16.
        (messages * self.service_seconds - DUST).ceil().max(0.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_executions_against_fifty_messages_a_second_grow_the_backlog_by_forty_each_second() {
        let mut consumer = Consumer::new(1.0);
        for second in 1..=5 {
            let s = consumer.step(50, 10);
            assert_eq!(s.processed, 10.0);
            assert_eq!(s.waiting, 40.0 * f64::from(second));
        }
    }

    #[test]
    fn enough_executions_keep_the_queue_empty_and_all_of_them_busy() {
        let mut consumer = Consumer::new(1.0);
        let s = consumer.step(50, 50);
        assert_eq!(s.waiting, 0.0);
        assert_eq!(
            s.depth,
            QueueDepth {
                visible: 0,
                in_flight: 50,
                delayed: 0
            }
        );
    }

    #[test]
    fn the_backlog_carries_over_and_drains_at_the_spare_capacity() {
        let mut consumer = Consumer::new(1.0);
        consumer.step(100, 0);
        assert_eq!(consumer.waiting(), 100.0);
        // 30 executions, 10 new messages: 20 spare a second.
        let s = consumer.step(10, 30);
        assert_eq!(s.waiting, 80.0);
        assert_eq!(s.depth.in_flight, 30);
    }

    #[test]
    fn a_longer_service_time_divides_the_capacity_and_multiplies_the_messages_in_flight() {
        let mut consumer = Consumer::new(2.0);
        // 10 executions at 2 s a message: 5 messages a second, all 10 executions busy.
        let s = consumer.step(8, 10);
        assert_eq!(s.processed, 5.0);
        assert_eq!(s.waiting, 3.0);
        assert_eq!(s.depth.in_flight, 10);
        // Underloaded: 2 messages a second keep 4 executions busy.
        let mut idle = Consumer::new(2.0);
        assert_eq!(idle.step(2, 10).depth.in_flight, 4);
    }

    #[test]
    fn fractional_capacity_is_kept_exactly_on_average() {
        let mut consumer = Consumer::new(3.0);
        // 10 executions at 3 s a message: 10/3 a second; 100 s of 4 a second leave 66.7.
        for _ in 0..100 {
            consumer.step(4, 10);
        }
        assert!((consumer.waiting() - 200.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn the_reservation_for_a_second_is_the_smallest_that_processes_it() {
        let consumer = Consumer::new(0.3);
        assert_eq!(consumer.reservation_for(50.0), 15);
        assert_eq!(consumer.reservation_for(51.0), 16);
        assert_eq!(Consumer::new(1.0).reservation_for(0.0), 0);
    }
}
