//! Thin adapters from the [`crate::ports`] traits to the AWS SDK clients.

pub mod cloudwatch;
pub mod lambda;
pub mod sqs;
pub mod tagging;

use crate::ports::AwsError;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata};

/// Wraps an SDK error with the operation and resource it was about, keeping AWS's code.
fn aws_error<E>(operation: &'static str, resource: impl Into<String>, err: E) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error,
{
    let code = err.code().map(str::to_owned);
    let message = match err.message() {
        Some(message) => message.to_owned(),
        // Transport errors (timeouts, refused connections) carry no service message.
        None => DisplayErrorContext(&err).to_string(),
    };
    AwsError {
        operation,
        resource: resource.into(),
        code,
        message,
    }
}

use crate::handler::Autoscaler;
use crate::policy::{Policy, PolicyError};
use crate::settings::Settings;

/// The autoscaler wired to the real AWS clients.
pub type AwsAutoscaler = Autoscaler<
    lambda::LambdaConcurrency,
    cloudwatch::CloudWatch,
    cloudwatch::CloudWatch,
    sqs::Sqs,
    tagging::Tagging,
>;

/// Builds the SDK clients once from a loaded AWS configuration (which honours
/// `AWS_ENDPOINT_URL`, `AWS_REGION` and the usual credential chain).
pub fn autoscaler(
    config: &aws_config::SdkConfig,
    policy: Result<Policy, PolicyError>,
    settings: Settings,
) -> AwsAutoscaler {
    let cloudwatch = aws_sdk_cloudwatch::Client::new(config);
    Autoscaler::new(
        policy,
        settings,
        lambda::LambdaConcurrency::new(aws_sdk_lambda::Client::new(config)),
        cloudwatch::CloudWatch::new(cloudwatch.clone()),
        cloudwatch::CloudWatch::new(cloudwatch),
    )
    .with_queues(sqs::Sqs::new(aws_sdk_sqs::Client::new(config)))
    .with_discovery(tagging::Tagging::new(
        aws_sdk_resourcegroupstagging::Client::new(config),
    ))
}
