//! Runs one algorithm through one trace. Each second: the algorithm picks the reservation
//! (observing the queue only at evaluation times), then the consumer works for that second.

use super::algorithms::{Moment, Scaler};
use super::cloudwatch::SimulatedMetrics;
use super::model::Consumer;
use crate::decide::QueueDepth;

/// How progress is reported: every this many simulated seconds.
pub const PROGRESS_STEP: usize = 10_000;

/// When the autoscaler looks, and how late its view is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Seconds between evaluations (the schedule's rate); at least 1.
    pub interval: u64,
    /// How many seconds old the queue depth an evaluation sees is.
    pub observe_lag: u64,
}

/// One algorithm's run, second by second.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The reservation before the first second.
    pub start: u32,
    /// The reservation held during each second.
    pub reservations: Vec<u32>,
    /// Messages waiting (visible) at the end of each second.
    pub backlog: Vec<f64>,
}

/// The mean arrivals per second of the trace's first minute: the load the simulation assumes
/// went on before the trace, so that it starts in a steady state rather than a cold start,
/// which no running deployment has.
fn rate_before(arrivals: &[u64]) -> f64 {
    let first = &arrivals[..arrivals.len().min(60)];
    first.iter().sum::<u64>() as f64 / first.len().max(1) as f64
}

/// The reservation that processes the load before the trace.
pub fn steady_reservation(arrivals: &[u64], service_seconds: f64) -> u64 {
    Consumer::new(service_seconds).reservation_for(rate_before(arrivals))
}

/// What the run's CloudWatch metrics are made from: their noise's seed, and the epoch second
/// of the trace's second 0 (their clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsClock {
    pub seed: u64,
    pub epoch_start: i64,
}

