//! The policy document: which functions the autoscaler manages and how alarms move them.
//!
//! Parsing is strict (unknown fields, wrong types and out-of-range numbers are errors that
//! name the field), and validation turns the document into types the decision core can
//! trust: `min <= max`, no accidental zero floor, no duplicate targets or alarms.

use crate::alarm::{check_alarm_name, AlarmState};
use crate::count::{deserialize_int_in_range, Count, MAX_COUNT};
use crate::function_ref::FunctionRef;
use serde::{Deserialize, Deserializer};
use std::collections::HashSet;
use std::fmt;
use std::path::Path;

/// Environment variable holding the policy as inline JSON.
pub const POLICY_ENV: &str = "AUTOSCALER_POLICY";
/// Environment variable holding a path to the policy file (used when `POLICY_ENV` is unset).
pub const POLICY_FILE_ENV: &str = "AUTOSCALER_POLICY_FILE";
/// Policy documents larger than this are refused before parsing.
pub const MAX_POLICY_BYTES: usize = 1024 * 1024;

/// A validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub targets: Vec<Target>,
}

/// One managed function and the rules that move its reserved concurrency.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub function: FunctionRef,
    pub min: u32,
    pub max: u32,
    pub alarms: Vec<AlarmRule>,
}

/// What to do while one alarm is in each of its states; `None` means "no opinion".
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRule {
    pub name: String,
    pub on_alarm: Option<Action>,
    pub on_ok: Option<Action>,
    pub on_insufficient_data: Option<Action>,
}

impl AlarmRule {
    pub fn action_for(&self, state: AlarmState) -> Option<Action> {
        match state {
            AlarmState::Alarm => self.on_alarm,
            AlarmState::Ok => self.on_ok,
            AlarmState::InsufficientData => self.on_insufficient_data,
        }
    }
}

/// One action of a policy, as written in JSON: `{"change": N}`, `{"percent": P}`,
/// `{"set": N}` or `{"cap": N}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Add N to the current value (negative shrinks).
    Change(#[serde(deserialize_with = "nonzero_delta")] i64),
    /// Scale the current value by P percent, rounding away from it.
    Percent(#[serde(deserialize_with = "percent")] i64),
    /// Propose exactly N.
    Set(#[serde(deserialize_with = "count")] u32),
    /// An upper bound that holds while the alarm is in this state.
    Cap(#[serde(deserialize_with = "count")] u32),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Action::Change(n) => write!(f, "change {n:+}"),
            Action::Percent(p) => write!(f, "percent {p:+}%"),
            Action::Set(n) => write!(f, "set {n}"),
            Action::Cap(n) => write!(f, "cap {n}"),
        }
    }
}

fn count<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Count::deserialize(d).map(|c| c.0)
}

fn nonzero_delta<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = deserialize_int_in_range(d, -MAX_COUNT, MAX_COUNT)?;
    if n == 0 {
        return Err(serde::de::Error::custom(
            "a change of 0 does nothing; leave the state out instead",
        ));
    }
    Ok(n)
}

/// Percent steps: whole percents, at least -100 (cannot shrink below nothing), at most
/// 10000 (a hundredfold), never 0.
fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let p = deserialize_int_in_range(d, -100, 10_000)?;
    if p == 0 {
        return Err(serde::de::Error::custom(
            "a percent of 0 does nothing; leave the state out instead",
        ));
    }
    Ok(p)
}

