//! Queue depth through the SQS API.

use super::{aws_error, invalid_response};
use crate::ports::{AwsError, QueueDepth, QueueReader};
use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;

pub struct Sqs {
    client: aws_sdk_sqs::Client,
}

impl Sqs {
    pub fn new(client: aws_sdk_sqs::Client) -> Self {
        Sqs { client }
    }
}

#[async_trait]
impl QueueReader for Sqs {
    async fn url_of(&self, name: &str) -> Result<String, AwsError> {
        let output = self
            .client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| aws_error("GetQueueUrl", name, e))?;
        output
            .queue_url()
            .map(str::to_owned)
            .ok_or_else(|| invalid_response("GetQueueUrl", name, "SQS returned no QueueUrl".into()))
    }

    async fn depth(&self, url: &str) -> Result<QueueDepth, AwsError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| aws_error("GetQueueAttributes", url, e))?;
        let attributes = output.attributes();
        let count = |name: QueueAttributeName| -> Result<u64, AwsError> {
            let text = attributes.and_then(|a| a.get(&name)).ok_or_else(|| {
                invalid_response(
                    "GetQueueAttributes",
                    url,
                    format!("SQS did not return {}", name.as_str()),
                )
            })?;
            text.parse().map_err(|_| {
                invalid_response(
                    "GetQueueAttributes",
                    url,
                    format!("{} is not a count: \"{text}\"", name.as_str()),
                )
            })
        };
        Ok(QueueDepth {
            visible: count(QueueAttributeName::ApproximateNumberOfMessages)?,
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?,
            delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed)?,
        })
    }
}
