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

pub mod schedule;
pub mod tags;

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
    /// Queue-depth target tracking, if the target follows a queue.
    pub queue: Option<QueueSpec>,
    pub stability: Stability,
    /// What to do when the target's alarms or queue cannot be read.
    pub on_metric_failure: MetricFailure,
    /// Whether the function's SQS event source mappings follow its reservation.
    pub event_sources: EventSources,
    /// The most `MaximumConcurrency` any of its mappings is given, in place of the one each
    /// mapping had before the autoscaler first changed it (`None`: those).
    pub event_source_ceiling: Option<u32>,
    /// Time windows that replace the bounds while they are active ([`crate::schedule`]).
    pub schedules: Vec<schedule::Window>,
}

/// Whether a target's SQS event source mappings follow its reservation
/// ([`crate::event_sources`]): `"follow"` (the default) or `"ignore"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSources {
    /// Each mapping's `MaximumConcurrency` is kept within the reservation (lowered before
    /// it, raised after it), and a cap below 2 per mapping disables the mappings.
    #[default]
    Follow,
    /// The mappings are left alone: only the reservation changes.
    Ignore,
}

impl fmt::Display for EventSources {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            EventSources::Follow => "follow",
            EventSources::Ignore => "ignore",
        })
    }
}

/// What a target does when its observations cannot be read (as KEDA's `fallback`): never a
/// scale-in on missing data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricFailure {
    /// Keep the current reservation (caps and bounds still apply).
    #[default]
    Hold,
    /// Propose N (tolerance, cooldowns and step limits apply, as to any proposal); never
    /// below the current reservation unless a cap or max forces it.
    Set(u32),
}

impl fmt::Display for MetricFailure {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            MetricFailure::Hold => f.write_str("hold"),
            MetricFailure::Set(n) => write!(f, "set {n}"),
        }
    }
}

impl<'de> Deserialize<'de> for MetricFailure {
    /// `"hold"` or `{"set": N}`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fallback;
        impl<'de> serde::de::Visitor<'de> for Fallback {
            type Value = MetricFailure;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"hold\" or {\"set\": N}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MetricFailure, E> {
                match v {
                    "hold" => Ok(MetricFailure::Hold),
                    other => Err(E::invalid_value(serde::de::Unexpected::Str(other), &self)),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<MetricFailure, A::Error> {
                let expected = "expected \"hold\" or {\"set\": N}";
                match map.next_key::<String>()?.as_deref() {
                    Some("set") => {}
                    Some(other) => {
                        return Err(serde::de::Error::custom(format!(
                            "unknown key `{other}`, {expected}"
                        )))
                    }
                    None => return Err(serde::de::Error::custom(expected)),
                }
                let value: Count = map.next_value()?;
                if map.next_key::<String>()?.is_some() {
                    return Err(serde::de::Error::custom(format!(
                        "one key only: {expected}"
                    )));
                }
                Ok(MetricFailure::Set(value.0))
            }
        }
        d.deserialize_any(Fallback)
    }
}

/// Which queue a target follows: its URL, or its name (resolved with `GetQueueUrl`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueueRef {
    Url(String),
    Name(String),
}

impl QueueRef {
    /// True for a queue URL (`https://...`, or `http://...` for local endpoints), false for
    /// what can only be a name.
    pub fn is_url(text: &str) -> bool {
        text.starts_with("https://") || text.starts_with("http://")
    }

    /// Parses a URL or a queue name.
    pub fn parse(text: &str) -> Result<QueueRef, String> {
        if Self::is_url(text) {
            let name = text.rsplit('/').next().unwrap_or_default();
            check_queue_name(name).map_err(|e| format!("queue URL \"{text}\": {e}"))?;
            Ok(QueueRef::Url(text.to_owned()))
        } else {
            check_queue_name(text)?;
            Ok(QueueRef::Name(text.to_owned()))
        }
    }

    /// The queue's name (the last path segment of a URL).
    pub fn name(&self) -> &str {
        match self {
            QueueRef::Url(url) => url.rsplit('/').next().unwrap_or_default(),
            QueueRef::Name(name) => name,
        }
    }
}

impl fmt::Display for QueueRef {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            QueueRef::Url(url) => f.write_str(url),
            QueueRef::Name(name) => f.write_str(name),
        }
    }
}

/// SQS queue names: 1 to 80 letters, digits, hyphens or underscores, `.fifo` for FIFO queues.
pub fn check_queue_name(name: &str) -> Result<(), String> {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    if base.is_empty() || name.len() > 80 {
        return Err(format!(
            "queue name \"{name}\" must be 1 to 80 characters long"
        ));
    }
    if let Some(bad) = base
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "queue name \"{name}\" contains {bad:?}; SQS names use only letters, digits, '-' and '_' (and a .fifo suffix)"
        ));
    }
    Ok(())
}

/// Queue tracking: the queue, what the target aims for, and what counts as waiting.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    pub queue: QueueRef,
    pub goal: QueueGoal,
    /// Count `ApproximateNumberOfMessagesNotVisible` (in flight); default true. A
    /// `target_wait_seconds` goal always reads them as the busy executions.
    pub include_in_flight: bool,
    /// Count `ApproximateNumberOfMessagesDelayed`; default false.
    pub include_delayed: bool,
    /// Below this backlog the proposal is `min`; default 0.
    pub activation: u32,
}

