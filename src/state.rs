//! The per-target history that cooldowns and scale-in stabilization need, as the decision core
//! sees it. Pure: recording, expiry, the window maximum and validation; the store that keeps
//! it between invocations is a port ([`crate::ports::StateStore`]).
//!
//! # Recommendations are change points
//!
//! An evaluation's *recommendation* (the value it wanted before cooldowns, stabilization and
//! step limits) stays in force until a different one is made. The history keeps one entry per
//! value with the time it *ended* (`until`), and `None` for the one still in force. Recording
//! the same value again changes nothing, so a target whose recommendation is steady causes no
//! write at all.
//!
//! Scale-in stabilization needs the highest recommendation in force at any time within the
//! window: `max(value)` over the entries that ended less than `window` seconds ago, plus the
//! one in force. An entry is dropped once a later entry with an equal or higher value exists
//! (the later one ends later, so it dominates), or once it ended before the window. The list
//! is therefore short and its values strictly decrease. When it still grows past
//! [`MAX_RECOMMENDATIONS`], the two oldest entries merge into the higher value with the later
//! end: the window maximum can only grow, so compaction may hold a scale-in longer, never
//! let one happen sooner.
//!
//! A history that stops being updated (the autoscaler paused) keeps its last recommendation
//! in force until the next evaluation: conservative, it can only delay a scale-in by one window.

/// Saved times must lie between 1970 and the year 2286 (epoch 10^10): anything else is
/// corrupt, and keeping it would risk overflow in time arithmetic.
pub const MAX_EPOCH: i64 = 10_000_000_000;
/// A saved time more than this far ahead of `now` means a broken clock or a corrupt item.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;
/// More entries than this are compacted (conservatively, see the module documentation).
pub const MAX_RECOMMENDATIONS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Out,
    In,
}

impl Direction {
    pub fn word(self) -> &'static str {
        match self {
            Direction::Out => "scale-out",
            Direction::In => "scale-in",
        }
    }
}

/// The last reservation change the autoscaler applied (or attempted: the history is saved
/// before the change, so a failed change still counts for the cooldown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastChange {
    pub at: i64,
    pub direction: Direction,
}

/// One recommended value and when it stopped being recommended (`None`: still in force).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recommendation {
    pub value: u32,
    pub until: Option<i64>,
}

/// What the autoscaler keeps about one SQS event source mapping it has changed
/// ([`crate::event_sources`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRecord {
    pub uuid: String,
    /// The mapping's `MaximumConcurrency` before the autoscaler first changed it: the user's
    /// ceiling, never exceeded. `None`: it had none.
    pub ceiling: Option<u32>,
    /// True while the autoscaler keeps the mapping disabled (a pause). Only such mappings
    /// are ever enabled again: one disabled by hand stays disabled.
    pub paused: bool,
    /// True when an explicit set (not a cap) paused it: the pause then holds until something
    /// proposes a value, as the set's value would without mappings.
    pub held: bool,
}

/// How many activities a target keeps (newest last), about 2 KB each at most. A decision
/// reads only the newest, with the target's history; the store keeps the older ones in
/// items of their own (see [`History::activities`]), so that they cost a decision nothing.
pub const MAX_ACTIVITIES: usize = 20;
/// The key of the item (the slot) that archives activity `number` of the target whose item
/// is keyed `key`: one slot per number mod [`MAX_ACTIVITIES`], so the 20th later activity
/// replaces it.
pub fn activity_key(key: &str, number: u64) -> String {
    format!("{key}#activity#{:02}", number % MAX_ACTIVITIES as u64)
}

/// Activity numbers a second of a history's start time ([`History::started_at`]).
pub const ACTIVITY_NUMBERS_PER_SECOND: u64 = 100;
/// Reasons kept per activity, and their total length in bytes.
pub const MAX_ACTIVITY_REASONS: usize = 24;
pub const MAX_ACTIVITY_REASON_BYTES: usize = 2048;
/// The most of an activity's trigger kept, in bytes.
pub const MAX_ACTIVITY_TRIGGER_BYTES: usize = 512;

/// What became of an attempted change. The history is saved *before* the change, so an
/// attempt starts `Pending`; a failure is written at once (a second write, only then), and a
/// pending attempt is settled by the next write of the target, from the reservation that
/// evaluation read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivityOutcome {
    /// No outcome recorded yet.
    Pending,
    /// The next evaluation found the reservation at the desired value.
    Applied,
    /// The change failed; why.
    Failed(String),
    /// Held back (the account's floor, a mapping still updating); why.
    Blocked(String),
    /// The next evaluation found another reservation than the desired one (someone else
    /// changed it, or the attempt did not land); what it found.
    Unconfirmed(String),
}

