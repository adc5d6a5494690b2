//! The handler's orchestration against the in-memory world: which calls it makes and how
//! many, in what order, at what rate, what it does when one fails, and what a deadline stops.

use lambda_autoscaler::alarm::AlarmState::{self, Alarm, Ok as Fine};
use lambda_autoscaler::aws::emf::Emf;
use lambda_autoscaler::decide::HeadroomClamp;
use lambda_autoscaler::error::HandlerError;
use lambda_autoscaler::handler::Autoscaler;
use lambda_autoscaler::memory::{Meanwhile, MemoryLambda, World};
use lambda_autoscaler::policy::Policy;
use lambda_autoscaler::ports::{Clock, QueueDepth};
use lambda_autoscaler::report::Outcome;
use lambda_autoscaler::settings::Settings;
use lambda_autoscaler::state::{
    Activity, ActivityOutcome, Direction, History, LastChange, Recommendation,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

mod logs;
use logs::{logged, Captured};

const NOW: i64 = 1_700_000_000;

// Stability knobs off: these tests pin the orchestration (src/decide.rs covers the knobs).
const POLICY: &str = r#"{"targets": [
  { "function": "orders", "min": 2, "max": 100, "tolerance": 0, "scale_out_cooldown_seconds": 0,
    "scale_in_cooldown_seconds": 0, "scale_in_stabilization_seconds": 0, "alarms": [
      { "name": "backlog", "on_alarm": { "change": 10 }, "on_ok": { "change": -5 } },
      { "name": "db", "on_alarm": { "cap": 3 } } ] },
  { "function": "billing", "min": 1, "max": 10, "tolerance": 0, "scale_out_cooldown_seconds": 0,
    "scale_in_cooldown_seconds": 0, "scale_in_stabilization_seconds": 0, "alarms": [
      { "name": "backlog", "on_alarm": { "set": 8 } } ] }
]}"#;

/// One target with the default stability knobs (scale-out cooldown 60 s).
const CAREFUL_POLICY: &str = r#"{"targets": [
  { "function": "orders", "min": 2, "max": 100, "alarms": [
      { "name": "backlog", "on_alarm": { "change": 10 } } ] }
]}"#;

struct Fixture {
    world: World,
    autoscaler: Autoscaler,
}

fn fixture(policy: &str) -> Fixture {
    fixture_with(policy, Settings::default(), true)
}

fn fixture_with(policy: &str, settings: Settings, with_state: bool) -> Fixture {
    let world = World::new(NOW);
    let ctx = world.context(
        settings.control_plane_rps,
        settings.get_function_rps,
        with_state,
    );
    let autoscaler = Autoscaler::new(Policy::from_json(policy, "test"), settings, ctx);
    Fixture { world, autoscaler }
}

impl Fixture {
    fn functions(self, functions: &[(&str, Option<u32>)]) -> Self {
        for (name, reserved) in functions {
            self.world
                .lambda
                .add(name, *reserved, &[("autoscaler:enabled", "true")]);
        }
        self
    }

    fn alarms(self, states: &[(&str, AlarmState)]) -> Self {
        for (name, state) in states {
            self.world.cloudwatch.set_alarm(name, *state);
        }
        self
    }

    fn run(&self, event: Value) -> Result<Outcome, HandlerError> {
        self.run_until(event, None)
    }

    /// Runs with a deadline `seconds` after the start (`None`: no deadline).
    fn run_until(&self, event: Value, seconds: Option<f64>) -> Result<Outcome, HandlerError> {
        let deadline = seconds.map(|s| self.autoscaler.deadline_after(Duration::from_secs_f64(s)));
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(self.autoscaler.handle(&event, deadline))
    }

    fn reserved(&self, name: &str) -> Option<u32> {
        self.world.lambda.reserved(name)
    }

    fn count(&self, operation: &str) -> usize {
        self.world.calls.count(operation)
    }

    /// The resources of every call of `operation`, in order.
    fn calls_of(&self, operation: &str) -> Vec<String> {
        self.world
            .calls
            .all()
            .into_iter()
            .filter(|c| c.operation == operation)
            .map(|c| c.resource)
            .collect()
    }
}

fn alarm_event(name: &str, state: &str) -> Value {
    json!({
        "source": "aws.cloudwatch",
        "alarmData": { "alarmName": name, "state": { "value": state } }
    })
}

fn scheduled() -> Value {
    json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
}

fn sqs(records: &[(&str, String)]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|(id, body)| json!({"messageId": id, "eventSource": "aws:sqs", "body": body}))
        .collect();
    json!({ "Records": records })
}

/// The message ids of an SQS batch's `batchItemFailures`.
fn failed_records(outcome: &Outcome) -> Vec<&str> {
    outcome
        .batch_item_failures
        .as_ref()
        .expect("an SQS batch's outcome")
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

fn has_reason(outcome: &Outcome, function: &str, text: &str) -> bool {
    outcome
        .decisions
        .iter()
        .filter(|d| d.function == function)
        .any(|d| d.reasons.iter().any(|r| r.contains(text)))
}

// ---- the basics -----------------------------------------------------------------------

#[test]
fn an_alarm_no_target_names_is_a_quiet_no_op_without_aws_calls() {
    let f = fixture(POLICY).functions(&[("orders", Some(5))]);
    let outcome = f.run(alarm_event("someone-elses-alarm", "ALARM")).unwrap();
    assert!(outcome.decisions.is_empty());
    assert!(f.world.calls.all().is_empty(), "{:?}", f.world.calls.all());
}

#[test]
fn all_alarms_of_all_concerned_targets_are_read_in_one_call_and_metrics_sent_in_one_call() {
    let f = fixture(POLICY)
        .functions(&[("orders", Some(5)), ("billing", None)])
        .alarms(&[("backlog", Alarm), ("db", Fine)]);
    let outcome = f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!(f.calls_of("DescribeAlarms"), ["backlog, db"]);
    assert_eq!(
        (f.reserved("orders"), f.reserved("billing")),
        (Some(15), Some(8))
    );
    assert_eq!(f.count("PutMetricData"), 1);
    let points = f.world.cloudwatch.published();
    assert_eq!(
        points.len(),
        7,
        "three metrics per decision, and DeferredTargets"
    );
    assert_eq!(points[0].0, "LambdaAutoscaler");
    assert!(points
        .iter()
        .any(|(_, p)| p.metric == "DeferredTargets" && p.function.is_none() && p.value == 0.0));
    assert_eq!(outcome.decisions.len(), 2);
}

#[test]
fn the_observed_state_wins_over_the_event_state() {
    let f = fixture(POLICY)
        .functions(&[("orders", Some(50)), ("billing", Some(1))])
        .alarms(&[("backlog", Fine)]);
    f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!(f.reserved("orders"), Some(45));
    assert_eq!(
        f.reserved("billing"),
        Some(1),
        "billing has no on_ok action"
    );
}

#[test]
fn an_alarm_cloudwatch_does_not_return_is_taken_from_the_event() {
    let f = fixture(POLICY).functions(&[("orders", Some(40)), ("billing", Some(4))]);
    let outcome = f.run(alarm_event("db", "ALARM")).unwrap();
    assert_eq!(f.reserved("orders"), Some(3));
    assert!(has_reason(&outcome, "orders", "state from the event"));
}

#[test]
fn an_unchanged_value_is_not_written() {
    let f = fixture(POLICY)
        .functions(&[("orders", Some(3)), ("billing", Some(8))])
        .alarms(&[("backlog", Alarm), ("db", Alarm)]);
    let outcome = f.run(alarm_event("db", "ALARM")).unwrap();
    assert_eq!(f.count("PutFunctionConcurrency"), 0);
    assert!(!outcome.decisions[0].applied);
    assert!(has_reason(
        &outcome,
        "orders",
        "unchanged: reservation stays 3"
    ));
}

#[test]
fn dry_run_writes_nothing_but_reports_the_decision() {
    let settings = Settings {
        dry_run: true,
        ..Settings::default()
    };
    let f = fixture_with(POLICY, settings, true)
        .functions(&[("orders", Some(5)), ("billing", Some(1))])
        .alarms(&[("backlog", Alarm)]);
    let outcome = f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert!(outcome.dry_run);
    assert_eq!(f.count("PutFunctionConcurrency") + f.count("PutItem"), 0);
    assert_eq!(outcome.decisions[0].desired, Some(15));
    assert_eq!(
        outcome.decisions[0].reasons.last().unwrap(),
        "dry run: would set 15 (currently 5); nothing written"
    );
}

#[test]
fn the_lambda_payload_as_text_is_parsed_strictly_and_a_key_given_twice_changes_nothing() {
    let f = fixture(POLICY).functions(&[("orders", Some(5))]);
    let handle = |text: &str| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f.autoscaler.handle_text(text.as_bytes(), None))
    };
    let twice = r#"{"function": "orders", "desiredConcurrency": 5, "desiredConcurrency": 50}"#;
    let err = handle(twice).unwrap_err();
    assert_eq!(err.error_type(), "InvalidEvent", "{err}");
    assert!(
        err.to_string()
            .contains("the key \"desiredConcurrency\" is given twice"),
        "{err}"
    );
    assert_eq!(f.reserved("orders"), Some(5));
    assert_eq!(f.count("PutFunctionConcurrency"), 0);
    // Given once, the same command acts.
    handle(r#"{"function": "orders", "desiredConcurrency": 50}"#).unwrap();
    assert_eq!(f.reserved("orders"), Some(50));
}

#[test]
fn a_direct_command_for_an_unmanaged_function_is_refused_and_nothing_happens() {
    let f = fixture(POLICY);
    f.world.lambda.add("payments", Some(7), &[]);
    let err = f
        .run(json!({"function": "payments", "desiredConcurrency": 50}))
        .unwrap_err();
    assert!(matches!(err, HandlerError::Unmanaged { ref function } if function == "payments"));
    assert_eq!(err.error_type(), "UnmanagedFunction");
    assert_eq!(
        f.count("PutFunctionConcurrency") + f.count("PutMetricData"),
        0
    );
}

/// `resize`, a function managed by its tags (1 to 6), reserved at 2.
fn add_resize(f: &Fixture) {
    f.world.lambda.add(
        "resize",
        Some(2),
        &[
            ("autoscaler:enabled", "true"),
            ("autoscaler:min", "1"),
            ("autoscaler:max", "6"),
        ],
    );
}

#[test]
fn a_direct_command_for_a_tagged_function_reads_it_once() {
    let f = fixture(POLICY);
    add_resize(&f);
    let outcome = f
        .run(json!({"function": "resize", "desiredConcurrency": 50}))
        .unwrap();
    assert_eq!(outcome.decisions[0].desired, Some(6));
    assert_eq!(f.reserved("resize"), Some(6));
    assert_eq!(
        f.count("GetFunction"),
        1,
        "the planning read serves the decision"
    );
}

