//! The capabilities the handler needs from AWS, one small trait each.
//!
//! The handler is generic over these, so its tests use in-memory fakes; the adapters in
//! [`crate::aws`] implement them over the SDK clients and are tested against moto and
//! `aws-smithy-mocks`.

use crate::alarm::AlarmState;
pub use crate::decide::QueueDepth;
use crate::function_ref::FunctionRef;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;

/// A failed AWS call: which operation, on what, and what AWS said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub operation: &'static str,
    /// The function, alarm list or namespace the call was about.
    pub resource: String,
    /// AWS's error code (e.g. `ThrottlingException`), when the service sent one.
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

/// What one read of a function returns: its ARN, reservation and tags (`GetFunction` returns
/// all three in one call, so the saved state is read in the same pass as the reservation).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FunctionView {
    pub arn: String,
    /// The current reservation; `None` when the function has none.
    pub reserved: Option<u32>,
    pub tags: HashMap<String, String>,
}

/// Read and set a function's reserved concurrency, and write its state tag.
pub trait FunctionConcurrency {
    /// The function's reservation and tags.
    fn observe(
        &self,
        function: &FunctionRef,
    ) -> impl Future<Output = Result<FunctionView, AwsError>> + Send;

    /// Sets one tag on the function (`arn` as `observe` returned it).
    fn tag(
        &self,
        arn: &str,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    fn set_reserved(
        &self,
        function: &FunctionRef,
        value: u32,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Read the current state of named alarms (metric and composite).
pub trait AlarmReader {
    /// States of the alarms CloudWatch knows; names it does not know are absent.
    fn states(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<HashMap<String, AlarmState>, AwsError>> + Send;
}

/// One data point for CloudWatch, with the `FunctionName` dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    pub function: String,
    pub metric: &'static str,
    pub value: f64,
}

/// Publish metric data points.
pub trait MetricsPublisher {
    fn publish(
        &self,
        namespace: &str,
        points: &[MetricPoint],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Read SQS queue depths.
pub trait QueueReader {
    /// The URL of the queue named `name` (`GetQueueUrl`).
    fn url_of(&self, name: &str) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// The three approximate counts of the queue at `url`, in one `GetQueueAttributes` call.
    fn depth(&self, url: &str) -> impl Future<Output = Result<QueueDepth, AwsError>> + Send;
}

/// A function found by its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedFunction {
    pub arn: String,
    pub tags: HashMap<String, String>,
}

/// Find functions by tag (the Resource Groups Tagging API).
pub trait FunctionFinder {
    /// Every Lambda function tagged `key=value`, with all its tags.
    fn tagged(
        &self,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<Vec<TaggedFunction>, AwsError>> + Send;
}

/// No queue reader: for autoscalers whose policy follows no queue (and their tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoQueues;

impl QueueReader for NoQueues {
    async fn url_of(&self, name: &str) -> Result<String, AwsError> {
        Err(not_configured("GetQueueUrl", name))
    }

    async fn depth(&self, url: &str) -> Result<QueueDepth, AwsError> {
        Err(not_configured("GetQueueAttributes", url))
    }
}

/// No tag discovery: only the policy document's targets are managed.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDiscovery;

impl FunctionFinder for NoDiscovery {
    async fn tagged(&self, _key: &str, _value: &str) -> Result<Vec<TaggedFunction>, AwsError> {
        Ok(Vec::new())
    }
}

fn not_configured(operation: &'static str, resource: &str) -> AwsError {
    AwsError {
        operation,
        resource: resource.to_owned(),
        code: None,
        message: "this autoscaler was built without a queue reader".into(),
    }
}
