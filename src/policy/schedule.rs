//! Scheduled capacity in the policy: a target's `schedules`, time windows that replace its
//! bounds while they are active (business hours, a nightly batch, a launch). What a window
//! does at a given instant is [`crate::schedule`]'s; this module reads and checks windows.

use crate::count::{deserialize_int_in_range, Count};
use crate::cron::{CronExpr, Zone};
use jiff::civil::DateTime;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer};
use std::collections::HashSet;

/// The longest window: a month. A window shorter than a minute could fall between two
/// evaluations of the one-minute schedule, so that is the shortest.
pub const MAX_DURATION_SECONDS: u32 = 31 * 86_400;
pub const MIN_DURATION_SECONDS: u32 = 60;
/// The earliest a window may start before its time: a day.
pub const MAX_LEAD_SECONDS: u32 = 86_400;
/// Window names go into tag keys (`autoscaler:schedule:<name>`), which allow 128 characters.
pub const MAX_NAME_LEN: usize = 64;

/// One window of a target's `schedules`.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub name: String,
    pub start: Start,
    pub end: End,
    pub timezone: Zone,
    /// Seconds the window starts before its start time (its end does not move).
    pub lead_seconds: u32,
    pub bounds: WindowBounds,
}

/// When a window starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// Every time a cron expression fires, in the window's time zone.
    Cron(CronExpr),
    /// Once, at a local time (`"at": "2026-12-24T08:00:00"`, as Application Auto Scaling's
    /// `at()`), resolved in the window's time zone as cron resolves its times.
    At { local: DateTime, instant: Timestamp },
}

/// When a window ends.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// At the first time a cron expression fires after the window's start.
    Cron(CronExpr),
    /// This many seconds after its start, elapsed (also across a daylight saving change).
    Duration(u32),
}

/// What an active window does to the target's bounds. At least one is set; `set` comes
/// alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowBounds {
    pub min: Option<u32>,
    pub max: Option<u32>,
    /// Both bounds at once: the reservation is exactly this while the window is active.
    pub set: Option<u32>,
}

impl std::fmt::Display for WindowBounds {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let parts: Vec<String> = [("min", self.min), ("max", self.max), ("set", self.set)]
            .iter()
            .filter_map(|(name, v)| v.map(|v| format!("{name} {v}")))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// A window as written in the document (or built from a tag).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WindowDoc {
    pub(crate) name: String,
    pub(crate) start: Option<String>,
    pub(crate) at: Option<String>,
    pub(crate) end: Option<String>,
    #[serde(default, deserialize_with = "duration")]
    pub(crate) duration_seconds: Option<u32>,
    pub(crate) timezone: Option<String>,
    #[serde(default, deserialize_with = "lead")]
    pub(crate) lead_seconds: Option<u32>,
    pub(crate) min: Option<Count>,
    pub(crate) max: Option<Count>,
    pub(crate) set: Option<Count>,
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let n = deserialize_int_in_range(
        d,
        i64::from(MIN_DURATION_SECONDS),
        i64::from(MAX_DURATION_SECONDS),
    )?;
    // Within u32 bounds.
    Ok(Some(n as u32))
}

fn lead<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let n = deserialize_int_in_range(d, 0, i64::from(MAX_LEAD_SECONDS))?;
    Ok(Some(n as u32))
}

/// Window names: 1 to 64 letters, digits, `-`, `_` or `.` (they become part of a tag key).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!(
            "window name \"{name}\" must be 1 to {MAX_NAME_LEN} characters long"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "window name \"{name}\" contains {bad:?}; use letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// The target's bounds a window is checked against.
pub(crate) struct TargetBounds {
    pub(crate) max: u32,
    pub(crate) allow_zero: bool,
}

