//! Policies attached as tags on the target function, so a team can opt a function in without
//! redeploying the autoscaler.
//!
//! `autoscaler:enabled=true` plus `autoscaler:min`, `autoscaler:max` and optionally
//! `autoscaler:queue` (URL or name), `autoscaler:messages-per-instance`, and one
//! `autoscaler:<knob>` tag per document field, spelled with hyphens (`scale_in_cooldown_seconds`
//! becomes `autoscaler:scale-in-cooldown-seconds`). The tags go through the same validation
//! as a policy document target; errors name the tag. Alarms cannot be expressed in tags.
//!
//! # Schedules
//!
//! One tag per window: the key `autoscaler:schedule:<name>`, the value the window's fields as
//! `key=value` words, with the document's field names:
//!
//! ```text
//! autoscaler:schedule:business-hours = start=0 8 . . MON-FRI duration_seconds=36000 timezone=Europe/Berlin min=20
//! autoscaler:schedule:night          = start=0 22 . . . end=0 6 . . . max=0
//! autoscaler:schedule:launch         = at=2026-12-24T08:00:00 duration_seconds=7200 min=50 max=400
//! ```
//!
//! Tag values allow only letters, digits, spaces and `_ . : / = + - @`, so a cron expression
//! is written with `.` for `*` and `+` for `,` (`0 8+12 . . 1-5` is `0 8,12 * * 1-5`); the
//! words after `start=` or `end=` up to the next `key=` are the expression. Neither `.` nor
//! `+` is part of the dialect, so the two forms map one to one.

use crate::policy::schedule::{End, Start, Window};
use crate::policy::{validate_target, QueueRef, Target, TargetDoc};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

pub const PREFIX: &str = "autoscaler:";
pub const ENABLED_TAG: &str = "autoscaler:enabled";
/// The prefix of a window's tag key: `autoscaler:schedule:business-hours`.
pub const SCHEDULE_PREFIX: &str = "autoscaler:schedule:";
/// The longest tag value AWS accepts.
pub const MAX_TAG_VALUE_LEN: usize = 256;
/// The keys of a window's tag value.
const WINDOW_KEYS: &[&str] = &[
    "start",
    "at",
    "end",
    "duration_seconds",
    "timezone",
    "lead_seconds",
    "min",
    "max",
    "set",
];
/// Where releases before the DynamoDB state table kept their history; ignored now, so that
/// functions tagged by them stay valid.
const LEGACY_STATE_TAG: &str = "autoscaler:state";

/// Tag suffix -> (field of the target document, where it goes, kind of value).
const FIELDS: &[(&str, &str, Kind)] = &[
    ("min", "min", Kind::Number),
    ("max", "max", Kind::Number),
    ("allow-zero", "allow_zero", Kind::Bool),
    ("queue", "queue", Kind::Queue),
    (
        "messages-per-instance",
        "queue.messages_per_instance",
        Kind::Number,
    ),
    (
        "target-wait-seconds",
        "queue.target_wait_seconds",
        Kind::Number,
    ),
    ("service-seconds", "queue.service_seconds", Kind::Number),
    ("batch-size", "queue.batch_size", Kind::Number),
    ("include-in-flight", "queue.include_in_flight", Kind::Bool),
    ("include-delayed", "queue.include_delayed", Kind::Bool),
    ("activation", "queue.activation", Kind::Number),
    ("tolerance", "tolerance", Kind::Number),
    ("scale-out-tolerance", "scale_out_tolerance", Kind::Number),
    ("tolerance-narrows-to", "tolerance_narrows_to", Kind::Number),
    (
        "tolerance-narrowing-seconds",
        "tolerance_narrowing_seconds",
        Kind::Number,
    ),
    (
        "scale-out-cooldown-seconds",
        "scale_out_cooldown_seconds",
        Kind::Number,
    ),
    (
        "scale-in-cooldown-seconds",
        "scale_in_cooldown_seconds",
        Kind::Number,
    ),
    (
        "scale-in-stabilization-seconds",
        "scale_in_stabilization_seconds",
        Kind::Number,
    ),
    ("max-scale-out-step", "max_scale_out_step", Kind::Number),
    ("max-scale-in-step", "max_scale_in_step", Kind::Number),
    (
        "max-scale-out-step-percent",
        "max_scale_out_step_percent",
        Kind::Number,
    ),
    (
        "max-scale-in-step-percent",
        "max_scale_in_step_percent",
        Kind::Number,
    ),
    ("on-metric-failure", "on_metric_failure", Kind::Fallback),
    ("event-sources", "event_sources", Kind::Text),
    ("event-source-ceiling", "event_source_ceiling", Kind::Number),
];

