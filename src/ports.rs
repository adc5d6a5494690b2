//! The capabilities an invocation needs from the world, one small trait each; the one
//! [`crate::context::Context`] holds them.
//!
//! [`crate::aws`] implements them over the SDK clients (tested against moto and
//! `aws-smithy-mocks`); [`crate::memory`] implements them in memory for the handler tests,
//! the offline `explain` command and the simulator.

use crate::alarm::AlarmState;
use crate::arn::Arn;
pub use crate::decide::QueueDepth;
use crate::function_ref::FunctionRef;
use crate::state::{History, SavedState};
use async_trait::async_trait;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// A failed call: which operation, on what, and what the service said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub operation: &'static str,
    /// The function, alarm list, queue, table or namespace the call was about.
    pub resource: String,
    /// The service's error code (e.g. `ThrottlingException`), when it sent one.
    pub code: Option<String>,
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} on {} failed: ", self.operation, self.resource)?;
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for AwsError {}

/// What kind of failure an [`AwsError`] is: the one place AWS's error codes are read, so
/// that the retry, the fallbacks and the error types match on kinds, not on strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The service throttled the call.
    Throttled,
    /// An update to the resource is still in progress (`ResourceConflictException`, and
    /// `ResourceInUseException` for an event source mapping).
    InProgress,
    /// A server-side failure (5xx).
    ServerFault,
    /// No answer at all (a timeout, a refused connection): no error code.
    NoAnswer,
    AccessDenied,
    NotFound,
    /// The request was refused as invalid (`InvalidParameterValueException`); Lambda's
    /// refusal for the account's unreserved floor is one.
    InvalidParameter,
    /// A conditional write found the item changed (`ConditionalCheckFailedException`).
    ConditionFailed,
    /// Anything else: it would fail again the same way.
    Other,
}

/// Error codes AWS uses for throttling.
const THROTTLING: &[&str] = &[
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "RequestThrottledException",
    "SlowDown",
];

/// Error codes of server-side failures.
const SERVER: &[&str] = &[
    "ServiceException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalServerError",
    "InternalFailure",
    "InternalServiceError",
    "InternalServiceFault",
];

impl AwsError {
    /// The kind of failure, from the service's error code.
    pub fn kind(&self) -> ErrorKind {
        let Some(code) = self.code.as_deref() else {
            return ErrorKind::NoAnswer;
        };
        match code {
            c if THROTTLING.contains(&c) => ErrorKind::Throttled,
            c if SERVER.contains(&c) => ErrorKind::ServerFault,
            "ResourceConflictException" | "ResourceInUseException" => ErrorKind::InProgress,
            "AccessDeniedException" | "AccessDenied" => ErrorKind::AccessDenied,
            "ResourceNotFoundException" => ErrorKind::NotFound,
            "InvalidParameterValueException" => ErrorKind::InvalidParameter,
            "ConditionalCheckFailedException" => ErrorKind::ConditionFailed,
            _ => ErrorKind::Other,
        }
    }

    /// True when the same call may succeed if tried again shortly: throttling, an update in
    /// progress, a server fault or no answer. Anything else (validation, not found, access
    /// denied) would fail again the same way.
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Throttled
                | ErrorKind::InProgress
                | ErrorKind::ServerFault
                | ErrorKind::NoAnswer
        )
    }
}

/// What one `GetFunction` returns: the function's unqualified ARN, its reservation and tags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FunctionView {
    pub arn: String,
    /// The current reservation; `None` when the function has none.
    pub reserved: Option<u32>,
    pub tags: HashMap<String, String>,
    /// Why `GetFunction` returned no tags, when it said (its `TagsError`: it returns them
    /// only to a caller allowed `lambda:ListTags`): `tags` is then empty, not "untagged".
    pub tags_error: Option<String>,
}

/// The account's concurrency as `GetAccountSettings` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountConcurrency {
    /// `AccountLimit.ConcurrentExecutions`.
    pub limit: u32,
    /// `AccountLimit.UnreservedConcurrentExecutions`.
    pub unreserved: u32,
}

