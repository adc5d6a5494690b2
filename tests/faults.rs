//! Faults moto cannot produce (throttling, conflicts, 5xx, Lambda's unreserved-concurrency
//! floor, DynamoDB's conditional-check failures and unprocessed keys), injected with
//! aws-smithy-mocks into the real SDK clients behind our adapters.

use aws_config::retry::RetryConfig;
use aws_sdk_cloudwatch::operation::describe_alarms::{DescribeAlarmsError, DescribeAlarmsOutput};
use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    AlarmType, CompositeAlarm, MessageData, MetricAlarm, MetricDataResult, StateValue, StatusCode,
};
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::operation::put_function_concurrency::{
    PutFunctionConcurrencyError, PutFunctionConcurrencyOutput,
};
use aws_sdk_lambda::types::error::{
    InvalidParameterValueException, ResourceConflictException, TooManyRequestsException,
};
use aws_sdk_lambda::types::{Concurrency, FunctionConfiguration};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use lambda_autoscaler::alarm::AlarmState;
use lambda_autoscaler::aws::cloudwatch::CloudWatch;
use lambda_autoscaler::aws::lambda::LambdaApi;
use lambda_autoscaler::error::HandlerError;
use lambda_autoscaler::function_ref::FunctionRef;
use lambda_autoscaler::handler::Autoscaler;
use lambda_autoscaler::memory::World;
use lambda_autoscaler::pace::PacedLambda;
use lambda_autoscaler::policy::Policy;
use lambda_autoscaler::ports::{AlarmReader, AwsError, Lambda, MetricReader, ServiceQuery};
use lambda_autoscaler::report::Outcome;
use lambda_autoscaler::settings::Settings;
use serde_json::{json, Value};
use std::sync::Arc;

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

/// A Lambda client answering from `rules`, with the SDK's own retries off as
/// `wiring::context` configures it: retries belong to the paced port.
fn lambda_client(rules: &[&Rule]) -> aws_sdk_lambda::Client {
    mock_client!(aws_sdk_lambda, RuleMode::MatchAny, rules, |conf| conf
        .retry_config(RetryConfig::disabled()))
}

/// The paced, retrying Lambda port over `client`, on a virtual clock (no real sleeping).
fn paced(client: aws_sdk_lambda::Client) -> PacedLambda {
    let world = World::new(1_700_000_000);
    PacedLambda::new(
        Arc::new(LambdaApi::new(client)),
        world.clock.clone(),
        5.0,
        50.0,
    )
}

fn currently(value: i32) -> Rule {
    mock!(aws_sdk_lambda::Client::get_function).then_output(move || function_output(value))
}

/// orders, reserved at `value`.
fn function_output(value: i32) -> GetFunctionOutput {
    GetFunctionOutput::builder()
        .configuration(
            FunctionConfiguration::builder()
                .function_arn("arn:aws:lambda:us-east-1:123456789012:function:orders")
                .build(),
        )
        .concurrency(
            Concurrency::builder()
                .reserved_concurrent_executions(value)
                .build(),
        )
        .build()
}

fn throttled() -> PutFunctionConcurrencyError {
    PutFunctionConcurrencyError::TooManyRequestsException(
        TooManyRequestsException::builder()
            .message("Rate exceeded")
            .meta(service_error("TooManyRequestsException", "Rate exceeded"))
            .build(),
    )
}

#[tokio::test]
async fn the_unreserved_floor_error_reaches_the_caller_with_code_and_message_and_is_not_retried() {
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
    let lambda = paced(lambda_client(&[&put]));
    let err = lambda.put_reserved(&orders(), 900).await.unwrap_err();
    assert_eq!(err.operation, "PutFunctionConcurrency");
    assert_eq!(err.code.as_deref(), Some("InvalidParameterValueException"));
    assert_eq!(
        err.to_string(),
        format!("PutFunctionConcurrency on orders failed: InvalidParameterValueException: {FLOOR_MESSAGE}")
    );
    assert_eq!(put.num_calls(), 1, "a validation error would fail again");
}

#[tokio::test]
async fn throttling_is_retried_through_the_pacer_and_reported_after_the_last_attempt() {
    let put = mock!(aws_sdk_lambda::Client::put_function_concurrency)
        .sequence()
        .error(throttled)
        .times(10)
        .build();
    let lambda = paced(lambda_client(&[&put]));
    let err = lambda.put_reserved(&orders(), 9).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("TooManyRequestsException"));
    assert_eq!(put.num_calls(), 4, "four attempts, each paced");

    let put = mock!(aws_sdk_lambda::Client::put_function_concurrency)
        .sequence()
        .error(throttled)
        .times(2)
        .output(|| PutFunctionConcurrencyOutput::builder().build())
        .build();
    let lambda = paced(lambda_client(&[&put]));
    lambda.put_reserved(&orders(), 9).await.unwrap();
    assert_eq!(put.num_calls(), 3);
}

