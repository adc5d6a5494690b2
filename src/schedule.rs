//! Scheduled capacity at an instant: which of a target's windows
//! ([`crate::policy::schedule::Window`]) are active, and the bounds they give it. Pure:
//! `now` is an argument. Every evaluation works the windows out from the clock again
//! (level-triggered), so nothing is scheduled anywhere, and a missed or late evaluation
//! misses nothing: the next one sees the same windows.
//!
//! # What an active window does
//!
//! For the bounds it sets, its values replace the target's: `min` and `max`, or `set` for
//! both. A window may raise `max` above the document's (a launch) or lower it, even to 0 (a
//! batch consumer held off at night).
//!
//! # Overlapping windows
//!
//! 1. A `set` wins over every `min` and `max`; of several sets, the **lowest** wins.
//! 2. Otherwise the **highest** `min` and the **lowest** `max` of the active windows win;
//!    the document's own value stands for a bound no active window sets.
//! 3. If the merged `min` is then above the merged `max`, the **max wins** (the min is
//!    lowered to it): a max protects something (the account's pool, a database), a min only
//!    asks for capacity. The reasons say so. Nothing panics.
//!
//! How the bounds meet caps and the event source floor is [`crate::decide`]'s: caps win over
//! windows.

use crate::cron::{instant, CronExpr};
use crate::policy::schedule::{End, Start, Window};
use crate::policy::Target;
use jiff::{SignedDuration, Timestamp};

/// One occurrence of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    /// When the window's bounds start to apply: its start less `lead_seconds`.
    pub opens: Timestamp,
    /// Its start time.
    pub starts: Timestamp,
    /// When its bounds stop applying.
    pub ends: Timestamp,
}

fn plus(t: Timestamp, seconds: i64) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(seconds))
        .unwrap_or(if seconds < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        })
}

/// When the occurrence that starts at `starts` ends.
fn end_of(window: &Window, starts: Timestamp) -> Result<Timestamp, String> {
    match &window.end {
        End::Duration(seconds) => Ok(plus(starts, i64::from(*seconds))),
        End::Cron(expr) => {
            // The end is the first time it fires after the start: an end that also fires at
            // the start itself (0 8,18 * * * after 0 8 * * MON-FRI) means the later one, as
            // an end written as the start's own expression means a day later. Only a start
            // that a skipped hour moved (02:00 to 03:00 on a spring change, each read as
            // 03:00) ends at its own instant: the window lies wholly in the skipped hour,
            // and the next end would hold it for a day.
            let same = matches!(&window.start, Start::Cron(start) if start == expr);
            let moved = moved_by_skipped_hour(window, starts);
            let from = if moved && !same {
                plus(starts, -1)
            } else {
                starts
            };
            expr.first_after(&window.timezone, from)?
                .ok_or_else(|| format!("its end \"{expr}\" never comes"))
        }
    }
}

/// Whether the window's start at `starts` is a time a skipped hour moved: the clock jumped
/// forward to `starts` (a time in the skipped hour resolves to it), and the start does not
/// name that wall-clock time itself (`0 3 * * *` is not moved when the clock jumps from 02:00
/// to 03:00; `30 2 * * *` is). The clock going back (autumn) moves nothing.
fn moved_by_skipped_hour(window: &Window, starts: Timestamp) -> bool {
    let zone = &window.timezone;
    let before = zone.wall(plus(starts, -1)).datetime();
    let at = zone.wall(starts).datetime();
    let jumped = before
        .checked_add(SignedDuration::from_secs(1))
        .is_ok_and(|next| next < at);
    jumped
        && match &window.start {
            Start::Cron(expr) => !expr.matches(zone, starts),
            Start::At { local, .. } => *local != at,
        }
}

fn occurrence(window: &Window, starts: Timestamp) -> Result<Occurrence, String> {
    Ok(Occurrence {
        opens: plus(starts, -i64::from(window.lead_seconds)),
        starts,
        ends: end_of(window, starts)?,
    })
}

