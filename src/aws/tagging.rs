//! Finding tagged functions with the Resource Groups Tagging API: one `GetResources` call per
//! 100 functions, with their tags, outside Lambda's shared control-plane rate limit.

use super::aws_error;
use crate::ports::{AwsError, FunctionFinder, TaggedFunction};
use async_trait::async_trait;
use aws_sdk_resourcegroupstagging::types::TagFilter;

pub struct Tagging {
    client: aws_sdk_resourcegroupstagging::Client,
}

impl Tagging {
    pub fn new(client: aws_sdk_resourcegroupstagging::Client) -> Self {
        Tagging { client }
    }
}

#[async_trait]
impl FunctionFinder for Tagging {
    async fn tagged(&self, key: &str, value: &str) -> Result<Vec<TaggedFunction>, AwsError> {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let output = self
                .client
                .get_resources()
                .resource_type_filters("lambda:function")
                .tag_filters(TagFilter::builder().key(key).values(value).build())
                .resources_per_page(100)
                .set_pagination_token(token)
                .send()
                .await
                .map_err(|e| aws_error("GetResources", format!("{key}={value}"), e))?;
            for mapping in output.resource_tag_mapping_list() {
                let Some(arn) = mapping.resource_arn() else {
                    continue;
                };
                let tags = mapping
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect();
                found.push(TaggedFunction {
                    arn: arn.to_owned(),
                    tags,
                });
            }
            token = output
                .pagination_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Ok(found)
    }
}