/// `PutFunctionConcurrency` answering a 503 (which may follow the change), then success.
fn server_fault_then_success() -> Rule {
    mock!(aws_sdk_lambda::Client::put_function_concurrency)
        .sequence()
        .http_status(503, Some("Service Unavailable".into()))
        .output(|| PutFunctionConcurrencyOutput::builder().build())
        .build()
}

/// A write of 9 to orders whose check before a resend reads the reservation once: landed at
/// 9, given up (with the failure) at 3, sent again otherwise.
async fn put_checked(lambda: &PacedLambda) -> Result<(), AwsError> {
    let check = |error: &AwsError| {
        let error = error.clone();
        async move {
            match lambda.reserved_once(&orders()).await {
                Ok(Some(9)) => Some(Ok(())),
                Ok(Some(3)) | Err(_) => Some(Err(error)),
                Ok(_) => None,
            }
        }
    };
    lambda
        .put_reserved_before(&orders(), 9, None, Some(check))
        .await
}

#[tokio::test]
async fn a_write_whose_answer_may_have_followed_its_landing_is_checked_before_it_is_sent_again() {
    // A server fault may come after the write landed: the check finds it did.
    let put = server_fault_then_success();
    let landed = currently(9);
    let lambda = paced(lambda_client(&[&put, &landed]));
    put_checked(&lambda).await.unwrap();
    assert_eq!(
        put.num_calls(),
        1,
        "not sent again: it could land after another writer's"
    );
    assert_eq!(landed.num_calls(), 1, "one read, not retried");

    // It had not landed: sent again. A throttled call was refused: no check before its retry.
    let put = mock!(aws_sdk_lambda::Client::put_function_concurrency)
        .sequence()
        .http_status(503, Some("Service Unavailable".into()))
        .error(throttled)
        .output(|| PutFunctionConcurrencyOutput::builder().build())
        .build();
    let unchanged = currently(4);
    let lambda = paced(lambda_client(&[&put, &unchanged]));
    put_checked(&lambda).await.unwrap();
    assert_eq!(put.num_calls(), 3);
    assert_eq!(unchanged.num_calls(), 1);

    // The check gives up (another writer's cap of 3): the failure stands.
    let put = server_fault_then_success();
    let capped = currently(3);
    let lambda = paced(lambda_client(&[&put, &capped]));
    assert!(put_checked(&lambda).await.is_err());
    assert_eq!(put.num_calls(), 1, "the cap stands");

    // The last attempt is checked too: four faults, the last after the write landed.
    let put = mock!(aws_sdk_lambda::Client::put_function_concurrency)
        .sequence()
        .http_status(503, Some("Service Unavailable".into()))
        .times(4)
        .build();
    let reads = mock!(aws_sdk_lambda::Client::get_function)
        .sequence()
        .output(|| function_output(4))
        .times(3)
        .output(|| function_output(9))
        .build();
    let lambda = paced(lambda_client(&[&put, &reads]));
    put_checked(&lambda).await.unwrap();
    assert_eq!((put.num_calls(), reads.num_calls()), (4, 4));

    // A check that keeps finding nothing changed: four attempts in all, then the failure.
    let put = mock!(aws_sdk_lambda::Client::put_function_concurrency)
        .sequence()
        .http_status(503, Some("Service Unavailable".into()))
        .times(10)
        .build();
    let unchanged = currently(4);
    let lambda = paced(lambda_client(&[&put, &unchanged]));
    assert!(put_checked(&lambda).await.is_err());
    assert_eq!((put.num_calls(), unchanged.num_calls()), (4, 4));

    // A check that cannot read gives up at once: nothing is sent blind, and the read is not
    // retried.
    let put = server_fault_then_success();
    let unreadable = mock!(aws_sdk_lambda::Client::get_function)
        .sequence()
        .http_status(500, None)
        .times(3)
        .build();
    let lambda = paced(lambda_client(&[&put, &unreadable]));
    assert!(put_checked(&lambda).await.is_err());
    assert_eq!((put.num_calls(), unreadable.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_update_in_progress_is_retried_until_it_clears() {
    let put = mock!(aws_sdk_lambda::Client::put_function_concurrency)
        .sequence()
        .error(|| {
            PutFunctionConcurrencyError::ResourceConflictException(
                ResourceConflictException::builder()
                    .message("An update is in progress for resource: orders")
                    .meta(service_error(
                        "ResourceConflictException",
                        "An update is in progress for resource: orders",
                    ))
                    .build(),
            )
        })
        .output(|| PutFunctionConcurrencyOutput::builder().build())
        .build();
    let lambda = paced(lambda_client(&[&put]));
    lambda.put_reserved(&orders(), 9).await.unwrap();
    assert_eq!(put.num_calls(), 2);
}

#[tokio::test]
async fn a_mapping_still_updating_is_retried_and_its_answer_read_through_the_sdk() {
    use aws_sdk_lambda::operation::update_event_source_mapping::{
        UpdateEventSourceMappingError, UpdateEventSourceMappingOutput,
    };
    use aws_sdk_lambda::types::error::ResourceInUseException;
    let update = mock!(aws_sdk_lambda::Client::update_event_source_mapping)
        .sequence()
        .error(|| {
            UpdateEventSourceMappingError::ResourceInUseException(
                ResourceInUseException::builder()
                    .message("The resource is being updated")
                    .meta(service_error(
                        "ResourceInUseException",
                        "The resource is being updated",
                    ))
                    .build(),
            )
        })
        .output(|| {
            UpdateEventSourceMappingOutput::builder()
                .uuid("u-1")
                .function_arn("arn:aws:lambda:us-east-1:123456789012:function:orders")
                .event_source_arn("arn:aws:sqs:us-east-1:123456789012:orders")
                .state("Updating")
                .scaling_config(
                    aws_sdk_lambda::types::ScalingConfig::builder()
                        .maximum_concurrency(3)
                        .build(),
                )
                .build()
        })
        .build();
    let lambda = paced(lambda_client(&[&update]));
    let answer = lambda
        .update_mapping(
            "u-1",
            lambda_autoscaler::ports::MappingUpdate {
                maximum_concurrency: Some(3),
                enabled: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(update.num_calls(), 2);
    assert_eq!(answer.maximum_concurrency, Some(3));
    assert_eq!(answer.queue_name(), "orders");
    assert!(answer.is_settling());
}

#[tokio::test]
async fn a_server_error_is_retried_then_names_the_operation_and_function() {
    let get = mock!(aws_sdk_lambda::Client::get_function)
        .sequence()
        .http_status(503, Some("Service Unavailable".into()))
        .times(10)
        .build();
    let lambda = paced(lambda_client(&[&get]));
    let err = lambda.get_function(&orders()).await.unwrap_err();
    assert_eq!(err.operation, "GetFunction");
    assert_eq!(err.resource, "orders");
    assert_eq!(get.num_calls(), 4);
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
async fn an_alarm_in_a_state_this_build_does_not_know_is_unreadable_not_left_out() {
    let describe = mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_output(|| {
        DescribeAlarmsOutput::builder()
            .metric_alarms(
                MetricAlarm::builder()
                    .alarm_name("db")
                    .state_value(StateValue::from("SOMETHING_NEW"))
                    .build(),
            )
            .build()
    });
    let cloudwatch = CloudWatch::new(mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::MatchAny,
        [&describe]
    ));
    // Left out, db's cap would read as lifted ("no opinion").
    let error = cloudwatch.states(&["db".into()]).await.unwrap_err();
    assert_eq!(
        (error.operation, error.resource.as_str()),
        ("DescribeAlarms", "db")
    );
    assert!(error.message.contains("SOMETHING_NEW"), "{}", error.message);
}

fn metric_result(id: &str, status: StatusCode, values: &[f64]) -> MetricDataResult {
    values
        .iter()
        .enumerate()
        .fold(
            MetricDataResult::builder().id(id).status_code(status),
            |b, (m, v)| {
                b.timestamps(DateTime::from_secs(600 + 60 * m as i64))
                    .values(*v)
            },
        )
        .build()
}

/// CloudWatch answering five minutes of 200 s of `Duration` over 100 messages, with `count`
/// for the invocation count's query (`c0`).
fn cloudwatch_answering(count: MetricDataResult) -> CloudWatch {
    let read = mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_output(move || {
        GetMetricDataOutput::builder()
            .metric_data_results(metric_result("d0", StatusCode::Complete, &[200_000.0; 5]))
            .metric_data_results(count.clone())
            .metric_data_results(metric_result("m0", StatusCode::Complete, &[100.0; 5]))
            .build()
    });
    CloudWatch::new(mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::MatchAny,
        [&read]
    ))
}

#[tokio::test]
async fn a_metric_query_that_failed_fails_the_read_instead_of_reading_as_no_data() {
    // The invocation count's query failed. Taken as data, the batch size would be unknown
    // and the proposal could fall.
    let failed = MetricDataResult::builder()
        .id("c0")
        .status_code(StatusCode::InternalError)
        .messages(MessageData::builder().value("try again").build())
        .build();
    let query = ServiceQuery {
        function: "orders".into(),
        queue: "orders-q".into(),
    };
    let error = cloudwatch_answering(failed)
        .service_points(std::slice::from_ref(&query), 0, 1000)
        .await
        .unwrap_err();
    assert_eq!(error.operation, "GetMetricData");
    assert_eq!(error.code.as_deref(), Some("InternalError"));
    assert!(
        error
            .message
            .contains("c0 answered InternalError: try again"),
        "{}",
        error.message
    );
    // Complete answers are points.
    let complete = metric_result("c0", StatusCode::Complete, &[10.0; 5]);
    let points = cloudwatch_answering(complete)
        .service_points(&[query], 0, 1000)
        .await
        .unwrap();
    assert_eq!(points[0].len(), 5);
    assert_eq!(points[0][0].invocations, Some(10.0));
}

/// `handle(event)` for one target at 5 whose alarms cannot be read (DescribeAlarms throttled
/// through every retry), with real SDK clients for Lambda and CloudWatch and in-memory ports
/// for the rest; also how many `PutFunctionConcurrency` calls were made.
async fn with_describe_alarms_throttled(
    alarms: &str,
    event: Value,
) -> (Result<Outcome, HandlerError>, usize) {
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
        &format!(r#"{{"targets":[{{"function":"orders","min":1,"max":50,"alarms":{alarms}}}]}}"#),
        "test",
    );
    let world = World::new(1_700_000_000);
    let mut ctx = world.context(5.0, 50.0, false);
    ctx.lambda = Arc::new(paced(lambda_client(&[&get, &put])));
    ctx.alarms = Arc::new(CloudWatch::new(mock_client!(
        aws_sdk_cloudwatch,
        [&describe]
    )));
    let autoscaler = Autoscaler::new(policy, Settings::default(), ctx);
    let result = autoscaler.handle(&event, None).await;
    (result, put.num_calls())
}

#[tokio::test]
async fn a_throttled_describe_alarms_holds_the_target_and_says_which_read_failed() {
    let event = json!({"source": "aws.cloudwatch", "alarmData": {"alarmName": "backlog", "state": {"value": "ALARM"}}});
    let (outcome, puts) =
        with_describe_alarms_throttled(r#"[{"name":"backlog","on_alarm":{"change":10}}]"#, event)
            .await;
    let outcome = outcome.unwrap();
    let decision = &outcome.decisions[0];
    assert_eq!((decision.previous, decision.desired), (Some(5), Some(5)));
    assert!(
        decision.reasons.iter().any(|r| r.starts_with(
            "metrics unavailable (DescribeAlarms on backlog failed: Throttling: Rate exceeded): \
             on_metric_failure hold"
        )),
        "{:?}",
        decision.reasons
    );
    assert_eq!(puts, 0, "nothing is written when the alarms cannot be read");
}

#[tokio::test]
async fn a_direct_command_whose_alarms_cannot_be_read_is_refused_and_writes_nothing() {
    // The alarm caps the target: a command must not pass a cap that could not be checked.
    let (result, puts) = with_describe_alarms_throttled(
        r#"[{"name":"db","on_alarm":{"cap":3}}]"#,
        json!({"function": "orders", "desiredConcurrency": 40}),
    )
    .await;
    let error = result.unwrap_err();
    assert!(
        error.to_string().contains("Throttling: Rate exceeded"),
        "{error}"
    );
    assert_eq!(puts, 0, "a refused command writes nothing");
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

// ---- the state table -------------------------------------------------------------------

fn dynamodb_client(rules: &[&Rule]) -> aws_sdk_dynamodb::Client {
    mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules)
}

#[tokio::test]
async fn a_failed_condition_on_the_state_write_is_a_conflict_not_an_error() {
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use lambda_autoscaler::aws::dynamodb::DynamoStateStore;
    use lambda_autoscaler::ports::{SaveError, StateStore, Version};
    use lambda_autoscaler::state::History;
    let put = mock!(aws_sdk_dynamodb::Client::put_item)
        .match_requests(|req| {
            req.condition_expression() == Some("#v = :expected")
                && req
                    .expression_attribute_values()
                    .and_then(|v| v.get(":expected"))
                    == Some(&aws_sdk_dynamodb::types::AttributeValue::N("4".into()))
        })
        .then_error(|| {
            PutItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder()
                    .message("The conditional request failed")
                    .meta(
                        aws_sdk_dynamodb::error::ErrorMetadata::builder()
                            .code("ConditionalCheckFailedException")
                            .message("The conditional request failed")
                            .build(),
                    )
                    .build(),
            )
        });
    let store = DynamoStateStore::new(dynamodb_client(&[&put]), "autoscaler-state".into());
    let saved = store
        .save("arn:f", &History::default(), Version::At(4), 1_700_000_000)
        .await;
    assert_eq!(saved, Err(SaveError::Conflict));
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn a_save_whose_first_attempt_landed_unanswered_is_saved_not_a_conflict() {
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
    use lambda_autoscaler::aws::dynamodb::DynamoStateStore;
    use lambda_autoscaler::ports::{SaveError, StateStore, Version};
    use lambda_autoscaler::state::History;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    // The retry of a PutItem whose first attempt landed meets that write: version 5 with
    // the write's own mark (echoed from the request), or another write's.
    let refused_over = |this_write: bool| {
        let seen = Arc::new(Mutex::new(String::new()));
        let mark = seen.clone();
        mock!(aws_sdk_dynamodb::Client::put_item)
            .match_requests(move |req| {
                let asks = req.return_values_on_condition_check_failure()
                    == Some(&ReturnValuesOnConditionCheckFailure::AllOld);
                if let Some(AttributeValue::S(m)) = req.item().and_then(|i| i.get("save")) {
                    *mark.lock().unwrap() = m.clone();
                }
                asks
            })
            .then_error(move || {
                let save = if this_write {
                    seen.lock().unwrap().clone()
                } else {
                    "another".to_owned()
                };
                let item = HashMap::from([
                    ("version".to_owned(), AttributeValue::N("5".into())),
                    ("save".to_owned(), AttributeValue::S(save)),
                ]);
                PutItemError::ConditionalCheckFailedException(
                    ConditionalCheckFailedException::builder()
                        .message("The conditional request failed")
                        .set_item(Some(item))
                        .meta(
                            aws_sdk_dynamodb::error::ErrorMetadata::builder()
                                .code("ConditionalCheckFailedException")
                                .build(),
                        )
                        .build(),
                )
            })
    };
    for (ours, expected) in [(true, Ok(())), (false, Err(SaveError::Conflict))] {
        let put = refused_over(ours);
        let store = DynamoStateStore::new(dynamodb_client(&[&put]), "autoscaler-state".into());
        let saved = store
            .save("arn:f", &History::default(), Version::At(4), 1_700_000_000)
            .await;
        assert_eq!(saved, expected, "this write: {ours}");
        assert_eq!(put.num_calls(), 1);
    }
}

#[tokio::test]
async fn a_save_that_fails_without_a_conflict_is_saved_and_archives_only_if_it_landed() {
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::operation::put_item::{PutItemInput, PutItemOutput};
    use aws_sdk_dynamodb::types::AttributeValue;
    use lambda_autoscaler::aws::dynamodb::DynamoStateStore;
    use lambda_autoscaler::ports::{SaveError, StateStore, Version};
    use lambda_autoscaler::state::{Activity, ActivityOutcome, History};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let is_archive = |req: &PutItemInput| matches!(req.item().and_then(|i| i.get("function")), Some(AttributeValue::S(k)) if k.contains("#activity#"));
    let activity = |desired| Activity {
        at: 1_700_000_000,
        trigger: "schedule".into(),
        previous: Some(5),
        desired: Some(desired),
        reasons: vec![],
        outcome: ActivityOutcome::Applied,
    };
    let history = History {
        activities: vec![activity(10), activity(12)],
        earlier_activities: 7,
        ..History::default()
    };
    // The item's write fails with a 500 each time: it may have landed, its answer lost.
    // A read of the item then finds this write's own mark, or another writer's.
    for landed in [true, false] {
        let mark = Arc::new(Mutex::new(String::new()));
        let seen = mark.clone();
        let item = mock!(aws_sdk_dynamodb::Client::put_item)
            .match_requests(move |req| {
                if let Some(AttributeValue::S(m)) = req.item().and_then(|i| i.get("save")) {
                    *seen.lock().unwrap() = m.clone();
                }
                !is_archive(req)
            })
            .sequence()
            .http_status(500, None)
            .times(10)
            .build();
        let read = mock!(aws_sdk_dynamodb::Client::batch_get_item).then_output(move || {
            let save = if landed {
                mark.lock().unwrap().clone()
            } else {
                "another writer's".to_owned()
            };
            let found = HashMap::from([
                ("function".to_owned(), AttributeValue::S("arn:f".into())),
                ("save".to_owned(), AttributeValue::S(save)),
            ]);
            BatchGetItemOutput::builder()
                .responses("autoscaler-state", vec![found])
                .build()
        });
        let archive = mock!(aws_sdk_dynamodb::Client::put_item)
            .match_requests(move |req| is_archive(req))
            .then_output(|| PutItemOutput::builder().build());
        let store = DynamoStateStore::new(
            dynamodb_client(&[&item, &read, &archive]),
            "autoscaler-state".into(),
        );
        let saved = store
            .save("arn:f", &history, Version::At(4), 1_700_000_000)
            .await;
        // Landed: saved (before, reported "state not saved, so nothing was changed" while the
        // item announced a change whose lease held other writers and whose cooldown held
        // the retry). Not: the store's failure.
        if landed {
            assert!(saved.is_ok(), "{saved:?}");
        } else {
            assert!(matches!(saved, Err(SaveError::Aws(_))), "{saved:?}");
        }
        assert_eq!(read.num_calls(), 1);
        // Landed: the item holds this write, whose archive is the one to keep. Not: another
        // writer may have won, whose archive must stand.
        assert_eq!(archive.num_calls(), usize::from(landed), "landed: {landed}");
    }
}

#[tokio::test]
async fn keys_the_table_leaves_unprocessed_are_asked_for_again() {
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
    use lambda_autoscaler::aws::dynamodb::DynamoStateStore;
    use lambda_autoscaler::ports::{StateStore, Version};
    use lambda_autoscaler::state::SavedState;
    use std::collections::HashMap;
    let item = |key: &str| {
        HashMap::from([
            ("function".to_owned(), AttributeValue::S(key.into())),
            ("version".to_owned(), AttributeValue::N("2".into())),
            ("format".to_owned(), AttributeValue::N("1".into())),
            ("recommendations".to_owned(), AttributeValue::L(vec![])),
        ])
    };
    let key = |k: &str| HashMap::from([("function".to_owned(), AttributeValue::S(k.into()))]);
    let get = mock!(aws_sdk_dynamodb::Client::batch_get_item)
        .sequence()
        .output(move || {
            BatchGetItemOutput::builder()
                .responses("autoscaler-state", vec![item("arn:a")])
                .unprocessed_keys(
                    "autoscaler-state",
                    KeysAndAttributes::builder()
                        .keys(key("arn:b"))
                        .build()
                        .unwrap(),
                )
                .build()
        })
        .output(move || {
            BatchGetItemOutput::builder()
                .responses("autoscaler-state", vec![item("arn:b")])
                .build()
        })
        .build();
    let store = DynamoStateStore::new(dynamodb_client(&[&get]), "autoscaler-state".into());
    let keys = ["arn:a".to_owned(), "arn:b".to_owned(), "arn:c".to_owned()];
    let loaded = store.load(&keys).await.unwrap();
    assert_eq!(get.num_calls(), 2);
    assert_eq!(loaded["arn:a"].version, Version::At(2));
    assert_eq!(loaded["arn:b"].version, Version::At(2));
    assert_eq!(loaded["arn:c"].state, SavedState::Missing);
    assert_eq!(loaded["arn:c"].version, Version::Absent);
}

#[tokio::test]
async fn an_endpoint_without_the_operation_is_not_retried_and_says_what_it_answered() {
    let settings = mock!(aws_sdk_lambda::Client::get_account_settings)
        .sequence()
        .http_status(
            404,
            Some("<!DOCTYPE html><title>404 Not Found</title>".into()),
        )
        .times(10)
        .build();
    let lambda = paced(lambda_client(&[&settings]));
    let err = lambda.account().await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("HTTP404"));
    assert_eq!(
        err.message,
        "HTTP 404, an answer this client could not read"
    );
    assert_eq!(settings.num_calls(), 1, "a 404 would come again");
}
