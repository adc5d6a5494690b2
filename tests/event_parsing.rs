//! Event parsing from the outside: every sample in `events/`, every envelope AWS uses, and
//! the malformed inputs that must be refused with an error naming where (never a panic).

use lambda_autoscaler::alarm::AlarmState;
use lambda_autoscaler::function_ref::FunctionRef;
use lambda_autoscaler::trigger::{
    parse_event, parse_event_bytes, AlarmSignal, DirectCommand, EventError, MetricRef, Origin,
    QueueRecord, Signal, Trigger, Via, MAX_EVENT_BYTES,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

fn sample(file: &str) -> Trigger {
    let path = events_dir().join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_event_bytes(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn signals(trigger: Trigger) -> Vec<Signal> {
    match trigger {
        Trigger::Signals(signals) => signals,
        other => panic!("expected Trigger::Signals, got {other:?}"),
    }
}

fn queue(trigger: Trigger) -> Vec<QueueRecord> {
    match trigger {
        Trigger::Queue(records) => records,
        other => panic!("expected Trigger::Queue, got {other:?}"),
    }
}

fn alarm(signal: Signal) -> AlarmSignal {
    match signal {
        Signal::Alarm(alarm) => alarm,
        other => panic!("expected an alarm signal, got {other:?}"),
    }
}

fn direct(signal: Signal) -> DirectCommand {
    match signal {
        Signal::Direct(command) => command,
        other => panic!("expected a direct command, got {other:?}"),
    }
}

/// The one alarm of an event that carries exactly one signal.
fn only_alarm(trigger: Trigger) -> AlarmSignal {
    let mut signals = signals(trigger);
    assert_eq!(signals.len(), 1, "{signals:?}");
    alarm(signals.remove(0))
}

/// A metric an alarm watches; `_name` is the metric's name, which the parser does not keep.
fn metric(namespace: &str, _name: &str, dimensions: &[(&str, &str)]) -> MetricRef {
    MetricRef {
        namespace: namespace.to_owned(),
        dimensions: dimensions
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// Where the samples' alarms live.
fn home() -> Origin {
    Origin {
        account: Some("123456789012".into()),
        region: Some("us-east-1".into()),
    }
}

fn orders_backlog_metric() -> MetricRef {
    metric(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        &[("QueueName", "orders")],
    )
}

fn reports_math_metrics() -> Vec<MetricRef> {
    vec![
        metric("AWS/Lambda", "Errors", &[("FunctionName", "reports-api")]),
        metric(
            "AWS/Lambda",
            "Invocations",
            &[("FunctionName", "reports-api")],
        ),
    ]
}

fn parse_err(event: &Value) -> EventError {
    match parse_event(event) {
        Ok(trigger) => panic!("expected an error, parsed {trigger:?} from {event}"),
        Err(e) => e,
    }
}

fn bytes_err(bytes: &[u8]) -> EventError {
    match parse_event_bytes(bytes) {
        Ok(trigger) => panic!("expected an error, parsed {trigger:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_error(e: &EventError, location: &str, message_part: &str) {
    assert_eq!(e.location, location, "location of {e}");
    assert!(
        e.message.contains(message_part),
        "message of {e:?} should contain {message_part:?}"
    );
}

/// A CloudWatch Lambda-action payload for a plain metric alarm.
fn lambda_action(name: &str, state: &str) -> Value {
    json!({
        "source": "aws.cloudwatch",
        "alarmArn": format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"),
        "accountId": "123456789012",
        "time": "2026-11-28T12:36:15.490+0000",
        "region": "us-east-1",
        "alarmData": {
            "alarmName": name,
            "state": { "value": state, "reason": "r", "timestamp": "2026-11-28T12:36:15.490+0000" },
            "previousState": { "value": "OK", "reason": "r", "timestamp": "2026-11-28T12:31:15.120+0000" },
            "configuration": {
                "metrics": [{
                    "id": "m1",
                    "metricStat": {
                        "metric": {
                            "namespace": "AWS/SQS",
                            "name": "ApproximateNumberOfMessagesVisible",
                            "dimensions": { "QueueName": "orders" }
                        },
                        "period": 60,
                        "stat": "Maximum"
                    },
                    "returnData": true
                }]
            }
        }
    })
}

/// An EventBridge "CloudWatch Alarm State Change" event with the given detail.
fn eventbridge(detail: Value) -> Value {
    json!({
        "version": "0",
        "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2026-11-28T15:20:01Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail
    })
}

/// The alarm notification CloudWatch publishes to SNS for a plain metric alarm.
fn notification(name: &str, new_state: &str) -> Value {
    json!({
        "AlarmName": name,
        "AlarmDescription": "Orders queue backlog above 1000 messages",
        "AWSAccountId": "123456789012",
        "AlarmConfigurationUpdatedTimestamp": "2026-11-20T09:12:44.115+0000",
        "NewStateValue": new_state,
        "NewStateReason": "Threshold Crossed",
        "StateChangeTime": "2026-11-28T00:05:12.842+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"),
        "OldStateValue": "OK",
        "OKActions": [],
        "AlarmActions": [],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Namespace": "AWS/SQS",
            "StatisticType": "Statistic",
            "Statistic": "MAXIMUM",
            "Unit": null,
            "Dimensions": [{ "value": "orders", "name": "QueueName" }],
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 1000.0,
            "TreatMissingData": "missing",
            "EvaluateLowSampleCountPercentile": ""
        }
    })
}

/// An SNS envelope (as SNS delivers to SQS without raw message delivery).
fn sns_envelope(message: &str) -> Value {
    json!({
        "Type": "Notification",
        "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:autoscaler-alarms",
        "Message": message,
        "Timestamp": "2026-11-28T00:05:12.901Z"
    })
}

fn sns_record(message: &str) -> Value {
    json!({
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:autoscaler-alarms:2bcf",
        "Sns": sns_envelope(message)
    })
}

/// A Lambda event from an SNS subscription carrying `message`.
fn sns_event(message: &str) -> Value {
    json!({ "Records": [sns_record(message)] })
}

fn sqs_record(message_id: &str, body: &str) -> Value {
    json!({
        "messageId": message_id,
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a1",
        "body": body,
        "attributes": { "ApproximateReceiveCount": "1" },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:autoscaler-events",
        "awsRegion": "us-east-1"
    })
}

fn direct_command(desired: Value) -> Value {
    json!({ "function": "reports-api", "desiredConcurrency": desired })
}

/// `depth` nested arrays, as JSON text.
fn nested_arrays(depth: usize) -> String {
    let mut text = String::with_capacity(depth * 2);
    text.push_str(&"[".repeat(depth));
    text.push_str(&"]".repeat(depth));
    text
}

// ---------------------------------------------------------------------------------------
// 1. The sample events
// ---------------------------------------------------------------------------------------

#[test]
fn every_sample_in_events_dir_parses_and_every_queue_record_in_it_is_usable() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(events_dir())
        .expect("events/ is readable")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the 10 known samples in events/, found {files:?}"
    );
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let trigger =
            parse_event_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match trigger {
            Trigger::Signals(signals) => {
                assert!(!signals.is_empty(), "{}: no signals", path.display())
            }
            Trigger::Queue(records) => {
                assert!(!records.is_empty(), "{}: no records", path.display());
                for record in records {
                    if let Err(e) = &record.signal {
                        panic!("{}: record {}: {e}", path.display(), record.message_id);
                    }
                }
            }
        }
    }
}

#[test]
fn sample_lambda_action_is_a_metric_alarm_on_the_orders_queue_backlog() {
    let alarm = only_alarm(sample("alarm-lambda-action.json"));
    assert_eq!(
        alarm,
        AlarmSignal {
            name: "orders-backlog-high".into(),
            state: AlarmState::Alarm,
            metrics: vec![orders_backlog_metric()],
            via: Via::LambdaAction,
            origin: home(),
        }
    );
}

#[test]
fn sample_lambda_action_metric_math_lists_the_metric_stats_not_the_expression() {
    let alarm = only_alarm(sample("alarm-lambda-action-metric-math.json"));
    assert_eq!(
        alarm,
        AlarmSignal {
            name: "reports-errors-high".into(),
            state: AlarmState::Alarm,
            metrics: reports_math_metrics(),
            via: Via::LambdaAction,
            origin: home(),
        }
    );
}

#[test]
fn sample_lambda_action_composite_has_no_metrics() {
    let alarm = only_alarm(sample("alarm-lambda-action-composite.json"));
    assert_eq!(
        alarm,
        AlarmSignal {
            name: "orders-db-overloaded".into(),
            state: AlarmState::Alarm,
            metrics: vec![],
            via: Via::LambdaAction,
            origin: home(),
        }
    );
}

#[test]
fn sample_eventbridge_is_the_orders_alarm_returning_to_ok() {
    let alarm = only_alarm(sample("alarm-eventbridge.json"));
    assert_eq!(
        alarm,
        AlarmSignal {
            name: "orders-backlog-high".into(),
            state: AlarmState::Ok,
            metrics: vec![orders_backlog_metric()],
            via: Via::EventBridge,
            origin: home(),
        }
    );
}

#[test]
fn sample_sns_is_a_metric_alarm_with_dimensions_from_the_lower_case_name_value_list() {
    let alarm = only_alarm(sample("alarm-sns.json"));
    assert_eq!(
        alarm,
        AlarmSignal {
            name: "orders-backlog-high".into(),
            state: AlarmState::Alarm,
            metrics: vec![orders_backlog_metric()],
            via: Via::Sns,
            origin: home(),
        }
    );
}

#[test]
fn sample_sns_metric_math_reads_trigger_metrics() {
    let alarm = only_alarm(sample("alarm-sns-metric-math.json"));
    assert_eq!(
        alarm,
        AlarmSignal {
            name: "reports-errors-high".into(),
            state: AlarmState::Ok,
            metrics: reports_math_metrics(),
            via: Via::Sns,
            origin: home(),
        }
    );
}

#[test]
fn sample_direct_command_names_function_and_concurrency() {
    let mut signals = signals(sample("direct-command.json"));
    assert_eq!(signals.len(), 1);
    assert_eq!(
        direct(signals.remove(0)),
        DirectCommand {
            function: FunctionRef::parse("reports-api").unwrap(),
            desired_concurrency: 8,
        }
    );
}

#[test]
fn sample_sqs_batch_yields_four_records_in_order_each_with_its_signal() {
    let records = queue(sample("sqs-batch.json"));
    let ids: Vec<&str> = records.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "6f1b3b2e-0c6a-4d3e-9d51-000000000001",
            "6f1b3b2e-0c6a-4d3e-9d51-000000000002",
            "6f1b3b2e-0c6a-4d3e-9d51-000000000003",
            "6f1b3b2e-0c6a-4d3e-9d51-000000000004",
        ]
    );
    let signals: Vec<Signal> = records
        .into_iter()
        .map(|r| r.signal.unwrap_or_else(|e| panic!("{e}")))
        .collect();

    // 1: an SNS envelope (no raw message delivery) around a metric alarm notification.
    assert_eq!(
        signals[0],
        Signal::Alarm(AlarmSignal {
            name: "orders-backlog-high".into(),
            state: AlarmState::Alarm,
            metrics: vec![orders_backlog_metric()],
            via: Via::Sns,
            origin: home(),
        })
    );
    // 2: a raw alarm notification (raw message delivery) for a metric-math alarm.
    assert_eq!(
        signals[1],
        Signal::Alarm(AlarmSignal {
            name: "reports-errors-high".into(),
            state: AlarmState::Ok,
            metrics: reports_math_metrics(),
            via: Via::Sns,
            origin: home(),
        })
    );
    // 3: an EventBridge event forwarded to the queue.
    assert_eq!(
        signals[2],
        Signal::Alarm(AlarmSignal {
            name: "orders-backlog-high".into(),
            state: AlarmState::Ok,
            metrics: vec![orders_backlog_metric()],
            via: Via::EventBridge,
            origin: home(),
        })
    );
    // 4: a direct command.
    assert_eq!(
        signals[3],
        Signal::Direct(DirectCommand {
            function: FunctionRef::parse("reports-api").unwrap(),
            desired_concurrency: 8,
        })
    );
}

