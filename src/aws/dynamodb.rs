//! Saved histories in a DynamoDB table, one item per target.
//!
//! The table needs only a String partition key named `function` (the function's unqualified
//! ARN), so it can be created by hand as well as by `template.yaml`. An item:
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `function` | S | the key: the function's unqualified ARN |
//! | `version` | N | incremented by every write; the compare-and-set of the next one |
//! | `format` | N | `1`; another value is read as unusable |
//! | `last_change_at`, `last_change` | N, S | the last applied change: epoch seconds and `out`/`in` |
//! | `recommendations` | L of M | `{value: N, until: N}` oldest first; the last has no `until` while in force |
//! | `event_sources` | L of M | `{uuid: S, ceiling: N, paused: BOOL, held: BOOL}` for each event source mapping the autoscaler changed; `ceiling` absent when the mapping had no `MaximumConcurrency`, `held` (present when true) when an explicit set keeps the pause |
//! | `in_force_since` | N | when the recommendation in force was first made |
//! | `drop_at`, `drop_to`, `drop_undone_at`, `last_set`, `last_set_by_proposals` | N, N, N, N, BOOL | a drain-time target's latest scale-in beyond noise, the reservation it set, the latest rise of the proposals that undid one, and the reservation last set and whether the proposals set it ([`crate::state::LoadMemory`]); each absent until it happens |
//! | `activities` | L of M | the target's newest attempted change (whose outcome the next write settles): `{at: N, trigger: S, previous: N, desired: N, reasons: L of S, outcome: S, detail: S}`; `previous`/`desired` absent for "unreserved", `detail` for pending and applied. Items of earlier builds hold up to 20, oldest first: the next write archives all but the newest |
//! | `activity_number` | N | the newest activity's number, or the first's to come while there is none (a history numbers from its start, [`History::started_at`]); absent in earlier builds' items (then 0 for their oldest) |
//! | `updated_at` | N | epoch seconds of the write |
//! | `writer` | S | a random mark of the process that wrote it, so that a process tells its own pending attempt from another writer's ([`crate::lease`]) |
//! | `save` | S | a random mark of the write itself, so that a retry of it that meets it tells it landed (`landed`) |
//! | `expires_at` | N | the table's TTL attribute: [`EXPIRES_AFTER_SECONDS`] after the write; absent while `event_sources` holds any record, so that a paused consumer's pause and a mapping's ceiling are never forgotten |
//!
//! The older activities, up to 19, live in items of their own, so that a decision reads and
//! writes a small item (one read unit, one or two write units) whatever the activities
//! hold; only `autoscaler activities` reads them. Activity `n` is archived under the key
//! `ARN#activity#NN` (`NN` = `n` mod 20, so the 20th later one replaces it), by the write that
//! adds the activity after it, once the target's item holds that write (a writer that lost
//! the compare-and-set archives nothing):
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `function` | S | the key: `ARN#activity#NN` (no function ARN contains `#`) |
//! | `target` | S | the function's unqualified ARN |
//! | `number` | N | the activity's number; a read that expects another number ignores the item |
//! | `format` | N | `1` |
//! | `activity` | M | the activity, as in the target's `activities` |
//! | `expires_at` | N | [`ACTIVITY_EXPIRES_AFTER_SECONDS`] after the write: 20 weeks, so that a target that changes at least weekly keeps its last 20 |

use super::aws_error;
use crate::lease::Written;
use crate::ports::{AwsError, ErrorKind, SaveError, StateStore, Stored, Version};
use crate::state::{
    activity_key, Activity, ActivityOutcome, Direction, History, LastChange, LastSet, LoadMemory,
    MappingRecord, Recommendation, SavedState, MAX_ACTIVITIES,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use std::collections::HashMap;
use std::time::Duration;

/// `BatchGetItem` reads at most 100 keys per call.
pub const MAX_KEYS_PER_BATCH: usize = 100;
/// The item format this build writes and reads.
const FORMAT: &str = "1";
/// An item not written for a week expires (the TTL attribute). A target that is still
/// managed loses nothing that matters: cooldowns are at most a day, windows an hour, and a
/// steady recommendation is rewritten when it next changes.
pub const EXPIRES_AFTER_SECONDS: i64 = 7 * 86_400;
/// An archived activity expires 20 weeks after it was archived: a target that changes at
/// least weekly keeps its last [`MAX_ACTIVITIES`] (the 20th later change replaces it first).
pub const ACTIVITY_EXPIRES_AFTER_SECONDS: i64 = MAX_ACTIVITIES as i64 * EXPIRES_AFTER_SECONDS;
/// Rounds of `BatchGetItem` for keys DynamoDB left unprocessed (it throttles that way).
const UNPROCESSED_ROUNDS: u32 = 5;

pub struct DynamoStateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// This process's mark on the items it writes (`writer`), so that it tells its own
    /// attempts from another writer's ([`crate::lease`]).
    writer: String,
}

