//! What a run cost and what it bought, summed up for the table, the JSON and the docs.

use super::engine::Run;
use super::steps::StepUp;
use serde::Serialize;

/// The measures of one run; docs/simulation.md defines each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metrics {
    /// The sum over seconds of the messages waiting at the end of each second: each message
    /// waits one message-second for every second boundary it spends in the queue.
    pub message_wait_seconds: u64,
    /// The most messages waiting at the end of any second.
    pub max_backlog: u64,
    /// Seconds from the last second at which the backlog was at its largest to the first
    /// second after it that ends with an empty queue; 0 if nothing ever waited, `None` if the
    /// queue is still not empty when the trace ends.
    pub drain_seconds: Option<u64>,
    /// The sum over seconds of the reservation held: what the run took from the account's
    /// concurrency pool, whether used or not.
    pub concurrency_seconds: u64,
    /// Reservation changes, each one `PutFunctionConcurrency` call.
    pub writes: u64,
    /// Changes whose direction differs from the change before (up then down, or down then up).
    pub direction_changes: u64,
    /// The mean over the trace's steps up of the seconds until the reservation covered the
    /// step's need, rounded; over the steps that were covered, `None` if none was (or the
    /// trace has no step up).
    pub reaction_seconds_mean: Option<u64>,
    /// The most such seconds, over the steps that were covered; `None` as for the mean.
    pub reaction_seconds_max: Option<u64>,
    /// Steps up that the reservation did not cover before the next step or the trace's end.
    pub reaction_not_covered: u64,
}

/// Seconds until the reservation covered each of `steps` (`None`: not before the next step or
/// the end of the run).
fn reactions(run: &Run, steps: &[StepUp]) -> Vec<Option<u64>> {
    steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let end = steps
                .get(i + 1)
                .map_or(run.reservations.len(), |next| next.second);
            run.reservations
                .get(step.second..end)
                .unwrap_or_default()
                .iter()
                .position(|&held| u64::from(held) >= step.need)
                .map(|after| after as u64)
        })
        .collect()
}