/// One SQS event source mapping, as `ListEventSourceMappings` and
/// `UpdateEventSourceMapping` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSourceMapping {
    pub uuid: String,
    /// The function's ARN as the mapping names it (it may carry a version or alias).
    pub function_arn: String,
    /// The queue's ARN (`EventSourceArn`).
    pub queue_arn: String,
    /// `Creating`, `Enabling`, `Enabled`, `Disabling`, `Disabled`, `Updating` or `Deleting`.
    pub state: String,
    /// `ScalingConfig.MaximumConcurrency`; `None` when the mapping has none (no limit).
    pub maximum_concurrency: Option<u32>,
    /// True when the mapping runs in provisioned mode (`ProvisionedPollerConfig`), which
    /// excludes `MaximumConcurrency`: the autoscaler leaves it alone.
    pub provisioned: bool,
    pub batch_size: Option<u32>,
}

impl EventSourceMapping {
    /// The queue's name (the last part of its ARN).
    pub fn queue_name(&self) -> &str {
        Arn::parse(&self.queue_arn).map_or("", |arn| arn.resource)
    }

    /// True when its pollers are off, or going off.
    pub fn is_disabled(&self) -> bool {
        matches!(self.state.as_str(), "Disabled" | "Disabling")
    }

    /// True while an update, enable or disable is still in progress.
    pub fn is_settling(&self) -> bool {
        matches!(
            self.state.as_str(),
            "Creating" | "Enabling" | "Disabling" | "Updating"
        )
    }
}

/// One page of `ListEventSourceMappings`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MappingPage {
    /// The SQS mappings of the page (other sources are left out).
    pub mappings: Vec<EventSourceMapping>,
    /// Where the next page starts; `None` on the last page.
    pub next_marker: Option<String>,
}

/// What `UpdateEventSourceMapping` changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MappingUpdate {
    pub maximum_concurrency: Option<u32>,
    pub enabled: Option<bool>,
}

/// The Lambda API: read a function, set its reservation, read the account's concurrency,
/// list and update event source mappings. Only `get_function` is outside the account's
/// shared control-plane quota.
#[async_trait]
pub trait Lambda: Send + Sync {
    /// `GetFunction`: reservation and tags in one call.
    async fn get_function(&self, function: &FunctionRef) -> Result<FunctionView, AwsError>;
    /// `PutFunctionConcurrency` (control plane).
    async fn put_reserved(&self, function: &FunctionRef, value: u32) -> Result<(), AwsError>;
    /// `GetAccountSettings` (control plane).
    async fn account(&self) -> Result<AccountConcurrency, AwsError>;
    /// One page of `ListEventSourceMappings` (control plane): of the whole account, or of
    /// one function when `function` is given.
    async fn list_mappings(
        &self,
        function: Option<&FunctionRef>,
        marker: Option<&str>,
    ) -> Result<MappingPage, AwsError>;
    /// `GetEventSourceMapping` (control plane).
    async fn get_mapping(&self, uuid: &str) -> Result<EventSourceMapping, AwsError>;
    /// `UpdateEventSourceMapping` (control plane): the mapping as Lambda reports it after
    /// the update (usually `Updating`, `Enabling` or `Disabling`).
    async fn update_mapping(
        &self,
        uuid: &str,
        update: MappingUpdate,
    ) -> Result<EventSourceMapping, AwsError>;
}

/// Read the current state of named alarms (metric and composite).
#[async_trait]
pub trait AlarmReader: Send + Sync {
    /// States of the alarms CloudWatch knows; names it does not know are absent.
    async fn states(&self, names: &[String]) -> Result<HashMap<String, AlarmState>, AwsError>;
}

/// One data point for CloudWatch; `function` becomes the `FunctionName` dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    /// `None` for invocation-wide metrics, published without a dimension.
    pub function: Option<String>,
    pub metric: &'static str,
    pub value: f64,
}

/// One target's service-time metrics: its function's `Duration` (AWS/Lambda) and the
/// messages its queue deleted (AWS/SQS), both by the name CloudWatch keys them on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceQuery {
    pub function: String,
    pub queue: String,
}

/// Queries per `GetMetricData` call: three metrics each (Duration's sum and sample count,
/// the messages deleted) within the call's limit of 500.
pub const SERVICE_QUERIES_PER_CALL: usize = 166;

/// CloudWatch's stored metrics, read back: the service time of drain-time targets.
#[async_trait]
pub trait MetricReader: Send + Sync {
    /// The one-minute points ([`crate::service_time::Point`]) of each query from `start` to
    /// `end` (epoch seconds), in the order asked; at most [`SERVICE_QUERIES_PER_CALL`]
    /// queries. A minute without both metrics has no point.
    async fn service_points(
        &self,
        queries: &[ServiceQuery],
        start: i64,
        end: i64,
    ) -> Result<Vec<Vec<crate::service_time::Point>>, AwsError>;
}

