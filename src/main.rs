//! The Lambda entry point: build the clients once, then hand the handler to the runtime.

use lambda_autoscaler::{policy::Policy, settings::Settings, wiring};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON logs when AWS_LAMBDA_LOG_FORMAT=JSON; level from AWS_LAMBDA_LOG_LEVEL.
    lambda_runtime::tracing::init_default_subscriber();
    // Bad settings stop the cold start: nothing can run safely without them.
    let settings = Settings::from_env()?;
    // A bad policy does not stop the cold start: every invocation reports it instead.
    let policy = Policy::from_env();
    if let Err(error) = &policy {
        tracing::error!(%error, "the policy is invalid; every invocation will fail until it is fixed");
    }
    let config = wiring::sdk_config().await;
    let autoscaler = wiring::autoscaler(&config, policy, settings);
    let autoscaler = &autoscaler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        autoscaler.learn_account(&event.context.invoked_function_arn);
        let deadline = autoscaler.deadline_after(remaining(event.context.deadline));
        autoscaler.handle(&event.payload, Some(deadline)).await
    }))
    .await
}

/// Time left until `deadline_ms` (epoch milliseconds, as the runtime API gives it).
fn remaining(deadline_ms: u64) -> Duration {
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}
