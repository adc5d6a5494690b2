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
//! twice per burst, so proposals that rise above the drop's level within
//! [`UNDONE_WITHIN_SECONDS`] of it mark it undone ([`after_change`]), and for
//! [`REMEMBERED_SECONDS`] after that every drop waits out the window again.
//!
//! A just-started history (nothing saved, or a saved state set aside) is seeded with the
//! current reservation and waits out the window whatever the drop ([`crate::decide`]).
//!
//! docs/policy.md "Drain-time target" and docs/simulation.md measure it.

use crate::state::{LastSet, LoadMemory};

/// Standard deviations of the executions at work beyond which a drop is not noise.
pub const DEVIATIONS: f64 = 3.0;
/// Proposals rising this soon after a drop beyond noise undo it.
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
    let beyond = format!(
        "a drop from {current} to {value} is beyond noise ({} > {DEVIATIONS} x √{current} = \
         {:.1})",
        current - value,
        noise(current)
    );
    Some(match recently_undone(load, now) {
        None => Skip::Yes(format!(
            "{beyond}, and no such drop was undone in the last {REMEMBERED_SECONDS} s: the \
             load fell, so the scale-in stabilization window does not hold it"
        )),
        Some(at) => Skip::No(format!(
            "{beyond}, but one was undone {} s ago: the scale-in stabilization window holds \
             drops for {REMEMBERED_SECONDS} s after that",
            // A time from a clock a little ahead of this one is now.
            (now - at).max(0)
        )),
    })
}

/// A decrease beyond noise: whether the window is skipped, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    Yes(String),
    No(String),
}

/// One evaluation of a drain-time target, as its load memory reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// The reservation before it.
    pub from: i64,
    /// The largest proposal, before tolerance, cooldowns and the window; `None` when the
    /// proposals say nothing of the load (its metrics were not read, or a direct command
    /// replaced them).
    pub asked: Option<i64>,
    /// The queue's own proposal among them (the load's: not an alarm action's, which may
    /// count from the reservation in place).
    pub queue_asked: Option<i64>,
    /// The target's tolerance of an increase.
    pub tolerance: f64,
    /// The proposals' value once stabilized, before caps and bounds.
    pub proposed: i64,
    /// What it set.
    pub to: i64,
    /// A cap lowered it.
    pub capped: bool,
    /// It is the min, which a queue below its activation proposes and nothing else asks
    /// above: the bound's value, not the load's.
    pub at_min: bool,
}

/// The load memory after `evaluation` at `now`:
/// - the proposals asking for more than the drop left (or than the reservation, if higher),
///   beyond the tolerance, is the load rising, whatever a cooldown, a cap or the headroom let
///   through; less than [`UNDONE_WITHIN_SECONDS`] after a drop beyond noise it undoes the drop,
///   once. A reservation that a cap, a direct command or a bound moved back to where the drop
///   left it is not a rise;
/// - a decrease beyond noise from the proposals' own reservation
///   ([`LoadMemory::last_set`]), that nothing took below them (a cap, a max: they say
///   nothing of the load), is a drop. Leaving a reservation that a direct command,
///   `on_metric_failure`, a cap, a bound or the mappings' floor set, step by step or at
///   once, is none.
pub fn after_change(load: LoadMemory, evaluation: &Evaluation, now: i64) -> LoadMemory {
    let Evaluation {
        from,
        asked,
        tolerance,
        proposed,
        to,
        ..
    } = *evaluation;
    let theirs = proposals_own(&load, from);
    let mut after = load;
    if to != from {
        after.last_set = last_set_after(evaluation, theirs);
    }
    let Some(asked) = asked else {
        return after;
    };
    let level = load.drop_to.map_or(from, |left| from.max(i64::from(left)));
    let rises = asked > level && (asked - level) as f64 >= tolerance * level as f64;
    if rises {
        let undoes = load.drop_at.is_some_and(|at| {
            now - at <= UNDONE_WITHIN_SECONDS && load.drop_undone_at.is_none_or(|u| u < at)
        });
        if undoes {
            after.drop_undone_at = Some(now);
        }
    } else if to < from && to >= proposed && theirs && beyond_noise(from, to) {
        after.drop_at = Some(now);
        after.drop_to = u32::try_from(to).ok();
    }
    after
}

/// The load memory after a function's first reservation: only who set it.
pub fn after_first(load: LoadMemory, evaluation: &Evaluation) -> LoadMemory {
    LoadMemory {
        last_set: last_set_after(evaluation, true),
        ..load
    }
}

/// Whether the reservation `from` is the proposals' own: the last one set, and set by them.
/// Unknown (an item of an earlier build, a history just started) counts as theirs, as it
/// did before this was kept; a reservation other than the last one set (its write failed,
/// or something outside changed it) does not.
fn proposals_own(load: &LoadMemory, from: i64) -> bool {
    load.last_set
        .is_none_or(|set| set.by_proposals && i64::from(set.value) == from)
}

