//! The model of an SQS-fed Lambda consumer, one second at a time.
//!
//! - Each concurrent execution processes one message per `service_seconds` s, so a reservation
//!   of C processes at most C / s messages in a second.
//! - A second's arrivals join the queue; what the reservation cannot process waits (stays
//!   visible) and carries over to the next second.
//! - The backlog is fluid: fractions of a message are kept.
//! - Up to 1 s a message, an execution finishes its messages within the second: it processes
//!   1 / s of them, and `GetQueueAttributes` would report the messages processed x s in
//!   flight (Little's law).
//! - Above 1 s, a message holds its execution across seconds: B executions busy finish B / s
//!   messages a second (a fluid approximation of service times of s), and the idle ones,
//!   C less those still busy, start waiting messages at once, one each. The messages in
//!   flight are the executions busy. A lowered reservation stops no execution at work: it
//!   only keeps new ones from starting.

use crate::decide::QueueDepth;

/// Waiting counts below this many messages are float dust (50 - 49.9999999), not a backlog.
const DUST: f64 = 1e-6;

/// A queue and the function consuming it; starts empty.
#[derive(Debug, Clone)]
pub struct Consumer {
    service_seconds: f64,
    waiting: f64,
    /// Executions at work on a message at the end of the last second (above 1 s a message).
    busy: f64,
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
            busy: 0.0,
        }
    }

    /// The same consumer with `busy` executions at work (the load before a trace).
    pub fn at_work(mut self, busy: f64) -> Consumer {
        if self.service_seconds > 1.0 {
            self.busy = busy.max(0.0);
        }
        self
    }

    /// Messages waiting now.
    pub fn waiting(&self) -> f64 {
        self.waiting
    }

    /// Runs one second: `arrivals` join the queue and `reservation` executions work on it.
    pub fn step(&mut self, arrivals: u64, reservation: u32) -> Second {
        if self.service_seconds > 1.0 {
            return self.step_across_seconds(arrivals, reservation);
        }
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

    /// Above 1 s a message: the busy executions finish 1 / s of their messages, the idle
    /// ones start waiting messages, and the messages processed are those finished.
    fn step_across_seconds(&mut self, arrivals: u64, reservation: u32) -> Second {
        let s = self.service_seconds;
        let available = self.waiting + arrivals as f64;
        let finished = self.busy / s;
        let still = self.busy - finished;
        let started = available.min((f64::from(reservation) - still).max(0.0));
        let left = available - started;
        self.waiting = if left < DUST { 0.0 } else { left };
        self.busy = still + started;
        Second {
            processed: finished,
            waiting: self.waiting,
            depth: QueueDepth {
                visible: self.waiting.round() as u64,
                in_flight: self.busy.round() as u64,
                delayed: 0,
            },
        }
    }

    /// The smallest reservation that starts every message waiting and `arriving` this second
    /// (the oracle's): above 1 s a message, the executions still at work count too.
    pub fn needed(&self, arriving: f64) -> u64 {
        let s = self.service_seconds;
        if s > 1.0 {
            let still = self.busy - self.busy / s;
            (still + self.waiting + arriving - DUST).ceil().max(0.0) as u64
        } else {
            self.reservation_for(self.waiting + arriving)
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
    fn idle_executions_start_every_waiting_message_at_once_whatever_the_service_time() {
        // 30 idle executions at 3 s a message, 15 arrive: all start, none waits, and the
        // queue reports the 15 that exist.
        let mut consumer = Consumer::new(3.0);
        let s = consumer.step(15, 30);
        assert_eq!(
            (s.waiting, s.depth.visible, s.depth.in_flight),
            (0.0, 0, 15)
        );
        // 10 executions at 2 s: 8 start; the next second 4 of them finish, 6 are idle.
        let mut consumer = Consumer::new(2.0);
        let s = consumer.step(8, 10);
        assert_eq!((s.processed, s.waiting, s.depth.in_flight), (0.0, 0.0, 8));
        let s = consumer.step(8, 10);
        assert_eq!((s.processed, s.waiting, s.depth.in_flight), (4.0, 2.0, 10));
    }

    #[test]
    fn a_longer_service_time_divides_the_capacity_and_keeps_executions_busy() {
        // Saturated, 10 executions at 3 s a message finish 10/3 a second: 4 a second pile
        // up by 2/3 a second.
        let mut consumer = Consumer::new(3.0);
        for _ in 0..200 {
            consumer.step(4, 10);
        }
        let before = consumer.waiting();
        for _ in 0..60 {
            consumer.step(4, 10);
        }
        assert!((consumer.waiting() - before - 40.0).abs() < 1e-6);
        // Underloaded, 10 a second at 10 s keep 100 of 150 executions busy and none waits.
        let mut consumer = Consumer::new(10.0).at_work(100.0);
        for _ in 0..3600 {
            let s = consumer.step(10, 150);
            assert_eq!((s.waiting, s.depth.in_flight), (0.0, 100));
        }
    }

    #[test]
    fn a_lowered_reservation_stops_no_execution_at_work() {
        let mut consumer = Consumer::new(4.0).at_work(20.0);
        // 20 at work, lowered to 10: 5 finish, 15 still at work, nothing starts.
        let s = consumer.step(6, 10);
        assert_eq!((s.processed, s.waiting, s.depth.in_flight), (5.0, 6.0, 15));
        // The oracle's need counts those still at work after the next second's finish
        // (15 - 15/4 = 11.25) and the 6 waiting.
        assert_eq!(consumer.needed(0.0), 18);
    }

    #[test]
    fn the_reservation_for_a_second_is_the_smallest_that_processes_it() {
        let consumer = Consumer::new(0.3);
        assert_eq!(consumer.reservation_for(50.0), 15);
        assert_eq!(consumer.reservation_for(51.0), 16);
        assert_eq!(Consumer::new(1.0).reservation_for(0.0), 0);
    }
}
