//! End to end against a real local AWS (moto's server): the handler through the real SDK
//! clients, and the CLI binary as a user runs it.

mod support;

use lambda_autoscaler::handler::Autoscaler;
use lambda_autoscaler::memory::ManualClock;
use lambda_autoscaler::wiring;
use lambda_autoscaler::{policy::Policy, settings::Settings};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use support::{Moto, STATE_TABLE};

const POLICY: &str = r#"{
  "targets": [
    { "function": "orders-worker", "min": 2, "max": 100, "tolerance": 0,
      "scale_out_cooldown_seconds": 0, "scale_in_cooldown_seconds": 0,
      "scale_in_stabilization_seconds": 0,
      "alarms": [
        { "name": "orders-backlog-high", "on_alarm": { "change": 10 }, "on_ok": { "change": -5 } },
        { "name": "orders-db-overloaded", "on_alarm": { "cap": 3 } }
      ] },
    { "function": "billing-worker", "min": 1, "max": 10, "tolerance": 0,
      "scale_out_cooldown_seconds": 0, "scale_in_cooldown_seconds": 0,
      "scale_in_stabilization_seconds": 0,
      "alarms": [ { "name": "orders-backlog-high", "on_alarm": { "set": 8 } } ] }
  ]
}"#;

fn sample(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn policy() -> Policy {
    Policy::from_json(POLICY, "test").unwrap()
}

/// The default settings, with the state table the test created.
fn with_table() -> Settings {
    Settings {
        state_table: Some(STATE_TABLE.into()),
        ..Settings::default()
    }
}

/// An autoscaler over moto with the state table, creating the table first.
async fn autoscaler(moto: &Moto, config: &aws_config::SdkConfig, policy: Policy) -> Autoscaler {
    moto.create_state_table(config).await;
    wiring::autoscaler(
        config,
        Ok(policy),
        with_table(),
        wiring::put_metric_data(config),
    )
}

#[tokio::test]
async fn an_alarm_scales_every_target_that_names_it_and_publishes_metrics() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(5))
        .await;
    moto.create_function(&config, "billing-worker", None).await;
    moto.create_alarm(&config, "orders-backlog-high", "ALARM")
        .await;

    let autoscaler = autoscaler(&moto, &config, policy()).await;
    let outcome = autoscaler
        .handle(&sample("alarm-lambda-action.json"), None)
        .await
        .unwrap();

    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(15));
    assert_eq!(moto.reserved(&config, "billing-worker").await, Some(8));
    let summary: Vec<_> = outcome
        .decisions
        .iter()
        .map(|d| (d.function.as_str(), d.previous, d.desired, d.applied))
        .collect();
    assert_eq!(
        summary,
        [
            ("orders-worker", Some(5), Some(15), true),
            ("billing-worker", None, Some(8), true)
        ]
    );
    for (metric, orders, billing) in [
        ("DesiredConcurrency", 15.0, 8.0),
        ("ReservedConcurrency", 15.0, 8.0),
        ("ScalingActions", 1.0, 1.0),
    ] {
        let ns = "LambdaAutoscaler";
        assert_eq!(
            moto.metric_maximum(&config, ns, metric, "orders-worker")
                .await,
            Some(orders),
            "{metric}"
        );
        assert_eq!(
            moto.metric_maximum(&config, ns, metric, "billing-worker")
                .await,
            Some(billing),
            "{metric}"
        );
    }
}

#[tokio::test]
async fn the_current_alarm_state_wins_over_a_stale_event() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(20))
        .await;
    moto.create_function(&config, "billing-worker", Some(4))
        .await;
    // The EventBridge sample says OK, but the alarm has since gone back to ALARM.
    moto.create_alarm(&config, "orders-backlog-high", "ALARM")
        .await;

    let autoscaler = autoscaler(&moto, &config, policy()).await;
    autoscaler
        .handle(&sample("alarm-eventbridge.json"), None)
        .await
        .unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(30));

    // And once CloudWatch says OK, the same event scales in.
    moto.create_alarm(&config, "orders-backlog-high", "OK")
        .await;
    autoscaler
        .handle(&sample("alarm-eventbridge.json"), None)
        .await
        .unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(25));
}

#[tokio::test]
async fn a_composite_alarm_cloudwatch_cannot_return_is_taken_from_the_event() {
    // moto does not implement composite alarms, so DescribeAlarms does not return this one
    // and the handler must fall back to the event's own state.
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(40))
        .await;
    moto.create_function(&config, "billing-worker", Some(4))
        .await;
    let autoscaler = autoscaler(&moto, &config, policy()).await;
    let outcome = autoscaler
        .handle(&sample("alarm-lambda-action-composite.json"), None)
        .await
        .unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(3));
    assert!(outcome.decisions[0]
        .reasons
        .iter()
        .any(|r| r.contains("state from the event")));
    // billing-worker does not name that alarm and is left alone.
    assert_eq!(moto.reserved(&config, "billing-worker").await, Some(4));
}

#[tokio::test]
async fn dry_run_reports_but_writes_nothing_to_lambda() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(5))
        .await;
    moto.create_function(&config, "billing-worker", None).await;
    moto.create_alarm(&config, "orders-backlog-high", "ALARM")
        .await;
    let settings = Settings {
        dry_run: true,
        namespace: "Team/Autoscaler".into(),
        ..Settings::default()
    };
    let autoscaler = wiring::autoscaler(
        &config,
        Ok(policy()),
        settings,
        wiring::put_metric_data(&config),
    );
    let outcome = autoscaler
        .handle(&sample("alarm-lambda-action.json"), None)
        .await
        .unwrap();
    assert!(outcome.dry_run);
    assert_eq!(outcome.decisions[0].desired, Some(15));
    assert!(!outcome.decisions[0].applied);
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(5));
    assert_eq!(moto.reserved(&config, "billing-worker").await, None);
    let ns = "Team/Autoscaler";
    assert_eq!(
        moto.metric_maximum(&config, ns, "DesiredConcurrency", "orders-worker")
            .await,
        Some(15.0)
    );
    assert_eq!(
        moto.metric_maximum(&config, ns, "ReservedConcurrency", "orders-worker")
            .await,
        Some(5.0)
    );
    assert_eq!(
        moto.metric_maximum(&config, ns, "ScalingActions", "orders-worker")
            .await,
        Some(0.0)
    );
}

#[tokio::test]
async fn an_sqs_batch_applies_good_records_and_reports_failed_ones() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(5))
        .await;
    moto.create_function(&config, "billing-worker", Some(2))
        .await;
    moto.create_alarm(&config, "orders-backlog-high", "ALARM")
        .await;
    let record = |id: &str, body: Value| json!({ "messageId": id, "eventSource": "aws:sqs", "body": body.to_string() });
    let event = json!({ "Records": [
        record("good", json!({ "function": "billing-worker", "desiredConcurrency": 6 })),
        record("unmanaged", json!({ "function": "payments", "desiredConcurrency": 50 })),
        { "messageId": "not-json", "eventSource": "aws:sqs", "body": "{oops" },
    ]});
    let autoscaler = autoscaler(&moto, &config, policy()).await;
    let outcome = autoscaler.handle(&event, None).await.unwrap();
    let failed: Vec<_> = outcome
        .batch_item_failures
        .unwrap()
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    assert_eq!(failed, ["unmanaged", "not-json"]);
    assert_eq!(moto.reserved(&config, "billing-worker").await, Some(6));
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(5));
}

fn cli(moto: &Moto, args: &[&str]) -> (i32, String, String) {
    support::run_cli(args, &moto.env())
}

/// The CLI with `AUTOSCALER_STATE_TABLE` set to the test's table.
fn cli_with_table(moto: &Moto, args: &[&str]) -> (i32, String, String) {
    let mut env = moto.env();
    env.push(("AUTOSCALER_STATE_TABLE", STATE_TABLE.into()));
    support::run_cli(args, &env)
}

/// `autoscaler activities orders-worker --json` (and `extra`) with the state table, parsed.
fn activities_json(moto: &Moto, extra: &[&str]) -> Value {
    let mut args = vec![
        "activities",
        "orders-worker",
        "--policy",
        "examples/policy.json",
        "--json",
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = cli_with_table(moto, &args);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).expect("stdout is JSON")
}

