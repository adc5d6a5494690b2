//! Thin adapters from the [`crate::ports`] traits to the AWS SDK clients, and to CloudWatch's
//! Embedded Metric Format on stdout ([`emf`]). They translate, and nothing else: pacing,
//! retries across the account's budget and decisions live elsewhere.

pub mod cloudwatch;
pub mod dynamodb;
pub mod emf;
pub mod lambda;
pub mod sqs;
pub mod tagging;

use crate::ports::AwsError;
use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Wraps an SDK error with the operation and resource it was about, keeping AWS's code.
/// Failures without an answer (timeouts, refused connections) and 5xx answers without a code
/// carry no code, which marks them as retryable ([`crate::ports::AwsError::retryable`]); an answer
/// this client cannot read (an endpoint without the operation, say) is `HTTP<status>` and is
/// not retried.
fn aws_error<E>(
    operation: &'static str,
    resource: impl Into<String>,
    err: SdkError<E, HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned).or(match status {
        Some(status) if status < 500 => Some(format!("HTTP{status}")),
        _ => None,
    });
    let message = match (err.message(), status) {
        (Some(message), _) => message.to_owned(),
        (None, Some(status)) => format!("HTTP {status}, an answer this client could not read"),
        (None, None) => DisplayErrorContext(&err).to_string(),
    };
    AwsError {
        operation,
        resource: resource.into(),
        code,
        message,
    }
}

/// A response AWS should never send (a missing or malformed field): not worth retrying.
fn invalid_response(operation: &'static str, resource: &str, message: String) -> AwsError {
    AwsError {
        operation,
        resource: resource.to_owned(),
        code: Some("InvalidResponse".into()),
        message,
    }
}