#[test]
fn parse_event_and_parse_event_bytes_agree_on_every_sample() {
    for entry in std::fs::read_dir(events_dir()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            parse_event(&value),
            parse_event_bytes(&bytes),
            "{}",
            path.display()
        );
    }
}

// ---------------------------------------------------------------------------------------
// 2. SNS specifics
// ---------------------------------------------------------------------------------------

#[test]
fn sns_notification_with_region_display_name_and_daily_period_parses() {
    let mut message = notification("orders-backlog-high", "ALARM");
    message["Region"] = json!("Asia Pacific (Tokyo)");
    message["Trigger"]["Period"] = json!(86400);
    message["Trigger"]["EvaluationPeriods"] = json!(7);
    let alarm = only_alarm(parse_event(&sns_event(&message.to_string())).unwrap());
    assert_eq!(alarm.name, "orders-backlog-high");
    assert_eq!(alarm.state, AlarmState::Alarm);
    assert_eq!(alarm.metrics, vec![orders_backlog_metric()]);
    assert_eq!(alarm.via, Via::Sns);
}

#[test]
fn sns_notification_with_trigger_metrics_is_metric_math_with_each_metric_stat() {
    let mut message = notification("reports-errors-high", "INSUFFICIENT_DATA");
    message["Trigger"] = json!({
        "Period": 60,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 5.0,
        "Metrics": [
            { "Expression": "100 * errors / invocations", "Id": "e1", "Label": "ErrorRate", "ReturnData": true },
            { "Id": "errors", "ReturnData": false, "MetricStat": {
                "Metric": { "Dimensions": [{ "value": "reports-api", "name": "FunctionName" }],
                            "MetricName": "Errors", "Namespace": "AWS/Lambda" },
                "Period": 60, "Stat": "Sum" } },
            { "Id": "invocations", "ReturnData": false, "MetricStat": {
                "Metric": { "Dimensions": [{ "value": "reports-api", "name": "FunctionName" }],
                            "MetricName": "Invocations", "Namespace": "AWS/Lambda" },
                "Period": 60, "Stat": "Sum" } }
        ]
    });
    let alarm = only_alarm(parse_event(&sns_event(&message.to_string())).unwrap());
    assert_eq!(alarm.state, AlarmState::InsufficientData);
    assert_eq!(alarm.metrics, reports_math_metrics());
}