#[tokio::test]
async fn the_cli_prints_the_decision_record_and_exits_zero() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(5))
        .await;
    moto.create_function(&config, "reports-api", None).await;
    moto.create_alarm(&config, "orders-backlog-high", "ALARM")
        .await;
    let (code, stdout, stderr) = cli(
        &moto,
        &[
            "invoke",
            "events/alarm-lambda-action.json",
            "--policy",
            "examples/policy.json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let record: Value = serde_json::from_str(&stdout).expect("stdout is the JSON record only");
    assert_eq!(record["decisions"][0]["previous"], 5);
    assert_eq!(record["decisions"][0]["desired"], 15);
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(15));
    assert!(
        stderr.contains("scaling decision"),
        "the decision is logged on stderr: {stderr}"
    );

    let (code, stdout, _) = cli(
        &moto,
        &[
            "invoke",
            "events/direct-command.json",
            "--policy",
            "examples/policy.json",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0);
    let record: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(record["dryRun"], true);
    assert_eq!(record["decisions"][0]["desired"], 8);
    assert_eq!(moto.reserved(&config, "reports-api").await, None);
}

#[tokio::test]
async fn the_cli_prints_what_was_decided_even_when_a_target_failed_and_exits_one() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    // orders-worker scales out; reports-api and thumbnails-worker do not exist.
    moto.create_function(&config, "orders-worker", Some(5))
        .await;
    moto.create_alarm(&config, "orders-backlog-high", "ALARM")
        .await;
    let (code, stdout, stderr) = cli(
        &moto,
        &[
            "invoke",
            "events/scheduled.json",
            "--policy",
            "examples/policy.json",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("FunctionNotFound") || stderr.contains("SeveralTargetsFailed"),
        "{stderr}"
    );
    let record: Value = serde_json::from_str(&stdout).expect("stdout is still the record");
    let orders = record["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["function"] == "orders-worker")
        .expect("the target that was changed is in the record");
    assert_eq!(
        (orders["previous"].clone(), orders["applied"].clone()),
        (json!(5), json!(true))
    );
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(15));
}

#[tokio::test]
async fn the_cli_publishes_with_put_metric_data_unless_told_emf_on_stderr_or_off() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "reports-api", None).await;
    let invoke = |env: &[(&'static str, &str)], extra: &[&str]| {
        let mut all = moto.env();
        all.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
        let mut args = vec![
            "invoke",
            "events/direct-command.json",
            "--policy",
            "examples/policy.json",
        ];
        args.extend(extra);
        support::run_cli(&args, &all)
    };
    let emf_lines = |stderr: &str| -> Vec<Value> {
        stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("_aws").is_some())
            .collect()
    };
    let ns = "LambdaAutoscaler";

    // EMF: on stderr, one line per document; stdout stays the record; nothing reaches
    // CloudWatch's API.
    let (code, stdout, stderr) = invoke(&[], &["--metrics", "emf"]);
    assert_eq!(code, 0, "{stderr}");
    let record: Value = serde_json::from_str(&stdout).expect("stdout is the JSON record only");
    assert_eq!(record["decisions"][0]["desired"], 8);
    let documents = emf_lines(&stderr);
    let reports = documents
        .iter()
        .find(|d| d["FunctionName"] == "reports-api")
        .unwrap_or_else(|| panic!("no EMF document for reports-api in {stderr}"));
    assert_eq!(reports["DesiredConcurrency"], 8.0);
    assert_eq!(reports["_aws"]["CloudWatchMetrics"][0]["Namespace"], ns);
    assert_eq!(
        moto.metric_maximum(&config, ns, "DesiredConcurrency", "reports-api")
            .await,
        None
    );

    // Off, from the environment: neither.
    let (code, _, stderr) = invoke(&[("AUTOSCALER_METRICS", "off")], &["--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(emf_lines(&stderr).is_empty(), "{stderr}");
    assert_eq!(
        moto.metric_maximum(&config, ns, "DesiredConcurrency", "reports-api")
            .await,
        None
    );

    // The default: PutMetricData, as make demo shows in moto's CloudWatch.
    let (code, _, stderr) = invoke(&[], &["--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(emf_lines(&stderr).is_empty(), "{stderr}");
    assert_eq!(
        moto.metric_maximum(&config, ns, "DesiredConcurrency", "reports-api")
            .await,
        Some(8.0)
    );
}

#[tokio::test]
async fn the_cli_refuses_bad_input_and_unmanaged_functions_with_exit_1_and_changes_nothing() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(5))
        .await;
    moto.create_function(&config, "payments", Some(7)).await;
    let dir = std::env::temp_dir().join(format!("autoscaler-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let unmanaged = write(
        "unmanaged.json",
        r#"{"function":"payments","desiredConcurrency":50}"#,
    );
    let string_count = write(
        "string.json",
        r#"{"function":"orders-worker","desiredConcurrency":"12"}"#,
    );
    let bad_policy = write(
        "policy.json",
        r#"{"targets":[{"function":"orders-worker","min":5,"max":4}]}"#,
    );

    for (args, expected) in [
        (
            vec![
                "invoke",
                unmanaged.as_str(),
                "--policy",
                "examples/policy.json",
            ],
            "function \"payments\" is not a target of the policy and not tagged autoscaler:enabled=true",
        ),
        (
            vec![
                "invoke",
                string_count.as_str(),
                "--policy",
                "examples/policy.json",
            ],
            "event.desiredConcurrency: invalid type: string \"12\"",
        ),
        (
            vec![
                "invoke",
                "events/direct-command.json",
                "--policy",
                bad_policy.as_str(),
            ],
            "targets[0].max: must be >= min (5)",
        ),
        (
            vec![
                "invoke",
                "events/no-such-file.json",
                "--policy",
                "examples/policy.json",
            ],
            "cannot read event events/no-such-file.json",
        ),
    ] {
        let (code, stdout, stderr) = cli(&moto, &args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
    }
    assert_eq!(moto.reserved(&config, "payments").await, Some(7));
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(5));
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_failed_aws_call_is_exit_1_with_the_operation_named() {
    let moto = Moto::start();
    // orders-worker does not exist in this account: GetFunctionConcurrency fails.
    let (code, _, stderr) = cli(
        &moto,
        &[
            "invoke",
            "events/alarm-lambda-action.json",
            "--policy",
            "examples/policy.json",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("GetFunction on orders-worker failed: ResourceNotFoundException"),
        "{stderr}"
    );
}

// ---- queue tracking, schedules, saved state, tag policies ----------------------------------

fn queue_policy(extra: &str) -> Policy {
    Policy::from_json(
        &format!(
            r#"{{"targets":[{{"function":"orders-worker","min":1,"max":100,
                "queue":{{"name":"orders","messages_per_instance":5}}{extra}}}]}}"#
        ),
        "test",
    )
    .unwrap()
}

#[tokio::test]
async fn the_backlog_counts_visible_in_flight_and_delayed_messages_as_configured() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(2))
        .await;
    moto.create_function(&config, "visible-only", Some(2)).await;
    let url = moto.create_queue(&config, "orders").await;
    moto.send(&config, &url, 30, 0).await;
    moto.receive(&config, &url, 10).await; // 20 visible, 10 in flight
    moto.send(&config, &url, 5, 600).await; // 5 delayed
    let policy = Policy::from_json(
        r#"{"targets":[
            {"function":"orders-worker","min":1,"max":100,
             "queue":{"name":"orders","messages_per_instance":5,"include_delayed":true}},
            {"function":"visible-only","min":1,"max":100,
             "queue":{"name":"orders","messages_per_instance":5,"include_in_flight":false}}]}"#,
        "test",
    )
    .unwrap();
    let autoscaler = autoscaler(&moto, &config, policy).await;
    let outcome = autoscaler
        .handle(&json!({ "queue": url.clone() }), None)
        .await
        .unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(7));
    assert_eq!(moto.reserved(&config, "visible-only").await, Some(4));
    assert!(
        outcome.decisions[0].reasons.iter().any(|r| r
            == "queue orders: backlog 35 (20 visible + 10 in flight + 5 delayed) / 5 per instance -> propose 7"),
        "{:?}",
        outcome.decisions[0].reasons
    );
    // The state item was written with the change: version 1, a scale-out just now.
    let item = moto.state_item(&config, "orders-worker").await.unwrap();
    assert_eq!(item["version"].as_n().unwrap(), "1");
    assert_eq!(item["last_change"].as_s().unwrap(), "out");
}

