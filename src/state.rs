//! The per-target state that cooldowns and stabilization need, kept as one tag on the target
//! function so that it survives cold starts and separate CLI processes.
//!
//! Pure: encoding, decoding, recording and compaction; no clock, no I/O.
//!
//! # Format (version 1)
//!
//! ```text
//! v1 g42 co1712345678 r1712345600:40/60:25/120:12
//! ```
//!
//! - `v1`: the format version. Another version is treated as no history.
//! - `g42`: the generation, incremented on every write (read-modify-write bookkeeping).
//! - `co<epoch>` / `ci<epoch>`: the last applied change, scale-out or scale-in, in epoch
//!   seconds. Absent when none is known.
//! - `r<epoch>:<value>/<delta>:<value>/...`: recommendations, oldest first; the first time is
//!   absolute, each later one is seconds after the previous.
//!
//! Only the characters AWS allows in tag values are used (letters, digits, space, `:` `/`),
//! and [`History::encode`] never returns more than [`MAX_TAG_VALUE`] characters.
//!
//! # What is kept
//!
//! Scale-in stabilization needs the highest recommendation in the window, so the history keeps
//! a *monotonic* list: times increase and values strictly decrease. A recommendation that is
//! older than a newer, equal-or-higher one can never be the window's maximum again and is
//! dropped; so is everything that has left the window. When the list still does not fit the
//! tag, the two oldest entries are merged into one that keeps the *higher* value until the
//! *later* time: the window maximum can only grow, so compaction may hold a scale-in longer
//! but never lets one happen earlier.

use std::fmt::Write as _;

/// The tag key holding the state.
pub const STATE_TAG: &str = "autoscaler:state";
/// Lambda's limit for a tag value.
pub const MAX_TAG_VALUE: usize = 256;
/// The version this build writes and reads.
pub const VERSION: &str = "v1";
/// A saved time more than this far ahead of `now` means a broken clock or a corrupt tag.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;
/// Saved times must lie between 1970 and the year 2286 (epoch 10^10): anything else is
/// corrupt, and keeping it would risk overflow in time arithmetic.
const MAX_EPOCH: i64 = 10_000_000_000;

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

/// The last reservation change the autoscaler applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastChange {
    pub at: i64,
    pub direction: Direction,
}

/// One evaluation's recommendation (the value it wanted before cooldowns, stabilization and
/// step limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recommendation {
    pub at: i64,
    pub value: u32,
}

/// The saved history of one target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    pub generation: u64,
    pub last_change: Option<LastChange>,
    /// Oldest first; times increasing, values strictly decreasing.
    pub recommendations: Vec<Recommendation>,
}

/// What reading the state tag found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavedState {
    /// A history this build understands.
    Valid(History),
    /// No state tag: a target seen for the first time (or whose tag was removed).
    Missing,
    /// A tag that cannot be used, and why (corrupt, oversized, another version).
    Unusable(String),
}

impl SavedState {
    /// Reads the tag value, if any. Never fails: a bad value becomes `Unusable`.
    pub fn read(tag: Option<&str>) -> SavedState {
        match tag {
            None => SavedState::Missing,
            Some(text) => match History::decode(text) {
                Ok(history) => SavedState::Valid(history),
                Err(why) => SavedState::Unusable(why),
            },
        }
    }

    /// The history, when it was usable.
    pub fn valid(&self) -> Option<&History> {
        match self {
            SavedState::Valid(h) => Some(h),
            _ => None,
        }
    }

    /// The generation to continue from (0 when there was no usable state).
    pub fn generation(&self) -> u64 {
        match self {
            SavedState::Valid(h) => h.generation,
            _ => 0,
        }
    }
}

impl History {
    /// The window maximum at `now`: the highest recommendation made after `now - window`.
    pub fn window_max(&self, now: i64, window: u32) -> Option<Recommendation> {
        let since = now - i64::from(window);
        self.recommendations
            .iter()
            .filter(|r| r.at > since)
            .max_by_key(|r| (r.value, r.at))
            .copied()
    }

    /// Adds a recommendation made at `now` and drops what can no longer matter.
    pub fn record(&mut self, now: i64, value: u32, window: u32) {
        let since = now - i64::from(window);
        self.recommendations.retain(|r| r.at > since);
        // Older recommendations that are not higher than this one are dominated by it.
        while let Some(last) = self.recommendations.last() {
            if last.value <= value {
                self.recommendations.pop();
            } else {
                break;
            }
        }
        // Keep times increasing even if the clock stepped back.
        let at = self.recommendations.last().map_or(now, |l| l.at.max(now));
        self.recommendations.push(Recommendation { at, value });
    }

