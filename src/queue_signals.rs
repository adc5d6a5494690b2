//! What drain-time targets (`target_wait_seconds`) read besides their queue's depth, kept in
//! memory while the container is warm and never persisted: each queue's depth samples
//! ([`DepthSamples`]), and each target's service time measured by CloudWatch, read again at
//! most every [`REREAD_SECONDS`](crate::service_time::REREAD_SECONDS) and only while its
//! queue has traffic, in batches of [`SERVICE_QUERIES_PER_CALL`].
//!
//! A failed metric read keeps what was measured before: a missing service time only makes
//! the proposal fall back to one execution per waiting batch, never scale in. A queue in
//! another account or Region than the autoscaler's is not measured at all: CloudWatch here
//! names its metrics by queue name, and a queue of the same name here is another queue.

use crate::context::Context;
use crate::deadline::Deadline;
use crate::decide::QueueDepth;
use crate::drain::{DepthSamples, Rates, Signals};
use crate::event_sources;
use crate::observe::{self, Shared};
use crate::plan::Plan;
use crate::policy::{QueueGoal, QueueRef, Target};
use crate::ports::{ServiceQuery, SERVICE_QUERIES_PER_CALL};
use crate::service_time::{Readings, LOOKBACK_SECONDS};
use crate::trigger::Origin;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The longest a `GetMetricData` call can take: the SDK clients' operation timeout, all
/// attempts included.
const METRIC_READ_AT_MOST: Duration = crate::wiring::OPERATION_TIMEOUT;

/// The samples and measurements of a warm container.
#[derive(Debug, Default)]
pub struct QueueSignals {
    samples: Mutex<HashMap<Counted, DepthSamples>>,
    service: Mutex<HashMap<ServiceQuery, Readings>>,
}

/// What one read of the shared signals gave the drain-time targets.
#[derive(Debug, Clone, Default)]
pub struct DrainRead {
    rates: HashMap<Counted, Rates>,
    /// Each target's service-time reads, as they stood at `now`.
    service: HashMap<ServiceQuery, Readings>,
    now: i64,
    /// The autoscaler's account and Region, as far as known.
    home: Origin,
}

impl DrainRead {
    /// The signals of `target`'s proposal; `sources` are its event source mappings, whose
    /// largest `BatchSize` on the target's queue counts when the policy gives none.
    pub fn signals(&self, target: &Target, sources: &event_sources::Observed) -> Signals {
        let Some(spec) = &target.queue else {
            return Signals::default();
        };
        let mapping_batch_size = match sources {
            event_sources::Observed::Read(mappings) => mappings
                .iter()
                .filter(|m| polls(m, &spec.queue))
                .filter_map(|m| m.batch_size)
                .max(),
            _ => None,
        };
        let readings = query_of(target, &self.home).and_then(|q| self.service.get(&q));
        Signals {
            rates: self.rates.get(&counted(spec)).copied(),
            measured: readings.and_then(|r| r.measured(self.now)),
            mapping_batch_size,
            last_seconds: readings.and_then(Readings::last_seconds),
            queue_elsewhere: elsewhere(&spec.queue, &self.home),
            unmeasured: readings.and_then(Readings::unmeasured),
        }
    }
}

/// The service-time query of a drain-time target that does not give its service time, and
/// whose queue's metrics are here ([`elsewhere`]).
fn query_of(target: &Target, home: &Origin) -> Option<ServiceQuery> {
    let spec = target.queue.as_ref()?;
    if elsewhere(&spec.queue, home) {
        return None;
    }
    match spec.goal {
        QueueGoal::Wait(goal) if goal.service_seconds.is_none() => Some(ServiceQuery {
            function: target.function.name().to_owned(),
            queue: spec.queue.name().to_owned(),
        }),
        _ => None,
    }
}

/// True when `mapping` polls `queue`: the same name and, for a URL, no other account or
/// Region where both say theirs.
fn polls(mapping: &crate::ports::EventSourceMapping, queue: &QueueRef) -> bool {
    mapping.queue_name() == queue.name()
        && origin_of(queue).is_none_or(|origin| {
            Origin::of_arn(&mapping.queue_arn)
                .differs_from(&origin)
                .is_none()
        })
}

/// True when CloudWatch here cannot measure `queue`: its URL names another account or
/// Region than `home` (a name is a queue here).
fn elsewhere(queue: &QueueRef, home: &Origin) -> bool {
    origin_of(queue).is_some_and(|origin| origin.differs_from(home).is_some())
}

/// Where a queue's URL says it is; a name says nothing (it is a queue here).
fn origin_of(queue: &QueueRef) -> Option<Origin> {
    match queue {
        QueueRef::Url(url) => Some(Origin::of_queue_url(url)),
        QueueRef::Name(_) => None,
    }
}

/// A queue's waiting messages as a target counts them: with its delayed ones or not. Two
/// targets of one queue that count them differently keep samples apart, or the growth of
/// one would swing by the other's delayed messages.
type Counted = (QueueRef, bool);