/// Measures `run` on a trace with these steps up (`steps::steps_up`).
pub fn measure(run: &Run, steps: &[StepUp]) -> Metrics {
    let largest = run.backlog.iter().copied().fold(0.0, f64::max);
    let drain_seconds = if largest == 0.0 {
        Some(0)
    } else {
        // `largest` is one of the values, so the position exists.
        let peak = run.backlog.iter().rposition(|&b| b == largest).unwrap_or(0);
        run.backlog[peak..]
            .iter()
            .position(|&b| b == 0.0)
            .map(|after| after as u64)
    };
    let mut writes = 0;
    let mut direction_changes = 0;
    let mut last_rise: Option<bool> = None;
    let mut previous = run.start;
    for &reservation in &run.reservations {
        if reservation != previous {
            writes += 1;
            let rise = reservation > previous;
            if last_rise.is_some_and(|last| last != rise) {
                direction_changes += 1;
            }
            last_rise = Some(rise);
            previous = reservation;
        }
    }
    let reactions = reactions(run, steps);
    let covered: Vec<u64> = reactions.iter().flatten().copied().collect();
    let count = covered.len() as u64;
    Metrics {
        message_wait_seconds: run.backlog.iter().sum::<f64>().round() as u64,
        max_backlog: largest.round() as u64,
        drain_seconds,
        concurrency_seconds: run.reservations.iter().map(|&r| u64::from(r)).sum(),
        writes,
        direction_changes,
        // Half up: (2 x sum + count) / (2 x count).
        reaction_seconds_mean: (count > 0)
            .then(|| (2 * covered.iter().sum::<u64>() + count) / (2 * count)),
        reaction_seconds_max: covered.iter().copied().max(),
        reaction_not_covered: (reactions.len() - covered.len()) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(start: u32, reservations: &[u32], backlog: &[f64]) -> Run {
        Run {
            start,
            reservations: reservations.to_vec(),
            backlog: backlog.to_vec(),
        }
    }

    #[test]
    fn message_wait_is_the_backlog_summed_over_seconds_and_the_largest_is_kept() {
        let m = measure(&run(1, &[1, 1, 1, 1], &[40.0, 80.0, 20.5, 0.0]), &[]);
        assert_eq!(m.message_wait_seconds, 141);
        assert_eq!(m.max_backlog, 80);
    }

    #[test]
    fn drain_counts_from_the_last_peak_to_the_first_empty_second_after_it() {
        // Peaks of 5 at seconds 1 and 4; empty again at second 7.
        let m = measure(
            &run(1, &[1; 8], &[0.0, 5.0, 0.0, 3.0, 5.0, 2.0, 1.0, 0.0]),
            &[],
        );
        assert_eq!(m.drain_seconds, Some(3));
    }

    #[test]
    fn drain_is_zero_without_a_backlog_and_none_when_the_queue_never_empties() {
        assert_eq!(
            measure(&run(1, &[1; 2], &[0.0, 0.0]), &[]).drain_seconds,
            Some(0)
        );
        assert_eq!(
            measure(&run(1, &[1; 2], &[4.0, 3.0]), &[]).drain_seconds,
            None
        );
    }

    #[test]
    fn concurrency_seconds_add_up_the_reservation_held_each_second() {
        let m = measure(&run(0, &[10, 10, 20, 5], &[0.0; 4]), &[]);
        assert_eq!(m.concurrency_seconds, 45);
    }

    #[test]
    fn each_change_is_a_write_and_each_reversal_a_direction_change() {
        // From 2: up, up, (hold), down, up, up -> 5 writes, 2 reversals.
        let m = measure(&run(2, &[4, 6, 6, 3, 5, 8], &[0.0; 6]), &[]);
        assert_eq!(m.writes, 5);
        assert_eq!(m.direction_changes, 2);
        // A first change away from the start value is a write too; holding is none.
        assert_eq!(measure(&run(2, &[2, 2], &[0.0; 2]), &[]).writes, 0);
    }

    fn step(second: usize, need: u64) -> StepUp {
        StepUp { second, need }
    }

    #[test]
    fn reaction_is_the_seconds_from_a_step_to_the_first_second_its_need_is_held() {
        // Steps at seconds 2 (needing 10) and 6 (needing 30).
        let held = [5, 5, 5, 8, 10, 12, 12, 30, 30, 30];
        let m = measure(&run(5, &held, &[0.0; 10]), &[step(2, 10), step(6, 30)]);
        // 10 is first held at second 4 (2 s after 2), 30 at second 7 (1 s after 6).
        assert_eq!(m.reaction_seconds_max, Some(2));
        // The mean of 2 and 1, 1.5, rounds half up.
        assert_eq!(m.reaction_seconds_mean, Some(2));
        assert_eq!(m.reaction_not_covered, 0);
        // Already held at the step: 0.
        let m = measure(&run(50, &[50; 4], &[0.0; 4]), &[step(1, 40)]);
        assert_eq!(
            (m.reaction_seconds_mean, m.reaction_seconds_max),
            (Some(0), Some(0))
        );
    }

    #[test]
    fn a_step_not_covered_before_the_next_one_or_the_end_counts_apart() {
        // The first step's need of 20 is reached only after the second step began: not
        // covered; the second (need 15) is covered at once; the third (need 40) never is.
        let held = [5, 5, 10, 10, 20, 20, 20, 20];
        let steps = [step(1, 20), step(4, 15), step(6, 40)];
        let m = measure(&run(5, &held, &[0.0; 8]), &steps);
        assert_eq!(m.reaction_not_covered, 2);
        assert_eq!(
            (m.reaction_seconds_mean, m.reaction_seconds_max),
            (Some(0), Some(0))
        );
        // Nothing covered: no mean or max, and the count says why.
        let m = measure(&run(5, &[5; 4], &[0.0; 4]), &[step(1, 20)]);
        assert_eq!(
            (m.reaction_seconds_mean, m.reaction_seconds_max),
            (None, None)
        );
        assert_eq!(m.reaction_not_covered, 1);
    }

    #[test]
    fn without_steps_up_there_is_no_reaction() {
        let m = measure(&run(5, &[5; 4], &[0.0; 4]), &[]);
        assert_eq!(
            (
                m.reaction_seconds_mean,
                m.reaction_seconds_max,
                m.reaction_not_covered
            ),
            (None, None, 0)
        );
    }
}