/// Runs `scaler` through `arrivals` from the reservation `start`; `progress` hears the
/// seconds done now and then.
pub fn run(
    arrivals: &[u64],
    scaler: &mut dyn Scaler,
    start: u32,
    service_seconds: f64,
    timing: Timing,
    clock: MetricsClock,
    progress: &mut dyn FnMut(usize),
) -> Run {
    let busy_before = (rate_before(arrivals) * service_seconds).round() as u64;
    let mut consumer =
        Consumer::new(service_seconds).at_work(busy_before.min(u64::from(start)) as f64);
    let mut metrics = SimulatedMetrics::new(service_seconds, clock.seed);
    metrics.before(rate_before(arrivals), clock.epoch_start);
    // depths[t]: what GetQueueAttributes would report at the start of second t. Before the
    // trace nothing waited, and `start` executions worked on the load before it.
    let mut depths = Vec::with_capacity(arrivals.len() + 1);
    depths.push(QueueDepth {
        visible: 0,
        in_flight: busy_before.min(u64::from(start)),
        delayed: 0,
    });
    let mut run = Run {
        start,
        reservations: Vec::with_capacity(arrivals.len()),
        backlog: Vec::with_capacity(arrivals.len()),
    };
    let mut current = start;
    for (index, &arriving) in arrivals.iter().enumerate() {
        let second = index as u64;
        let observed = second.is_multiple_of(timing.interval).then(|| {
            // At most `index`, so within `depths`.
            depths[second.saturating_sub(timing.observe_lag) as usize]
        });
        let needed = consumer.needed(arriving as f64);
        let published = metrics.published(second);
        if !published.is_empty() {
            scaler.metrics(&published);
        }
        current = scaler.reservation(&Moment {
            second,
            current,
            observed,
            needed,
        });
        let done = consumer.step(arriving, current);
        metrics.record(second, done.processed, clock.epoch_start);
        depths.push(done.depth);
        run.reservations.push(current);
        run.backlog.push(done.waiting);
        if index.is_multiple_of(PROGRESS_STEP) {
            progress(index);
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::algorithms::fixed::Fixed;

    /// Records what it was shown and answers with a fixed value.
    struct Recorder {
        seen: Vec<Moment>,
        answer: u32,
    }

    impl Scaler for Recorder {
        fn reservation(&mut self, moment: &Moment) -> u32 {
            self.seen.push(*moment);
            self.answer
        }
    }

    const CLOCK: MetricsClock = MetricsClock {
        seed: 1,
        epoch_start: 0,
    };

    const EVERY_SECOND: Timing = Timing {
        interval: 1,
        observe_lag: 0,
    };

    #[test]
    fn a_static_ten_against_fifty_a_second_grows_the_backlog_by_forty_each_second() {
        let run = run(
            &[50; 5],
            &mut Fixed(10),
            10,
            1.0,
            EVERY_SECOND,
            CLOCK,
            &mut |_| {},
        );
        assert_eq!(run.reservations, [10; 5]);
        assert_eq!(run.backlog, [40.0, 80.0, 120.0, 160.0, 200.0]);
    }

    #[test]
    fn the_queue_is_observed_only_every_interval_and_the_decision_applies_at_once() {
        let mut recorder = Recorder {
            seen: Vec::new(),
            answer: 5,
        };
        let timing = Timing {
            interval: 3,
            observe_lag: 0,
        };
        let run = run(&[7; 7], &mut recorder, 3, 1.0, timing, CLOCK, &mut |_| {});
        let observed: Vec<Option<u64>> = recorder
            .seen
            .iter()
            .map(|m| m.observed.map(|d| d.visible))
            .collect();
        // 7 arrive, 5 are processed: 2 more wait after each second.
        assert_eq!(
            observed,
            [Some(0), None, None, Some(6), None, None, Some(12)]
        );
        assert_eq!(recorder.seen[0].current, 3, "the start value comes first");
        assert_eq!(recorder.seen[1].current, 5);
        assert_eq!(
            run.reservations[0], 5,
            "the first decision holds in second 0"
        );
    }

    #[test]
    fn a_lagged_observation_shows_the_queue_as_it_was_that_many_seconds_ago() {
        let mut recorder = Recorder {
            seen: Vec::new(),
            answer: 0,
        };
        let timing = Timing {
            interval: 1,
            observe_lag: 2,
        };
        run(&[10; 5], &mut recorder, 3, 1.0, timing, CLOCK, &mut |_| {});
        let visible: Vec<u64> = recorder
            .seen
            .iter()
            .map(|m| m.observed.unwrap().visible)
            .collect();
        // Before the trace nothing waited; afterwards 10 more per second, 2 s late.
        assert_eq!(visible, [0, 0, 0, 10, 20]);
        let in_flight: Vec<u64> = recorder
            .seen
            .iter()
            .map(|m| m.observed.unwrap().in_flight)
            .collect();
        // Before the trace, the start reservation of 3 was busy with the 10 a second.
        assert_eq!(in_flight, [3, 3, 3, 0, 0]);
    }

    #[test]
    fn the_oracle_is_told_what_waiting_and_arriving_messages_need() {
        let mut recorder = Recorder {
            seen: Vec::new(),
            answer: 4,
        };
        run(
            &[10, 3],
            &mut recorder,
            3,
            1.0,
            EVERY_SECOND,
            CLOCK,
            &mut |_| {},
        );
        // Second 0: 10 arrive. Second 1: 6 left waiting plus 3 arriving.
        let needed: Vec<u64> = recorder.seen.iter().map(|m| m.needed).collect();
        assert_eq!(needed, [10, 9]);
    }

    #[test]
    fn the_steady_start_processes_the_first_minutes_mean_arrivals() {
        let mut arrivals = vec![10; 30];
        arrivals.extend([20; 30]);
        arrivals.extend([1000; 100]);
        assert_eq!(steady_reservation(&arrivals, 1.0), 15);
        assert_eq!(steady_reservation(&arrivals, 2.0), 30);
        assert_eq!(steady_reservation(&[7], 1.0), 7);
    }

    #[test]
    fn progress_is_reported_every_progress_step_seconds() {
        let mut reported = Vec::new();
        run(
            &vec![1; 2 * PROGRESS_STEP + 1],
            &mut Fixed(1),
            1,
            1.0,
            EVERY_SECOND,
            CLOCK,
            &mut |done| reported.push(done),
        );
        assert_eq!(reported, [0, PROGRESS_STEP, 2 * PROGRESS_STEP]);
    }
}
