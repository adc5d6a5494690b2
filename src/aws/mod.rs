//! Thin adapters from the [`crate::ports`] traits to the AWS SDK clients. They translate, and
//! nothing else: pacing, retries across the account's budget and decisions live elsewhere.

pub mod cloudwatch;
pub mod dynamodb;
pub mod lambda;
pub mod sqs;
pub mod tagging;

use crate::ports::AwsError;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata};

/// Wraps an SDK error with the operation and resource it was about, keeping AWS's code.
/// Transport failures (timeouts, refused connections) carry no code, which marks them as
/// transient ([`crate::retry::is_transient`]).
fn aws_error<E>(operation: &'static str, resource: impl Into<String>, err: E) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error,
{
    let code = err.code().map(str::to_owned);
    let message = match err.message() {
        Some(message) => message.to_owned(),
        None => DisplayErrorContext(&err).to_string(),
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