impl DynamoStateStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> Self {
        DynamoStateStore {
            client,
            table,
            writer: format!("{:016x}", fastrand::u64(..)),
        }
    }

    /// Reads up to 100 keys, retrying the ones DynamoDB leaves unprocessed.
    async fn load_batch(
        &self,
        keys: &[String],
        found: &mut HashMap<String, HashMap<String, AttributeValue>>,
    ) -> Result<(), AwsError> {
        let request = |keys: Vec<HashMap<String, AttributeValue>>| {
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                // Strongly consistent: a write of the previous invocation must be seen.
                .consistent_read(true)
                .build()
        };
        let mut pending: Option<KeysAndAttributes> = Some(
            request(
                keys.iter()
                    .map(|k| HashMap::from([("function".into(), AttributeValue::S(k.clone()))]))
                    .collect(),
            )
            .map_err(|e| AwsError {
                operation: "BatchGetItem",
                resource: self.table.clone(),
                code: Some("InvalidRequest".into()),
                message: e.to_string(),
            })?,
        );
        for round in 0..UNPROCESSED_ROUNDS {
            let Some(batch) = pending.take() else {
                return Ok(());
            };
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(50 << round)).await;
            }
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, batch)
                .send()
                .await
                .map_err(|e| aws_error("BatchGetItem", &self.table, e))?;
            for item in output
                .responses()
                .and_then(|r| r.get(&self.table))
                .into_iter()
                .flatten()
            {
                if let Some(AttributeValue::S(key)) = item.get("function") {
                    found.insert(key.clone(), item.clone());
                }
            }
            pending = output
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .filter(|k| !k.keys().is_empty())
                .cloned();
        }
        match pending {
            None => Ok(()),
            Some(left) => Err(AwsError {
                operation: "BatchGetItem",
                resource: self.table.clone(),
                code: Some("ProvisionedThroughputExceededException".into()),
                message: format!(
                    "{} keys still unprocessed after {UNPROCESSED_ROUNDS} rounds",
                    left.keys().len()
                ),
            }),
        }
    }
}

#[async_trait]
impl StateStore for DynamoStateStore {
    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Stored>, AwsError> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(MAX_KEYS_PER_BATCH) {
            self.load_batch(chunk, &mut found).await?;
        }
        Ok(keys
            .iter()
            .map(|key| {
                let stored = match found.get(key) {
                    None => Stored::missing(),
                    Some(item) => Stored {
                        written: written(item, &self.writer),
                        ..decode(item)
                    },
                };
                (key.clone(), stored)
            })
            .collect())
    }

    async fn save(
        &self,
        key: &str,
        history: &History,
        expected: Version,
        now: i64,
    ) -> Result<(), SaveError> {
        let next = match expected {
            Version::At(v) => v.saturating_add(1),
            Version::Absent | Version::Unreadable(_) => 1,
        };
        let mark = format!("{:016x}", fastrand::u64(..));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(encode(key, history, next, now)))
            .item("writer", AttributeValue::S(self.writer.clone()))
            .item("save", AttributeValue::S(mark.clone()))
            // A refusal says what the item holds: it may be this very write, landed by an
            // attempt whose answer was lost and refused to the SDK's retry of it.
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            );
        // DynamoDB refuses names the expression does not use, so each branch sets its own.
        let request = match expected {
            Version::Absent => request
                .condition_expression("attribute_not_exists(#f)")
                .expression_attribute_names("#f", "function"),
            Version::At(v) => request
                .condition_expression("#v = :expected")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
            // An item someone wrote by hand: replace it only while it holds what was read.
            // Every write of ours leaves a version number, so a second writer that read the
            // same item meets a conflict, as with a number.
            Version::Unreadable(Some(read)) => request
                .condition_expression("#v = :read")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":read", AttributeValue::N(read.clone())),
            Version::Unreadable(None) => request
                .condition_expression(
                    "attribute_exists(#f) AND (attribute_not_exists(#v) OR NOT attribute_type(#v, :number))",
                )
                .expression_attribute_names("#f", "function")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":number", AttributeValue::S("N".into())),
        };
        let outcome = match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if landed(&e, &mark, next) => Ok(()),
            Err(e) => {
                let error = aws_error("PutItem", format!("{} ({key})", self.table), e);
                if error.kind() == ErrorKind::ConditionFailed {
                    return Err(SaveError::Conflict);
                }
                // It may have landed, its answer lost: then the item holds it, it is saved
                // (the writes it announces may follow, and a reader waits for them), and its
                // archive is the one to keep. If not, another writer may have won meanwhile,
                // whose archive must stand; a read of the item's mark tells which.
                if !self.holds(key, &mark).await {
                    return Err(SaveError::Aws(error));
                }
                tracing::debug!(%error, "the save landed, its answer lost");
                Ok(())
            }
        };
        // The activities before the newest go to their own items, unless another writer won
        // the compare-and-set: it settled the same activity its own way (its outcome, its
        // reasons), and its archive must stand.
        let newest = history.activities.len().saturating_sub(1);
        let archive = history.activities[..newest]
            .iter()
            .enumerate()
            .map(|(i, activity)| self.archive(key, history.activity_number(i), activity, now));
        for error in futures::future::join_all(archive)
            .await
            .into_iter()
            .filter_map(Result::err)
        {
            // The decision stands; only the list that `autoscaler activities` shows has a gap.
            tracing::warn!(%error, "an earlier activity could not be archived");
        }
        outcome
    }

    async fn archived_activities(
        &self,
        key: &str,
        history: &History,
        limit: usize,
    ) -> Result<Vec<Activity>, AwsError> {
        let wanted: Vec<(u64, String)> = history
            .archived_numbers(limit)
            .map(|n| (n, activity_key(key, n)))
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = wanted.iter().map(|(_, k)| k.clone()).collect();
        let mut found = HashMap::new();
        self.load_batch(&keys, &mut found).await?;
        let mut activities = Vec::new();
        for (n, slot) in &wanted {
            let Some(item) = found.get(slot) else {
                continue;
            };
            match decode_archived(item, key, *n) {
                Ok(Some(activity)) => activities.push(activity),
                Ok(None) => {}
                Err(why) => tracing::warn!(%slot, why, "an archived activity cannot be read"),
            }
        }
        Ok(activities)
    }
}

