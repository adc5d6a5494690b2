//! Queues and their depths.

use super::{lock, Later, Parts};
use crate::ports::Clock;
use crate::ports::{AwsError, QueueDepth, QueueReader};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub struct MemoryQueues {
    parts: Parts,
    /// Depth by queue name.
    depths: Mutex<HashMap<String, QueueDepth>>,
    /// Depths that take effect later, on the world's clock.
    later: Later<QueueDepth>,
}

impl MemoryQueues {
    pub(super) fn new(parts: Parts) -> MemoryQueues {
        MemoryQueues {
            parts,
            depths: Mutex::default(),
            later: Later::default(),
        }
    }

    /// The URL this world gives queue `name`.
    pub fn url(name: &str) -> String {
        format!(
            "https://sqs.{}.amazonaws.com/{}/{name}",
            super::lambda::REGION,
            super::lambda::ACCOUNT
        )
    }

    /// Creates the queue or changes its depth.
    pub fn set_depth(&self, name: &str, depth: QueueDepth) {
        lock(&self.depths).insert(name.to_owned(), depth);
    }

    /// Changes the depth once the world's clock reaches `from` (its monotonic time), for a
    /// queue that fills or drains while an invocation runs.
    pub fn set_depth_from(&self, name: &str, from: Duration, depth: QueueDepth) {
        self.later.add(from, name, depth);
    }

    /// Applies the later depths that are due, in the order they were given.
    fn catch_up(&self) {
        let due = self.later.due(self.parts.clock.elapsed());
        lock(&self.depths).extend(due);
    }

    fn missing(operation: &'static str, resource: &str) -> AwsError {
        AwsError {
            operation,
            resource: resource.to_owned(),
            code: Some("AWS.SimpleQueueService.NonExistentQueue".into()),
            message: "The specified queue does not exist.".into(),
        }
    }
}

#[async_trait]
impl QueueReader for MemoryQueues {
    async fn url_of(&self, name: &str) -> Result<String, AwsError> {
        self.parts.call("GetQueueUrl", name)?;
        self.catch_up();
        if !lock(&self.depths).contains_key(name) {
            return Err(Self::missing("GetQueueUrl", name));
        }
        Ok(Self::url(name))
    }

    async fn depth(&self, url: &str) -> Result<QueueDepth, AwsError> {
        self.parts.call("GetQueueAttributes", url)?;
        self.catch_up();
        let name = url.rsplit('/').next().unwrap_or_default();
        lock(&self.depths)
            .get(name)
            .copied()
            .ok_or_else(|| Self::missing("GetQueueAttributes", url))
    }
}