#[tokio::test]
async fn a_scheduled_event_reconciles_document_and_tagged_targets_and_fails_only_bad_tags() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(2))
        .await;
    moto.create_function(&config, "billing-worker", Some(9))
        .await;
    moto.create_function(&config, "tagged-worker", Some(3))
        .await;
    moto.create_function(&config, "badly-tagged", Some(4)).await;
    moto.create_function(&config, "not-opted-in", Some(5)).await;
    moto.create_function(&config, "consent-only", Some(6)).await;
    let orders = moto.create_queue(&config, "orders").await;
    let billing = moto.create_queue(&config, "billing").await;
    moto.send(&config, &orders, 40, 0).await;
    moto.send(&config, &billing, 12, 0).await;
    moto.tag_function(
        &config,
        "tagged-worker",
        &[
            ("autoscaler:enabled", "true"),
            ("autoscaler:min", "1"),
            ("autoscaler:max", "50"),
            ("autoscaler:queue", "orders"),
            ("autoscaler:messages-per-instance", "2"),
        ],
    )
    .await;
    moto.tag_function(
        &config,
        "badly-tagged",
        &[
            ("autoscaler:enabled", "true"),
            ("autoscaler:min", "1"),
            ("autoscaler:max", "many"),
        ],
    )
    .await;
    moto.tag_function(&config, "not-opted-in", &[("autoscaler:min", "1")])
        .await;
    // Opted in, with no tag policy and not in the document: nothing to manage, no error.
    moto.tag_function(&config, "consent-only", &[("autoscaler:enabled", "true")])
        .await;
    let policy = Policy::from_json(
        r#"{"targets":[
            {"function":"orders-worker","min":1,"max":100,"queue":{"name":"orders","messages_per_instance":5}},
            {"function":"billing-worker","min":1,"max":100,"queue":{"name":"billing","messages_per_instance":3},
             "scale_in_stabilization_seconds":0}]}"#,
        "test",
    )
    .unwrap();
    let autoscaler = autoscaler(&moto, &config, policy).await;
    let err = autoscaler
        .handle(&sample("scheduled.json"), None)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidTagPolicy", "{err}");
    assert!(
        err.to_string().contains("badly-tagged") && err.to_string().contains("tag autoscaler:max"),
        "{err}"
    );
    assert!(!err.to_string().contains("consent-only"), "{err}");
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(8));
    assert_eq!(moto.reserved(&config, "billing-worker").await, Some(4));
    assert_eq!(moto.reserved(&config, "tagged-worker").await, Some(20));
    assert_eq!(moto.reserved(&config, "badly-tagged").await, Some(4));
    assert_eq!(moto.reserved(&config, "not-opted-in").await, Some(5));
    assert_eq!(moto.reserved(&config, "consent-only").await, Some(6));
}

#[tokio::test]
async fn a_watching_cli_run_follows_messages_sent_to_the_queue_during_its_loop() {
    use std::io::BufRead;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(1))
        .await;
    let url = moto.create_queue(&config, "orders").await;
    moto.create_state_table(&config).await;
    let dir = temp_files(
        "watch",
        &[(
            "policy.json",
            r#"{"targets":[{"function":"orders-worker","min":1,"max":100,"tolerance":0,
                "scale_out_cooldown_seconds":0,
                "queue":{"name":"orders","messages_per_instance":5}}]}"#,
        )],
    );
    let policy = dir.join("policy.json");
    // Ticks every 5 s; a 14 s deadline (2 s margin) leaves room for the ticks of 5 and 10 s.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_autoscaler"))
        .args(["invoke", "events/scheduled.json", "--policy"])
        .arg(&policy)
        .args([
            "--deadline-seconds",
            "14",
            "--watch-seconds",
            "5",
            "--metrics",
            "off",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("AUTOSCALER_POLICY")
        .env_remove("AUTOSCALER_POLICY_FILE")
        .env_remove("AUTOSCALER_DRY_RUN")
        .env_remove("AUTOSCALER_WATCH_FOR_SECONDS")
        .envs(moto.env())
        .env("AUTOSCALER_STATE_TABLE", STATE_TABLE)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the CLI starts");
    // Wait for the first pass's decision (the queue is empty: the reservation stays 1)...
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (lines, logged) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    loop {
        let line = logged
            .recv_timeout(Duration::from_secs(30))
            .expect("the first pass logs its decision");
        if line.contains("scaling decision") {
            break;
        }
    }
    // ...then send 40 messages while the loop runs: 8 instances at 5 per instance.
    moto.send(&config, &url, 40, 0).await;
    let output = child.wait_with_output().expect("the CLI ends");
    let stderr = reader.join().unwrap();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let record: Value = serde_json::from_slice(&output.stdout).expect("a JSON record");
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(8));
    let decisions = record["decisions"].as_array().unwrap();
    assert_eq!(
        decisions[0]["desired"], 1,
        "the first pass saw an empty queue"
    );
    let tick = decisions
        .iter()
        .find(|d| d["trigger"].as_str().unwrap().contains("watch tick"))
        .unwrap_or_else(|| panic!("no tick decision in {record:#}"));
    assert_eq!(
        (tick["previous"].clone(), tick["desired"].clone()),
        (json!(1), json!(8))
    );
    assert_eq!(tick["applied"], true);
    assert_eq!(record["watch"]["ended"], "deadline");
    assert!(
        record["watch"]["ticks"].as_u64().unwrap() >= 1,
        "{record:#}"
    );
    // The tick saved the history as the first pass left it (none: the first pass had
    // nothing to record), without a conflict to read it again.
    assert!(
        !tick["reasons"]
            .to_string()
            .contains("read and decided again"),
        "{tick:#}"
    );
    let item = moto.state_item(&config, "orders-worker").await.unwrap();
    assert_eq!(item["version"].as_n().unwrap(), "1");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn cooldowns_hold_across_separate_cli_processes() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(2))
        .await;
    let url = moto.create_queue(&config, "orders").await;
    moto.send(&config, &url, 50, 0).await;
    let dir = std::env::temp_dir().join(format!("autoscaler-cooldown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"targets":[{"function":"orders-worker","min":1,"max":100,
            "queue":{"name":"orders","messages_per_instance":5},
            "scale_in_cooldown_seconds":300,"scale_in_stabilization_seconds":0}]}"#,
    )
    .unwrap();
    let event = dir.join("event.json");
    std::fs::write(&event, r#"{"queue":"orders"}"#).unwrap();

    moto.create_state_table(&config).await;
    let (policy, event) = (policy.to_str().unwrap(), event.to_str().unwrap());
    let (code, _, stderr) = cli_with_table(&moto, &["invoke", event, "--policy", policy]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(10));

    moto.purge(&config, &url).await;
    let (code, stdout, stderr) = cli_with_table(&moto, &["invoke", event, "--policy", policy]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("held: scale-in cooldown, "), "{stdout}");
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(10));

    // Without the table, the same run has no history: it says so, and holds only for the
    // stabilization that a missing history implies (none here), so it scales in.
    let (code, stdout, stderr) = cli(&moto, &["invoke", event, "--policy", policy]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("no state table is configured"), "{stdout}");
    assert!(
        stderr.contains("no state table is configured"),
        "warned once: {stderr}"
    );
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(1));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn stabilization_holds_a_recent_high_until_it_leaves_the_window() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(2))
        .await;
    moto.create_state_table(&config).await;
    let url = moto.create_queue(&config, "orders").await;
    moto.send(&config, &url, 100, 0).await;
    let clock = std::sync::Arc::new(ManualClock::new(1_800_000_000));
    let settings = with_table();
    let ctx = wiring::context_with_clock(&config, &settings, clock.clone());
    let policy =
        queue_policy(r#","scale_in_cooldown_seconds":0,"scale_in_stabilization_seconds":300"#);
    let autoscaler = Autoscaler::new(Ok(policy), settings, ctx);
    let event = json!({ "queue": "orders" });
    autoscaler.handle(&event, None).await.unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(20));

    // Two minutes later the queue is nearly empty: held at the recent high of 20.
    moto.purge(&config, &url).await;
    moto.send(&config, &url, 25, 0).await;
    clock.advance(Duration::from_secs(120));
    let outcome = autoscaler.handle(&event, None).await.unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(20));
    assert!(
        outcome.decisions[0].reasons.iter().any(|r| r
            == "held: scale-in stabilization, highest recommendation in the last 300 s was 20"),
        "{:?}",
        outcome.decisions[0].reasons
    );
    // 20 was recommended until the queue emptied; 300 s after that it has left the window.
    clock.advance(Duration::from_secs(299));
    autoscaler.handle(&event, None).await.unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(20));
    clock.advance(Duration::from_secs(1));
    autoscaler.handle(&event, None).await.unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(5));
}

