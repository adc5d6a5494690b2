//! Raw event JSON -> what to look at.
//!
//! Routing uses the fields that tell the shapes apart (`alarmData`, `detail-type`,
//! `Records[].EventSource == "aws:sns"`, `Records[].eventSource == "aws:sqs"`, `AlarmName`,
//! SNS envelopes, direct commands), then each shape is parsed strictly where it matters (the
//! alarm name and state) and leniently elsewhere (AWS adds fields over time). Every error
//! names where in the input it was found.

use crate::alarm::{check_alarm_name, AlarmState};
use crate::arn::Arn;
use crate::count::Count;
use crate::function_ref::FunctionRef;
use crate::policy::QueueRef;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Events larger than Lambda's synchronous payload limit are refused before parsing.
pub const MAX_EVENT_BYTES: usize = 6 * 1024 * 1024;

/// The detail-type of EventBridge's alarm state change events.
pub const ALARM_STATE_CHANGE: &str = "CloudWatch Alarm State Change";
/// The detail-type of EventBridge (and EventBridge Scheduler) schedule events.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// What one invocation was asked to look at.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// One or more signals handled all-or-nothing (a raw event, EventBridge, SNS).
    Signals(Vec<Signal>),
    /// An SQS batch: each record is handled on its own and may fail on its own.
    Queue(Vec<QueueRecord>),
}

/// One SQS record: its id (for `batchItemFailures`) and what its body said.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRecord {
    pub message_id: String,
    pub signal: Result<Signal, EventError>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    Alarm(AlarmSignal),
    Direct(DirectCommand),
    /// An EventBridge "Scheduled Event": reconcile every target.
    Scheduled,
    /// `{"queue": "URL or name"}`: evaluate the targets of that queue.
    QueueDepth(QueueSignal),
}

/// A push notification that a queue's depth may have changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSignal {
    pub queue: QueueRef,
}

impl AlarmSignal {
    /// The names of the SQS queues the alarm's metrics watch (`AWS/SQS` with `QueueName`).
    pub fn queue_names(&self) -> impl Iterator<Item = &str> {
        self.metrics
            .iter()
            .filter(|m| m.namespace == "AWS/SQS")
            .filter_map(|m| m.dimensions.get("QueueName").map(String::as_str))
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Signal::Alarm(a) => write!(f, "alarm {} is {} ({})", a.name, a.state, a.via),
            Signal::Direct(d) => write!(
                f,
                "direct command: {} to {}",
                d.function, d.desired_concurrency
            ),
            Signal::Scheduled => f.write_str("scheduled reconciliation"),
            Signal::QueueDepth(q) => write!(f, "queue depth event for {}", q.queue),
        }
    }
}

/// A CloudWatch alarm state change, whatever envelope carried it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSignal {
    pub name: String,
    pub state: AlarmState,
    /// The metrics the alarm watches (none for composite alarms): an `AWS/SQS` metric also
    /// evaluates the targets that follow its queue.
    pub metrics: Vec<MetricRef>,
    pub via: Via,
    /// Where the alarm lives, as far as the event says.
    pub origin: Origin,
}

/// The account and Region an event says it comes from (either may be unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub account: Option<String>,
    pub region: Option<String>,
}

impl Origin {
    /// The explicit fields, completed from an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:...`).
    fn from_parts(account: Option<String>, region: Option<String>, arn: Option<&str>) -> Origin {
        let arn = arn.and_then(Arn::parse);
        let known = |part: &str| (!part.is_empty()).then(|| part.to_owned());
        Origin {
            account: account.or_else(|| arn.and_then(|a| known(a.account))),
            region: region.or_else(|| arn.and_then(|a| known(a.region))),
        }
    }

    /// The Region and account of a Lambda function ARN, if it is one.
    pub fn of_arn(arn: &str) -> Origin {
        Origin::from_parts(None, None, Some(arn))
    }