impl ActivityOutcome {
    /// `pending`, `applied`, `failed`, `blocked` or `unconfirmed`.
    pub fn word(&self) -> &'static str {
        match self {
            ActivityOutcome::Pending => "pending",
            ActivityOutcome::Applied => "applied",
            ActivityOutcome::Failed(_) => "failed",
            ActivityOutcome::Blocked(_) => "blocked",
            ActivityOutcome::Unconfirmed(_) => "unconfirmed",
        }
    }

    /// The outcome a [`Self::word`] and its detail name (as a store keeps them).
    pub fn from_word(word: &str, detail: String) -> Option<ActivityOutcome> {
        Some(match word {
            "pending" => ActivityOutcome::Pending,
            "applied" => ActivityOutcome::Applied,
            "failed" => ActivityOutcome::Failed(detail),
            "blocked" => ActivityOutcome::Blocked(detail),
            "unconfirmed" => ActivityOutcome::Unconfirmed(detail),
            _ => return None,
        })
    }

    /// The detail of a failed, blocked or unconfirmed outcome.
    pub fn detail(&self) -> Option<&str> {
        match self {
            ActivityOutcome::Failed(d)
            | ActivityOutcome::Blocked(d)
            | ActivityOutcome::Unconfirmed(d) => Some(d),
            _ => None,
        }
    }
}

/// One attempted change of a target, as `autoscaler activities` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// Epoch seconds of the decision.
    pub at: i64,
    pub trigger: String,
    pub previous: Option<u32>,
    pub desired: Option<u32>,
    pub reasons: Vec<String>,
    pub outcome: ActivityOutcome,
}

impl Activity {
    /// Keeps the reasons within [`MAX_ACTIVITY_REASONS`] and [`MAX_ACTIVITY_REASON_BYTES`]
    /// (the last ones, which say what was done, are kept), and the trigger within
    /// [`MAX_ACTIVITY_TRIGGER_BYTES`] (an SQS batch can name many).
    pub fn bounded(mut self) -> Activity {
        if self.trigger.len() > MAX_ACTIVITY_TRIGGER_BYTES {
            let mut end = MAX_ACTIVITY_TRIGGER_BYTES;
            while !self.trigger.is_char_boundary(end) {
                end -= 1;
            }
            self.trigger.truncate(end);
            self.trigger.push_str(" ...");
        }
        let mut kept: Vec<String> = Vec::new();
        let mut bytes = 0;
        for reason in self.reasons.iter().rev().take(MAX_ACTIVITY_REASONS) {
            if bytes + reason.len() > MAX_ACTIVITY_REASON_BYTES {
                break;
            }
            bytes += reason.len();
            kept.push(reason.clone());
        }
        kept.reverse();
        self.reasons = kept;
        self
    }
}

/// The history of one target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    pub last_change: Option<LastChange>,
    /// Oldest first; values strictly decreasing; only the last may be in force.
    pub recommendations: Vec<Recommendation>,
    /// When the recommendation in force was first made (epoch seconds).
    pub in_force_since: Option<i64>,
    /// The attempted changes the store has not archived yet, oldest first: after a load,
    /// the newest (whose outcome the next write settles); after an attempt, the new one as
    /// well, until a save archives the one before it ([`History::archive_activities`]).
    /// `autoscaler activities` reads the archived ones from the store
    /// ([`crate::ports::StateStore::archived_activities`]).
    pub activities: Vec<Activity>,
    /// The number of `activities[i]`: from the history's start ([`History::started_at`]; 0
    /// in an earlier build's item), one more for each. The store archives activity `n` under
    /// `n` mod [`MAX_ACTIVITIES`].
    pub earlier_activities: u64,
    /// The mappings the autoscaler has changed, by UUID. An item that holds any does not
    /// expire: a paused consumer writes nothing, and a lost ceiling or pause would be
    /// unrecoverable.
    pub event_sources: Vec<MappingRecord>,
    /// How a drain-time target's load moved lately: whether a drop may skip the scale-in
    /// window ([`crate::drain_stability`]).
    pub load: LoadMemory,
}