#[tokio::test]
async fn a_direct_command_manages_a_tagged_function_and_refuses_an_untagged_one() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "tagged-worker", Some(3))
        .await;
    moto.create_function(&config, "plain", Some(3)).await;
    moto.tag_function(
        &config,
        "tagged-worker",
        &[
            ("autoscaler:enabled", "true"),
            ("autoscaler:min", "2"),
            ("autoscaler:max", "12"),
        ],
    )
    .await;
    let autoscaler = autoscaler(&moto, &config, policy()).await;
    autoscaler
        .handle(
            &json!({"function": "tagged-worker", "desiredConcurrency": 40}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(moto.reserved(&config, "tagged-worker").await, Some(12));
    let err = autoscaler
        .handle(
            &json!({"function": "plain", "desiredConcurrency": 40}),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "UnmanagedFunction");
    assert_eq!(moto.reserved(&config, "plain").await, Some(3));
}

#[tokio::test]
async fn stabilization_holds_across_separate_cli_processes() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(2))
        .await;
    moto.create_state_table(&config).await;
    let url = moto.create_queue(&config, "orders").await;
    moto.send(&config, &url, 100, 0).await;
    let dir = std::env::temp_dir().join(format!("autoscaler-window-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"targets":[{"function":"orders-worker","min":1,"max":100,
            "queue":{"name":"orders","messages_per_instance":5},"scale_in_cooldown_seconds":0}]}"#,
    )
    .unwrap();
    let event = dir.join("event.json");
    std::fs::write(&event, r#"{"queue":"orders"}"#).unwrap();
    let args = [
        "invoke",
        event.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ];
    let (code, _, stderr) = cli_with_table(&moto, &args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(20));
    moto.purge(&config, &url).await;
    let (code, stdout, stderr) = cli_with_table(&moto, &args);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(
            "held: scale-in stabilization, highest recommendation in the last 300 s was 20"
        ),
        "{stdout}"
    );
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(20));
    let item = moto.state_item(&config, "orders-worker").await.unwrap();
    assert_eq!(
        item["version"].as_n().unwrap(),
        "2",
        "one write per run that changed the history"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// moto with the state table, and the adapter over it.
async fn state_store() -> (
    Moto,
    aws_config::SdkConfig,
    lambda_autoscaler::aws::dynamodb::DynamoStateStore,
) {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_state_table(&config).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let store = lambda_autoscaler::aws::dynamodb::DynamoStateStore::new(client, STATE_TABLE.into());
    (moto, config, store)
}

#[tokio::test]
async fn a_writer_that_loses_the_compare_and_set_archives_nothing_over_the_winners_activity() {
    use lambda_autoscaler::ports::{SaveError, StateStore, Version};
    use lambda_autoscaler::state::{Activity, ActivityOutcome, History, SavedState};
    let (_moto, _, store) = state_store().await;
    let key = Moto::function_arn("orders-worker");
    let now = 1_800_000_000;
    let activity = |desired: u32, outcome: ActivityOutcome| Activity {
        at: now - 60,
        trigger: "schedule".into(),
        previous: Some(5),
        desired: Some(desired),
        reasons: vec![format!("to {desired}")],
        outcome,
    };
    // Two writers read the same item and settle its pending attempt (to 10) differently:
    // the one that wins saw it applied, the one that loses did not. Each adds its own.
    let saved = |settled: ActivityOutcome, newest: u32| History {
        activities: vec![
            activity(10, settled),
            activity(newest, ActivityOutcome::Pending),
        ],
        earlier_activities: 40,
        ..History::default()
    };
    let winner = saved(ActivityOutcome::Applied, 12);
    let loser = saved(ActivityOutcome::Unconfirmed("7 found".into()), 3);
    store
        .save(&key, &winner, Version::Absent, now)
        .await
        .unwrap();
    assert_eq!(
        store.save(&key, &loser, Version::Absent, now).await,
        Err(SaveError::Conflict)
    );
    let read = store.load(std::slice::from_ref(&key)).await.unwrap();
    let SavedState::Valid(history) = &read[&key].state else {
        panic!("{:?}", read[&key].state)
    };
    assert_eq!(history.activities[0].desired, Some(12));
    let archived = store.archived_activities(&key, history, 5).await.unwrap();
    assert_eq!(archived, vec![activity(10, ActivityOutcome::Applied)]);
}

#[tokio::test]
async fn the_state_table_refuses_a_write_against_a_version_someone_else_moved() {
    use lambda_autoscaler::ports::{SaveError, StateStore, Version};
    use lambda_autoscaler::state::{History, SavedState};
    let (moto, config, store) = state_store().await;
    let key = Moto::function_arn("orders-worker");
    let now = 1_800_000_000;
    let read = store.load(std::slice::from_ref(&key)).await.unwrap();
    assert_eq!(read[&key].state, SavedState::Missing);
    assert_eq!(read[&key].version, Version::Absent);
    // Two writers read the same missing item; the first creates it, the second conflicts.
    store
        .save(&key, &History::default(), Version::Absent, now)
        .await
        .unwrap();
    assert_eq!(
        store
            .save(&key, &History::default(), Version::Absent, now)
            .await,
        Err(SaveError::Conflict)
    );
    // Two writers read version 1; the first moves it to 2, the second conflicts.
    store
        .save(&key, &History::default(), Version::At(1), now)
        .await
        .unwrap();
    assert_eq!(
        store
            .save(&key, &History::default(), Version::At(1), now)
            .await,
        Err(SaveError::Conflict)
    );
    let read = store.load(std::slice::from_ref(&key)).await.unwrap();
    assert_eq!(read[&key].version, Version::At(2));
    assert_eq!(read[&key].state, SavedState::Valid(History::default()));
    // The item expires a week after its last write (the table's TTL attribute).
    let item = moto.state_item(&config, "orders-worker").await.unwrap();
    assert_eq!(
        item["expires_at"].as_n().unwrap(),
        &(now + 7 * 86_400).to_string()
    );
    // Items written by hand, whose version is no version number: two writers read one; the
    // first replaces it, the second conflicts, as with a number.
    use aws_sdk_dynamodb::types::AttributeValue;
    let client = aws_sdk_dynamodb::Client::new(&config);
    for version in [
        Some(AttributeValue::S("three".into())),
        Some(AttributeValue::N("-1".into())),
        Some(AttributeValue::N("2.5".into())),
        None,
    ] {
        let mut by_hand = client
            .put_item()
            .table_name(STATE_TABLE)
            .item("function", AttributeValue::S(key.clone()));
        if let Some(version) = version.clone() {
            by_hand = by_hand.item("version", version);
        }
        by_hand.send().await.unwrap();
        let read = store.load(std::slice::from_ref(&key)).await.unwrap();
        let read_version = read[&key].version.clone();
        assert!(
            matches!(read_version, Version::Unreadable(_)),
            "{version:?}: {read_version:?}"
        );
        store
            .save(&key, &History::default(), read_version.clone(), now)
            .await
            .unwrap();
        assert_eq!(
            store
                .save(&key, &History::default(), read_version, now)
                .await,
            Err(SaveError::Conflict),
            "{version:?}"
        );
        let read = store.load(std::slice::from_ref(&key)).await.unwrap();
        assert_eq!(read[&key].version, Version::At(1), "{version:?}");
    }
}

// ---- SQS event source mappings that follow the reservation ---------------------------------

/// orders-worker follows its queue's backlog, and two alarms cap it: the database is slow
/// (cap 3), the database is down (cap 0, a circuit breaker: hence min 0 and allow_zero).
/// No tolerance, cooldown or stabilization, so that each evaluation acts at once.
const CONSUMER_POLICY: &str = r#"{"targets":[
  {"function":"orders-worker","min":0,"allow_zero":true,"max":100,"tolerance":0,
   "scale_out_cooldown_seconds":0,"scale_in_cooldown_seconds":0,
   "scale_in_stabilization_seconds":0,
   "queue":{"name":"orders","messages_per_instance":5},
   "alarms":[{"name":"orders-db-overloaded","on_alarm":{"cap":3}},
             {"name":"orders-db-down","on_alarm":{"cap":0}}]}]}"#;

