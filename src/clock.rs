//! The real clock: the system's wall clock for decisions, tokio's monotonic clock for pacing
//! and deadlines.

use crate::ports::Clock;
use async_trait::async_trait;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct SystemClock {
    start: tokio::time::Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            start: tokio::time::Instant::now(),
        }
    }
}

#[async_trait]
impl Clock for SystemClock {
    fn epoch_seconds(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    fn epoch_millis(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }

    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