#[derive(Clone, Copy)]
enum Kind {
    Number,
    Bool,
    Queue,
    /// `hold` or `set:N` (tag values cannot hold JSON).
    Fallback,
    /// A word, e.g. `follow`.
    Text,
}

/// True when the function opted in with `autoscaler:enabled=true`.
pub fn is_enabled(tags: &HashMap<String, String>) -> bool {
    // Exactly, as tag discovery (GetResources' filter) and the role's condition on
    // aws:ResourceTag match it: "true " would be managed by a command, never discovered,
    // and its writes denied.
    tags.get(ENABLED_TAG).map(String::as_str) == Some("true")
}

/// True when the tags hold a tag policy: any `autoscaler:` tag besides the opt-in. A function
/// with the opt-in alone (the owner's consent, given before or kept after the document names
/// it) has no policy to follow, and is no error.
pub fn has_tag_policy(tags: &HashMap<String, String>) -> bool {
    tags.keys().any(|k| is_policy_tag(k))
}

/// An `autoscaler:` tag that says something of the policy: not the opt-in, nor the state tag
/// of earlier builds.
fn is_policy_tag(key: &str) -> bool {
    key.starts_with(PREFIX) && key != ENABLED_TAG && key != LEGACY_STATE_TAG
}

/// The tag a document field (e.g. `queue.messages_per_instance`) comes from; `windows` are
/// the names of the schedule tags, in the order of the document's `schedules`.
fn tag_for(field: &str, windows: &[String]) -> String {
    let field = field.trim_start_matches('.');
    if let Some(rest) = field.strip_prefix("schedules[") {
        let (index, inner) = rest.split_once(']').unwrap_or((rest, ""));
        let name = index
            .parse::<usize>()
            .ok()
            .and_then(|i| windows.get(i))
            .map_or("?", String::as_str);
        return match inner.trim_start_matches('.') {
            "" => format!("{SCHEDULE_PREFIX}{name}"),
            key => format!("{SCHEDULE_PREFIX}{name} ({key})"),
        };
    }
    FIELDS
        .iter()
        .find(|(_, f, _)| {
            *f == field
                || (field.starts_with("queue.")
                    && *f == "queue"
                    && (field == "queue.url" || field == "queue.name"))
        })
        .map(|(suffix, _, _)| format!("{PREFIX}{suffix}"))
        .or_else(|| {
            // A part of one tag's value (`on_metric_failure.set`): the tag, then the part.
            let (head, part) = field.split_once('.')?;
            FIELDS
                .iter()
                .find(|(_, f, _)| *f == head)
                .map(|(suffix, _, _)| format!("{PREFIX}{suffix} ({part})"))
        })
        .unwrap_or_else(|| format!("{PREFIX}{}", field.replace('_', "-")))
}

fn typed(text: &str, kind: Kind) -> Value {
    let text = text.trim();
    match kind {
        Kind::Bool => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text.to_owned()),
        },
        Kind::Number => {
            if let Ok(n) = text.parse::<i64>() {
                Value::Number(n.into())
            } else if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
                Value::Number(n)
            } else {
                Value::String(text.to_owned())
            }
        }
        Kind::Queue | Kind::Text => Value::String(text.to_owned()),
        Kind::Fallback => match text.strip_prefix("set:").map(|n| n.trim().parse::<i64>()) {
            Some(Ok(n)) => serde_json::json!({ "set": n }),
            _ => Value::String(text.to_owned()),
        },
    }
}

/// A cron expression from its tag form: `.` for `*`, `+` for `,`.
fn cron_from_tag(text: &str) -> Result<String, String> {
    if text.contains('*') || text.contains(',') {
        return Err(format!(
            "\"{text}\": a tag value cannot hold * or ,; write . for * and + for , \
             (\"0 8 . . 1-5\" is \"0 8 * * 1-5\")"
        ));
    }
    Ok(text.replace('.', "*").replace('+', ","))
}

/// A cron expression in its tag form.
fn cron_to_tag(text: &str) -> String {
    text.replace('*', ".").replace(',', "+")
}