impl QueueSpec {
    /// The `messages_per_instance` goal, if the target has that one.
    pub fn messages_per_instance(&self) -> Option<u32> {
        match self.goal {
            QueueGoal::PerInstance(n) => Some(n),
            QueueGoal::Wait(_) => None,
        }
    }
}

/// What a queue-following target aims for: exactly one of the two.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueueGoal {
    /// `messages_per_instance`: proposal = ceil(backlog / N).
    PerInstance(u32),
    /// `target_wait_seconds`: the concurrency that keeps up with the arrivals and drains
    /// the backlog within the wait ([`crate::drain`]).
    Wait(WaitGoal),
}

/// A drain-time goal: how long a message may wait, and what the policy knows of the work.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaitGoal {
    /// A message should wait no longer than this many seconds.
    pub target_wait_seconds: u32,
    /// Seconds one message takes; `None`: measured from CloudWatch.
    pub service_seconds: Option<f64>,
    /// Messages one execution takes at once; `None`: the event source mapping's
    /// `BatchSize`, or 1 without a mapping.
    pub batch_size: Option<u32>,
}

impl WaitGoal {
    /// A day: a longer wait is almost certainly a unit mistake.
    pub const MAX_WAIT_SECONDS: u32 = 86_400;
    /// Lambda's longest timeout: one message cannot take longer.
    pub const MAX_SERVICE_SECONDS: f64 = 900.0;
    /// A microsecond a message: anything less is a unit mistake, and a value near zero would
    /// overflow the formula (a subnormal one proposed the largest reservation there is).
    pub const MIN_SERVICE_SECONDS: f64 = 0.000_001;
    /// SQS event source mappings take at most 10,000 messages a batch.
    pub const MAX_BATCH_SIZE: u32 = 10_000;
}

/// The stability knobs of a target (names as HPA and Application Auto Scaling users know
/// them). See docs/policy.md for the reasoning behind each default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stability {
    /// Skip a change smaller than this fraction of the current value.
    pub tolerance: f64,
    /// The tolerance of an increase, when it differs from `tolerance` (which then holds for
    /// decreases only), as the HPA's `behavior.scaleUp.tolerance` does. A small one lets a
    /// drain-time target aim closer above its need ([`crate::drain`]).
    pub scale_out_tolerance: Option<f64>,
    /// The tolerances narrow while the reservation holds: `None` keeps them as set.
    pub narrowing: Option<Narrowing>,
    pub scale_out_cooldown_seconds: u32,
    pub scale_in_cooldown_seconds: u32,
    /// Scale in only to the highest recommendation of this many seconds.
    pub scale_in_stabilization_seconds: u32,
    pub max_scale_out_step: Option<u32>,
    pub max_scale_in_step: Option<u32>,
    /// The largest increase per action as a percent of the current value (at least 1).
    pub max_scale_out_step_percent: Option<u32>,
    /// The largest decrease per action as a percent of the current value (at least 1).
    pub max_scale_in_step_percent: Option<u32>,
}

impl Stability {
    pub const DEFAULT_TOLERANCE: f64 = 0.1;
    pub const DEFAULT_SCALE_OUT_COOLDOWN: u32 = 60;
    pub const DEFAULT_SCALE_IN_COOLDOWN: u32 = 300;
    pub const DEFAULT_SCALE_IN_STABILIZATION: u32 = 300;
    /// The HPA's limit for stabilization windows; also keeps the saved history small.
    pub const MAX_STABILIZATION: u32 = 3600;
    /// A day: longer cooldowns are almost certainly a unit mistake.
    pub const MAX_COOLDOWN: u32 = 86_400;

    /// Every knob off: each evaluation acts at once on its own proposals.
    pub const OFF: Stability = Stability {
        tolerance: 0.0,
        scale_out_tolerance: None,
        narrowing: None,
        scale_out_cooldown_seconds: 0,
        scale_in_cooldown_seconds: 0,
        scale_in_stabilization_seconds: 0,
        max_scale_out_step: None,
        max_scale_in_step: None,
        max_scale_out_step_percent: None,
        max_scale_in_step_percent: None,
    };
}

impl Stability {
    /// The tolerance of a change that increases the value (`increase`) or decreases it.
    pub fn tolerance_of(&self, increase: bool) -> f64 {
        match self.scale_out_tolerance {
            Some(out) if increase => out,
            _ => self.tolerance,
        }
    }
}

/// A tolerance that narrows while the reservation holds: a wide band right after a change
/// keeps writes few while the load settles, and a narrow one later brings a reservation that
/// the wide band held far from a slowly moving need closer to it (docs/policy.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Narrowing {
    /// The tolerance the band narrows towards; never above both tolerances.
    pub to: f64,
    /// The time constant: after this many seconds held, the band has gone about 63 % of the
    /// way from its width to `to`.
    pub seconds: u32,
}

impl Narrowing {
    pub const DEFAULT_SECONDS: u32 = 1200;
    /// A day: a longer time constant is almost certainly a unit mistake.
    pub const MAX_SECONDS: u32 = 86_400;

