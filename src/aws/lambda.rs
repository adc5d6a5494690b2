//! Reserved concurrency through the Lambda API.

use super::aws_error;
use crate::function_ref::FunctionRef;
use crate::ports::{AwsError, FunctionConcurrency, FunctionView};

pub struct LambdaConcurrency {
    client: aws_sdk_lambda::Client,
}

impl LambdaConcurrency {
    pub fn new(client: aws_sdk_lambda::Client) -> Self {
        LambdaConcurrency { client }
    }
}

impl FunctionConcurrency for LambdaConcurrency {
    /// `GetFunction` returns the reservation and the tags (with the saved state) in one call.
    async fn observe(&self, function: &FunctionRef) -> Result<FunctionView, AwsError> {
        let output = self
            .client
            .get_function()
            .function_name(function.api_id())
            .send()
            .await
            .map_err(|e| aws_error("GetFunction", function.api_id(), e))?;
        let reserved = output
            .concurrency()
            .and_then(|c| c.reserved_concurrent_executions())
            .map(|n| {
                u32::try_from(n).map_err(|_| AwsError {
                    operation: "GetFunction",
                    resource: function.api_id().to_owned(),
                    code: None,
                    message: format!("Lambda returned a negative reservation ({n})"),
                })
            })
            .transpose()?;
        let arn = output
            .configuration()
            .and_then(|c| c.function_arn())
            .unwrap_or(function.api_id())
            .to_owned();
        Ok(FunctionView {
            arn,
            reserved,
            tags: output.tags().cloned().unwrap_or_default(),
        })
    }

    async fn tag(&self, arn: &str, key: &str, value: &str) -> Result<(), AwsError> {
        self.client
            .tag_resource()
            .resource(arn)
            .tags(key, value)
            .send()
            .await
            .map_err(|e| aws_error("TagResource", arn, e))?;
        Ok(())
    }

    async fn set_reserved(&self, function: &FunctionRef, value: u32) -> Result<(), AwsError> {
        let value = i32::try_from(value).map_err(|_| AwsError {
            operation: "PutFunctionConcurrency",
            resource: function.api_id().to_owned(),
            code: None,
            message: format!("{value} is beyond what Lambda accepts"),
        })?;
        self.client
            .put_function_concurrency()
            .function_name(function.api_id())
            .reserved_concurrent_executions(value)
            .send()
            .await
            .map_err(|e| aws_error("PutFunctionConcurrency", function.api_id(), e))?;
        Ok(())
    }
}
