//! Policies attached as tags on the target function, so a team can opt a function in without
//! redeploying the autoscaler.
//!
//! `autoscaler:enabled=true` plus `autoscaler:min`, `autoscaler:max` and optionally
//! `autoscaler:queue` (URL or name), `autoscaler:messages-per-instance`, and one
//! `autoscaler:<knob>` tag per document field, spelled with hyphens (`scale_in_cooldown_seconds`
//! becomes `autoscaler:scale-in-cooldown-seconds`). The tags go through the same validation
//! as a policy document target; errors name the tag. Alarms cannot be expressed in tags.

use crate::policy::{validate_target, QueueRef, Target, TargetDoc};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

pub const PREFIX: &str = "autoscaler:";
pub const ENABLED_TAG: &str = "autoscaler:enabled";
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
    ("include-in-flight", "queue.include_in_flight", Kind::Bool),
    ("include-delayed", "queue.include_delayed", Kind::Bool),
    ("activation", "queue.activation", Kind::Number),
    ("tolerance", "tolerance", Kind::Number),
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
    tags.get(ENABLED_TAG).map(|v| v.trim()) == Some("true")
}

/// The tag a document field (e.g. `queue.messages_per_instance`) comes from.
fn tag_for(field: &str) -> String {
    let field = field.trim_start_matches('.');
    FIELDS
        .iter()
        .find(|(_, f, _)| {
            *f == field
                || (field.starts_with("queue.")
                    && *f == "queue"
                    && (field == "queue.url" || field == "queue.name"))
        })
        .map(|(suffix, _, _)| format!("{PREFIX}{suffix}"))
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

/// The target a function's tags describe. `function` is its name or ARN.
pub fn target_from_tags(function: &str, tags: &HashMap<String, String>) -> Result<Target, String> {
    let mut doc = Map::new();
    doc.insert("function".into(), Value::String(function.to_owned()));
    let mut queue = Map::new();
    let mut keys: Vec<&String> = tags.keys().filter(|k| k.starts_with(PREFIX)).collect();
    keys.sort();
    for key in keys {
        let suffix = &key[PREFIX.len()..];
        if key == ENABLED_TAG || key == LEGACY_STATE_TAG {
            continue;
        }
        let Some((_, field, kind)) = FIELDS.iter().find(|(s, _, _)| *s == suffix) else {
            return Err(format!(
                "tag {key}: unknown autoscaler tag; expected one of {}",
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
                tag_for(&format!("queue.{first}"))
            ));
        }
        doc.insert("queue".into(), Value::Object(queue));
    }
    let value = Value::Object(doc);
    let parsed: TargetDoc = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        if path == "." {
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
                q.messages_per_instance,
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
                "tag autoscaler:messages-per-instance is missing",
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
}
