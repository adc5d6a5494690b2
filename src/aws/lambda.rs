//! Reserved concurrency and account settings through the Lambda API.

use super::{aws_error, invalid_response};
use crate::function_ref::FunctionRef;
use crate::ports::{AccountConcurrency, AwsError, FunctionView, Lambda};
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
}