/// The window's occurrence that is active at `now`, if any. Only the latest start at or
/// before `now` + lead can be: an earlier occurrence ends no later than it.
pub fn active_at(window: &Window, now: Timestamp) -> Result<Option<Occurrence>, String> {
    let probe = plus(now, i64::from(window.lead_seconds));
    let starts = match &window.start {
        Start::Cron(expr) => expr.latest_at_or_before(&window.timezone, probe)?,
        Start::At { instant, .. } => (*instant <= probe).then_some(*instant),
    };
    let Some(starts) = starts else {
        return Ok(None);
    };
    let found = occurrence(window, starts)?;
    Ok((now < found.ends).then_some(found))
}

/// The occurrence active at `now` (if any), then the next ones, `count` in all at most.
pub fn upcoming(window: &Window, now: Timestamp, count: usize) -> Result<Vec<Occurrence>, String> {
    let mut found: Vec<Occurrence> = active_at(window, now)?.into_iter().collect();
    let mut after = plus(now, i64::from(window.lead_seconds));
    while found.len() < count {
        let next = match &window.start {
            Start::Cron(expr) => expr.first_after(&window.timezone, after)?,
            Start::At { instant, .. } => (*instant > after).then_some(*instant),
        };
        let Some(starts) = next else { break };
        found.push(occurrence(window, starts)?);
        after = starts;
    }
    Ok(found)
}

/// A duration as people say it: `10 h`, `90 min`, `45 s`.
pub fn human(seconds: u32) -> String {
    if seconds.is_multiple_of(3600) {
        format!("{} h", seconds / 3600)
    } else if seconds.is_multiple_of(60) {
        format!("{} min", seconds / 60)
    } else {
        format!("{seconds} s")
    }
}

/// Day names for a day-of-week field: `1-5` and `MON-FRI` both read `Mon-Fri`.
fn days(field: &str) -> Option<String> {
    const NAMES: [&str; 8] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    if field.contains('/') || field.contains('*') {
        return None;
    }
    let name = |atom: &str| -> Option<String> {
        match atom.parse::<usize>() {
            Ok(n) => NAMES.get(n).map(|s| s.to_string()),
            Err(_) => {
                let mut chars = atom.chars();
                let first = chars.next()?.to_ascii_uppercase();
                Some(format!("{first}{}", chars.as_str().to_ascii_lowercase()))
            }
        }
    };
    let mut out = String::new();
    let mut atom = String::new();
    for c in field.chars().chain(std::iter::once('\0')) {
        if c == ',' || c == '-' || c == '\0' {
            out.push_str(&name(&atom)?);
            if c != '\0' {
                out.push(c);
            }
            atom.clear();
        } else {
            atom.push(c);
        }
    }
    Some(out)
}

/// A cron expression as people read it where that is short (`Mon-Fri 08:00`, `daily
/// 22:00`), else the expression itself.
pub fn describe_cron(expr: &CronExpr) -> String {
    let [minute, hour, dom, month, dow] = expr.fields();
    let (Ok(m), Ok(h)) = (minute.parse::<u32>(), hour.parse::<u32>()) else {
        return format!("\"{expr}\"");
    };
    if dom != "*" || month != "*" {
        return format!("\"{expr}\"");
    }
    let on = match dow.as_str() {
        "*" => Some("daily".to_owned()),
        field => days(field),
    };
    match on {
        Some(on) => format!("{on} {h:02}:{m:02}"),
        None => format!("\"{expr}\""),
    }
}

/// A window in a few words: `Mon-Fri 08:00 for 10 h, Europe/Berlin` (with `, 5 min early`
/// when it has a lead).
pub fn describe(window: &Window) -> String {
    let start = match &window.start {
        Start::Cron(expr) => describe_cron(expr),
        Start::At { local, .. } => format!("at {}", crate::cron::local(*local)),
    };
    let end = match &window.end {
        End::Duration(seconds) => format!("for {}", human(*seconds)),
        End::Cron(expr) => format!("until {}", describe_cron(expr)),
    };
    let lead = match window.lead_seconds {
        0 => String::new(),
        lead => format!(", {} early", human(lead)),
    };
    format!("{start} {end}, {}{lead}", window.timezone)
}