/// A window's fields from its tag's value (`start=0 8 . . 1-5 duration_seconds=36000 min=20`).
fn window_from_tag(key: &str, name: &str, value: &str) -> Result<Value, String> {
    let mut fields: Vec<(&str, Vec<&str>)> = Vec::new();
    for word in value.split_whitespace() {
        match word.split_once('=') {
            Some((k, v)) => fields.push((k, vec![v])),
            None => match fields.last_mut() {
                Some((_, words)) => words.push(word),
                None => {
                    return Err(format!(
                        "tag {key}: \"{word}\" comes before any key=value; expected e.g. \
                         \"start=0 8 . . MON-FRI duration_seconds=36000 min=20\""
                    ))
                }
            },
        }
    }
    let mut window = Map::new();
    window.insert("name".into(), Value::String(name.to_owned()));
    for (k, words) in fields {
        if !WINDOW_KEYS.contains(&k) {
            return Err(format!(
                "tag {key}: unknown key `{k}`; expected one of {}",
                WINDOW_KEYS.join(", ")
            ));
        }
        if window.contains_key(k) {
            return Err(format!("tag {key}: `{k}` is given twice"));
        }
        let words: Vec<&str> = words.into_iter().filter(|w| !w.is_empty()).collect();
        let text = words.join(" ");
        let value = match k {
            "start" | "end" => {
                Value::String(cron_from_tag(&text).map_err(|e| format!("tag {key} ({k}): {e}"))?)
            }
            _ if words.len() > 1 => {
                return Err(format!(
                    "tag {key} ({k}): one word expected, found \"{text}\""
                ))
            }
            "at" | "timezone" => Value::String(text),
            _ => typed(&text, Kind::Number),
        };
        window.insert(k.into(), value);
    }
    Ok(Value::Object(window))
}

/// The tag (key and value) that describes `window`, e.g. for `validate` to show; the value
/// may be longer than the 256 characters AWS allows ([`MAX_TAG_VALUE_LEN`]).
pub fn schedule_tag(window: &Window) -> (String, String) {
    let mut words: Vec<String> = Vec::new();
    match &window.start {
        Start::Cron(expr) => words.push(format!("start={}", cron_to_tag(expr.as_str()))),
        Start::At { local, .. } => words.push(format!("at={}", crate::cron::local_iso(*local))),
    }
    match &window.end {
        End::Cron(expr) => words.push(format!("end={}", cron_to_tag(expr.as_str()))),
        End::Duration(seconds) => words.push(format!("duration_seconds={seconds}")),
    }
    if window.timezone.name() != "UTC" {
        words.push(format!("timezone={}", window.timezone));
    }
    if window.lead_seconds > 0 {
        words.push(format!("lead_seconds={}", window.lead_seconds));
    }
    let b = window.bounds;
    for (k, v) in [("min", b.min), ("max", b.max), ("set", b.set)] {
        if let Some(v) = v {
            words.push(format!("{k}={v}"));
        }
    }
    (format!("{SCHEDULE_PREFIX}{}", window.name), words.join(" "))
}