    /// The Region and account of an SQS queue URL
    /// (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`, `.amazonaws.com.cn`, dual-stack
    /// `.api.aws`, or the older `https://REGION.queue.amazonaws.com/ACCOUNT/NAME`); what it
    /// does not say (a local endpoint's or a VPC endpoint's Region) is unknown.
    pub fn of_queue_url(url: &str) -> Origin {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        let aws = [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"]
            .iter()
            .any(|domain| host.ends_with(domain));
        let labels: Vec<&str> = host.split('.').collect();
        // `sqs.REGION.` (also after a VPC endpoint's `vpce-....` label) or `sqs-fips.REGION.`.
        let after_sqs = labels
            .iter()
            .position(|l| matches!(*l, "sqs" | "sqs-fips"))
            .and_then(|i| labels.get(i + 1));
        let region = match labels.as_slice() {
            _ if !aws => None,
            [region, "queue", "amazonaws", ..] => Some(region),
            _ => after_sqs,
        }
        // A Region's name: `us-east-1`, `cn-north-1`, `us-gov-west-1`.
        .filter(|r| r.contains('-') && r.ends_with(|c: char| c.is_ascii_digit()));
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let account = match segments.as_slice() {
            [account, _name]
                if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(account)
            }
            _ => None,
        };
        Origin {
            account: account.map(|a| (*a).to_owned()),
            region: region.map(|r| (*r).to_owned()),
        }
    }

    /// The first way `self` differs from `home`, as people read it; `None` when nothing
    /// known differs.
    pub fn differs_from(&self, home: &Origin) -> Option<String> {
        let differ =
            |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a != b);
        if differ(&self.account, &home.account) {
            return Some(format!(
                "account {}, not {}",
                self.account.as_deref().unwrap_or_default(),
                home.account.as_deref().unwrap_or_default()
            ));
        }
        if differ(&self.region, &home.region) {
            return Some(format!(
                "Region {}, not {}",
                self.region.as_deref().unwrap_or_default(),
                home.region.as_deref().unwrap_or_default()
            ));
        }
        None
    }
}

/// A metric an alarm watches: where it lives, not what it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRef {
    pub namespace: String,
    pub dimensions: BTreeMap<String, String>,
}

/// The envelope an alarm arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    LambdaAction,
    EventBridge,
    Sns,
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Via::LambdaAction => "CloudWatch Lambda action",
            Via::EventBridge => "EventBridge",
            Via::Sns => "SNS notification",
        })
    }
}

/// `{"function": "NAME", "desiredConcurrency": N}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectCommand {
    pub function: FunctionRef,
    pub desired_concurrency: u32,
}

/// Why an event (or one record of it) cannot be used, and where in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct EventError {
    /// A path into the input, e.g. `event.alarmData.state.value` or
    /// `Records[2] (messageId m-3).body.AlarmName`.
    pub location: String,
    pub message: String,
}

fn error(location: impl Into<String>, message: impl Into<String>) -> EventError {
    EventError {
        location: location.into(),
        message: message.into(),
    }
}

/// Parses a whole event document (for the CLI, which reads files).
pub fn parse_event_bytes(bytes: &[u8]) -> Result<Trigger, EventError> {
    parse_event(&json_from_bytes(bytes, "event")?)
}

/// JSON text as a value, refusing a key given twice in one object ([`Unique`]).
pub fn json_value(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(bytes).map(|Unique(value)| value)
}

/// Parses JSON text embedded in an event (an SNS message, an SQS body) or read from a file.
fn json_from_bytes(bytes: &[u8], at: &str) -> Result<Value, EventError> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(error(
            at,
            format!(
                "{} bytes is larger than Lambda's {MAX_EVENT_BYTES}-byte payload limit",
                bytes.len()
            ),
        ));
    }
    // serde_json's recursion limit turns absurdly deep documents into an error, not a crash.
    json_value(bytes).map_err(|e| error(at, format!("not valid JSON: {e}")))
}

