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
//! - **HTTP client**: the SDK's default one, with rustls on ring rather than aws-lc-rs
//!   ([`http_client`]): a smaller deployment package, the same HTTPS. Its connector, and
//!   with it the system's root certificates, is built at the first request, not at start.
//! - **Metrics**: Embedded Metric Format lines on stdout in Lambda ([`emf`]: no call, no
//!   permission), `PutMetricData` from the CLI by default ([`put_metric_data`]).

use crate::clock::SystemClock;
use crate::context::Context;
use crate::handler::Autoscaler;
use crate::pace::PacedLambda;
use crate::policy::{Policy, PolicyError};
use crate::ports::{Clock, MetricsPublisher};
use crate::settings::Settings;
use crate::{aws, ports};
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_lambda::config::SharedCredentialsProvider;
use aws_sdk_lambda::config::{ConfigBag, RuntimeComponents, SharedHttpClient};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpConnector,
};
use std::sync::Arc;
use std::time::Duration;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(12);
pub const SDK_MAX_ATTEMPTS: u32 = 3;

/// The SDK configuration from the environment (`AWS_REGION`, `AWS_ENDPOINT_URL`,
/// credentials, profiles), with [`timeouts`], [`retries`] and [`http_client`]: the CLI's,
/// through the SDK's default provider chains.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .timeout_config(timeouts())
        .retry_config(retries())
        .load()
        .await
}

/// The SDK configuration from what Lambda sets in a function's environment: the Region
/// (`AWS_REGION`), the execution role's credentials (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), the endpoint switches a function may be
/// given (`AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`) and, for local runtimes,
/// `AWS_ENDPOINT_URL`.
/// The Lambda function's, instead of [`sdk_config`]: the default chains' other sources
/// (profiles, SSO, web identity, container and instance metadata) never apply in Lambda, and
/// leaving them out leaves their code (the SSO, SSO-OIDC and STS clients among it) out of
/// the package (docs/benchmarks.md). Without a Region, it says so.
pub fn lambda_sdk_config(env: impl Fn(&str) -> Option<String>) -> Result<SdkConfig, String> {
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .filter(|r| !r.is_empty())
        .ok_or("AWS_REGION is not set: Lambda sets it; a local runtime must")?;
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        // Read at each refresh of the identity cache, as the default chain's first provider.
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .identity_cache(IdentityCache::lazy().build())
        .http_client(http_client())
        .timeout_config(timeouts())
        .retry_config(retries());
    if let Some(url) = env("AWS_ENDPOINT_URL").filter(|u| !u.is_empty()) {
        config = config.endpoint_url(url);
    }
    let switch = |name: &str| match env(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v == "true" => Ok(Some(true)),
        Some(v) if v == "false" => Ok(Some(false)),
        Some(v) => Err(format!("{name} must be true or false, not \"{v}\"")),
    };
    config.set_use_fips(switch("AWS_USE_FIPS_ENDPOINT")?);
    config.set_use_dual_stack(switch("AWS_USE_DUALSTACK_ENDPOINT")?);
    Ok(config.build())
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(SDK_MAX_ATTEMPTS)
}

/// The HTTP(S) client of every SDK client: what the SDK builds by default with its
/// `default-https-client` feature (aws-smithy-runtime 1.16, `default_https_client`): hyper 1,
/// rustls 0.23 with the system's root certificates, proxies from `HTTPS_PROXY`/`NO_PROXY`,
/// the config's connect and read timeouts; but with ring as rustls' crypto provider instead of
/// aws-lc-rs, which is the largest crate of the zip after std (docs/benchmarks.md). Plain
/// `http://` endpoints (moto, `AWS_ENDPOINT_URL`) go through it unencrypted, as before.
///
/// Its connector is built at the first request ([`ConnectorOnFirstRequest`]), not by each SDK
/// client as it is constructed.
pub fn http_client() -> SharedHttpClient {
    on_first_request(
        Builder::new().build_with_connector_fn(|settings, runtime_components| {
            let mut connector =
                ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::Ring));
            connector.set_connector_settings(settings.cloned());
            if let Some(components) = runtime_components {
                connector.set_sleep_impl(components.sleep_impl());
            }
            connector.set_proxy_config(Some(ProxyConfig::from_env()));
            connector.build()
        }),
    )
}

