//! The handler's orchestration with in-memory fakes of its AWS capabilities: which calls it
//! makes, in what number, and what it does when one fails.

use lambda_autoscaler::alarm::AlarmState;
use lambda_autoscaler::error::HandlerError;
use lambda_autoscaler::function_ref::FunctionRef;
use lambda_autoscaler::handler::Autoscaler;
use lambda_autoscaler::policy::{Policy, PolicyError};
use lambda_autoscaler::ports::{
    AlarmReader, AwsError, FunctionConcurrency, FunctionView, MetricPoint, MetricsPublisher,
};
use lambda_autoscaler::settings::Settings;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

#[derive(Default)]
struct FakeLambda {
    reserved: Mutex<HashMap<String, Option<u32>>>,
    fail_puts_for: Mutex<HashSet<String>>,
    fail_tags_for: HashSet<String>,
    /// Functions the role may not read (as IAM answers for functions not opted in).
    denied: HashSet<String>,
    puts: Mutex<Vec<(String, u32)>>,
    /// Every write, in order: "tag NAME" or "put NAME".
    writes: Mutex<Vec<String>>,
    /// Another evaluation's state write, landing right after our first read.
    concurrent_state: Mutex<Option<(String, String)>>,
    tags: Mutex<HashMap<String, HashMap<String, String>>>,
    tag_writes: Mutex<Vec<(String, String, String)>>,
}

impl FakeLambda {
    /// What GetFunction would return now.
    fn view(&self, function: &FunctionRef) -> Result<FunctionView, AwsError> {
        if self.denied.contains(function.name()) {
            return Err(fake_error(
                "GetFunction",
                function.name(),
                "AccessDeniedException",
            ));
        }
        let reserved = self
            .reserved
            .lock()
            .unwrap()
            .get(function.name())
            .copied()
            .ok_or_else(|| {
                fake_error("GetFunction", function.name(), "ResourceNotFoundException")
            })?;
        Ok(FunctionView {
            arn: function.name().to_owned(),
            reserved,
            tags: self
                .tags
                .lock()
                .unwrap()
                .get(function.name())
                .cloned()
                .unwrap_or_default(),
        })
    }

    fn with(functions: &[(&str, Option<u32>)]) -> Self {
        let lambda = FakeLambda::default();
        for (name, value) in functions {
            lambda
                .reserved
                .lock()
                .unwrap()
                .insert(name.to_string(), *value);
        }
        lambda
    }

    fn value(&self, name: &str) -> Option<u32> {
        self.reserved.lock().unwrap()[name]
    }
}

fn fake_error(operation: &'static str, resource: &str, code: &str) -> AwsError {
    AwsError {
        operation,
        resource: resource.into(),
        code: Some(code.into()),
        message: "injected".into(),
    }
}

impl FunctionConcurrency for FakeLambda {
    async fn observe(&self, function: &FunctionRef) -> Result<FunctionView, AwsError> {
        let view = self.view(function);
        if let Some((name, state)) = self.concurrent_state.lock().unwrap().take() {
            self.tags
                .lock()
                .unwrap()
                .entry(name)
                .or_default()
                .insert("autoscaler:state".into(), state);
        }
        view
    }

    async fn tag(&self, arn: &str, key: &str, value: &str) -> Result<(), AwsError> {
        if self.fail_tags_for.contains(arn) {
            return Err(fake_error("TagResource", arn, "TooManyRequestsException"));
        }
        self.writes.lock().unwrap().push(format!("tag {arn}"));
        self.tag_writes
            .lock()
            .unwrap()
            .push((arn.into(), key.into(), value.into()));
        self.tags
            .lock()
            .unwrap()
            .entry(arn.to_owned())
            .or_default()
            .insert(key.into(), value.into());
        Ok(())
    }

    async fn set_reserved(&self, function: &FunctionRef, value: u32) -> Result<(), AwsError> {
        if self.fail_puts_for.lock().unwrap().contains(function.name()) {
            return Err(fake_error(
                "PutFunctionConcurrency",
                function.name(),
                "TooManyRequestsException",
            ));
        }
        self.writes
            .lock()
            .unwrap()
            .push(format!("put {}", function.name()));
        self.puts
            .lock()
            .unwrap()
            .push((function.name().into(), value));
        self.reserved
            .lock()
            .unwrap()
            .insert(function.name().into(), Some(value));
        Ok(())
    }
}