    /// `tolerance` after the reservation has held `held` seconds: from `tolerance` towards
    /// `to` as e^(-held/seconds), to three decimals (so that reasons read plainly). A
    /// tolerance at or below `to` stays as it is: the band only narrows.
    pub fn narrowed(&self, tolerance: f64, held: i64) -> f64 {
        if tolerance <= self.to || held <= 0 {
            return tolerance;
        }
        let decay = (-(held as f64) / f64::from(self.seconds)).exp();
        let narrowed = self.to + (tolerance - self.to) * decay;
        ((narrowed * 1000.0).round() / 1000.0).clamp(self.to, tolerance)
    }
}

impl Stability {
    /// These knobs after the reservation has held `held` seconds since the last change
    /// ([`Narrowing`]); as they are without a narrowing.
    pub fn after_holding(&self, held: i64) -> Stability {
        let Some(narrowing) = self.narrowing else {
            return *self;
        };
        Stability {
            tolerance: narrowing.narrowed(self.tolerance, held),
            scale_out_tolerance: self
                .scale_out_tolerance
                .map(|out| narrowing.narrowed(out, held)),
            ..*self
        }
    }
}

impl Default for Stability {
    fn default() -> Self {
        Stability {
            tolerance: Self::DEFAULT_TOLERANCE,
            scale_out_tolerance: None,
            narrowing: None,
            scale_out_cooldown_seconds: Self::DEFAULT_SCALE_OUT_COOLDOWN,
            scale_in_cooldown_seconds: Self::DEFAULT_SCALE_IN_COOLDOWN,
            scale_in_stabilization_seconds: Self::DEFAULT_SCALE_IN_STABILIZATION,
            max_scale_out_step: None,
            max_scale_in_step: None,
            max_scale_out_step_percent: None,
            max_scale_in_step_percent: None,
        }
    }
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
pub(crate) struct TargetDoc {
    pub(crate) function: String,
    pub(crate) min: Count,
    pub(crate) max: Count,
    #[serde(default)]
    pub(crate) allow_zero: bool,
    #[serde(default)]
    alarms: Vec<AlarmRuleDoc>,
    pub(crate) queue: Option<QueueDoc>,
    #[serde(default, deserialize_with = "tolerance")]
    pub(crate) tolerance: Option<f64>,
    #[serde(default, deserialize_with = "tolerance")]
    pub(crate) scale_out_tolerance: Option<f64>,
    #[serde(default, deserialize_with = "tolerance")]
    pub(crate) tolerance_narrows_to: Option<f64>,
    #[serde(default, deserialize_with = "narrowing_seconds")]
    pub(crate) tolerance_narrowing_seconds: Option<u32>,
    #[serde(default, deserialize_with = "cooldown")]
    pub(crate) scale_out_cooldown_seconds: Option<u32>,
    #[serde(default, deserialize_with = "cooldown")]
    pub(crate) scale_in_cooldown_seconds: Option<u32>,
    #[serde(default, deserialize_with = "stabilization")]
    pub(crate) scale_in_stabilization_seconds: Option<u32>,
    #[serde(default, deserialize_with = "step")]
    pub(crate) max_scale_out_step: Option<u32>,
    #[serde(default, deserialize_with = "step")]
    pub(crate) max_scale_in_step: Option<u32>,
    #[serde(default, deserialize_with = "step_out_percent")]
    pub(crate) max_scale_out_step_percent: Option<u32>,
    #[serde(default, deserialize_with = "step_in_percent")]
    pub(crate) max_scale_in_step_percent: Option<u32>,
    #[serde(default)]
    pub(crate) on_metric_failure: MetricFailure,
    #[serde(default)]
    pub(crate) event_sources: EventSources,
    #[serde(default, deserialize_with = "mapping_ceiling")]
    pub(crate) event_source_ceiling: Option<u32>,
    #[serde(default)]
    pub(crate) schedules: Vec<schedule::WindowDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueueDoc {
    pub(crate) url: Option<String>,
    pub(crate) name: Option<String>,
    #[serde(default, deserialize_with = "step")]
    pub(crate) messages_per_instance: Option<u32>,
    #[serde(default, deserialize_with = "wait_seconds")]
    pub(crate) target_wait_seconds: Option<u32>,
    #[serde(default, deserialize_with = "service_seconds")]
    pub(crate) service_seconds: Option<f64>,
    #[serde(default, deserialize_with = "batch_size")]
    pub(crate) batch_size: Option<u32>,
    pub(crate) include_in_flight: Option<bool>,
    pub(crate) include_delayed: Option<bool>,
    #[serde(default, deserialize_with = "count")]
    pub(crate) activation: u32,
}

fn wait_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    // In 1..=a day, a u32.
    deserialize_int_in_range(d, 1, i64::from(WaitGoal::MAX_WAIT_SECONDS)).map(|n| Some(n as u32))
}

fn batch_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    // In 1..=10000, a u32.
    deserialize_int_in_range(d, 1, i64::from(WaitGoal::MAX_BATCH_SIZE)).map(|n| Some(n as u32))
}