#[test]
fn a_tagged_functions_tags_that_get_function_does_not_return_are_not_read_as_untagged() {
    // GetFunction returns the tags only to a role allowed lambda:ListTags; without it the
    // command says what is missing instead of "not tagged", and changes nothing.
    let f = fixture(POLICY);
    add_resize(&f);
    f.world.lambda.hide_tags();
    let error = f
        .run(json!({"function": "resize", "desiredConcurrency": 50}))
        .unwrap_err();
    assert_eq!(error.error_type(), "AwsCallFailed", "{error}");
    assert!(error.to_string().contains("lambda:ListTags"), "{error}");
    assert!(!error.to_string().contains("not tagged"), "{error}");
    assert_eq!(f.count("PutFunctionConcurrency"), 0);
}

#[test]
fn a_direct_command_without_alarms_to_read_skips_describe_alarms() {
    let f = fixture(r#"{"targets":[{"function":"solo","min":1,"max":9}]}"#)
        .functions(&[("solo", None)]);
    let outcome = f
        .run(json!({"function": "solo", "desiredConcurrency": 50}))
        .unwrap();
    assert_eq!(outcome.decisions[0].desired, Some(9));
    assert_eq!(f.count("DescribeAlarms"), 0);
}

#[test]
fn an_invalid_policy_fails_every_invocation_before_any_aws_call() {
    let f =
        fixture(r#"{"targets":[{"function":"a","min":5,"max":1}]}"#).functions(&[("a", Some(2))]);
    for _ in 0..2 {
        let err = f.run(alarm_event("x", "ALARM")).unwrap_err();
        assert_eq!(err.error_type(), "InvalidPolicy");
        assert_eq!(
            err.to_string(),
            "invalid policy (test): targets[0].max: must be >= min (5)"
        );
    }
    assert!(f.world.calls.all().is_empty());
}

/// POLICY with both targets, the backlog alarm in ALARM, and every write to orders failing
/// with `code`.
fn with_orders_put_failing(code: &str, message: &str) -> Fixture {
    let f = fixture(POLICY)
        .functions(&[("orders", Some(5)), ("billing", Some(1))])
        .alarms(&[("backlog", Alarm)]);
    f.world.faults.inject(
        "PutFunctionConcurrency",
        Some("orders"),
        Some(code),
        message,
        None,
    );
    f
}

#[test]
fn one_failing_target_does_not_stop_the_others_and_the_invocation_reports_it() {
    let f = with_orders_put_failing("TooManyRequestsException", "Rate exceeded");
    let err = f.run(alarm_event("backlog", "ALARM")).unwrap_err();
    assert_eq!(err.error_type(), "AwsCallFailed");
    assert!(
        err.to_string()
            .contains("PutFunctionConcurrency on orders failed: TooManyRequestsException"),
        "{err}"
    );
    assert_eq!(f.reserved("billing"), Some(8));
    assert_eq!(f.reserved("orders"), Some(5));
    // Throttling is retried (paced) before the target gives up: 4 attempts in all, each in
    // a later second than the one before (the account's quota counts per second).
    let attempts: Vec<Duration> = (f.world.calls.all().into_iter())
        .filter(|c| c.operation == "PutFunctionConcurrency" && c.resource == "orders")
        .map(|c| c.at)
        .collect();
    assert_eq!(attempts.len(), 4);
    assert!(
        attempts
            .windows(2)
            .all(|w| w[1] - w[0] >= Duration::from_secs(1)),
        "{attempts:?}"
    );
    // The decision that did apply is still reported.
    let published = f.world.cloudwatch.published();
    assert!(published
        .iter()
        .any(|(_, p)| p.function.as_deref() == Some("billing")
            && p.metric == "ScalingActions"
            && p.value == 1.0));
}

#[test]
fn a_failure_to_publish_metrics_fails_the_invocation_and_says_what_was_applied() {
    let publishing_fails = || {
        let f = fixture(POLICY)
            .functions(&[("orders", Some(5)), ("billing", Some(1))])
            .alarms(&[("backlog", Alarm)]);
        f.world.faults.inject(
            "PutMetricData",
            None,
            Some("InternalServiceError"),
            "boom",
            None,
        );
        f
    };
    let f = publishing_fails();
    let err = f.run(alarm_event("backlog", "ALARM")).unwrap_err();
    assert_eq!(err.error_type(), "ReportingFailed");
    assert!(err.to_string().contains("orders: 5 -> 15"), "{err}");

    // Beside a target's own failure, both are reported: the publishing does not hide it.
    let f = publishing_fails();
    f.world.faults.inject(
        "PutFunctionConcurrency",
        Some("billing"),
        Some("AccessDeniedException"),
        "not authorized to perform: lambda:PutFunctionConcurrency",
        None,
    );
    let err = f.run(alarm_event("backlog", "ALARM")).unwrap_err();
    assert_eq!(err.error_type(), "SeveralTargetsFailed", "{err}");
    assert!(err.to_string().contains("billing"), "{err}");
    assert!(
        err.to_string().contains("publishing metrics failed"),
        "{err}"
    );
}

#[test]
fn a_target_the_role_may_not_read_is_reported_as_not_opted_in_and_left_alone() {
    let f = fixture(POLICY)
        .functions(&[("orders", Some(5)), ("billing", Some(1))])
        .alarms(&[("backlog", Alarm)]);
    f.world.faults.inject(
        "GetFunction",
        Some("orders"),
        Some("AccessDeniedException"),
        "not authorized",
        None,
    );
    let err = f.run(alarm_event("backlog", "ALARM")).unwrap_err();
    assert_eq!(err.error_type(), "FunctionNotOptedIn");
    assert!(
        err.to_string().contains("tagged autoscaler:enabled=true"),
        "{err}"
    );
    assert_eq!(f.reserved("orders"), Some(5));
    assert_eq!(
        f.reserved("billing"),
        Some(8),
        "the other target still scales"
    );
}

#[test]
fn a_direct_command_for_a_function_the_role_may_not_read_is_unmanaged() {
    let f = fixture(POLICY);
    f.world
        .lambda
        .add("payments", Some(7), &[("autoscaler:enabled", "true")]);
    f.world.faults.inject(
        "GetFunction",
        Some("payments"),
        Some("AccessDeniedException"),
        "no",
        None,
    );
    let err = f
        .run(json!({"function": "payments", "desiredConcurrency": 50}))
        .unwrap_err();
    assert_eq!(err.error_type(), "UnmanagedFunction");
    assert_eq!(f.count("PutFunctionConcurrency"), 0);
}

// ---- one plan per invocation -----------------------------------------------------------

#[test]
fn a_target_named_by_several_signals_is_read_once_and_decided_once() {
    let f = fixture(POLICY)
        .functions(&[("orders", Some(5)), ("billing", Some(1))])
        .alarms(&[("backlog", Alarm)]);
    let sns =
        |message: Value| json!({"EventSource": "aws:sns", "Sns": {"Message": message.to_string()}});
    let event = json!({"Records": [
        sns(json!({"AlarmName": "backlog", "NewStateValue": "ALARM"})),
        sns(scheduled()),
        sns(json!({"AlarmName": "backlog", "NewStateValue": "ALARM"})),
    ]});
    let outcome = f.run(event).unwrap();
    assert_eq!(outcome.decisions.len(), 2);
    assert_eq!(f.count("GetFunction"), 2);
    assert_eq!(f.count("DescribeAlarms"), 1);
    assert_eq!(f.reserved("orders"), Some(15), "one step, not two");
    assert_eq!(
        outcome.decisions[0].trigger,
        "alarm backlog is ALARM (SNS notification); scheduled reconciliation"
    );
}

#[test]
fn in_an_sqs_batch_records_fail_with_their_targets_and_the_later_command_wins() {
    let f = fixture(POLICY)
        .functions(&[("orders", Some(5)), ("billing", Some(1))])
        .alarms(&[("backlog", Alarm)]);
    f.world.faults.inject(
        "PutFunctionConcurrency",
        Some("orders"),
        Some("InvalidParameterValueException"),
        "no",
        None,
    );
    let command = |n: u32| json!({"function": "billing", "desiredConcurrency": n}).to_string();
    let outcome = f
        .run(sqs(&[
            ("m1", command(4)),
            (
                "m2",
                r#"{"AlarmName":"backlog","NewStateValue":"FIRING"}"#.into(),
            ),
            (
                "m3",
                json!({"function": "nobody", "desiredConcurrency": 4}).to_string(),
            ),
            ("m4", alarm_event("backlog", "ALARM").to_string()),
            ("m5", command(6)),
        ]))
        .unwrap();
    // billing: the later command (6) wins over the earlier (4) and over the alarm's set 8.
    assert_eq!(f.reserved("billing"), Some(6));
    assert_eq!(
        f.calls_of("PutFunctionConcurrency")
            .iter()
            .filter(|r| *r == "billing")
            .count(),
        1
    );
    let failed = failed_records(&outcome);
    // m4 named orders, whose write failed; m2 and m3 failed on their own.
    assert_eq!(failed, ["m2", "m3", "m4"]);
    let errors: Vec<_> = outcome
        .record_errors
        .iter()
        .map(|e| e.error_type.as_str())
        .collect();
    assert_eq!(
        errors,
        ["InvalidEvent", "UnmanagedFunction", "AwsCallFailed"]
    );
    let m1 = &outcome.records[0];
    assert_eq!(
        (m1.succeeded, m1.superseded_by.as_deref()),
        (true, Some("m5"))
    );
    assert_eq!(outcome.records[3].functions, ["orders", "billing"]);
    assert_eq!(
        f.count("PutMetricData"),
        1,
        "one PutMetricData for the whole batch"
    );
}

#[test]
fn a_replaced_command_is_not_delivered_again_when_the_later_one_fails() {
    let f = fixture(POLICY).functions(&[("orders", Some(5)), ("billing", Some(1))]);
    f.world.faults.inject(
        "PutFunctionConcurrency",
        Some("billing"),
        Some("ServiceException"),
        "unavailable",
        None,
    );
    let command = |n: u32| json!({"function": "billing", "desiredConcurrency": n}).to_string();
    let outcome = f
        .run(sqs(&[("m1", command(4)), ("m2", command(6))]))
        .unwrap();
    let failed = failed_records(&outcome);
    // Only the later command comes back: delivered again, the earlier could land after it
    // and win.
    assert_eq!(failed, ["m2"]);
    assert_eq!(outcome.records[0].superseded_by.as_deref(), Some("m2"));
    assert!(outcome.records[0].succeeded);
}

#[test]
fn every_scheduled_record_of_a_batch_fails_with_the_tag_discovery() {
    let f = fixture(POLICY).functions(&[("orders", Some(5)), ("billing", Some(1))]);
    f.world.lambda.add(
        "badly-tagged",
        Some(2),
        &[("autoscaler:enabled", "true"), ("autoscaler:max", "many")],
    );
    let outcome = f
        .run(sqs(&[
            ("s1", scheduled().to_string()),
            ("s2", scheduled().to_string()),
        ]))
        .unwrap();
    let failed = failed_records(&outcome);
    assert_eq!(failed, ["s1", "s2"]);
}

#[test]
fn an_alarm_whose_records_disagree_in_a_batch_lends_no_state_to_an_unreadable_read() {
    let run = |states: [&str; 2]| {
        let f = fixture(POLICY).functions(&[("orders", Some(10)), ("billing", Some(1))]);
        f.world.faults.inject(
            "DescribeAlarms",
            None,
            Some("Throttling"),
            "Rate exceeded",
            None,
        );
        let outcome = f
            .run(sqs(&[
                ("m1", alarm_event("db", states[0]).to_string()),
                ("m2", alarm_event("db", states[1]).to_string()),
            ]))
            .unwrap();
        (f.reserved("orders"), outcome)
    };
    // Records that agree: the event's state stands in for CloudWatch's, and the cap acts.
    let (orders, outcome) = run(["ALARM", "ALARM"]);
    assert_eq!(orders, Some(3), "{:?}", outcome.decisions);
    // The reason the second run must not give (so that its absence below means something).
    assert!(has_reason(&outcome, "orders", "state from the event"));
    // Records that disagree (a standard queue keeps no order): neither is taken.
    let (orders, outcome) = run(["ALARM", "OK"]);
    assert_eq!(orders, Some(10), "{:?}", outcome.decisions);
    assert!(
        !has_reason(&outcome, "orders", "state from the event"),
        "{:?}",
        outcome.decisions
    );
}

#[test]
fn a_queue_shared_by_several_targets_and_signals_is_read_once_per_invocation() {
    let f = fixture(
        r#"{"targets":[
          {"function":"a","min":1,"max":50,"queue":{"name":"orders","messages_per_instance":10}},
          {"function":"b","min":1,"max":50,"queue":{"url":"https://sqs.us-east-1.amazonaws.com/123456789012/orders","messages_per_instance":20}},
          {"function":"c","min":1,"max":50,"queue":{"name":"orders","messages_per_instance":5}}]}"#,
    )
    .functions(&[("a", Some(1)), ("b", Some(1)), ("c", Some(1))]);
    f.world.queues.set_depth(
        "orders",
        QueueDepth {
            visible: 100,
            ..QueueDepth::default()
        },
    );
    let message = r#"{"queue":"orders"}"#;
    let event = json!({"Records": [
        {"EventSource": "aws:sns", "Sns": {"Message": message}},
        {"EventSource": "aws:sns", "Sns": {"Message": message}}]});
    let outcome = f.run(event).unwrap();
    let desired: Vec<_> = outcome.decisions.iter().map(|d| d.desired).collect();
    assert_eq!(desired, [Some(10), Some(5), Some(20)]);
    assert_eq!(f.calls_of("GetQueueUrl"), ["orders"]);
    // The name resolves to the URL the other target gives: one read serves all three.
    assert_eq!(f.count("GetQueueAttributes"), 1);
    assert_eq!(f.count("PutItem"), 3, "one state write per changed target");
}

