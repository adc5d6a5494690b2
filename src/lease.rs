//! Two writers of one target (the watcher and the function that takes events, or a CLI run)
//! each save the target's history with a compare-and-set before they change its
//! reservation, so no two decisions are saved from the same history. The writes that follow
//! a save are not ordered that way, though: writer A saves a scale-out and waits for its
//! pacing slot; writer B reads A's history, saves a cap and writes it; A's write then lands
//! and undoes the cap. Lambda has no conditional `PutFunctionConcurrency`, so the writes are
//! fenced by time, with the history's write as the lease:
//!
//! - **A writer** starts a change's control-plane writes (the reservation's, the mappings')
//!   only within [`START_WITHIN`] of saving the attempt. An attempt that would start later
//!   is not made: its outcome is `failed`, and the next evaluation decides again.
//! - **A reader** that finds another writer's attempt still pending (not settled, no outcome),
//!   saved less than [`LEASE_SECONDS`] ago, and the reservation not yet at the attempt's
//!   value, decides only once that attempt can no longer land: it waits until then and reads
//!   the function's reservation again, or, when its deadline does not allow the wait, leaves
//!   the target to the next run. A reservation already at the attempt's value means its
//!   write has landed (or would change nothing), so back-to-back runs do not wait: a CLI run
//!   right after another, or an event right after a watch tick's change. Except after any
//!   change but a decrease of a target whose SQS mappings the autoscaler manages: mappings
//!   are raised or resumed *after* the reservation (or alone, the reservation unchanged), so
//!   such a write may still be on its way and would land over the reader's own lowering of
//!   them (mappings above the reservation throttle their batches, whose messages move towards
//!   the dead-letter queue). Such an attempt holds the reader for its whole lease.
//!
//! [`LEASE_SECONDS`] covers the start window, a request's own timeout (5 s per attempt,
//! docs/reliability.md), the whole seconds the save time is kept in, and a second of clock
//! skew between two Lambda functions. Pure: the store says who wrote an item and when.
//!
//! A write that landed but whose answer was lost (no answer, or a server fault after the
//! change) is not sent blind: before a resend the writer reads the reservation once
//! (`GetFunction`, outside the control-plane quota) and, with a state table, the target's
//! saved version, and [`resend`] decides. At the value written, it landed; at another value
//! than the one read before, or with the version moved on (every writer saves before it
//! writes, so a cap back to the value read before shows there), another writer has acted and
//! the change fails for the next evaluation; a read that fails ends it the same way. What
//! remains: a request that lands only after its own attempt timed out and the writer's check
//! (5 s and more); the reader's next evaluation writes the cap again.

use crate::ports::Stored;
use crate::state::ActivityOutcome;
use std::time::Duration;

/// A change's writes start within this long of saving its attempt, or not at all.
pub const START_WITHIN: Duration = Duration::from_secs(5);
/// How long after another writer saved an attempt its writes may still land.
pub const LEASE_SECONDS: i64 = 12;

/// Who last wrote a target's saved state, and when, as the store read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Epoch seconds of the write (the store keeps whole seconds).
    pub at: i64,
    /// True when this process wrote it: its own attempts never make it wait.
    pub ours: bool,
}

/// Until when (epoch seconds) another writer's change of the target, read between `read_at`
/// and `now`, may still land, if it may have at any time since `read_at` (the reservation read
/// then may predate its landing): its newest activity is still pending, it was saved less
/// than [`LEASE_SECONDS`] before, and either `reserved` (the function's reservation as read)
/// is not yet the value it attempted, or it was not a decrease and the target has managed
/// mappings, which may still be raised after the reservation. The lease counts from the
/// save, and a save stamped in the future from `now` at the latest.
pub fn change_in_flight(
    stored: &Stored,
    reserved: Option<u32>,
    read_at: i64,
    now: i64,
) -> Option<i64> {
    let written = stored.written.filter(|w| !w.ours)?;
    let history = stored.state.history()?;
    let manages_mappings = !history.event_sources.is_empty();
    let pending = history.activities.last().is_some_and(|a| {
        a.outcome == ActivityOutcome::Pending
            && (a.desired != reserved
                || (manages_mappings && !crate::decide::lowers(a.previous, a.desired)))
    });
    // A writer whose clock runs ahead stamps its save in the future: it holds no one for
    // longer than a lease from now.
    let until = written
        .at
        .saturating_add(LEASE_SECONDS)
        .min(now.saturating_add(LEASE_SECONDS));
    (pending && read_at < until).then_some(until)
}

/// Whether to send again a reservation write whose answer may have come after it landed (no
/// answer, or a server fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend {
    /// The reservation is at the value written: it landed.
    Landed,
    /// Another writer has acted since: the write must not land after its change. Why.
    Stop(String),
    /// Nothing has changed since the write was decided: it did not land, and is sent again.
    Again,
}

