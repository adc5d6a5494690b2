//! Faults moto cannot produce (throttling, 5xx, Lambda's unreserved-concurrency floor),
//! injected with aws-smithy-mocks into the real SDK clients behind our adapters.

use aws_sdk_cloudwatch::operation::describe_alarms::{DescribeAlarmsError, DescribeAlarmsOutput};
use aws_sdk_cloudwatch::types::{AlarmType, CompositeAlarm, MetricAlarm, StateValue};
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::operation::put_function_concurrency::{
    PutFunctionConcurrencyError, PutFunctionConcurrencyOutput,
};
use aws_sdk_lambda::types::error::{InvalidParameterValueException, TooManyRequestsException};
use aws_sdk_lambda::types::Concurrency;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use lambda_autoscaler::alarm::AlarmState;
use lambda_autoscaler::aws::cloudwatch::CloudWatch;
use lambda_autoscaler::aws::lambda::LambdaConcurrency;
use lambda_autoscaler::function_ref::FunctionRef;
use lambda_autoscaler::handler::Autoscaler;
use lambda_autoscaler::policy::Policy;
use lambda_autoscaler::ports::{AlarmReader, FunctionConcurrency};
use lambda_autoscaler::settings::Settings;
use serde_json::json;

const FLOOR_MESSAGE: &str = "Specified ReservedConcurrentExecutions for function decreases \
    account's UnreservedConcurrentExecution below its minimum value of [100].";

/// The metadata the SDK's deserializer attaches to a real service error.
fn service_error(code: &str, message: &str) -> aws_sdk_lambda::error::ErrorMetadata {
    aws_sdk_lambda::error::ErrorMetadata::builder()
        .code(code)
        .message(message)
        .build()
}

fn orders() -> FunctionRef {
    FunctionRef::parse("orders").unwrap()
}

fn currently(value: i32) -> Rule {
    mock!(aws_sdk_lambda::Client::get_function).then_output(move || {
        GetFunctionOutput::builder()
            .concurrency(
                Concurrency::builder()
                    .reserved_concurrent_executions(value)
                    .build(),
            )
            .build()
    })
}

#[tokio::test]
async fn the_unreserved_floor_error_reaches_the_caller_with_code_and_message() {
    let put = mock!(aws_sdk_lambda::Client::put_function_concurrency).then_error(|| {
        PutFunctionConcurrencyError::InvalidParameterValueException(
            InvalidParameterValueException::builder()
                .message(FLOOR_MESSAGE)
                .meta(service_error(
                    "InvalidParameterValueException",
                    FLOOR_MESSAGE,
                ))
                .build(),
        )
    });
    let lambda = LambdaConcurrency::new(mock_client!(aws_sdk_lambda, [&put]));
    let err = lambda.set_reserved(&orders(), 900).await.unwrap_err();
    assert_eq!(err.operation, "PutFunctionConcurrency");
    assert_eq!(err.code.as_deref(), Some("InvalidParameterValueException"));
    assert_eq!(
        err.to_string(),
        format!("PutFunctionConcurrency on orders failed: InvalidParameterValueException: {FLOOR_MESSAGE}")
    );
}

#[tokio::test]
async fn throttling_that_outlasts_the_sdk_retries_is_an_error_not_a_guess() {
    let put = mock!(aws_sdk_lambda::Client::put_function_concurrency)
        .sequence()
        .error(|| {
            PutFunctionConcurrencyError::TooManyRequestsException(
                TooManyRequestsException::builder()
                    .message("Rate exceeded")
                    .meta(service_error("TooManyRequestsException", "Rate exceeded"))
                    .build(),
            )
        })
        .times(10)
        .build();
    let lambda = LambdaConcurrency::new(mock_client!(aws_sdk_lambda, [&put]));
    let err = lambda.set_reserved(&orders(), 9).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("TooManyRequestsException"));
    assert!(put.num_calls() >= 1);
}

#[tokio::test]
async fn a_server_error_names_the_operation_and_function() {
    let get = mock!(aws_sdk_lambda::Client::get_function)
        .sequence()
        .http_status(503, Some("Service Unavailable".into()))
        .times(10)
        .build();
    let lambda = LambdaConcurrency::new(mock_client!(aws_sdk_lambda, [&get]));
    let err = lambda.observe(&orders()).await.unwrap_err();
    assert_eq!(err.operation, "GetFunction");
    assert_eq!(err.resource, "orders");
}

#[tokio::test]
async fn describe_alarms_asks_for_composite_alarms_and_follows_pagination() {
    let first = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(|req| {
            req.next_token().is_none()
                && req.alarm_types() == [AlarmType::MetricAlarm, AlarmType::CompositeAlarm]
        })
        .then_output(|| {
            DescribeAlarmsOutput::builder()
                .metric_alarms(
                    MetricAlarm::builder()
                        .alarm_name("backlog")
                        .state_value(StateValue::Alarm)
                        .build(),
                )
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(|req| req.next_token() == Some("page-2"))
        .then_output(|| {
            DescribeAlarmsOutput::builder()
                .composite_alarms(
                    CompositeAlarm::builder()
                        .alarm_name("db")
                        .state_value(StateValue::InsufficientData)
                        .build(),
                )
                .build()
        });
    let cloudwatch = CloudWatch::new(mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::MatchAny,
        [&first, &second]
    ));
    let states = cloudwatch
        .states(&["backlog".into(), "db".into(), "unknown".into()])
        .await
        .unwrap();
    assert_eq!(states.len(), 2);
    assert_eq!(states["backlog"], AlarmState::Alarm);
    assert_eq!(states["db"], AlarmState::InsufficientData);
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_throttled_describe_alarms_fails_the_evaluation_before_any_write() {
    let describe = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .sequence()
        .error(|| {
            DescribeAlarmsError::generic(
                aws_sdk_cloudwatch::error::ErrorMetadata::builder()
                    .code("Throttling")
                    .message("Rate exceeded")
                    .build(),
            )
        })
        .times(10)
        .build();
    let get = currently(5);
    let put = mock!(aws_sdk_lambda::Client::put_function_concurrency)
        .then_output(|| PutFunctionConcurrencyOutput::builder().build());
    let policy = Policy::from_json(
        r#"{"targets":[{"function":"orders","min":1,"max":50,"alarms":[{"name":"backlog","on_alarm":{"change":10}}]}]}"#,
        "test",
    );
    let autoscaler = Autoscaler::new(
        policy,
        Settings::default(),
        LambdaConcurrency::new(mock_client!(
            aws_sdk_lambda,
            RuleMode::MatchAny,
            [&get, &put]
        )),
        CloudWatch::new(mock_client!(aws_sdk_cloudwatch, [&describe])),
        CloudWatch::new(mock_client!(aws_sdk_cloudwatch, [&describe])),
    );
    let event = json!({"source": "aws.cloudwatch", "alarmData": {"alarmName": "backlog", "state": {"value": "ALARM"}}});
    let err = autoscaler.handle(&event).await.unwrap_err();
    assert_eq!(err.error_type(), "AwsCallFailed");
    assert!(
        err.to_string()
            .starts_with("DescribeAlarms on backlog failed: Throttling: Rate exceeded"),
        "{err}"
    );
    assert_eq!(
        put.num_calls(),
        0,
        "nothing is written when the alarms cannot be read"
    );
}