/// The bounds a target has at an instant, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds {
    pub min: u32,
    pub max: u32,
    /// The window that set `min` (`None`: the document's).
    pub min_by: Option<String>,
    /// The window that set `max` (`None`: the document's).
    pub max_by: Option<String>,
    /// The active windows, by name, in policy order.
    pub active: Vec<String>,
    /// One per active window, and one per overlap rule that decided something.
    pub reasons: Vec<String>,
}

impl Bounds {
    /// The document's bounds, with no window active.
    pub fn of_document(target: &Target) -> Bounds {
        Bounds {
            min: target.min,
            max: target.max,
            min_by: None,
            max_by: None,
            active: Vec::new(),
            reasons: Vec::new(),
        }
    }

    /// True when an active window raised the min above the document's.
    pub fn min_raised(&self, target: &Target) -> bool {
        self.min_by.is_some() && self.min > target.min
    }

    /// Where a bound came from, for the reasons: `schedule night` or nothing.
    pub fn source(by: &Option<String>) -> String {
        by.as_ref()
            .map(|name| format!(" (schedule {name})"))
            .unwrap_or_default()
    }
}

/// The target's bounds at `now` (epoch seconds): the document's, replaced by its active
/// windows'.
pub fn bounds(target: &Target, now: i64) -> Bounds {
    let mut b = Bounds::of_document(target);
    if target.schedules.is_empty() {
        return b;
    }
    let now = instant(now);
    let mut sets: Vec<(u32, &str)> = Vec::new();
    let mut mins: Vec<(u32, &str)> = Vec::new();
    let mut maxes: Vec<(u32, &str)> = Vec::new();
    for window in &target.schedules {
        let found = match active_at(window, now) {
            Ok(found) => found,
            Err(why) => {
                // Validation makes this unreachable in practice; never a panic.
                b.reasons.push(format!(
                    "schedule {} could not be evaluated ({why}): ignored",
                    window.name
                ));
                continue;
            }
        };
        let Some(found) = found else { continue };
        let zone = &window.timezone;
        let when = if now < found.starts {
            format!(
                "starts {}, until {}",
                zone.show(found.starts),
                zone.show(found.ends)
            )
        } else {
            format!("until {}", zone.show(found.ends))
        };
        b.reasons.push(format!(
            "schedule {} ({}) is active: {} ({when})",
            window.name,
            describe(window),
            window.bounds
        ));
        b.active.push(window.name.clone());
        let name = window.name.as_str();
        let w = window.bounds;
        if let Some(set) = w.set {
            sets.push((set, name));
        }
        if let Some(min) = w.min {
            mins.push((min, name));
        }
        if let Some(max) = w.max {
            maxes.push((max, name));
        }
    }
    let list = |items: &[(u32, &str)], what: &str| {
        items
            .iter()
            .map(|(v, n)| format!("{n} ({what} {v})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Ties go to the first name in alphabetical order, so that a policy's windows give the
    // same reasons whether the document lists them or tags do (sorted by key).
    // 1. A set wins; the lowest of several.
    if let Some(&(set, name)) = sets.iter().min_by_key(|(v, n)| (*v, *n)) {
        if sets.len() > 1 {
            b.reasons.push(format!(
                "schedules {} overlap: the lowest set wins: {set}",
                list(&sets, "set")
            ));
        }
        if !mins.is_empty() || !maxes.is_empty() {
            b.reasons.push(format!(
                "set {set} of schedule {name} wins over {}",
                list(&[mins.as_slice(), maxes.as_slice()].concat(), "bound")
            ));
        }
        b.min = set;
        b.max = set;
        b.min_by = Some(name.to_owned());
        b.max_by = Some(name.to_owned());
        return b;
    }
    // 2. The highest min and the lowest max.
    if let Some(&(min, name)) = mins.iter().max_by_key(|(v, n)| (*v, std::cmp::Reverse(*n))) {
        if mins.len() > 1 {
            b.reasons.push(format!(
                "schedules {} overlap: the highest min wins: {min}",
                list(&mins, "min")
            ));
        }
        b.min = min;
        b.min_by = Some(name.to_owned());
    }
    if let Some(&(max, name)) = maxes.iter().min_by_key(|(v, n)| (*v, *n)) {
        if maxes.len() > 1 {
            b.reasons.push(format!(
                "schedules {} overlap: the lowest max wins: {max}",
                list(&maxes, "max")
            ));
        }
        b.max = max;
        b.max_by = Some(name.to_owned());
    }
    // 3. A min above the max gives way.
    if b.min > b.max {
        let label = |by: &Option<String>| match by {
            Some(name) => format!("schedule {name}'s"),
            None => "the target's".to_owned(),
        };
        b.reasons.push(format!(
            "{} min {} is above {} max {}: the max wins, min {}",
            label(&b.min_by),
            b.min,
            label(&b.max_by),
            b.max,
            b.max
        ));
        b.min = b.max;
        b.min_by = b.max_by.clone();
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    /// A target (min 2, max 50, allow_zero) with these windows.
    fn target(schedules: &str) -> Target {
        Policy::from_json(
            &format!(
                r#"{{"targets":[{{"function":"f","min":2,"max":50,"allow_zero":true,
                    "schedules":[{schedules}]}}]}}"#
            ),
            "t",
        )
        .unwrap()
        .targets
        .remove(0)
    }

    fn epoch(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_second()
    }

    const BUSINESS_HOURS: &str = r#"{"name":"business-hours","start":"0 8 * * MON-FRI",
        "duration_seconds":36000,"timezone":"Europe/Berlin","min":20}"#;

    #[test]
    fn a_business_hours_window_raises_min_on_weekdays_from_eight_to_six_local_time() {
        let t = target(BUSINESS_HOURS);
        // Tuesday 2026-12-01, Berlin is UTC+1.
        for (at, active) in [
            ("2026-12-01T06:59:59Z", false),
            ("2026-12-01T07:00:00Z", true),
            ("2026-12-01T16:59:59Z", true),
            ("2026-12-01T17:00:00Z", false),
            ("2026-12-05T10:00:00Z", false), // Saturday
        ] {
            let b = bounds(&t, epoch(at));
            assert_eq!(b.min, if active { 20 } else { 2 }, "{at}");
            assert_eq!(b.active.len(), usize::from(active), "{at}");
            assert_eq!(b.max, 50);
        }
        let b = bounds(&t, epoch("2026-12-01T09:00:00Z"));
        assert_eq!(b.min_by.as_deref(), Some("business-hours"));
        assert_eq!(
            b.reasons,
            [
                "schedule business-hours (Mon-Fri 08:00 for 10 h, Europe/Berlin) is active: \
              min 20 (until 2026-12-01 18:00 CET)"
            ]
        );
    }

    #[test]
    fn lead_seconds_opens_a_window_early_but_ends_it_on_time() {
        let t = target(
            r#"{"name":"b","start":"0 8 * * MON-FRI","end":"0 18 * * MON-FRI",
                "timezone":"Europe/Berlin","min":20,"lead_seconds":300}"#,
        );
        assert_eq!(bounds(&t, epoch("2026-12-01T06:54:59Z")).min, 2);
        let early = bounds(&t, epoch("2026-12-01T06:55:00Z"));
        assert_eq!(early.min, 20);
        assert!(
            early.reasons[0].contains("5 min early")
                && early.reasons[0].contains("starts 2026-12-01 08:00 CET"),
            "{:?}",
            early.reasons
        );
        assert_eq!(bounds(&t, epoch("2026-12-01T16:59:59Z")).min, 20);
        assert_eq!(bounds(&t, epoch("2026-12-01T17:00:00Z")).min, 2);
    }

    #[test]
    fn an_end_expression_ends_a_window_that_crosses_midnight() {
        let t = target(r#"{"name":"night","start":"0 22 * * *","end":"0 6 * * *","max":0}"#);
        for (at, max) in [
            ("2026-12-01T21:59:00Z", 50),
            ("2026-12-01T22:00:00Z", 0),
            ("2026-12-02T03:00:00Z", 0),
            ("2026-12-02T05:59:59Z", 0),
            ("2026-12-02T06:00:00Z", 50),
        ] {
            assert_eq!(bounds(&t, epoch(at)).max, max, "{at}");
        }
    }

    #[test]
    fn an_end_that_also_fires_at_the_start_ends_at_its_next_firing() {
        // Weekdays 08:00 to 18:00, the end written as a list that includes the start's own
        // time; or as the start's own expression in other words (a day later, as the same
        // text). Neither leaves the window empty.
        let window = |end: &str| {
            target(&format!(
                r#"{{"name":"b","start":"0 8 * * MON-FRI","end":"{end}",
                    "timezone":"Europe/Berlin","min":20}}"#
            ))
        };
        // Tuesday 2026-12-01, Berlin is UTC+1.
        let t = window("0 8,18 * * *");
        for (at, min) in [
            ("2026-12-01T06:59:59Z", 2),
            ("2026-12-01T07:00:00Z", 20),
            ("2026-12-01T16:59:59Z", 20),
            ("2026-12-01T17:00:00Z", 2),
        ] {
            assert_eq!(bounds(&t, epoch(at)).min, min, "{at}");
        }
        // Each occurrence until the next start (Friday's until Monday's), as the same text.
        let same = window("0 8 * * MON-FRI");
        for end in ["0 8 * * 1-5", "0 08 * * mon-fri"] {
            let t = window(end);
            for at in [
                "2026-12-01T07:00:00Z",
                "2026-12-01T20:00:00Z",
                "2026-12-05T12:00:00Z",
            ] {
                assert_eq!(bounds(&t, epoch(at)).min, 20, "{end} {at}");
                assert_eq!(bounds(&same, epoch(at)).min, 20, "{at}");
            }
        }
    }

    #[test]
    fn a_start_at_the_first_time_after_a_spring_change_still_ends_at_its_next_end() {
        // A start at 03:00 (Berlin, New York) or 02:30 (Lord Howe) is not in the skipped hour:
        // it is the wall time right after it, where it fires every day. Its end, which also
        // fires at the start's time, should end it at its next firing on the change's day too.
        let mut wrong = Vec::new();
        for (zone, start, end, day_before, on_the_day) in [
            (
                "Europe/Berlin",
                "0 3 * * *",
                "0 3,17 * * *",
                "2026-03-28T10:00:00Z",
                "2026-03-29T10:00:00Z",
            ),
            (
                "America/New_York",
                "0 3 * * *",
                "0 3,17 * * *",
                "2026-03-07T14:00:00Z",
                "2026-03-08T14:00:00Z",
            ),
            (
                "Australia/Lord_Howe",
                "30 2 * * *",
                "30 2,20 * * *",
                "2026-10-02T20:00:00Z",
                "2026-10-03T20:00:00Z",
            ),
        ] {
            let t = target(&format!(
                r#"{{"name":"n","start":"{start}","end":"{end}","timezone":"{zone}","min":20}}"#
            ));
            assert_eq!(bounds(&t, epoch(day_before)).min, 20, "{zone} {day_before}");
            if bounds(&t, epoch(on_the_day)).min != 20 {
                wrong.push(format!(
                    "{zone} {on_the_day}: {:?}",
                    bounds(&t, epoch(on_the_day)).reasons
                ));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn the_repeated_hour_of_an_autumn_change_is_not_a_skipped_one() {
        // Every two hours, for an hour. On 2026-10-25 Berlin's clock goes back from 03:00 to
        // 02:00 (01:00 UTC); a step fires at both 02:00s, and so does the hourly end.
        let t = target(
            r#"{"name":"n","start":"0 */2 * * *","end":"0 * * * *","timezone":"Europe/Berlin","min":20}"#,
        );
        // 02:30 CEST, the first 02:00's hour: active.
        assert_eq!(bounds(&t, epoch("2026-10-25T00:30:00Z")).min, 20);
        // 02:30 CET, the second 02:00's hour.
        let b = bounds(&t, epoch("2026-10-25T01:30:00Z"));
        assert_eq!(b.min, 20, "{:?}", b.reasons);
    }

    #[test]
    fn a_one_off_window_is_active_once() {
        let t = target(
            r#"{"name":"launch","at":"2026-12-24T08:00:00","duration_seconds":7200,
                "timezone":"America/New_York","min":30,"max":500}"#,
        );
        // 08:00 in New York (EST, UTC-5) is 13:00 UTC.
        assert_eq!(bounds(&t, epoch("2026-12-24T12:59:59Z")).max, 50);
        let b = bounds(&t, epoch("2026-12-24T13:00:00Z"));
        assert_eq!((b.min, b.max), (30, 500), "a window may raise max");
        assert_eq!(bounds(&t, epoch("2026-12-24T15:00:00Z")).max, 50);
        assert_eq!(bounds(&t, epoch("2027-12-24T13:30:00Z")).max, 50);
    }

    #[test]
    fn equal_bounds_of_overlapping_windows_are_credited_alike_whatever_their_order() {
        let zeta =
            r#"{"name":"zeta","start":"0 8 * * *","duration_seconds":3600,"min":9,"max":40}"#;
        let alpha =
            r#"{"name":"alpha","start":"0 8 * * *","duration_seconds":3600,"min":9,"max":40}"#;
        for order in [format!("{zeta},{alpha}"), format!("{alpha},{zeta}")] {
            let b = bounds(&target(&order), epoch("2026-12-01T08:30:00Z"));
            assert_eq!((b.min, b.max), (9, 40));
            assert_eq!(
                (b.min_by.as_deref(), b.max_by.as_deref()),
                (Some("alpha"), Some("alpha")),
                "{order}"
            );
        }
    }

    #[test]
    fn overlaps_take_the_highest_min_the_lowest_max_and_a_set_over_both() {
        let t = target(
            r#"{"name":"a","start":"0 8 * * *","duration_seconds":36000,"min":10,"max":40},
               {"name":"b","start":"0 9 * * *","duration_seconds":3600,"min":15,"max":45},
               {"name":"c","start":"0 12 * * *","duration_seconds":3600,"set":5},
               {"name":"d","start":"30 12 * * *","duration_seconds":600,"set":3}"#,
        );
        let b = bounds(&t, epoch("2026-12-01T09:30:00Z"));
        assert_eq!((b.min, b.max), (15, 40));
        assert_eq!(
            (b.min_by.as_deref(), b.max_by.as_deref()),
            (Some("b"), Some("a"))
        );
        assert_eq!(b.active, ["a", "b"]);
        let b = bounds(&t, epoch("2026-12-01T12:10:00Z"));
        assert_eq!((b.min, b.max), (5, 5), "a set wins over a's min and max");
        let b = bounds(&t, epoch("2026-12-01T12:35:00Z"));
        assert_eq!((b.min, b.max), (3, 3), "the lowest set wins");
        assert!(
            b.reasons
                .iter()
                .any(|r| r.contains("the lowest set wins: 3")),
            "{:?}",
            b.reasons
        );
    }

    #[test]
    fn a_merged_min_above_the_merged_max_gives_way_to_the_max() {
        let t = target(
            r#"{"name":"busy","start":"0 8 * * *","duration_seconds":36000,"min":30},
               {"name":"maintenance","start":"0 9 * * *","duration_seconds":3600,"max":4}"#,
        );
        let b = bounds(&t, epoch("2026-12-01T09:30:00Z"));
        assert_eq!((b.min, b.max), (4, 4));
        assert!(
            b.reasons.last().unwrap()
                == "schedule busy's min 30 is above schedule maintenance's max 4: the max wins, min 4",
            "{:?}",
            b.reasons
        );
        // A window's max below the document's min takes the min down with it.
        let t = target(r#"{"name":"night","start":"0 22 * * *","end":"0 6 * * *","max":0}"#);
        let b = bounds(&t, epoch("2026-12-01T23:00:00Z"));
        assert_eq!((b.min, b.max), (0, 0));
    }

    #[test]
    fn a_start_in_the_skipped_hour_opens_at_three_on_the_spring_change() {
        // 2026-03-29: Berlin skips 02:00-03:00 (01:00 UTC).
        let t = target(
            r#"{"name":"n","start":"30 2 * * *","duration_seconds":3600,
                "timezone":"Europe/Berlin","min":9}"#,
        );
        for (at, active) in [
            ("2026-03-29T00:59:59Z", false),
            ("2026-03-29T01:00:00Z", true), // 03:00 CEST
            ("2026-03-29T01:59:59Z", true),
            ("2026-03-29T02:00:00Z", false), // an hour of elapsed time later
            ("2026-03-30T00:30:00Z", true),  // 02:30 CEST the next day
        ] {
            assert_eq!(bounds(&t, epoch(at)).min == 9, active, "{at}");
        }
    }

    #[test]
    fn a_window_wholly_in_the_skipped_hour_is_empty_that_day_not_a_day_long() {
        // A 02:00-03:00 window: on 2026-03-29 both ends read as 03:00 CEST (01:00 UTC).
        let daily = r#"{"name":"maint","start":"0 2 * * *","end":"0 3 * * *",
                "timezone":"Europe/Berlin","max":0}"#;
        let once = r#"{"name":"maint","at":"2026-03-29T02:00:00","end":"0 3 * * *",
                "timezone":"Europe/Berlin","max":0}"#;
        for schedule in [daily, once] {
            let t = target(schedule);
            for at in ["2026-03-29T01:00:00Z", "2026-03-29T10:00:00Z"] {
                assert_eq!(bounds(&t, epoch(at)).max, 50, "{at}: {schedule}");
            }
        }
        // The day before and after, an hour as ever.
        let t = target(daily);
        for (at, active) in [
            ("2026-03-28T01:30:00Z", true), // 02:30 CET
            ("2026-03-28T02:00:00Z", false),
            ("2026-03-30T00:30:00Z", true), // 02:30 CEST
        ] {
            assert_eq!(bounds(&t, epoch(at)).max == 0, active, "{at}");
        }
        // An end written as the start's own expression is a day later, as ever.
        let t = target(
            r#"{"name":"day","start":"0 8 * * *","end":"0 8 * * *",
                "timezone":"Europe/Berlin","min":9}"#,
        );
        assert_eq!(bounds(&t, epoch("2026-12-01T20:00:00Z")).min, 9);
    }

    #[test]
    fn a_start_in_the_repeated_hour_fires_once_on_the_autumn_change() {
        // 2026-10-25: Berlin repeats 02:00-03:00; 02:30 is 00:30 UTC (CEST) and 01:30 UTC (CET).
        let t = target(
            r#"{"name":"n","start":"30 2 * * *","duration_seconds":600,
                "timezone":"Europe/Berlin","min":9}"#,
        );
        for (at, active) in [
            ("2026-10-25T00:29:59Z", false),
            ("2026-10-25T00:30:00Z", true),
            ("2026-10-25T00:39:59Z", true),
            ("2026-10-25T00:40:00Z", false),
            ("2026-10-25T01:30:00Z", false), // the second 02:30: not again
            ("2026-10-25T01:35:00Z", false),
        ] {
            assert_eq!(bounds(&t, epoch(at)).min == 9, active, "{at}");
        }
    }

    #[test]
    fn a_duration_is_elapsed_time_across_a_change() {
        let t = target(
            r#"{"name":"night","start":"0 22 * * *","duration_seconds":28800,
                "timezone":"Europe/Berlin","max":0}"#,
        );
        // Autumn: 22:00 CEST (20:00 UTC) + 8 h = 04:00 UTC, which is 05:00 CET on the wall.
        assert_eq!(bounds(&t, epoch("2026-10-25T03:59:59Z")).max, 0);
        assert_eq!(bounds(&t, epoch("2026-10-25T04:00:00Z")).max, 50);
        // Spring: 22:00 CET (21:00 UTC) + 8 h = 05:00 UTC, 07:00 CEST on the wall.
        assert_eq!(bounds(&t, epoch("2026-03-29T04:59:59Z")).max, 0);
        assert_eq!(bounds(&t, epoch("2026-03-29T05:00:00Z")).max, 50);
        let night = &t.schedules[0];
        let next = upcoming(night, instant(epoch("2026-10-24T12:00:00Z")), 1).unwrap();
        assert_eq!(
            night.timezone.show(next[0].ends),
            "2026-10-25 05:00 CET",
            "ends at 05:00 on the wall"
        );
    }

    #[test]
    fn an_end_expression_keeps_its_wall_clock_time_across_a_change() {
        let t = target(
            r#"{"name":"night","start":"0 22 * * *","end":"0 6 * * *",
                "timezone":"Europe/Berlin","max":0}"#,
        );
        // 06:00 CET on 2026-10-25 is 05:00 UTC: nine hours after 22:00 CEST.
        assert_eq!(bounds(&t, epoch("2026-10-25T04:59:59Z")).max, 0);
        assert_eq!(bounds(&t, epoch("2026-10-25T05:00:00Z")).max, 50);
    }

    #[test]
    fn upcoming_lists_the_active_occurrence_then_the_next_ones() {
        let t = target(BUSINESS_HOURS);
        let w = &t.schedules[0];
        let list = upcoming(w, instant(epoch("2026-12-04T10:00:00Z")), 3).unwrap();
        let shown: Vec<String> = list
            .iter()
            .map(|o| format!("{} - {}", w.timezone.show(o.opens), w.timezone.show(o.ends)))
            .collect();
        assert_eq!(
            shown,
            [
                "2026-12-04 08:00 CET - 2026-12-04 18:00 CET", // Friday, active
                "2026-12-07 08:00 CET - 2026-12-07 18:00 CET", // Monday
                "2026-12-08 08:00 CET - 2026-12-08 18:00 CET",
            ]
        );
        let once = target(
            r#"{"name":"launch","at":"2026-12-24T08:00:00","duration_seconds":7200,"min":30}"#,
        );
        let w = &once.schedules[0];
        assert_eq!(
            upcoming(w, instant(epoch("2026-12-01T00:00:00Z")), 3)
                .unwrap()
                .len(),
            1
        );
        assert!(upcoming(w, instant(epoch("2027-01-01T00:00:00Z")), 3)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn descriptions_are_short_where_the_expression_is_simple() {
        let describe = |e: &str| describe_cron(&CronExpr::parse(e).unwrap());
        assert_eq!(describe("0 8 * * MON-FRI"), "Mon-Fri 08:00");
        assert_eq!(describe("0 8 * * 1-5"), "Mon-Fri 08:00");
        assert_eq!(describe("30 22 * * *"), "daily 22:30");
        assert_eq!(describe("0 9 * * sat,0"), "Sat,Sun 09:00");
        assert_eq!(describe("*/15 * * * *"), "\"*/15 * * * *\"");
        assert_eq!(describe("0 8 24 12 *"), "\"0 8 24 12 *\"");
        assert_eq!(human(36_000), "10 h");
        assert_eq!(human(5_400), "90 min");
        assert_eq!(human(45), "45 s");
    }
}
