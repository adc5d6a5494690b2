//! A clock that only moves when told to, or when something sleeps on it.

use super::lock;
use crate::ports::Clock;
use async_trait::async_trait;
use std::sync::Mutex;
use std::time::Duration;

/// Virtual time: `sleep` returns at once and moves the clock forward, so pacing and
/// deadlines can be tested exactly and instantly. Concurrent sleepers move it to the latest
/// of their wake-up times.
pub struct ManualClock {
    start_epoch: i64,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    pub fn new(start_epoch: i64) -> ManualClock {
        ManualClock {
            start_epoch,
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves time forward (e.g. between two invocations).
    pub fn advance(&self, by: Duration) {
        *lock(&self.elapsed) += by;
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn epoch_seconds(&self) -> i64 {
        self.start_epoch + lock(&self.elapsed).as_secs() as i64
    }

    fn elapsed(&self) -> Duration {
        *lock(&self.elapsed)
    }

    async fn sleep(&self, duration: Duration) {
        let wake = self.elapsed() + duration;
        {
            let mut elapsed = lock(&self.elapsed);
            *elapsed = (*elapsed).max(wake);
        }
        // Let other tasks run, as a real sleep would.
        tokio::task::yield_now().await;
    }
}