#[test]
fn sns_composite_alarm_notification_with_alarm_rule_and_no_trigger_is_composite() {
    let message = json!({
        "AlarmName": "orders-db-overloaded",
        "AlarmDescription": null,
        "AWSAccountId": "123456789012",
        "AlarmConfigurationUpdatedTimestamp": "2026-11-20T09:12:44.115+0000",
        "NewStateValue": "ALARM",
        "NewStateReason": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-db-cpu-high transitioned to ALARM",
        "StateChangeTime": "2026-11-28T14:10:02.377+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-db-overloaded",
        "OldStateValue": "OK",
        "OKActions": [],
        "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:autoscaler-alarms"],
        "InsufficientDataActions": [],
        "AlarmRule": "ALARM(orders-db-cpu-high) OR ALARM(orders-db-connections-high)",
        "TriggeringChildren": [{
            "Arn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-db-cpu-high",
            "State": { "Value": "ALARM", "Timestamp": "2026-11-28T14:09:58.201+0000" }
        }]
    });
    let alarm = only_alarm(parse_event(&sns_event(&message.to_string())).unwrap());
    assert_eq!(
        alarm,
        AlarmSignal {
            name: "orders-db-overloaded".into(),
            state: AlarmState::Alarm,
            metrics: vec![],
            via: Via::Sns,
            origin: home(),
        }
    );
}

#[test]
fn eventbridge_composite_and_metric_math_alarms_are_classified_like_lambda_actions() {
    let composite = only_alarm(
        parse_event(&eventbridge(json!({
            "alarmName": "orders-db-overloaded",
            "state": { "value": "ALARM" },
            "previousState": { "value": "INSUFFICIENT_DATA" },
            "configuration": { "alarmRule": "ALARM(orders-db-cpu-high)" }
        })))
        .unwrap(),
    );
    assert_eq!(composite.metrics, vec![]);
    assert_eq!(composite.via, Via::EventBridge);

    let math = only_alarm(
        parse_event(&eventbridge(json!({
            "alarmName": "reports-errors-high",
            "state": { "value": "ALARM" },
            "configuration": { "metrics": [
                { "id": "e1", "expression": "100 * errors / invocations", "returnData": true },
                { "id": "errors", "metricStat": { "metric": {
                    "namespace": "AWS/Lambda", "name": "Errors",
                    "dimensions": { "FunctionName": "reports-api" } } } },
                { "id": "invocations", "metricStat": { "metric": {
                    "namespace": "AWS/Lambda", "name": "Invocations",
                    "dimensions": { "FunctionName": "reports-api" } } } }
            ]}
        })))
        .unwrap(),
    );
    assert_eq!(math.metrics, reports_math_metrics());
}

/// An alarm created with PutMetricAlarm's `Metrics` list holding a single `MetricStat` and
/// no expression is a plain metric alarm. The Lambda action and EventBridge payloads describe
/// it exactly like any metric alarm (`configuration.metrics[0].metricStat`) and parse as
/// `Metric`; the SNS notification describes it with `Trigger.Metrics` instead of
/// `Trigger.MetricName`. An `AlarmSignal` is "a CloudWatch alarm state change, whatever
/// envelope carried it", so the SNS path must not call it `MetricMath`.
#[test]
fn sns_trigger_metrics_without_an_expression_is_a_metric_alarm_as_in_the_lambda_action() {
    let via_lambda =
        only_alarm(parse_event(&lambda_action("orders-backlog-high", "ALARM")).unwrap());

    let mut message = notification("orders-backlog-high", "ALARM");
    message["Trigger"] = json!({
        "Period": 60,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 1000.0,
        "Metrics": [{
            "Id": "m1",
            "ReturnData": true,
            "MetricStat": {
                "Metric": {
                    "Dimensions": [{ "value": "orders", "name": "QueueName" }],
                    "MetricName": "ApproximateNumberOfMessagesVisible",
                    "Namespace": "AWS/SQS"
                },
                "Period": 60,
                "Stat": "Maximum"
            }
        }]
    });
    let via_sns = only_alarm(parse_event(&sns_event(&message.to_string())).unwrap());
    assert_eq!(via_sns.metrics, via_lambda.metrics);
}

