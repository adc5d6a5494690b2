//! Queue URLs learned by name, kept across the invocations of a warm container.
//!
//! A queue's URL is fixed by its name, account and Region, so `GetQueueUrl` need not be asked
//! again on every evaluation. A URL whose read fails is forgotten: the next invocation asks
//! again, so a deleted or mistyped queue is reported as SQS sees it.

use crate::ports::{AwsError, QueueReader};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
pub struct QueueUrls {
    by_name: Mutex<HashMap<String, String>>,
}

impl QueueUrls {
    /// The URL of the queue `name`: known, or asked of SQS and kept.
    pub async fn resolve(&self, name: &str, queues: &dyn QueueReader) -> Result<String, AwsError> {
        if let Some(url) = self.known().get(name) {
            return Ok(url.clone());
        }
        let url = queues.url_of(name).await?;
        self.known().insert(name.to_owned(), url.clone());
        Ok(url)
    }

    /// Forgets every name that resolved to `url`.
    pub fn forget(&self, url: &str) {
        self.known().retain(|_, known| known != url);
    }

    fn known(&self) -> MutexGuard<'_, HashMap<String, String>> {
        // The map stays valid whatever a panicking holder was doing: entries are whole.
        self.by_name.lock().unwrap_or_else(|e| e.into_inner())
    }
}
