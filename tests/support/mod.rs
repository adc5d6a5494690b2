//! A real local AWS for integration tests: moto's standalone server, installed into the
//! project's venv by `scripts/setup-venv.sh`, started on a free 127.0.0.1 port per test
//! through `scripts/moto_fixtures.py serve`, which makes it answer as AWS does where moto
//! 5.2.5 does not (`patch_moto` there says where).

#![allow(dead_code)] // Each test binary uses a different part of this module.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_lambda::config::Credentials;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
const ROLE_NAME: &str = "autoscaler-test-target";

/// A running moto server; killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
    /// Where the server records requests once a test starts recording.
    recording: PathBuf,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.recording);
    }
}

fn venv_python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let server = root.join(".venv/bin/moto_server");
    assert!(
        server.exists(),
        "{} is missing: run `make venv` (scripts/setup-venv.sh) first; `make test` does it for you",
        server.display()
    );
    root.join(".venv/bin/python")
}

impl Moto {
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free local port")
            .port();
        // Each server records to a file of its own, and only once a test starts recording
        // (`start_recording`): moto's default is a file in the working directory.
        let recording = std::env::temp_dir().join(format!(
            "autoscaler-moto-{}-{port}.jsonl",
            std::process::id()
        ));
        // moto's server as `scripts/moto_fixtures.py serve` patches it to answer as AWS does
        // (a reservation of 0 in GetFunction).
        let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/moto_fixtures.py");
        let child = Command::new(venv_python())
            .arg(fixtures)
            .args(["serve", "-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .env_remove("MOTO_ENABLE_RECORDING")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            recording,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not listen on {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto.create_role();
        moto
    }

    /// Environment for a child process (the CLI) pointed at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// moto's endpoint over the function's own HTTP client (`wiring::http_client`).
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(lambda_autoscaler::wiring::http_client())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .load()
            .await
    }

