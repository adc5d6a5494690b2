//! Reserved concurrency through the Lambda API.

use super::aws_error;
use crate::function_ref::FunctionRef;
use crate::ports::{AwsError, FunctionConcurrency};

pub struct LambdaConcurrency {
    client: aws_sdk_lambda::Client,
}

impl LambdaConcurrency {
    pub fn new(client: aws_sdk_lambda::Client) -> Self {
        LambdaConcurrency { client }
    }
}

impl FunctionConcurrency for LambdaConcurrency {
    async fn reserved(&self, function: &FunctionRef) -> Result<Option<u32>, AwsError> {
        let output = self
            .client
            .get_function_concurrency()
            .function_name(function.api_id())
            .send()
            .await
            .map_err(|e| aws_error("GetFunctionConcurrency", function.api_id(), e))?;
        output
            .reserved_concurrent_executions()
            .map(|n| {
                u32::try_from(n).map_err(|_| AwsError {
                    operation: "GetFunctionConcurrency",
                    resource: function.api_id().to_owned(),
                    code: None,
                    message: format!("Lambda returned a negative reservation ({n})"),
                })
            })
            .transpose()
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