/// Validates a target's windows; `at` turns a field path (`schedules[1].timezone`) into
/// where the user wrote it.
pub(crate) fn validate_windows(
    docs: Vec<WindowDoc>,
    target: &TargetBounds,
    at: &dyn Fn(&str) -> String,
) -> Result<Vec<Window>, String> {
    let mut windows = Vec::with_capacity(docs.len());
    let mut names: HashSet<String> = HashSet::new();
    for (k, w) in docs.into_iter().enumerate() {
        let at_w = |field: &str| at(&format!("schedules[{k}].{field}"));
        let whole = at(&format!("schedules[{k}]"));
        check_name(&w.name).map_err(|e| format!("{}: {e}", at_w("name")))?;
        if !names.insert(w.name.clone()) {
            return Err(format!(
                "{}: window \"{}\" is listed twice for this target; give each window its own name",
                at_w("name"),
                w.name
            ));
        }
        let timezone = match &w.timezone {
            Some(name) => Zone::parse(name).map_err(|e| format!("{}: {e}", at_w("timezone")))?,
            None => Zone::utc(),
        };
        let start = match (w.start, w.at) {
            (Some(start), None) => {
                Start::Cron(CronExpr::parse(&start).map_err(|e| format!("{}: {e}", at_w("start")))?)
            }
            (None, Some(local)) => {
                let parsed =
                    crate::cron::parse_local(&local).map_err(|e| format!("{}: {e}", at_w("at")))?;
                let instant = timezone
                    .instant_of(parsed)
                    .map_err(|e| format!("{}: {e}", at_w("at")))?;
                Start::At {
                    local: parsed,
                    instant,
                }
            }
            _ => {
                return Err(format!(
                    "{whole}: give exactly one of \"start\" (a cron expression, e.g. \
                     \"0 8 * * MON-FRI\") and \"at\" (a one-off local time, e.g. \
                     \"2026-12-24T08:00:00\")"
                ))
            }
        };
        let end = match (w.end, w.duration_seconds) {
            (Some(end), None) => {
                End::Cron(CronExpr::parse(&end).map_err(|e| format!("{}: {e}", at_w("end")))?)
            }
            (None, Some(seconds)) => End::Duration(seconds),
            _ => {
                return Err(format!(
                    "{whole}: give exactly one of \"end\" (a cron expression) and \
                     \"duration_seconds\""
                ))
            }
        };
        let bounds = WindowBounds {
            min: w.min.map(|c| c.0),
            max: w.max.map(|c| c.0),
            set: w.set.map(|c| c.0),
        };
        check_bounds(&bounds, target, &at_w, &whole, &w.name)?;
        windows.push(Window {
            name: w.name,
            start,
            end,
            timezone,
            lead_seconds: w.lead_seconds.unwrap_or(0),
            bounds,
        });
    }
    Ok(windows)
}