/// A CloudWatch Lambda action event for `alarm` (its state is read from CloudWatch again).
fn alarm_event(alarm: &str, state: &str) -> Value {
    json!({"source": "aws.cloudwatch", "alarmData": {"alarmName": alarm, "state": {"value": state}}})
}

fn command(function: &str, value: u32) -> Value {
    json!({"function": function, "desiredConcurrency": value})
}

/// Writes `files` into a fresh temporary directory named after `tag`; returns it.
fn temp_files(tag: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("autoscaler-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

#[tokio::test]
async fn a_capped_consumer_is_lowered_before_its_reservation_and_raised_after_it() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(10))
        .await;
    moto.create_function(&config, "billing-worker", Some(4))
        .await;
    moto.create_queue(&config, "orders").await;
    let uuid = moto
        .create_mapping(&config, "orders-worker", "orders", None)
        .await;
    moto.create_alarm(&config, "orders-db-overloaded", "ALARM")
        .await;
    moto.create_alarm(&config, "orders-backlog-high", "OK")
        .await;
    let autoscaler = autoscaler(&moto, &config, policy()).await;

    moto.start_recording();
    let outcome = autoscaler
        .handle(&sample("alarm-lambda-action-composite.json"), None)
        .await
        .unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(3));
    assert_eq!(
        moto.mapping(&config, &uuid).await,
        (Some(3), "Enabled".into())
    );
    assert_eq!(
        moto.lambda_writes(),
        [
            format!("UpdateEventSourceMapping {uuid}"),
            "PutFunctionConcurrency orders-worker".into()
        ],
        "the mapping is lowered before the reservation"
    );
    let sources = &outcome.decisions[0].event_sources;
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert_eq!(sources[0].uuid, uuid);
    assert_eq!(sources[0].queue, "orders");
    assert_eq!(
        (
            sources[0].maximum_concurrency.previous,
            sources[0].maximum_concurrency.desired
        ),
        (None, Some(3))
    );
    assert!(sources[0].enabled.previous && sources[0].enabled.desired);
    assert!(sources[0].applied && sources[0].error.is_none());
    // The mapping had no maximum of its own: none is its ceiling. While a record is kept,
    // the item never expires.
    assert_eq!(
        moto.mapping_records(&config, "orders-worker").await,
        [(uuid.clone(), None, false)]
    );
    let item = moto.state_item(&config, "orders-worker").await.unwrap();
    assert!(!item.contains_key("expires_at"), "{item:?}");

    // The database recovers and the backlog alarm fires: 3 + 10, the reservation first.
    moto.create_alarm(&config, "orders-db-overloaded", "OK")
        .await;
    moto.create_alarm(&config, "orders-backlog-high", "ALARM")
        .await;
    let before = moto.lambda_writes().len();
    autoscaler
        .handle(&sample("alarm-lambda-action.json"), None)
        .await
        .unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(13));
    assert_eq!(
        moto.mapping(&config, &uuid).await,
        (Some(13), "Enabled".into())
    );
    let orders_writes: Vec<String> = moto.lambda_writes()[before..]
        .iter()
        .filter(|w| !w.ends_with("billing-worker"))
        .cloned()
        .collect();
    assert_eq!(
        orders_writes,
        [
            "PutFunctionConcurrency orders-worker".to_owned(),
            format!("UpdateEventSourceMapping {uuid}")
        ],
        "the reservation is raised before the mapping"
    );
}

#[tokio::test]
async fn a_cap_0_circuit_breaker_pauses_the_consumer_and_a_later_process_resumes_it() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(10))
        .await;
    moto.create_state_table(&config).await;
    let url = moto.create_queue(&config, "orders").await;
    moto.send(&config, &url, 50, 0).await; // a backlog of 10 instances
    let uuid = moto
        .create_mapping(&config, "orders-worker", "orders", None)
        .await;
    moto.create_alarm(&config, "orders-db-overloaded", "OK")
        .await;
    moto.create_alarm(&config, "orders-db-down", "ALARM").await;
    let event = alarm_event("orders-db-down", "ALARM").to_string();
    let dir = temp_files(
        "breaker",
        &[("policy.json", CONSUMER_POLICY), ("event.json", &event)],
    );
    let args = [
        "invoke",
        dir.join("event.json").to_str().unwrap(),
        "--policy",
        dir.join("policy.json").to_str().unwrap(),
    ]
    .map(str::to_owned);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    moto.start_recording();
    let (code, stdout, stderr) = cli_with_table(&moto, &args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(0));
    assert_eq!(
        moto.mapping(&config, &uuid).await,
        (None, "Disabled".into()),
        "paused, its maximum left as it was"
    );
    assert_eq!(
        moto.lambda_writes(),
        [
            format!("UpdateEventSourceMapping {uuid}"),
            "PutFunctionConcurrency orders-worker".into()
        ],
        "the consumer is paused before the reservation drops to 0"
    );
    let record: Value = serde_json::from_str(&stdout).unwrap();
    let source = &record["decisions"][0]["eventSources"][0];
    assert_eq!(source["uuid"], uuid.as_str());
    assert_eq!(
        source["enabled"],
        json!({"previous": true, "desired": false})
    );
    assert_eq!(
        source["maximumConcurrency"],
        json!({"previous": null, "desired": null})
    );
    assert_eq!(source["applied"], true);
    assert_eq!(
        moto.mapping_records(&config, "orders-worker").await,
        [(uuid.clone(), None, true)]
    );
    assert_eq!(
        moto.metric_maximum(
            &config,
            "LambdaAutoscaler",
            "PausedConsumers",
            "orders-worker"
        )
        .await,
        Some(1.0)
    );

    // While the breaker still fires, evaluating again writes nothing: 0 is read as 0 and the
    // pause is known.
    let before = moto.lambda_writes().len();
    let (code, stdout, stderr) = cli_with_table(&moto, &args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(moto.lambda_writes().len(), before, "{stdout}");
    assert_eq!(
        moto.mapping(&config, &uuid).await,
        (None, "Disabled".into())
    );

    // The database is back. A new process (no listing kept) knows the pause from the state
    // table: the reservation follows the backlog again, then the consumer resumes.
    moto.create_alarm(&config, "orders-db-down", "OK").await;
    let (code, stdout, stderr) = cli_with_table(&moto, &args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(10));
    assert_eq!(
        moto.mapping(&config, &uuid).await,
        (Some(10), "Enabled".into())
    );
    assert_eq!(
        moto.lambda_writes()[before..],
        [
            "PutFunctionConcurrency orders-worker".to_owned(),
            format!("UpdateEventSourceMapping {uuid}")
        ],
        "the reservation is raised before the consumer resumes"
    );
    let record: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(record["decisions"][0]["previous"], 0);
    let source = &record["decisions"][0]["eventSources"][0];
    assert_eq!(
        source["enabled"],
        json!({"previous": false, "desired": true})
    );
    assert_eq!(
        source["maximumConcurrency"],
        json!({"previous": null, "desired": 10})
    );
    // Recorded as paused until an evaluation finds it enabled: a failed resume is retried.
    assert_eq!(
        moto.mapping_records(&config, "orders-worker").await,
        [(uuid.clone(), None, true)]
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn two_mappings_share_the_reservation_evenly_and_an_explicit_set_below_2_each_pauses_both() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(4))
        .await;
    moto.create_queue(&config, "orders").await;
    moto.create_queue(&config, "orders-priority").await;
    let a = moto
        .create_mapping(&config, "orders-worker", "orders", None)
        .await;
    let b = moto
        .create_mapping(&config, "orders-worker", "orders-priority", None)
        .await;
    let autoscaler = autoscaler(&moto, &config, policy()).await;
    let maxima = |pair: [(Option<i32>, String); 2]| {
        let mut m: Vec<Option<i32>> = pair.iter().map(|(max, _)| *max).collect();
        m.sort();
        (m, pair.map(|(_, state)| state))
    };

    autoscaler
        .handle(&command("orders-worker", 10), None)
        .await
        .unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(10));
    assert_eq!(
        maxima([
            moto.mapping(&config, &a).await,
            moto.mapping(&config, &b).await
        ]),
        (
            vec![Some(5), Some(5)],
            ["Enabled".to_owned(), "Enabled".to_owned()]
        )
    );

    // An odd reservation: the shares never add up to more than it.
    autoscaler
        .handle(&command("orders-worker", 7), None)
        .await
        .unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(7));
    assert_eq!(
        maxima([
            moto.mapping(&config, &a).await,
            moto.mapping(&config, &b).await
        ]),
        (
            vec![Some(3), Some(4)],
            ["Enabled".to_owned(), "Enabled".to_owned()]
        )
    );

    // An operator's 3 is below 2 for each of the two: both pause, their maxima unchanged.
    let outcome = autoscaler
        .handle(&command("orders-worker", 3), None)
        .await
        .unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(3));
    assert_eq!(
        maxima([
            moto.mapping(&config, &a).await,
            moto.mapping(&config, &b).await
        ]),
        (
            vec![Some(3), Some(4)],
            ["Disabled".to_owned(), "Disabled".to_owned()]
        )
    );
    assert!(outcome.decisions[0]
        .event_sources
        .iter()
        .all(|s| !s.enabled.desired && s.applied));
    let paused: Vec<bool> = moto
        .mapping_records(&config, "orders-worker")
        .await
        .into_iter()
        .map(|(_, _, paused)| paused)
        .collect();
    assert_eq!(paused, [true, true]);
}

