//! The account's SQS event source mappings, listed page by page and kept across the
//! invocations of a warm container for [`KEPT_FOR`].
//!
//! `ListEventSourceMappings` draws on the account's shared control-plane budget, so a
//! reconciliation of 1000 targets lists the account's mappings once (100 a page, about 10
//! calls for 1000 mappings), not once per target, and later invocations reuse the list.
//! What changes between two listings is caught so:
//! - **before the reservation changes** the writer lists the function's own mappings
//!   again (`FunctionName`) unless the account's listing is under [`CURRENT_FOR`] old, so a
//!   mapping created since (with no `MaximumConcurrency` at all) is lowered with the others
//!   before a decrease, and one another writer lowered or paused since (the other function
//!   of a watching deployment keeps its own listing) is raised or resumed with an increase
//!   ([`crate::apply`]);
//! - **every update's answer** (the mapping as Lambda now has it) replaces the cached one,
//!   and an answer that differs from what was asked for drops the whole list, so the next
//!   invocation lists again;
//! - otherwise a mapping created or changed by someone else is seen within [`KEPT_FOR`],
//!   and the next evaluation after that brings it within the reservation (level-triggered).

use crate::function_ref::FunctionRef;
use crate::ports::{AwsError, Clock, EventSourceMapping, Lambda};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long a listing is used before the account is listed again.
pub const KEPT_FOR: Duration = Duration::from_secs(300);
/// A listing younger than this (read by the same invocation, usually) is taken as current
/// before a change of the reservation; an older one is checked by listing the function's
/// mappings again.
pub const CURRENT_FOR: Duration = Duration::from_secs(10);

/// Mappings by the unqualified ARN of their function (a mapping on a version or an alias
/// counts for the function: the reservation is the whole function's).
pub type ByFunction = HashMap<String, Vec<EventSourceMapping>>;

#[derive(Default)]
pub struct MappingCache {
    listing: Mutex<Option<Listing>>,
    /// When each ignoring function's mappings were last listed for a pause recorded before
    /// the switch (by unqualified ARN, on the clock's monotonic scale).
    ignored_checks: Mutex<HashMap<String, Duration>>,
}

struct Listing {
    /// When it was read, on the clock's monotonic scale.
    read_at: Duration,
    by_function: Arc<ByFunction>,
}

/// `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME`, without a version or alias.
pub fn unqualified(function_arn: &str) -> &str {
    match function_arn.match_indices(':').nth(6) {
        Some((at, _)) => &function_arn[..at],
        None => function_arn,
    }
}

impl MappingCache {
    /// The account's SQS mappings: the kept listing while it is fresh, else a new one.
    pub async fn all(
        &self,
        lambda: &dyn Lambda,
        clock: &dyn Clock,
    ) -> Result<Arc<ByFunction>, AwsError> {
        let now = clock.elapsed();
        if let Some(listing) = self.kept().as_ref() {
            if now.saturating_sub(listing.read_at) < KEPT_FOR {
                return Ok(listing.by_function.clone());
            }
        }
        let mut by_function = ByFunction::new();
        for mapping in list_pages(lambda, None).await? {
            by_function
                .entry(unqualified(&mapping.function_arn).to_owned())
                .or_default()
                .push(mapping);
        }
        let by_function = Arc::new(by_function);
        *self.kept() = Some(Listing {
            read_at: now,
            by_function: by_function.clone(),
        });
        Ok(by_function)
    }

    /// True when the kept listing was read less than [`CURRENT_FOR`] ago.
    pub fn is_current(&self, clock: &dyn Clock) -> bool {
        self.kept()
            .as_ref()
            .is_some_and(|l| clock.elapsed().saturating_sub(l.read_at) < CURRENT_FOR)
    }