fn service_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let s = f64::deserialize(d)?;
    if !(WaitGoal::MIN_SERVICE_SECONDS..=WaitGoal::MAX_SERVICE_SECONDS).contains(&s) {
        return Err(serde::de::Error::custom(format!(
            "{s} is out of range: expected seconds from {} (a microsecond) to {} (Lambda's \
             longest timeout), e.g. 0.25",
            WaitGoal::MIN_SERVICE_SECONDS,
            WaitGoal::MAX_SERVICE_SECONDS
        )));
    }
    Ok(Some(s))
}

fn tolerance<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let t = f64::deserialize(d)?;
    if !(0.0..1.0).contains(&t) {
        return Err(serde::de::Error::custom(format!(
            "{t} is out of range: expected a fraction from 0 (act on every change) to below 1, e.g. 0.1"
        )));
    }
    Ok(Some(t))
}

fn seconds_up_to<'de, D: Deserializer<'de>>(d: D, max: u32) -> Result<Option<u32>, D::Error> {
    let n = deserialize_int_in_range(d, 0, i64::from(max))?;
    // In 0..=max, a u32.
    Ok(Some(n as u32))
}

fn narrowing_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    // In 1..=a day, a u32.
    deserialize_int_in_range(d, 1, i64::from(Narrowing::MAX_SECONDS)).map(|n| Some(n as u32))
}

fn cooldown<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    seconds_up_to(d, Stability::MAX_COOLDOWN)
}

fn stabilization<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    seconds_up_to(d, Stability::MAX_STABILIZATION)
}

/// A mapping's `MaximumConcurrency`: 2 to 1000, as AWS accepts it.
fn mapping_ceiling<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    // In 2..=1000, a u32.
    deserialize_int_in_range(d, 2, 1000).map(|n| Some(n as u32))
}

fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = deserialize_int_in_range(d, 1, MAX_COUNT)?;
    // In 1..=i32::MAX, a u32.
    Ok(n as u32)
}

fn step<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    positive(d).map(Some)
}

/// A scale-out step of up to a hundredfold, like `percent` actions.
fn step_out_percent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    // In 1..=10000, a u32.
    deserialize_int_in_range(d, 1, 10_000).map(|n| Some(n as u32))
}

/// A scale-in step cannot take away more than everything.
fn step_in_percent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    // In 1..=100, a u32.
    deserialize_int_in_range(d, 1, 100).map(|n| Some(n as u32))
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

    /// The targets following the queue named `name` (matched by name, whether the target
    /// gave a URL or a name).
    pub fn targets_for_queue<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Target> {
        self.targets
            .iter()
            .filter(move |t| t.queue.as_ref().is_some_and(|q| q.queue.name() == name))
    }
}

fn validate(doc: PolicyDoc) -> Result<Policy, String> {
    let mut targets = Vec::with_capacity(doc.targets.len());
    let mut seen_functions: HashSet<String> = HashSet::new();
    for (i, t) in doc.targets.into_iter().enumerate() {
        let at = |field: &str| format!("targets[{i}].{field}");
        let target = validate_target(t, &at)?;
        if !seen_functions.insert(target.function.name().to_owned()) {
            return Err(format!(
                "{}: function \"{}\" is already a target; give each function one target",
                at("function"),
                target.function.name()
            ));
        }
        targets.push(target);
    }
    Ok(Policy { targets })
}

/// Validates one target; `at` turns a field path into where the user wrote it (a JSON path
/// in the document, a tag key on a function).
/// Exactly one of `messages_per_instance` and `target_wait_seconds`, with the fields that
/// belong to it.
fn queue_goal(q: &QueueDoc, at: &dyn Fn(&str) -> String) -> Result<QueueGoal, String> {
    match (q.messages_per_instance, q.target_wait_seconds) {
        (Some(n), None) => {
            for (field, given) in [
                ("service_seconds", q.service_seconds.is_some()),
                ("batch_size", q.batch_size.is_some()),
            ] {
                if given {
                    return Err(format!(
                        "{}: belongs to a \"target_wait_seconds\" goal; \
                         \"messages_per_instance\" does not use it",
                        at(&format!("queue.{field}"))
                    ));
                }
            }
            Ok(QueueGoal::PerInstance(n))
        }
        (None, Some(wait)) => {
            if q.include_in_flight.is_some() {
                return Err(format!(
                    "{}: a \"target_wait_seconds\" goal always reads in-flight messages as \
                     the executions at work; leave it out",
                    at("queue.include_in_flight")
                ));
            }
            // The last message of a full batch starts (b - 1) service times after the first.
            if let (Some(s), Some(b)) = (q.service_seconds, q.batch_size) {
                let in_batch = f64::from(b - 1) * s;
                if f64::from(wait) <= in_batch {
                    return Err(format!(
                        "{}: {wait} s cannot be met: the last of a batch of {b} waits {in_batch} s \
                         behind the others ({} x service_seconds {s}); raise it above that or \
                         lower batch_size",
                        at("queue.target_wait_seconds"),
                        b - 1
                    ));
                }
            }
            Ok(QueueGoal::Wait(WaitGoal {
                target_wait_seconds: wait,
                service_seconds: q.service_seconds,
                batch_size: q.batch_size,
            }))
        }
        (Some(_), Some(_)) => Err(format!(
            "{}: give exactly one of \"messages_per_instance\" and \"target_wait_seconds\"",
            at("queue")
        )),
        (None, None) => Err(format!(
            "{}: give \"messages_per_instance\" (messages per execution) or \
             \"target_wait_seconds\" (how long a message may wait)",
            at("queue")
        )),
    }
}

