//! The steps up in a trace's load, for the `reaction` measure (docs/simulation.md,
//! "Metrics"). They are found from the arrivals alone, so CSV traces have them too, by
//! comparing means over half-minutes and minutes, which Poisson noise barely moves.
//!
//! Second *t* shows a step up when the mean arrivals of the minute from *t* on, [t, t+60),
//! are at least 1.5 times the load before *t*, and at least 10 messages a second above it.
//! The load before *t* is the larger of two means:
//! - the last five minutes, [t-300, t) (fewer at the trace's start): the step must leave the
//!   settled load, so a return to it after a short dip is no step up;
//! - the last half-minute, [t-30, t): the step must be abrupt. On a ramp the half-minute
//!   before *t* is already close to the minute after it, so a gradual rise is no step up
//!   however far it goes: a linear ramp counts only when it rises by more than about 13
//!   messages a second per minute (10 over the 45 s between the windows' middles), and the
//!   `sawtooth` shape's ramps rise by 9.
//!
//! A step shows for up to a minute before it, as soon as the minute from *t* holds enough of
//! the new load, so the step is put at the second of that minute where the arrivals rise most
//! sharply (the next 10 s against the last 10 s): a clean step's or a burst's first second.
//! One rise is one step: the next is looked for from 120 s after it. A step needs a minute of
//! the trace after it, to tell its new load.

use super::model::Consumer;

/// The new load: the mean of the minute from the candidate second on.
pub const AFTER_SECONDS: usize = 60;
/// The recent load: the mean of the half-minute before the candidate second.
pub const RECENT_SECONDS: usize = 30;
/// The settled load: the mean of the five minutes before it (fewer at the trace's start).
pub const SETTLED_SECONDS: usize = 300;
/// The new load is at least this many times the load before...
pub const MIN_RATIO: f64 = 1.5;
/// ...and at least this many messages a second above it.
pub const MIN_RISE: f64 = 10.0;
/// After a step, the next one is looked for this many seconds later.
pub const QUIET_SECONDS: usize = 120;
/// Where a step is: the second whose next this many seconds rise most above its last.
pub const EDGE_SECONDS: usize = 10;

/// A step up in the load, and the reservation that its new load needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StepUp {
    /// Seconds since the trace began.
    pub second: usize,
    /// What the mean arrivals of the minute from `second` on need, ceil(mean x service
    /// seconds), at most the target's max: a reservation of this covers the step.
    pub need: u64,
}

/// The seconds at which `arrivals` step up (the module's comment defines them), in order.
fn seconds_up(arrivals: &[u64]) -> Vec<usize> {
    let means = Means::new(arrivals);
    let Some(last) = arrivals.len().checked_sub(AFTER_SECONDS) else {
        return Vec::new();
    };
    // Whether the minute from `t` on is a step up from the load before `t`.
    let shows_step = |t: usize| {
        let after = means.of(t, t + AFTER_SECONDS);
        let before = means
            .of(t - RECENT_SECONDS, t)
            .max(means.of(t.saturating_sub(SETTLED_SECONDS), t));
        after >= MIN_RATIO * before && after - before >= MIN_RISE
    };
    // How sharply the load rises at `u`: the next EDGE_SECONDS against the last.
    let edge = |u: usize| means.of(u, u + EDGE_SECONDS) - means.of(u - EDGE_SECONDS, u);
    let mut steps = Vec::new();
    let mut t = RECENT_SECONDS;
    while t <= last {
        if !shows_step(t) {
            t += 1;
            continue;
        }
        // The step is within the minute from `t`, at its sharpest rise; the earliest of
        // equals.
        let mut step = t;
        for u in t + 1..=(t + AFTER_SECONDS - 1).min(arrivals.len() - EDGE_SECONDS) {
            if edge(u) > edge(step) {
                step = u;
            }
        }
        if step > last {
            // Less than a minute of the trace is left after it: too little to tell its load.
            break;
        }
        steps.push(step);
        t = step + QUIET_SECONDS;
    }
    steps
}