    /// Lists one function's mappings again, and keeps them in place of the old ones. The
    /// listing by name returns the mappings on the function itself: those on its versions
    /// and aliases come from the account's listing (or, once it was dropped, from `known`,
    /// what the caller last saw). Returns the mappings and how many of them, first, the
    /// listing by name returned: the rest are copies carried over, which the caller reads
    /// by their UUIDs (a copy on the function itself that the listing lacks may have moved
    /// to an alias since, or gone).
    pub async fn refresh(
        &self,
        lambda: &dyn Lambda,
        function: &FunctionRef,
        function_arn: &str,
        known: &[EventSourceMapping],
    ) -> Result<(Vec<EventSourceMapping>, usize), AwsError> {
        let mut mappings = list_pages(lambda, Some(function)).await?;
        let listed = mappings.len();
        let mut kept = self.kept();
        let earlier: Vec<EventSourceMapping> = match kept.as_ref() {
            Some(listing) => (listing.by_function.get(function_arn).cloned()).unwrap_or_default(),
            None => known.to_vec(),
        };
        mappings.extend(
            earlier
                .into_iter()
                .filter(|m| mappings.iter().all(|fresh| fresh.uuid != m.uuid))
                .collect::<Vec<_>>(),
        );
        if let Some(listing) = kept.as_mut() {
            let by_function = Arc::make_mut(&mut listing.by_function);
            by_function.insert(function_arn.to_owned(), mappings.clone());
        }
        Ok((mappings, listed))
    }

    /// Keeps what Lambda answered to an update; an answer other than `expected` (someone
    /// else changed the mapping, or Lambda adjusted it) drops the whole listing.
    pub fn updated(&self, answer: &EventSourceMapping, as_expected: bool) {
        let mut kept = self.kept();
        if !as_expected {
            *kept = None;
            return;
        }
        if let Some(listing) = kept.as_mut() {
            let function = unqualified(&answer.function_arn).to_owned();
            let mappings = Arc::make_mut(&mut listing.by_function)
                .entry(function)
                .or_default();
            match mappings.iter_mut().find(|m| m.uuid == answer.uuid) {
                Some(m) => *m = answer.clone(),
                None => mappings.push(answer.clone()),
            }
        }
    }

    /// Drops a mapping from the kept listing's entry for `function_arn`: read by its UUID, it
    /// is gone or another function's now.
    pub fn forget(&self, function_arn: &str, uuid: &str) {
        if let Some(listing) = self.kept().as_mut() {
            let by_function = Arc::make_mut(&mut listing.by_function);
            if let Some(mappings) = by_function.get_mut(function_arn) {
                mappings.retain(|m| m.uuid != uuid);
            }
        }
    }

    /// Whether a function that ignores its mappings and holds a pause recorded before the
    /// switch is due to list them: at most once every [`KEPT_FOR`] per container, so that
    /// watch ticks (or a role denied the listing) do not call at every evaluation.
    pub fn ignored_check_due(&self, function_arn: &str, clock: &dyn Clock) -> bool {
        self.ignored_checks()
            .get(function_arn)
            .is_none_or(|at| clock.elapsed().saturating_sub(*at) >= KEPT_FOR)
    }

    /// Notes that the function's mappings were listed (or tried) for an ignored pause.
    pub fn ignored_checked(&self, function_arn: &str, clock: &dyn Clock) {
        self.ignored_checks()
            .insert(function_arn.to_owned(), clock.elapsed());
    }

    fn ignored_checks(&self) -> MutexGuard<'_, HashMap<String, Duration>> {
        // Times only: whatever a panicking holder did, each entry is whole.
        self.ignored_checks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn kept(&self) -> MutexGuard<'_, Option<Listing>> {
        // A listing is replaced whole: whatever a panicking holder did, it is consistent.
        self.listing.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every page of `ListEventSourceMappings` (each a paced control-plane call).
async fn list_pages(
    lambda: &dyn Lambda,
    function: Option<&FunctionRef>,
) -> Result<Vec<EventSourceMapping>, AwsError> {
    let mut mappings = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = lambda.list_mappings(function, marker.as_deref()).await?;
        mappings.extend(page.mappings);
        match page.next_marker {
            Some(next) if Some(&next) != marker.as_ref() => marker = Some(next),
            _ => return Ok(mappings),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_or_alias_counts_for_its_function() {
        let f = "arn:aws:lambda:us-east-1:123456789012:function:orders";
        assert_eq!(unqualified(f), f);
        assert_eq!(unqualified(&format!("{f}:live")), f);
        assert_eq!(unqualified(&format!("{f}:7")), f);
    }
}