#[test]
fn sns_event_with_several_records_yields_one_signal_per_record_in_order() {
    let event = json!({ "Records": [
        sns_record(&notification("first", "ALARM").to_string()),
        sns_record(&notification("second", "OK").to_string()),
    ]});
    let names: Vec<(String, AlarmState)> = signals(parse_event(&event).unwrap())
        .into_iter()
        .map(alarm)
        .map(|a| (a.name, a.state))
        .collect();
    assert_eq!(
        names,
        [
            ("first".to_owned(), AlarmState::Alarm),
            ("second".to_owned(), AlarmState::Ok)
        ]
    );
}

#[test]
fn bare_sns_envelope_at_top_level_is_unwrapped() {
    let event = sns_envelope(&notification("orders-backlog-high", "ALARM").to_string());
    let alarm = only_alarm(parse_event(&event).unwrap());
    assert_eq!(alarm.name, "orders-backlog-high");
    assert_eq!(alarm.via, Via::Sns);
}

#[test]
fn sns_record_with_unknown_state_names_the_message_field() {
    let e = parse_err(&sns_event(
        &notification("orders-backlog-high", "FIRING").to_string(),
    ));
    assert_error(
        &e,
        "event.Records[0].Sns.Message.NewStateValue",
        "unknown variant `FIRING`",
    );
}

#[test]
fn sns_record_without_message_is_an_error() {
    let mut record = sns_record("x");
    record["Sns"].as_object_mut().unwrap().remove("Message");
    let e = parse_err(&json!({ "Records": [record] }));
    assert_error(&e, "event.Records[0].Sns.Message", "missing");
}

// ---------------------------------------------------------------------------------------
// 3. SQS records
// ---------------------------------------------------------------------------------------

#[test]
fn sqs_batch_keeps_good_records_and_reports_bad_ones_by_record() {
    let good = notification("orders-backlog-high", "ALARM").to_string();
    let unknown_state = notification("orders-backlog-high", "FIRING").to_string();
    let event = json!({ "Records": [
        sqs_record("m-1", "this is not json"),
        sqs_record("m-2", &unknown_state),
        sqs_record("m-3", &good),
    ]});
    let records = queue(parse_event(&event).expect("a batch with bad bodies still parses"));
    assert_eq!(records.len(), 3);

    assert_eq!(records[0].message_id, "m-1");
    let e = records[0].signal.as_ref().unwrap_err();
    assert_error(e, "Records[0] (messageId m-1).body", "not valid JSON");

    assert_eq!(records[1].message_id, "m-2");
    let e = records[1].signal.as_ref().unwrap_err();
    assert!(
        e.location.contains("Records[1] (messageId m-2)"),
        "location {e}"
    );
    assert_error(
        e,
        "Records[1] (messageId m-2).body.NewStateValue",
        "unknown variant `FIRING`",
    );

    assert_eq!(records[2].message_id, "m-3");
    let alarm = alarm(records[2].signal.clone().unwrap());
    assert_eq!(alarm.name, "orders-backlog-high");
    assert_eq!(alarm.state, AlarmState::Alarm);
}