#[derive(Default)]
struct FakeAlarms {
    states: HashMap<String, AlarmState>,
    calls: Mutex<Vec<Vec<String>>>,
}

impl AlarmReader for FakeAlarms {
    async fn states(&self, names: &[String]) -> Result<HashMap<String, AlarmState>, AwsError> {
        self.calls.lock().unwrap().push(names.to_vec());
        Ok(names
            .iter()
            .filter_map(|n| self.states.get(n).map(|s| (n.clone(), *s)))
            .collect())
    }
}

#[derive(Default)]
struct FakeMetrics {
    fail: bool,
    calls: Mutex<Vec<(String, Vec<MetricPoint>)>>,
}

impl MetricsPublisher for FakeMetrics {
    async fn publish(&self, namespace: &str, points: &[MetricPoint]) -> Result<(), AwsError> {
        if self.fail {
            return Err(fake_error(
                "PutMetricData",
                namespace,
                "InternalServiceError",
            ));
        }
        self.calls
            .lock()
            .unwrap()
            .push((namespace.into(), points.to_vec()));
        Ok(())
    }
}

// Stability knobs off: these tests pin the orchestration (tests/handler.rs's stability tests
// and src/decide.rs cover the knobs).
const POLICY: &str = r#"{"targets": [
  { "function": "orders", "min": 2, "max": 100, "tolerance": 0, "scale_out_cooldown_seconds": 0,
    "scale_in_cooldown_seconds": 0, "scale_in_stabilization_seconds": 0, "alarms": [
      { "name": "backlog", "on_alarm": { "change": 10 }, "on_ok": { "change": -5 } },
      { "name": "db", "on_alarm": { "cap": 3 } } ] },
  { "function": "billing", "min": 1, "max": 10, "tolerance": 0, "scale_out_cooldown_seconds": 0,
    "scale_in_cooldown_seconds": 0, "scale_in_stabilization_seconds": 0, "alarms": [
      { "name": "backlog", "on_alarm": { "set": 8 } } ] }
]}"#;

type Fixture = Autoscaler<FakeLambda, FakeAlarms, FakeMetrics>;

fn autoscaler(lambda: FakeLambda, states: &[(&str, AlarmState)]) -> Fixture {
    autoscaler_with(
        Policy::from_json(POLICY, "test"),
        Settings::default(),
        lambda,
        states,
        FakeMetrics::default(),
    )
}

fn autoscaler_with(
    policy: Result<Policy, PolicyError>,
    settings: Settings,
    lambda: FakeLambda,
    states: &[(&str, AlarmState)],
    metrics: FakeMetrics,
) -> Fixture {
    let alarms = FakeAlarms {
        states: states.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
        ..Default::default()
    };
    Autoscaler::new(policy, settings, lambda, alarms, metrics)
}

/// The fakes inside a fixture, reached through `Autoscaler::capabilities`.
struct Parts<'a> {
    lambda: &'a FakeLambda,
    alarms: &'a FakeAlarms,
    metrics: &'a FakeMetrics,
}

fn alarm_event(name: &str, state: &str) -> Value {
    json!({
        "source": "aws.cloudwatch",
        "alarmData": { "alarmName": name, "state": { "value": state } }
    })
}

fn run(
    fixture: &Fixture,
    event: Value,
) -> Result<lambda_autoscaler::report::Outcome, HandlerError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(fixture.handle(&event))
}

fn parts(fixture: &Fixture) -> Parts<'_> {
    let (lambda, alarms, metrics) = fixture.capabilities();
    Parts {
        lambda,
        alarms,
        metrics,
    }
}

use AlarmState::{Alarm, Ok as Fine};

#[test]
fn an_alarm_no_target_names_is_a_quiet_no_op_without_aws_calls() {
    let fixture = autoscaler(FakeLambda::with(&[("orders", Some(5))]), &[]);
    let outcome = run(&fixture, alarm_event("someone-elses-alarm", "ALARM")).unwrap();
    assert!(outcome.decisions.is_empty());
    let p = parts(&fixture);
    assert!(p.alarms.calls.lock().unwrap().is_empty());
    assert!(p.metrics.calls.lock().unwrap().is_empty());
    assert!(p.lambda.puts.lock().unwrap().is_empty());
}

