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

#[tokio::test]
async fn a_throttled_queue_read_names_the_queue_and_keeps_the_code() {
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesError;
    use lambda_autoscaler::aws::sqs::Sqs;
    use lambda_autoscaler::ports::QueueReader;
    let read = mock!(aws_sdk_sqs::Client::get_queue_attributes)
        .sequence()
        .error(|| {
            GetQueueAttributesError::generic(
                aws_sdk_sqs::error::ErrorMetadata::builder()
                    .code("RequestThrottled")
                    .message("Rate exceeded")
                    .build(),
            )
        })
        .times(10)
        .build();
    let sqs = Sqs::new(mock_client!(aws_sdk_sqs, [&read]));
    let url = "https://sqs.us-east-1.amazonaws.com/123456789012/orders";
    let err = sqs.depth(url).await.unwrap_err();
    assert_eq!(err.operation, "GetQueueAttributes");
    assert_eq!(err.resource, url);
    assert_eq!(err.code.as_deref(), Some("RequestThrottled"));
}

#[tokio::test]
async fn a_queue_attribute_that_is_not_a_count_is_an_error_not_a_zero() {
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
    use aws_sdk_sqs::types::QueueAttributeName;
    use lambda_autoscaler::aws::sqs::Sqs;
    use lambda_autoscaler::ports::QueueReader;
    let read = mock!(aws_sdk_sqs::Client::get_queue_attributes).then_output(|| {
        GetQueueAttributesOutput::builder()
            .attributes(QueueAttributeName::ApproximateNumberOfMessages, "lots")
            .attributes(
                QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                "0",
            )
            .attributes(QueueAttributeName::ApproximateNumberOfMessagesDelayed, "0")
            .build()
    });
    let sqs = Sqs::new(mock_client!(aws_sdk_sqs, [&read]));
    let err = sqs.depth("https://example/orders").await.unwrap_err();
    assert_eq!(
        err.message,
        "ApproximateNumberOfMessages is not a count: \"lots\""
    );
}

#[tokio::test]
async fn tag_discovery_follows_pagination_and_surfaces_a_server_error() {
    use aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesOutput;
    use aws_sdk_resourcegroupstagging::types::{ResourceTagMapping, Tag};
    use lambda_autoscaler::aws::tagging::Tagging;
    use lambda_autoscaler::ports::FunctionFinder;
    let arn = |name: &str| format!("arn:aws:lambda:us-east-1:123456789012:function:{name}");
    let mapping = move |name: &str| {
        ResourceTagMapping::builder()
            .resource_arn(arn(name))
            .tags(
                Tag::builder()
                    .key("autoscaler:enabled")
                    .value("true")
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let first = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .match_requests(|req| req.pagination_token().is_none())
        .then_output(move || {
            GetResourcesOutput::builder()
                .resource_tag_mapping_list(mapping("a"))
                .pagination_token("next")
                .build()
        });
    let second = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .match_requests(|req| req.pagination_token() == Some("next"))
        .then_output(move || {
            GetResourcesOutput::builder()
                .resource_tag_mapping_list(mapping("b"))
                .pagination_token("")
                .build()
        });
    let tagging = Tagging::new(mock_client!(
        aws_sdk_resourcegroupstagging,
        RuleMode::MatchAny,
        [&first, &second]
    ));
    let found = tagging.tagged("autoscaler:enabled", "true").await.unwrap();
    let arns: Vec<_> = found.iter().map(|f| f.arn.as_str()).collect();
    assert_eq!(arns, [arn("a"), arn("b")]);
    assert_eq!(found[0].tags["autoscaler:enabled"], "true");

    let failing = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .sequence()
        .http_status(500, None)
        .times(10)
        .build();
    let tagging = Tagging::new(mock_client!(aws_sdk_resourcegroupstagging, [&failing]));
    let err = tagging
        .tagged("autoscaler:enabled", "true")
        .await
        .unwrap_err();
    assert_eq!(err.operation, "GetResources");
    assert_eq!(err.resource, "autoscaler:enabled=true");
}