#[test]
fn a_warm_autoscaler_resolves_a_queue_name_once_and_again_after_a_failed_read() {
    let f = fixture(
        r#"{"targets":[{"function":"a","min":1,"max":50,"queue":{"name":"orders","messages_per_instance":10}}]}"#,
    )
    .functions(&[("a", Some(1))]);
    let depth = |visible| QueueDepth {
        visible,
        ..QueueDepth::default()
    };
    f.world.queues.set_depth("orders", depth(100));
    let event = json!({"queue": "orders"});
    f.run(event.clone()).unwrap();
    f.run(event.clone()).unwrap();
    assert_eq!(
        f.calls_of("GetQueueUrl"),
        ["orders"],
        "a URL is fixed by the name"
    );
    assert_eq!(
        f.count("GetQueueAttributes"),
        2,
        "the depth is read every time"
    );

    // A failed read forgets the URL: a queue deleted and made again is found anew.
    let url = "https://sqs.us-east-1.amazonaws.com/123456789012/orders";
    f.world.faults.inject(
        "GetQueueAttributes",
        Some(url),
        Some("AWS.SimpleQueueService.NonExistentQueue"),
        "The specified queue does not exist.",
        Some(1),
    );
    let failed = f.run(event.clone()).unwrap();
    assert!(!failed.decisions[0].applied);
    f.world.queues.set_depth("orders", depth(200));
    let outcome = f.run(event).unwrap();
    assert_eq!(f.calls_of("GetQueueUrl"), ["orders", "orders"]);
    let reasons = outcome.decisions[0].reasons.join("; ");
    assert!(reasons.contains("200 visible"), "{reasons}");
}

// ---- the state store -------------------------------------------------------------------

/// CAREFUL_POLICY with its alarm in ALARM.
fn careful() -> Fixture {
    fixture(CAREFUL_POLICY)
        .functions(&[("orders", Some(5))])
        .alarms(&[("backlog", Alarm)])
}

#[test]
fn the_state_is_saved_before_the_reservation_changes() {
    let f = careful();
    f.run(alarm_event("backlog", "ALARM")).unwrap();
    let writes: Vec<_> = f
        .world
        .calls
        .all()
        .into_iter()
        .filter(|c| c.operation.starts_with("Put") && c.operation != "PutMetricData")
        .map(|c| c.operation)
        .collect();
    assert_eq!(writes, ["PutItem", "PutFunctionConcurrency"]);
    let (history, version) = f.world.state.get(&MemoryLambda::arn("orders")).unwrap();
    assert_eq!(version, 1);
    assert_eq!(
        history.last_change,
        Some(LastChange {
            at: NOW,
            direction: Direction::Out
        })
    );
}

#[test]
fn a_single_target_alarm_event_costs_three_reads_one_lambda_write_one_state_write_one_metrics_call()
{
    let f = careful();
    f.run(alarm_event("backlog", "ALARM")).unwrap();
    let reads = f.count("DescribeAlarms") + f.count("GetFunction") + f.count("BatchGetItem");
    assert_eq!(reads, 3);
    assert_eq!(f.count("PutFunctionConcurrency"), 1);
    assert_eq!(f.count("PutItem"), 1);
    assert_eq!(f.count("PutMetricData"), 1);
    // The account's event source mappings, listed once per warm container (KEPT_FOR).
    assert_eq!(f.count("ListEventSourceMappings"), 1);
    assert_eq!(f.world.calls.all().len(), 7, "{:?}", f.world.calls.all());
    f.world.clock.advance(std::time::Duration::from_secs(120));
    f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!(
        f.count("ListEventSourceMappings"),
        1,
        "a warm container lists them again only after 5 minutes"
    );
}

#[test]
fn a_steady_target_writes_nothing_at_all() {
    // The queue proposes exactly the current reservation, evaluation after evaluation.
    let f = fixture(
        r#"{"targets":[{"function":"a","min":1,"max":50,"queue":{"name":"q","messages_per_instance":10}}]}"#,
    )
    .functions(&[("a", Some(7))]);
    f.world.queues.set_depth(
        "q",
        QueueDepth {
            visible: 70,
            ..QueueDepth::default()
        },
    );
    for _ in 0..3 {
        f.run(scheduled()).unwrap();
        f.world.clock.advance(Duration::from_secs(60));
    }
    assert_eq!(f.count("PutItem") + f.count("PutFunctionConcurrency"), 0);
}

#[test]
fn a_failed_state_write_changes_nothing() {
    let f = careful();
    f.world
        .faults
        .inject("PutItem", None, Some("InternalServerError"), "boom", None);
    let err = f.run(alarm_event("backlog", "ALARM")).unwrap_err();
    assert_eq!(err.error_type(), "StateUnavailable");
    assert!(
        err.to_string().contains(&format!(
            "PutItem on {} failed: InternalServerError",
            MemoryLambda::arn("orders")
        )),
        "{err}"
    );
    assert_eq!(f.count("PutFunctionConcurrency"), 0);
    assert_eq!(f.reserved("orders"), Some(5));
}

#[test]
fn a_retried_event_after_a_failed_change_does_not_step_twice_within_the_cooldown() {
    let f = careful();
    f.world.faults.inject(
        "PutFunctionConcurrency",
        None,
        Some("InvalidParameterValueException"),
        "no",
        Some(1),
    );
    assert!(f.run(alarm_event("backlog", "ALARM")).is_err());
    // Lambda retries the event; the API works again, but the attempt counts for the cooldown.
    f.world.clock.advance(Duration::from_secs(10));
    let outcome = f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!(f.reserved("orders"), Some(5));
    assert!(
        has_reason(&outcome, "orders", "held: scale-out cooldown, 50 s left"),
        "{:?}",
        outcome.decisions
    );
}

#[test]
fn a_state_written_by_someone_else_meanwhile_makes_the_target_decided_again() {
    let f = careful();
    let arn = MemoryLambda::arn("orders");
    // Another evaluation scaled orders out 20 s ago and recommended 15.
    let theirs = History {
        last_change: Some(LastChange {
            at: NOW - 20,
            direction: Direction::Out,
        }),
        recommendations: vec![Recommendation {
            value: 15,
            until: None,
        }],
        event_sources: Vec::new(),
        in_force_since: None,
        activities: Vec::new(),
        earlier_activities: 0,
        load: Default::default(),
    };
    f.world.state.interfere(&arn, theirs.clone());
    let outcome = f.run(alarm_event("backlog", "ALARM")).unwrap();
    // Decided again from their history: inside their scale-out cooldown, so held.
    assert_eq!(f.reserved("orders"), Some(5));
    assert!(has_reason(&outcome, "orders", "read and decided again"));
    assert!(has_reason(
        &outcome,
        "orders",
        "held: scale-out cooldown, 40 s left"
    ));
    assert_eq!(f.count("GetFunction"), 2, "the target is read again");
    assert_eq!(
        f.world.state.get(&arn).unwrap().1,
        1,
        "our write did not land"
    );

    // Twice in a row: reported, and nothing is changed.
    let f = careful();
    f.world.state.interfere(&arn, History::default());
    f.world.state.interfere(&arn, History::default());
    let err = f.run(alarm_event("backlog", "ALARM")).unwrap_err();
    assert_eq!(err.error_type(), "StateConflict");
    assert_eq!(f.count("PutFunctionConcurrency"), 0);
    // Its decision is reported with its metrics, as any other.
    let actions: Vec<f64> = f
        .world
        .cloudwatch
        .published()
        .into_iter()
        .filter(|(_, p)| p.metric == "ScalingActions" && p.function.as_deref() == Some("orders"))
        .map(|(_, p)| p.value)
        .collect();
    assert_eq!(actions, [0.0]);
}

#[test]
fn a_target_decided_again_after_a_conflict_says_so_even_when_the_pool_decides_it_once_more() {
    let f = careful();
    // The pool's floor refuses the scale-out 5 -> 15, which is decided again with the
    // headroom: 10 fits.
    f.world.lambda.set_pool(110, 100);
    f.world
        .state
        .interfere(&MemoryLambda::arn("orders"), History::default());
    let outcome = f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!(f.reserved("orders"), Some(10));
    let reasons = &outcome.decisions[0].reasons;
    assert_eq!(
        reasons
            .iter()
            .filter(|r| r.contains("read and decided again"))
            .count(),
        1,
        "{reasons:?}"
    );
}

