//! Reads for the whole plan: concurrent within a bound, batched where AWS batches, and each
//! thing read once however many targets share it.
//!
//! - Alarm states: `DescribeAlarms`, 100 names per call, for every alarm of every target.
//! - Queue depths: each queue once (`GetQueueUrl` once per name, `GetQueueAttributes` once
//!   per URL), whether targets name it or give its URL.
//! - SQS event source mappings: the account's, listed page by page when any target follows
//!   them and kept for a while ([`crate::mapping_cache`]); on the control-plane budget, so
//!   read alongside the `GetFunction` reads, which have their own.
//! - Each target's function (`GetFunction`, paced under its own quota) and saved state
//!   (`BatchGetItem`, 100 keys per call), in chunks so that decisions can start while later
//!   chunks are still being read.

use crate::arn::Arn;
use crate::context::Context;
use crate::deadline::Deadline;
use crate::decide::{AlarmStates, ObservedAlarm, StateSource};
use crate::error::HandlerError;
use crate::event_sources;
use crate::lease;
use crate::mapping_cache::{ByFunction, MappingCache};
use crate::outcome::TargetOutcome;
use crate::plan::{Plan, PlannedTarget};
use crate::policy::{EventSources, QueueRef, Target};
use crate::ports::{AwsError, ErrorKind, FunctionView, Lambda, QueueDepth, Stored, Version};
use crate::queue_urls::QueueUrls;
use crate::state::SavedState;
use futures::stream::{self, StreamExt};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// `DescribeAlarms` names at most 100 alarms per call.
pub const ALARMS_PER_CALL: usize = 100;
/// Targets read together; also `BatchGetItem`'s limit of keys per call.
pub const TARGETS_PER_CHUNK: usize = 100;

/// What every target may share: alarm states and queue depths.
#[derive(Debug, Default)]
pub struct Shared {
    /// From CloudWatch, and from the event for alarms CloudWatch does not return.
    pub alarms: AlarmStates,
    /// Alarms whose read failed, with the failure.
    alarm_failures: HashMap<String, AwsError>,
    queues: HashMap<QueueRef, Result<QueueDepth, AwsError>>,
    /// The account's SQS mappings, when a target follows them.
    mappings: Option<Result<Arc<ByFunction>, AwsError>>,
    /// What drain-time targets read besides the depths, once the depths are known.
    pub drain: crate::queue_signals::DrainRead,
}

impl Shared {
    /// The first failed alarm read among the target's alarms.
    pub fn alarm_failure(&self, target: &Target) -> Option<&AwsError> {
        target
            .alarms
            .iter()
            .find_map(|rule| self.alarm_failures.get(&rule.name))
    }

    /// The states of the target's own alarms.
    pub fn alarms_of(&self, target: &Target) -> AlarmStates {
        target
            .alarms
            .iter()
            .filter_map(|rule| {
                self.alarms
                    .get(&rule.name)
                    .map(|state| (rule.name.clone(), *state))
            })
            .collect()
    }

    /// The target's SQS event source mappings as far as they could be read.
    pub fn event_sources(&self, target: &Target, function_arn: &str) -> event_sources::Observed {
        use event_sources::Observed;
        // No listing: no target follows, or no state table keeps the records following needs
        // (the handler warns about that once).
        match (&self.mappings, target.event_sources) {
            // The account's listing may be minutes old: a pause recorded before the switch is
            // checked against a current one by the writer ([`crate::apply`]).
            (_, EventSources::Ignore) => Observed::Ignored(None),
            (None, _) => Observed::NotFollowed(None),
            (Some(Ok(by_function)), EventSources::Follow) => {
                Observed::Read(by_function.get(function_arn).cloned().unwrap_or_default())
            }
            (Some(Err(error)), EventSources::Follow) => Observed::from_list_error(error),
        }
    }

    /// The depth of the target's queue, if it follows one and it was read.
    pub fn queue(&self, target: &Target) -> Option<&Result<QueueDepth, AwsError>> {
        target
            .queue
            .as_ref()
            .and_then(|q| self.queues.get(&q.queue))
    }
}