    /// Combines two histories of one target without losing what either knows: the higher
    /// generation, the later last change, and every recommendation that can still be a
    /// window maximum. Commutative and idempotent, so a history read just before a write
    /// can be merged with the one computed from an earlier read (read-modify-write).
    pub fn merge(&self, other: &History) -> History {
        let mut all: Vec<Recommendation> = self
            .recommendations
            .iter()
            .chain(&other.recommendations)
            .copied()
            .collect();
        // By time, and at equal times the higher value last, so it dominates the lower.
        all.sort_by_key(|r| (r.at, r.value));
        let mut recommendations: Vec<Recommendation> = Vec::with_capacity(all.len());
        for r in all {
            while recommendations
                .last()
                .is_some_and(|last| last.value <= r.value)
            {
                recommendations.pop();
            }
            recommendations.push(r);
        }
        let last_change = match (self.last_change, other.last_change) {
            (Some(a), Some(b)) => Some(
                if (b.at, b.direction == Direction::In) > (a.at, a.direction == Direction::In) {
                    b
                } else {
                    a
                },
            ),
            (a, b) => a.or(b),
        };
        History {
            generation: self.generation.max(other.generation),
            last_change,
            recommendations,
        }
    }

    /// Forgets recommendations that have left the window.
    pub fn expire(&mut self, now: i64, window: u32) {
        let since = now - i64::from(window);
        self.recommendations.retain(|r| r.at > since);
    }

    /// The newest time this history mentions.
    pub fn latest_time(&self) -> Option<i64> {
        let change = self.last_change.map(|c| c.at);
        let rec = self.recommendations.last().map(|r| r.at);
        change.max(rec)
    }

    /// Encodes the history in at most [`MAX_TAG_VALUE`] characters, merging the oldest
    /// recommendations (conservatively, see the module documentation) until it fits.
    pub fn encode(&self) -> String {
        let mut compact = self.clone();
        loop {
            let text = compact.encode_as_is();
            if text.len() <= MAX_TAG_VALUE || compact.recommendations.len() <= 1 {
                return text;
            }
            compact.merge_oldest();
        }
    }

    /// Merges the two oldest recommendations into the higher value held until the later time.
    fn merge_oldest(&mut self) {
        if self.recommendations.len() < 2 {
            return;
        }
        let first = self.recommendations.remove(0);
        let second = &mut self.recommendations[0];
        second.value = second.value.max(first.value);
    }

    fn encode_as_is(&self) -> String {
        let mut text = format!("{VERSION} g{}", self.generation);
        if let Some(change) = self.last_change {
            let d = match change.direction {
                Direction::Out => 'o',
                Direction::In => 'i',
            };
            let _ = write!(text, " c{d}{}", change.at);
        }
        let mut previous: Option<i64> = None;
        for (i, r) in self.recommendations.iter().enumerate() {
            let time = match previous {
                None => r.at,
                Some(p) => r.at - p,
            };
            text.push_str(if i == 0 { " r" } else { "/" });
            let _ = write!(text, "{time}:{}", r.value);
            previous = Some(r.at);
        }
        text
    }

