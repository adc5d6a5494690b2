//! Saved histories with compare-and-set writes, as the DynamoDB table keeps them.

use super::{lock, Parts};
use crate::lease::Written;
use crate::ports::Clock as _;
use crate::ports::{AwsError, SaveError, StateStore, Stored, Version};
use crate::state::{activity_key, Activity, History, SavedState, MAX_ACTIVITIES};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The operation an archived activity's write is counted and failed under (DynamoDB's
/// `PutItem` of the slot's item), apart from the target item's `PutItem`.
pub const ARCHIVE_PUT: &str = "PutItem (archive)";

pub struct MemoryStateStore {
    parts: Parts,
    items: Mutex<HashMap<String, (History, u64)>>,
    /// Archived activities by key and number, as DynamoDB keeps them in items of their own.
    archive: Mutex<HashMap<String, BTreeMap<u64, Activity>>>,
    /// When each item was last written, and by which process ([`StateProcess`]; `None`:
    /// by [`Self::put`], another writer), as DynamoDB's items carry their writer's mark.
    written: Mutex<HashMap<String, (i64, Option<u64>)>>,
    /// Writes by someone else that land just before our next saves of that key, in order
    /// (`None`: that save meets none).
    interference: Mutex<HashMap<String, Vec<Option<History>>>>,
}

impl MemoryStateStore {
    pub(super) fn new(parts: Parts) -> MemoryStateStore {
        MemoryStateStore {
            parts,
            items: Mutex::default(),
            archive: Mutex::default(),
            written: Mutex::default(),
            interference: Mutex::default(),
        }
    }

    /// The saved history and version of `key`.
    pub fn get(&self, key: &str) -> Option<(History, u64)> {
        lock(&self.items).get(key).cloned()
    }

    /// Saves a history as another writer would (version + 1), now.
    pub fn put(&self, key: &str, history: History) {
        let at = self.parts.clock.epoch_seconds();
        self.put_as(key, history, Some(Written { at, ours: false }));
    }

    /// Saves a history as another writer did (version + 1), `written` when (`None`: not
    /// known, so that no reader waits for its change): a history item given from outside.
    pub fn put_as(&self, key: &str, history: History, written: Option<Written>) {
        let mut items = lock(&self.items);
        let version = items.get(key).map_or(1, |(_, v)| v + 1);
        items.insert(key.to_owned(), (history, version));
        let mut stamps = lock(&self.written);
        match written {
            Some(written) => stamps.insert(key.to_owned(), (written.at, None)),
            None => stamps.remove(key),
        };
    }

    /// Removes the item of `key` as the table's TTL would, a week after its last write; its
    /// archived activities, which expire later, stay.
    pub fn expire(&self, key: &str) {
        lock(&self.items).remove(key);
        lock(&self.written).remove(key);
    }

    /// Makes another writer save `history` under `key` right before our next save of it
    /// (once per call), so that save meets a conflict.
    pub fn interfere(&self, key: &str, history: History) {
        lock(&self.interference)
            .entry(key.to_owned())
            .or_default()
            .push(Some(history));
    }

    /// Lets our next save of `key` (after those already given) meet no other writer, so that
    /// a later [`Self::interfere`] meets the save after it.
    pub fn let_through(&self, key: &str) {
        lock(&self.interference)
            .entry(key.to_owned())
            .or_default()
            .push(None);
    }
}

/// One process's view of the shared table: its saves carry its mark, and its reads tell its
/// own writes from others' (`Written::ours`), as the DynamoDB store's `writer` does. Each
/// context of a world is a process of its own ([`super::World::context`]).
pub struct StateProcess {
    pub(super) store: std::sync::Arc<MemoryStateStore>,
    pub(super) id: u64,
}

impl MemoryStateStore {
    async fn load_by(
        &self,
        keys: &[String],
        process: u64,
    ) -> Result<HashMap<String, Stored>, AwsError> {
        self.parts.call("BatchGetItem", &keys.join(", "))?;
        let items = lock(&self.items);
        let written = lock(&self.written);
        Ok(keys
            .iter()
            .map(|key| {
                let stored = match items.get(key) {
                    Some((history, version)) => Stored {
                        state: SavedState::Valid(history.clone()),
                        version: Version::At(*version),
                        written: written.get(key).map(|&(at, by)| Written {
                            at,
                            ours: by == Some(process),
                        }),
                    },
                    None => Stored::missing(),
                };
                (key.clone(), stored)
            })
            .collect())
    }

    async fn save_by(
        &self,
        key: &str,
        history: &History,
        expected: Version,
        now: i64,
        process: u64,
    ) -> Result<(), SaveError> {
        self.parts.call("PutItem", key).map_err(SaveError::Aws)?;
        let pending = lock(&self.interference)
            .get_mut(key)
            .and_then(|list| (!list.is_empty()).then(|| list.remove(0)))
            .flatten();
        if let Some(theirs) = pending {
            self.put(key, theirs);
        }
        let mut items = lock(&self.items);
        let current = items.get(key).map(|(_, v)| *v);
        let matches = match expected {
            Version::Absent => current.is_none(),
            Version::At(v) => current == Some(v),
            // Every version here is a number: no item was written by hand.
            Version::Unreadable(_) => current.is_some(),
        };
        if !matches {
            return Err(SaveError::Conflict);
        }
        // The activities before the newest are archived once the item holds this save (a
        // writer that lost the compare-and-set archives nothing, as DynamoDB's store).
        {
            let mut archive = lock(&self.archive);
            let slots = archive.entry(key.to_owned()).or_default();
            let newest = history.activities.len().saturating_sub(1);
            for (i, activity) in history.activities[..newest].iter().enumerate() {
                let number = history.activity_number(i);
                // An item of its own, written apart: it can fail alone (logged, as DynamoDB's).
                if self
                    .parts
                    .call(ARCHIVE_PUT, &activity_key(key, number))
                    .is_err()
                {
                    continue;
                }
                // One slot per number mod 20: the 20th later activity replaces it.
                slots.retain(|n, _| n % MAX_ACTIVITIES as u64 != number % MAX_ACTIVITIES as u64);
                slots.insert(number, activity.clone());
            }
        }
        let mut kept = history.clone();
        kept.archive_activities();
        items.insert(key.to_owned(), (kept, current.unwrap_or(0) + 1));
        lock(&self.written).insert(key.to_owned(), (now, Some(process)));
        Ok(())
    }
}

#[async_trait]
impl StateStore for StateProcess {
    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Stored>, AwsError> {
        self.store.load_by(keys, self.id).await
    }

    async fn save(
        &self,
        key: &str,
        history: &History,
        expected: Version,
        now: i64,
    ) -> Result<(), SaveError> {
        self.store
            .save_by(key, history, expected, now, self.id)
            .await
    }

    async fn archived_activities(
        &self,
        key: &str,
        history: &History,
        limit: usize,
    ) -> Result<Vec<Activity>, AwsError> {
        self.store.archived(key, history, limit).await
    }
}

impl MemoryStateStore {
    async fn archived(
        &self,
        key: &str,
        history: &History,
        limit: usize,
    ) -> Result<Vec<Activity>, AwsError> {
        self.parts.call("BatchGetItem", key)?;
        Ok(lock(&self.archive)
            .get(key)
            .map(|slots| {
                slots
                    .range(history.archived_numbers(limit))
                    .map(|(_, a)| a.clone())
                    .collect()
            })
            .unwrap_or_default())
    }
}