/// Publish metric data points.
#[async_trait]
pub trait MetricsPublisher: Send + Sync {
    async fn publish(&self, namespace: &str, points: &[MetricPoint]) -> Result<(), AwsError>;
}

/// Read SQS queue depths.
#[async_trait]
pub trait QueueReader: Send + Sync {
    /// The URL of the queue named `name` (`GetQueueUrl`).
    async fn url_of(&self, name: &str) -> Result<String, AwsError>;
    /// The three approximate counts of the queue at `url`, in one `GetQueueAttributes` call.
    async fn depth(&self, url: &str) -> Result<QueueDepth, AwsError>;
}

/// A function found by its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedFunction {
    pub arn: String,
    pub tags: HashMap<String, String>,
}

/// Find functions by tag (the Resource Groups Tagging API).
#[async_trait]
pub trait FunctionFinder: Send + Sync {
    /// Every Lambda function tagged `key=value`, with all its tags.
    async fn tagged(&self, key: &str, value: &str) -> Result<Vec<TaggedFunction>, AwsError>;
}

/// The version a saved item had when it was read: the compare-and-set of the next write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// No item: the write must create it.
    Absent,
    /// The item's version number.
    At(u64),
    /// An item whose version is not a version number (written by hand), as read: `Some`
    /// number that is not one (negative, fractional, too large), as the store wrote it, or
    /// `None` for no number at all. The next write replaces the item only while it still
    /// holds that, so two writers that read it cannot both replace it.
    Unreadable(Option<String>),
}

/// One target's saved state and the version to write against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub state: SavedState,
    pub version: Version,
    /// Who wrote it last, and when, when the store knows ([`crate::lease`]).
    pub written: Option<crate::lease::Written>,
}

impl Stored {
    /// Nothing saved for the key (yet).
    pub fn missing() -> Stored {
        Stored {
            state: SavedState::Missing,
            version: Version::Absent,
            written: None,
        }
    }
}

/// Why a save did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveError {
    /// Another writer changed the item since it was read (the condition failed).
    Conflict,
    Aws(AwsError),
}

/// Where each target's history is kept between invocations (DynamoDB), keyed by the
/// function's unqualified ARN.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The saved state of each key; keys without an item are `Missing` (never absent).
    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Stored>, AwsError>;
    /// Writes `history` if the item is still at `expected`; the new version is one more.
    /// `now` stamps the item and sets when it expires. The activities before the newest
    /// are archived apart ([`History::archive_activities`] says so to the caller's copy);
    /// an archive that fails is logged, and does not fail the save.
    async fn save(
        &self,
        key: &str,
        history: &History,
        expected: Version,
        now: i64,
    ) -> Result<(), SaveError>;
    /// The newest `limit` (at most [`crate::state::MAX_ACTIVITIES`] - 1) of the target's
    /// archived activities, those numbered below `history.earlier_activities`, oldest first;
    /// one that was never archived, or has expired, is left out.
    async fn archived_activities(
        &self,
        key: &str,
        history: &History,
        limit: usize,
    ) -> Result<Vec<crate::state::Activity>, AwsError>;
}

/// Time, injected so that tests and the simulator control it.
#[async_trait]
pub trait Clock: Send + Sync {
    /// Wall-clock epoch seconds: the `now` of decisions.
    fn epoch_seconds(&self) -> i64;
    /// Wall-clock epoch milliseconds: when metrics were taken.
    fn epoch_millis(&self) -> i64 {
        self.epoch_seconds() * 1000
    }
    /// Monotonic time since the clock was made: pacing and deadlines.
    fn elapsed(&self) -> Duration;
    async fn sleep(&self, duration: Duration);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: Option<&str>) -> AwsError {
        AwsError {
            operation: "PutFunctionConcurrency",
            resource: "f".into(),
            code: code.map(str::to_owned),
            message: "m".into(),
        }
    }

    #[test]
    fn throttling_conflicts_server_errors_and_transport_failures_are_transient() {
        for code in [
            Some("TooManyRequestsException"),
            Some("ThrottlingException"),
            Some("ResourceConflictException"),
            Some("ResourceInUseException"),
            Some("ServiceException"),
            None,
        ] {
            assert!(error(code).retryable(), "{code:?}");
        }
        for code in [
            "InvalidParameterValueException",
            "ResourceNotFoundException",
            "AccessDeniedException",
            "ConditionalCheckFailedException",
        ] {
            assert!(!error(Some(code)).retryable(), "{code}");
        }
    }
}