/// A drain-time target's latest scale-in beyond the noise of its executions at work, and the
/// latest rise of the proposals that undid one (epoch seconds), and who set the reservation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadMemory {
    /// The latest scale-in beyond noise.
    pub drop_at: Option<i64>,
    /// The reservation it set: a rise of the proposals above it undoes it. Absent in items of
    /// the build before, which count a rise from the reservation.
    pub drop_to: Option<u32>,
    /// The latest rise of the proposals that came soon after one.
    pub drop_undone_at: Option<i64>,
    /// The reservation last set, and whether the proposals set it: only leaving their own
    /// can be a drop. `None` until known (items of earlier builds): any reservation counts as
    /// theirs.
    pub last_set: Option<LastSet>,
}

/// A reservation the autoscaler set, and whether the proposals set it (or stepped down to it
/// from their own), rather than a direct command, `on_metric_failure`, a cap, a bound or the
/// mappings' floor (or a descent from one of those).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastSet {
    pub value: u32,
    pub by_proposals: bool,
}

impl LoadMemory {
    fn times(&self) -> [Option<i64>; 2] {
        [self.drop_at, self.drop_undone_at]
    }
}

/// What reading the store found for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavedState {
    /// A history this build understands.
    Valid(History),
    /// Nothing saved: a target seen for the first time (or whose state expired).
    Missing,
    /// A saved item that cannot be used, and why (corrupt, another format), with its event
    /// source records when they could still be read: a pause or a ceiling must outlive the
    /// rest of a broken item.
    Unusable {
        why: String,
        event_sources: Vec<MappingRecord>,
    },
    /// No state store is configured, so no history is kept at all.
    NotKept,
}

impl SavedState {
    /// The history, when the store held a usable one.
    pub fn history(&self) -> Option<&History> {
        match self {
            SavedState::Valid(history) => Some(history),
            _ => None,
        }
    }

    /// The event source records saved, even in an item otherwise unusable.
    pub fn event_sources(&self) -> &[MappingRecord] {
        match self {
            SavedState::Valid(history) => &history.event_sources,
            SavedState::Unusable { event_sources, .. } => event_sources,
            SavedState::Missing | SavedState::NotKept => &[],
        }
    }

    /// An unusable item without records, and why.
    pub fn unusable(why: impl Into<String>) -> SavedState {
        SavedState::Unusable {
            why: why.into(),
            event_sources: Vec::new(),
        }
    }
}

impl History {
    /// The highest recommendation in force at any time in the `window` seconds up to `now`.
    pub fn window_max(&self, now: i64, window: u32) -> Option<u32> {
        let since = now - i64::from(window);
        self.recommendations
            .iter()
            .filter(|r| r.until.is_none_or(|until| until > since))
            .map(|r| r.value)
            .max()
    }

    /// Records an attempted change (pending), settling the previous pending one from
    /// `current`, the reservation this evaluation read, and `mappings_due`
    /// ([`History::settle_pending`]).
    pub fn note_attempt(
        &mut self,
        activity: Activity,
        current: Option<u32>,
        mappings_due: Option<u32>,
    ) {
        self.settle_pending(current, mappings_due);
        self.activities.push(activity.bounded());
        self.keep_latest_activities();
    }

    /// Drops the oldest activities beyond [`MAX_ACTIVITIES`].
    fn keep_latest_activities(&mut self) {
        self.drop_oldest_activities(self.activities.len().saturating_sub(MAX_ACTIVITIES));
    }

    /// After a save, which archived every activity but the newest: keeps only the newest,
    /// as a load would return it, so that a second save (a failure's outcome) does not
    /// archive the same ones again.
    pub fn archive_activities(&mut self) {
        self.drop_oldest_activities(self.activities.len().saturating_sub(1));
    }

    fn drop_oldest_activities(&mut self, count: usize) {
        self.activities.drain(..count);
        self.earlier_activities = self.earlier_activities.saturating_add(count as u64);
    }

    /// The numbers of the newest `limit` archived activities (at most [`MAX_ACTIVITIES`] - 1:
    /// the target keeps 20 with the newest), oldest first.
    pub fn archived_numbers(&self, limit: usize) -> std::ops::Range<u64> {
        let last = self.earlier_activities;
        last.saturating_sub(limit.min(MAX_ACTIVITIES - 1) as u64)..last
    }