impl DynamoStateStore {
    /// Whether `key`'s item holds the save marked `mark` (a strongly consistent read, with
    /// the one read action the role has); `false` when it cannot be read.
    async fn holds(&self, key: &str, mark: &str) -> bool {
        let mut found = HashMap::new();
        if self
            .load_batch(&[key.to_owned()], &mut found)
            .await
            .is_err()
        {
            return false;
        }
        matches!(
            found.get(key).and_then(|item| item.get("save")),
            Some(AttributeValue::S(m)) if m == mark
        )
    }

    /// Writes one activity to its slot (unconditionally: the same number always carries the
    /// same activity).
    async fn archive(
        &self,
        key: &str,
        number: u64,
        activity: &Activity,
        now: i64,
    ) -> Result<(), AwsError> {
        let slot = activity_key(key, number);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(HashMap::from([
                ("function".to_owned(), AttributeValue::S(slot.clone())),
                ("target".to_owned(), AttributeValue::S(key.to_owned())),
                ("number".to_owned(), self::number(number)),
                ("format".to_owned(), AttributeValue::N(FORMAT.into())),
                ("activity".to_owned(), encode_activity(activity)),
                (
                    "expires_at".to_owned(),
                    self::number(now + ACTIVITY_EXPIRES_AFTER_SECONDS),
                ),
            ])))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("PutItem", format!("{} ({slot})", self.table), e))
    }
}

/// The archived activity in a slot item, if it is the one numbered `number` of `key`.
fn decode_archived(
    item: &HashMap<String, AttributeValue>,
    key: &str,
    number: u64,
) -> Result<Option<Activity>, String> {
    let target = matches!(item.get("target"), Some(AttributeValue::S(t)) if t == key);
    let numbered =
        matches!(item.get("number"), Some(AttributeValue::N(n)) if n.parse() == Ok(number));
    if !target || !numbered {
        return Ok(None);
    }
    let activity = item
        .get("activity")
        .ok_or("an archived activity has none")?;
    decode_activity(activity).map(Some)
}

fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn encode(key: &str, history: &History, version: u64, now: i64) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("function".to_owned(), AttributeValue::S(key.to_owned())),
        ("version".to_owned(), number(version)),
        ("format".to_owned(), AttributeValue::N(FORMAT.into())),
        ("updated_at".to_owned(), number(now)),
    ]);
    if history.event_sources.is_empty() {
        item.insert("expires_at".into(), number(now + EXPIRES_AFTER_SECONDS));
    } else {
        let records = history
            .event_sources
            .iter()
            .map(|r| {
                let mut entry = HashMap::from([
                    ("uuid".to_owned(), AttributeValue::S(r.uuid.clone())),
                    ("paused".to_owned(), AttributeValue::Bool(r.paused)),
                ]);
                if let Some(ceiling) = r.ceiling {
                    entry.insert("ceiling".into(), number(ceiling));
                }
                if r.held {
                    entry.insert("held".into(), AttributeValue::Bool(true));
                }
                AttributeValue::M(entry)
            })
            .collect();
        item.insert("event_sources".into(), AttributeValue::L(records));
    }
    if let Some(change) = history.last_change {
        item.insert("last_change_at".into(), number(change.at));
        let direction = match change.direction {
            Direction::Out => "out",
            Direction::In => "in",
        };
        item.insert("last_change".into(), AttributeValue::S(direction.into()));
    }
    let recommendations = history
        .recommendations
        .iter()
        .map(|r| {
            let mut entry = HashMap::from([("value".to_owned(), number(r.value))]);
            if let Some(until) = r.until {
                entry.insert("until".into(), number(until));
            }
            AttributeValue::M(entry)
        })
        .collect();
    item.insert("recommendations".into(), AttributeValue::L(recommendations));
    if let Some(since) = history.in_force_since {
        item.insert("in_force_since".into(), number(since));
    }
    if let Some(at) = history.load.drop_at {
        item.insert("drop_at".into(), number(at));
    }
    if let Some(left) = history.load.drop_to {
        item.insert("drop_to".into(), number(left));
    }
    if let Some(at) = history.load.drop_undone_at {
        item.insert("drop_undone_at".into(), number(at));
    }
    if let Some(set) = history.load.last_set {
        item.insert("last_set".into(), number(set.value));
        item.insert(
            "last_set_by_proposals".into(),
            AttributeValue::Bool(set.by_proposals),
        );
    }
    // Only the newest; a save archives the ones before it. Without one, the number the
    // first will take, so that a history that starts without an activity keeps its start's
    // numbering (it would number from 0, over a former lifetime's archived slots).
    let i = history.activities.len().saturating_sub(1);
    if let Some(newest) = history.activities.last() {
        item.insert(
            "activities".into(),
            AttributeValue::L(vec![encode_activity(newest)]),
        );
    }
    item.insert("activity_number".into(), number(history.activity_number(i)));
    item
}

fn encode_activity(a: &Activity) -> AttributeValue {
    let mut entry = HashMap::from([
        ("at".to_owned(), number(a.at)),
        ("trigger".to_owned(), AttributeValue::S(a.trigger.clone())),
        (
            "reasons".to_owned(),
            AttributeValue::L(a.reasons.iter().cloned().map(AttributeValue::S).collect()),
        ),
        (
            "outcome".to_owned(),
            AttributeValue::S(a.outcome.word().to_owned()),
        ),
    ]);
    if let Some(previous) = a.previous {
        entry.insert("previous".into(), number(previous));
    }
    if let Some(desired) = a.desired {
        entry.insert("desired".into(), number(desired));
    }
    if let Some(detail) = a.outcome.detail() {
        entry.insert("detail".into(), AttributeValue::S(detail.to_owned()));
    }
    AttributeValue::M(entry)
}

fn decode_activity(entry: &AttributeValue) -> Result<Activity, String> {
    let AttributeValue::M(entry) = entry else {
        return Err("an activity is not a map".into());
    };
    let text = |name: &str| match entry.get(name) {
        Some(AttributeValue::S(s)) => Ok(Some(s.clone())),
        None => Ok(None),
        Some(_) => Err(format!("activity {name} is not a string")),
    };
    let count = |name: &str| -> Result<Option<u32>, String> {
        match entry.get(name) {
            None => Ok(None),
            Some(AttributeValue::N(n)) => n
                .parse()
                .map(Some)
                .map_err(|_| format!("activity {name} is not a count: {n}")),
            Some(_) => Err(format!("activity {name} is not a number")),
        }
    };
    let at = match entry.get("at") {
        Some(AttributeValue::N(n)) => n
            .parse()
            .map_err(|_| format!("activity time is not a whole number: {n}"))?,
        _ => return Err("an activity has no time".into()),
    };
    let reasons = match entry.get("reasons") {
        None => Vec::new(),
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|r| match r {
                AttributeValue::S(s) => Ok(s.clone()),
                _ => Err("an activity reason is not a string".to_owned()),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("activity reasons is not a list".into()),
    };
    let detail = text("detail")?.unwrap_or_default();
    let word = text("outcome")?.ok_or("an activity has no outcome")?;
    let outcome = ActivityOutcome::from_word(&word, detail)
        .ok_or_else(|| format!("activity outcome \"{word}\" is unknown"))?;
    Ok(Activity {
        at,
        trigger: text("trigger")?.unwrap_or_default(),
        previous: count("previous")?,
        desired: count("desired")?,
        reasons,
        outcome,
    })
}

/// Reads an item. Never fails: what cannot be used becomes `Unusable` with the reason.
fn decode(item: &HashMap<String, AttributeValue>) -> Stored {
    let version = match item.get("version") {
        Some(AttributeValue::N(n)) => n
            .parse()
            .map_or_else(|_| Version::Unreadable(Some(n.clone())), Version::At),
        _ => Version::Unreadable(None),
    };
    let state = match decode_history(item) {
        Ok(history) => SavedState::Valid(history),
        Err(why) => SavedState::Unusable {
            why,
            // A pause record or a ceiling outlives the rest of a broken item of this format:
            // without it a paused consumer would stay disabled for good.
            event_sources: match item.get("format") {
                Some(AttributeValue::N(f)) if f == FORMAT => {
                    decode_event_sources(item).unwrap_or_default()
                }
                _ => Vec::new(),
            },
        },
    };
    Stored {
        state,
        version,
        written: None,
    }
}

/// True when a PutItem refused for its condition found this very write (its `save` mark, at
/// version `next`): an earlier attempt of the same request landed, its answer lost (a
/// timeout or a 500), and the SDK's retry met it. Any other write has another mark.
fn landed(
    error: &aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError>,
    mark: &str,
    next: u64,
) -> bool {
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    let Some(PutItemError::ConditionalCheckFailedException(refused)) = error.as_service_error()
    else {
        return false;
    };
    let Some(item) = refused.item() else {
        return false;
    };
    matches!(item.get("save"), Some(AttributeValue::S(m)) if m == mark)
        && matches!(item.get("version"), Some(AttributeValue::N(v)) if v.parse() == Ok(next))
}

/// When the item was written, and whether by `writer` (this process's store).
fn written(item: &HashMap<String, AttributeValue>, writer: &str) -> Option<Written> {
    let Some(AttributeValue::N(at)) = item.get("updated_at") else {
        return None;
    };
    Some(Written {
        at: at.parse().ok()?,
        ours: matches!(item.get("writer"), Some(AttributeValue::S(w)) if w == writer),
    })
}

/// An optional whole-number attribute.
fn whole_number(name: &str, value: Option<&AttributeValue>) -> Result<Option<i64>, String> {
    match value {
        None => Ok(None),
        Some(AttributeValue::N(text)) => text
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} is not a whole number: {text}")),
        Some(_) => Err(format!("{name} is not a number")),
    }
}

