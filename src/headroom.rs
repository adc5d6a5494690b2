//! The account's headroom: how much of the unreserved pool the plan's scale-outs may take.
//!
//! `PutFunctionConcurrency` fails when the account's unreserved pool would drop below its
//! floor (100 on most accounts, 50 or 10 on new ones). So the plan reads
//! `GetAccountSettings` once and gives all its scale-outs one shared budget, the unreserved
//! pool minus the floor, spent in priority order: no target assumes the whole headroom.
//! Pure: the writer ([`crate::apply`]) does the I/O.

use crate::decide::Headroom;
use std::sync::atomic::{AtomicU32, Ordering};

/// The floor most accounts have; assumed until Lambda says otherwise.
pub const DEFAULT_FLOOR: u32 = 100;

/// The floor as this process last learned it (from an error message), shared by every
/// invocation of a warm Lambda.
#[derive(Debug)]
pub struct LearnedFloor(AtomicU32);

impl Default for LearnedFloor {
    fn default() -> Self {
        LearnedFloor(AtomicU32::new(DEFAULT_FLOOR))
    }
}

impl LearnedFloor {
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, floor: u32) {
        self.0.store(floor, Ordering::Relaxed);
    }
}

/// The floor Lambda names in its refusal ("... below its minimum value of [100]."), if the
/// message is that refusal.
pub fn floor_from_error(message: &str) -> Option<u32> {
    let rest = message
        .split("UnreservedConcurrentExecution below its minimum value of [")
        .nth(1)?;
    rest.split(']').next()?.trim().parse().ok()
}

/// One invocation's headroom budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// `UnreservedConcurrentExecutions` when it was read.
    unreserved: u32,
    floor: u32,
    /// Taken by this invocation's scale-outs (and new reservations) so far.
    spent: u64,
    /// Given back by this invocation's decreases so far.
    freed: u64,
}

impl Budget {
    pub fn new(unreserved: u32, floor: u32) -> Budget {
        Budget {
            unreserved,
            floor,
            spent: 0,
            freed: 0,
        }
    }

    /// What scale-outs may still take.
    pub fn available(&self) -> u32 {
        let pool = u64::from(self.unreserved) + self.freed;
        let left = pool.saturating_sub(u64::from(self.floor) + self.spent);
        u32::try_from(left).unwrap_or(u32::MAX)
    }

    /// What the next scale-out may take, for the decision core.
    pub fn headroom(&self) -> Headroom {
        Headroom {
            available: self.available(),
            unreserved: self.unreserved,
            floor: self.floor,
        }
    }

    /// Records `n` taken from the pool (a scale-out's increase, or a new reservation).
    pub fn spend(&mut self, n: u32) {
        self.spent += u64::from(n);
    }

    /// Records `n` given back to the pool (a decrease).
    pub fn free(&mut self, n: u32) {
        self.freed += u64::from(n);
    }
}

/// What each scale-out gets, in priority order, from `available`: each takes what it asks
/// while the budget lasts. (The writer does the same one decision at a time.)
pub fn allot(available: u32, asks: &[u32]) -> Vec<u32> {
    let mut budget = Budget::new(available, 0);
    asks.iter()
        .map(|&ask| {
            let granted = ask.min(budget.available());
            budget.spend(granted);
            granted
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_floor_is_read_from_lambdas_refusal() {
        let message = "Specified ReservedConcurrentExecutions for function decreases account's \
                       UnreservedConcurrentExecution below its minimum value of [50].";
        assert_eq!(floor_from_error(message), Some(50));
        assert_eq!(floor_from_error("Rate exceeded"), None);
        assert_eq!(floor_from_error("below its minimum value of [many]."), None);
    }

    #[test]
    fn the_budget_is_the_pool_above_the_floor_less_what_was_taken_plus_what_was_freed() {
        let mut b = Budget::new(400, 100);
        assert_eq!(b.available(), 300);
        b.spend(250);
        assert_eq!(b.available(), 50);
        b.free(30);
        assert_eq!(b.available(), 80);
        b.spend(500);
        assert_eq!(b.available(), 0);
        assert_eq!(Budget::new(60, 100).available(), 0);
    }

    proptest! {
        /// The headroom is never overspent, and it is spent in priority order: a scale-out
        /// gets anything only if every earlier one got all it asked.
        #[test]
        fn allotments_never_overspend_and_follow_priority_order(
            available in 0u32..2000,
            asks in proptest::collection::vec(0u32..500, 0..40),
        ) {
            let granted = allot(available, &asks);
            prop_assert!(granted.iter().map(|&g| u64::from(g)).sum::<u64>() <= u64::from(available));
            for (i, (&g, &ask)) in granted.iter().zip(&asks).enumerate() {
                prop_assert!(g <= ask);
                if g > 0 {
                    prop_assert!(granted[..i].iter().zip(&asks[..i]).all(|(g, a)| g == a), "{:?} {:?}", asks, granted);
                }
            }
            // Nothing is left unspent while a scale-out still wanted more.
            let total: u64 = granted.iter().map(|&g| u64::from(g)).sum();
            if granted.iter().zip(&asks).any(|(g, a)| g < a) {
                prop_assert_eq!(total, u64::from(available));
            }
        }
    }
}