    /// moto's CreateFunction insists that the execution role exists. The IAM SDK would be a
    /// large dependency for one fixture call, so this speaks IAM's query protocol directly
    /// (moto does not check signatures).
    fn create_role(&self) {
        let body = format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={ROLE_NAME}&AssumeRolePolicyDocument=%7B%7D"
        );
        let response = self.http(
            "POST",
            "/",
            &format!(
                "Content-Type: application/x-www-form-urlencoded\r\n\
                 Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/iam/aws4_request, SignedHeaders=host, Signature=0\r\n"
            ),
            &body,
        );
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "CreateRole failed: {response}"
        );
    }

    /// One plain HTTP/1.1 request to the server (`headers`: complete lines, each ending in
    /// CRLF); the whole response, status line included.
    fn http(&self, method: &str, path: &str, headers: &str, body: &str) -> String {
        let host = self.endpoint.trim_start_matches("http://");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect(host).expect("connect to moto");
        stream
            .write_all(request.as_bytes())
            .unwrap_or_else(|e| panic!("send {method} {path}: {e}"));
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .unwrap_or_else(|e| panic!("read {method} {path}: {e}"));
        response
    }

    /// Starts moto's request recorder: from now on every request the server receives is
    /// kept, in order, for [`Moto::lambda_writes`].
    pub fn start_recording(&self) {
        let response = self.http("POST", "/moto-api/recorder/start-recording", "", "");
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "start-recording failed: {response}"
        );
    }

    /// The Lambda writes received since [`Moto::start_recording`], in the order the server
    /// received them: `UpdateEventSourceMapping <uuid>`, `PutFunctionConcurrency <name>`,
    /// `DeleteFunctionConcurrency <name>`.
    pub fn lambda_writes(&self) -> Vec<String> {
        let recording = std::fs::read_to_string(&self.recording).unwrap_or_default();
        recording
            .lines()
            .filter_map(|line| {
                let entry: serde_json::Value = serde_json::from_str(line).ok()?;
                let method = entry["method"].as_str()?;
                let url = entry["url"].as_str()?;
                let path = url.split('?').next()?;
                let path = &path[path.find("/20")?..];
                let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
                match (method, parts.as_slice()) {
                    ("PUT", [_, _, "event-source-mappings", uuid]) => {
                        Some(format!("UpdateEventSourceMapping {uuid}"))
                    }
                    ("PUT", [_, _, "functions", name, "concurrency"]) => {
                        Some(format!("PutFunctionConcurrency {name}"))
                    }
                    ("DELETE", [_, _, "functions", name, "concurrency"]) => {
                        Some(format!("DeleteFunctionConcurrency {name}"))
                    }
                    _ => None,
                }
            })
            .collect()
    }

    /// Creates a function (code is never run, so any bytes do) with an optional reservation.
    pub async fn create_function(&self, config: &SdkConfig, name: &str, reserved: Option<i32>) {
        let lambda = aws_sdk_lambda::Client::new(config);
        lambda
            .create_function()
            .function_name(name)
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .role(format!("arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"))
            .handler("bootstrap")
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_sdk_lambda::primitives::Blob::new(b"not run".to_vec()))
                    .build(),
            )
            .send()
            .await
            .expect("CreateFunction");
        if let Some(reserved) = reserved {
            lambda
                .put_function_concurrency()
                .function_name(name)
                .reserved_concurrent_executions(reserved)
                .send()
                .await
                .expect("PutFunctionConcurrency");
        }
    }

    /// Creates a metric alarm and forces it into `state`.
    pub async fn create_alarm(&self, config: &SdkConfig, name: &str, state: &str) {
        use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
        let cloudwatch = aws_sdk_cloudwatch::Client::new(config);
        cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/SQS")
            .metric_name("ApproximateNumberOfMessagesVisible")
            .statistic(Statistic::Maximum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1000.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .send()
            .await
            .expect("PutMetricAlarm");
        cloudwatch
            .set_alarm_state()
            .alarm_name(name)
            .state_value(StateValue::from(state))
            .state_reason("set by the test")
            .send()
            .await
            .expect("SetAlarmState");
    }

    pub async fn reserved(&self, config: &SdkConfig, name: &str) -> Option<i32> {
        aws_sdk_lambda::Client::new(config)
            .get_function_concurrency()
            .function_name(name)
            .send()
            .await
            .expect("GetFunctionConcurrency")
            .reserved_concurrent_executions()
    }

    /// The latest value moto holds for `metric` of `function` in `namespace`, if any.
    pub async fn metric_maximum(
        &self,
        config: &SdkConfig,
        namespace: &str,
        metric: &str,
        function: &str,
    ) -> Option<f64> {
        use aws_sdk_cloudwatch::types::{Dimension, Statistic};
        let now = std::time::SystemTime::now();
        let output = aws_sdk_cloudwatch::Client::new(config)
            .get_metric_statistics()
            .namespace(namespace)
            .metric_name(metric)
            .dimensions(
                Dimension::builder()
                    .name("FunctionName")
                    .value(function)
                    .build(),
            )
            .start_time((now - Duration::from_secs(3600)).into())
            .end_time((now + Duration::from_secs(3600)).into())
            .period(60)
            .statistics(Statistic::Maximum)
            .send()
            .await
            .expect("GetMetricStatistics");
        output
            .datapoints()
            .iter()
            .filter_map(|d| d.maximum())
            .reduce(f64::max)
    }

    /// Creates a standard queue and returns its URL.
    pub async fn create_queue(&self, config: &SdkConfig, name: &str) -> String {
        aws_sdk_sqs::Client::new(config)
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("CreateQueue")
            .queue_url()
            .expect("a queue URL")
            .to_owned()
    }

    /// The ARN moto gives queue `name`.
    pub fn queue_arn(name: &str) -> String {
        format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
    }

    /// Maps queue `queue` (created first) to function `function`, enabled, with
    /// `ScalingConfig.MaximumConcurrency` when given; returns the mapping's UUID. moto
    /// invokes the function when a message is sent to a queue with an enabled mapping, so
    /// send a test's messages before mapping their queue.
    pub async fn create_mapping(
        &self,
        config: &SdkConfig,
        function: &str,
        queue: &str,
        maximum_concurrency: Option<i32>,
    ) -> String {
        aws_sdk_lambda::Client::new(config)
            .create_event_source_mapping()
            .function_name(function)
            .event_source_arn(Self::queue_arn(queue))
            .batch_size(10)
            .set_scaling_config(maximum_concurrency.map(|n| {
                aws_sdk_lambda::types::ScalingConfig::builder()
                    .maximum_concurrency(n)
                    .build()
            }))
            .send()
            .await
            .expect("CreateEventSourceMapping")
            .uuid()
            .expect("a mapping UUID")
            .to_owned()
    }

    /// A mapping's `ScalingConfig.MaximumConcurrency` (`None`: it has none) and `State`.
    pub async fn mapping(&self, config: &SdkConfig, uuid: &str) -> (Option<i32>, String) {
        let mapping = aws_sdk_lambda::Client::new(config)
            .get_event_source_mapping()
            .uuid(uuid)
            .send()
            .await
            .expect("GetEventSourceMapping");
        (
            mapping
                .scaling_config()
                .and_then(|c| c.maximum_concurrency()),
            mapping.state().expect("a mapping state").to_owned(),
        )
    }

    /// Disables a mapping as a person would, by hand.
    pub async fn disable_mapping(&self, config: &SdkConfig, uuid: &str) {
        aws_sdk_lambda::Client::new(config)
            .update_event_source_mapping()
            .uuid(uuid)
            .enabled(false)
            .send()
            .await
            .expect("UpdateEventSourceMapping");
    }

    /// Sends `count` messages, delayed by `delay_seconds` (0: visible at once).
    pub async fn send(&self, config: &SdkConfig, url: &str, count: usize, delay_seconds: i32) {
        let sqs = aws_sdk_sqs::Client::new(config);
        for i in 0..count {
            sqs.send_message()
                .queue_url(url)
                .message_body(format!("m{i}"))
                .delay_seconds(delay_seconds)
                .send()
                .await
                .expect("SendMessage");
        }
    }

    /// Receives (without deleting) `count` messages, which makes them in flight.
    pub async fn receive(&self, config: &SdkConfig, url: &str, count: usize) {
        let sqs = aws_sdk_sqs::Client::new(config);
        let mut received = 0;
        while received < count {
            let batch = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages((count - received).min(10) as i32)
                .visibility_timeout(600)
                .send()
                .await
                .expect("ReceiveMessage");
            assert!(
                !batch.messages().is_empty(),
                "the queue ran out of messages"
            );
            received += batch.messages().len();
        }
    }

    pub async fn purge(&self, config: &SdkConfig, url: &str) {
        aws_sdk_sqs::Client::new(config)
            .purge_queue()
            .queue_url(url)
            .send()
            .await
            .expect("PurgeQueue");
    }

    /// The ARN moto gives function `name`.
    pub fn function_arn(name: &str) -> String {
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
    }

    pub async fn tag_function(&self, config: &SdkConfig, name: &str, tags: &[(&str, &str)]) {
        let mut request = aws_sdk_lambda::Client::new(config)
            .tag_resource()
            .resource(Self::function_arn(name));
        for (k, v) in tags {
            request = request.tags(*k, *v);
        }
        request.send().await.expect("TagResource");
    }

    /// The function's tags.
    pub async fn tags(
        &self,
        config: &SdkConfig,
        name: &str,
    ) -> std::collections::HashMap<String, String> {
        aws_sdk_lambda::Client::new(config)
            .list_tags()
            .resource(Self::function_arn(name))
            .send()
            .await
            .expect("ListTags")
            .tags()
            .cloned()
            .unwrap_or_default()
    }
}

