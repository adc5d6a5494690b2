//! Reference: the smallest program that does the autoscaler's core work for a direct command
//! `{"function": NAME, "desiredConcurrency": N}`: read the reservation, write it if it
//! differs, publish one metric. No policy, no alarms, no saved state, no logging.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Command {
    function: String,
    desired_concurrency: i32,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The autoscaler's HTTP client (wiring::http_client): the SDK's default, on ring.
    let http_client = Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    // As the autoscaler's Lambda binary (wiring::lambda_sdk_config): the Region, credentials
    // and endpoint from the environment Lambda sets, without the default provider chains.
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(std::env::var("AWS_REGION")?))
        .credentials_provider(aws_sdk_lambda::config::SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(http_client);
    if let Ok(url) = std::env::var("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(url);
    }
    let config = config.build();
    let lambda = &aws_sdk_lambda::Client::new(&config);
    let cloudwatch = &aws_sdk_cloudwatch::Client::new(&config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Command>| async move {
        let Command { function, desired_concurrency: desired } = event.payload;
        let previous = lambda
            .get_function_concurrency()
            .function_name(&function)
            .send()
            .await?
            .reserved_concurrent_executions;
        let applied = previous != Some(desired);
        if applied {
            lambda
                .put_function_concurrency()
                .function_name(&function)
                .reserved_concurrent_executions(desired)
                .send()
                .await?;
        }
        let datum = MetricDatum::builder()
            .metric_name("DesiredConcurrency")
            .dimensions(Dimension::builder().name("FunctionName").value(&function).build())
            .value(f64::from(desired))
            .build();
        cloudwatch
            .put_metric_data()
            .namespace("LambdaAutoscaler")
            .metric_data(datum)
            .send()
            .await?;
        Ok::<Value, Error>(json!({"function": function, "previous": previous, "desired": desired, "applied": applied}))
    }))
    .await
}