/// [`Resend`] from what was read after the failure: the reservation `now` against the
/// `value` written and the reservation read `before` the write, and whether the target's
/// saved state still holds this writer's version (`None`: no state table). A writer always
/// saves before it writes, so a version moved on is another writer's change even when the
/// reservation is back at `before` (a cap to the value this one replaced).
pub fn resend(
    value: u32,
    before: Option<u32>,
    now: Option<u32>,
    version_kept: Option<bool>,
) -> Resend {
    let shown = |r: Option<u32>| r.map_or("unreserved".to_owned(), |n| n.to_string());
    if now == Some(value) {
        Resend::Landed
    } else if now != before {
        Resend::Stop(format!(
            "the reservation is now {}, not {} as read: another writer's change",
            shown(now),
            shown(before)
        ))
    } else if version_kept == Some(false) {
        Resend::Stop("another writer has saved the target's state since".to_owned())
    } else {
        Resend::Again
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Version;
    use crate::state::{Activity, History, SavedState};

    fn stored(outcome: ActivityOutcome, written: Option<Written>) -> Stored {
        let history = History {
            activities: vec![Activity {
                at: 1_000,
                trigger: "t".into(),
                previous: Some(2),
                desired: Some(20),
                reasons: vec![],
                outcome,
            }],
            ..History::default()
        };
        Stored {
            state: SavedState::Valid(history),
            version: Version::At(3),
            written,
        }
    }

    fn history_of(s: &mut Stored) -> &mut History {
        match &mut s.state {
            SavedState::Valid(history) => history,
            other => panic!("no history: {other:?}"),
        }
    }

    #[test]
    fn another_writers_pending_attempt_holds_the_target_until_its_lease_ends() {
        let theirs = Some(Written {
            at: 1_000,
            ours: false,
        });
        let s = stored(ActivityOutcome::Pending, theirs);
        assert_eq!(change_in_flight(&s, Some(2), 1_000, 1_000), Some(1_012));
        assert_eq!(change_in_flight(&s, Some(2), 1_011, 1_011), Some(1_012));
        assert_eq!(change_in_flight(&s, Some(2), 1_012, 1_012), None);
        // Their write has landed: nothing to wait for.
        assert_eq!(change_in_flight(&s, Some(20), 1_000, 1_000), None);
        // A save stamped in the future (a clock ahead) holds for a lease from now at most.
        assert_eq!(change_in_flight(&s, Some(2), 900, 900), Some(912));
    }

    #[test]
    fn a_landed_increase_of_a_target_with_managed_mappings_holds_for_its_whole_lease() {
        let theirs = Some(Written {
            at: 1_000,
            ours: false,
        });
        let mut s = stored(ActivityOutcome::Pending, theirs);
        let h = history_of(&mut s);
        h.event_sources = vec![crate::state::MappingRecord {
            uuid: "m".into(),
            ceiling: None,
            paused: false,
            held: false,
        }];
        // 2 -> 20 landed, but its mappings are raised after the reservation.
        assert_eq!(change_in_flight(&s, Some(20), 1_000, 1_000), Some(1_012));
        assert_eq!(change_in_flight(&s, Some(20), 1_012, 1_012), None);
        // A decrease lowers the mappings before the reservation: landed is landed.
        let h = history_of(&mut s);
        h.activities[0].previous = Some(30);
        assert_eq!(change_in_flight(&s, Some(20), 1_000, 1_000), None);
        assert_eq!(change_in_flight(&s, Some(30), 1_000, 1_000), Some(1_012));
        // The mappings alone (the reservation unchanged) may be raised.
        let h = history_of(&mut s);
        h.activities[0].previous = Some(20);
        assert_eq!(change_in_flight(&s, Some(20), 1_000, 1_000), Some(1_012));
    }

    #[test]
    fn our_own_settled_or_unknown_writes_hold_nothing() {
        let theirs = Some(Written {
            at: 1_000,
            ours: false,
        });
        let ours = Some(Written {
            at: 1_000,
            ours: true,
        });
        assert_eq!(
            change_in_flight(
                &stored(ActivityOutcome::Pending, ours),
                Some(2),
                1_001,
                1_001
            ),
            None
        );
        assert_eq!(
            change_in_flight(
                &stored(ActivityOutcome::Pending, None),
                Some(2),
                1_001,
                1_001
            ),
            None
        );
        for settled in [
            ActivityOutcome::Applied,
            ActivityOutcome::Failed("x".into()),
            ActivityOutcome::Blocked("y".into()),
        ] {
            assert_eq!(
                change_in_flight(&stored(settled, theirs), Some(2), 1_001, 1_001),
                None
            );
        }
        let no_activity = Stored {
            state: SavedState::Valid(History::default()),
            version: Version::At(1),
            written: theirs,
        };
        assert_eq!(change_in_flight(&no_activity, Some(2), 1_001, 1_001), None);
    }

    #[test]
    fn a_write_is_sent_again_only_while_nothing_has_changed_since_it_was_decided() {
        assert_eq!(resend(15, Some(5), Some(15), Some(true)), Resend::Landed);
        assert_eq!(resend(15, Some(5), Some(5), Some(true)), Resend::Again);
        assert_eq!(resend(15, Some(5), Some(5), None), Resend::Again);
        assert!(matches!(
            resend(15, Some(5), Some(3), Some(true)),
            Resend::Stop(_)
        ));
        assert!(matches!(resend(15, None, Some(5), None), Resend::Stop(_)));
        // Another writer's cap back to the value read: its save gives it away.
        assert!(matches!(
            resend(15, Some(5), Some(5), Some(false)),
            Resend::Stop(_)
        ));
    }
}