#[test]
fn all_alarms_of_all_concerned_targets_are_read_in_one_call_and_metrics_sent_in_one_call() {
    let fixture = autoscaler(
        FakeLambda::with(&[("orders", Some(5)), ("billing", None)]),
        &[("backlog", Alarm), ("db", Fine)],
    );
    let outcome = run(&fixture, alarm_event("backlog", "ALARM")).unwrap();
    let p = parts(&fixture);
    assert_eq!(
        *p.alarms.calls.lock().unwrap(),
        [vec!["backlog".to_string(), "db".to_string()]]
    );
    assert_eq!(
        *p.lambda.puts.lock().unwrap(),
        [("orders".into(), 15), ("billing".into(), 8)]
    );
    let calls = p.metrics.calls.lock().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "LambdaAutoscaler");
    assert_eq!(
        calls[0].1.len(),
        6,
        "three metrics for each of two decisions"
    );
    assert_eq!(outcome.decisions.len(), 2);
}

#[test]
fn the_observed_state_wins_over_the_event_state() {
    let fixture = autoscaler(
        FakeLambda::with(&[("orders", Some(50)), ("billing", Some(1))]),
        &[("backlog", Fine)],
    );
    run(&fixture, alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!(parts(&fixture).lambda.value("orders"), Some(45));
    assert_eq!(
        parts(&fixture).lambda.value("billing"),
        Some(1),
        "billing has no on_ok action"
    );
}

#[test]
fn an_unchanged_value_is_not_written() {
    let fixture = autoscaler(
        FakeLambda::with(&[("orders", Some(3)), ("billing", Some(8))]),
        &[("backlog", Alarm), ("db", Alarm)],
    );
    let outcome = run(&fixture, alarm_event("db", "ALARM")).unwrap();
    assert!(parts(&fixture).lambda.puts.lock().unwrap().is_empty());
    assert!(!outcome.decisions[0].applied);
    assert!(outcome.decisions[0]
        .reasons
        .contains(&"unchanged: reservation stays 3".to_string()));
}

#[test]
fn dry_run_writes_nothing_but_reports_the_decision() {
    let settings = Settings {
        dry_run: true,
        ..Settings::default()
    };
    let fixture = autoscaler_with(
        Policy::from_json(POLICY, "test"),
        settings,
        FakeLambda::with(&[("orders", Some(5)), ("billing", Some(1))]),
        &[("backlog", Alarm)],
        FakeMetrics::default(),
    );
    let outcome = run(&fixture, alarm_event("backlog", "ALARM")).unwrap();
    assert!(outcome.dry_run);
    assert!(parts(&fixture).lambda.puts.lock().unwrap().is_empty());
    assert_eq!(outcome.decisions[0].desired, Some(15));
    assert_eq!(
        outcome.decisions[0].reasons.last().unwrap(),
        "dry run: would set 15 (currently 5); nothing written"
    );
}

#[test]
fn a_direct_command_for_an_unmanaged_function_is_refused_and_nothing_happens() {
    let fixture = autoscaler(FakeLambda::with(&[("payments", Some(7))]), &[]);
    let err = run(
        &fixture,
        json!({"function": "payments", "desiredConcurrency": 50}),
    )
    .unwrap_err();
    assert!(matches!(err, HandlerError::Unmanaged { ref function } if function == "payments"));
    assert_eq!(err.error_type(), "UnmanagedFunction");
    let p = parts(&fixture);
    assert!(p.lambda.puts.lock().unwrap().is_empty());
    assert!(p.metrics.calls.lock().unwrap().is_empty());
}

#[test]
fn a_direct_command_without_alarms_to_read_skips_describe_alarms() {
    let policy = Policy::from_json(r#"{"targets":[{"function":"solo","min":1,"max":9}]}"#, "t");
    let fixture = autoscaler_with(
        policy,
        Settings::default(),
        FakeLambda::with(&[("solo", None)]),
        &[],
        FakeMetrics::default(),
    );
    let outcome = run(
        &fixture,
        json!({"function": "solo", "desiredConcurrency": 50}),
    )
    .unwrap();
    assert_eq!(outcome.decisions[0].desired, Some(9));
    assert!(parts(&fixture).alarms.calls.lock().unwrap().is_empty());
}

#[test]
fn an_invalid_policy_fails_every_invocation_before_any_aws_call() {
    let policy = Policy::from_json(
        r#"{"targets":[{"function":"a","min":5,"max":1}]}"#,
        "AUTOSCALER_POLICY",
    );
    let fixture = autoscaler_with(
        policy,
        Settings::default(),
        FakeLambda::with(&[("a", Some(2))]),
        &[],
        FakeMetrics::default(),
    );
    for _ in 0..2 {
        let err = run(&fixture, alarm_event("x", "ALARM")).unwrap_err();
        assert_eq!(err.error_type(), "InvalidPolicy");
        assert_eq!(
            err.to_string(),
            "invalid policy (AUTOSCALER_POLICY): targets[0].max: must be >= min (5)"
        );
    }
    assert!(parts(&fixture).alarms.calls.lock().unwrap().is_empty());
}

#[test]
fn one_failing_target_does_not_stop_the_others_and_the_invocation_reports_it() {
    let lambda = FakeLambda::with(&[("orders", Some(5)), ("billing", Some(1))]);
    lambda.fail_puts_for.lock().unwrap().insert("orders".into());
    let fixture = autoscaler(lambda, &[("backlog", Alarm)]);
    let err = run(&fixture, alarm_event("backlog", "ALARM")).unwrap_err();
    assert_eq!(err.error_type(), "AwsCallFailed");
    assert!(
        err.to_string()
            .contains("PutFunctionConcurrency on orders failed: TooManyRequestsException"),
        "{err}"
    );
    let p = parts(&fixture);
    assert_eq!(p.lambda.value("billing"), Some(8));
    assert_eq!(p.lambda.value("orders"), Some(5));
    // The decision that did apply is still reported.
    let calls = p.metrics.calls.lock().unwrap();
    assert!(calls[0].1.iter().all(|point| point.function == "billing"));
}

#[test]
fn sqs_records_fail_on_their_own_and_land_in_batch_item_failures() {
    let fixture = autoscaler(
        FakeLambda::with(&[("orders", Some(5)), ("billing", Some(1))]),
        &[("backlog", Alarm)],
    );
    let record =
        |id: &str, body: &str| json!({"messageId": id, "eventSource": "aws:sqs", "body": body});
    let event = json!({"Records": [
        record("m1", r#"{"function":"billing","desiredConcurrency":4}"#),
        record("m2", r#"{"AlarmName":"backlog","NewStateValue":"FIRING"}"#),
        record("m3", r#"{"function":"nobody","desiredConcurrency":4}"#),
        record("m4", &alarm_event("backlog", "ALARM").to_string()),
    ]});
    let outcome = run(&fixture, event).unwrap();
    let failed: Vec<_> = outcome
        .batch_item_failures
        .as_ref()
        .unwrap()
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m2", "m3"]);
    assert_eq!(outcome.record_errors[0].error_type, "InvalidEvent");
    assert!(
        outcome.record_errors[0]
            .error
            .contains("unknown variant `FIRING`"),
        "{:?}",
        outcome.record_errors
    );
    assert_eq!(outcome.record_errors[1].error_type, "UnmanagedFunction");
    let p = parts(&fixture);
    assert_eq!(
        *p.lambda.puts.lock().unwrap(),
        [
            ("billing".into(), 4),
            ("orders".into(), 15),
            ("billing".into(), 8)
        ]
    );
    assert_eq!(
        p.metrics.calls.lock().unwrap().len(),
        1,
        "one PutMetricData for the whole batch"
    );
}

#[test]
fn a_failure_to_publish_metrics_fails_the_invocation_and_says_what_was_applied() {
    let fixture = autoscaler_with(
        Policy::from_json(POLICY, "t"),
        Settings::default(),
        FakeLambda::with(&[("orders", Some(5)), ("billing", Some(1))]),
        &[("backlog", Alarm)],
        FakeMetrics {
            fail: true,
            ..Default::default()
        },
    );
    let err = run(&fixture, alarm_event("backlog", "ALARM")).unwrap_err();
    assert_eq!(err.error_type(), "ReportingFailed");
    assert!(err.to_string().contains("orders: 5 -> 15"), "{err}");
}

// ---- queues: each read once per invocation --------------------------------------------

#[derive(Default)]
struct FakeQueues {
    depths: HashMap<String, u64>,
    url_calls: Mutex<Vec<String>>,
    depth_calls: Mutex<Vec<String>>,
}

impl lambda_autoscaler::ports::QueueReader for FakeQueues {
    async fn url_of(&self, name: &str) -> Result<String, AwsError> {
        self.url_calls.lock().unwrap().push(name.into());
        Ok(format!("https://sqs.local/1/{name}"))
    }

    async fn depth(&self, url: &str) -> Result<lambda_autoscaler::ports::QueueDepth, AwsError> {
        self.depth_calls.lock().unwrap().push(url.into());
        let name = url.rsplit('/').next().unwrap();
        Ok(lambda_autoscaler::ports::QueueDepth {
            visible: self.depths[name],
            ..Default::default()
        })
    }
}

#[test]
fn a_queue_shared_by_several_targets_and_signals_is_read_once_per_invocation() {
    let policy = Policy::from_json(
        r#"{"targets":[
          {"function":"a","min":1,"max":50,"queue":{"name":"orders","messages_per_instance":10}},
          {"function":"b","min":1,"max":50,"queue":{"url":"https://sqs.local/1/orders","messages_per_instance":20}},
          {"function":"c","min":1,"max":50,"queue":{"name":"orders","messages_per_instance":5}}]}"#,
        "t",
    );
    let queues = FakeQueues {
        depths: [("orders".to_string(), 100)].into(),
        ..Default::default()
    };
    let fixture = Autoscaler::new(
        policy,
        Settings::default(),
        FakeLambda::with(&[("a", Some(1)), ("b", Some(1)), ("c", Some(1))]),
        FakeAlarms::default(),
        FakeMetrics::default(),
    )
    .with_queues(queues)
    .with_clock(|| 1_700_000_000);
    // Two signals for the same queue in one SNS invocation.
    let message = r#"{"queue":"orders"}"#;
    let event = json!({"Records": [
        {"EventSource": "aws:sns", "Sns": {"Message": message}},
        {"EventSource": "aws:sns", "Sns": {"Message": message}}]});
    let outcome = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(fixture.handle(&event))
        .unwrap();
    let desired: Vec<_> = outcome
        .decisions
        .iter()
        .take(3)
        .map(|d| d.desired)
        .collect();
    assert_eq!(desired, [Some(10), Some(5), Some(20)]);
    let (queues, _) = fixture.discovery();
    assert_eq!(*queues.url_calls.lock().unwrap(), ["orders"]);
    // The name resolves to the URL the other target gives: one read serves all three.
    assert_eq!(
        *queues.depth_calls.lock().unwrap(),
        ["https://sqs.local/1/orders"]
    );
    // The state tag was written once per target per change, not on the unchanged second pass.
    let (lambda, _, _) = fixture.capabilities();
    assert_eq!(lambda.tag_writes.lock().unwrap().len(), 3);
}

/// One target with the default stability knobs (scale-out cooldown 60 s).
const CAREFUL_POLICY: &str = r#"{"targets": [
  { "function": "orders", "min": 2, "max": 100, "alarms": [
      { "name": "backlog", "on_alarm": { "change": 10 } } ] }
]}"#;

/// CAREFUL_POLICY with its alarm in ALARM, at a fixed time.
fn careful(lambda: FakeLambda) -> Fixture {
    autoscaler_with(
        Policy::from_json(CAREFUL_POLICY, "t"),
        Settings::default(),
        lambda,
        &[("backlog", Alarm)],
        FakeMetrics::default(),
    )
    .with_clock(|| 1_700_000_000)
}

#[test]
fn the_state_is_saved_before_the_reservation_changes() {
    let fixture = careful(FakeLambda::with(&[("orders", Some(5))]));
    run(&fixture, alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!(
        *parts(&fixture).lambda.writes.lock().unwrap(),
        ["tag orders", "put orders"]
    );
}

#[test]
fn a_failed_state_write_changes_nothing() {
    let mut lambda = FakeLambda::with(&[("orders", Some(5))]);
    lambda.fail_tags_for.insert("orders".into());
    let fixture = careful(lambda);
    let err = run(&fixture, alarm_event("backlog", "ALARM")).unwrap_err();
    assert!(
        err.to_string().contains("TagResource on orders failed"),
        "{err}"
    );
    let p = parts(&fixture);
    assert!(p.lambda.writes.lock().unwrap().is_empty());
    assert_eq!(p.lambda.value("orders"), Some(5));
}

#[test]
fn a_retried_event_after_a_failed_change_does_not_step_twice_within_the_cooldown() {
    let lambda = FakeLambda::with(&[("orders", Some(5))]);
    lambda.fail_puts_for.lock().unwrap().insert("orders".into());
    let fixture = careful(lambda);
    assert!(run(&fixture, alarm_event("backlog", "ALARM")).is_err());
    // Lambda retries the event; the API works again, but the attempt counts for the cooldown.
    parts(&fixture).lambda.fail_puts_for.lock().unwrap().clear();
    let outcome = run(&fixture, alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!(parts(&fixture).lambda.value("orders"), Some(5));
    assert!(
        outcome.decisions[0]
            .reasons
            .iter()
            .any(|r| r.starts_with("held: scale-out cooldown, 60 s left")),
        "{:?}",
        outcome.decisions[0].reasons
    );
}

#[test]
fn a_state_written_by_another_evaluation_meanwhile_is_merged_not_overwritten() {
    let now = 1_700_000_000;
    let policy = r#"{"targets": [{ "function": "orders", "min": 2, "max": 100,
        "alarms": [{ "name": "backlog", "on_ok": { "change": -5 } }] }]}"#;
    let run_with = |concurrent: Option<String>| {
        let lambda = FakeLambda::with(&[("orders", Some(40))]);
        lambda.tags.lock().unwrap().insert(
            "orders".into(),
            HashMap::from([(
                "autoscaler:state".to_string(),
                format!("v1 g5 r{}:40", now - 100),
            )]),
        );
        *lambda.concurrent_state.lock().unwrap() = concurrent.map(|s| ("orders".to_string(), s));
        let fixture = autoscaler_with(
            Policy::from_json(policy, "t"),
            Settings::default(),
            lambda,
            &[("backlog", Fine)],
            FakeMetrics::default(),
        )
        .with_clock(move || now);
        let outcome = run(&fixture, alarm_event("backlog", "OK")).unwrap();
        let saved =
            parts(&fixture).lambda.tags.lock().unwrap()["orders"]["autoscaler:state"].clone();
        (outcome, saved)
    };

    // Alone: the scale-in to 35 is held by stabilization (40 was recommended 100 s ago), and
    // the recommendation of 35 joins the history.
    let (outcome, saved) = run_with(None);
    assert_eq!(outcome.decisions[0].desired, Some(40));
    assert_eq!(saved, format!("v1 g6 r{}:40/100:35", now - 100));

    // Meanwhile another evaluation scaled out and recommended 60 (generation 6). Its last
    // change and its higher recommendation survive our write; the generation moves past both.
    let (_, saved) = run_with(Some(format!("v1 g6 co{} r{}:60", now - 5, now - 5)));
    assert_eq!(saved, format!("v1 g7 co{} r{}:60/5:35", now - 5, now - 5));
}