/// What another writer (the watcher, or a CLI run) saved just now: an attempted scale-out of
/// orders from 5 to 20, whose `PutFunctionConcurrency` is still on its way.
fn another_writers_scale_out(f: &Fixture) {
    let theirs = History {
        last_change: Some(LastChange {
            at: NOW,
            direction: Direction::Out,
        }),
        recommendations: vec![Recommendation {
            value: 20,
            until: None,
        }],
        activities: vec![Activity {
            at: NOW,
            trigger: "queue orders-q".into(),
            previous: Some(5),
            desired: Some(20),
            reasons: vec![],
            outcome: ActivityOutcome::Pending,
        }],
        ..History::default()
    };
    f.world.state.put(&MemoryLambda::arn("orders"), theirs);
}

#[test]
fn a_cap_is_decided_once_another_writers_change_can_no_longer_land() {
    let f = fixture(POLICY)
        .functions(&[("orders", Some(5)), ("billing", Some(1))])
        .alarms(&[("db", Alarm)]);
    another_writers_scale_out(&f);
    // Their write lands 3 s from now: after a cap written at once, it would undo the cap.
    f.world.lambda.land_at("orders", 20, Duration::from_secs(3));
    let outcome = f.run(alarm_event("db", "ALARM")).unwrap();
    f.world.clock.advance(Duration::from_secs(30));
    assert_eq!(f.reserved("orders"), Some(3), "{:?}", outcome.decisions);
    // It waited out their lease (12 s), read the reservation again and capped from 20.
    assert!(f.world.clock.elapsed() >= Duration::from_secs(42));
    assert_eq!(f.count("GetFunction"), 2);
    let decision = &outcome.decisions[0];
    assert_eq!((decision.previous, decision.desired), (Some(20), Some(3)));
    // Their attempt is settled from what was read: it landed.
    let views = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f.autoscaler.activities("orders", 2))
        .unwrap();
    assert_eq!(views[1].outcome, "applied", "{views:?}");
}

#[test]
fn only_the_target_with_another_writers_change_in_flight_waits_for_it() {
    let f = fixture(POLICY)
        .functions(&[("orders", Some(5)), ("billing", Some(1))])
        .alarms(&[("backlog", Alarm), ("db", Fine)]);
    another_writers_scale_out(&f);
    f.world.lambda.land_at("orders", 20, Duration::from_secs(3));
    let outcome = f.run(alarm_event("backlog", "ALARM")).unwrap();
    // (The memory world's clock jumps when anything sleeps, so the order says it.) billing,
    // read in the same chunk, is set before orders is read again after their lease.
    let calls: Vec<String> = f
        .world
        .calls
        .all()
        .into_iter()
        .filter(|c| matches!(c.operation, "PutFunctionConcurrency" | "GetFunction"))
        .map(|c| format!("{} {}", c.operation, c.resource))
        .collect();
    let billing_set = calls
        .iter()
        .position(|c| c == "PutFunctionConcurrency billing");
    let orders_read_again = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| *c == "GetFunction orders")
        .nth(1)
        .map(|(i, _)| i);
    assert!(billing_set < orders_read_again, "{calls:?}");
    assert_eq!(f.reserved("orders"), Some(30), "{:?}", outcome.decisions);
    assert_eq!(f.reserved("billing"), Some(8));
}

#[test]
fn another_writers_change_that_the_deadline_cannot_wait_for_leaves_the_target_to_the_next_run() {
    let f = fixture(POLICY)
        .functions(&[("orders", Some(5)), ("billing", Some(1))])
        .alarms(&[("db", Alarm)]);
    another_writers_scale_out(&f);
    let outcome = f.run_until(alarm_event("db", "ALARM"), Some(6.0)).unwrap();
    assert!(outcome.decisions[0].deferred, "{:?}", outcome.decisions);
    assert!(has_reason(
        &outcome,
        "orders",
        "deferred: another writer's change may still land for 12 s, longer than the deadline \
         allows (6.0 s left, 2.0 s margin); the next run decides"
    ));
    assert_eq!(f.count("PutFunctionConcurrency"), 0);
}

#[test]
fn our_own_pending_attempt_never_makes_a_later_evaluation_wait() {
    let f = fixture(POLICY)
        .functions(&[("orders", Some(5)), ("billing", Some(1))])
        .alarms(&[("backlog", Alarm), ("db", Alarm)]);
    f.run(alarm_event("backlog", "ALARM")).unwrap();
    let outcome = f.run(alarm_event("db", "ALARM")).unwrap();
    assert_eq!(f.reserved("orders"), Some(3), "{:?}", outcome.decisions);
    assert!(f.world.clock.elapsed() < Duration::from_secs(2));
}

#[test]
fn without_a_state_table_decisions_say_they_have_no_history_and_nothing_is_saved() {
    let f = fixture_with(CAREFUL_POLICY, Settings::default(), false)
        .functions(&[("orders", Some(5))])
        .alarms(&[("backlog", Alarm)]);
    let outcome = f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!(f.reserved("orders"), Some(15));
    assert!(has_reason(
        &outcome,
        "orders",
        "no state table is configured"
    ));
    assert_eq!(f.count("BatchGetItem") + f.count("PutItem"), 0);
}

// ---- order, pace and deadline ----------------------------------------------------------

/// `n` targets t0..t(n-1), each following its own queue (10 messages per instance), with no
/// stability knobs in the way.
fn fleet(n: usize) -> String {
    let targets: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"function":"t{i}","min":1,"max":100,"tolerance":0,"scale_out_cooldown_seconds":0,
                   "scale_in_cooldown_seconds":0,"scale_in_stabilization_seconds":0,
                   "queue":{{"name":"q{i}","messages_per_instance":10}}}}"#
            )
        })
        .collect();
    format!(r#"{{"targets":[{}]}}"#, targets.join(","))
}

fn backlog(f: &Fixture, i: usize, visible: u64) {
    f.world.queues.set_depth(
        &format!("q{i}"),
        QueueDepth {
            visible,
            ..QueueDepth::default()
        },
    );
}

#[test]
fn protective_decreases_come_first_then_scale_outs_by_relative_shortfall_then_scale_ins() {
    let f = fixture(&fleet(4).replace(
        r#""queue":{"name":"q3""#,
        r#""alarms":[{"name":"db","on_alarm":{"cap":2}}],"queue":{"name":"q3""#,
    ))
    .functions(&[
        ("t0", Some(10)),
        ("t1", Some(10)),
        ("t2", Some(4)),
        ("t3", Some(10)),
    ])
    .alarms(&[("db", Alarm)]);
    backlog(&f, 0, 50); // 10 -> 5: scale in
    backlog(&f, 1, 150); // 10 -> 15: +50 %
    backlog(&f, 2, 80); // 4 -> 8: +100 %
    backlog(&f, 3, 500); // 10 -> cap 2: protective
    f.run(scheduled()).unwrap();
    assert_eq!(
        f.calls_of("PutFunctionConcurrency"),
        ["t3", "t2", "t1", "t0"]
    );
}

#[test]
fn control_plane_calls_never_exceed_the_budget_in_any_second_and_get_function_its_own() {
    let settings = Settings {
        control_plane_rps: 5.0,
        get_function_rps: 50.0,
        ..Settings::default()
    };
    let n = 120;
    let f = fixture_with(&fleet(n), settings, true);
    for i in 0..n {
        f.world.lambda.add(&format!("t{i}"), Some(1), &[]);
        backlog(&f, i, 50);
    }
    let outcome = f.run(scheduled()).unwrap();
    assert_eq!(outcome.decisions.iter().filter(|d| d.applied).count(), n);
    let times = |operation: &str| -> Vec<Duration> {
        let calls = f.world.calls.all();
        calls
            .iter()
            .filter(|c| c.operation == operation)
            .map(|c| c.at)
            .collect()
    };
    let most_in_a_second = |at: &[Duration]| {
        at.iter()
            .map(|start| {
                at.iter()
                    .filter(|t| **t >= *start && **t < *start + Duration::from_secs(1))
                    .count()
            })
            .max()
            .unwrap_or(0)
    };
    let puts = times("PutFunctionConcurrency");
    assert_eq!(puts.len(), n);
    assert_eq!(most_in_a_second(&puts), 5);
    assert_eq!(most_in_a_second(&times("GetFunction")), 50);
    // 120 writes at 5 per second (1.025 s with the guard) take 23 more seconds after the
    // first five, not less.
    assert!(
        puts[n - 1] - puts[0] >= Duration::from_secs_f64(23.0 * 1.025),
        "{:?}",
        puts[n - 1] - puts[0]
    );
    // Metrics go out in calls of at most 100 points while the writes go on.
    let published = times("PutMetricData");
    assert_eq!(published.len(), (3 * n + 1).div_ceil(100));
    assert!(
        published[0] < puts[n - 1],
        "the first batch is not held back to the end"
    );
}

#[test]
fn a_run_that_starts_within_the_deadlines_margin_reads_nothing_and_defers_every_target() {
    let policy = fleet(3).replace(
        r#""queue":{"name":"q2""#,
        r#""alarms":[{"name":"db","on_alarm":{"cap":2}}],"queue":{"name":"q2""#,
    );
    let f = fixture_with(&policy, Settings::default(), true);
    for i in 0..3 {
        f.world.lambda.add(&format!("t{i}"), Some(1), &[]);
        backlog(&f, i, 50);
    }
    // 1 s left, within the 2 s margin.
    let outcome = f.run_until(scheduled(), Some(1.0)).unwrap();
    assert_eq!(outcome.deferred, 3);
    for operation in [
        "DescribeAlarms",
        "GetQueueAttributes",
        "GetQueueUrl",
        "GetFunction",
    ] {
        assert_eq!(f.count(operation), 0, "{operation}");
    }
    assert!((0..3).all(|i| f.reserved(&format!("t{i}")) == Some(1)));

    // A target whose view the plan already holds (a direct command for a tagged function)
    // is not decided either: a decision then would rest on no alarm or queue read.
    add_resize(&f);
    let command = json!({"function": "resize", "desiredConcurrency": 5});
    let outcome = f.run_until(command, Some(1.0)).unwrap();
    assert_eq!(outcome.deferred, 1);
    assert_eq!(outcome.decisions[0].desired, None);
    assert_eq!(f.reserved("resize"), Some(2));
}

#[test]
fn a_passs_first_write_counts_as_a_second_against_the_deadline_until_one_is_timed() {
    let f = fixture_with(&fleet(1), Settings::default(), true);
    f.world.lambda.add("t0", Some(1), &[]);
    backlog(&f, 0, 50);
    // Its save and its write, a second each, and the 2 s margin: 4 s, more than 3.5 s left.
    let outcome = f.run_until(scheduled(), Some(3.5)).unwrap();
    assert_eq!(outcome.deferred, 1, "{:?}", outcome.decisions);
    assert_eq!(f.count("PutFunctionConcurrency"), 0);
    assert_eq!(f.reserved("t0"), Some(1));
    let outcome = f.run_until(scheduled(), Some(4.5)).unwrap();
    assert_eq!(outcome.deferred, 0, "{:?}", outcome.decisions);
    assert_eq!(f.reserved("t0"), Some(5));
}