/// A JSON value whose objects name each key once. serde_json keeps the last of a key named
/// twice, so `{"desiredConcurrency": 5, "desiredConcurrency": 500}` would act on 500 while
/// a reader of the event sees 5 first: such an event is refused instead.
struct Unique(Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "the key \"{key}\" is given twice"
                )));
            }
            let Unique(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Parses an event the Lambda runtime has already decoded.
pub fn parse_event(event: &Value) -> Result<Trigger, EventError> {
    let Some(records) = event.get("Records") else {
        return Ok(Trigger::Signals(vec![parse_signal(event, "event", true)?]));
    };
    let records = records
        .as_array()
        .ok_or_else(|| error("event.Records", "expected an array of records"))?;
    if records.is_empty() {
        return Err(error(
            "event.Records",
            "is empty; there is nothing to handle",
        ));
    }
    match record_source(&records[0]) {
        Some("aws:sqs") => {
            let parsed = records
                .iter()
                .enumerate()
                .map(|(i, record)| parse_sqs_record(i, record))
                .collect::<Result<_, _>>()?;
            Ok(Trigger::Queue(parsed))
        }
        Some("aws:sns") => {
            let signals = records
                .iter()
                .enumerate()
                .map(|(i, record)| parse_sns_record(i, record))
                .collect::<Result<_, _>>()?;
            Ok(Trigger::Signals(signals))
        }
        Some(other) => Err(error(
            "event.Records[0]",
            format!("unsupported event source \"{other}\" (expected aws:sqs or aws:sns)"),
        )),
        None => Err(error(
            "event.Records[0]",
            "has no eventSource (SQS) or EventSource (SNS); cannot tell what sent it",
        )),
    }
}

/// SQS spells it `eventSource`, SNS `EventSource`.
fn record_source(record: &Value) -> Option<&str> {
    record
        .get("eventSource")
        .or_else(|| record.get("EventSource"))
        .and_then(Value::as_str)
}

fn parse_sqs_record(index: usize, record: &Value) -> Result<QueueRecord, EventError> {
    let at = format!("event.Records[{index}]");
    if record_source(record) != Some("aws:sqs") {
        return Err(error(
            &at,
            "mixes event sources; every record must come from aws:sqs",
        ));
    }
    // Without a messageId the record cannot be reported as failed, so the batch fails.
    let message_id = record
        .get("messageId")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            error(
                format!("{at}.messageId"),
                "missing; SQS records always carry one",
            )
        })?
        .to_owned();
    let at = format!("Records[{index}] (messageId {message_id}).body");
    let signal = match record.get("body").and_then(Value::as_str) {
        None => Err(error(&at, "missing or not a string")),
        Some(body) => {
            json_from_bytes(body.as_bytes(), &at).and_then(|value| parse_signal(&value, &at, true))
        }
    };
    Ok(QueueRecord { message_id, signal })
}

fn parse_sns_record(index: usize, record: &Value) -> Result<Signal, EventError> {
    let at = format!("event.Records[{index}]");
    if record_source(record) != Some("aws:sns") {
        return Err(error(
            &at,
            "mixes event sources; every record must come from aws:sns",
        ));
    }
    let message = record
        .get("Sns")
        .and_then(|sns| sns.get("Message"))
        .ok_or_else(|| error(format!("{at}.Sns.Message"), "missing"))?;
    parse_sns_message(message, &format!("{at}.Sns.Message"))
}

/// An SNS message: a string holding a CloudWatch alarm notification (or another signal).
fn parse_sns_message(message: &Value, at: &str) -> Result<Signal, EventError> {
    let text = message
        .as_str()
        .ok_or_else(|| error(at, "expected a string holding JSON"))?;
    let value = json_from_bytes(text.as_bytes(), at).map_err(|e| {
        error(
            at,
            format!("{}; expected a CloudWatch alarm notification", e.message),
        )
    })?;
    // An envelope inside an envelope is not something AWS produces.
    parse_signal(&value, at, false)
}