fn check_bounds(
    b: &WindowBounds,
    target: &TargetBounds,
    at_w: &dyn Fn(&str) -> String,
    whole: &str,
    name: &str,
) -> Result<(), String> {
    if b.min.is_none() && b.max.is_none() && b.set.is_none() {
        return Err(format!(
            "{whole}: window \"{name}\" has no bound; give at least one of min, max and set"
        ));
    }
    if b.set.is_some() && (b.min.is_some() || b.max.is_some()) {
        return Err(format!(
            "{}: set fixes the reservation while the window is active; leave min and max out",
            at_w("set")
        ));
    }
    if let (Some(min), Some(max)) = (b.min, b.max) {
        if max < min {
            return Err(format!("{}: must be >= min ({min})", at_w("max")));
        }
    }
    for (field, value) in [("min", b.min), ("max", b.max), ("set", b.set)] {
        if value == Some(0) && !target.allow_zero {
            return Err(format!(
                "{}: 0 would let the autoscaler throttle the function completely; \
                 set \"allow_zero\": true on the target if that is intended",
                at_w(field)
            ));
        }
    }
    if let (Some(min), None) = (b.min, b.max) {
        if min > target.max {
            return Err(format!(
                "{}: {min} is above the target's max {}; give the window a max as well \
                 (a window may raise max)",
                at_w("min"),
                target.max
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::policy::Policy;

    fn with(schedules: &str) -> Result<crate::policy::Target, String> {
        Policy::from_json(
            &format!(
                r#"{{"targets":[{{"function":"f","min":2,"max":50,"allow_zero":true,
                    "schedules":[{schedules}]}}]}}"#
            ),
            "t",
        )
        .map(|mut p| p.targets.remove(0))
        .map_err(|e| e.message)
    }

    #[test]
    fn windows_parse_with_their_defaults() {
        let t = with(
            r#"{"name":"business-hours","start":"0 8 * * MON-FRI","duration_seconds":36000,
                "timezone":"Europe/Berlin","min":20,"lead_seconds":300},
               {"name":"launch","at":"2026-12-24T08:00:00","end":"0 20 * * *","max":500,"min":100}"#,
        )
        .unwrap();
        let [hours, launch] = t.schedules.as_slice() else {
            panic!("{:?}", t.schedules)
        };
        assert_eq!(hours.timezone.name(), "Europe/Berlin");
        assert_eq!(hours.lead_seconds, 300);
        assert_eq!(hours.end, super::End::Duration(36_000));
        assert_eq!(hours.bounds.min, Some(20));
        assert_eq!(launch.timezone.name(), "UTC");
        assert_eq!(launch.lead_seconds, 0);
        match &launch.start {
            super::Start::At { instant, .. } => {
                assert_eq!(instant.as_second(), 1_798_099_200) // 2026-12-24T08:00:00Z
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_windows_are_refused_with_their_json_path() {
        for (window, expected) in [
            (
                r#"{"name":"a","start":"0 8 * *","duration_seconds":60,"min":3}"#,
                "targets[0].schedules[0].start: 4 field(s)",
            ),
            (
                r#"{"name":"a","start":"0 8 * * *","end":"0 8 ? * *","min":3}"#,
                "targets[0].schedules[0].end: day of month \"?\": ? is AWS cron() syntax",
            ),
            (
                r#"{"name":"a","start":"0 8 * * *","duration_seconds":60,"timezone":"Mars/Olympus","min":3}"#,
                "targets[0].schedules[0].timezone: unknown time zone \"Mars/Olympus\"",
            ),
            (
                r#"{"name":"a","start":"0 8 * * *","duration_seconds":60}"#,
                "targets[0].schedules[0]: window \"a\" has no bound",
            ),
            (
                r#"{"name":"a","start":"0 8 * * *","duration_seconds":60,"min":9,"max":4}"#,
                "targets[0].schedules[0].max: must be >= min (9)",
            ),
            (
                r#"{"name":"a","start":"0 8 * * *","duration_seconds":60,"min":90}"#,
                "targets[0].schedules[0].min: 90 is above the target's max 50",
            ),
            (
                r#"{"name":"a","start":"0 8 * * *","duration_seconds":60,"set":4,"max":9}"#,
                "targets[0].schedules[0].set: set fixes the reservation",
            ),
            (
                r#"{"name":"a","start":"0 8 * * *","at":"2026-12-24T08:00:00","duration_seconds":60,"min":3}"#,
                "targets[0].schedules[0]: give exactly one of \"start\"",
            ),
            (
                r#"{"name":"a","start":"0 8 * * *","end":"0 9 * * *","duration_seconds":60,"min":3}"#,
                "targets[0].schedules[0]: give exactly one of \"end\"",
            ),
            (
                r#"{"name":"a","start":"0 8 * * *","min":3}"#,
                "targets[0].schedules[0]: give exactly one of \"end\"",
            ),
            (
                r#"{"name":"a","at":"2026-12-24T08:00:00+01:00","duration_seconds":60,"min":3}"#,
                "targets[0].schedules[0].at: \"2026-12-24T08:00:00+01:00\": give a local time",
            ),
            (
                r#"{"name":"a","at":"24.12.2026 08:00","duration_seconds":60,"min":3}"#,
                "targets[0].schedules[0].at: \"24.12.2026 08:00\": give a local time",
            ),
            (
                r#"{"name":"a","start":"0 8 * * *","duration_seconds":30,"min":3}"#,
                "targets[0].schedules[0].duration_seconds: 30 is out of range",
            ),
            (
                r#"{"name":"a","start":"0 8 * * *","duration_seconds":60,"lead_seconds":-5,"min":3}"#,
                "targets[0].schedules[0].lead_seconds: -5 is out of range",
            ),
            (
                r#"{"name":"a b","start":"0 8 * * *","duration_seconds":60,"min":3}"#,
                "targets[0].schedules[0].name: window name \"a b\" contains ' '",
            ),
            (
                r#"{"name":"a","start":"0 8 * * *","duration_seconds":60,"min":3,"mni":4}"#,
                "targets[0].schedules[0].mni: unknown field `mni`",
            ),
            (
                r#"{"name":"a","start":"0 8 * * *","duration_seconds":60,"min":3},
                   {"name":"a","start":"0 9 * * *","duration_seconds":60,"min":3}"#,
                "targets[0].schedules[1].name: window \"a\" is listed twice",
            ),
        ] {
            let err = with(window).unwrap_err();
            assert!(err.starts_with(expected), "{window}: {err}");
        }
    }

    #[test]
    fn zero_bounds_need_allow_zero() {
        let err = Policy::from_json(
            r#"{"targets":[{"function":"f","min":2,"max":50,"schedules":[
                {"name":"night","start":"0 22 * * *","end":"0 6 * * *","max":0}]}]}"#,
            "t",
        )
        .unwrap_err()
        .message;
        assert!(
            err.starts_with("targets[0].schedules[0].max: 0 would let"),
            "{err}"
        );
        assert!(with(r#"{"name":"night","start":"0 22 * * *","end":"0 6 * * *","set":0}"#).is_ok());
    }
}
