//! Seeded randomness for the built-in traces: the same seed gives the same trace on every
//! machine, so a documented command reproduces its numbers exactly.
//!
//! SplitMix64 (Steele, Lea and Flood, 2014) is a dozen lines, passes BigCrush and needs no
//! dependency; a trace generator needs nothing stronger.

/// A small, seedable pseudo-random generator.
#[derive(Debug, Clone)]
pub struct Random {
    state: u64,
}

impl Random {
    pub fn new(seed: u64) -> Random {
        Random { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits (all an f64 mantissa holds).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [low, high).
    pub fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// A Poisson-distributed count with mean `mean`: how many messages arrive in one second
    /// when they arrive independently at that rate.
    pub fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        if mean < 30.0 {
            // Knuth: count uniform draws until their product falls below e^-mean.
            let limit = (-mean).exp();
            let mut product = self.unit();
            let mut count = 0;
            while product > limit {
                count += 1;
                product *= self.unit();
            }
            return count;
        }
        // For larger means the normal approximation is within a fraction of a percent, and
        // Knuth's method would need `mean` draws per sample.
        let normal = self.standard_normal();
        (mean + mean.sqrt() * normal).round().max(0.0) as u64
    }

    /// Box-Muller: one standard normal deviate.
    pub fn standard_normal(&mut self) -> f64 {
        // 1 - unit() is in (0, 1], so the logarithm is finite.
        let radius = (-2.0 * (1.0 - self.unit()).ln()).sqrt();
        radius * (std::f64::consts::TAU * self.unit()).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sequence_and_another_seed_another() {
        let draw = |seed| {
            let mut r = Random::new(seed);
            (0..5).map(|_| r.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn unit_draws_stay_in_zero_to_one() {
        let mut r = Random::new(1);
        for _ in 0..10_000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u), "{u}");
        }
    }

    fn mean_and_variance(mean: f64) -> (f64, f64) {
        let mut r = Random::new(42);
        let n = 20_000;
        let samples: Vec<f64> = (0..n).map(|_| r.poisson(mean) as f64).collect();
        let m = samples.iter().sum::<f64>() / n as f64;
        let v = samples.iter().map(|s| (s - m).powi(2)).sum::<f64>() / n as f64;
        (m, v)
    }

    #[test]
    fn poisson_counts_have_the_requested_mean_and_variance_below_and_above_the_switch() {
        // A Poisson distribution's variance equals its mean; both regimes must honour that.
        for mean in [3.0, 100.0] {
            let (m, v) = mean_and_variance(mean);
            assert!((m - mean).abs() < mean * 0.03, "mean {m} for {mean}");
            assert!((v - mean).abs() < mean * 0.1, "variance {v} for {mean}");
        }
    }

    #[test]
    fn a_zero_rate_brings_no_messages() {
        let mut r = Random::new(1);
        assert_eq!(r.poisson(0.0), 0);
    }
}
