//! Progress on stderr for runs long enough to be waited for: silent for the first second,
//! then at most one line a second.

use std::time::{Duration, Instant};

const QUIET_FOR: Duration = Duration::from_secs(1);

/// Decides when to say how far the simulation is; the caller prints.
#[derive(Debug, Clone)]
pub struct Progress {
    started: Instant,
    last_said: Option<Instant>,
    total: usize,
}

impl Progress {
    /// `total`: the simulated seconds of every algorithm together.
    pub fn new(total: usize, started: Instant) -> Progress {
        Progress {
            started,
            last_said: None,
            total: total.max(1),
        }
    }

    /// The line to print now that `done` seconds are simulated, if it is time for one.
    pub fn update(&mut self, done: usize, now: Instant, what: &str) -> Option<String> {
        let since = self.last_said.unwrap_or(self.started);
        if now.duration_since(since) < QUIET_FOR {
            return None;
        }
        self.last_said = Some(now);
        let percent = done.min(self.total) * 100 / self.total;
        Some(format!("simulating: {percent} % ({what})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_said_in_the_first_second_then_at_most_once_a_second() {
        let start = Instant::now();
        let mut progress = Progress::new(1000, start);
        let at = |ms| start + Duration::from_millis(ms);
        assert_eq!(progress.update(100, at(500), "policy"), None);
        assert_eq!(
            progress.update(250, at(1000), "hpa").as_deref(),
            Some("simulating: 25 % (hpa)")
        );
        assert_eq!(progress.update(300, at(1500), "hpa"), None);
        assert_eq!(
            progress.update(999, at(2000), "step").as_deref(),
            Some("simulating: 99 % (step)")
        );
    }
}