#[test]
fn at_the_deadline_writes_stop_the_rest_is_deferred_and_the_next_run_continues() {
    let n = 40;
    let f = fixture_with(&fleet(n), Settings::default(), true);
    for i in 0..n {
        f.world.lambda.add(&format!("t{i}"), Some(1), &[]);
        backlog(&f, i, 50);
    }
    // 5 writes per second, 2 s margin: a 6 s deadline leaves room for about 20 writes.
    let outcome = f.run_until(scheduled(), Some(6.0)).unwrap();
    let applied = outcome.decisions.iter().filter(|d| d.applied).count();
    assert_eq!(applied + outcome.deferred, n);
    assert!(applied >= 10, "{applied} applied");
    // Every write started before the deadline's margin (6 s - 2 s), on the virtual clock.
    let last_write = f
        .world
        .calls
        .all()
        .into_iter()
        .filter(|c| c.operation == "PutFunctionConcurrency")
        .map(|c| c.at)
        .max()
        .unwrap();
    assert!(last_write <= Duration::from_secs(4), "{last_write:?}");
    let deferred = outcome.decisions.iter().find(|d| d.deferred).unwrap();
    assert!(
        deferred.reasons.last().unwrap().starts_with("deferred: "),
        "{:?}",
        deferred.reasons
    );
    assert!(!deferred.applied);
    let metric = f
        .world
        .cloudwatch
        .published()
        .into_iter()
        .find(|(_, p)| p.metric == "DeferredTargets")
        .unwrap();
    assert_eq!(metric.1.value, outcome.deferred as f64);
    // Nothing was written for the deferred targets, so the next run applies them.
    f.world.clock.advance(Duration::from_secs(60));
    let next = f.run(scheduled()).unwrap();
    assert_eq!(next.deferred, 0);
    assert!((0..n).all(|i| f.reserved(&format!("t{i}")) == Some(5)));
    assert_eq!(
        next.decisions.iter().filter(|d| d.applied).count(),
        n - applied
    );
}

// ---- account headroom ------------------------------------------------------------------

/// Targets following their own queues, with the stability knobs off, reserved as given,
/// and `others` reserved by functions the autoscaler does not manage.
fn headroom_fixture(targets: &[(&str, u32, u64)], others: u32, limit: u32, floor: u32) -> Fixture {
    let names: Vec<&str> = targets.iter().map(|t| t.0).collect();
    let policy = fleet(names.len()).replace("\"max\":100", "\"max\":1000");
    let f = fixture(&policy);
    f.world.lambda.set_pool(limit, floor);
    f.world.lambda.add("someone-else", Some(others), &[]);
    for (i, (_, reserved, visible)) in targets.iter().enumerate() {
        f.world.lambda.add(&format!("t{i}"), Some(*reserved), &[]);
        backlog(&f, i, *visible);
    }
    f
}

#[test]
fn scale_outs_share_the_headroom_in_priority_order_and_say_when_they_are_clamped() {
    // Unreserved: 500 - 160 - 0 = 340; above the floor of 100: 240 to share.
    let f = headroom_fixture(
        &[("t0", 10, 1000), ("t1", 50, 2000), ("t2", 100, 1500)],
        0,
        500,
        100,
    );
    let outcome = f.run(scheduled()).unwrap();
    // t0 (+900 %) first: +90; then t1 (+300 %): +150; t2 (+50 %) finds nothing left.
    assert_eq!(f.reserved("t0"), Some(100));
    assert_eq!(f.reserved("t1"), Some(200));
    assert_eq!(f.reserved("t2"), Some(100));
    assert!(
        has_reason(
            &outcome,
            "t2",
            "clamped by account headroom: 0 of 50 available (unreserved 340, floor 100"
        ),
        "{:?}",
        outcome.decisions
    );
    let clamps: Vec<_> = outcome
        .decisions
        .iter()
        .map(|d| (d.function.as_str(), d.headroom_clamp))
        .collect();
    assert_eq!(
        clamps,
        [
            ("t0", None),
            ("t1", None),
            (
                "t2",
                Some(HeadroomClamp {
                    wanted: 50,
                    granted: 0
                })
            )
        ]
    );
    assert_eq!(f.count("GetAccountSettings"), 1, "read once per invocation");
    assert_eq!(
        f.count("PutFunctionConcurrency"),
        2,
        "no write is refused for the floor"
    );
}

#[test]
fn a_scale_in_is_never_held_back_by_headroom_and_a_scale_out_without_room_says_so() {
    // Nothing above the floor: 300 - 200 = 100 unreserved, floor 100.
    let f = headroom_fixture(&[("t0", 100, 10), ("t1", 100, 5000)], 0, 300, 100);
    let outcome = f.run(scheduled()).unwrap();
    assert_eq!(f.reserved("t0"), Some(1), "the scale-in goes through");
    assert_eq!(f.reserved("t1"), Some(100));
    assert!(has_reason(
        &outcome,
        "t1",
        "clamped by account headroom: 0 of"
    ));
}

#[test]
fn the_floor_lambda_names_is_learned_and_the_target_retried_once_with_the_clamped_value() {
    // One target: no headroom read up front. A new account: floor 50. Unreserved 60.
    let f = headroom_fixture(&[("t0", 5, 1000)], 235, 300, 50);
    let outcome = f.run(scheduled()).unwrap();
    assert_eq!(
        f.reserved("t0"),
        Some(15),
        "60 unreserved + 5 freed - 50 floor = 15"
    );
    assert!(has_reason(
        &outcome,
        "t0",
        "Lambda refused: the account's unreserved pool would drop below its minimum of 50"
    ));
    assert!(has_reason(
        &outcome,
        "t0",
        "clamped by account headroom: 10 of 95 available (unreserved 60, floor 50"
    ));
    assert!(outcome.decisions[0].applied);
    assert_eq!(f.calls_of("PutFunctionConcurrency"), ["t0", "t0"]);
}

#[test]
fn a_refusal_for_the_floor_that_leaves_no_room_records_the_attempt_as_blocked() {
    // Unreserved 50 + 5 freed - floor 50: nothing above the current 5 fits.
    let f = headroom_fixture(&[("t0", 5, 1000)], 245, 300, 50);
    let outcome = f.run(scheduled()).unwrap();
    assert_eq!(f.reserved("t0"), Some(5), "{:?}", outcome.decisions);
    assert!(has_reason(
        &outcome,
        "t0",
        "blocked by account headroom: Lambda refused"
    ));
    let views = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f.autoscaler.activities("t0", 5))
        .unwrap();
    assert_eq!(views.len(), 1, "{views:?}");
    assert!(views[0].outcome.starts_with("blocked"), "{views:?}");
    assert_eq!(views[0].desired, Some(100), "the attempt as made");
}

#[test]
fn without_account_settings_a_refusal_for_the_floor_holds_the_target_and_fails_nothing() {
    let f = headroom_fixture(&[("t0", 5, 1000), ("t1", 50, 10)], 235, 300, 50);
    f.world.faults.inject(
        "GetAccountSettings",
        None,
        Some("AccessDeniedException"),
        "not authorized to perform: lambda:GetAccountSettings",
        None,
    );
    let outcome = f.run(scheduled()).unwrap();
    assert_eq!(f.reserved("t0"), Some(5), "held, never deleted");
    assert!(
        has_reason(
            &outcome,
            "t0",
            "blocked by account headroom: Lambda refused"
        ),
        "{:?}",
        outcome.decisions
    );
    assert!(has_reason(&outcome, "t0", "account headroom unknown"));
    assert_eq!(f.reserved("t1"), Some(1), "the scale-in is not held back");
}

// ---- faults with a defined outcome -------------------------------------------------------

#[test]
fn an_unreadable_queue_holds_the_target_or_scales_it_out_to_the_fallback_but_never_in() {
    let policy = |fallback: &str| {
        format!(
            r#"{{"targets":[{{"function":"a","min":1,"max":50,"on_metric_failure":{fallback},
                "queue":{{"name":"q","messages_per_instance":10}}}}]}}"#
        )
    };
    for (fallback, current, expected) in [
        ("\"hold\"", 7, 7),
        (r#"{"set":10}"#, 2, 10),
        (r#"{"set":10}"#, 30, 30),
    ] {
        let f = fixture(&policy(fallback)).functions(&[("a", Some(current))]);
        f.world.queues.set_depth("q", QueueDepth::default());
        f.world.faults.inject(
            "GetQueueAttributes",
            None,
            Some("AWS.SimpleQueueService.NonExistentQueue"),
            "gone",
            None,
        );
        let outcome = f.run(scheduled()).unwrap();
        assert_eq!(f.reserved("a"), Some(expected), "{fallback} from {current}");
        assert!(
            has_reason(
                &outcome,
                "a",
                "metrics unavailable (GetQueueAttributes on https://sqs."
            ),
            "{:?}",
            outcome.decisions
        );
    }
}

#[test]
fn a_target_that_is_gone_or_not_writable_fails_alone_with_its_name_and_the_permission() {
    let f = with_orders_put_failing(
        "AccessDeniedException",
        "User is not authorized to perform: lambda:PutFunctionConcurrency on resource: orders",
    );
    let err = f.run(alarm_event("backlog", "ALARM")).unwrap_err();
    assert_eq!(err.error_type(), "WriteDenied");
    assert!(
        err.to_string()
            .contains("the autoscaler may not change orders"),
        "{err}"
    );
    assert!(
        err.to_string().contains("lambda:PutFunctionConcurrency"),
        "{err}"
    );
    assert_eq!(f.reserved("billing"), Some(8), "the sibling proceeds");

    let f = fixture(POLICY)
        .functions(&[("billing", Some(1))])
        .alarms(&[("backlog", Alarm)]);
    let err = f.run(alarm_event("backlog", "ALARM")).unwrap_err();
    assert_eq!(err.error_type(), "FunctionNotFound");
    assert!(
        err.to_string()
            .starts_with("function orders does not exist"),
        "{err}"
    );
    assert_eq!(f.reserved("billing"), Some(8));
}

#[test]
fn an_update_in_progress_is_retried_and_the_change_lands() {
    let f = careful();
    f.world.faults.inject(
        "PutFunctionConcurrency",
        None,
        Some("ResourceConflictException"),
        "An update is in progress for resource: orders",
        Some(2),
    );
    let outcome = f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert!(outcome.decisions[0].applied);
    assert_eq!(f.reserved("orders"), Some(15));
    assert_eq!(f.count("PutFunctionConcurrency"), 3);
}

#[test]
fn a_write_whose_answer_was_lost_is_sent_again_only_while_no_other_writer_has_acted() {
    // It landed: not sent again, and applied.
    let f = careful();
    f.world.lambda.lose_answers("orders", 1, None);
    let outcome = f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert!(outcome.decisions[0].applied);
    assert_eq!(f.reserved("orders"), Some(15));
    assert_eq!(f.count("PutFunctionConcurrency"), 1);

    // It did not land (a server fault before the change), and nobody else wrote: sent again.
    let f = careful();
    f.world.faults.inject(
        "PutFunctionConcurrency",
        None,
        Some("ServiceException"),
        "unavailable",
        Some(1),
    );
    let outcome = f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert!(outcome.decisions[0].applied);
    assert_eq!(f.reserved("orders"), Some(15));
    assert_eq!(f.count("PutFunctionConcurrency"), 2);

    // It landed, and another writer's cap after it, which had seen it land: the cap stands,
    // and the change fails (the event comes again, and is decided again). A cap of 3 shows
    // in the reservation; a cap of 5, the value read before, in the saved state, which every
    // writer saves before it writes.
    for cap in [3, 5] {
        let f = careful();
        let (state, arn) = (f.world.state.clone(), MemoryLambda::arn("orders"));
        let another_writer: Meanwhile = Arc::new(move |reserved| {
            let (history, _) = state.get(&arn).unwrap();
            state.put(&arn, history);
            *reserved = Some(cap);
        });
        f.world
            .lambda
            .lose_answers("orders", 1, Some(another_writer));
        let error = f.run(alarm_event("backlog", "ALARM")).unwrap_err();
        assert_eq!(error.error_type(), "AwsCallFailed", "cap {cap}");
        assert_eq!(f.reserved("orders"), Some(cap));
        assert_eq!(f.count("PutFunctionConcurrency"), 1, "cap {cap}");
    }
}

// ---- events from elsewhere ---------------------------------------------------------------

#[test]
fn an_alarm_from_another_account_or_region_is_refused_and_nothing_changes() {
    let f = fixture(POLICY)
        .functions(&[("orders", Some(5)), ("billing", Some(1))])
        .alarms(&[("backlog", Alarm)]);
    f.autoscaler
        .learn_account("arn:aws:lambda:us-east-1:123456789012:function:lambda-autoscaler");
    let from = |account: &str, region: &str| {
        json!({"source": "aws.cloudwatch", "accountId": account, "region": region,
               "alarmData": {"alarmName": "backlog", "state": {"value": "ALARM"}}})
    };
    let err = f.run(from("999999999999", "us-east-1")).unwrap_err();
    assert_eq!(err.error_type(), "ForeignEvent");
    assert!(
        err.to_string()
            .starts_with("refused: alarm backlog is in account 999999999999, not 123456789012"),
        "{err}"
    );
    let err = f.run(from("123456789012", "eu-west-1")).unwrap_err();
    assert!(
        err.to_string().contains("Region eu-west-1, not us-east-1"),
        "{err}"
    );
    // SNS notifications carry the Region in the alarm's ARN.
    let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json!({
        "AlarmName": "backlog", "NewStateValue": "ALARM", "AWSAccountId": "123456789012",
        "AlarmArn": "arn:aws:cloudwatch:ap-south-1:123456789012:alarm:backlog"}).to_string()}}]});
    assert_eq!(f.run(sns).unwrap_err().error_type(), "ForeignEvent");
    assert_eq!(
        f.count("PutFunctionConcurrency") + f.count("GetFunction"),
        0
    );
    // From home, the same event acts.
    f.run(from("123456789012", "us-east-1")).unwrap();
    assert_eq!(f.reserved("orders"), Some(15));
}