/// The steps up in `arrivals`, each with the reservation its new load needs with
/// `service_seconds` per message, at most `max`.
pub fn steps_up(arrivals: &[u64], service_seconds: f64, max: u32) -> Vec<StepUp> {
    let means = Means::new(arrivals);
    let consumer = Consumer::new(service_seconds);
    seconds_up(arrivals)
        .into_iter()
        .map(|second| StepUp {
            second,
            need: consumer
                .reservation_for(means.of(second, second + AFTER_SECONDS))
                .min(u64::from(max)),
        })
        .collect()
}

/// Mean arrivals over ranges of seconds, from prefix sums.
struct Means(Vec<u64>);

impl Means {
    fn new(arrivals: &[u64]) -> Means {
        let mut sums = Vec::with_capacity(arrivals.len() + 1);
        sums.push(0);
        let mut total = 0;
        for &a in arrivals {
            // Saturating: a CSV trace's counts are not bounded; no panic for absurd ones.
            total = u64::saturating_add(total, a);
            sums.push(total);
        }
        Means(sums)
    }

    /// The mean of seconds [from, to); `from < to <= arrivals.len()`.
    fn of(&self, from: usize, to: usize) -> f64 {
        (self.0[to] - self.0[from]) as f64 / (to - from) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::random::Random;
    use crate::simulate::shapes::Shape;

    /// Poisson arrivals around `rates`, drawn with `seed`.
    fn noisy(rates: &[f64], seed: u64) -> Vec<u64> {
        let mut random = Random::new(seed);
        rates.iter().map(|&rate| random.poisson(rate)).collect()
    }

    /// `seconds` seconds at each rate in turn.
    fn pieces(parts: &[(usize, f64)]) -> Vec<f64> {
        parts
            .iter()
            .flat_map(|&(seconds, rate)| std::iter::repeat_n(rate, seconds))
            .collect()
    }

    fn seconds(arrivals: &[u64]) -> Vec<usize> {
        steps_up(arrivals, 1.0, u32::MAX)
            .iter()
            .map(|s| s.second)
            .collect()
    }

    #[test]
    fn a_steady_noisy_load_has_no_step_up() {
        for rate in [1.0, 5.0, 20.0, 200.0, 2000.0] {
            for seed in 1..=5 {
                let arrivals = noisy(&vec![rate; 7200], seed);
                assert_eq!(
                    seconds(&arrivals),
                    [] as [usize; 0],
                    "rate {rate} seed {seed}"
                );
            }
        }
    }

    #[test]
    fn a_noisy_step_is_found_at_its_first_second_with_the_need_of_its_new_load() {
        let rates = pieces(&[(600, 10.0), (1800, 100.0)]);
        for seed in 1..=20 {
            let steps = steps_up(&noisy(&rates, seed), 1.0, 1000);
            assert_eq!(steps.len(), 1, "seed {seed}: {steps:?}");
            assert!(steps[0].second.abs_diff(600) <= 2, "seed {seed}: {steps:?}");
            // ceil of a minute's mean of Poisson(100): within a few of 100.
            assert!(steps[0].need.abs_diff(100) <= 5, "seed {seed}: {steps:?}");
        }
        // Without noise, exactly there.
        let clean: Vec<u64> = rates.iter().map(|&r| r as u64).collect();
        assert_eq!(
            steps_up(&clean, 1.0, 1000),
            [StepUp {
                second: 600,
                need: 100
            }]
        );
    }

    #[test]
    fn the_need_is_the_new_minutes_mean_times_the_service_time_within_the_max() {
        let arrivals: Vec<u64> = pieces(&[(600, 10.0), (600, 100.0)])
            .iter()
            .map(|&r| r as u64)
            .collect();
        assert_eq!(steps_up(&arrivals, 2.0, 1000)[0].need, 200);
        assert_eq!(steps_up(&arrivals, 0.5, 1000)[0].need, 50);
        assert_eq!(steps_up(&arrivals, 1.0, 80)[0].need, 80);
    }

    #[test]
    fn falls_slow_ramps_and_a_return_after_a_dip_are_no_steps_up() {
        // A step down.
        let down = noisy(&pieces(&[(600, 100.0), (600, 10.0)]), 1);
        assert!(seconds(&down).is_empty());
        // Sawtooth-like ramps from 10 to 100 over 10 minutes, dropping back at once.
        let ramps: Vec<f64> = (0..3600)
            .map(|t| 10.0 + 90.0 * f64::from(t % 600) / 599.0)
            .collect();
        for seed in 1..=10 {
            assert!(seconds(&noisy(&ramps, seed)).is_empty(), "seed {seed}");
        }
        // A minute without messages in a steady 100 a second: the return is no step up.
        let dip = noisy(&pieces(&[(900, 100.0), (60, 0.0), (900, 100.0)]), 1);
        assert!(seconds(&dip).is_empty());
    }

    #[test]
    fn a_fast_ramp_is_a_step_up() {
        // From 10 to 100 within one minute.
        let rates: Vec<f64> = (0..1800)
            .map(|t: u32| 10.0 + 90.0 * f64::from(t.saturating_sub(600).min(60)) / 60.0)
            .collect();
        let found = seconds(&noisy(&rates, 1));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!((590..=660).contains(&found[0]), "{found:?}");
    }

    #[test]
    fn a_burst_counts_when_it_lifts_its_minute_by_half_and_by_ten_a_second() {
        // On 20 a second, 10 s at 6 times (+16.7 on the minute's mean) count, 10 s at 3
        // times (+6.7) do not.
        let base = |burst: f64| pieces(&[(900, 20.0), (10, burst), (900, 20.0)]);
        for seed in 1..=5 {
            let found = seconds(&noisy(&base(120.0), seed));
            assert_eq!(found.len(), 1, "seed {seed}: {found:?}");
            assert!(found[0].abs_diff(900) <= 1, "seed {seed}: {found:?}");
            assert!(seconds(&noisy(&base(60.0), seed)).is_empty(), "seed {seed}");
        }
    }

    #[test]
    fn one_rise_is_one_step_and_the_next_counts_from_two_minutes_later() {
        let clean = |parts: &[(usize, f64)]| -> Vec<u64> {
            pieces(parts).iter().map(|&r| r as u64).collect()
        };
        // 10 -> 50 -> 150, a minute apart: one step, at the first.
        let close = clean(&[(600, 10.0), (60, 50.0), (900, 150.0)]);
        assert_eq!(seconds(&close), [600]);
        // Three minutes apart: two.
        let apart = clean(&[(600, 10.0), (180, 50.0), (900, 150.0)]);
        assert_eq!(seconds(&apart), [600, 780]);
    }

    #[test]
    fn a_step_needs_a_minute_of_trace_after_it_and_short_traces_have_none() {
        let clean = |parts: &[(usize, f64)]| -> Vec<u64> {
            pieces(parts).iter().map(|&r| r as u64).collect()
        };
        assert_eq!(seconds(&clean(&[(600, 10.0), (60, 100.0)])), [600]);
        assert!(seconds(&clean(&[(600, 10.0), (59, 100.0)])).is_empty());
        assert!(seconds(&clean(&[(40, 10.0), (40, 100.0)])).is_empty());
        assert!(seconds(&[]).is_empty());
    }

    #[test]
    fn the_built_in_shapes_step_up_where_they_are_drawn_to() {
        for seed in 1..=3 {
            let found = |shape: Shape| seconds(&shape.arrivals(seed));
            assert_eq!(found(Shape::Step), [600], "seed {seed}");
            assert_eq!(found(Shape::Spike), [1200], "seed {seed}");
            assert!(found(Shape::Diurnal).is_empty(), "seed {seed}");
            assert!(found(Shape::Sawtooth).is_empty(), "seed {seed}");
        }
        // Bursty, seed 1: each is the first second of one of its bursts (checked against
        // the shape's rates when written). Of its 22 bursts, the other 7 came within 120 s
        // of a step, or on a load that five minutes of bursts had raised, or were too small
        // (10 s at 3.3 times).
        assert_eq!(
            seconds(&Shape::Bursty.arrivals(1)),
            [
                98, 426, 787, 1742, 2035, 2235, 3156, 3287, 3660, 4112, 6042, 6236, 6575, 6843,
                7037
            ]
        );
    }
}