#[test]
fn a_target_the_role_may_not_read_is_reported_as_not_opted_in_and_left_alone() {
    let mut lambda = FakeLambda::with(&[("orders", Some(5)), ("billing", Some(1))]);
    lambda.denied.insert("orders".into());
    let fixture = autoscaler(lambda, &[("backlog", Alarm)]);
    let err = run(&fixture, alarm_event("backlog", "ALARM")).unwrap_err();
    assert_eq!(err.error_type(), "FunctionNotOptedIn");
    assert!(
        err.to_string().contains("tagged autoscaler:enabled=true"),
        "{err}"
    );
    let p = parts(&fixture);
    assert_eq!(p.lambda.value("orders"), Some(5));
    assert_eq!(
        p.lambda.value("billing"),
        Some(8),
        "the other target still scales"
    );
}

#[test]
fn a_direct_command_for_a_function_the_role_may_not_read_is_unmanaged() {
    let mut lambda = FakeLambda::with(&[("payments", Some(7))]);
    lambda.denied.insert("payments".into());
    let fixture = autoscaler(lambda, &[]);
    let err = run(
        &fixture,
        json!({"function": "payments", "desiredConcurrency": 50}),
    )
    .unwrap_err();
    assert_eq!(err.error_type(), "UnmanagedFunction");
    assert!(parts(&fixture).lambda.writes.lock().unwrap().is_empty());
}