#[test]
fn a_command_naming_a_function_in_another_account_never_moves_the_one_here() {
    let command = |arn: &str| json!({"function": arn, "desiredConcurrency": 40});
    let elsewhere = "arn:aws:lambda:us-east-1:999999999999:function:orders";
    // Without knowing its account (the CLI), the autoscaler compares with the function it
    // would change.
    let f = fixture(POLICY).functions(&[("orders", Some(5))]);
    let err = f.run(command(elsewhere)).unwrap_err();
    assert_eq!(err.error_type(), "ForeignEvent");
    assert!(
        err.to_string().contains(
            "account 999999999999, not 123456789012: the function managed under that name is \
             arn:aws:lambda:us-east-1:123456789012:function:orders"
        ),
        "{err}"
    );
    assert_eq!(f.reserved("orders"), Some(5));
    // Knowing it (in Lambda), it refuses before any read.
    f.autoscaler
        .learn_account("arn:aws:lambda:us-east-1:123456789012:function:lambda-autoscaler");
    f.world.calls.clear();
    assert_eq!(
        f.run(command(elsewhere)).unwrap_err().error_type(),
        "ForeignEvent"
    );
    assert!(f.world.calls.all().is_empty());
    // The function's own ARN works.
    f.run(command(&MemoryLambda::arn("orders"))).unwrap();
    assert_eq!(f.reserved("orders"), Some(40));
}

// ---- the plan's headroom, for any mix of targets ---------------------------------------

mod headroom_property {
    use super::*;
    use proptest::prelude::*;

    /// What a scale-out wanted (its increase) and got, from its record.
    fn wanted_and_got(d: &lambda_autoscaler::report::DecisionRecord) -> Option<(u32, u32)> {
        let got = d.desired?.saturating_sub(d.previous?);
        match d.headroom_clamp {
            Some(clamp) => Some((clamp.wanted, got)),
            None if got > 0 => Some((got, got)),
            None => None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_headroom_is_never_overspent_and_goes_to_the_most_urgent_first(
            targets in proptest::collection::vec((1u32..40, 0u64..3000), 1..25),
            others in 0u32..600,
            floor in prop_oneof![Just(10u32), Just(50), Just(100)],
        ) {
            let limit = 1000;
            let reserved: u32 = targets.iter().map(|t| t.0).sum::<u32>() + others;
            prop_assume!(reserved + floor <= limit);
            let pairs: Vec<(&str, u32, u64)> = targets.iter().map(|(r, b)| ("", *r, *b)).collect();
            let f = headroom_fixture(&pairs, others, limit, floor);
            let outcome = f.run(scheduled()).unwrap();
            // The same targets in an account with room for all: what each would get unclamped.
            let roomy = headroom_fixture(&pairs, others, 1_000_000, floor).run(scheduled()).unwrap();
            let unclamped: std::collections::HashMap<&str, Option<u32>> =
                roomy.decisions.iter().map(|d| (d.function.as_str(), d.desired)).collect();
            for d in &outcome.decisions {
                let free = unclamped[d.function.as_str()];
                match d.headroom_clamp {
                    // The record says what it asked for and what it got.
                    Some(clamp) => {
                        prop_assert_eq!(Some(clamp.wanted), free.zip(d.previous).map(|(to, from)| to - from));
                        prop_assert_eq!(Some(clamp.granted), d.desired.zip(d.previous).map(|(to, from)| to - from));
                        prop_assert!(clamp.granted < clamp.wanted, "{:?}", clamp);
                    }
                    // Unclamped, it got what it asked for.
                    None => prop_assert_eq!(d.desired, free, "{}: {:?}", d.function, d.reasons),
                }
            }
            // Overspending would have met Lambda's refusal (the world enforces the floor): a
            // refused call is counted and not applied.
            let applied = outcome.decisions.iter().filter(|d| d.applied).count();
            prop_assert_eq!(f.count("PutFunctionConcurrency"), applied);

            // Priority: by relative shortfall (ties: plan order), nothing after a clamped
            // scale-out got anything.
            let mut scale_outs: Vec<(u64, usize, u32, u32)> = outcome
                .decisions
                .iter()
                .enumerate()
                .filter_map(|(i, d)| {
                    let (wanted, got) = wanted_and_got(d)?;
                    let from = d.previous?;
                    Some((u64::from(wanted) * 1_000_000 / u64::from(from.max(1)), i, wanted, got))
                })
                .collect();
            scale_outs.sort_by_key(|(shortfall, i, _, _)| (std::cmp::Reverse(*shortfall), *i));
            let mut short = false;
            for (_, i, wanted, got) in &scale_outs {
                if short {
                    prop_assert_eq!(*got, 0, "target {} got {} after a clamped one", i, got);
                }
                short |= got < wanted;
            }
        }
    }
}

#[test]
fn a_state_table_that_cannot_be_read_leaves_its_targets_alone() {
    let f = careful();
    f.world.faults.inject(
        "BatchGetItem",
        None,
        Some("ProvisionedThroughputExceededException"),
        "throughput exceeded",
        None,
    );
    let err = f.run(alarm_event("backlog", "ALARM")).unwrap_err();
    assert_eq!(err.error_type(), "StateUnavailable");
    assert!(err.to_string().contains("BatchGetItem"), "{err}");
    assert_eq!(f.count("PutFunctionConcurrency") + f.count("PutItem"), 0);
    assert_eq!(f.reserved("orders"), Some(5));
}

#[test]
fn the_deadline_keeps_time_for_publishing_what_is_left_to_report() {
    let n = 400;
    let f = fixture_with(&fleet(n), Settings::default(), true);
    for i in 0..n {
        f.world.lambda.add(&format!("t{i}"), Some(1), &[]);
        backlog(&f, i, 50);
    }
    // A slow CloudWatch (moto takes 2 ms): 3 ms per point, 0.3 s per call of 100 points.
    // When the writes stop, about a thousand points are left: 3 s of publishing, more than
    // the 2 s margin.
    f.world
        .cloudwatch
        .set_publish_time_per_point(Duration::from_millis(3));
    let outcome = f.run_until(scheduled(), Some(20.0)).unwrap();
    assert!(outcome.deferred > 300, "{}", outcome.deferred);
    // The last metrics call ended before the deadline, not just the last write.
    assert!(
        f.world.clock.elapsed() <= Duration::from_secs(20),
        "{:?}",
        f.world.clock.elapsed()
    );
}

#[test]
fn knowing_its_own_account_the_autoscaler_reads_state_and_function_together_and_still_checks() {
    for (own, reads_of_state) in [("123456789012", 1), ("999999999999", 2)] {
        let f = careful();
        // A scale-out 20 s ago: the cooldown holds the alarm's next step.
        f.world.state.put(
            &MemoryLambda::arn("orders"),
            History {
                last_change: Some(LastChange {
                    at: NOW - 20,
                    direction: Direction::Out,
                }),
                recommendations: vec![],
                event_sources: Vec::new(),
                in_force_since: None,
                activities: Vec::new(),
                earlier_activities: 0,
                load: Default::default(),
            },
        );
        f.autoscaler.learn_account(&format!(
            "arn:aws:lambda:us-east-1:{own}:function:lambda-autoscaler"
        ));
        let outcome = f.run(alarm_event("backlog", "ALARM")).unwrap();
        assert!(has_reason(
            &outcome,
            "orders",
            "held: scale-out cooldown, 40 s left"
        ));
        // The keys guessed from the account are checked against GetFunction's ARN: a wrong
        // guess costs one more read, never the wrong state.
        assert_eq!(f.count("BatchGetItem"), reads_of_state, "as {own}");
        assert_eq!(f.reserved("orders"), Some(5));
    }
}

// ---- metrics as the Lambda function writes them: Embedded Metric Format --------------------

/// The fixture with the Lambda binary's metrics: EMF lines, here into `Captured`.
fn emf_fixture(policy: &str) -> (Fixture, Captured) {
    let world = World::new(NOW);
    let settings = Settings::default();
    let mut ctx = world.context(settings.control_plane_rps, settings.get_function_rps, true);
    let captured = Captured::default();
    ctx.metrics = Arc::new(Emf::new(Box::new(captured.clone()), world.clock.clone()));
    let autoscaler = Autoscaler::new(Policy::from_json(policy, "test"), settings, ctx);
    (Fixture { world, autoscaler }, captured)
}

/// CloudWatch's units (the specification's `Unit` pattern).
const EMF_UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks one line against CloudWatch's Embedded Metric Format specification and returns its
/// document: a JSON object with nothing before or after it; `_aws` with an integer
/// `Timestamp` in epoch milliseconds and `CloudWatchMetrics` (no other members); each
/// directive with `Namespace`, `Dimensions` (at least one set, each of at most 30 keys) and
/// `Metrics` (at most 100, each `Name` and a CloudWatch `Unit`); every dimension a string
/// member of the root (1 to 1024 characters), every metric a number or an array of at most 100
/// numbers at the root.
fn emf_document(line: &str) -> Value {
    assert!(
        line.starts_with('{') && line.ends_with('}'),
        "data before or after the object: {line:?}"
    );
    let document: Value = serde_json::from_str(line).expect("the line is one JSON value");
    let root = document.as_object().expect("a JSON object");
    let meta = root["_aws"].as_object().expect("_aws is an object");
    let mut members: Vec<&str> = meta.keys().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, ["CloudWatchMetrics", "Timestamp"], "{line}");
    let timestamp = meta["Timestamp"].as_i64().expect("an integer Timestamp");
    assert!(
        (1_000_000_000_000..10_000_000_000_000).contains(&timestamp),
        "Timestamp in epoch milliseconds: {timestamp}"
    );
    let directives = meta["CloudWatchMetrics"].as_array().unwrap();
    assert!(!directives.is_empty(), "{line}");
    for directive in directives {
        let directive = directive.as_object().unwrap();
        let mut members: Vec<&str> = directive.keys().map(String::as_str).collect();
        members.sort_unstable();
        assert_eq!(members, ["Dimensions", "Metrics", "Namespace"], "{line}");
        let namespace = directive["Namespace"].as_str().unwrap();
        assert!((1..=1024).contains(&namespace.len()), "{line}");
        let sets = directive["Dimensions"].as_array().unwrap();
        assert!(!sets.is_empty(), "at least one dimension set: {line}");
        for set in sets {
            let keys = set.as_array().expect("a dimension set is an array");
            assert!(keys.len() <= 30, "{line}");
            for key in keys {
                let key = key.as_str().unwrap();
                assert!((1..=250).contains(&key.len()), "{line}");
                let value = root[key]
                    .as_str()
                    .expect("a dimension is a string at the root");
                assert!((1..=1024).contains(&value.len()), "{line}");
            }
        }
        let metrics = directive["Metrics"].as_array().unwrap();
        assert!(metrics.len() <= 100, "{} metrics: {line}", metrics.len());
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap();
            assert!((1..=1024).contains(&name.len()), "{line}");
            if let Some(unit) = metric.get("Unit") {
                assert!(EMF_UNITS.contains(&unit.as_str().unwrap()), "{line}");
            }
            match &root[name] {
                Value::Number(_) => {}
                Value::Array(values) => {
                    assert!(values.len() <= 100, "{line}");
                    assert!(values.iter().all(Value::is_number), "{line}");
                }
                other => panic!("metric {name} is {other} at the root: {line}"),
            }
        }
    }
    document
}

