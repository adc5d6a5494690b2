//! How a drain-time target's (`target_wait_seconds`) scale-in window adapts to how its load
//! moved lately ([`LoadMemory`], saved with its history). Pure.
//!
//! **A drop beyond noise skips the scale-in window.** The window holds a decrease until no
//! higher recommendation is left in it, so that the estimate's noise does not write the
//! reservation down and up again. With Poisson arrivals the executions at work are themselves
//! Poisson-distributed (an M/G/∞ queue: mean λ·s, standard deviation √(λ·s)), so a drop of
//! more than [`DEVIATIONS`] standard deviations of the current reservation is the load
//! falling, not noise: waiting out the window then only holds idle executions (after a spike,
//! for the whole window). Loads that fall and rise again within minutes would then write
//! twice per burst, so a scale-out within [`UNDONE_WITHIN_SECONDS`] of such a drop marks it
//! undone, and for [`REMEMBERED_SECONDS`] after that every drop waits out the window again.
//!
//! A just-started history (nothing saved, or a saved state set aside) is seeded with the
//! current reservation and waits out the window whatever the drop ([`crate::decide`]).
//!
//! docs/policy.md "Drain-time target" and docs/simulation.md measure it.

use crate::state::LoadMemory;

/// Standard deviations of the executions at work beyond which a drop is not noise.
pub const DEVIATIONS: f64 = 3.0;
/// A scale-out this soon after a drop beyond noise undoes it.
pub const UNDONE_WITHIN_SECONDS: i64 = 600;
/// How long every drop waits out the window after a drop was undone.
pub const REMEMBERED_SECONDS: i64 = 3600;

/// The largest decrease from `current` that is still noise: [`DEVIATIONS`] × √current.
pub fn noise(current: i64) -> f64 {
    DEVIATIONS * (current.max(0) as f64).sqrt()
}

/// True when a change from `from` down to `to` is beyond noise.
pub fn beyond_noise(from: i64, to: i64) -> bool {
    (from - to) as f64 > noise(from)
}

/// A drop undone less than [`REMEMBERED_SECONDS`] ago, if any.
fn recently_undone(load: &LoadMemory, now: i64) -> Option<i64> {
    load.drop_undone_at
        .filter(|at| now - at < REMEMBERED_SECONDS)
}

/// Whether a decrease from `current` to `value` may skip the scale-in stabilization window,
/// and why (or why not); `None` when it is within noise, so the window holds it as ever.
pub fn skip_window(load: &LoadMemory, current: i64, value: i64, now: i64) -> Option<Skip> {
    if !beyond_noise(current, value) {
        return None;
    }
    let drop = current - value;
    let noise = noise(current);
    Some(match recently_undone(load, now) {
        None => Skip::Yes(format!(
            "a drop from {current} to {value} is beyond noise ({drop} > {DEVIATIONS} x \
             √{current} = {noise:.1}), and no such drop was undone in the last \
             {REMEMBERED_SECONDS} s: the load fell, so the scale-in stabilization window \
             does not hold it"
        )),
        Some(at) => Skip::No(format!(
            "a drop from {current} to {value} is beyond noise ({drop} > {DEVIATIONS} x \
             √{current} = {noise:.1}), but one was undone {} s ago: the scale-in \
             stabilization window holds drops for {REMEMBERED_SECONDS} s after that",
            now - at
        )),
    })
}

/// A decrease beyond noise: whether the window is skipped, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    Yes(String),
    No(String),
}

/// The load memory after an evaluation of a target reserved at `from` whose proposals,
/// stabilized, asked for `proposed` and which was set to `to` at `now`:
/// - the proposals asking for more is a scale-out (whatever a cap or the headroom let
///   through; not a bound's raise), which undoes a drop beyond noise less than
///   [`UNDONE_WITHIN_SECONDS`] before it;
/// - a decrease beyond noise that nothing took below the proposals (a cap, a max: they say
///   nothing of the load) is a drop.
pub fn after_change(load: LoadMemory, from: i64, proposed: i64, to: i64, now: i64) -> LoadMemory {
    if proposed > from {
        if load
            .drop_at
            .is_some_and(|at| now - at <= UNDONE_WITHIN_SECONDS)
        {
            return LoadMemory {
                drop_undone_at: Some(now),
                ..load
            };
        }
    } else if to < from && to >= proposed && beyond_noise(from, to) {
        return LoadMemory {
            drop_at: Some(now),
            ..load
        };
    }
    load
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drop_beyond_three_deviations_of_the_reservation_is_not_noise() {
        // 3 x √100 = 30.
        assert!(!beyond_noise(100, 70));
        assert!(beyond_noise(100, 69));
        // 3 x √16 = 12: a small reservation's noise is a large share of it.
        assert!(!beyond_noise(16, 4));
        assert!(beyond_noise(250, 15));
        assert!(!beyond_noise(10, 20));
    }

    #[test]
    fn a_drop_beyond_noise_skips_the_window_unless_one_was_undone_within_the_hour() {
        let fresh = LoadMemory::default();
        assert_eq!(skip_window(&fresh, 100, 80, 1000), None);
        assert!(matches!(
            skip_window(&fresh, 250, 20, 1000),
            Some(Skip::Yes(_))
        ));
        let undone = LoadMemory {
            drop_at: Some(400),
            drop_undone_at: Some(900),
        };
        assert!(matches!(
            skip_window(&undone, 250, 20, 1000),
            Some(Skip::No(_))
        ));
        assert!(matches!(
            skip_window(&undone, 250, 20, 900 + REMEMBERED_SECONDS),
            Some(Skip::Yes(_))
        ));
    }

    #[test]
    fn a_scale_out_the_proposals_ask_for_within_ten_minutes_of_a_drop_undoes_it() {
        let dropped = after_change(LoadMemory::default(), 250, 20, 20, 1000);
        assert_eq!(dropped.drop_at, Some(1000));
        assert_eq!(after_change(dropped, 20, 80, 80, 1000 + 601), dropped);
        let undone = after_change(dropped, 20, 80, 80, 1000 + 600);
        assert_eq!(undone.drop_undone_at, Some(1600));
        // Asked for, though the headroom let nothing through: the load rose all the same.
        assert_eq!(
            after_change(dropped, 20, 80, 20, 1600).drop_undone_at,
            Some(1600)
        );
        // A bound's raise (the proposals ask for no more) is no scale-out.
        assert_eq!(after_change(dropped, 20, 20, 120, 1600), dropped);
    }

    #[test]
    fn a_drop_counts_when_nothing_took_it_below_the_proposals() {
        // A drop within noise is not remembered.
        assert_eq!(
            after_change(LoadMemory::default(), 100, 80, 80, 1000),
            LoadMemory::default()
        );
        // A min that raises the proposal's 0 to 1: still the load falling.
        assert_eq!(
            after_change(LoadMemory::default(), 250, 0, 1, 1000).drop_at,
            Some(1000)
        );
        // A cap or a max that takes it lower than the proposals: not the load.
        assert_eq!(
            after_change(LoadMemory::default(), 250, 200, 5, 1000),
            LoadMemory::default()
        );
    }
}
