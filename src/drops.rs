//! Scale-ins beyond noise, for drain-time targets (`target_wait_seconds`). Pure.
//!
//! The scale-in stabilization window holds a decrease until no higher recommendation is left
//! in it, so that the noise of the estimate does not write the reservation down and up again.
//! With Poisson arrivals the executions at work are themselves Poisson-distributed (an
//! M/G/∞ queue: mean λ·s, standard deviation √(λ·s)), so a drop of more than
//! [`DEVIATIONS`] standard deviations of the current reservation is the load falling, not
//! noise: waiting out the window then only holds idle executions (after a spike, for the
//! whole window).
//!
//! Loads that fall and rise again within minutes (bursts every few minutes) would then write
//! twice per burst. So a scale-out within [`UNDONE_WITHIN_SECONDS`] of such a drop marks it
//! undone, and for [`REMEMBERED_SECONDS`] after that every drop waits out the window again.
//!
//! docs/policy.md "Drain-time target" and docs/simulation.md measure it.

use crate::state::Drops;

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

/// Whether a decrease from `current` to `value` may skip the scale-in stabilization window,
/// and why (or why not); `None` when it is within noise, so the window holds it as ever.
pub fn skip_window(drops: &Drops, current: i64, value: i64, now: i64) -> Option<Skip> {
    if !beyond_noise(current, value) {
        return None;
    }
    let drop = current - value;
    let noise = noise(current);
    Some(
        match drops.undone_at.filter(|at| now - at < REMEMBERED_SECONDS) {
            None => Skip::Yes(format!(
                "a drop of {drop} from {current} is beyond noise ({DEVIATIONS} x √{current} = \
                 {noise:.1}), and no such drop was undone in the last {REMEMBERED_SECONDS} s: \
                 the load fell, so the scale-in stabilization window does not hold it"
            )),
            Some(at) => Skip::No(format!(
                "a drop of {drop} from {current} is beyond noise ({DEVIATIONS} x √{current} = \
                 {noise:.1}), but one was undone {} s ago: the scale-in stabilization window \
                 holds drops for {REMEMBERED_SECONDS} s after that",
                now - at
            )),
        },
    )
}

/// A decrease beyond noise: whether the window is skipped, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    Yes(String),
    No(String),
}

/// The drops after a change from `from` to `to` at `now`: a decrease beyond noise is
/// remembered when the proposals made it (`by_proposals`), and any scale-out soon after one
/// marks it undone.
pub fn after_change(drops: Drops, from: i64, to: i64, now: i64, by_proposals: bool) -> Drops {
    if to < from {
        if by_proposals && beyond_noise(from, to) {
            return Drops {
                last_at: Some(now),
                ..drops
            };
        }
    } else if to > from
        && drops
            .last_at
            .is_some_and(|at| now - at <= UNDONE_WITHIN_SECONDS)
    {
        return Drops {
            undone_at: Some(now),
            ..drops
        };
    }
    drops
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
        let fresh = Drops::default();
        assert_eq!(skip_window(&fresh, 100, 80, 1000), None);
        assert!(matches!(
            skip_window(&fresh, 250, 20, 1000),
            Some(Skip::Yes(_))
        ));
        let undone = Drops {
            last_at: Some(400),
            undone_at: Some(900),
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
    fn a_scale_out_within_ten_minutes_of_a_drop_beyond_noise_undoes_it() {
        let dropped = after_change(Drops::default(), 250, 20, 1000, true);
        assert_eq!(dropped.last_at, Some(1000));
        assert_eq!(after_change(dropped, 20, 80, 1000 + 601, true), dropped);
        let undone = after_change(dropped, 20, 80, 1000 + 600, true);
        assert_eq!(undone.undone_at, Some(1600));
        // A drop within noise is not remembered, and a scale-out after it undoes nothing.
        let small = after_change(Drops::default(), 100, 80, 1000, true);
        assert_eq!(small, Drops::default());
        assert_eq!(after_change(small, 80, 100, 1010, true), Drops::default());
        // Nor is a drop the proposals did not make (a cap's, a bound's).
        assert_eq!(
            after_change(Drops::default(), 250, 20, 1000, false),
            Drops::default()
        );
    }
}