/// Reads the alarms, queues and event source mappings the plan's targets need, all at once;
/// queue names resolve through `urls`, and mappings come from `mappings` while it is fresh.
pub async fn shared(
    plan: &Plan,
    ctx: &Context,
    concurrency: usize,
    urls: &QueueUrls,
    mappings: &MappingCache,
) -> Shared {
    let follows = ctx.state.is_some()
        && plan
            .targets
            .iter()
            .any(|t| t.target.event_sources == EventSources::Follow);
    let listing = async {
        if follows {
            Some(mappings.all(&*ctx.lambda, &*ctx.clock).await)
        } else {
            None
        }
    };
    let (alarms, queues, mappings) = futures::join!(
        alarm_states(plan, ctx, concurrency),
        queue_depths(plan, ctx, concurrency, urls),
        listing
    );
    let (alarms, alarm_failures) = alarms;
    Shared {
        alarms,
        alarm_failures,
        queues,
        mappings,
        drain: Default::default(),
    }
}

async fn alarm_states(
    plan: &Plan,
    ctx: &Context,
    concurrency: usize,
) -> (AlarmStates, HashMap<String, AwsError>) {
    let names: Vec<String> = plan
        .targets
        .iter()
        .flat_map(|t| t.target.alarms.iter().map(|rule| rule.name.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let reads = stream::iter(names.chunks(ALARMS_PER_CALL))
        .map(|chunk| async move { (chunk, ctx.alarms.states(chunk).await) })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    let mut states = AlarmStates::new();
    let mut failures = HashMap::new();
    for (chunk, result) in reads {
        match result {
            Ok(found) => states.extend(found.into_iter().map(|(name, state)| {
                let source = StateSource::CloudWatch;
                (name, ObservedAlarm { state, source })
            })),
            Err(error) => failures.extend(chunk.iter().map(|n| (n.clone(), error.clone()))),
        }
    }
    // The event's own state, only for alarms CloudWatch was asked about and did not return
    // (and, when it could not be read, only for the alarm's caps).
    for (name, state) in &plan.event_alarms {
        if !names.contains(name) {
            continue;
        }
        let source = if failures.contains_key(name) {
            StateSource::EventWhileUnreadable
        } else {
            StateSource::Event
        };
        states.entry(name.clone()).or_insert(ObservedAlarm {
            state: *state,
            source,
        });
    }
    (states, failures)
}

async fn queue_depths(
    plan: &Plan,
    ctx: &Context,
    concurrency: usize,
    known_urls: &QueueUrls,
) -> HashMap<QueueRef, Result<QueueDepth, AwsError>> {
    let refs: BTreeSet<&QueueRef> = plan
        .targets
        .iter()
        .filter_map(|t| t.target.queue.as_ref().map(|q| &q.queue))
        .collect();
    // Names resolve to URLs first, so that a queue named by one target and given by URL by
    // another is read once.
    let urls: Vec<(&QueueRef, Result<String, AwsError>)> = stream::iter(refs)
        .map(|queue| async move {
            let url = match queue {
                QueueRef::Url(url) => Ok(url.clone()),
                QueueRef::Name(name) => known_urls.resolve(name, &*ctx.queues).await,
            };
            (queue, url)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let distinct: BTreeSet<&String> = urls.iter().filter_map(|(_, u)| u.as_ref().ok()).collect();
    let depths: HashMap<&String, Result<QueueDepth, AwsError>> = stream::iter(distinct)
        .map(|url| async move {
            let depth = ctx.queues.depth(url).await;
            if depth.is_err() {
                known_urls.forget(url);
            }
            (url, depth)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    urls.iter()
        .map(|(queue, url)| {
            let depth = match url {
                Ok(url) => depths[url].clone(),
                Err(e) => Err(e.clone()),
            };
            ((*queue).clone(), depth)
        })
        .collect()
}

/// One target, read.
#[derive(Debug, Clone)]
pub struct Observed {
    pub view: FunctionView,
    pub stored: Stored,
}

/// Why nothing may be read now, if so: the deadline leaves no time to start (within its
/// margin); the next scheduled run reads it.
pub fn too_late_to_read(ctx: &Context, deadline: Option<&Deadline>) -> Option<String> {
    too_late_to_start(ctx, deadline, std::time::Duration::ZERO)
}

/// Why a read that may take `need` may not start now, if so: it could end within the
/// deadline's margin.
pub fn too_late_to_start(
    ctx: &Context,
    deadline: Option<&Deadline>,
    need: std::time::Duration,
) -> Option<String> {
    let deadline = deadline?;
    (!deadline.allows(&*ctx.clock, need)).then(|| {
        let takes = if need.is_zero() {
            String::new()
        } else {
            format!(", a read of up to {:.0} s", need.as_secs_f64())
        };
        format!(
            "deferred: not read before the deadline ({:.1} s left{takes}, {:.1} s margin); the \
             next scheduled run reads it",
            deadline.left(&*ctx.clock).as_secs_f64(),
            deadline.margin().as_secs_f64()
        )
    })
}

/// Reads one chunk of targets: their functions (concurrently, paced) and their saved state
/// (one `BatchGetItem`), each unless the plan already holds it ([`PlannedTarget::view`],
/// [`PlannedTarget::stored`]). The state is keyed by the function's ARN; when `own` (the
/// autoscaler's own function ARN, which gives the partition, Region and account) is known, the
/// keys of targets named by name are known before `GetFunction` answers, and both reads
/// overlap.
/// Results come in the chunk's order.
pub async fn chunk(
    targets: &[PlannedTarget],
    ctx: &Context,
    concurrency: usize,
    deadline: Option<&Deadline>,
    own: Option<Arn<'_>>,
) -> Vec<Result<Observed, Box<TargetOutcome>>> {
    if targets.is_empty() {
        return Vec::new();
    }
    let functions = stream::iter(targets)
        .map(|planned| async move {
            if let Some(view) = &planned.view {
                return Ok(view.clone());
            }
            if let Some(reason) = too_late_to_read(ctx, deadline) {
                return Err(Box::new(TargetOutcome::deferred_unread(planned, reason)));
            }
            read_function(&planned.target, ctx)
                .await
                .map_err(|error| Box::new(TargetOutcome::Failed(None, error)))
        })
        .buffered(concurrency)
        .collect::<Vec<Result<FunctionView, Box<TargetOutcome>>>>();
    let Some(store) = &ctx.state else {
        return functions
            .await
            .into_iter()
            .map(|view| {
                let stored = Stored {
                    state: SavedState::NotKept,
                    version: Version::Absent,
                    written: None,
                };
                view.map(|view| Observed { view, stored })
            })
            .collect();
    };
    // The state this invocation already knows (a watching invocation's ticks) is not read
    // again; the keys of the others are known early when their ARN can be told from the name.
    let expected: Option<Vec<String>> = own.map(|own| {
        targets
            .iter()
            .filter(|t| t.stored.is_none())
            .map(|t| expected_arn(&t.target, own))
            .collect()
    });
    let (views, early) = match &expected {
        Some(keys) if !keys.is_empty() => {
            let (views, loaded) = futures::join!(functions, store.load(keys));
            (views, Some(loaded))
        }
        _ => (functions.await, None),
    };
    // Keys the early read did not cover (no prefix, or an ARN other than expected).
    let late: Vec<String> = views
        .iter()
        .zip(targets)
        .filter(|(_, planned)| planned.stored.is_none())
        .filter_map(|(v, _)| v.as_ref().ok())
        .filter(|v| !matches!(&early, Some(Ok(states)) if states.contains_key(&v.arn)))
        .map(|v| v.arn.clone())
        .collect();
    let late = if late.is_empty() {
        Ok(HashMap::new())
    } else {
        store.load(&late).await
    };
    views
        .into_iter()
        .zip(targets)
        .map(|(view, planned)| {
            let view = view?;
            let found = match (&planned.stored, &early, &late) {
                (Some(known), _, _) => Ok(known.clone()),
                (None, Some(Ok(states)), _) if states.contains_key(&view.arn) => {
                    Ok(states[&view.arn].clone())
                }
                (None, _, Ok(states)) => Ok(states
                    .get(&view.arn)
                    .cloned()
                    .unwrap_or_else(Stored::missing)),
                (None, _, Err(error)) => Err(error),
            };
            match found {
                Ok(stored) => Ok(Observed { view, stored }),
                // Without the history, cooldowns could be skipped: leave the target alone.
                Err(error) => Err(Box::new(TargetOutcome::Failed(
                    None,
                    HandlerError::State {
                        function: view.arn.clone(),
                        source: error.clone(),
                    },
                ))),
            }
        })
        .collect()
}

/// A target as read: what it is, and what was observed of it (or why it was not).
pub type Read<'a> = (&'a PlannedTarget, Result<Observed, Box<TargetOutcome>>);
/// Reads tagged by the caller (with their order in the plan, say).
pub type Tagged<'a, T> = Vec<(T, Read<'a>)>;

/// Sets apart the targets whose saved state shows another writer's change that may still
/// land ([`crate::lease`]): `(ready, waiting)`, each in the order given. Only the waiting
/// ones go through [`after_changes_in_flight`], so that the others are decided at once.
pub fn set_apart_changes_in_flight<T>(
    reads: Tagged<'_, T>,
    read_at: i64,
    now: i64,
) -> (Tagged<'_, T>, Tagged<'_, T>) {
    reads
        .into_iter()
        .partition(|(_, read)| in_flight_until(read, read_at, now).is_none())
}

/// Until when another writer's change of a target read from `read_at` may still land, if it
/// may have at any time since ([`lease::change_in_flight`]).
fn in_flight_until(read: &Read, read_at: i64, now: i64) -> Option<i64> {
    let observed = read.1.as_ref().ok()?;
    lease::change_in_flight(&observed.stored, observed.view.reserved, read_at, now)
}

/// Targets whose saved state shows another writer's change that may still land
/// ([`crate::lease`]): waits until it no longer can and reads their functions again, so that
/// the decision starts from the reservation that change left (and settles it). Each target
/// waits for its own change, the shortest wait first, and goes to `emit` as soon as it is
/// read again: a cap whose lease ends in a second is not held for another target's longer
/// one. A target whose own wait the deadline does not allow is left to the next run, with
/// the reason. Each read keeps its tag `T` (the caller's order). `read_at` is when the reads
/// began (epoch seconds): a change in flight then is read again even if its lease has ended
/// since, for the reservation read during the lease may predate its landing.
pub async fn after_changes_in_flight<'a, T>(
    reads: Tagged<'a, T>,
    read_at: i64,
    ctx: &Context,
    deadline: Option<&Deadline>,
    mut emit: impl FnMut(Tagged<'a, T>),
) {
    let now = ctx.clock.epoch_seconds();
    let (mut waiting, ready): (Vec<_>, Vec<_>) = reads
        .into_iter()
        .map(|read| (in_flight_until(&read.1, read_at, now), read))
        .partition(|(until, _)| until.is_some());
    if !ready.is_empty() {
        emit(ready.into_iter().map(|(_, read)| read).collect());
    }
    // Stable: targets whose changes may land at the same time keep the caller's order.
    waiting.sort_by_key(|(until, _)| *until);
    for (until, (tag, (planned, o))) in waiting {
        let Some(until) = until else { continue };
        let wait = std::time::Duration::from_secs(
            until
                .saturating_sub(ctx.clock.epoch_seconds())
                .max(0)
                .unsigned_abs(),
        );
        let o = match (o, deadline.filter(|d| !d.allows(&*ctx.clock, wait))) {
            (Ok(_), Some(deadline)) => {
                let reason = format!(
                    "deferred: another writer's change may still land for {} s, longer than the \
                     deadline allows ({:.1} s left, {:.1} s margin); the next run decides",
                    wait.as_secs(),
                    deadline.left(&*ctx.clock).as_secs_f64(),
                    deadline.margin().as_secs_f64()
                );
                Err(Box::new(TargetOutcome::deferred_unread(planned, reason)))
            }
            (Ok(o), None) => {
                if !wait.is_zero() {
                    tracing::info!(
                        function = %planned.target.function,
                        seconds = wait.as_secs(),
                        "waiting for another writer's change to land before deciding"
                    );
                    ctx.clock.sleep(wait).await;
                }
                match read_function(&planned.target, ctx).await {
                    Ok(view) => Ok(Observed { view, ..o }),
                    Err(error) => Err(Box::new(TargetOutcome::Failed(None, error))),
                }
            }
            (other, _) => other,
        };
        emit(vec![(tag, (planned, o))]);
    }
}

/// A target's ARN as it will be: given, or its name in the autoscaler's own partition, Region
/// and account.
fn expected_arn(target: &Target, own: Arn) -> String {
    match target.function.arn() {
        Some(_) => target.function.api_id().to_owned(),
        None => own.function_arn(target.function.name()),
    }
}

/// `GetFunction` for a target; a denied read means the function has not opted in.
pub async fn read_function(target: &Target, ctx: &Context) -> Result<FunctionView, HandlerError> {
    ctx.lambda
        .get_function(&target.function)
        .await
        .map_err(|error| match error.kind() {
            ErrorKind::AccessDenied => HandlerError::NotOptedIn {
                function: target.function.to_string(),
                source: error,
            },
            ErrorKind::NotFound => HandlerError::FunctionGone {
                function: target.function.to_string(),
                source: error,
            },
            _ => error.into(),
        })
}
