//! How a drain-time target's (`target_wait_seconds`) stability adapts to how its load moved
//! lately ([`LoadMemory`], saved with its history). Pure. Two rules:
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
//! **A calm target halves its tolerance.** The tolerance trades writes against idle
//! executions: the proposal aims the tolerance above the need, and decreases within it are
//! skipped. A target that has not scaled out for [`CALM_AFTER_SECONDS`] (and has no drop
//! undone within the hour) has a slow load, where a finer tolerance costs few writes, so it
//! tracks its need with half the tolerance. Its next scale-out makes it busy again.
//!
//! docs/policy.md "Drain-time target" and docs/simulation.md measure both.

use crate::policy::Stability;
use crate::state::LoadMemory;

/// Standard deviations of the executions at work beyond which a drop is not noise.
pub const DEVIATIONS: f64 = 3.0;
/// A scale-out this soon after a drop beyond noise undoes it.
pub const UNDONE_WITHIN_SECONDS: i64 = 600;
/// How long every drop waits out the window after a drop was undone.
pub const REMEMBERED_SECONDS: i64 = 3600;
/// A target that has not scaled out for this long is calm.
pub const CALM_AFTER_SECONDS: i64 = 900;

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
    })
}

/// A decrease beyond noise: whether the window is skipped, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    Yes(String),
    No(String),
}

/// The stability knobs a target with this load memory decides with at `now`: its own, or,
/// when it is calm, half its tolerances, with the reason.
pub fn calm(knobs: Stability, load: &LoadMemory, now: i64) -> Option<(Stability, String)> {
    let scaled_out = load.scale_out_at.map(|at| now - at);
    if scaled_out.is_some_and(|ago| ago < CALM_AFTER_SECONDS)
        || recently_undone(load, now).is_some()
        || knobs.tolerance == 0.0
    {
        return None;
    }
    let halved = Stability {
        tolerance: knobs.tolerance / 2.0,
        scale_out_tolerance: knobs.scale_out_tolerance.map(|t| t / 2.0),
        ..knobs
    };
    let since = match scaled_out {
        Some(ago) => format!("no scale-out for {ago} s"),
        None => "no scale-out remembered".to_owned(),
    };
    Some((
        halved,
        format!(
            "calm ({since}, at least {CALM_AFTER_SECONDS} s, and no drop undone within the \
             hour): tolerance {}, half of {}",
            halved.tolerance, knobs.tolerance
        ),
    ))
}

/// The load memory after a change from `from` to `to` at `now`: a scale-out is remembered,
/// and undoes a drop beyond noise less than [`UNDONE_WITHIN_SECONDS`] before it; a decrease
/// beyond noise is remembered when the proposals made it (`by_proposals`: not a cap's or a
/// bound's, which say nothing of the load).
pub fn after_change(
    load: LoadMemory,
    from: i64,
    to: i64,
    now: i64,
    by_proposals: bool,
) -> LoadMemory {
    if to > from {
        let undone = load
            .drop_at
            .is_some_and(|at| now - at <= UNDONE_WITHIN_SECONDS);
        return LoadMemory {
            scale_out_at: Some(now),
            drop_undone_at: if undone {
                Some(now)
            } else {
                load.drop_undone_at
            },
            ..load
        };
    }
    if to < from && by_proposals && beyond_noise(from, to) {
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
            scale_out_at: Some(900),
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
        let dropped = after_change(LoadMemory::default(), 250, 20, 1000, true);
        assert_eq!(dropped.drop_at, Some(1000));
        let late = after_change(dropped, 20, 80, 1000 + 601, true);
        assert_eq!((late.drop_undone_at, late.scale_out_at), (None, Some(1601)));
        let undone = after_change(dropped, 20, 80, 1000 + 600, true);
        assert_eq!(undone.drop_undone_at, Some(1600));
        // A drop within noise is not remembered, and a scale-out after it undoes nothing.
        let small = after_change(LoadMemory::default(), 100, 80, 1000, true);
        assert_eq!(small, LoadMemory::default());
        let out = after_change(small, 80, 100, 1010, true);
        assert_eq!((out.drop_at, out.drop_undone_at), (None, None));
        // Nor is a drop the proposals did not make (a cap's, a bound's).
        assert_eq!(
            after_change(LoadMemory::default(), 250, 20, 1000, false),
            LoadMemory::default()
        );
    }

    #[test]
    fn a_target_is_calm_fifteen_minutes_after_its_last_scale_out_and_halves_its_tolerance() {
        let knobs = Stability {
            tolerance: 0.3,
            ..Stability::OFF
        };
        let out = LoadMemory {
            scale_out_at: Some(1000),
            ..LoadMemory::default()
        };
        assert_eq!(calm(knobs, &out, 1000 + CALM_AFTER_SECONDS - 1), None);
        let (halved, why) = calm(knobs, &out, 1000 + CALM_AFTER_SECONDS).unwrap();
        assert_eq!(halved.tolerance, 0.15);
        assert!(why.contains("no scale-out for 900 s"), "{why}");
        // A drop undone within the hour keeps it busy; with no tolerance there is nothing to
        // halve.
        let undone = LoadMemory {
            drop_undone_at: Some(1000),
            ..LoadMemory::default()
        };
        assert_eq!(calm(knobs, &undone, 1000 + REMEMBERED_SECONDS - 1), None);
        assert!(calm(knobs, &undone, 1000 + REMEMBERED_SECONDS).is_some());
        assert_eq!(calm(Stability::OFF, &LoadMemory::default(), 0), None);
    }
}