/// Every metric of the EMF documents: (function, metric, unit) -> values, in order.
fn emf_values(documents: &[Value]) -> BTreeMap<(Option<String>, String, String), Vec<f64>> {
    let mut values: BTreeMap<_, Vec<f64>> = BTreeMap::new();
    for document in documents {
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        let function = document
            .get("FunctionName")
            .and_then(Value::as_str)
            .map(str::to_owned);
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap().to_owned();
            let unit = metric["Unit"].as_str().unwrap().to_owned();
            let found = match &document[&name] {
                Value::Array(many) => many.iter().map(|v| v.as_f64().unwrap()).collect(),
                one => vec![one.as_f64().unwrap()],
            };
            values
                .entry((function.clone(), name, unit))
                .or_default()
                .extend(found);
        }
    }
    values
}

#[test]
fn the_lambda_functions_metrics_are_emf_lines_one_per_target_that_the_dashboard_finds() {
    let (f, captured) = emf_fixture(POLICY);
    let f = f
        .functions(&[("orders", Some(5)), ("billing", None)])
        .alarms(&[("backlog", Alarm), ("db", Fine)]);
    f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!(f.count("PutMetricData"), 0, "no API call");
    let documents: Vec<Value> = captured.lines().iter().map(|l| emf_document(l)).collect();
    let summary: Vec<(Option<&str>, &Value, &Value)> = documents
        .iter()
        .map(|d| {
            let directive = &d["_aws"]["CloudWatchMetrics"][0];
            (
                d.get("FunctionName").and_then(Value::as_str),
                &directive["Namespace"],
                &directive["Dimensions"],
            )
        })
        .collect();
    // What template.yaml's dashboard searches: {namespace,FunctionName} per function, and
    // DeferredTargets in the namespace without a dimension.
    assert_eq!(
        summary,
        [
            (
                Some("orders"),
                &json!("LambdaAutoscaler"),
                &json!([["FunctionName"]])
            ),
            (
                Some("billing"),
                &json!("LambdaAutoscaler"),
                &json!([["FunctionName"]])
            ),
            (None, &json!("LambdaAutoscaler"), &json!([[]])),
        ]
    );
    assert_eq!(documents[0]["_aws"]["Timestamp"], json!(NOW * 1000));
    let count = |function: Option<&str>, metric: &str| {
        (
            function.map(str::to_owned),
            metric.to_owned(),
            "Count".to_owned(),
        )
    };
    let expected = BTreeMap::from([
        (count(Some("orders"), "DesiredConcurrency"), vec![15.0]),
        (count(Some("orders"), "ReservedConcurrency"), vec![15.0]),
        (count(Some("orders"), "ScalingActions"), vec![1.0]),
        (count(Some("billing"), "DesiredConcurrency"), vec![8.0]),
        (count(Some("billing"), "ReservedConcurrency"), vec![8.0]),
        (count(Some("billing"), "ScalingActions"), vec![1.0]),
        (count(None, "DeferredTargets"), vec![0.0]),
    ]);
    assert_eq!(emf_values(&documents), expected);
}

#[test]
fn a_large_reconciliation_writes_every_point_once_in_valid_emf_lines() {
    let n = 60;
    let (f, captured) = emf_fixture(&fleet(n));
    for i in 0..n {
        f.world.lambda.add(&format!("t{i}"), Some(1), &[]);
        backlog(&f, i, 50);
    }
    let outcome = f.run(scheduled()).unwrap();
    assert_eq!(outcome.decisions.len(), n);
    let documents: Vec<Value> = captured.lines().iter().map(|l| emf_document(l)).collect();
    // 181 points, more than one batch of the publisher: every one arrives, none twice.
    let mut expected: BTreeMap<_, Vec<f64>> = BTreeMap::new();
    for decision in &outcome.decisions {
        for point in decision.metric_points() {
            expected
                .entry((point.function, point.metric.to_owned(), "Count".to_owned()))
                .or_default()
                .push(point.value);
        }
    }
    expected.insert((None, "DeferredTargets".into(), "Count".into()), vec![0.0]);
    assert_eq!(emf_values(&documents), expected);
    assert_eq!(f.count("PutMetricData"), 0);
}

#[test]
fn a_target_that_fails_is_logged_at_warn_also_without_a_record() {
    let f = fixture(POLICY)
        .functions(&[("orders", Some(5)), ("billing", Some(2))])
        .alarms(&[("backlog", Alarm), ("db", Fine)]);
    f.world.faults.inject(
        "GetFunction",
        Some("orders"),
        Some("ServiceException"),
        "injected",
        None,
    );
    let (result, logs) = logged(|| f.run(scheduled()));
    assert!(result.is_err());
    let failed: Vec<&String> = (logs.iter())
        .filter(|l| l.starts_with(" WARN") && l.contains("a target failed"))
        .collect();
    assert_eq!(failed.len(), 1, "{logs:#?}");
    assert!(failed[0].contains("orders"), "{logs:#?}");
    assert!(failed[0].contains("injected"), "{logs:#?}");
    // The target that was decided has its decision line, and no failure.
    assert!(
        (logs.iter()).any(|l| l.contains("scaling decision") && l.contains("billing")),
        "{logs:#?}"
    );
}

#[test]
fn a_retry_after_the_floor_refusal_that_fails_to_save_names_the_mapping_the_refused_attempt_wrote()
{
    // t0 scales out from 5; its new mapping (no maximum yet) is lowered to its share first,
    // then Lambda refuses the reservation for the unreserved floor. The retry's save fails:
    // the mapping written for the refused attempt stands, and the report says so.
    let f = headroom_fixture(&[("t0", 5, 1000)], 235, 300, 50);
    let m = f.world.lambda.add_mapping("t0", "q0", None, true);
    f.world.faults.inject_after(
        1,
        "PutItem",
        None,
        Some("ProvisionedThroughputExceededException"),
        "injected",
        None,
    );
    let trigger = lambda_autoscaler::trigger::parse_event(&scheduled()).unwrap();
    let (outcome, error) = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f.autoscaler.handle_reporting(trigger, None))
        .unwrap();
    assert!(f.world.lambda.mapping(&m).maximum_concurrency.is_some());
    assert_eq!(f.reserved("t0"), Some(5));
    let error = error.unwrap();
    assert_eq!(error.error_type(), "StateUnavailable");
    assert!(
        error
            .to_string()
            .contains(&format!("after writing event source mapping {m}")),
        "{error}"
    );
    let record = &outcome.decisions[0];
    assert!(
        (record.event_sources.iter()).any(|s| s.uuid == m && s.applied),
        "{:?}",
        record.event_sources
    );
}

/// Two targets with room for 80 more above the floor (unreserved 500 - 300 - 10 - 10 = 180,
/// floor 100): a first run lists the account's mappings (kept 5 minutes) and changes
/// nothing; then someone creates another mapping for t0, and a minute later t0's queue asks
/// for 100.
fn a_scale_out_whose_mappings_changed_since_the_listing() -> Fixture {
    let f = headroom_fixture(&[("t0", 10, 100), ("t1", 10, 100)], 300, 500, 100);
    f.world.lambda.add_mapping("t0", "q0", Some(10), true);
    let first = f.run(scheduled()).unwrap();
    assert_eq!(f.reserved("t0"), Some(10), "{:#?}", first.decisions);
    f.world.lambda.add_mapping("t0", "q0-extra", None, true);
    backlog(&f, 0, 1000);
    f.world.clock.advance(Duration::from_secs(60));
    f
}