    /// A history started at `now` (none saved, or the saved one set aside) numbers its first
    /// activity from its start time, [`ACTIVITY_NUMBERS_PER_SECOND`] to a second. Numbered
    /// from 0 instead, a target whose item expired would archive its activities under the
    /// numbers, and so in the slots, of the history before it (which outlive the item), and
    /// an archive write that failed would show that history's activity in its place. No
    /// target attempts 100 changes a second, so the numbers of two histories never meet.
    pub fn started_at(now: i64) -> History {
        History {
            earlier_activities: u64::try_from(now)
                .unwrap_or(0)
                .saturating_mul(ACTIVITY_NUMBERS_PER_SECOND),
            ..History::default()
        }
    }

    /// The number of `activities[i]` (see [`History::earlier_activities`]).
    pub fn activity_number(&self, i: usize) -> u64 {
        self.earlier_activities.saturating_add(i as u64)
    }

    /// Settles a pending attempt from what a later evaluation read: applied when the
    /// reservation is at the desired value, unconfirmed otherwise. `mappings_due` is the
    /// reservation that evaluation still writes the SQS mappings for, if it writes any: for
    /// an attempt that changed the mappings alone (its reservation stays, so the reservation
    /// cannot confirm it), at the attempt's own value, its writes did not all land. An
    /// attempt that changed the reservation is confirmed by it: the evaluation's listing may
    /// be another container's, minutes old.
    pub fn settle_pending(&mut self, current: Option<u32>, mappings_due: Option<u32>) {
        if let Some(a) = self
            .activities
            .last_mut()
            .filter(|a| a.outcome == ActivityOutcome::Pending)
        {
            let found = current.map_or("unreserved".into(), |c| c.to_string());
            a.outcome = if current != a.desired {
                ActivityOutcome::Unconfirmed(format!(
                    "the next evaluation found the reservation at {found}"
                ))
            } else if a.previous == a.desired && mappings_due.is_some() && mappings_due == a.desired
            {
                ActivityOutcome::Unconfirmed(format!(
                    "the next evaluation found the reservation at {found}, but its event \
                     source mappings still to be written"
                ))
            } else {
                ActivityOutcome::Applied
            };
        }
    }

    /// Sets the outcome of the latest attempt (a failure, written at once).
    pub fn set_outcome(&mut self, outcome: ActivityOutcome) {
        if let Some(a) = self.activities.last_mut() {
            a.outcome = outcome;
        }
    }

    /// The value currently in force, if any.
    pub fn in_force(&self) -> Option<u32> {
        self.recommendations
            .last()
            .filter(|r| r.until.is_none())
            .map(|r| r.value)
    }

    /// Records that `value` is recommended at `now`; returns whether the history changed.
    pub fn record(&mut self, now: i64, value: u32, window: u32) -> bool {
        if self.in_force() == Some(value) {
            return false;
        }
        // The value in force ends now (never before an earlier end, if the clock stepped back).
        let end = self.latest_end().map_or(now, |latest| latest.max(now));
        if let Some(last) = self.recommendations.last_mut() {
            last.until.get_or_insert(end);
        }
        // Earlier values not above this one end earlier than it, so they can never be the
        // window maximum again.
        while self
            .recommendations
            .last()
            .is_some_and(|last| last.value <= value)
        {
            self.recommendations.pop();
        }
        self.recommendations
            .push(Recommendation { value, until: None });
        self.in_force_since = Some(now);
        self.expire(now, window);
        self.compact();
        true
    }

    /// The latest end time among the ended entries.
    fn latest_end(&self) -> Option<i64> {
        self.recommendations.iter().filter_map(|r| r.until).max()
    }

    /// Forgets recommendations that ended before the window.
    pub fn expire(&mut self, now: i64, window: u32) {
        let since = now - i64::from(window);
        self.recommendations
            .retain(|r| r.until.is_none_or(|until| until > since));
    }

    /// Merges the oldest entries until at most [`MAX_RECOMMENDATIONS`] remain: the higher
    /// value (the older) held until the later end (the newer).
    fn compact(&mut self) {
        while self.recommendations.len() > MAX_RECOMMENDATIONS {
            let oldest = self.recommendations.remove(0);
            let next = &mut self.recommendations[0];
            next.value = next.value.max(oldest.value);
        }
    }

    /// The newest time this history mentions.
    pub fn latest_time(&self) -> Option<i64> {
        let load = self.load.times().into_iter().flatten().max();
        self.last_change
            .map(|c| c.at)
            .max(self.latest_end())
            .max(load)
    }