/// A whole number of `name` that must fit a u32 (a reservation, a ceiling), if present.
fn count_of(name: &str, value: Option<&AttributeValue>) -> Result<Option<u32>, String> {
    whole_number(name, value)?
        .map(|n| u32::try_from(n).map_err(|_| format!("{name} {n} is out of range")))
        .transpose()
}

/// The item's `event_sources` records.
fn decode_event_sources(
    item: &HashMap<String, AttributeValue>,
) -> Result<Vec<MappingRecord>, String> {
    let mut event_sources = Vec::new();
    match item.get("event_sources") {
        None => {}
        Some(AttributeValue::L(list)) => {
            for entry in list {
                let AttributeValue::M(entry) = entry else {
                    return Err("an event source record is not a map".into());
                };
                let Some(AttributeValue::S(uuid)) = entry.get("uuid") else {
                    return Err("an event source record has no uuid".into());
                };
                let ceiling = count_of("event source ceiling", entry.get("ceiling"))?;
                let paused = match entry.get("paused") {
                    Some(AttributeValue::Bool(b)) => *b,
                    _ => return Err(format!("event source record {uuid} has no paused flag")),
                };
                let held = match entry.get("held") {
                    None => false,
                    Some(AttributeValue::Bool(b)) => *b,
                    Some(_) => {
                        return Err(format!("event source record {uuid}: held is not a bool"))
                    }
                };
                event_sources.push(MappingRecord {
                    uuid: uuid.clone(),
                    ceiling,
                    paused,
                    held,
                });
            }
        }
        Some(_) => return Err("event_sources is not a list".into()),
    }
    Ok(event_sources)
}