/// `tolerance_narrows_to` below one of the target's tolerances at least (the band only
/// narrows: one at or below the floor stays as it is; at or above both nothing would), and
/// a time constant only with it.
fn narrowing(
    (to, seconds): (Option<f64>, Option<u32>),
    (tolerance, scale_out_tolerance): (f64, Option<f64>),
    at: &dyn Fn(&str) -> String,
) -> Result<Option<Narrowing>, String> {
    let widest = scale_out_tolerance.map_or(tolerance, |out| out.max(tolerance));
    match (to, seconds) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(format!(
            "{}: has no effect without \"tolerance_narrows_to\"",
            at("tolerance_narrowing_seconds")
        )),
        (Some(to), _) if to >= widest => Err(format!(
            "{}: {to} is not below tolerance {tolerance}{}: the band only narrows, so give a \
             value from 0 to below {widest}",
            at("tolerance_narrows_to"),
            match scale_out_tolerance {
                Some(out) => format!(" and scale_out_tolerance {out}"),
                None => String::new(),
            }
        )),
        (Some(to), seconds) => Ok(Some(Narrowing {
            to,
            seconds: seconds.unwrap_or(Narrowing::DEFAULT_SECONDS),
        })),
    }
}

pub(crate) fn validate_target(t: TargetDoc, at: &dyn Fn(&str) -> String) -> Result<Target, String> {
    let function =
        FunctionRef::parse(&t.function).map_err(|e| format!("{}: {e}", at("function")))?;
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
        let at_alarm = |field: &str| at(&format!("alarms[{j}].{field}"));
        check_alarm_name(&a.name).map_err(|e| format!("{}: {e}", at_alarm("name")))?;
        if !seen_alarms.insert(a.name.clone()) {
            return Err(format!(
                "{}: alarm \"{}\" is listed twice for this target; merge its actions into one entry",
                at_alarm("name"),
                a.name
            ));
        }
        if a.on_alarm.is_none() && a.on_ok.is_none() && a.on_insufficient_data.is_none() {
            return Err(format!(
                "{}: alarm \"{}\" has no action; give it at least one of \
                 on_alarm, on_ok, on_insufficient_data",
                at(&format!("alarms[{j}]")),
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
    let queue = match t.queue {
        None => None,
        Some(q) => {
            let goal = queue_goal(&q, at)?;
            let queue = match (q.url, q.name) {
                (Some(url), None) => {
                    if !QueueRef::is_url(&url) {
                        return Err(format!(
                            "{}: \"{url}\" is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME); use \"name\" for a queue name",
                            at("queue.url")
                        ));
                    }
                    QueueRef::parse(&url).map_err(|e| format!("{}: {e}", at("queue.url")))?
                }
                (None, Some(name)) => {
                    check_queue_name(&name).map_err(|e| format!("{}: {e}", at("queue.name")))?;
                    QueueRef::Name(name)
                }
                _ => {
                    return Err(format!(
                        "{}: give exactly one of \"url\" and \"name\"",
                        at("queue")
                    ))
                }
            };
            Some(QueueSpec {
                queue,
                goal,
                include_in_flight: q.include_in_flight.unwrap_or(true),
                include_delayed: q.include_delayed.unwrap_or(false),
                activation: q.activation,
            })
        }
    };
    let d = Stability::default();
    let tolerance = t.tolerance.unwrap_or(d.tolerance);
    let narrowing = narrowing(
        (t.tolerance_narrows_to, t.tolerance_narrowing_seconds),
        (tolerance, t.scale_out_tolerance),
        at,
    )?;
    let stability = Stability {
        tolerance,
        scale_out_tolerance: t.scale_out_tolerance,
        narrowing,
        scale_out_cooldown_seconds: t
            .scale_out_cooldown_seconds
            .unwrap_or(d.scale_out_cooldown_seconds),
        scale_in_cooldown_seconds: t
            .scale_in_cooldown_seconds
            .unwrap_or(d.scale_in_cooldown_seconds),
        scale_in_stabilization_seconds: t
            .scale_in_stabilization_seconds
            .unwrap_or(d.scale_in_stabilization_seconds),
        max_scale_out_step: t.max_scale_out_step,
        max_scale_in_step: t.max_scale_in_step,
        max_scale_out_step_percent: t.max_scale_out_step_percent,
        max_scale_in_step_percent: t.max_scale_in_step_percent,
    };
    // A ceiling on mappings that are not followed would protect nothing, silently.
    if t.event_sources == EventSources::Ignore && t.event_source_ceiling.is_some() {
        return Err(format!(
            "{}: has no effect with \"event_sources\": \"ignore\" (the mappings are left \
             alone); remove one of the two",
            at("event_source_ceiling")
        ));
    }
    if let MetricFailure::Set(n) = t.on_metric_failure {
        if n < min || n > max {
            return Err(format!(
                "{}: set {n} is outside [min {min}, max {max}]",
                at("on_metric_failure")
            ));
        }
    }
    let schedules = schedule::validate_windows(
        t.schedules,
        &schedule::TargetBounds {
            max,
            allow_zero: t.allow_zero,
        },
        at,
    )?;
    Ok(Target {
        function,
        min,
        max,
        alarms,
        queue,
        stability,
        on_metric_failure: t.on_metric_failure,
        event_sources: t.event_sources,
        event_source_ceiling: t.event_source_ceiling,
        schedules,
    })
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
    fn event_sources_and_their_ceiling_are_checked_with_their_path() {
        let err =
            error_of(r#"{"targets":[{"function":"a","min":1,"max":5,"event_source_ceiling":1}]}"#);
        assert!(
            err.starts_with("targets[0].event_source_ceiling: "),
            "{err}"
        );
        let err =
            error_of(r#"{"targets":[{"function":"a","min":1,"max":5,"event_sources":"folow"}]}"#);
        assert!(err.starts_with("targets[0].event_sources: "), "{err}");
        let ok = r#"{"targets":[{"function":"a","min":1,"max":5,"event_source_ceiling":1000}]}"#;
        let target = &Policy::from_json(ok, "test").unwrap().targets[0];
        assert_eq!(target.event_sources, EventSources::Follow);
        assert_eq!(target.event_source_ceiling, Some(1000));
        let ignored = r#"{"targets":[{"function":"a","min":1,"max":5,"event_sources":"ignore",
            "event_source_ceiling":1000}]}"#;
        assert!(
            error_of(ignored).starts_with("targets[0].event_source_ceiling: has no effect with"),
            "{}",
            error_of(ignored)
        );
        let ignore = r#"{"targets":[{"function":"a","min":1,"max":5,"event_sources":"ignore"}]}"#;
        let target = &Policy::from_json(ignore, "test").unwrap().targets[0];
        assert_eq!(target.event_sources, EventSources::Ignore);
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

    #[test]
    fn a_narrowing_tolerance_parses_with_its_default_time_constant_and_narrows_as_documented() {
        let policy = Policy::from_json(
            r#"{"targets":[{"function":"f","min":1,"max":9,"tolerance":0.3,
                "tolerance_narrows_to":0.1},
              {"function":"g","min":1,"max":9,"tolerance":0.3,"tolerance_narrows_to":0.2,
                "scale_out_tolerance":0.05,"tolerance_narrowing_seconds":60},
              {"function":"h","min":1,"max":9,"tolerance":0.05,"scale_out_tolerance":0.3,
                "tolerance_narrows_to":0.1}]}"#,
            "t",
        )
        .unwrap();
        let narrowing = policy.targets[0].stability.narrowing.unwrap();
        assert_eq!(
            narrowing,
            Narrowing {
                to: 0.1,
                seconds: Narrowing::DEFAULT_SECONDS
            }
        );
        assert_eq!(Narrowing::DEFAULT_SECONDS, 1200);
        // From 0.3 towards 0.1 as e^(-held/1200), to three decimals.
        let at = |held| narrowing.narrowed(0.3, held);
        assert_eq!((at(-5), at(0), at(600), at(1200)), (0.3, 0.3, 0.221, 0.174));
        assert_eq!((at(3600), at(86_400)), (0.11, 0.1));
        // A tolerance at or below the floor stays as it is.
        assert_eq!(narrowing.narrowed(0.05, 3600), 0.05);
        // A scale-out tolerance below the floor keeps its value; the other narrows, fast.
        let g = policy.targets[1].stability.after_holding(3600);
        assert_eq!((g.tolerance, g.scale_out_tolerance), (0.2, Some(0.05)));
        // A floor between the two tolerances narrows the wider one only.
        let h = policy.targets[2].stability.after_holding(3600);
        assert_eq!((h.tolerance, h.scale_out_tolerance), (0.05, Some(0.11)));
    }

    #[test]
    fn queue_tracking_and_stability_knobs_parse_with_documented_defaults() {
        let policy = Policy::from_json(
            r#"{"targets":[{"function":"orders-worker","min":1,"max":200,
                "queue":{"url":"https://sqs.us-east-1.amazonaws.com/123456789012/orders","messages_per_instance":10},
                "max_scale_in_step":5},
              {"function":"b","min":1,"max":5,"queue":{"name":"orders","messages_per_instance":3,
                "include_in_flight":false,"include_delayed":true,"activation":7},
                "tolerance":0,"scale_out_tolerance":0.05,"scale_out_cooldown_seconds":0,
                "scale_in_cooldown_seconds":30,"scale_in_stabilization_seconds":3600,
                "max_scale_out_step":20}]}"#,
            "t",
        )
        .unwrap();
        let a = &policy.targets[0];
        let q = a.queue.as_ref().unwrap();
        assert_eq!(q.queue.name(), "orders");
        assert_eq!(
            (
                q.messages_per_instance().unwrap(),
                q.include_in_flight,
                q.include_delayed,
                q.activation
            ),
            (10, true, false, 0)
        );
        assert_eq!(
            a.stability,
            Stability {
                max_scale_in_step: Some(5),
                ..Stability::default()
            }
        );
        assert_eq!(Stability::default().tolerance, 0.1);
        assert_eq!(Stability::default().scale_out_tolerance, None);
        assert_eq!(Stability::default().scale_out_cooldown_seconds, 60);
        assert_eq!(Stability::default().scale_in_cooldown_seconds, 300);
        assert_eq!(Stability::default().scale_in_stabilization_seconds, 300);
        let b = &policy.targets[1];
        let q = b.queue.as_ref().unwrap();
        assert_eq!(q.queue, QueueRef::Name("orders".into()));
        assert_eq!(
            (
                q.messages_per_instance().unwrap(),
                q.include_in_flight,
                q.include_delayed,
                q.activation
            ),
            (3, false, true, 7)
        );
        assert_eq!(
            b.stability,
            Stability {
                tolerance: 0.0,
                scale_out_tolerance: Some(0.05),
                narrowing: None,
                scale_out_cooldown_seconds: 0,
                scale_in_cooldown_seconds: 30,
                scale_in_stabilization_seconds: 3600,
                max_scale_out_step: Some(20),
                max_scale_in_step: None,
                max_scale_out_step_percent: None,
                max_scale_in_step_percent: None,
            }
        );
        let names: Vec<_> = policy
            .targets_for_queue("orders")
            .map(|t| t.function.name())
            .collect();
        assert_eq!(names, ["orders-worker", "b"]);
    }

    #[test]
    fn on_metric_failure_is_hold_by_default_or_a_set_within_bounds() {
        let target = |extra: &str| {
            Policy::from_json(
                &format!(r#"{{"targets":[{{"function":"a","min":2,"max":50{extra}}}]}}"#),
                "t",
            )
            .map(|p| p.targets[0].on_metric_failure)
        };
        assert_eq!(target(""), Ok(MetricFailure::Hold));
        assert_eq!(
            target(r#","on_metric_failure":"hold""#),
            Ok(MetricFailure::Hold)
        );
        assert_eq!(
            target(r#","on_metric_failure":{"set":10}"#),
            Ok(MetricFailure::Set(10))
        );
        for (extra, expected) in [
            (
                r#","on_metric_failure":"scale""#,
                "targets[0].on_metric_failure: invalid value: string \"scale\", expected \"hold\" or {\"set\": N}",
            ),
            (
                r#","on_metric_failure":{"set":90}"#,
                "targets[0].on_metric_failure: set 90 is outside [min 2, max 50]",
            ),
            (
                r#","on_metric_failure":{"cap":3}"#,
                "targets[0].on_metric_failure: unknown key `cap`, expected \"hold\" or {\"set\": N}",
            ),
            (
                r#","on_metric_failure":{"set":"3"}"#,
                "targets[0].on_metric_failure.set: invalid type: string \"3\"",
            ),
        ] {
            let err = target(extra).unwrap_err().message;
            assert!(err.starts_with(expected), "{extra}: {err}");
        }
    }

    #[test]
    fn a_drain_time_goal_parses_with_its_optional_service_time_and_batch() {
        let policy = Policy::from_json(
            r#"{"targets":[
              {"function":"a","min":1,"max":5,"queue":{"name":"q","target_wait_seconds":30}},
              {"function":"b","min":1,"max":5,"queue":{"name":"q","target_wait_seconds":30,
                "service_seconds":0.25,"batch_size":10,"include_delayed":true}}]}"#,
            "test",
        )
        .unwrap();
        let goal = |i: usize| policy.targets[i].queue.as_ref().unwrap().goal;
        assert_eq!(
            goal(0),
            QueueGoal::Wait(WaitGoal {
                target_wait_seconds: 30,
                service_seconds: None,
                batch_size: None,
            })
        );
        assert_eq!(
            goal(1),
            QueueGoal::Wait(WaitGoal {
                target_wait_seconds: 30,
                service_seconds: Some(0.25),
                batch_size: Some(10),
            })
        );
        assert_eq!(
            policy.targets[1]
                .queue
                .as_ref()
                .unwrap()
                .messages_per_instance(),
            None
        );
    }

    #[test]
    fn bad_queue_and_knob_values_name_the_field() {
        let with = |extra: &str| {
            error_of(&format!(
                r#"{{"targets":[{{"function":"a","min":1,"max":5,{extra}}}]}}"#
            ))
        };
        for (extra, expected) in [
            (
                r#""queue":{"messages_per_instance":1}"#,
                "targets[0].queue: give exactly one of",
            ),
            (
                r#""queue":{"url":"https://x/q","name":"q","messages_per_instance":1}"#,
                "targets[0].queue: give exactly one of",
            ),
            (
                r#""queue":{"name":"q"}"#,
                "targets[0].queue: give \"messages_per_instance\" (messages per execution) or \"target_wait_seconds\"",
            ),
            (
                r#""queue":{"name":"q","messages_per_instance":1,"target_wait_seconds":30}"#,
                "targets[0].queue: give exactly one of \"messages_per_instance\" and \"target_wait_seconds\"",
            ),
            (
                r#""queue":{"name":"q","messages_per_instance":1,"service_seconds":2}"#,
                "targets[0].queue.service_seconds: belongs to a \"target_wait_seconds\" goal",
            ),
            (
                r#""queue":{"name":"q","messages_per_instance":1,"batch_size":10}"#,
                "targets[0].queue.batch_size: belongs to a \"target_wait_seconds\" goal",
            ),
            (
                r#""queue":{"name":"q","target_wait_seconds":30,"include_in_flight":false}"#,
                "targets[0].queue.include_in_flight: a \"target_wait_seconds\" goal always reads",
            ),
            (
                r#""queue":{"name":"q","target_wait_seconds":0}"#,
                "targets[0].queue.target_wait_seconds: 0 is out of range",
            ),
            (
                r#""queue":{"name":"q","target_wait_seconds":86401}"#,
                "targets[0].queue.target_wait_seconds: 86401 is out of range",
            ),
            (
                r#""queue":{"name":"q","target_wait_seconds":30,"service_seconds":0}"#,
                "targets[0].queue.service_seconds: 0 is out of range",
            ),
            (
                r#""queue":{"name":"q","target_wait_seconds":30,"service_seconds":901}"#,
                "targets[0].queue.service_seconds: 901 is out of range",
            ),
            (
                // Subnormal: the formula would propose the largest reservation there is.
                r#""queue":{"name":"q","target_wait_seconds":30,"service_seconds":5e-324}"#,
                "targets[0].queue.service_seconds: 0.000000000000000000000000000000000000000000",
            ),
            (
                r#""queue":{"name":"q","target_wait_seconds":30,"batch_size":10001}"#,
                "targets[0].queue.batch_size: 10001 is out of range",
            ),
            (
                r#""queue":{"name":"q","target_wait_seconds":9,"service_seconds":1,"batch_size":10}"#,
                "targets[0].queue.target_wait_seconds: 9 s cannot be met: the last of a batch of 10 waits 9 s",
            ),
            (
                r#""queue":{"name":"q","messages_per_instance":0}"#,
                "targets[0].queue.messages_per_instance: 0 is out of range",
            ),
            (
                r#""queue":{"name":"a b","messages_per_instance":1}"#,
                "targets[0].queue.name: queue name \"a b\" contains ' '",
            ),
            (
                r#""queue":{"url":"sqs/orders","messages_per_instance":1}"#,
                "targets[0].queue.url: \"sqs/orders\" is not a queue URL",
            ),
            (
                r#""queue":{"name":"q","messages_per_instance":1,"visible":true}"#,
                "targets[0].queue.visible: unknown field",
            ),
            (
                r#""tolerance":1.5"#,
                "targets[0].tolerance: 1.5 is out of range",
            ),
            (
                r#""scale_out_tolerance":-0.1"#,
                "targets[0].scale_out_tolerance: -0.1 is out of range",
            ),
            (
                r#""tolerance":"0.1""#,
                "targets[0].tolerance: invalid type: string",
            ),
            (
                // The default tolerance is 0.1: the band only narrows.
                r#""tolerance_narrows_to":0.2"#,
                "targets[0].tolerance_narrows_to: 0.2 is not below tolerance 0.1: the band \
                 only narrows, so give a value from 0 to below 0.1",
            ),
            (
                // Equal: nothing would narrow.
                r#""tolerance_narrows_to":0.1"#,
                "targets[0].tolerance_narrows_to: 0.1 is not below tolerance 0.1",
            ),
            (
                r#""tolerance":0.05,"scale_out_tolerance":0.1,"tolerance_narrows_to":0.2"#,
                "targets[0].tolerance_narrows_to: 0.2 is not below tolerance 0.05 and \
                 scale_out_tolerance 0.1: the band only narrows, so give a value from 0 to \
                 below 0.1",
            ),
            (
                r#""tolerance":0.3,"tolerance_narrows_to":1"#,
                "targets[0].tolerance_narrows_to: 1 is out of range",
            ),
            (
                r#""tolerance":0.3,"tolerance_narrowing_seconds":600"#,
                "targets[0].tolerance_narrowing_seconds: has no effect without \
                 \"tolerance_narrows_to\"",
            ),
            (
                r#""tolerance":0.3,"tolerance_narrows_to":0.1,"tolerance_narrowing_seconds":0"#,
                "targets[0].tolerance_narrowing_seconds: 0 is out of range",
            ),
            (
                r#""tolerance":0.3,"tolerance_narrows_to":0.1,"tolerance_narrowing_seconds":86401"#,
                "targets[0].tolerance_narrowing_seconds: 86401 is out of range",
            ),
            (
                r#""scale_in_stabilization_seconds":3601"#,
                "targets[0].scale_in_stabilization_seconds: 3601 is out of range",
            ),
            (
                r#""scale_out_cooldown_seconds":-1"#,
                "targets[0].scale_out_cooldown_seconds: -1 is out of range",
            ),
            (
                r#""max_scale_in_step":0"#,
                "targets[0].max_scale_in_step: 0 is out of range",
            ),
            (
                r#""max_scale_in_step_percent":101"#,
                "targets[0].max_scale_in_step_percent: 101 is out of range: expected a whole number from 1 to 100",
            ),
            (
                r#""max_scale_out_step_percent":0"#,
                "targets[0].max_scale_out_step_percent: 0 is out of range: expected a whole number from 1 to 10000",
            ),
            (
                r#""max_scale_out_step_percent":12.5"#,
                "targets[0].max_scale_out_step_percent: invalid type: floating point",
            ),
        ] {
            let err = with(extra);
            assert!(err.starts_with(expected), "{extra}: {err}");
        }
    }
}
