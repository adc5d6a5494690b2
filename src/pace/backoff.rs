//! How long the pacer waits before another attempt. Which failures are worth one is
//! [`crate::ports::AwsError::retryable`].

use std::time::Duration;

/// Exponential backoff with full jitter: attempt `n` (1-based, after the first failure)
/// waits a random time up to `base * 2^(n-1)`, never more than `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// Four attempts, waits of up to 0.1, 0.2 and 0.4 s: a throttled or conflicting call
    /// gets about 0.7 s to clear, little next to an invocation's deadline margin. (A
    /// throttled write waits a second more before each retry while its fence allows,
    /// [`super::THROTTLED_WAIT`].)
    pub const DEFAULT: Backoff = Backoff {
        max_attempts: 4,
        base: Duration::from_millis(100),
        cap: Duration::from_secs(2),
    };

    /// The wait before attempt `attempt + 1`, given a random fraction in [0, 1).
    pub fn delay(&self, attempt: u32, fraction: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.cap);
        ceiling.mul_f64(fraction.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_scales_it() {
        let b = Backoff {
            max_attempts: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(500),
        };
        assert_eq!(b.delay(1, 1.0), Duration::from_millis(100));
        assert_eq!(b.delay(2, 1.0), Duration::from_millis(200));
        assert_eq!(b.delay(3, 1.0), Duration::from_millis(400));
        assert_eq!(b.delay(4, 1.0), Duration::from_millis(500));
        assert_eq!(b.delay(40, 1.0), Duration::from_millis(500));
        assert_eq!(b.delay(3, 0.5), Duration::from_millis(200));
        assert_eq!(b.delay(3, 0.0), Duration::ZERO);
    }
}