    /// Checks a history read from a store: times within 1970..2286, values strictly
    /// decreasing, only the last entry in force. The error says what is wrong.
    pub fn validate(mut self) -> Result<History, String> {
        // More activities than this build keeps (written by hand): the newest are kept.
        self.keep_latest_activities();
        let in_range = |t: i64| (0..=MAX_EPOCH).contains(&t);
        if let Some(change) = self.last_change {
            if !in_range(change.at) {
                return Err(format!("last change time {} is out of range", change.at));
            }
        }
        for (i, r) in self.recommendations.iter().enumerate() {
            match r.until {
                Some(t) if !in_range(t) => {
                    return Err(format!("recommendation end time {t} is out of range"))
                }
                None if i + 1 != self.recommendations.len() => {
                    return Err("only the newest recommendation can still be in force".into())
                }
                _ => {}
            }
        }
        for pair in self.recommendations.windows(2) {
            if pair[0].value <= pair[1].value {
                return Err("recommendations are not in decreasing order".into());
            }
            if let (Some(a), Some(b)) = (pair[0].until, pair[1].until) {
                if a > b {
                    return Err("recommendation end times are not in increasing order".into());
                }
            }
        }
        if let Some(since) = self.in_force_since.filter(|t| !in_range(*t)) {
            return Err(format!("in_force_since {since} is out of range"));
        }
        if let Some(t) = self
            .load
            .times()
            .into_iter()
            .flatten()
            .find(|t| !in_range(*t))
        {
            return Err(format!("load change time {t} is out of range"));
        }
        if let Some(a) = self.activities.iter().find(|a| !in_range(a.at)) {
            return Err(format!("activity time {} is out of range", a.at));
        }
        if let Some(r) = self.event_sources.iter().find(|r| r.uuid.is_empty()) {
            return Err(format!("an event source record has no uuid ({r:?})"));
        }
        if let Some(bad) = self
            .event_sources
            .iter()
            .filter_map(|r| r.ceiling)
            .find(|c| !(2..=1000).contains(c))
        {
            return Err(format!(
                "event source ceiling {bad} is outside MaximumConcurrency's 2..=1000"
            ));
        }
        if self.recommendations.len() > MAX_RECOMMENDATIONS {
            return Err(format!(
                "{} recommendations, more than the {MAX_RECOMMENDATIONS} this autoscaler keeps",
                self.recommendations.len()
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_700_000_000;

    fn rec(value: u32, until: Option<i64>) -> Recommendation {
        Recommendation { value, until }
    }

    #[test]
    fn a_pending_attempt_is_settled_from_the_reservation_and_the_mappings_still_due() {
        let pending = |previous, desired| History {
            activities: vec![Activity {
                at: NOW,
                trigger: "schedule".into(),
                previous: Some(previous),
                desired: Some(desired),
                reasons: vec![],
                outcome: ActivityOutcome::Pending,
            }],
            ..History::default()
        };
        let settled = |mut h: History, current, due| {
            h.settle_pending(Some(current), due);
            h.activities[0].outcome.word()
        };
        // A scale-out: by its reservation, whatever mappings are due (another container's
        // listing, minutes old, may still show them before it).
        assert_eq!(settled(pending(5, 10), 10, None), "applied");
        assert_eq!(settled(pending(5, 10), 10, Some(10)), "applied");
        assert_eq!(settled(pending(5, 10), 7, None), "unconfirmed");
        // A mapping-only attempt (10 -> 10): applied once nothing is due for its value.
        assert_eq!(settled(pending(10, 10), 10, None), "applied");
        assert_eq!(settled(pending(10, 10), 10, Some(10)), "unconfirmed");
        // Mappings due for another value are a new decision's, not this attempt's.
        assert_eq!(settled(pending(10, 10), 10, Some(4)), "applied");
    }

    #[test]
    fn recording_the_value_in_force_changes_nothing() {
        let mut h = History::default();
        assert!(h.record(NOW, 10, 300));
        assert!(!h.record(NOW + 60, 10, 300));
        assert!(!h.record(NOW + 6000, 10, 300));
        assert_eq!(h.recommendations, [rec(10, None)]);
    }

    #[test]
    fn a_lower_recommendation_ends_the_higher_one_which_stays_the_window_maximum() {
        let mut h = History::default();
        h.record(NOW, 10, 300);
        assert!(h.record(NOW + 100, 4, 300));
        assert_eq!(h.recommendations, [rec(10, Some(NOW + 100)), rec(4, None)]);
        assert_eq!(h.window_max(NOW + 100, 300), Some(10));
        assert_eq!(h.window_max(NOW + 399, 300), Some(10));
        // 300 s after 10 ended, only 4 is left.
        assert_eq!(h.window_max(NOW + 400, 300), Some(4));
    }

    #[test]
    fn a_higher_recommendation_dominates_every_lower_earlier_one() {
        let mut h = History::default();
        h.record(NOW, 10, 300);
        h.record(NOW + 10, 6, 300);
        h.record(NOW + 20, 8, 300);
        assert_eq!(h.recommendations, [rec(10, Some(NOW + 10)), rec(8, None)]);
        h.record(NOW + 30, 12, 300);
        assert_eq!(h.recommendations, [rec(12, None)]);
    }

    #[test]
    fn entries_that_ended_before_the_window_are_forgotten() {
        let mut h = History::default();
        h.record(NOW, 10, 300);
        h.record(NOW + 10, 5, 300);
        h.record(NOW + 400, 3, 300);
        assert_eq!(h.recommendations, [rec(5, Some(NOW + 400)), rec(3, None)]);
    }

    #[test]
    fn an_activity_keeps_its_last_reasons_and_a_bounded_trigger() {
        let activity = Activity {
            at: 1,
            trigger: "é".repeat(400),
            previous: Some(1),
            desired: Some(2),
            reasons: (0..30).map(|i| format!("reason {i}")).collect(),
            outcome: ActivityOutcome::Pending,
        }
        .bounded();
        assert_eq!(activity.reasons.len(), MAX_ACTIVITY_REASONS);
        assert_eq!(
            activity.reasons.last().map(String::as_str),
            Some("reason 29")
        );
        assert!(activity.trigger.len() <= MAX_ACTIVITY_TRIGGER_BYTES + 4);
        assert!(activity.trigger.ends_with(" ..."));
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let bad = |recs: Vec<Recommendation>, change: Option<i64>| {
            History {
                last_change: change.map(|at| LastChange {
                    at,
                    direction: Direction::Out,
                }),
                recommendations: recs,
                event_sources: Vec::new(),
                in_force_since: None,
                activities: Vec::new(),
                earlier_activities: 0,
                load: Default::default(),
            }
            .validate()
            .unwrap_err()
        };
        assert!(bad(vec![], Some(-1)).contains("out of range"));
        assert!(bad(vec![], Some(MAX_EPOCH + 1)).contains("out of range"));
        assert!(bad(vec![rec(3, Some(NOW)), rec(5, None)], None).contains("decreasing"));
        assert!(bad(vec![rec(5, None), rec(3, None)], None).contains("in force"));
        assert!(bad(vec![rec(5, Some(NOW + 1)), rec(3, Some(NOW))], None).contains("increasing"));
        assert!(bad(vec![rec(5, Some(i64::MAX))], None).contains("out of range"));
        let ok = History {
            last_change: None,
            recommendations: vec![rec(5, Some(NOW)), rec(3, None)],
            event_sources: Vec::new(),
            in_force_since: None,
            activities: Vec::new(),
            earlier_activities: 0,
            load: Default::default(),
        };
        assert_eq!(ok.clone().validate(), Ok(ok));
    }

    proptest! {
        /// Whatever is recorded, the history stays valid and short, and its window maximum
        /// is never below what a full log of every recommendation would give (compaction and
        /// pruning are conservative).
        #[test]
        fn recording_keeps_a_valid_history_whose_window_maximum_is_never_too_low(
            steps in proptest::collection::vec((1i64..400, 0u32..100), 1..200),
            window in 1u32..=3600,
        ) {
            let mut h = History::default();
            let mut log: Vec<(i64, u32)> = Vec::new();
            let mut now = NOW;
            for (dt, value) in &steps {
                now += dt;
                h.record(now, *value, window);
                log.push((now, *value));
                prop_assert!(h.clone().validate().is_ok(), "{:?}", h);
                prop_assert_eq!(h.in_force(), Some(*value));
                // The full log: value i is in force from its time until the next one's.
                let since = now - i64::from(window);
                let exact = log.iter().enumerate()
                    .filter(|(i, _)| log.get(i + 1).is_none_or(|(next, _)| *next > since))
                    .map(|(_, (_, v))| *v)
                    .max();
                prop_assert!(h.window_max(now, window) >= exact, "{:?} < {:?}", h.window_max(now, window), exact);
            }
        }
    }
}