/// The record of what `evaluation` set; `theirs`: the reservation it left was the
/// proposals'. They own what they raise it to, what they step down to from their own, and
/// what a descent from another's lands on when it reaches what the queue asks for; a descent
/// held above that (by a step limit, the window or an alarm's action) stays another's.
/// Saved before the write lands: if it fails, the reservation left in place is not the one
/// recorded, and is no one's until the next change.
fn last_set_after(evaluation: &Evaluation, theirs: bool) -> Option<LastSet> {
    let Evaluation {
        from,
        to,
        queue_asked,
        ..
    } = *evaluation;
    // A descent that reaches what the queue asks for (no step limit, window or alarm action
    // holding it above) lands on the load's own value.
    let landed = queue_asked.is_some_and(|asked| to <= asked);
    let by_proposals = set_by_proposals(evaluation) && (to > from || theirs || landed);
    u32::try_from(to).ok().map(|value| LastSet {
        value,
        by_proposals,
    })
}

/// Whether what `evaluation` set is the proposals' doing: theirs (the load's, not a direct
/// command's or `on_metric_failure`'s), no cap lowered it, and no bound or floor raised it:
/// above what was stabilized, on a rise above what they asked for, or to the min that a
/// queue below its activation proposes (it asks for nothing).
fn set_by_proposals(evaluation: &Evaluation) -> bool {
    let Evaluation {
        from,
        asked,
        proposed,
        to,
        capped,
        at_min,
        ..
    } = *evaluation;
    asked.is_some_and(|asked| to <= from || to <= asked) && !capped && !at_min && to <= proposed
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
            drop_to: Some(20),
            drop_undone_at: Some(900),
            last_set: None,
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

    /// An evaluation from `from` whose proposals asked for `asked` (tolerance 0.3), which
    /// stabilized to `proposed` and set `to`.
    fn evaluation(from: i64, asked: i64, proposed: i64, to: i64) -> Evaluation {
        Evaluation {
            from,
            asked: Some(asked),
            queue_asked: Some(asked),
            tolerance: 0.3,
            proposed,
            to,
            capped: false,
            at_min: false,
        }
    }

    /// The drop's time and level, the undo's time and the reservation last set (with
    /// whether the proposals set it).
    type Memory = (Option<i64>, Option<u32>, Option<i64>, Option<(u32, bool)>);

    /// The [`Memory`] of `load`.
    fn memory(load: LoadMemory) -> Memory {
        let set = load.last_set.map(|s| (s.value, s.by_proposals));
        (load.drop_at, load.drop_to, load.drop_undone_at, set)
    }

    fn set(value: u32, by_proposals: bool) -> Option<LastSet> {
        Some(LastSet {
            value,
            by_proposals,
        })
    }

    #[test]
    fn a_scale_out_the_proposals_ask_for_within_ten_minutes_of_a_drop_undoes_it_once() {
        let dropped = after_change(LoadMemory::default(), &evaluation(250, 20, 20, 20), 1000);
        assert_eq!(
            memory(dropped),
            (Some(1000), Some(20), None, Some((20, true)))
        );
        let too_late = after_change(dropped, &evaluation(20, 80, 80, 80), 1000 + 601);
        assert_eq!(
            memory(too_late),
            (Some(1000), Some(20), None, Some((80, true)))
        );
        let undone = after_change(dropped, &evaluation(20, 80, 80, 80), 1000 + 600);
        assert_eq!(undone.drop_undone_at, Some(1600));
        // Asked for, though a cooldown or the headroom let nothing through: the load rose
        // all the same.
        assert_eq!(
            after_change(dropped, &evaluation(20, 80, 20, 20), 1600).drop_undone_at,
            Some(1600)
        );
        // Once undone, a reservation held below the proposals (at its max, say) changes
        // nothing more, so nothing is saved for it at every evaluation.
        assert_eq!(
            after_change(undone, &evaluation(20, 80, 20, 20), 1590),
            undone
        );
        // Within the tolerance of the drop's level: no rise.
        assert_eq!(
            after_change(dropped, &evaluation(20, 25, 20, 20), 1600),
            dropped
        );
        // A bound's raise (the proposals ask for no more) is no rise, and not theirs.
        assert_eq!(
            after_change(dropped, &evaluation(20, 20, 20, 120), 1600),
            LoadMemory {
                last_set: set(120, false),
                ..dropped
            }
        );
    }

    #[test]
    fn back_to_where_the_drop_left_it_is_not_a_rise() {
        let dropped = after_change(LoadMemory::default(), &evaluation(250, 15, 15, 15), 1000);
        // A cap (or a direct command) took it to 5; the proposals still ask for 15.
        let capped = Evaluation {
            capped: true,
            ..evaluation(15, 15, 15, 5)
        };
        let at_5 = after_change(dropped, &capped, 1100);
        assert_eq!(
            at_5.last_set,
            set(5, false),
            "the cap's 5 is not the proposals'"
        );
        let back = after_change(at_5, &evaluation(5, 15, 15, 15), 1200);
        assert_eq!(memory(back), memory(dropped));
        // They ask for 40: the load rose, whatever holds the reservation at 5.
        assert_eq!(
            after_change(at_5, &evaluation(5, 40, 40, 5), 1200).drop_undone_at,
            Some(1200)
        );
        // An item of the build before has no drop_to: a rise counts from the reservation.
        let old = LoadMemory {
            drop_to: None,
            ..at_5
        };
        assert_eq!(
            after_change(old, &evaluation(5, 15, 15, 15), 1200).drop_undone_at,
            Some(1200)
        );
    }

    #[test]
    fn a_drop_counts_only_from_the_proposals_own_reservation_and_down_to_them() {
        // A drop within noise is not remembered.
        assert_eq!(
            memory(after_change(
                LoadMemory::default(),
                &evaluation(100, 80, 80, 80),
                1000
            )),
            (None, None, None, Some((80, true)))
        );
        // A min that raises the proposal's 0 to 1: still the load falling, to the min's 1.
        let to_min = after_change(LoadMemory::default(), &evaluation(250, 0, 0, 1), 1000);
        assert_eq!(
            memory(to_min),
            (Some(1000), Some(1), None, Some((1, false)))
        );
        // A max that takes it lower than the proposals: not the load, but theirs, held lower.
        assert_eq!(
            memory(after_change(
                LoadMemory::default(),
                &evaluation(250, 200, 200, 5),
                1000
            )),
            (None, None, None, Some((5, true)))
        );
        // The proposals' 15; a direct command's 250 (or on_metric_failure's: the proposals
        // are not the load's): not theirs, and leaving it is no drop, at once or step by step.
        let theirs = LoadMemory {
            last_set: set(15, true),
            ..LoadMemory::default()
        };
        let commanded = Evaluation {
            asked: None,
            ..evaluation(15, 250, 250, 250)
        };
        let at_250 = after_change(theirs, &commanded, 1000);
        assert_eq!(at_250.last_set, set(250, false));
        let mut load = at_250;
        for (from, to) in [(250, 200), (200, 150), (150, 100), (100, 50), (50, 16)] {
            load = after_change(load, &evaluation(from, 16, to, to), 1060);
            assert_eq!(load.drop_at, None, "{from} -> {to}");
            // Held above what they ask for by the step limit, then landed on it: theirs.
            assert_eq!(load.last_set, set(to as u32, to == 16), "{from} -> {to}");
        }
        // Landed at once on the load's 100, held there, then the load falls: a drop.
        let landed = after_change(at_250, &evaluation(250, 100, 100, 100), 1060);
        assert_eq!((landed.drop_at, landed.last_set), (None, set(100, true)));
        assert_eq!(
            after_change(landed, &evaluation(100, 10, 10, 10), 9000).drop_at,
            Some(9000)
        );
        // After the min's 1 that a drop left, on_metric_failure's 250 is not theirs either.
        let fallback = Evaluation {
            asked: None,
            ..evaluation(1, 250, 250, 250)
        };
        let at_fallback = after_change(to_min, &fallback, 2000);
        assert_eq!(
            after_change(at_fallback, &evaluation(250, 0, 0, 1), 2060).drop_at,
            Some(1000)
        );
        // A first reservation that a command set is not theirs.
        let first = after_first(LoadMemory::default(), &commanded);
        assert_eq!(
            after_change(first, &evaluation(250, 16, 16, 16), 1060).drop_at,
            None
        );
        // A write that failed: the proposals set 16 from the command's 250, which stayed;
        // leaving 250 later is still no drop.
        let failed = after_change(at_250, &evaluation(250, 16, 16, 16), 1060);
        assert_eq!(
            after_change(failed, &evaluation(250, 16, 16, 16), 1120).drop_at,
            None
        );
        // Nor after the proposals' own step down failed: 250 is not what was last set (the
        // next rise sets it again).
        let spiked = LoadMemory {
            last_set: set(250, true),
            ..LoadMemory::default()
        };
        let step_failed = after_change(spiked, &evaluation(250, 220, 220, 220), 1000);
        assert_eq!(
            after_change(step_failed, &evaluation(250, 15, 15, 15), 1060).drop_at,
            None
        );
    }

    #[test]
    fn an_undo_from_a_clock_a_little_ahead_reads_as_just_now() {
        let undone = LoadMemory {
            drop_at: Some(900),
            drop_to: Some(20),
            drop_undone_at: Some(1200),
            last_set: None,
        };
        let Some(Skip::No(why)) = skip_window(&undone, 250, 20, 1000) else {
            panic!("held")
        };
        assert!(why.contains("one was undone 0 s ago"), "{why}");
    }
}