fn counted(spec: &crate::policy::QueueSpec) -> Counted {
    (spec.queue.clone(), spec.include_delayed)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl QueueSignals {
    /// Adds a depth sample taken at `at` (`autoscaler explain --earlier-depth`), counted
    /// both ways a target may count its waiting messages.
    pub fn add_sample(&self, queue: QueueRef, at: i64, depth: QueueDepth) {
        let mut samples = lock(&self.samples);
        for with_delayed in [false, true] {
            samples
                .entry((queue.clone(), with_delayed))
                .or_default()
                .add(
                    at,
                    crate::drain::waiting(&depth, with_delayed),
                    depth.in_flight,
                );
        }
    }

    /// Adds this read's depths to the samples of the drain-time targets' queues, reads the
    /// service times that are due, and returns what their proposals read. `now` is epoch
    /// seconds.
    pub async fn read(
        &self,
        plan: &Plan,
        shared: &Shared,
        ctx: &Context,
        (now, home): (i64, &Origin),
        deadline: Option<&Deadline>,
    ) -> DrainRead {
        let waiting: Vec<&Target> = plan
            .targets
            .iter()
            .map(|t| &t.target)
            .filter(|t| matches!(t.queue.as_ref().map(|q| q.goal), Some(QueueGoal::Wait(_))))
            .collect();
        if waiting.is_empty() {
            return DrainRead::default();
        }
        let mut read = DrainRead {
            home: home.clone(),
            ..DrainRead::default()
        };
        let mut due = Vec::new();
        {
            let mut samples = lock(&self.samples);
            let service = lock(&self.service);
            for target in &waiting {
                let Some(Ok(depth)) = shared.queue(target) else {
                    continue;
                };
                let Some(spec) = &target.queue else { continue };
                let waiting_count = crate::drain::waiting(depth, spec.include_delayed);
                let key = counted(spec);
                let rates = samples.entry(key.clone()).or_default().add(
                    now,
                    waiting_count,
                    depth.in_flight,
                );
                read.rates.insert(key, rates);
                if let Some(query) = query_of(target, home) {
                    let traffic = waiting_count > 0 || depth.in_flight > 0;
                    let readings = service.get(&query).copied().unwrap_or_default();
                    if readings.due(now, traffic) && !due.contains(&query) {
                        due.push(query);
                    }
                }
            }
        }
        // Whole periods only: CloudWatch returns every period that starts before the end,
        // and the minute still filling would count as a full one (its throughput a fraction).
        let end = now - now.rem_euclid(crate::service_time::PERIOD_SECONDS);
        for (c, chunk) in due.chunks(SERVICE_QUERIES_PER_CALL).enumerate() {
            // Every decision of the pass waits for this read, and no decision needs it (each
            // has its fallback): it starts only while the deadline leaves room for the
            // slowest it can be (the SDK's operation timeout, through throttling or a hung
            // call), not merely for a start. The readings stay due: the next run reads them.
            if let Some(why) = observe::too_late_to_start(ctx, deadline, METRIC_READ_AT_MOST) {
                tracing::warn!(
                    "service times of {} targets, {why}; the drain-time targets keep what was \
                     measured before, or assume the largest service time their goal allows",
                    due.len() - c * SERVICE_QUERIES_PER_CALL,
                );
                break;
            }
            let answer = ctx
                .metric_reader
                .service_points(chunk, end - LOOKBACK_SECONDS, end)
                .await;
            if let Err(error) = &answer {
                tracing::warn!(
                    "service times not read ({error}); the drain-time targets keep what was \
                     measured before, or assume the largest service time their goal allows"
                );
            }
            let mut service = lock(&self.service);
            for (i, query) in chunk.iter().enumerate() {
                let points = answer.as_ref().ok().and_then(|all| all.get(i));
                service
                    .entry(query.clone())
                    .or_default()
                    .record(now, points.map(Vec::as_slice));
            }
        }
        read.service = lock(&self.service).clone();
        read.now = now;
        read
    }
}

#[cfg(test)]
mod tests {
    use super::polls;
    use crate::policy::QueueRef;
    use crate::ports::EventSourceMapping;

    #[test]
    fn a_mapping_polls_a_queue_of_its_name_in_the_account_and_region_its_url_says() {
        let mapping = EventSourceMapping {
            uuid: "u".into(),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:orders".into(),
            queue_arn: "arn:aws:sqs:us-east-1:123456789012:orders-q".into(),
            state: "Enabled".into(),
            maximum_concurrency: None,
            provisioned: false,
            batch_size: Some(10),
        };
        let url = |account: &str| {
            QueueRef::Url(format!(
                "https://sqs.us-east-1.amazonaws.com/{account}/orders-q"
            ))
        };
        assert!(polls(&mapping, &QueueRef::Name("orders-q".into())));
        assert!(polls(&mapping, &url("123456789012")));
        // A queue of the same name in another account is another queue.
        assert!(!polls(&mapping, &url("999999999999")));
        assert!(!polls(&mapping, &QueueRef::Name("other".into())));
    }
}
