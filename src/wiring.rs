//! Builds the real AWS clients and the context once per process.
//!
//! SDK configuration, chosen against the invocation's deadline and the account's quotas:
//! - **Timeouts**: connect 3 s, each attempt 5 s, each operation (all attempts) 12 s. A
//!   same-Region AWS call takes tens of milliseconds; a call that hangs is cut off long
//!   before a 60 s invocation ends, and the writer's deadline check (margin plus the slowest
//!   call seen) keeps the rest in time.
//! - **Retries**: the SDK's standard mode, 3 attempts with backoff and jitter, for
//!   CloudWatch, SQS, DynamoDB and the tagging API. The Lambda client makes **one** attempt:
//!   [`PacedLambda`] retries instead, so that every retry draws from the account's budget.

use crate::clock::SystemClock;
use crate::handler::Autoscaler;
use crate::pace::PacedLambda;
use crate::policy::{Policy, PolicyError};
use crate::ports::{Clock, Context};
use crate::settings::Settings;
use crate::{aws, ports};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::sync::Arc;
use std::time::Duration;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(12);
pub const SDK_MAX_ATTEMPTS: u32 = 3;

/// The SDK configuration from the environment (`AWS_REGION`, `AWS_ENDPOINT_URL`,
/// credentials), with the timeouts and retries above.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(SDK_MAX_ATTEMPTS))
        .load()
        .await
}

/// The context over real AWS clients made from `config`, on the system clock.
pub fn context(config: &SdkConfig, settings: &Settings) -> Context {
    context_with_clock(config, settings, Arc::new(SystemClock::default()))
}

/// [`context`] on another clock (tests that move time).
pub fn context_with_clock(
    config: &SdkConfig,
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> Context {
    let lambda_config = aws_sdk_lambda::config::Builder::from(config)
        .retry_config(RetryConfig::disabled())
        .build();
    let lambda = aws::lambda::LambdaApi::new(aws_sdk_lambda::Client::from_conf(lambda_config));
    let cloudwatch = Arc::new(aws::cloudwatch::CloudWatch::new(
        aws_sdk_cloudwatch::Client::new(config),
    ));
    let state = settings.state_table.as_ref().map(|table| {
        Arc::new(aws::dynamodb::DynamoStateStore::new(
            aws_sdk_dynamodb::Client::new(config),
            table.clone(),
        )) as Arc<dyn ports::StateStore>
    });
    Context {
        lambda: Arc::new(PacedLambda::new(
            Arc::new(lambda),
            clock.clone(),
            settings.control_plane_rps,
            settings.get_function_rps,
        )),
        alarms: cloudwatch.clone(),
        metrics: cloudwatch,
        queues: Arc::new(aws::sqs::Sqs::new(aws_sdk_sqs::Client::new(config))),
        finder: Arc::new(aws::tagging::Tagging::new(
            aws_sdk_resourcegroupstagging::Client::new(config),
        )),
        state,
        clock,
        region: config.region().map(|r| r.to_string()),
    }
}

/// The autoscaler over real AWS clients.
pub fn autoscaler(
    config: &SdkConfig,
    policy: Result<Policy, PolicyError>,
    settings: Settings,
) -> Autoscaler {
    let ctx = context(config, &settings);
    Autoscaler::new(policy, settings, ctx)
}
