//! Reserved concurrency and account settings through the Lambda API.

use super::{aws_error, invalid_response};
use crate::arn::Arn;
use crate::function_ref::FunctionRef;
use crate::ports::{
    AccountConcurrency, AwsError, EventSourceMapping, FunctionView, Lambda, MappingPage,
    MappingUpdate,
};
use async_trait::async_trait;

pub struct LambdaApi {
    client: aws_sdk_lambda::Client,
}

impl LambdaApi {
    pub fn new(client: aws_sdk_lambda::Client) -> Self {
        LambdaApi { client }
    }
}

/// A count Lambda reports as an i32, which must not be negative.
fn count(operation: &'static str, resource: &str, what: &str, n: i32) -> Result<u32, AwsError> {
    u32::try_from(n).map_err(|_| {
        invalid_response(
            operation,
            resource,
            format!("Lambda returned a negative {what} ({n})"),
        )
    })
}

/// Mappings per `ListEventSourceMappings` page (Lambda's largest).
const MAPPINGS_PER_PAGE: i32 = 100;

/// True for an SQS queue's ARN (`arn:PARTITION:sqs:...`).
fn is_sqs(arn: &str) -> bool {
    Arn::parse(arn).is_some_and(|arn| arn.service == "sqs")
}

/// The mapping out of any of the three answers that describe one (list, get, update): they
/// are distinct SDK types with the same getters.
macro_rules! mapping_of {
    ($m:expr, $operation:expr) => {{
        let m = $m;
        let uuid = m.uuid().unwrap_or_default().to_owned();
        let maximum_concurrency = m
            .scaling_config()
            .and_then(|c| c.maximum_concurrency())
            .map(|n| count($operation, &uuid, "MaximumConcurrency", n))
            .transpose()?;
        let batch_size = m
            .batch_size()
            .map(|n| count($operation, &uuid, "BatchSize", n))
            .transpose()?;
        Ok::<_, AwsError>(EventSourceMapping {
            function_arn: m.function_arn().unwrap_or_default().to_owned(),
            queue_arn: m.event_source_arn().unwrap_or_default().to_owned(),
            state: m.state().unwrap_or_default().to_owned(),
            maximum_concurrency,
            provisioned: m.provisioned_poller_config().is_some(),
            batch_size,
            uuid,
        })
    }};
}

#[async_trait]
impl Lambda for LambdaApi {
    /// `GetFunction` returns the reservation and the tags in one call.
    async fn get_function(&self, function: &FunctionRef) -> Result<FunctionView, AwsError> {
        const OPERATION: &str = "GetFunction";
        let id = function.api_id();
        let output = self
            .client
            .get_function()
            .function_name(id)
            .send()
            .await
            .map_err(|e| aws_error(OPERATION, id, e))?;
        let reserved = output
            .concurrency()
            .and_then(|c| c.reserved_concurrent_executions())
            .map(|n| count(OPERATION, id, "reservation", n))
            .transpose()?;
        let arn = output
            .configuration()
            .and_then(|c| c.function_arn())
            .ok_or_else(|| invalid_response(OPERATION, id, "no FunctionArn in the answer".into()))?
            .to_owned();
        Ok(FunctionView {
            arn,
            reserved,
            tags: output.tags().cloned().unwrap_or_default(),
            tags_error: output
                .tags_error()
                .map(|e| format!("{}: {}", e.error_code(), e.message())),
        })
    }

    async fn put_reserved(&self, function: &FunctionRef, value: u32) -> Result<(), AwsError> {
        const OPERATION: &str = "PutFunctionConcurrency";
        let id = function.api_id();
        let value = i32::try_from(value).map_err(|_| AwsError {
            operation: OPERATION,
            resource: id.to_owned(),
            code: Some("InvalidParameterValueException".into()),
            message: format!("{value} is beyond what Lambda accepts"),
        })?;
        self.client
            .put_function_concurrency()
            .function_name(id)
            .reserved_concurrent_executions(value)
            .send()
            .await
            .map_err(|e| aws_error(OPERATION, id, e))?;
        Ok(())
    }

    async fn account(&self) -> Result<AccountConcurrency, AwsError> {
        const OPERATION: &str = "GetAccountSettings";
        let output = self
            .client
            .get_account_settings()
            .send()
            .await
            .map_err(|e| aws_error(OPERATION, "account", e))?;
        let limit = output.account_limit().ok_or_else(|| {
            invalid_response(OPERATION, "account", "no AccountLimit in the answer".into())
        })?;
        let unreserved = limit.unreserved_concurrent_executions().ok_or_else(|| {
            invalid_response(
                OPERATION,
                "account",
                "no UnreservedConcurrentExecutions in the answer".into(),
            )
        })?;
        Ok(AccountConcurrency {
            limit: count(
                OPERATION,
                "account",
                "ConcurrentExecutions",
                limit.concurrent_executions(),
            )?,
            unreserved: count(
                OPERATION,
                "account",
                "UnreservedConcurrentExecutions",
                unreserved,
            )?,
        })
    }

    async fn list_mappings(
        &self,
        function: Option<&FunctionRef>,
        marker: Option<&str>,
    ) -> Result<MappingPage, AwsError> {
        const OPERATION: &str = "ListEventSourceMappings";
        let resource = function.map_or("account", |f| f.api_id());
        let output = self
            .client
            .list_event_source_mappings()
            // By name: moto 5.2 finds nothing for a function ARN here, and a name is exact
            // within the autoscaler's own account and Region, the only place it works.
            .set_function_name(function.map(|f| f.name().to_owned()))
            .set_marker(marker.map(str::to_owned))
            .max_items(MAPPINGS_PER_PAGE)
            .send()
            .await
            .map_err(|e| aws_error(OPERATION, resource, e))?;
        let mappings = output
            .event_source_mappings()
            .iter()
            .filter(|m| m.event_source_arn().is_some_and(is_sqs))
            .map(|m| mapping_of!(m, OPERATION))
            .collect::<Result<_, _>>()?;
        Ok(MappingPage {
            mappings,
            next_marker: output.next_marker().map(str::to_owned),
        })
    }

    async fn get_mapping(&self, uuid: &str) -> Result<EventSourceMapping, AwsError> {
        const OPERATION: &str = "GetEventSourceMapping";
        let output = self
            .client
            .get_event_source_mapping()
            .uuid(uuid)
            .send()
            .await
            .map_err(|e| aws_error(OPERATION, uuid, e))?;
        mapping_of!(&output, OPERATION)
    }

    async fn update_mapping(
        &self,
        uuid: &str,
        update: MappingUpdate,
    ) -> Result<EventSourceMapping, AwsError> {
        const OPERATION: &str = "UpdateEventSourceMapping";
        let scaling = update.maximum_concurrency.map(|n| {
            aws_sdk_lambda::types::ScalingConfig::builder()
                .maximum_concurrency(i32::try_from(n).unwrap_or(i32::MAX))
                .build()
        });
        let output = self
            .client
            .update_event_source_mapping()
            .uuid(uuid)
            .set_scaling_config(scaling)
            .set_enabled(update.enabled)
            .send()
            .await
            .map_err(|e| aws_error(OPERATION, uuid, e))?;
        mapping_of!(&output, OPERATION)
    }
}