/// The target a function's tags describe. `function` is its name or ARN.
pub fn target_from_tags(function: &str, tags: &HashMap<String, String>) -> Result<Target, String> {
    let mut doc = Map::new();
    doc.insert("function".into(), Value::String(function.to_owned()));
    let mut queue = Map::new();
    let mut windows: Vec<String> = Vec::new();
    let mut schedules: Vec<Value> = Vec::new();
    let mut keys: Vec<&String> = tags.keys().filter(|k| is_policy_tag(k)).collect();
    keys.sort();
    for key in keys {
        let suffix = &key[PREFIX.len()..];
        if let Some(name) = key.strip_prefix(SCHEDULE_PREFIX) {
            schedules.push(window_from_tag(key, name, &tags[key])?);
            windows.push(name.to_owned());
            continue;
        }
        let Some((_, field, kind)) = FIELDS.iter().find(|(s, _, _)| *s == suffix) else {
            return Err(format!(
                "tag {key}: unknown autoscaler tag; expected one of {}, {SCHEDULE_PREFIX}<name>",
                FIELDS
                    .iter()
                    .map(|(s, _, _)| format!("{PREFIX}{s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let value = &tags[key];
        match (kind, field.strip_prefix("queue.")) {
            (Kind::Queue, _) => {
                let v = value.trim();
                let which = if QueueRef::is_url(v) { "url" } else { "name" };
                queue.insert(which.into(), Value::String(v.to_owned()));
            }
            (_, Some(inner)) => {
                queue.insert(inner.into(), typed(value, *kind));
            }
            (_, None) => {
                doc.insert((*field).into(), typed(value, *kind));
            }
        }
    }
    if !queue.is_empty() {
        if !queue.contains_key("url") && !queue.contains_key("name") {
            let first = queue.keys().next().cloned().unwrap_or_default();
            return Err(format!(
                "tag {}: needs tag {PREFIX}queue (the queue's URL or name)",
                tag_for(&format!("queue.{first}"), &windows)
            ));
        }
        if !queue.contains_key("messages_per_instance")
            && !queue.contains_key("target_wait_seconds")
        {
            return Err(format!(
                "tag {PREFIX}queue needs tag {PREFIX}messages-per-instance (messages per \
                 execution) or {PREFIX}target-wait-seconds (how long a message may wait)"
            ));
        }
        doc.insert("queue".into(), Value::Object(queue));
    }
    if !schedules.is_empty() {
        doc.insert("schedules".into(), Value::Array(schedules));
    }
    let tag_for = |field: &str| tag_for(field, &windows);
    let value = Value::Object(doc);
    let parsed: TargetDoc = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        if path.starts_with("schedules[") {
            match message
                .split('`')
                .nth(1)
                .filter(|_| message.starts_with("missing field"))
            {
                Some(field) => format!("tag {} needs `{field}`", tag_for(&path)),
                None => format!("tag {}: {message}", tag_for(&path)),
            }
        } else if path == "." {
            // A missing required field: name its tag.
            match message.split('`').nth(1) {
                Some(field) => format!("tag {} is missing", tag_for(field)),
                None => message,
            }
        } else if path == "queue" {
            match message.split('`').nth(1) {
                Some(field) => format!("tag {} is missing", tag_for(&format!("queue.{field}"))),
                None => format!("tag {PREFIX}queue: {message}"),
            }
        } else {
            format!("tag {}: {message}", tag_for(&path))
        }
    })?;
    validate_target(parsed, &|field| format!("tag {}", tag_for(field)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{QueueRef, Stability};

    fn tags(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tags_give_a_drain_time_goal() {
        let t = target_from_tags(
            "orders-worker",
            &tags(&[
                ("autoscaler:enabled", "true"),
                ("autoscaler:min", "1"),
                ("autoscaler:max", "50"),
                ("autoscaler:queue", "orders"),
                ("autoscaler:target-wait-seconds", "30"),
                ("autoscaler:service-seconds", "0.5"),
                ("autoscaler:batch-size", "10"),
            ]),
        )
        .unwrap();
        assert_eq!(
            t.queue.unwrap().goal,
            crate::policy::QueueGoal::Wait(crate::policy::WaitGoal {
                target_wait_seconds: 30,
                service_seconds: Some(0.5),
                batch_size: Some(10),
            })
        );
    }

    #[test]
    fn tags_describe_a_queue_tracking_target_with_knobs() {
        let t = target_from_tags(
            "orders-worker",
            &tags(&[
                ("autoscaler:enabled", "true"),
                ("autoscaler:min", "2"),
                ("autoscaler:max", "50"),
                ("autoscaler:queue", "orders"),
                ("autoscaler:messages-per-instance", "10"),
                ("autoscaler:include-delayed", "true"),
                ("autoscaler:tolerance", "0.2"),
                ("autoscaler:scale-out-tolerance", "0.05"),
                ("autoscaler:tolerance-narrows-to", "0.1"),
                ("autoscaler:tolerance-narrowing-seconds", "900"),
                ("autoscaler:scale-in-cooldown-seconds", "120"),
                ("autoscaler:max-scale-in-step-percent", "25"),
                ("autoscaler:on-metric-failure", "set:7"),
                ("autoscaler:state", "v1 g3"),
                ("team", "payments"),
            ]),
        )
        .unwrap();
        assert_eq!((t.min, t.max), (2, 50));
        let q = t.queue.unwrap();
        assert_eq!(q.queue, QueueRef::Name("orders".into()));
        assert_eq!(
            (
                q.messages_per_instance().unwrap(),
                q.include_in_flight,
                q.include_delayed
            ),
            (10, true, true)
        );
        assert_eq!(t.on_metric_failure, crate::policy::MetricFailure::Set(7));
        assert_eq!(
            t.stability,
            Stability {
                tolerance: 0.2,
                scale_out_tolerance: Some(0.05),
                narrowing: Some(crate::policy::Narrowing {
                    to: 0.1,
                    seconds: 900
                }),
                scale_in_cooldown_seconds: 120,
                max_scale_in_step_percent: Some(25),
                ..Stability::default()
            }
        );
        let url = target_from_tags(
            "f",
            &tags(&[
                ("autoscaler:min", "1"),
                ("autoscaler:max", "5"),
                (
                    "autoscaler:queue",
                    "https://sqs.us-east-1.amazonaws.com/1/q",
                ),
                ("autoscaler:messages-per-instance", "3"),
            ]),
        )
        .unwrap();
        assert!(matches!(url.queue.unwrap().queue, QueueRef::Url(_)));
        assert!(is_enabled(&tags(&[("autoscaler:enabled", "true")])));
        assert!(!is_enabled(&tags(&[("autoscaler:enabled", "false")])));
        assert!(!is_enabled(&tags(&[("autoscaler:enabled", "true ")])));
        assert!(!is_enabled(&tags(&[("autoscaler:enabled", "True")])));
        assert!(!is_enabled(&tags(&[])));
    }

    #[test]
    fn invalid_tags_name_the_tag_and_the_reason() {
        let base = [("autoscaler:min", "1"), ("autoscaler:max", "5")];
        let err = |extra: &[(&str, &str)]| {
            let mut all: Vec<(&str, &str)> = base.to_vec();
            all.extend_from_slice(extra);
            let mut map = tags(&all);
            map.retain(|_, v| !v.is_empty());
            target_from_tags("f", &map).unwrap_err()
        };
        for (extra, expected) in [
            (
                vec![("autoscaler:max", "0")],
                "tag autoscaler:max: must be >= min (1)",
            ),
            (
                vec![("autoscaler:max", "lots")],
                "tag autoscaler:max: invalid type: string \"lots\"",
            ),
            (
                vec![("autoscaler:max", "")],
                "tag autoscaler:max is missing",
            ),
            (
                vec![("autoscaler:min", "0")],
                "tag autoscaler:min: 0 would let",
            ),
            (
                vec![("autoscaler:maxx", "3")],
                "tag autoscaler:maxx: unknown autoscaler tag",
            ),
            (
                vec![("autoscaler:queue", "orders")],
                "tag autoscaler:queue needs tag autoscaler:messages-per-instance (messages per \
                 execution) or autoscaler:target-wait-seconds",
            ),
            (
                vec![("autoscaler:messages-per-instance", "5")],
                "tag autoscaler:messages-per-instance: needs tag autoscaler:queue",
            ),
            (
                vec![
                    ("autoscaler:queue", "a b"),
                    ("autoscaler:messages-per-instance", "5"),
                ],
                "tag autoscaler:queue: queue name \"a b\"",
            ),
            (
                vec![("autoscaler:tolerance", "2")],
                "tag autoscaler:tolerance: 2 is out of range",
            ),
            (
                vec![("autoscaler:on-metric-failure", "set:99")],
                "tag autoscaler:on-metric-failure: set 99 is outside [min 1, max 5]",
            ),
            (
                vec![("autoscaler:on-metric-failure", "set:99999999999")],
                "tag autoscaler:on-metric-failure (set): 99999999999 is out of range",
            ),
            (
                vec![("autoscaler:on-metric-failure", "scale")],
                "tag autoscaler:on-metric-failure: invalid value: string \"scale\"",
            ),
            (
                vec![("autoscaler:allow-zero", "yes")],
                "tag autoscaler:allow-zero: invalid type: string \"yes\"",
            ),
        ] {
            let e = err(&extra);
            assert!(e.starts_with(expected), "{extra:?}: {e}");
        }
    }

    #[test]
    fn schedule_tags_round_trip_through_the_documents_windows() {
        let policy = crate::policy::Policy::from_json(
            r#"{"targets":[{"function":"f","min":2,"max":100,"allow_zero":true,"schedules":[
                {"name":"business-hours","start":"0 8 * * MON-FRI","duration_seconds":36000,
                 "timezone":"Europe/Berlin","lead_seconds":300,"min":20},
                {"name":"launch","at":"2026-12-24T08:00:00","duration_seconds":7200,
                 "timezone":"America/New_York","min":50,"max":400},
                {"name":"night","start":"*/30 22,23 * * *","end":"0 6 * * *","set":0},
                {"name":"weekly","start":"@weekly","end":"0 6 * * 1","max":10}]}]}"#,
            "t",
        )
        .unwrap();
        let documented = &policy.targets[0].schedules;
        let mut all = vec![
            ("autoscaler:min".to_owned(), "2".to_owned()),
            ("autoscaler:max".to_owned(), "100".to_owned()),
            ("autoscaler:allow-zero".to_owned(), "true".to_owned()),
        ];
        for window in documented {
            let (key, value) = schedule_tag(window);
            assert!(value.len() <= MAX_TAG_VALUE_LEN);
            assert!(
                value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c)),
                "{value}"
            );
            all.push((key, value));
        }
        assert_eq!(
            all[3..].iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            [
                "autoscaler:schedule:business-hours=start=0 8 . . MON-FRI duration_seconds=36000 timezone=Europe/Berlin lead_seconds=300 min=20",
                "autoscaler:schedule:launch=at=2026-12-24T08:00:00 duration_seconds=7200 timezone=America/New_York min=50 max=400",
                "autoscaler:schedule:night=start=./30 22+23 . . . end=0 6 . . . set=0",
                "autoscaler:schedule:weekly=start=@weekly end=0 6 . . 1 max=10",
            ]
        );
        let map: HashMap<String, String> = all.into_iter().collect();
        let tagged = target_from_tags("f", &map).unwrap();
        assert_eq!(&tagged.schedules, documented);
    }

    #[test]
    fn invalid_schedule_tags_name_the_tag_and_the_key() {
        let base = [("autoscaler:min", "1"), ("autoscaler:max", "5")];
        let err = |value: &str| {
            let mut all: Vec<(&str, &str)> = base.to_vec();
            all.push(("autoscaler:schedule:nightly", value));
            target_from_tags("f", &tags(&all)).unwrap_err()
        };
        for (value, expected) in [
            (
                "start=0 8 * * 1-5 duration_seconds=600 min=2",
                "tag autoscaler:schedule:nightly (start): \"0 8 * * 1-5\": a tag value cannot hold *",
            ),
            (
                "start=0 8 . . . duration_seconds=600 min=2 start=0 9 . . .",
                "tag autoscaler:schedule:nightly: `start` is given twice",
            ),
            (
                "start=0 8 . . . duration=600 min=2",
                "tag autoscaler:schedule:nightly: unknown key `duration`",
            ),
            (
                "0 8 . . . duration_seconds=600",
                "tag autoscaler:schedule:nightly: \"0\" comes before any key=value",
            ),
            (
                "start=0 8 . . duration_seconds=600 min=2",
                "tag autoscaler:schedule:nightly (start): 4 field(s)",
            ),
            (
                "start=0 8 . . . duration_seconds=600 timezone=Europe/Paris/x min=2",
                "tag autoscaler:schedule:nightly (timezone): unknown time zone",
            ),
            (
                "start=0 8 . . . duration_seconds=600",
                "tag autoscaler:schedule:nightly: window \"nightly\" has no bound",
            ),
            (
                "start=0 8 . . . duration_seconds=600 min=4 max=3",
                "tag autoscaler:schedule:nightly (max): must be >= min (4)",
            ),
            (
                "start=0 8 . . . duration_seconds=600 min=lots",
                "tag autoscaler:schedule:nightly (min): invalid type: string \"lots\"",
            ),
            (
                "start=0 8 . . . min=2",
                "tag autoscaler:schedule:nightly: give exactly one of \"end\"",
            ),
            (
                "start=0 8 . . . duration_seconds=600 min=0",
                "tag autoscaler:schedule:nightly (min): 0 would let",
            ),
            (
                "start=0 8 . . . duration_seconds=600 timezone=Europe Berlin min=2",
                "tag autoscaler:schedule:nightly (timezone): one word expected",
            ),
        ] {
            let e = err(value);
            assert!(e.starts_with(expected), "{value}: {e}");
        }
        let e = target_from_tags(
            "f",
            &tags(&[
                ("autoscaler:min", "1"),
                ("autoscaler:max", "5"),
                (
                    "autoscaler:schedule:a b",
                    "start=0 8 . . . duration_seconds=600 min=2",
                ),
            ]),
        )
        .unwrap_err();
        assert!(
            e.starts_with("tag autoscaler:schedule:a b (name): window name \"a b\" contains ' '"),
            "{e}"
        );
    }
}