/// One signal in any of the single-event shapes.
fn parse_signal(value: &Value, at: &str, allow_envelope: bool) -> Result<Signal, EventError> {
    let Some(object) = value.as_object() else {
        return Err(error(
            at,
            format!("expected a JSON object, found {}", json_kind(value)),
        ));
    };
    if object.contains_key("alarmData") {
        return parse_lambda_action(value, at).map(Signal::Alarm);
    }
    if object.contains_key("detail-type") {
        if object.get("detail-type").and_then(Value::as_str) == Some(SCHEDULED_EVENT) {
            return parse_scheduled(value, at);
        }
        return parse_eventbridge(value, at).map(Signal::Alarm);
    }
    if object.contains_key("AlarmName") {
        return parse_alarm_notification(value, at).map(Signal::Alarm);
    }
    if object.get("Type").and_then(Value::as_str) == Some("Notification") {
        if !allow_envelope {
            return Err(error(
                at,
                "an SNS envelope inside another envelope is not supported",
            ));
        }
        let message = object
            .get("Message")
            .ok_or_else(|| error(format!("{at}.Message"), "missing"))?;
        return parse_sns_message(message, &format!("{at}.Message"));
    }
    if object.contains_key("function") {
        return parse_direct(value, at).map(Signal::Direct);
    }
    if object.contains_key("queue") {
        return parse_queue_depth(value, at).map(Signal::QueueDepth);
    }
    if object.contains_key("Records") {
        return Err(error(
            at,
            "a Records batch cannot be nested inside another event",
        ));
    }
    Err(error(
        at,
        "unrecognised event: expected a CloudWatch alarm (a Lambda action with alarmData, an \
         EventBridge \"CloudWatch Alarm State Change\", or an alarm notification with AlarmName), \
         an SNS or SQS event carrying one, a direct command {\"function\", \"desiredConcurrency\"}, \
         an EventBridge \"Scheduled Event\", or a queue depth event {\"queue\": \"URL or name\"}",
    ))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Deserializes `value` into `T`, reporting the path of a bad field below `at`.
fn from_value<'a, T: Deserialize<'a>>(value: &'a Value, at: &str) -> Result<T, EventError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let location = if path == "." {
            at.to_owned()
        } else {
            format!("{at}.{path}")
        };
        error(location, e.into_inner().to_string())
    })
}

fn checked_name(name: String, at: &str) -> Result<String, EventError> {
    check_alarm_name(&name).map_err(|e| error(at, e))?;
    Ok(name)
}

// CloudWatch's own JSON (Lambda action payload and EventBridge detail): camelCase.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LambdaActionDoc {
    source: Option<String>,
    account_id: Option<String>,
    region: Option<String>,
    alarm_arn: Option<String>,
    alarm_data: AlarmDataDoc,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlarmDataDoc {
    alarm_name: String,
    state: StateDoc,
    #[serde(default)]
    configuration: ConfigurationDoc,
}