// The document as written. Kept separate from the validated types so that the checks that
// need more than one field (min <= max, duplicates) report the path of the field at fault.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDoc {
    targets: Vec<TargetDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetDoc {
    function: String,
    min: Count,
    max: Count,
    #[serde(default)]
    allow_zero: bool,
    #[serde(default)]
    alarms: Vec<AlarmRuleDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlarmRuleDoc {
    name: String,
    on_alarm: Option<Action>,
    on_ok: Option<Action>,
    on_insufficient_data: Option<Action>,
}

/// Why a policy cannot be used; `source` says where it came from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid policy ({origin}): {message}")]
pub struct PolicyError {
    /// Where the document came from: an environment variable or a file path.
    pub origin: String,
    pub message: String,
}

impl Policy {
    /// Parses and validates a policy document. `source` names it in errors
    /// (e.g. "AUTOSCALER_POLICY" or a file path).
    pub fn from_json(text: &str, source: &str) -> Result<Policy, PolicyError> {
        let fail = |message: String| PolicyError {
            origin: source.to_owned(),
            message,
        };
        if text.len() > MAX_POLICY_BYTES {
            return Err(fail(format!(
                "document is {} bytes; the limit is {MAX_POLICY_BYTES}",
                text.len()
            )));
        }
        let mut json = serde_json::Deserializer::from_str(text);
        let doc: PolicyDoc = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                fail(e.inner().to_string())
            } else {
                fail(format!("{path}: {}", e.inner()))
            }
        })?;
        json.end().map_err(|e| fail(e.to_string()))?;
        validate(doc).map_err(fail)
    }

    /// Reads a policy file.
    pub fn from_file(path: &Path) -> Result<Policy, PolicyError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            origin: source.clone(),
            message: format!("cannot read the file: {e}"),
        })?;
        Policy::from_json(&text, &source)
    }

    /// Loads the policy from `AUTOSCALER_POLICY` (inline JSON), else from the file named by
    /// `AUTOSCALER_POLICY_FILE`.
    pub fn from_env() -> Result<Policy, PolicyError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// `from_env` with the environment passed in, so it can be tested without touching
    /// the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Policy, PolicyError> {
        if let Some(inline) = lookup(POLICY_ENV).filter(|v| !v.trim().is_empty()) {
            return Policy::from_json(&inline, POLICY_ENV);
        }
        if let Some(path) = lookup(POLICY_FILE_ENV).filter(|v| !v.trim().is_empty()) {
            return Policy::from_file(Path::new(&path));
        }
        Err(PolicyError {
            origin: "environment".into(),
            message: format!(
                "no policy given: set {POLICY_ENV} (inline JSON) or {POLICY_FILE_ENV} (a path)"
            ),
        })
    }

    /// The target managing `function` (a name or an ARN), if any.
    pub fn target_for_function(&self, function: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.function.matches(function))
    }

    /// The targets whose rules name `alarm`.
    pub fn targets_for_alarm<'a>(&'a self, alarm: &'a str) -> impl Iterator<Item = &'a Target> {
        self.targets
            .iter()
            .filter(move |t| t.alarms.iter().any(|rule| rule.name == alarm))
    }
}