    /// Decodes a tag value; the error says what is wrong with it.
    pub fn decode(text: &str) -> Result<History, String> {
        if text.len() > MAX_TAG_VALUE {
            return Err(format!(
                "{} characters, more than a tag value can hold ({MAX_TAG_VALUE})",
                text.len()
            ));
        }
        let mut fields = text.split(' ');
        match fields.next() {
            Some(VERSION) => {}
            Some(v) if v.starts_with('v') && v[1..].parse::<u32>().is_ok() => {
                return Err(format!(
                    "format {v} is not one this autoscaler understands ({VERSION})"
                ))
            }
            _ => return Err(format!("does not start with a version ({VERSION})")),
        }
        let mut history = History::default();
        let mut seen_generation = false;
        for field in fields {
            let bad = || format!("unreadable field \"{}\"", truncate(field));
            if let Some(g) = field.strip_prefix('g') {
                history.generation = g.parse().map_err(|_| bad())?;
                seen_generation = true;
            } else if let Some(c) = field.strip_prefix('c') {
                let direction = match c.chars().next() {
                    Some('o') => Direction::Out,
                    Some('i') => Direction::In,
                    _ => return Err(bad()),
                };
                let at: i64 = c[1..].parse().map_err(|_| bad())?;
                if !(0..=MAX_EPOCH).contains(&at) {
                    return Err(bad());
                }
                history.last_change = Some(LastChange { at, direction });
            } else if let Some(r) = field.strip_prefix('r') {
                let mut previous: Option<i64> = None;
                for entry in r.split('/') {
                    let (time, value) = entry.split_once(':').ok_or_else(bad)?;
                    let time: i64 = time.parse().map_err(|_| bad())?;
                    let value: u32 = value.parse().map_err(|_| bad())?;
                    let at = match previous {
                        None => time,
                        Some(p) if time >= 0 => p.checked_add(time).ok_or_else(bad)?,
                        Some(_) => return Err(bad()),
                    };
                    if !(0..=MAX_EPOCH).contains(&at) {
                        return Err(bad());
                    }
                    if let Some(last) = history.recommendations.last() {
                        if last.value <= value {
                            return Err("recommendations are not in decreasing order".into());
                        }
                    }
                    history.recommendations.push(Recommendation { at, value });
                    previous = Some(at);
                }
            } else {
                return Err(bad());
            }
        }
        if !seen_generation {
            return Err("has no generation".into());
        }
        Ok(history)
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(24).collect()
}

/// True when every character is allowed in an AWS tag value.
pub fn is_valid_tag_value(text: &str) -> bool {
    text.len() <= MAX_TAG_VALUE
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(at: i64, value: u32) -> Recommendation {
        Recommendation { at, value }
    }

    #[test]
    fn times_outside_a_sane_epoch_range_are_unreadable() {
        for text in [
            "v1 g1 co-9223372036854775808",
            "v1 g1 ci99999999999",
            "v1 g1 r-5:10",
            "v1 g1 r1700000000:10/99999999999:5",
        ] {
            assert!(
                matches!(SavedState::read(Some(text)), SavedState::Unusable(_)),
                "{text}"
            );
        }
    }

    #[test]
    fn a_history_round_trips_through_its_compact_text() {
        let h = History {
            generation: 42,
            last_change: Some(LastChange {
                at: 1_712_345_678,
                direction: Direction::Out,
            }),
            recommendations: vec![
                rec(1_712_345_600, 40),
                rec(1_712_345_660, 25),
                rec(1_712_345_780, 12),
            ],
        };
        let text = h.encode();
        assert_eq!(text, "v1 g42 co1712345678 r1712345600:40/60:25/120:12");
        assert!(is_valid_tag_value(&text));
        assert_eq!(History::decode(&text).unwrap(), h);
        let empty = History::default();
        assert_eq!(empty.encode(), "v1 g0");
        assert_eq!(History::decode("v1 g0").unwrap(), empty);
    }

    #[test]
    fn missing_corrupt_oversized_and_future_state_is_no_history_with_a_reason() {
        assert_eq!(SavedState::read(None), SavedState::Missing);
        for (text, why) in [
            ("", "does not start with a version"),
            ("{\"json\":1}", "does not start with a version"),
            ("v2 g1 x9", "format v2 is not one"),
            ("v1 g1 cz12", "unreadable field \"cz12\""),
            ("v1 g1 r10:5/3:9", "not in decreasing order"),
            ("v1 g1 r10:5/-3:4", "unreadable field"),
            ("v1 g1 r10:-5", "unreadable field"),
            ("v1 g1 r99999999999999999999:5", "unreadable field"),
            ("v1 co12", "has no generation"),
            ("v1 g1 q1", "unreadable field \"q1\""),
        ] {
            match SavedState::read(Some(text)) {
                SavedState::Unusable(reason) => {
                    assert!(reason.contains(why), "{text}: {reason}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        let long = format!("v1 g1 {}", "x".repeat(300));
        match SavedState::read(Some(&long)) {
            SavedState::Unusable(reason) => assert!(reason.contains("more than a tag value")),
            other => panic!("{other:?}"),
        }
        assert_eq!(SavedState::read(Some("v9 g1")).generation(), 0);
    }

    #[test]
    fn recording_keeps_only_recommendations_that_can_still_be_the_window_maximum() {
        let mut h = History::default();
        h.record(100, 10, 300);
        h.record(160, 30, 300); // dominates 10
        h.record(220, 20, 300);
        h.record(280, 5, 300);
        assert_eq!(h.recommendations, [rec(160, 30), rec(220, 20), rec(280, 5)]);
        assert_eq!(h.window_max(280, 300), Some(rec(160, 30)));
        // 30 leaves the window at 460; 20 is then the highest.
        h.record(470, 4, 300);
        assert_eq!(h.recommendations, [rec(220, 20), rec(280, 5), rec(470, 4)]);
        assert_eq!(h.window_max(470, 300), Some(rec(220, 20)));
        // An equal value replaces the older entry: it holds for longer.
        h.record(480, 20, 300);
        assert_eq!(h.recommendations, [rec(480, 20)]);
    }

    #[test]
    fn compaction_to_the_tag_limit_only_ever_holds_higher_for_longer() {
        let mut h = History {
            generation: u64::MAX,
            // The longest time a readable state can hold.
            last_change: Some(LastChange {
                at: MAX_EPOCH,
                direction: Direction::In,
            }),
            recommendations: Vec::new(),
        };
        for i in 0..60u32 {
            h.recommendations
                .push(rec(1_700_000_000 + i64::from(i) * 3599, u32::MAX - i));
        }
        let text = h.encode();
        assert!(text.len() <= MAX_TAG_VALUE, "{}", text.len());
        let back = History::decode(&text).unwrap();
        assert!(back.recommendations.len() < h.recommendations.len());
        for t in (1_700_000_000..1_700_000_000 + 60 * 3599).step_by(977) {
            let before = h.window_max(t, 3600).map(|r| r.value);
            let after = back.window_max(t, 3600).map(|r| r.value);
            assert!(after >= before, "at {t}: {after:?} < {before:?}");
        }
    }

    proptest! {
        #[test]
        fn any_recorded_history_encodes_within_the_limit_decodes_and_never_lowers_the_window_max(
            steps in proptest::collection::vec((0i64..400, 0u32..100_000), 0..200),
            window in 0u32..=3600,
            generation in any::<u64>(),
        ) {
            let mut h = History { generation, ..History::default() };
            let mut now = 1_700_000_000i64;
            for (dt, value) in &steps {
                now += dt;
                h.record(now, *value, window);
            }
            let text = h.encode();
            prop_assert!(is_valid_tag_value(&text), "{}", text);
            let back = History::decode(&text).unwrap();
            prop_assert_eq!(back.generation, generation);
            for later in [now, now + 1, now + i64::from(window) / 2, now + i64::from(window)] {
                let before = h.window_max(later, window).map(|r| r.value);
                let after = back.window_max(later, window).map(|r| r.value);
                prop_assert!(after >= before, "{:?} < {:?}", after, before);
            }
        }

        #[test]
        fn merging_is_commutative_idempotent_and_keeps_every_window_maximum(
            a_steps in proptest::collection::vec((0i64..200, 0u32..1000), 0..30),
            b_steps in proptest::collection::vec((0i64..200, 0u32..1000), 0..30),
            a_change in proptest::option::of((0i64..5000, any::<bool>())),
            b_change in proptest::option::of((0i64..5000, any::<bool>())),
            window in 1u32..=3600,
        ) {
            let build = |steps: &[(i64, u32)], change: Option<(i64, bool)>, generation| {
                let mut h = History { generation, ..History::default() };
                let mut now = 1_700_000_000i64;
                for (dt, value) in steps {
                    now += dt;
                    h.record(now, *value, window);
                }
                h.last_change = change.map(|(dt, out)| LastChange {
                    at: 1_700_000_000 + dt,
                    direction: if out { Direction::Out } else { Direction::In },
                });
                h
            };
            let a = build(&a_steps, a_change, 3);
            let b = build(&b_steps, b_change, 7);
            let ab = a.merge(&b);
            prop_assert_eq!(&ab, &b.merge(&a));
            prop_assert_eq!(&ab.merge(&ab), &ab);
            prop_assert_eq!(&ab.merge(&a), &ab);
            prop_assert_eq!(ab.generation, 7);
            prop_assert_eq!(ab.last_change.map(|c| c.at), a.last_change.map(|c| c.at).max(b.last_change.map(|c| c.at)));
            for dt in [0i64, 100, 1000, 3000, 6000, 9000] {
                let now = 1_700_000_000 + dt;
                let want = a.window_max(now, window).map(|r| r.value).max(b.window_max(now, window).map(|r| r.value));
                prop_assert_eq!(ab.window_max(now, window).map(|r| r.value), want, "at {}", now);
            }
            // Still a valid monotonic history: times increase, values strictly decrease.
            for pair in ab.recommendations.windows(2) {
                prop_assert!(pair[0].at <= pair[1].at && pair[0].value > pair[1].value, "{:?}", pair);
            }
        }

        #[test]
        fn deciding_from_any_decodable_state_never_panics(
            change in proptest::option::of(any::<i64>()),
            first in any::<i64>(),
            delta in 0i64..1_000_000,
            now in any::<i64>().prop_map(|n| n / 4),
        ) {
            let mut text = "v1 g1".to_string();
            if let Some(at) = change {
                text.push_str(&format!(" co{at}"));
            }
            text.push_str(&format!(" r{first}:9/{delta}:3"));
            if let SavedState::Valid(h) = SavedState::read(Some(&text)) {
                for t in [h.last_change.map(|c| c.at), h.latest_time()].into_iter().flatten() {
                    prop_assert!((0..=MAX_EPOCH).contains(&t));
                }
                // The arithmetic decide does with saved times.
                let _ = h.window_max(now, 3600);
                let mut h = h;
                h.expire(now, 3600);
            }
        }

        #[test]
        fn decoding_arbitrary_text_never_panics(text in "\\PC{0,300}") {
            let _ = SavedState::read(Some(&text));
        }

        #[test]
        fn decoding_near_misses_never_panics(text in "v1( g[0-9]{0,3}| c[oi]?[0-9-]{0,5}| r[0-9:/-]{0,30}){0,4}") {
            let _ = SavedState::read(Some(&text));
        }
    }
}