fn on_first_request(client: SharedHttpClient) -> SharedHttpClient {
    SharedHttpClient::new(ConnectorOnFirstRequest(client))
}

/// An HTTP client whose connector is built when the first request needs it. The SDK's own
/// builds one as each SDK client is constructed (`validate_base_client_config`, "so that
/// native certs load at client initialization time"): five builds at the Lambda binary's
/// start, the first reading the system's root certificates (3.2 ms of a 6.1 ms init in
/// `make bench`), then one more for the first request's settings. This leaves one build, at
/// the first request, shared by all the clients (the connectors are cached by settings): the
/// init is 2.4 ms, and the first invocation carries the certificates instead
/// (docs/benchmarks.md, "Issue #16").
#[derive(Debug)]
struct ConnectorOnFirstRequest(SharedHttpClient);

impl HttpClient for ConnectorOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
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
    context_with(config, settings, clock, put_metric_data(config))
}

fn context_with(
    config: &SdkConfig,
    settings: &Settings,
    clock: Arc<dyn Clock>,
    metrics: Arc<dyn MetricsPublisher>,
) -> Context {
    let lambda_config = aws_sdk_lambda::config::Builder::from(config)
        .retry_config(RetryConfig::disabled())
        .build();
    let lambda = aws::lambda::LambdaApi::new(aws_sdk_lambda::Client::from_conf(lambda_config));
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
        alarms: Arc::new(aws::cloudwatch::CloudWatch::new(
            aws_sdk_cloudwatch::Client::new(config),
        )),
        metric_reader: Arc::new(aws::cloudwatch::CloudWatch::new(
            aws_sdk_cloudwatch::Client::new(config),
        )),
        metrics,
        queues: Arc::new(aws::sqs::Sqs::new(aws_sdk_sqs::Client::new(config))),
        finder: Arc::new(aws::tagging::Tagging::new(
            aws_sdk_resourcegroupstagging::Client::new(config),
        )),
        state,
        clock,
        region: config.region().map(|r| r.to_string()),
    }
}

/// The metrics as `PutMetricData` calls to CloudWatch: the CLI's default, whose output no log
/// group collects. The Lambda binary never names it, so it does not link the call (35 KB of
/// its arm64 zip, docs/benchmarks.md).
pub fn put_metric_data(config: &SdkConfig) -> Arc<dyn MetricsPublisher> {
    Arc::new(aws::cloudwatch::CloudWatch::new(
        aws_sdk_cloudwatch::Client::new(config),
    ))
}

/// The metrics as Embedded Metric Format lines written to `out` ([`aws::emf`]): the Lambda
/// binary's, to stdout, which Lambda sends to CloudWatch Logs. Each line goes out in one
/// `write_all`, and `Stdout`'s holds stdout's lock for the whole of it, as the tracing
/// subscriber's write of each log line does: the two cannot interleave.
pub fn emf(out: Box<dyn std::io::Write + Send>) -> Arc<dyn MetricsPublisher> {
    Arc::new(aws::emf::Emf::new(out, Arc::new(SystemClock::default())))
}

/// No metrics at all (`--metrics off`, and the commands that only read).
pub fn no_metrics() -> Arc<dyn MetricsPublisher> {
    Arc::new(NoMetrics)
}

struct NoMetrics;

#[async_trait::async_trait]
impl MetricsPublisher for NoMetrics {
    async fn publish(&self, _: &str, _: &[ports::MetricPoint]) -> Result<(), ports::AwsError> {
        Ok(())
    }
}