fn decode_history(item: &HashMap<String, AttributeValue>) -> Result<History, String> {
    let n = whole_number;
    match item.get("format") {
        Some(AttributeValue::N(f)) if f == FORMAT => {}
        Some(AttributeValue::N(f)) => {
            return Err(format!(
                "format {f} is not one this autoscaler understands ({FORMAT})"
            ))
        }
        _ => return Err("has no format number".into()),
    }
    let last_change = match (
        n("last_change_at", item.get("last_change_at"))?,
        item.get("last_change"),
    ) {
        (None, None) => None,
        (Some(at), Some(AttributeValue::S(d))) => Some(LastChange {
            at,
            direction: match d.as_str() {
                "out" => Direction::Out,
                "in" => Direction::In,
                other => return Err(format!("last_change \"{other}\" is neither out nor in")),
            },
        }),
        _ => return Err("last_change_at and last_change must come together".into()),
    };
    let mut recommendations = Vec::new();
    match item.get("recommendations") {
        None => {}
        Some(AttributeValue::L(list)) => {
            for entry in list {
                let AttributeValue::M(entry) = entry else {
                    return Err("a recommendation is not a map".into());
                };
                let value = count_of("recommendation value", entry.get("value"))?
                    .ok_or("a recommendation has no value")?;
                let until = n("recommendation until", entry.get("until"))?;
                recommendations.push(Recommendation { value, until });
            }
        }
        Some(_) => return Err("recommendations is not a list".into()),
    }
    let event_sources = decode_event_sources(item)?;
    let in_force_since = n("in_force_since", item.get("in_force_since"))?;
    let load = LoadMemory {
        drop_at: n("drop_at", item.get("drop_at"))?,
        drop_to: count_of("drop_to", item.get("drop_to"))?,
        drop_undone_at: n("drop_undone_at", item.get("drop_undone_at"))?,
        last_set: match (
            count_of("last_set", item.get("last_set"))?,
            item.get("last_set_by_proposals"),
        ) {
            (None, None) => None,
            (Some(value), Some(AttributeValue::Bool(by_proposals))) => Some(LastSet {
                value,
                by_proposals: *by_proposals,
            }),
            _ => return Err("last_set needs last_set_by_proposals, a bool, beside it".into()),
        },
    };
    let activities = match item.get("activities") {
        None => Vec::new(),
        Some(AttributeValue::L(list)) => {
            list.iter().map(decode_activity).collect::<Result<_, _>>()?
        }
        Some(_) => return Err("activities is not a list".into()),
    };
    // The newest's number; an earlier build's item has none, and numbers its list from 0.
    let earlier_activities = match n("activity_number", item.get("activity_number"))? {
        None => 0,
        Some(newest) => u64::try_from(newest)
            .map_err(|_| format!("activity_number {newest} is out of range"))?
            .saturating_sub(activities.len().saturating_sub(1) as u64),
    };
    History {
        last_change,
        recommendations,
        event_sources,
        in_force_since,
        activities,
        earlier_activities,
        load,
    }
    .validate()
}

/// A history from an item in DynamoDB's JSON (`{"version": {"N": "3"}, ...}`), as
/// `aws dynamodb get-item` prints it (with or without its `{"Item": ...}` wrapper): what
/// `autoscaler explain --history` reads.
pub fn history_from_item_json(json: &serde_json::Value) -> Result<History, String> {
    item_from_json(json).and_then(|item| decode_history(&item))
}

/// When the item in DynamoDB's JSON was written (`updated_at`), as by another process: a
/// reader of it (`autoscaler explain --history`) waits for a change still in flight as
/// long as the item says, not from the moment it was read. `None` without `updated_at`.
pub fn written_from_item_json(json: &serde_json::Value) -> Result<Option<Written>, String> {
    item_from_json(json).map(|item| written(&item, ""))
}

fn item_from_json(json: &serde_json::Value) -> Result<HashMap<String, AttributeValue>, String> {
    let item = json.get("Item").unwrap_or(json);
    let serde_json::Value::Object(fields) = item else {
        return Err("expected a DynamoDB item (a JSON object)".into());
    };
    fields
        .iter()
        .map(|(name, value)| {
            Ok((
                name.clone(),
                attribute(value).map_err(|e| format!("{name}: {e}"))?,
            ))
        })
        .collect::<Result<HashMap<_, _>, String>>()
}