/// The state table the tests create.
pub const STATE_TABLE: &str = "autoscaler-state";

impl Moto {
    /// Creates the state table as `template.yaml` does: partition key `function` (String),
    /// on-demand.
    pub async fn create_state_table(&self, config: &SdkConfig) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        aws_sdk_dynamodb::Client::new(config)
            .create_table()
            .table_name(STATE_TABLE)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("function")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("function")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("CreateTable");
    }

    /// The state item of function `name`, if any.
    pub async fn state_item(
        &self,
        config: &SdkConfig,
        name: &str,
    ) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        aws_sdk_dynamodb::Client::new(config)
            .get_item()
            .table_name(STATE_TABLE)
            .key(
                "function",
                aws_sdk_dynamodb::types::AttributeValue::S(Self::function_arn(name)),
            )
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
    }
}

/// One mapping as the state item records it: (uuid, ceiling, paused).
pub type MappingRecord = (String, Option<u32>, bool);

impl Moto {
    /// The event source mappings the state item of function `name` records, in its order;
    /// empty when it has no item or records none.
    pub async fn mapping_records(&self, config: &SdkConfig, name: &str) -> Vec<MappingRecord> {
        let Some(item) = self.state_item(config, name).await else {
            return Vec::new();
        };
        let Some(records) = item.get("event_sources") else {
            return Vec::new();
        };
        records
            .as_l()
            .expect("event_sources is a list")
            .iter()
            .map(|r| {
                let r = r.as_m().expect("each record is a map");
                (
                    r["uuid"].as_s().expect("uuid is a string").clone(),
                    r.get("ceiling")
                        .map(|c| c.as_n().expect("ceiling is a number").parse().unwrap()),
                    *r["paused"].as_bool().expect("paused is a boolean"),
                )
            })
            .collect()
    }
}

/// Runs the `autoscaler` CLI from the repository root with `env` and without any policy,
/// dry-run, state-table or metrics setting inherited from the caller's environment: (exit code,
/// stdout, stderr).
pub fn run_cli(args: &[&str], env: &[(&'static str, String)]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_autoscaler"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("AUTOSCALER_POLICY")
        .env_remove("AUTOSCALER_POLICY_FILE")
        .env_remove("AUTOSCALER_DRY_RUN")
        .env_remove("AUTOSCALER_STATE_TABLE")
        .env_remove("AUTOSCALER_METRICS")
        .envs(env.iter().cloned())
        .output()
        .expect("the CLI runs");
    (
        status.code().expect("exited, not killed by a signal"),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}