#[test]
fn sqs_record_body_that_is_not_a_string_fails_only_that_record() {
    let mut bad = sqs_record("m-1", "");
    bad["body"] = json!({ "function": "reports-api", "desiredConcurrency": 1 });
    let event = json!({ "Records": [bad, sqs_record("m-2", r#"{"function":"f","desiredConcurrency":3}"#)] });
    let records = queue(parse_event(&event).unwrap());
    assert_error(
        records[0].signal.as_ref().unwrap_err(),
        "Records[0] (messageId m-1).body",
        "not a string",
    );
    assert_eq!(
        records[1].signal,
        Ok(Signal::Direct(DirectCommand {
            function: FunctionRef::parse("f").unwrap(),
            desired_concurrency: 3
        }))
    );
}

#[test]
fn sqs_record_without_message_id_fails_the_whole_event() {
    let mut record = sqs_record("unused", r#"{"function":"f","desiredConcurrency":3}"#);
    record.as_object_mut().unwrap().remove("messageId");
    let event = json!({ "Records": [
        sqs_record("m-1", r#"{"function":"f","desiredConcurrency":3}"#),
        record,
    ]});
    let e = parse_err(&event);
    assert_error(&e, "event.Records[1].messageId", "missing");
}

#[test]
fn sqs_record_with_empty_message_id_fails_the_whole_event() {
    let event =
        json!({ "Records": [sqs_record("", r#"{"function":"f","desiredConcurrency":3}"#)] });
    let e = parse_err(&event);
    assert_error(&e, "event.Records[0].messageId", "missing");
}

#[test]
fn records_mixing_sqs_then_sns_are_refused() {
    let event = json!({ "Records": [
        sqs_record("m-1", r#"{"function":"f","desiredConcurrency":3}"#),
        sns_record(&notification("a", "ALARM").to_string()),
    ]});
    let e = parse_err(&event);
    assert_error(&e, "event.Records[1]", "mixes event sources");
    assert!(e.message.contains("aws:sqs"), "{e}");
}

#[test]
fn records_mixing_sns_then_sqs_are_refused() {
    let event = json!({ "Records": [
        sns_record(&notification("a", "ALARM").to_string()),
        sqs_record("m-1", r#"{"function":"f","desiredConcurrency":3}"#),
    ]});
    let e = parse_err(&event);
    assert_error(&e, "event.Records[1]", "mixes event sources");
    assert!(e.message.contains("aws:sns"), "{e}");
}

#[test]
fn records_from_s3_are_refused_naming_the_source() {
    let event = json!({ "Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": { "bucket": { "name": "b" }, "object": { "key": "k" } }
    }]});
    let e = parse_err(&event);
    assert_error(
        &e,
        "event.Records[0]",
        "unsupported event source \"aws:s3\"",
    );
}

#[test]
fn records_without_any_event_source_are_refused() {
    let e = parse_err(&json!({ "Records": [{ "body": "{}" }] }));
    assert_error(&e, "event.Records[0]", "has no eventSource");
}

#[test]
fn empty_records_is_an_error() {
    let e = parse_err(&json!({ "Records": [] }));
    assert_error(&e, "event.Records", "is empty");
}

#[test]
fn records_that_is_not_an_array_is_an_error() {
    let e = parse_err(&json!({ "Records": {} }));
    assert_error(&e, "event.Records", "expected an array");
}

#[test]
fn sqs_body_that_is_itself_a_records_batch_fails_that_record() {
    let inner = json!({ "Records": [sqs_record("inner", "{}")] }).to_string();
    let records = queue(parse_event(&json!({ "Records": [sqs_record("m-1", &inner)] })).unwrap());
    assert_error(
        records[0].signal.as_ref().unwrap_err(),
        "Records[0] (messageId m-1).body",
        "cannot be nested",
    );
}

#[test]
fn sqs_body_holding_an_sns_envelope_inside_an_sns_envelope_fails_that_record() {
    let inner = sns_envelope(&notification("a", "ALARM").to_string()).to_string();
    let outer = sns_envelope(&inner).to_string();
    let records = queue(parse_event(&json!({ "Records": [sqs_record("m-1", &outer)] })).unwrap());
    assert_error(
        records[0].signal.as_ref().unwrap_err(),
        "Records[0] (messageId m-1).body.Message",
        "envelope inside another envelope",
    );
}

// ---------------------------------------------------------------------------------------
// 4. Malformed input
// ---------------------------------------------------------------------------------------

#[test]
fn bytes_that_are_not_json_are_refused() {
    let e = bytes_err(b"{not json");
    assert_error(&e, "event", "not valid JSON");
}

#[test]
fn a_key_given_twice_is_refused_wherever_it_is() {
    // serde_json would keep the last: 500, where a reader sees 5 first.
    let e =
        bytes_err(br#"{"function": "orders", "desiredConcurrency": 5, "desiredConcurrency": 500}"#);
    assert_error(
        &e,
        "event",
        "the key \"desiredConcurrency\" is given twice at line 1",
    );
    let nested = br#"{"Records": [{"messageId": "m-1", "eventSource": "aws:sqs",
        "body": "{}", "attributes": {"a": 1, "a": 2}}]}"#;
    assert_error(&bytes_err(nested), "event", "the key \"a\" is given twice");
    // In an SQS body, only that record fails.
    let body = r#"{"function": "orders", "desiredConcurrency": 5, "desiredConcurrency": 500}"#;
    let event = json!({ "Records": [
        sqs_record("m-1", body),
        sqs_record("m-2", &notification("orders-backlog-high", "ALARM").to_string()),
    ]});
    let records = queue(parse_event(&event).unwrap());
    let e = records[0].signal.as_ref().unwrap_err();
    assert_error(
        e,
        "Records[0] (messageId m-1).body",
        "the key \"desiredConcurrency\" is given twice",
    );
    assert!(records[1].signal.is_ok());
}

#[test]
fn the_strict_parse_reads_every_value_as_serde_json_does() {
    let text = r#"{"a": [1, -2, 18446744073709551615, 0.5, 1e300, null, true, "x\u00e9"],
        "b": {"c": {}, "d": []}, "e": "", "f": -9223372036854775808}"#;
    let strict = lambda_autoscaler::trigger::json_value(text.as_bytes()).unwrap();
    assert_eq!(strict, serde_json::from_str::<Value>(text).unwrap());
}

#[test]
fn empty_input_is_refused_as_not_json() {
    let e = bytes_err(b"");
    assert_error(&e, "event", "not valid JSON");
}

#[test]
fn top_level_array_number_string_and_null_are_refused_by_kind() {
    for (event, kind) in [
        (json!([]), "an array"),
        (
            json!([{ "function": "f", "desiredConcurrency": 1 }]),
            "an array",
        ),
        (json!(42), "a number"),
        (json!("hello"), "a string"),
        (json!(null), "null"),
        (json!(true), "a boolean"),
    ] {
        let e = parse_err(&event);
        assert_error(
            &e,
            "event",
            &format!("expected a JSON object, found {kind}"),
        );
    }
}

#[test]
fn top_level_array_via_bytes_is_refused_by_kind() {
    let e = bytes_err(b"[1, 2, 3]");
    assert_error(&e, "event", "found an array");
}

#[test]
fn unrecognised_object_is_refused_listing_what_is_accepted() {
    let e = parse_err(&json!({ "hello": "world" }));
    assert_error(&e, "event", "unrecognised event");
    assert!(e.message.contains("CloudWatch Alarm State Change"), "{e}");
}

#[test]
fn lambda_action_without_alarm_name_is_refused_at_alarm_data() {
    let mut event = lambda_action("x", "ALARM");
    event["alarmData"]
        .as_object_mut()
        .unwrap()
        .remove("alarmName");
    let e = parse_err(&event);
    assert_error(&e, "event.alarmData", "missing field `alarmName`");
}

#[test]
fn lambda_action_with_empty_or_blank_alarm_name_is_refused() {
    for name in ["", "   "] {
        let e = parse_err(&lambda_action(name, "ALARM"));
        assert_error(&e, "event.alarmData.alarmName", "alarm name is empty");
    }
}

#[test]
fn lambda_action_alarm_name_of_255_characters_is_accepted_and_256_refused() {
    let name = "a".repeat(255);
    assert_eq!(
        only_alarm(parse_event(&lambda_action(&name, "ALARM")).unwrap()).name,
        name
    );

    let e = parse_err(&lambda_action(&"a".repeat(256), "ALARM"));
    assert_error(
        &e,
        "event.alarmData.alarmName",
        "alarm name is 256 characters long; CloudWatch allows at most 255",
    );
}

#[test]
fn alarm_name_length_counts_characters_not_bytes() {
    // 255 two-byte characters: 510 bytes, still 255 characters.
    let name = "é".repeat(255);
    assert_eq!(
        only_alarm(parse_event(&lambda_action(&name, "OK")).unwrap()).name,
        name
    );
    let e = parse_err(&lambda_action(&"é".repeat(256), "OK"));
    assert_error(&e, "event.alarmData.alarmName", "256 characters");
}

#[test]
fn eventbridge_and_sns_alarm_names_have_the_same_length_limit() {
    let detail = |name: &str| json!({ "alarmName": name, "state": { "value": "ALARM" } });
    assert!(parse_event(&eventbridge(detail(&"b".repeat(255)))).is_ok());
    let e = parse_err(&eventbridge(detail(&"b".repeat(256))));
    assert_error(&e, "event.detail.alarmName", "at most 255");

    assert!(parse_event(&sns_event(
        &notification(&"c".repeat(255), "OK").to_string()
    ))
    .is_ok());
    let e = parse_err(&sns_event(
        &notification(&"c".repeat(256), "OK").to_string(),
    ));
    assert_error(&e, "event.Records[0].Sns.Message.AlarmName", "at most 255");
}

#[test]
fn lambda_action_with_unknown_state_firing_is_refused_at_the_state_value() {
    let e = parse_err(&lambda_action("orders-backlog-high", "FIRING"));
    assert_error(
        &e,
        "event.alarmData.state.value",
        "unknown variant `FIRING`",
    );
    assert!(e.message.contains("INSUFFICIENT_DATA"), "{e}");
}

#[test]
fn lambda_action_with_lower_case_state_is_refused() {
    let e = parse_err(&lambda_action("orders-backlog-high", "alarm"));
    assert_error(&e, "event.alarmData.state.value", "unknown variant `alarm`");
}

#[test]
fn lambda_action_previous_state_is_not_read_because_only_the_current_state_counts() {
    let mut event = lambda_action("orders-backlog-high", "ALARM");
    event["alarmData"]["previousState"]["value"] = json!("FIRING");
    assert_eq!(
        only_alarm(parse_event(&event).unwrap()).state,
        AlarmState::Alarm
    );
}

#[test]
fn lambda_action_without_previous_state_is_accepted() {
    let mut event = lambda_action("orders-backlog-high", "ALARM");
    event["alarmData"]
        .as_object_mut()
        .unwrap()
        .remove("previousState");
    assert_eq!(
        only_alarm(parse_event(&event).unwrap()).state,
        AlarmState::Alarm
    );
}

#[test]
fn lambda_action_from_source_other_than_cloudwatch_is_refused() {
    let mut event = lambda_action("orders-backlog-high", "ALARM");
    event["source"] = json!("aws.ec2");
    let e = parse_err(&event);
    assert_error(&e, "event.source", "\"aws.ec2\" is not aws.cloudwatch");
}

#[test]
fn eventbridge_event_of_another_detail_type_is_unsupported() {
    let event = json!({
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2026-11-28T15:20:01Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
        "detail": { "instance-id": "i-abcd1111", "state": "pending" }
    });
    let e = parse_err(&event);
    assert_error(
        &e,
        "event.detail-type",
        "unsupported EventBridge event \"EC2 Instance State-change Notification\"",
    );
}

#[test]
fn eventbridge_alarm_event_from_another_source_is_refused() {
    let mut event = eventbridge(json!({ "alarmName": "a", "state": { "value": "ALARM" } }));
    event["source"] = json!("aws.ec2");
    let e = parse_err(&event);
    assert_error(&e, "event.source", "\"aws.ec2\" is not aws.cloudwatch");
}

#[test]
fn eventbridge_alarm_event_with_empty_alarm_name_is_refused() {
    let e = parse_err(&eventbridge(
        json!({ "alarmName": "", "state": { "value": "ALARM" } }),
    ));
    assert_error(&e, "event.detail.alarmName", "alarm name is empty");
}

#[test]
fn eventbridge_alarm_event_without_alarm_name_is_refused() {
    let e = parse_err(&eventbridge(json!({ "state": { "value": "ALARM" } })));
    assert_error(&e, "event.detail", "missing field `alarmName`");
}

#[test]
fn eventbridge_alarm_event_with_unknown_state_is_refused_at_the_detail_state() {
    let e = parse_err(&eventbridge(
        json!({ "alarmName": "a", "state": { "value": "FIRING" } }),
    ));
    assert_error(&e, "event.detail.state.value", "unknown variant `FIRING`");
}

#[test]
fn sns_message_that_is_not_json_is_refused() {
    let e = parse_err(&sns_event("hello"));
    assert_error(&e, "event.Records[0].Sns.Message", "not valid JSON");
    assert!(
        e.message
            .contains("expected a CloudWatch alarm notification"),
        "{e}"
    );
}

#[test]
fn sns_message_that_is_json_but_not_an_alarm_is_refused() {
    let e = parse_err(&sns_event(r#"{"foo":1}"#));
    assert_error(&e, "event.Records[0].Sns.Message", "unrecognised event");
}

#[test]
fn sns_message_that_is_not_a_string_is_refused() {
    let mut event = sns_event("x");
    event["Records"][0]["Sns"]["Message"] = json!({ "AlarmName": "a" });
    let e = parse_err(&event);
    assert_error(
        &e,
        "event.Records[0].Sns.Message",
        "expected a string holding JSON",
    );
}

#[test]
fn sns_envelope_nested_inside_an_sns_record_is_refused() {
    let inner = sns_envelope(&notification("a", "ALARM").to_string()).to_string();
    let e = parse_err(&sns_event(&inner));
    assert_error(
        &e,
        "event.Records[0].Sns.Message",
        "an SNS envelope inside another envelope is not supported",
    );
}

#[test]
fn sns_envelope_nested_inside_a_bare_sns_envelope_is_refused() {
    let inner = sns_envelope(&notification("a", "ALARM").to_string()).to_string();
    let e = parse_err(&sns_envelope(&inner));
    assert_error(&e, "event.Message", "envelope inside another envelope");
}

#[test]
fn sns_message_holding_a_records_batch_is_refused() {
    let inner = sns_event(&notification("a", "ALARM").to_string()).to_string();
    let e = parse_err(&sns_event(&inner));
    assert_error(&e, "event.Records[0].Sns.Message", "cannot be nested");
}

#[test]
fn direct_command_with_string_concurrency_is_refused() {
    let e = parse_err(&direct_command(json!("12")));
    assert_error(
        &e,
        "event.desiredConcurrency",
        "invalid type: string \"12\"",
    );
    assert!(e.message.contains("from 0 to 2147483647"), "{e}");
}

#[test]
fn direct_command_with_fractional_concurrency_is_refused() {
    let e = parse_err(&direct_command(json!(12.5)));
    assert_error(
        &e,
        "event.desiredConcurrency",
        "invalid type: floating point `12.5`",
    );
}

#[test]
fn direct_command_with_negative_concurrency_is_refused() {
    let e = parse_err(&direct_command(json!(-1)));
    assert_error(
        &e,
        "event.desiredConcurrency",
        "-1 is out of range: expected a whole number from 0 to 2147483647",
    );
}

#[test]
fn direct_command_beyond_i32_is_refused() {
    let e = parse_err(&direct_command(json!(3_000_000_000u64)));
    assert_error(
        &e,
        "event.desiredConcurrency",
        "3000000000 is out of range: expected a whole number from 0 to 2147483647",
    );
}

#[test]
fn direct_command_at_i32_max_and_zero_are_accepted() {
    for n in [0u32, i32::MAX as u32] {
        let command = direct(signals(parse_event(&direct_command(json!(n))).unwrap()).remove(0));
        assert_eq!(command.desired_concurrency, n);
    }
}

#[test]
fn direct_command_with_unknown_field_is_refused_naming_it() {
    let mut event = direct_command(json!(12));
    event["dryRun"] = json!(true);
    let e = parse_err(&event);
    assert_error(&e, "event.dryRun", "unknown field `dryRun`");
}

#[test]
fn direct_command_with_qualified_function_arn_is_refused() {
    let event = json!({
        "function": "arn:aws:lambda:us-east-1:123456789012:function:f:live",
        "desiredConcurrency": 12
    });
    let e = parse_err(&event);
    assert_error(&e, "event.function", "alias \"live\"");
    assert!(e.message.contains("unqualified ARN"), "{e}");
}

#[test]
fn direct_command_with_unqualified_function_arn_keeps_it_as_written() {
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:f";
    let event = json!({ "function": arn, "desiredConcurrency": 12 });
    let command = direct(signals(parse_event(&event).unwrap()).remove(0));
    assert_eq!(
        command,
        DirectCommand {
            function: FunctionRef::parse(arn).unwrap(),
            desired_concurrency: 12
        }
    );
}

#[test]
fn direct_command_with_invalid_function_name_is_refused() {
    let event = json!({ "function": "my function", "desiredConcurrency": 1 });
    let e = parse_err(&event);
    assert_error(&e, "event.function", "contains ' '");
}

#[test]
fn direct_command_without_desired_concurrency_is_refused() {
    let e = parse_err(&json!({ "function": "reports-api" }));
    assert_error(&e, "event", "missing field `desiredConcurrency`");
}

#[test]
fn deeply_nested_json_in_a_field_hits_the_recursion_limit_without_overflowing() {
    let text = format!(
        r#"{{"function": "f", "desiredConcurrency": {}}}"#,
        nested_arrays(100_000)
    );
    let e = bytes_err(text.as_bytes());
    assert_error(&e, "event", "recursion limit");
}

#[test]
fn deeply_nested_json_in_an_sqs_body_fails_only_that_record() {
    let event = json!({ "Records": [
        sqs_record("m-1", &nested_arrays(100_000)),
        sqs_record("m-2", r#"{"function":"f","desiredConcurrency":3}"#),
    ]});
    let records = queue(parse_event_bytes(event.to_string().as_bytes()).unwrap());
    assert_error(
        records[0].signal.as_ref().unwrap_err(),
        "Records[0] (messageId m-1).body",
        "recursion limit",
    );
    assert!(records[1].signal.is_ok());
}

#[test]
fn deeply_nested_json_in_an_sns_message_is_refused() {
    let e = parse_err(&sns_event(&nested_arrays(100_000)));
    assert_error(&e, "event.Records[0].Sns.Message", "recursion limit");
}

#[test]
fn input_larger_than_the_payload_limit_is_refused_before_parsing() {
    let mut bytes = br#"{"function": "f", "desiredConcurrency": 1, "pad": ""#.to_vec();
    bytes.resize(MAX_EVENT_BYTES + 1 - 2, b' ');
    bytes.extend_from_slice(br#""}"#);
    assert_eq!(bytes.len(), MAX_EVENT_BYTES + 1);
    let e = bytes_err(&bytes);
    assert_error(
        &e,
        "event",
        &format!(
            "{} bytes is larger than Lambda's {MAX_EVENT_BYTES}-byte payload limit",
            MAX_EVENT_BYTES + 1
        ),
    );
}

#[test]
fn input_of_exactly_the_payload_limit_is_parsed() {
    let prefix = br#"{"function": "f", "desiredConcurrency": 1"#;
    let mut bytes = prefix.to_vec();
    bytes.resize(MAX_EVENT_BYTES - 1, b' ');
    bytes.push(b'}');
    assert_eq!(bytes.len(), MAX_EVENT_BYTES);
    let command = direct(signals(parse_event_bytes(&bytes).unwrap()).remove(0));
    assert_eq!(command.desired_concurrency, 1);
}

#[test]
fn errors_display_as_location_then_message() {
    let e = parse_err(&json!({ "Records": [] }));
    assert_eq!(e.to_string(), format!("{}: {}", e.location, e.message));
}

#[test]
fn sample_scheduled_event_is_a_reconciliation() {
    assert_eq!(signals(sample("scheduled.json")), [Signal::Scheduled]);
}

#[test]
fn sample_queue_depth_event_names_the_orders_queue_by_url() {
    let signals = signals(sample("queue-depth.json"));
    match &signals[..] {
        [Signal::QueueDepth(q)] => {
            assert_eq!(q.queue.name(), "orders");
            assert!(matches!(
                q.queue,
                lambda_autoscaler::policy::QueueRef::Url(_)
            ));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn queue_depth_and_schedule_events_arrive_raw_through_sns_and_in_sqs_records() {
    let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "{\"queue\":\"orders\"}"}}]});
    assert!(matches!(
        &signals(parse_event(&sns).unwrap())[..],
        [Signal::QueueDepth(_)]
    ));
    let sqs = json!({"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "body": "{\"queue\":\"orders\"}"}]});
    match parse_event(&sqs).unwrap() {
        Trigger::Queue(records) => assert!(matches!(records[0].signal, Ok(Signal::QueueDepth(_)))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_queue_and_schedule_events_get_precise_errors() {
    for (event, location, message) in [
        (json!({"queue": 5}), "event.queue", "invalid type: integer"),
        (json!({"queue": "a b"}), "event.queue", "contains ' '"),
        (json!({"queue": ""}), "event.queue", "must be 1 to 80"),
        (
            json!({"queue": "orders", "depth": 3}),
            "event.depth",
            "unknown field",
        ),
        (
            json!({"detail-type": "Scheduled Event", "source": "my.app"}),
            "event.source",
            "not aws.events",
        ),
        (
            json!({"detail-type": "Scheduled Event", "source": 5}),
            "event.source",
            "5 is not a string",
        ),
        (
            json!({"detail-type": "Scheduled Event", "source": null}),
            "event.source",
            "null is not a string",
        ),
    ] {
        let err = parse_event(&event).unwrap_err();
        assert_eq!(err.location, location, "{event}: {err}");
        assert!(err.message.contains(message), "{event}: {err}");
    }
}

mod arbitrary_input {
    use lambda_autoscaler::policy::Policy;
    use lambda_autoscaler::trigger::parse_event;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// JSON built from the keys and values the parsers route on, nested arbitrarily, so the
    /// generated documents reach deep into every parser rather than failing at the top.
    fn any_json() -> impl Strategy<Value = Value> {
        let keys = prop_oneof![
            Just("alarmData"),
            Just("alarmName"),
            Just("state"),
            Just("value"),
            Just("detail-type"),
            Just("detail"),
            Just("source"),
            Just("Records"),
            Just("eventSource"),
            Just("EventSource"),
            Just("messageId"),
            Just("body"),
            Just("Sns"),
            Just("Message"),
            Just("Type"),
            Just("AlarmName"),
            Just("NewStateValue"),
            Just("Trigger"),
            Just("Metrics"),
            Just("function"),
            Just("desiredConcurrency"),
            Just("queue"),
            Just("targets"),
            Just("min"),
            Just("max"),
            Just("alarms"),
            Just("name"),
            Just("on_alarm"),
            Just("change"),
            Just("configuration"),
            Just("metrics"),
            Just("metricStat"),
            Just("metric"),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            prop_oneof![
                Just("ALARM"),
                Just("OK"),
                Just("aws:sqs"),
                Just("aws:sns"),
                Just("Notification"),
                Just("CloudWatch Alarm State Change"),
                Just("Scheduled Event"),
                Just("aws.cloudwatch"),
                Just("{}"),
                Just("x"),
                Just(r#"{"AlarmName":"a","NewStateValue":"ALARM"}"#),
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(6, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::vec((keys.clone(), inner), 0..6).prop_map(|pairs| {
                    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn no_event_makes_the_parser_panic(event in any_json()) {
            let _ = parse_event(&event);
        }

        #[test]
        fn no_document_makes_the_policy_loader_panic(document in any_json()) {
            let _ = Policy::from_json(&document.to_string(), "proptest");
        }
    }
}

#[test]
fn each_envelope_says_where_its_alarm_lives_as_far_as_it_knows() {
    let origin = |account: Option<&str>, region: Option<&str>| Origin {
        account: account.map(str::to_owned),
        region: region.map(str::to_owned),
    };
    let lambda = json!({"source": "aws.cloudwatch", "accountId": "999999999999", "region": "eu-west-1",
        "alarmData": {"alarmName": "a", "state": {"value": "ALARM"}}});
    assert_eq!(
        only_alarm(parse_event(&lambda).unwrap()).origin,
        origin(Some("999999999999"), Some("eu-west-1"))
    );
    // Without the explicit fields, the alarm's ARN says it.
    let lambda = json!({"source": "aws.cloudwatch",
        "alarmArn": "arn:aws:cloudwatch:ap-south-1:222222222222:alarm:a",
        "alarmData": {"alarmName": "a", "state": {"value": "ALARM"}}});
    assert_eq!(
        only_alarm(parse_event(&lambda).unwrap()).origin,
        origin(Some("222222222222"), Some("ap-south-1"))
    );
    let eventbridge = json!({"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": "333333333333", "region": "us-west-2",
        "detail": {"alarmName": "a", "state": {"value": "OK"}}});
    assert_eq!(
        only_alarm(parse_event(&eventbridge).unwrap()).origin,
        origin(Some("333333333333"), Some("us-west-2"))
    );
    // SNS: `Region` is a display name, so the Region comes from the alarm's ARN only.
    let message = json!({"AlarmName": "a", "NewStateValue": "ALARM", "Region": "EU (Ireland)",
        "AWSAccountId": "444444444444"});
    assert_eq!(
        only_alarm(parse_event(&sns_event(&message.to_string())).unwrap()).origin,
        origin(Some("444444444444"), None)
    );
    let bare = json!({"source": "aws.cloudwatch", "alarmData": {"alarmName": "a", "state": {"value": "ALARM"}}});
    assert_eq!(
        only_alarm(parse_event(&bare).unwrap()).origin,
        Origin::default()
    );
}