/// One attribute in DynamoDB's JSON: `{"S": ...}`, `{"N": "..."}`, `{"BOOL": true}`, `{"L": [...]}`,
/// `{"M": {...}}`.
fn attribute(value: &serde_json::Value) -> Result<AttributeValue, String> {
    let typed = value
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next())
        .ok_or("expected one type key, e.g. {\"N\": \"3\"}")?;
    match (typed.0.as_str(), typed.1) {
        ("S", serde_json::Value::String(s)) => Ok(AttributeValue::S(s.clone())),
        ("N", serde_json::Value::String(n)) => Ok(AttributeValue::N(n.clone())),
        ("BOOL", serde_json::Value::Bool(b)) => Ok(AttributeValue::Bool(*b)),
        ("L", serde_json::Value::Array(items)) => items
            .iter()
            .map(attribute)
            .collect::<Result<_, _>>()
            .map(AttributeValue::L),
        ("M", serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), attribute(v)?)))
            .collect::<Result<_, String>>()
            .map(AttributeValue::M),
        ("S" | "N", _) => Err(format!(
            "{{\"{}\": ...}} must hold a string (DynamoDB's JSON writes numbers as \
             strings too, e.g. {{\"N\": \"3\"}})",
            typed.0
        )),
        ("BOOL" | "L" | "M", _) => Err(format!(
            "{{\"{}\": ...}} holds the wrong kind of value (BOOL a boolean, L a list, M an \
             object)",
            typed.0
        )),
        (kind, _) => Err(format!(
            "type {kind} is not one a state item holds (S, N, BOOL, L, M)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> History {
        History {
            last_change: Some(LastChange {
                at: 1_700_000_000,
                direction: Direction::In,
            }),
            recommendations: vec![
                Recommendation {
                    value: 40,
                    until: Some(1_700_000_060),
                },
                Recommendation {
                    value: 12,
                    until: None,
                },
            ],
            event_sources: Vec::new(),
            in_force_since: None,
            activities: Vec::new(),
            earlier_activities: 0,
            load: Default::default(),
        }
    }

    #[test]
    fn activities_and_the_recommendations_start_round_trip() {
        let mut h = history();
        h.in_force_since = Some(1_700_000_050);
        h.activities = vec![
            Activity {
                at: 1_700_000_000,
                trigger: "alarm a is ALARM".into(),
                previous: None,
                desired: Some(5),
                reasons: vec!["r1".into(), "r2".into()],
                outcome: ActivityOutcome::Failed("throttled".into()),
            },
            Activity {
                at: 1_700_000_060,
                trigger: "schedule".into(),
                previous: Some(5),
                desired: Some(3),
                reasons: vec![],
                outcome: ActivityOutcome::Pending,
            },
        ];
        h.earlier_activities = 6;
        let item = encode("arn:f", &h, 2, 1_700_000_100);
        assert_eq!(item["activity_number"], number(7));
        // The item keeps the newest; the one before is archived by the save, apart.
        h.archive_activities();
        assert_eq!(h.earlier_activities, 7);
        assert_eq!(decode(&item).state, SavedState::Valid(h));
    }

    #[test]
    fn a_history_saved_before_its_first_activity_keeps_its_start_numbering() {
        let started = History::started_at(1_700_000_000);
        let item = encode("arn:f", &started, 1, 1_700_000_000);
        let SavedState::Valid(read) = decode(&item).state else {
            panic!("unusable")
        };
        assert_eq!(read.earlier_activities, started.earlier_activities);
        assert_ne!(read.earlier_activities, 0);
    }

    #[test]
    fn an_earlier_builds_list_of_activities_is_read_whole_and_numbered_from_zero() {
        let mut h = history();
        h.activities = (0..20)
            .map(|i| Activity {
                at: 1_700_000_000 + i,
                trigger: format!("t{i}"),
                previous: None,
                desired: Some(1),
                reasons: vec![],
                outcome: ActivityOutcome::Applied,
            })
            .collect();
        let mut item = encode("arn:f", &h, 2, 1_700_000_100);
        item.insert(
            "activities".into(),
            AttributeValue::L(h.activities.iter().map(encode_activity).collect()),
        );
        item.remove("activity_number");
        let SavedState::Valid(read) = decode(&item).state else {
            panic!("unusable")
        };
        assert_eq!(read.activities, h.activities);
        assert_eq!(read.earlier_activities, 0);
        // Its next save keeps the newest and archives the 19 before it, numbered 0 to 18.
        assert_eq!(encode("arn:f", &read, 3, 0)["activity_number"], number(19));
    }

    #[test]
    fn an_archived_activity_is_taken_only_under_its_own_target_and_number() {
        let activity = Activity {
            at: 1_700_000_000,
            trigger: "schedule".into(),
            previous: Some(2),
            desired: Some(4),
            reasons: vec!["r".into()],
            outcome: ActivityOutcome::Applied,
        };
        assert_eq!(activity_key("arn:f", 47), "arn:f#activity#07");
        let item = HashMap::from([
            (
                "function".to_owned(),
                AttributeValue::S(activity_key("arn:f", 47)),
            ),
            ("target".to_owned(), AttributeValue::S("arn:f".into())),
            ("number".to_owned(), number(47)),
            ("activity".to_owned(), encode_activity(&activity)),
        ]);
        assert_eq!(decode_archived(&item, "arn:f", 47), Ok(Some(activity)));
        // The slot now holds another number (the 20th later one, or an older lifetime's).
        assert_eq!(decode_archived(&item, "arn:f", 27), Ok(None));
        assert_eq!(decode_archived(&item, "arn:g", 47), Ok(None));
    }

    #[test]
    fn an_item_with_event_source_records_round_trips_and_never_expires() {
        let mut h = history();
        h.event_sources = vec![
            MappingRecord {
                uuid: "u-1".into(),
                ceiling: Some(20),
                paused: true,
                held: true,
            },
            MappingRecord {
                uuid: "u-2".into(),
                ceiling: None,
                paused: false,
                held: false,
            },
        ];
        let item = encode("arn:f", &h, 3, 1_700_000_100);
        assert!(!item.contains_key("expires_at"), "{item:?}");
        assert_eq!(decode(&item).state, SavedState::Valid(h));
    }

    #[test]
    fn an_item_round_trips_with_its_version_and_expiry() {
        let item = encode("arn:f", &history(), 7, 1_700_000_100);
        assert_eq!(
            item["expires_at"],
            number(1_700_000_100 + EXPIRES_AFTER_SECONDS)
        );
        let stored = decode(&item);
        assert_eq!(stored.version, Version::At(7));
        assert_eq!(stored.state, SavedState::Valid(history()));
        let empty = decode(&encode("arn:f", &History::default(), 1, 0));
        assert_eq!(empty.state, SavedState::Valid(History::default()));
    }

    #[test]
    fn a_drain_targets_load_memory_round_trips_and_is_absent_until_it_happens() {
        let mut h = history();
        let item = encode("arn:f", &h, 2, 1_700_000_100);
        for absent in ["drop_at", "drop_to", "drop_undone_at", "last_set"] {
            assert!(!item.contains_key(absent), "{absent}");
        }
        h.load = LoadMemory {
            drop_at: Some(1_700_000_000),
            drop_to: Some(15),
            drop_undone_at: Some(1_700_000_300),
            last_set: Some(LastSet {
                value: 15,
                by_proposals: false,
            }),
        };
        let item = encode("arn:f", &h, 2, 1_700_000_400);
        assert_eq!(item["drop_at"], number(1_700_000_000));
        assert_eq!(item["drop_to"], number(15));
        assert_eq!(item["last_set"], number(15));
        assert_eq!(item["last_set_by_proposals"], AttributeValue::Bool(false));
        assert_eq!(decode(&item).state, SavedState::Valid(h));
    }

    #[test]
    fn a_history_is_read_from_the_json_aws_dynamodb_get_item_prints() {
        let json = serde_json::json!({"Item": {
            "function": {"S": "arn:aws:lambda:us-east-1:123456789012:function:orders"},
            "version": {"N": "4"}, "format": {"N": "1"},
            "last_change_at": {"N": "1700000000"}, "last_change": {"S": "in"},
            "recommendations": {"L": [
                {"M": {"value": {"N": "40"}, "until": {"N": "1700000060"}}},
                {"M": {"value": {"N": "12"}}}]}}});
        assert_eq!(history_from_item_json(&json), Ok(history()));
        assert_eq!(history_from_item_json(&json["Item"]), Ok(history()));
        let err = history_from_item_json(&serde_json::json!({"version": {"X": "1"}})).unwrap_err();
        assert_eq!(
            err,
            "version: type X is not one a state item holds (S, N, BOOL, L, M)"
        );
        let err = history_from_item_json(&serde_json::json!({"version": {"N": 3}})).unwrap_err();
        assert!(
            err.contains("version: {\"N\": ...} must hold a string"),
            "{err}"
        );
        let err = history_from_item_json(&serde_json::json!({"format": {"N": "2"}})).unwrap_err();
        assert!(err.contains("format 2"), "{err}");
    }

    #[test]
    fn unusable_items_say_why_and_keep_what_version_they_can() {
        let mut item = encode("arn:f", &history(), 3, 0);
        item.insert("format".into(), number(2));
        assert_eq!(
            decode(&item).state,
            SavedState::unusable("format 2 is not one this autoscaler understands (1)")
        );
        assert_eq!(decode(&item).version, Version::At(3));
        let mut item = encode("arn:f", &history(), 3, 0);
        item.insert("version".into(), AttributeValue::S("three".into()));
        assert_eq!(decode(&item).version, Version::Unreadable(None));
        item.insert("version".into(), number("-1"));
        assert_eq!(
            decode(&item).version,
            Version::Unreadable(Some("-1".into()))
        );
        for (field, value, why) in [
            (
                "last_change",
                AttributeValue::S("up".into()),
                "neither out nor in",
            ),
            (
                "last_change_at",
                AttributeValue::N("soon".into()),
                "not a whole number",
            ),
            (
                "recommendations",
                AttributeValue::S("x".into()),
                "not a list",
            ),
            (
                "recommendations",
                AttributeValue::L(vec![AttributeValue::M(HashMap::from([(
                    "value".to_owned(),
                    number(-1),
                )]))]),
                "out of range",
            ),
            (
                "recommendations",
                AttributeValue::L(vec![
                    AttributeValue::M(HashMap::from([("value".to_owned(), number(1))])),
                    AttributeValue::M(HashMap::from([("value".to_owned(), number(2))])),
                ]),
                "in force",
            ),
        ] {
            let mut item = encode("arn:f", &history(), 3, 0);
            item.insert(field.into(), value);
            match decode(&item).state {
                SavedState::Unusable { why: reason, .. } => {
                    assert!(reason.contains(why), "{field}: {reason}")
                }
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_broken_item_of_this_format_keeps_its_event_source_records() {
        let mut h = history();
        h.event_sources = vec![MappingRecord {
            uuid: "m".into(),
            ceiling: Some(40),
            paused: true,
            held: false,
        }];
        let mut item = encode("arn:f", &h, 3, 0);
        item.insert("last_change".into(), AttributeValue::S("up".into()));
        assert_eq!(decode(&item).state.event_sources(), h.event_sources);
        // Another format's records may mean something else: none are taken.
        item.insert("format".into(), number(2));
        assert_eq!(decode(&item).state.event_sources(), []);
    }
}
