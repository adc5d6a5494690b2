//! The invocation's deadline, on the clock's monotonic scale.
//!
//! A level-triggered reconciler can stop early: what it does not start before the deadline,
//! the next scheduled run continues. So work starts only while it can finish with a margin
//! to spare for reporting and returning.

use crate::ports::Clock;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// When the invocation ends, as `Clock::elapsed` counts.
    at: Duration,
    /// Kept free before `at` to report and return.
    margin: Duration,
}

impl Deadline {
    /// A deadline `remaining` from now.
    pub fn after(clock: &dyn Clock, remaining: Duration, margin: Duration) -> Deadline {
        Deadline {
            at: clock.elapsed() + remaining,
            margin,
        }
    }

    /// Time left before the deadline.
    pub fn left(&self, clock: &dyn Clock) -> Duration {
        self.at.saturating_sub(clock.elapsed())
    }

    /// Whether work that takes `need` can start now and end before the margin.
    pub fn allows(&self, clock: &dyn Clock, need: Duration) -> bool {
        clock.elapsed() + need + self.margin <= self.at
    }

    pub fn margin(&self) -> Duration {
        self.margin
    }

    /// The latest a call that takes `need` may start, on the clock's monotonic scale.
    pub fn latest_start(&self, need: Duration) -> Duration {
        self.at.saturating_sub(self.margin + need)
    }
}