#[test]
fn a_scale_out_whose_mappings_changed_since_the_listing_keeps_its_headroom_clamp() {
    let f = a_scale_out_whose_mappings_changed_since_the_listing();
    let puts_before = f.calls_of("PutFunctionConcurrency").len();
    let accounts_before = f.count("GetAccountSettings");
    let outcome = f.run(scheduled()).unwrap();
    let t0 = outcome
        .decisions
        .iter()
        .find(|d| d.function == "t0")
        .unwrap();
    assert_eq!(f.reserved("t0"), Some(90), "{:#?}", t0);
    assert!(
        has_reason(&outcome, "t0", "clamped by account headroom"),
        "{:#?}",
        t0.reasons
    );
    assert!(
        has_reason(
            &outcome,
            "t0",
            "event source mappings changed since the account's listing"
        ),
        "{:#?}",
        t0.reasons
    );
    assert_eq!(
        f.calls_of("PutFunctionConcurrency")[puts_before..]
            .iter()
            .filter(|r| r.as_str() == "t0")
            .count(),
        1,
        "no write refused for the floor: {:#?}",
        t0.reasons
    );
    assert_eq!(f.count("GetAccountSettings") - accounts_before, 1);
}

#[test]
fn an_unknown_headroom_is_still_said_after_the_mappings_changed() {
    let f = a_scale_out_whose_mappings_changed_since_the_listing();
    f.world.faults.inject(
        "GetAccountSettings",
        None,
        Some("ServiceException"),
        "injected",
        None,
    );
    let outcome = f.run(scheduled()).unwrap();
    let t0 = outcome
        .decisions
        .iter()
        .find(|d| d.function == "t0")
        .unwrap();
    assert!(
        has_reason(
            &outcome,
            "t0",
            "event source mappings changed since the account's listing"
        ),
        "{:#?}",
        t0.reasons
    );
    assert!(
        has_reason(&outcome, "t0", "account headroom unknown"),
        "the scale-out was not limited by the headroom, and its record does not say so: {:#?}",
        t0.reasons
    );
}

#[test]
fn a_headroom_read_after_all_takes_back_the_note_that_it_was_unknown() {
    // Two scale-outs: the headroom is read up front, and that read fails once (unknown).
    // t0's write is refused for the floor; the headroom read anew succeeds, and t0 is
    // decided again, clamped by it.
    let f = headroom_fixture(&[("t0", 5, 1000), ("t1", 5, 1000)], 230, 300, 50);
    f.world.faults.inject(
        "GetAccountSettings",
        None,
        Some("AccessDeniedException"),
        "not authorized to perform: lambda:GetAccountSettings",
        Some(1),
    );
    let outcome = f.run(scheduled()).unwrap();
    let t0 = outcome
        .decisions
        .iter()
        .find(|d| d.function == "t0")
        .unwrap();
    let unknown = has_reason(&outcome, "t0", "account headroom unknown");
    let anew = has_reason(&outcome, "t0", "decided again with the headroom read anew");
    assert!(anew, "scenario not reached: {:#?}", t0.reasons);
    assert!(
        !unknown,
        "the record says the decision was not limited by the headroom, and that it was clamped by it: {:#?}",
        t0.reasons
    );
    // The attempt saved in the history says what the record says.
    let (history, _) = f
        .world
        .state
        .get(&lambda_autoscaler::memory::MemoryLambda::arn("t0"))
        .unwrap();
    let attempt = history.activities.last().unwrap();
    assert!(
        (attempt.reasons.iter()).any(|r| r.contains("decided again with the headroom read anew")),
        "{:#?}",
        attempt.reasons
    );
    assert!(
        !(attempt.reasons.iter()).any(|r| r.contains("account headroom unknown")),
        "{:#?}",
        attempt.reasons
    );
}

/// Another writer's scale-out 5 -> 20 of each function, saved at its time and still pending.
fn another_writers_scale_out_saved(f: &Fixture, saved: &[(&str, i64)]) {
    for &(function, at) in saved {
        let history = History {
            activities: vec![Activity {
                at,
                trigger: "queue".into(),
                previous: Some(5),
                desired: Some(20),
                reasons: vec![],
                outcome: ActivityOutcome::Pending,
            }],
            ..History::default()
        };
        f.world.state.put_as(
            &MemoryLambda::arn(function),
            history,
            Some(lambda_autoscaler::lease::Written { at, ours: false }),
        );
    }
}

/// Two capped targets, each with another writer's attempt pending: `orders` saved just now
/// (12 s of lease left), `billing` 10 s ago (2 s left).
fn two_caps_behind_other_writers_attempts() -> Fixture {
    const TWO_CAPS: &str = r#"{"targets": [
      { "function": "orders", "min": 2, "max": 100, "tolerance": 0, "scale_out_cooldown_seconds": 0,
        "scale_in_cooldown_seconds": 0, "scale_in_stabilization_seconds": 0, "alarms": [
          { "name": "db", "on_alarm": { "cap": 3 } } ] },
      { "function": "billing", "min": 2, "max": 100, "tolerance": 0, "scale_out_cooldown_seconds": 0,
        "scale_in_cooldown_seconds": 0, "scale_in_stabilization_seconds": 0, "alarms": [
          { "name": "db", "on_alarm": { "cap": 3 } } ] }
    ]}"#;
    let f = fixture(TWO_CAPS)
        .functions(&[("orders", Some(5)), ("billing", Some(5))])
        .alarms(&[("db", Alarm)]);
    another_writers_scale_out_saved(&f, &[("orders", NOW), ("billing", NOW - 10)]);
    f
}

#[test]
fn each_target_waits_for_its_own_writers_lease_not_the_longest_in_its_chunk() {
    // 8 s to the deadline (2 s margin): billing's 2 s wait and its write fit, orders' 12 s
    // do not (before, both were deferred for orders' 12 s).
    let f = two_caps_behind_other_writers_attempts();
    let outcome = f.run_until(alarm_event("db", "ALARM"), Some(8.0)).unwrap();
    assert_eq!(
        f.reserved("billing"),
        Some(3),
        "billing waited only for its own lease"
    );
    let orders = outcome
        .decisions
        .iter()
        .find(|d| d.function == "orders")
        .unwrap();
    assert!(orders.deferred, "{:#?}", orders.reasons);
    assert!(
        has_reason(&outcome, "orders", "may still land for 10 s"),
        "{:#?}",
        orders.reasons
    );
    let billing = outcome
        .decisions
        .iter()
        .find(|d| d.function == "billing")
        .unwrap();
    assert!(!billing.deferred, "{:#?}", billing.reasons);
    // With time for both, billing's cap goes to the writer when its own lease ends, before
    // orders is read again at the end of its own (the test clock jumps at each sleep, so
    // the order of the calls tells it, not their times).
    let f = two_caps_behind_other_writers_attempts();
    f.run_until(alarm_event("db", "ALARM"), Some(30.0)).unwrap();
    assert_eq!(
        (f.reserved("orders"), f.reserved("billing")),
        (Some(3), Some(3))
    );
    let calls = f.world.calls.all();
    let at = |operation: &str, function: &str| {
        (calls.iter())
            .rposition(|c| c.operation == operation && c.resource == function)
            .unwrap()
    };
    assert!(
        at("PutFunctionConcurrency", "billing") < at("GetFunction", "orders"),
        "{calls:#?}"
    );
    assert!(at("GetFunction", "orders") < at("PutFunctionConcurrency", "orders"));
}

/// `n` targets `t0`, `t1`, ... reserved at 5, each capped at 10 by the `db` alarm (in ALARM),
/// no stability knobs, `GetFunction` paced at `get_function_rps`.
fn capped_at_ten(n: usize, get_function_rps: f64) -> Fixture {
    let targets: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{ "function": "t{i}", "min": 2, "max": 100, "tolerance": 0,
                "scale_out_cooldown_seconds": 0, "scale_in_cooldown_seconds": 0,
                "scale_in_stabilization_seconds": 0,
                "alarms": [ {{ "name": "db", "on_alarm": {{ "cap": 10 }} }} ] }}"#
            )
        })
        .collect();
    let policy = format!(r#"{{"targets": [{}]}}"#, targets.join(","));
    let settings = Settings {
        get_function_rps,
        ..Settings::default()
    };
    let f = fixture_with(&policy, settings, true).alarms(&[("db", Alarm)]);
    for i in 0..n {
        f.world
            .lambda
            .add(&format!("t{i}"), Some(5), &[("autoscaler:enabled", "true")]);
    }
    f
}

/// 101 targets with a cap of 10 (two chunks). `t0` (chunk 1) has another writer's attempt
/// saved just now (12 s of lease); `t100` (chunk 2) one saved 10 s ago (2 s left), whose
/// write (5 -> 20) lands 1 s into the run: after this run read t100, before its lease ended.
#[test]
fn a_target_whose_writers_lease_ends_while_others_are_waited_for_is_read_again_not_decided_stale() {
    let f = capped_at_ten(101, 10_000.0);
    another_writers_scale_out_saved(&f, &[("t0", NOW), ("t100", NOW - 10)]);
    f.world.lambda.land_at("t100", 20, Duration::from_secs(1));
    let outcome = f.run_until(alarm_event("db", "ALARM"), Some(40.0)).unwrap();
    let t100 = outcome
        .decisions
        .iter()
        .find(|d| d.function == "t100")
        .unwrap();
    let gets = f.calls_of("GetFunction");
    assert_eq!(
        gets.iter().filter(|r| r.as_str() == "t100").count(),
        2,
        "read, then read again after its lease: {:#?}",
        t100.reasons
    );
    // t0 was read again after its lease (its writer's 20 never landed): 5, within the cap.
    assert_eq!(f.reserved("t0"), Some(5));
    // t100 too, after its lease, which had ended by the time t0's wait was over: its
    // writer's 20 had landed, and the cap brings it down (it was decided from the 5 read
    // during the lease, and left at 20 over the cap of 10).
    assert_eq!(f.reserved("t100"), Some(10), "t100 left above its cap");
}

/// A save made by another writer while this run's chunk was still being read (the CLI reads
/// the state after the functions) keeps its whole lease, counted from the save (it was cut
/// short by the time the chunk took).
#[test]
fn a_save_made_while_the_chunk_was_read_keeps_its_whole_lease() {
    let f = capped_at_ten(4, 1.0);
    // Another writer saved t0's scale-out 5 -> 20 at NOW+3 (after this run read t0's
    // function at NOW, before it read the state at about NOW+3); its write starts within
    // 5 s of the save and lands at NOW+13, within its 12 s lease.
    let at = NOW + 3;
    another_writers_scale_out_saved(&f, &[("t0", at)]);
    f.world.lambda.land_at("t0", 20, Duration::from_secs(13));
    let outcome = f.run_until(alarm_event("db", "ALARM"), Some(60.0)).unwrap();
    let t0 = outcome
        .decisions
        .iter()
        .find(|d| d.function == "t0")
        .unwrap();
    let calls: Vec<String> = (f.world.calls.all().into_iter())
        .map(|c| format!("{:?} {} {}", c.at, c.operation, c.resource))
        .collect();
    assert_eq!(
        f.reserved("t0"),
        Some(10),
        "t0 left above its cap: {:#?} {calls:#?}",
        t0.reasons
    );
}