#[tokio::test]
async fn a_mapping_disabled_by_hand_stays_disabled_when_the_autoscaler_resumes_its_own() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(10))
        .await;
    let url = moto.create_queue(&config, "orders").await;
    moto.send(&config, &url, 50, 0).await;
    moto.create_queue(&config, "orders-replay").await;
    let own = moto
        .create_mapping(&config, "orders-worker", "orders", None)
        .await;
    let manual = moto
        .create_mapping(&config, "orders-worker", "orders-replay", Some(6))
        .await;
    moto.disable_mapping(&config, &manual).await;
    moto.create_alarm(&config, "orders-db-overloaded", "OK")
        .await;
    moto.create_alarm(&config, "orders-db-down", "ALARM").await;
    let policy = Policy::from_json(CONSUMER_POLICY, "test").unwrap();
    let autoscaler = autoscaler(&moto, &config, policy).await;
    let event = alarm_event("orders-db-down", "ALARM");

    let outcome = autoscaler.handle(&event, None).await.unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(0));
    assert_eq!(moto.mapping(&config, &own).await, (None, "Disabled".into()));
    let followed: Vec<&str> = outcome.decisions[0]
        .event_sources
        .iter()
        .map(|s| s.uuid.as_str())
        .collect();
    assert_eq!(
        followed,
        [own.as_str()],
        "the hand-disabled one is not followed"
    );

    moto.create_alarm(&config, "orders-db-down", "OK").await;
    autoscaler.handle(&event, None).await.unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(10));
    assert_eq!(
        moto.mapping(&config, &own).await,
        (Some(10), "Enabled".into()),
        "the autoscaler's own pause is resumed with the whole share"
    );
    assert_eq!(
        moto.mapping(&config, &manual).await,
        (Some(6), "Disabled".into()),
        "the one disabled by hand stays as it was"
    );
    // Recorded as paused until an evaluation finds it enabled: the next one does.
    assert_eq!(
        moto.mapping_records(&config, "orders-worker").await,
        [(own.clone(), None, true)]
    );
    autoscaler.handle(&event, None).await.unwrap();
    assert_eq!(
        moto.mapping_records(&config, "orders-worker").await,
        [(own.clone(), None, false)]
    );
}

#[tokio::test]
async fn another_functions_mapping_on_the_same_queue_is_left_alone() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(10))
        .await;
    // Not a target, and its name starts with the target's.
    moto.create_function(&config, "orders-worker-audit", Some(5))
        .await;
    moto.create_queue(&config, "orders").await;
    let orders = moto
        .create_mapping(&config, "orders-worker", "orders", None)
        .await;
    let audit = moto
        .create_mapping(&config, "orders-worker-audit", "orders", None)
        .await;
    moto.create_alarm(&config, "orders-db-overloaded", "ALARM")
        .await;
    let autoscaler = autoscaler(&moto, &config, policy()).await;
    moto.start_recording();
    let outcome = autoscaler
        .handle(&sample("alarm-lambda-action-composite.json"), None)
        .await
        .unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(3));
    assert_eq!(
        moto.mapping(&config, &orders).await,
        (Some(3), "Enabled".into())
    );
    assert_eq!(
        moto.mapping(&config, &audit).await,
        (None, "Enabled".into())
    );
    assert_eq!(moto.reserved(&config, "orders-worker-audit").await, Some(5));
    assert!(
        !moto.lambda_writes().iter().any(|w| w.contains(&audit)),
        "{:?}",
        moto.lambda_writes()
    );
    assert_eq!(outcome.decisions[0].event_sources.len(), 1);
}

#[tokio::test]
async fn a_users_maximum_concurrency_is_a_ceiling_the_mapping_returns_to() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(10))
        .await;
    moto.create_queue(&config, "orders").await;
    let uuid = moto
        .create_mapping(&config, "orders-worker", "orders", Some(4))
        .await;
    let autoscaler = autoscaler(&moto, &config, policy()).await;

    moto.start_recording();
    autoscaler
        .handle(&command("orders-worker", 20), None)
        .await
        .unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(20));
    assert_eq!(
        moto.mapping(&config, &uuid).await,
        (Some(4), "Enabled".into())
    );
    assert_eq!(
        moto.lambda_writes(),
        ["PutFunctionConcurrency orders-worker"],
        "a mapping at its ceiling is not written"
    );
    assert_eq!(moto.mapping_records(&config, "orders-worker").await, []);

    autoscaler
        .handle(&command("orders-worker", 3), None)
        .await
        .unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(3));
    assert_eq!(
        moto.mapping(&config, &uuid).await,
        (Some(3), "Enabled".into())
    );
    assert_eq!(
        moto.mapping_records(&config, "orders-worker").await,
        [(uuid.clone(), Some(4), false)],
        "the first change records the user's maximum"
    );

    // A new process knows the ceiling only from the state table.
    let dir = temp_files(
        "ceiling",
        &[
            ("policy.json", POLICY),
            ("event.json", &command("orders-worker", 20).to_string()),
        ],
    );
    let (code, stdout, stderr) = cli_with_table(
        &moto,
        &[
            "invoke",
            dir.join("event.json").to_str().unwrap(),
            "--policy",
            dir.join("policy.json").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(20));
    assert_eq!(
        moto.mapping(&config, &uuid).await,
        (Some(4), "Enabled".into()),
        "back to the user's 4, not 20"
    );
    let record: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        record["decisions"][0]["eventSources"][0]["maximumConcurrency"],
        json!({"previous": 3, "desired": 4})
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn event_sources_ignore_in_the_policy_or_a_tag_leaves_the_mappings_alone() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    // Each follows a queue of 5 messages at 5 per instance: a reservation of 1, below the 2
    // a followed mapping needs, so following would pause them.
    for name in ["orders-worker", "tagged-worker"] {
        moto.create_function(&config, name, Some(10)).await;
        let queue = name.trim_end_matches("-worker");
        let url = moto.create_queue(&config, queue).await;
        moto.send(&config, &url, 5, 0).await;
    }
    // A target that follows its mappings, so that this run lists them.
    moto.create_function(&config, "billing-worker", Some(4))
        .await;
    moto.tag_function(
        &config,
        "tagged-worker",
        &[
            ("autoscaler:enabled", "true"),
            ("autoscaler:min", "1"),
            ("autoscaler:max", "50"),
            ("autoscaler:queue", "tagged"),
            ("autoscaler:messages-per-instance", "5"),
            ("autoscaler:tolerance", "0"),
            ("autoscaler:scale-in-cooldown-seconds", "0"),
            ("autoscaler:scale-in-stabilization-seconds", "0"),
            ("autoscaler:event-sources", "ignore"),
        ],
    )
    .await;
    let orders = moto
        .create_mapping(&config, "orders-worker", "orders", Some(10))
        .await;
    let tagged = moto
        .create_mapping(&config, "tagged-worker", "tagged", Some(10))
        .await;
    let policy = Policy::from_json(
        r#"{"targets":[
            {"function":"orders-worker","min":1,"max":100,"event_sources":"ignore",
             "queue":{"name":"orders","messages_per_instance":5},"tolerance":0,
             "scale_in_cooldown_seconds":0,"scale_in_stabilization_seconds":0},
            {"function":"billing-worker","min":1,"max":10}]}"#,
        "test",
    )
    .unwrap();
    let autoscaler = autoscaler(&moto, &config, policy).await;
    moto.start_recording();
    let outcome = autoscaler
        .handle(&sample("scheduled.json"), None)
        .await
        .unwrap();
    for function in ["orders-worker", "tagged-worker"] {
        assert_eq!(
            moto.reserved(&config, function).await,
            Some(1),
            "{function}"
        );
        let decision = outcome
            .decisions
            .iter()
            .find(|d| d.function == function)
            .unwrap();
        assert!(decision.event_sources.is_empty(), "{decision:?}");
        assert_eq!(moto.mapping_records(&config, function).await, []);
    }
    for uuid in [&orders, &tagged] {
        assert_eq!(
            moto.mapping(&config, uuid).await,
            (Some(10), "Enabled".into())
        );
    }
    assert!(
        !moto
            .lambda_writes()
            .iter()
            .any(|w| w.starts_with("UpdateEventSourceMapping")),
        "{:?}",
        moto.lambda_writes()
    );
}

