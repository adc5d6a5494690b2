//! The capabilities the handler needs from AWS, one small trait each.
//!
//! The handler is generic over these, so its tests use in-memory fakes; the adapters in
//! [`crate::aws`] implement them over the SDK clients and are tested against moto and
//! `aws-smithy-mocks`.

use crate::alarm::AlarmState;
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

/// Read and set a function's reserved concurrency.
pub trait FunctionConcurrency {
    /// The current reservation; `None` when the function has none.
    fn reserved(
        &self,
        function: &FunctionRef,
    ) -> impl Future<Output = Result<Option<u32>, AwsError>> + Send;

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