/// The autoscaler over real AWS clients, its metrics going to `metrics` ([`put_metric_data`],
/// [`emf`] or [`no_metrics`]).
pub fn autoscaler(
    config: &SdkConfig,
    policy: Result<Policy, PolicyError>,
    settings: Settings,
    metrics: Arc<dyn MetricsPublisher>,
) -> Autoscaler {
    let ctx = context_with(config, &settings, Arc::new(SystemClock::default()), metrics);
    Autoscaler::new(policy, settings, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::config::Credentials;
    use std::collections::HashMap;
    use std::io::Read;
    use std::net::TcpListener;

    /// An `https://` endpoint gets a TLS ClientHello from [`http_client`], not plain HTTP and
    /// not a "no HTTP client" error: the client has a TLS connector (rustls on ring). The
    /// listener answers nothing, so the call itself fails; what it received is the point.
    #[tokio::test]
    async fn the_http_client_opens_https_endpoints_with_a_tls_client_hello() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Waits 5 s at most for a connection, so that a client that never connects fails
        // the test instead of hanging it.
        listener.set_nonblocking(true).unwrap();
        let received = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            let mut stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(_) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) => return Err(e),
                }
            };
            stream.set_nonblocking(false)?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut head = [0u8; 6];
            stream.read_exact(&mut head).map(|_| head)
        });
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            .endpoint_url(format!("https://127.0.0.1:{port}"))
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(2))
                    .build(),
            )
            .load()
            .await;
        let call = aws_sdk_sqs::Client::new(&config).list_queues().send().await;
        assert!(call.is_err(), "nothing answered, yet the call succeeded");
        let head = received
            .join()
            .unwrap()
            .expect("the client connected to nothing or sent nothing");
        // TLS record type 22 (handshake), version 3.x, then handshake type 1 (ClientHello).
        assert_eq!((head[0], head[1], head[5]), (0x16, 0x03, 0x01), "{head:?}");
    }

    /// Constructing SDK clients builds no connector (so reads no root certificates); the
    /// first request builds one, and the other clients' requests share it.
    #[tokio::test]
    async fn the_connector_is_built_at_the_first_request_not_by_each_client() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let builds = Arc::new(AtomicUsize::new(0));
        let counted = builds.clone();
        let client =
            on_first_request(Builder::new().build_with_connector_fn(move |settings, _| {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut connector = ConnectorBuilder::default();
                connector.set_connector_settings(settings.cloned());
                connector.build_http()
            }));
        // A port nothing listens on: every call is refused at once.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "test",
            )))
            .http_client(client)
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts())
            .build();
        let sqs = aws_sdk_sqs::Client::new(&config);
        let lambda = aws_sdk_lambda::Client::new(&config);
        let _cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
        assert_eq!(
            builds.load(Ordering::SeqCst),
            0,
            "built by a client's construction"
        );
        assert!(sqs.list_queues().send().await.is_err());
        assert!(lambda.get_account_settings().send().await.is_err());
        assert_eq!(
            builds.load(Ordering::SeqCst),
            1,
            "one connector, built by the first request and shared"
        );
    }

    fn lambda_env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn the_lambda_configuration_takes_the_region_and_endpoint_lambda_sets() {
        let config = lambda_sdk_config(lambda_env(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]))
        .unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert!(config.credentials_provider().is_some());
        assert!(config.http_client().is_some());
        assert_eq!(
            config.timeout_config().and_then(|t| t.operation_timeout()),
            Some(OPERATION_TIMEOUT)
        );
        let in_aws = lambda_sdk_config(lambda_env(&[("AWS_REGION", "eu-west-1")])).unwrap();
        assert_eq!(in_aws.endpoint_url(), None, "AWS's own endpoints");
        assert_eq!((in_aws.use_fips(), in_aws.use_dual_stack()), (None, None));
        let fips = lambda_sdk_config(lambda_env(&[
            ("AWS_REGION", "us-gov-west-1"),
            ("AWS_USE_FIPS_ENDPOINT", "true"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "False"),
        ]))
        .unwrap();
        assert_eq!(
            (fips.use_fips(), fips.use_dual_stack()),
            (Some(true), Some(false))
        );
        let typo = lambda_sdk_config(lambda_env(&[
            ("AWS_REGION", "us-gov-west-1"),
            ("AWS_USE_FIPS_ENDPOINT", "yes"),
        ]))
        .unwrap_err();
        assert!(
            typo.contains("AWS_USE_FIPS_ENDPOINT must be true or false"),
            "{typo}"
        );
    }

    #[test]
    fn without_a_region_the_lambda_configuration_says_what_is_missing() {
        for env in [lambda_env(&[]), lambda_env(&[("AWS_REGION", "")])] {
            let error = lambda_sdk_config(env).unwrap_err();
            assert!(error.contains("AWS_REGION is not set"), "{error}");
        }
    }
}
