//! End to end against a real local AWS (moto's server): the handler through the real SDK
//! clients, and the CLI binary as a user runs it.

mod support;

use lambda_autoscaler::handler::Autoscaler;
use lambda_autoscaler::memory::ManualClock;
use lambda_autoscaler::{policy::Policy, settings::Settings, wiring};
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
    wiring::autoscaler(config, Ok(policy), with_table())
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
    let autoscaler = wiring::autoscaler(&config, Ok(policy()), settings);
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
    assert_eq!(moto.reserved(&config, "orders-worker").await, Some(8));
    assert_eq!(moto.reserved(&config, "billing-worker").await, Some(4));
    assert_eq!(moto.reserved(&config, "tagged-worker").await, Some(20));
    assert_eq!(moto.reserved(&config, "badly-tagged").await, Some(4));
    assert_eq!(moto.reserved(&config, "not-opted-in").await, Some(5));
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

#[tokio::test]
async fn the_state_table_refuses_a_write_against_a_version_someone_else_moved() {
    use lambda_autoscaler::aws::dynamodb::DynamoStateStore;
    use lambda_autoscaler::ports::{SaveError, StateStore, Version};
    use lambda_autoscaler::state::{History, SavedState};
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.create_state_table(&config).await;
    let store = DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&config), STATE_TABLE.into());
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
}