#[tokio::test]
async fn without_a_state_table_the_mappings_are_not_followed() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(10))
        .await;
    moto.create_queue(&config, "orders").await;
    let uuid = moto
        .create_mapping(&config, "orders-worker", "orders", None)
        .await;
    moto.create_alarm(&config, "orders-db-overloaded", "ALARM")
        .await;
    let autoscaler = wiring::autoscaler(
        &config,
        Ok(policy()),
        Settings::default(),
        wiring::put_metric_data(&config),
    );
    let outcome = autoscaler
        .handle(&sample("alarm-lambda-action-composite.json"), None)
        .await
        .unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(3));
    assert_eq!(moto.mapping(&config, &uuid).await, (None, "Enabled".into()));
    assert!(outcome.decisions[0].event_sources.is_empty());
}

#[tokio::test]
async fn a_mapping_created_since_the_accounts_listing_is_lowered_with_the_others() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(4))
        .await;
    moto.create_queue(&config, "orders").await;
    moto.create_queue(&config, "orders-priority").await;
    let first = moto
        .create_mapping(&config, "orders-worker", "orders", None)
        .await;
    moto.create_state_table(&config).await;
    let clock = std::sync::Arc::new(ManualClock::new(1_800_000_000));
    let settings = with_table();
    let ctx = wiring::context_with_clock(&config, &settings, clock.clone());
    let autoscaler = Autoscaler::new(Ok(policy()), settings, ctx);
    autoscaler
        .handle(&command("orders-worker", 12), None)
        .await
        .unwrap();
    assert_eq!(
        moto.mapping(&config, &first).await,
        (Some(12), "Enabled".into())
    );

    // Created a minute after this instance listed the account's mappings (kept for 300 s):
    // the decrease lists the function's own again, and shares among both.
    let second = moto
        .create_mapping(&config, "orders-worker", "orders-priority", None)
        .await;
    clock.advance(Duration::from_secs(60));
    let outcome = autoscaler
        .handle(&command("orders-worker", 6), None)
        .await
        .unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(6));
    assert_eq!(
        moto.mapping(&config, &first).await,
        (Some(3), "Enabled".into())
    );
    assert_eq!(
        moto.mapping(&config, &second).await,
        (Some(3), "Enabled".into()),
        "the new mapping had no limit at all"
    );
    assert_eq!(outcome.decisions[0].event_sources.len(), 2);
}

#[tokio::test]
async fn a_resume_that_also_lowers_the_maximum_enables_the_mapping_only_after_the_reservation() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(10))
        .await;
    let url = moto.create_queue(&config, "orders").await;
    moto.send(&config, &url, 50, 0).await;
    let uuid = moto
        .create_mapping(&config, "orders-worker", "orders", None)
        .await;
    let policy = Policy::from_json(CONSUMER_POLICY, "test").unwrap();
    let autoscaler = autoscaler(&moto, &config, policy).await;
    // Capped to 3 (the mapping at 3), then the breaker pauses it at 3 with a reservation of 0.
    moto.create_alarm(&config, "orders-db-overloaded", "ALARM")
        .await;
    moto.create_alarm(&config, "orders-db-down", "OK").await;
    let event = alarm_event("orders-db-down", "ALARM");
    autoscaler.handle(&event, None).await.unwrap();
    assert_eq!(
        moto.mapping(&config, &uuid).await,
        (Some(3), "Enabled".into())
    );
    moto.create_alarm(&config, "orders-db-down", "ALARM").await;
    autoscaler.handle(&event, None).await.unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(0));
    assert_eq!(
        moto.mapping(&config, &uuid).await,
        (Some(3), "Disabled".into())
    );

    // Both clear and the queue is empty: the floor of 2 resumes the mapping at 2, below
    // the 3 it was paused at. Its pollers must not run before the reservation is back.
    moto.create_alarm(&config, "orders-db-overloaded", "OK")
        .await;
    moto.create_alarm(&config, "orders-db-down", "OK").await;
    moto.purge(&config, &url).await;
    moto.start_recording();
    autoscaler.handle(&event, None).await.unwrap();
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(2));
    assert_eq!(
        moto.mapping(&config, &uuid).await,
        (Some(2), "Enabled".into())
    );
    assert_eq!(
        moto.lambda_writes(),
        [
            "PutFunctionConcurrency orders-worker".to_owned(),
            format!("UpdateEventSourceMapping {uuid}")
        ],
        "a paused mapping is enabled only after the reservation is raised"
    );
}

