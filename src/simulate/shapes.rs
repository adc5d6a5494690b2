//! The built-in load traces. Each shape is a mean arrival rate per second; the messages that
//! actually arrive in a second are Poisson-distributed around it (independent senders), drawn
//! from `--seed`. docs/simulation.md shows each shape.

use super::random::Random;

/// A built-in trace shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Step,
    Spike,
    Diurnal,
    Sawtooth,
    Bursty,
}

/// The quiet rate that most shapes start from and return to, in messages per second.
const QUIET: f64 = 10.0;

impl Shape {
    pub const ALL: [Shape; 5] = [
        Shape::Step,
        Shape::Spike,
        Shape::Diurnal,
        Shape::Sawtooth,
        Shape::Bursty,
    ];

    pub fn parse(name: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Shape::Step => "step",
            Shape::Spike => "spike",
            Shape::Diurnal => "diurnal",
            Shape::Sawtooth => "sawtooth",
            Shape::Bursty => "bursty",
        }
    }

    /// One line for the table's header and the chart's caption.
    pub fn description(self) -> &'static str {
        match self {
            Shape::Step => "10 msg/s for 10 min, 100 msg/s for 40 min, 10 msg/s for 20 min",
            Shape::Spike => "10 msg/s, with 200 msg/s for 2 min at minute 20; 50 min",
            Shape::Diurnal => "one day: 5 msg/s at midnight rising smoothly to 100 msg/s at noon",
            Shape::Sawtooth => "six 10-min ramps from 10 to 100 msg/s, each dropping back at once",
            Shape::Bursty => {
                "20 msg/s with random bursts (one per 5 min on average, 10-60 s at 3-8x); 2 h"
            }
        }
    }

    /// The arrivals of each second, drawn with `seed`.
    pub fn arrivals(self, seed: u64) -> Vec<u64> {
        let mut random = Random::new(seed);
        let rates = self.rates(&mut random);
        rates.into_iter().map(|rate| random.poisson(rate)).collect()
    }

    /// The mean arrival rate of each second.
    fn rates(self, random: &mut Random) -> Vec<f64> {
        match self {
            Shape::Step => [(600, QUIET), (2400, 100.0), (1200, QUIET)]
                .into_iter()
                .flat_map(|(seconds, rate)| std::iter::repeat_n(rate, seconds))
                .collect(),
            Shape::Spike => [(1200, QUIET), (120, 200.0), (1680, QUIET)]
                .into_iter()
                .flat_map(|(seconds, rate)| std::iter::repeat_n(rate, seconds))
                .collect(),
            Shape::Diurnal => {
                const DAY: f64 = 86_400.0;
                (0..86_400)
                    .map(|t| {
                        let phase = std::f64::consts::TAU * f64::from(t) / DAY;
                        5.0 + 95.0 * (1.0 - phase.cos()) / 2.0
                    })
                    .collect()
            }
            Shape::Sawtooth => (0..3600)
                .map(|t| QUIET + 90.0 * f64::from(t % 600) / 599.0)
                .collect(),
            Shape::Bursty => bursty_rates(random),
        }
    }
}

/// 2 h at 20 msg/s. A burst starts in any quiet second with probability 1/300 (one every
/// 5 min on average), lasts 10 to 60 s and multiplies the rate by 3 to 8.
fn bursty_rates(random: &mut Random) -> Vec<f64> {
    const BASE: f64 = 20.0;
    let mut rates = Vec::with_capacity(7200);
    while rates.len() < 7200 {
        if random.unit() < 1.0 / 300.0 {
            let seconds = random.between(10.0, 61.0) as usize;
            let rate = BASE * random.between(3.0, 8.0);
            rates.extend(std::iter::repeat_n(rate, seconds));
        } else {
            rates.push(BASE);
        }
    }
    rates.truncate(7200);
    rates
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean(values: &[u64]) -> f64 {
        values.iter().sum::<u64>() as f64 / values.len() as f64
    }

    #[test]
    fn every_shape_is_named_by_its_own_name() {
        for shape in Shape::ALL {
            assert_eq!(Shape::parse(shape.name()), Some(shape));
        }
        assert_eq!(Shape::parse("ramp"), None);
    }

    #[test]
    fn a_shape_is_reproducible_from_its_seed_and_varies_with_it() {
        for shape in Shape::ALL {
            assert_eq!(shape.arrivals(3), shape.arrivals(3), "{}", shape.name());
            assert_ne!(shape.arrivals(3), shape.arrivals(4), "{}", shape.name());
        }
    }

    #[test]
    fn step_is_quiet_then_ten_times_busier_then_quiet_again() {
        let a = Shape::Step.arrivals(1);
        assert_eq!(a.len(), 4200);
        assert!((mean(&a[..600]) - 10.0).abs() < 1.0);
        assert!((mean(&a[600..3000]) - 100.0).abs() < 2.0);
        assert!((mean(&a[3000..]) - 10.0).abs() < 1.0);
    }

    #[test]
    fn spike_is_twenty_times_the_quiet_rate_for_two_minutes() {
        let a = Shape::Spike.arrivals(1);
        assert_eq!(a.len(), 3000);
        assert!((mean(&a[1200..1320]) - 200.0).abs() < 5.0);
        assert!((mean(&a[1320..]) - 10.0).abs() < 1.0);
    }

    #[test]
    fn diurnal_is_lowest_at_midnight_and_highest_at_noon() {
        let a = Shape::Diurnal.arrivals(1);
        assert_eq!(a.len(), 86_400);
        assert!(mean(&a[..600]) < 7.0);
        assert!((mean(&a[42_900..43_500]) - 100.0).abs() < 2.0);
    }

    #[test]
    fn sawtooth_ramps_up_six_times_and_drops_at_once() {
        let a = Shape::Sawtooth.arrivals(1);
        assert_eq!(a.len(), 3600);
        for tooth in 0..6 {
            let start = tooth * 600;
            assert!(
                mean(&a[start..start + 30]) < 20.0,
                "tooth {tooth} starts low"
            );
            assert!(
                mean(&a[start + 570..start + 600]) > 85.0,
                "tooth {tooth} ends high"
            );
        }
    }

    #[test]
    fn bursty_has_bursts_of_three_to_eight_times_the_base_rate() {
        let mut random = Random::new(1);
        let rates = bursty_rates(&mut random);
        assert_eq!(rates.len(), 7200);
        let burst_seconds = rates.iter().filter(|&&r| r > 20.0).count();
        assert!(
            burst_seconds > 300,
            "{burst_seconds} seconds of bursts in 2 h"
        );
        assert!(rates
            .iter()
            .all(|&r| r == 20.0 || (60.0..160.0).contains(&r)));
    }
}
