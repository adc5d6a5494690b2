//! The Lambda entry point: build the clients once, then hand the handler to the runtime.

use lambda_autoscaler::{aws, policy::Policy, settings::Settings};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

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
    let config = aws_config::load_from_env().await;
    let autoscaler = aws::autoscaler(&config, policy, settings);
    let autoscaler = &autoscaler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        autoscaler.handle(&event.payload).await
    }))
    .await
}