#[tokio::test]
async fn status_and_activities_show_what_the_cli_did_and_write_nothing() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_state_table(&config).await;
    moto.create_function(&config, "orders-worker", Some(5))
        .await;
    moto.create_function(&config, "reports-api", Some(4)).await;
    moto.create_alarm(&config, "orders-backlog-high", "ALARM")
        .await;
    let (code, _, stderr) = cli_with_table(
        &moto,
        &[
            "invoke",
            "events/alarm-lambda-action.json",
            "--policy",
            "examples/policy.json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let item_before = moto.state_item(&config, "orders-worker").await;

    let (code, stdout, stderr) = cli_with_table(
        &moto,
        &["status", "--policy", "examples/policy.json", "--json"],
    );
    assert_eq!(code, 0, "{stderr}");
    let status: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    let orders = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"] == "orders-worker")
        .expect("a row for orders-worker");
    assert_eq!(orders["reservation"], 15);
    assert_eq!(orders["lastChange"]["direction"], "out");
    assert_eq!(orders["recommendation"]["value"], 15);
    assert_eq!(orders["alarms"][0]["state"], "ALARM");
    let (code, table, stderr) = cli_with_table(
        &moto,
        &[
            "status",
            "--policy",
            "examples/policy.json",
            "--function",
            "orders-worker",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(table.starts_with("FUNCTION"), "{table}");
    assert_eq!(table.lines().count(), 2, "one row: {table}");

    let activities = activities_json(&moto, &[]);
    assert_eq!(activities["function"], "orders-worker");
    let latest = &activities["activities"][0];
    assert_eq!(
        (latest["previous"].clone(), latest["desired"].clone()),
        (json!(5), json!(15))
    );
    assert!(
        latest["outcome"]
            .as_str()
            .unwrap()
            .starts_with("pending: no outcome recorded yet; the reservation is now 15"),
        "{latest}"
    );
    assert!(latest["trigger"]
        .as_str()
        .unwrap()
        .contains("orders-backlog-high"));
    // Reading wrote nothing.
    assert_eq!(moto.state_item(&config, "orders-worker").await, item_before);
    let (code, _, stderr) = cli_with_table(
        &moto,
        &["activities", "payments", "--policy", "examples/policy.json"],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("UnmanagedFunction"), "{stderr}");
}

#[tokio::test]
async fn activities_move_out_of_the_item_a_decision_reads_and_an_earlier_builds_list_carries_over()
{
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_state_table(&config).await;
    moto.create_function(&config, "orders-worker", Some(5))
        .await;
    let arn = Moto::function_arn("orders-worker");
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    // An item as the build before wrote it: 20 activities in a list, no activity_number.
    let legacy = (0..20)
        .map(|i| {
            A::M(std::collections::HashMap::from([
                ("at".to_owned(), A::N((1_700_000_000 + i).to_string())),
                ("trigger".to_owned(), A::S(format!("legacy {i}"))),
                ("desired".to_owned(), A::N((100 + i).to_string())),
                ("reasons".to_owned(), A::L(vec![A::S("by hand".into())])),
                ("outcome".to_owned(), A::S("applied".into())),
            ]))
        })
        .collect();
    dynamodb
        .put_item()
        .table_name(STATE_TABLE)
        .item("function", A::S(arn.clone()))
        .item("version", A::N("1".into()))
        .item("format", A::N("1".into()))
        .item("recommendations", A::L(vec![]))
        .item("activities", A::L(legacy))
        .send()
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("autoscaler-activities-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for desired in [7, 8, 9] {
        let path = dir.join(format!("set-{desired}.json"));
        std::fs::write(
            &path,
            json!({"function": "orders-worker", "desiredConcurrency": desired}).to_string(),
        )
        .unwrap();
        let args = [
            "invoke",
            path.to_str().unwrap(),
            "--policy",
            "examples/policy.json",
        ];
        let (code, _, stderr) = cli_with_table(&moto, &args);
        assert_eq!(code, 0, "{stderr}");
    }
    // The item a decision reads holds the newest activity only, numbered 22.
    let item = moto.state_item(&config, "orders-worker").await.unwrap();
    assert_eq!(item["activity_number"], A::N("22".into()));
    let A::L(kept) = &item["activities"] else {
        panic!("{item:?}")
    };
    assert_eq!(kept.len(), 1);
    // The one before it (8, number 21) is archived under slot 01, the legacy ones under theirs.
    let slot = |n: &str| {
        let dynamodb = dynamodb.clone();
        let key = format!("{arn}#activity#{n}");
        async move {
            dynamodb
                .get_item()
                .table_name(STATE_TABLE)
                .key("function", A::S(key))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        }
    };
    let archived = slot("01").await;
    assert_eq!(archived["number"], A::N("21".into()));
    assert_eq!(archived["target"], A::S(arn.clone()));
    assert!(archived.contains_key("expires_at"));
    assert_eq!(slot("19").await["number"], A::N("19".into()));

    let shown = activities_json(&moto, &["--limit", "50"]);
    let desired: Vec<u64> = shown["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["desired"].as_u64().unwrap())
        .collect();
    // Newest first: the three commands, then the last 17 of the legacy list (20 in all).
    let expected: Vec<u64> = [9, 8, 7].into_iter().chain((103..=119).rev()).collect();
    assert_eq!(desired, expected);
    assert_eq!(shown["activities"][1]["outcome"], "applied");
}

#[tokio::test]
async fn another_writers_attempt_saved_just_now_holds_the_target_until_it_can_no_longer_land() {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_state_table(&config).await;
    moto.create_function(&config, "orders-worker", Some(5))
        .await;
    moto.create_alarm(&config, "orders-backlog-high", "ALARM")
        .await;
    // The watcher saved a scale-out to 40 a moment ago; its write has not landed (still 5).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let attempt = A::M(std::collections::HashMap::from([
        ("at".to_owned(), A::N(now.to_string())),
        ("trigger".to_owned(), A::S("queue orders".into())),
        ("previous".to_owned(), A::N("5".into())),
        ("desired".to_owned(), A::N("40".into())),
        ("reasons".to_owned(), A::L(vec![])),
        ("outcome".to_owned(), A::S("pending".into())),
    ]));
    aws_sdk_dynamodb::Client::new(&config)
        .put_item()
        .table_name(STATE_TABLE)
        .item("function", A::S(Moto::function_arn("orders-worker")))
        .item("version", A::N("7".into()))
        .item("format", A::N("1".into()))
        .item("recommendations", A::L(vec![]))
        .item("activities", A::L(vec![attempt]))
        .item("activity_number", A::N("3".into()))
        .item("updated_at", A::N(now.to_string()))
        .item("writer", A::S("the-watcher".into()))
        .send()
        .await
        .unwrap();
    let args = [
        "invoke",
        "events/alarm-lambda-action.json",
        "--policy",
        "examples/policy.json",
        "--deadline-seconds",
        "4",
    ];
    let (code, stdout, stderr) = cli_with_table(&moto, &args);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("another writer's change may still land"),
        "{stdout}"
    );
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(5));
}

/// Stores one-minute points in moto's CloudWatch as AWS/Lambda and AWS/SQS would publish
/// them: `invocations` of `milliseconds` each, and `deleted` messages, per minute.
async fn put_service_metrics(
    config: &aws_config::SdkConfig,
    function: &str,
    queue: &str,
    minutes: i64,
    invocations: usize,
    milliseconds: f64,
    deleted: f64,
) {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
    let client = aws_sdk_cloudwatch::Client::new(config);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for minute in 1..=minutes {
        let at = DateTime::from_secs(now - 60 * minute);
        let durations = (0..invocations).map(|_| {
            MetricDatum::builder()
                .metric_name("Duration")
                .dimensions(
                    Dimension::builder()
                        .name("FunctionName")
                        .value(function)
                        .build(),
                )
                .timestamp(at)
                .value(milliseconds)
                .unit(StandardUnit::Milliseconds)
                .build()
        });
        client
            .put_metric_data()
            .namespace("AWS/Lambda")
            .set_metric_data(Some(durations.collect()))
            .send()
            .await
            .unwrap();
        client
            .put_metric_data()
            .namespace("AWS/SQS")
            .metric_data(
                MetricDatum::builder()
                    .metric_name("NumberOfMessagesDeleted")
                    .dimensions(Dimension::builder().name("QueueName").value(queue).build())
                    .timestamp(at)
                    .value(deleted)
                    .unit(StandardUnit::Count)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_drain_time_target_reads_its_service_time_through_get_metric_data() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_function(&config, "orders-worker", Some(2))
        .await;
    let url = moto.create_queue(&config, "orders").await;
    moto.send(&config, &url, 30, 0).await;
    // 20 visible, 10 in flight.
    moto.receive(&config, &url, 10).await;
    // Five minutes of 10 invocations of 2 s, each taking 4 messages: 0.5 s a message.
    put_service_metrics(&config, "orders-worker", "orders", 5, 10, 2000.0, 40.0).await;
    let policy = Policy::from_json(
        r#"{"targets":[{"function":"orders-worker","min":1,"max":100,"tolerance":0,
            "scale_out_cooldown_seconds":0,
            "queue":{"name":"orders","target_wait_seconds":10}}]}"#,
        "test",
    )
    .unwrap();
    let autoscaler = autoscaler(&moto, &config, policy).await;
    let outcome = autoscaler
        .handle(&json!({ "queue": url.clone() }), None)
        .await
        .unwrap();
    let reasons = &outcome.decisions[0].reasons;
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("4 messages per invocation")
                && r.contains("service 0.5 s (measured by CloudWatch)")),
        "{reasons:?}"
    );
    // 10 in flight, 4 an invocation: 2.5 at work. Batches of 4 (as measured) at 0.5 s:
    // drained within 10 - 1.5 = 8.5 s; headroom 2 x 0.5 x sqrt(5 x 60) / 8.5 = 2.04; 20
    // waiting at 0.5 s within 8.5 s: 1.18.
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(6));
}