#[derive(Deserialize)]
struct StateDoc {
    value: AlarmState,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ConfigurationDoc {
    #[serde(default)]
    metrics: Vec<MetricQueryDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricQueryDoc {
    metric_stat: Option<MetricStatDoc>,
}

#[derive(Deserialize)]
struct MetricStatDoc {
    metric: MetricDoc,
}

#[derive(Deserialize)]
struct MetricDoc {
    namespace: String,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct EventBridgeDoc {
    detail_type: String,
    source: Option<String>,
    account: Option<String>,
    region: Option<String>,
    detail: Value,
}

fn parse_lambda_action(value: &Value, at: &str) -> Result<AlarmSignal, EventError> {
    let doc: LambdaActionDoc = from_value(value, at)?;
    if let Some(source) = doc.source.as_deref().filter(|s| *s != "aws.cloudwatch") {
        return Err(error(
            format!("{at}.source"),
            format!("\"{source}\" is not aws.cloudwatch; alarmData events come from CloudWatch"),
        ));
    }
    let origin = Origin::from_parts(doc.account_id, doc.region, doc.alarm_arn.as_deref());
    alarm_from_data(
        doc.alarm_data,
        &format!("{at}.alarmData"),
        Via::LambdaAction,
        origin,
    )
}

fn parse_eventbridge(value: &Value, at: &str) -> Result<AlarmSignal, EventError> {
    let doc: EventBridgeDoc = from_value(value, at)?;
    if doc.detail_type != ALARM_STATE_CHANGE {
        return Err(error(
            format!("{at}.detail-type"),
            format!(
                "unsupported EventBridge event \"{}\" (expected \"{ALARM_STATE_CHANGE}\")",
                doc.detail_type
            ),
        ));
    }
    if let Some(source) = doc.source.as_deref().filter(|s| *s != "aws.cloudwatch") {
        return Err(error(
            format!("{at}.source"),
            format!("\"{source}\" is not aws.cloudwatch"),
        ));
    }
    let detail_at = format!("{at}.detail");
    let data: AlarmDataDoc = from_value(&doc.detail, &detail_at)?;
    let origin = Origin::from_parts(doc.account, doc.region, None);
    alarm_from_data(data, &detail_at, Via::EventBridge, origin)
}

fn alarm_from_data(
    data: AlarmDataDoc,
    at: &str,
    via: Via,
    origin: Origin,
) -> Result<AlarmSignal, EventError> {
    let name = checked_name(data.alarm_name, &format!("{at}.alarmName"))?;
    let metrics = data
        .configuration
        .metrics
        .into_iter()
        .filter_map(|query| query.metric_stat)
        .map(|stat| MetricRef {
            namespace: stat.metric.namespace,
            dimensions: stat.metric.dimensions,
        })
        .collect();
    Ok(AlarmSignal {
        name,
        state: data.state.value,
        metrics,
        via,
        origin,
    })
}

// The alarm notification CloudWatch publishes to SNS: PascalCase, with `Trigger`.

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AlarmNotificationDoc {
    alarm_name: String,
    new_state_value: AlarmState,
    #[serde(rename = "AWSAccountId")]
    aws_account_id: Option<String>,
    /// The Region comes from here: the notification's `Region` is a display name.
    alarm_arn: Option<String>,
    /// Absent for composite alarms.
    trigger: Option<NotificationTriggerDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NotificationTriggerDoc {
    namespace: Option<String>,
    #[serde(default)]
    dimensions: Vec<NotificationDimensionDoc>,
    /// Present instead of `MetricName` for metric-math alarms.
    #[serde(default)]
    metrics: Vec<NotificationQueryDoc>,
}

#[derive(Deserialize)]
struct NotificationDimensionDoc {
    // SNS notifications spell these in lower case.
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NotificationQueryDoc {
    metric_stat: Option<NotificationMetricStatDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NotificationMetricStatDoc {
    metric: NotificationMetricDoc,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NotificationMetricDoc {
    namespace: String,
    #[serde(default)]
    dimensions: Vec<NotificationDimensionDoc>,
}

fn metric_ref(namespace: String, dimensions: Vec<NotificationDimensionDoc>) -> MetricRef {
    MetricRef {
        namespace,
        dimensions: dimensions.into_iter().map(|d| (d.name, d.value)).collect(),
    }
}

fn parse_alarm_notification(value: &Value, at: &str) -> Result<AlarmSignal, EventError> {
    let doc: AlarmNotificationDoc = from_value(value, at)?;
    let name = checked_name(doc.alarm_name, &format!("{at}.AlarmName"))?;
    let metrics = match doc.trigger {
        None => Vec::new(),
        // A metric-math alarm lists its queries; a plain one names its metric directly.
        Some(trigger) if !trigger.metrics.is_empty() => trigger
            .metrics
            .into_iter()
            .filter_map(|q| q.metric_stat)
            .map(|stat| metric_ref(stat.metric.namespace, stat.metric.dimensions))
            .collect(),
        Some(trigger) => trigger
            .namespace
            .map(|namespace| metric_ref(namespace, trigger.dimensions))
            .into_iter()
            .collect(),
    };
    let origin = Origin::from_parts(doc.aws_account_id, None, doc.alarm_arn.as_deref());
    Ok(AlarmSignal {
        name,
        state: doc.new_state_value,
        metrics,
        via: Via::Sns,
        origin,
    })
}

// A direct command, as the original design sent it.

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DirectDoc {
    function: String,
    desired_concurrency: Count,
}

fn parse_direct(value: &Value, at: &str) -> Result<DirectCommand, EventError> {
    let doc: DirectDoc = from_value(value, at)?;
    let function =
        FunctionRef::parse(&doc.function).map_err(|e| error(format!("{at}.function"), e))?;
    Ok(DirectCommand {
        function,
        desired_concurrency: doc.desired_concurrency.0,
    })
}

// An EventBridge schedule: nothing to read from it but its kind.

fn parse_scheduled(value: &Value, at: &str) -> Result<Signal, EventError> {
    let source = match value.get("source") {
        None => None,
        Some(Value::String(source)) => Some(source.as_str()),
        Some(other) => {
            return Err(error(
                format!("{at}.source"),
                format!("{other} is not a string; only EventBridge sends Scheduled Events"),
            ))
        }
    };
    match source {
        None | Some("aws.events") | Some("aws.scheduler") => Ok(Signal::Scheduled),
        Some(other) => Err(error(
            format!("{at}.source"),
            format!("\"{other}\" is not aws.events or aws.scheduler; only EventBridge sends Scheduled Events"),
        )),
    }
}

// A queue depth event: `{"queue": "URL or name"}`.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueDepthDoc {
    queue: String,
}

fn parse_queue_depth(value: &Value, at: &str) -> Result<QueueSignal, EventError> {
    let doc: QueueDepthDoc = from_value(value, at)?;
    let queue = QueueRef::parse(&doc.queue).map_err(|e| error(format!("{at}.queue"), e))?;
    Ok(QueueSignal { queue })
}

#[cfg(test)]
mod tests {
    use super::Origin;

    #[test]
    fn a_queue_url_says_its_region_and_account_as_far_as_it_can() {
        let of = |url| {
            let o = Origin::of_queue_url(url);
            (o.region, o.account)
        };
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            of("https://sqs.eu-west-1.amazonaws.com/123456789012/orders"),
            (some("eu-west-1"), some("123456789012"))
        );
        assert_eq!(
            of("https://eu-west-1.queue.amazonaws.com/123456789012/orders.fifo"),
            (some("eu-west-1"), some("123456789012"))
        );
        assert_eq!(
            of("https://sqs.us-east-1.api.aws/123456789012/orders"),
            (some("us-east-1"), some("123456789012"))
        );
        // A local endpoint says its account only; a path without one says nothing.
        assert_eq!(
            of("http://localhost:4566/000000000000/orders"),
            (None, some("000000000000"))
        );
        assert_eq!(of("https://queue.amazonaws.com/orders"), (None, None));
        assert_eq!(of("https://sqs.amazonaws.com/123456789012/orders").0, None);
        assert_eq!(
            of("https://sqs-fips.us-east-2.amazonaws.com/123456789012/orders").0,
            some("us-east-2")
        );
        assert_eq!(
            of("https://vpce-0a1b.sqs.eu-west-1.vpce.amazonaws.com/123456789012/orders").0,
            some("eu-west-1")
        );
        // Hosts are case-insensitive; one outside AWS says no Region.
        assert_eq!(
            of("https://sqs.US-EAST-1.amazonaws.com/123456789012/orders").0,
            some("us-east-1")
        );
        assert_eq!(
            of("https://sqs.internal.example.com/123456789012/orders"),
            (None, some("123456789012"))
        );
    }
}