fn validate(doc: PolicyDoc) -> Result<Policy, String> {
    let mut targets = Vec::with_capacity(doc.targets.len());
    let mut seen_functions: HashSet<String> = HashSet::new();
    for (i, t) in doc.targets.into_iter().enumerate() {
        let at = |field: &str| format!("targets[{i}].{field}");
        let function =
            FunctionRef::parse(&t.function).map_err(|e| format!("{}: {e}", at("function")))?;
        if !seen_functions.insert(function.name().to_owned()) {
            return Err(format!(
                "{}: function \"{}\" is already a target; give each function one target",
                at("function"),
                function.name()
            ));
        }
        let (min, max) = (t.min.0, t.max.0);
        if max < min {
            return Err(format!("{}: must be >= min ({min})", at("max")));
        }
        if min == 0 && !t.allow_zero {
            return Err(format!(
                "{}: 0 would let the autoscaler throttle the function completely; \
                 set \"allow_zero\": true on the target if that is intended",
                at("min")
            ));
        }
        let mut alarms = Vec::with_capacity(t.alarms.len());
        let mut seen_alarms: HashSet<String> = HashSet::new();
        for (j, a) in t.alarms.into_iter().enumerate() {
            let at = |field: &str| format!("targets[{i}].alarms[{j}].{field}");
            check_alarm_name(&a.name).map_err(|e| format!("{}: {e}", at("name")))?;
            if !seen_alarms.insert(a.name.clone()) {
                return Err(format!(
                    "{}: alarm \"{}\" is listed twice for this target; merge its actions into one entry",
                    at("name"),
                    a.name
                ));
            }
            if a.on_alarm.is_none() && a.on_ok.is_none() && a.on_insufficient_data.is_none() {
                return Err(format!(
                    "targets[{i}].alarms[{j}]: alarm \"{}\" has no action; give it at least one of \
                     on_alarm, on_ok, on_insufficient_data",
                    a.name
                ));
            }
            alarms.push(AlarmRule {
                name: a.name,
                on_alarm: a.on_alarm,
                on_ok: a.on_ok,
                on_insufficient_data: a.on_insufficient_data,
            });
        }
        targets.push(Target {
            function,
            min,
            max,
            alarms,
        });
    }
    Ok(Policy { targets })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
      "targets": [
        {
          "function": "orders-worker",
          "min": 2,
          "max": 100,
          "alarms": [
            { "name": "orders-backlog-high", "on_alarm": { "change": 10 }, "on_ok": { "change": -5 } },
            { "name": "orders-db-overloaded", "on_alarm": { "cap": 3 } }
          ]
        }
      ]
    }"#;

    fn error_of(json: &str) -> String {
        Policy::from_json(json, "test").unwrap_err().message
    }

    #[test]
    fn the_readme_example_parses_into_validated_targets() {
        let policy = Policy::from_json(EXAMPLE, "test").unwrap();
        let target = &policy.targets[0];
        assert_eq!(target.function.name(), "orders-worker");
        assert_eq!((target.min, target.max), (2, 100));
        assert_eq!(target.alarms[0].on_alarm, Some(Action::Change(10)));
        assert_eq!(target.alarms[0].on_ok, Some(Action::Change(-5)));
        assert_eq!(target.alarms[0].on_insufficient_data, None);
        assert_eq!(target.alarms[1].on_alarm, Some(Action::Cap(3)));
        assert_eq!(
            policy
                .targets_for_alarm("orders-db-overloaded")
                .map(|t| t.function.name())
                .collect::<Vec<_>>(),
            ["orders-worker"]
        );
        assert!(policy
            .target_for_function("arn:aws:lambda:us-east-1:123456789012:function:orders-worker")
            .is_some());
        assert!(policy.target_for_function("other").is_none());
    }

    #[test]
    fn max_below_min_names_the_field_and_the_bound() {
        let err = error_of(
            r#"{"targets":[{"function":"a","min":1,"max":5},{"function":"b","min":5,"max":4}]}"#,
        );
        assert_eq!(err, "targets[1].max: must be >= min (5)");
    }

    #[test]
    fn min_zero_requires_allow_zero() {
        let err = error_of(r#"{"targets":[{"function":"a","min":0,"max":5}]}"#);
        assert!(err.starts_with("targets[0].min: 0 would let"), "{err}");
        let ok = Policy::from_json(
            r#"{"targets":[{"function":"a","min":0,"max":5,"allow_zero":true}]}"#,
            "t",
        )
        .unwrap();
        assert_eq!(ok.targets[0].min, 0);
    }

    #[test]
    fn unknown_fields_are_errors_at_every_level() {
        assert!(error_of(r#"{"targets":[],"target":[]}"#).contains("unknown field `target`"));
        let err = error_of(r#"{"targets":[{"function":"a","min":1,"max":5,"maxx":9}]}"#);
        assert!(
            err.starts_with("targets[0].maxx: unknown field `maxx`, expected one of"),
            "{err}"
        );
        let err = error_of(
            r#"{"targets":[{"function":"a","min":1,"max":5,"alarms":[{"name":"x","on_alarm":{"chnage":1}}]}]}"#,
        );
        assert!(
            err.starts_with("targets[0].alarms[0].on_alarm: unknown variant `chnage`"),
            "{err}"
        );
        let err = error_of(
            r#"{"targets":[{"function":"a","min":1,"max":5,"alarms":[{"name":"x","on_alram":{"change":1}}]}]}"#,
        );
        assert!(err.contains("unknown field `on_alram`"), "{err}");
    }

    #[test]
    fn counts_must_be_json_integers_in_range() {
        for (max, expected) in [
            ("\"12\"", "targets[0].max: invalid type: string \"12\""),
            (
                "12.5",
                "targets[0].max: invalid type: floating point `12.5`",
            ),
            ("-3", "targets[0].max: -3 is out of range"),
            ("4294967296", "targets[0].max: 4294967296 is out of range"),
        ] {
            let err = error_of(&format!(
                r#"{{"targets":[{{"function":"a","min":1,"max":{max}}}]}}"#
            ));
            assert!(err.starts_with(expected), "{max}: {err}");
        }
    }

    #[test]
    fn actions_are_checked_for_range_and_meaning() {
        let with_action = |action: &str| {
            error_of(&format!(
                r#"{{"targets":[{{"function":"a","min":1,"max":5,"alarms":[{{"name":"x","on_alarm":{action}}}]}}]}}"#
            ))
        };
        assert!(with_action(r#"{"change":0}"#).contains("a change of 0 does nothing"));
        assert!(with_action(r#"{"percent":-150}"#).contains("-150 is out of range"));
        assert!(with_action(r#"{"percent":0}"#).contains("a percent of 0"));
        assert!(with_action(r#"{"percent":12.5}"#).contains("floating point"));
        assert!(with_action(r#"{"cap":-1}"#).contains("-1 is out of range"));
        let two_keys = with_action(r#"{"change":1,"cap":2}"#);
        assert!(
            two_keys.starts_with("targets[0].alarms[0].on_alarm"),
            "{two_keys}"
        );
        let none =
            error_of(r#"{"targets":[{"function":"a","min":1,"max":5,"alarms":[{"name":"x"}]}]}"#);
        assert!(none.contains("has no action"), "{none}");
    }

    #[test]
    fn duplicates_and_bad_names_are_refused() {
        let err = error_of(
            r#"{"targets":[{"function":"a","min":1,"max":5},{"function":"arn:aws:lambda:us-east-1:123456789012:function:a","min":1,"max":5}]}"#,
        );
        assert!(
            err.starts_with("targets[1].function: function \"a\" is already a target"),
            "{err}"
        );
        let err = error_of(
            r#"{"targets":[{"function":"a","min":1,"max":5,"alarms":[{"name":"x","on_ok":{"set":1}},{"name":"x","on_alarm":{"set":2}}]}]}"#,
        );
        assert!(err.contains("listed twice"), "{err}");
        let long = "n".repeat(256);
        let err = error_of(&format!(
            r#"{{"targets":[{{"function":"a","min":1,"max":5,"alarms":[{{"name":"{long}","on_ok":{{"set":1}}}}]}}]}}"#
        ));
        assert!(
            err.starts_with("targets[0].alarms[0].name: alarm name is 256 characters"),
            "{err}"
        );
        let err = error_of(r#"{"targets":[{"function":"a b","min":1,"max":5}]}"#);
        assert!(err.starts_with("targets[0].function:"), "{err}");
    }

    #[test]
    fn malformed_documents_get_an_error_not_a_panic() {
        assert!(error_of("not json").contains("expected"));
        assert!(error_of("{}").contains("missing field `targets`"));
        assert!(error_of(r#"{"targets":[{"min":1,"max":2}]}"#).contains("missing field `function`"));
        assert!(error_of(r#"{"targets":[]} trailing"#).contains("trailing characters"));
        // Unknown or mistyped structure is refused at its first level, so depth costs nothing.
        let deep = format!(
            r#"{{"targets":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let err = error_of(&deep);
        assert!(
            err.starts_with("targets[0][0]: invalid type: sequence"),
            "{err}"
        );
        let huge = format!(r#"{{"targets":[],"x":"{}"}}"#, "a".repeat(MAX_POLICY_BYTES));
        assert!(error_of(&huge).contains("the limit is"));
    }

    #[test]
    fn the_environment_prefers_inline_json_then_a_file_and_says_when_neither_is_set() {
        let inline =
            Policy::from_lookup(|name| (name == POLICY_ENV).then(|| EXAMPLE.to_string())).unwrap();
        assert_eq!(inline.targets.len(), 1);
        let missing_file = Policy::from_lookup(|name| {
            (name == POLICY_FILE_ENV).then(|| "/nonexistent/policy.json".to_string())
        })
        .unwrap_err();
        assert_eq!(missing_file.origin, "/nonexistent/policy.json");
        assert!(missing_file.message.contains("cannot read the file"));
        let neither = Policy::from_lookup(|_| None).unwrap_err();
        assert!(neither.message.contains("AUTOSCALER_POLICY"), "{neither}");
    }
}
