//! One invocation: trigger -> observe -> decide -> apply -> report.
//!
//! Level-triggered: an event only says which targets to look at. Each target is evaluated
//! from the current state of its alarms (one batched `DescribeAlarms` call) and its current
//! reservation, so a stale or duplicated event cannot push a target the wrong way.

use crate::decide::{decide, AlarmStates, Inputs, ObservedAlarm, QueueDepth, Request, StateSource};
use crate::error::HandlerError;
use crate::policy::{Policy, PolicyError, QueueRef, Target};
use crate::ports::{
    AlarmReader, AwsError, FunctionConcurrency, FunctionFinder, FunctionView, MetricsPublisher,
    NoDiscovery, NoQueues, QueueReader,
};
use crate::report::{BatchItemFailure, DecisionRecord, Outcome, RecordError};
use crate::settings::Settings;
use crate::state::{History, SavedState, STATE_TAG};
use crate::tags::{is_enabled, target_from_tags, ENABLED_TAG};
use crate::trigger::{parse_event, AlarmSignal, Signal, Trigger};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// Epoch seconds; injected so tests control time.
pub type Clock = Box<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Queue reads of one invocation: each name is resolved once and each queue (by URL) read
/// once, however many targets or signals share it and whether they name it or give its URL.
#[derive(Default)]
struct QueueCache {
    urls: HashMap<String, Result<String, AwsError>>,
    depths: HashMap<String, Result<QueueDepth, AwsError>>,
}

/// The autoscaler, generic over its AWS capabilities.
pub struct Autoscaler<F, A, M, Q = NoQueues, D = NoDiscovery> {
    /// Loaded once per cold start. An invalid policy is kept as an error so that every
    /// invocation fails loudly instead of the function failing to start.
    policy: Result<Policy, PolicyError>,
    settings: Settings,
    functions: F,
    alarms: A,
    metrics: M,
    queues: Q,
    finder: D,
    clock: Clock,
}

/// The decisions made for one signal and the targets that failed.
#[derive(Default)]
struct Evaluated {
    decisions: Vec<DecisionRecord>,
    errors: Vec<HandlerError>,
}

impl<F, A, M> Autoscaler<F, A, M> {
    /// An autoscaler without queue reading or tag discovery; add them with
    /// [`Autoscaler::with_queues`] and [`Autoscaler::with_discovery`].
    pub fn new(
        policy: Result<Policy, PolicyError>,
        settings: Settings,
        functions: F,
        alarms: A,
        metrics: M,
    ) -> Self {
        Autoscaler {
            policy,
            settings,
            functions,
            alarms,
            metrics,
            queues: NoQueues,
            finder: NoDiscovery,
            clock: Box::new(system_clock),
        }
    }
}

impl<F, A, M, Q, D> Autoscaler<F, A, M, Q, D> {
    /// Adds queue-depth reading (SQS).
    pub fn with_queues<Q2: QueueReader>(self, queues: Q2) -> Autoscaler<F, A, M, Q2, D> {
        self.map_parts(|_, finder| (queues, finder))
    }

    /// Adds discovery of functions opted in by tags.
    pub fn with_discovery<D2: FunctionFinder>(self, finder: D2) -> Autoscaler<F, A, M, Q, D2> {
        self.map_parts(|queues, _| (queues, finder))
    }

    fn map_parts<Q2, D2>(
        self,
        parts: impl FnOnce(Q, D) -> (Q2, D2),
    ) -> Autoscaler<F, A, M, Q2, D2> {
        let (queues, finder) = parts(self.queues, self.finder);
        Autoscaler {
            policy: self.policy,
            settings: self.settings,
            functions: self.functions,
            alarms: self.alarms,
            metrics: self.metrics,
            queues,
            finder,
            clock: self.clock,
        }
    }

    /// Replaces the clock (epoch seconds).
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// The queue reader and the finder (tests inspect their fakes).
    pub fn discovery(&self) -> (&Q, &D) {
        (&self.queues, &self.finder)
    }
}

impl<F, A, M, Q, D> Autoscaler<F, A, M, Q, D>
where
    F: FunctionConcurrency,
    A: AlarmReader,
    M: MetricsPublisher,
    Q: QueueReader,
    D: FunctionFinder,
{
    /// The AWS capabilities this autoscaler was built with (tests inspect their fakes).
    pub fn capabilities(&self) -> (&F, &A, &M) {
        (&self.functions, &self.alarms, &self.metrics)
    }

    /// Handles one event as the Lambda runtime delivers it.
    pub async fn handle(&self, event: &Value) -> Result<Outcome, HandlerError> {
        self.policy()?;
        self.handle_trigger(parse_event(event)?).await
    }

    /// The policy, or the reason it cannot be used.
    pub fn policy(&self) -> Result<&Policy, HandlerError> {
        self.policy
            .as_ref()
            .map_err(|e| HandlerError::Policy(e.clone()))
    }

    /// Handles an already parsed event (the CLI parses files itself).
    pub async fn handle_trigger(&self, trigger: Trigger) -> Result<Outcome, HandlerError> {
        let policy = self.policy()?;
        let mut outcome = Outcome {
            decisions: Vec::new(),
            dry_run: self.settings.dry_run,
            batch_item_failures: None,
            record_errors: Vec::new(),
        };
        let mut errors = Vec::new();
        let mut cache = QueueCache::default();
        match trigger {
            Trigger::Signals(signals) => {
                for signal in &signals {
                    let evaluated = self.evaluate(policy, signal, &mut cache).await;
                    outcome.decisions.extend(evaluated.decisions);
                    errors.extend(evaluated.errors);
                }
            }
            Trigger::Queue(records) => {
                let mut failures = Vec::new();
                for record in records {
                    let error = match record.signal {
                        Err(e) => Some(HandlerError::Event(e)),
                        Ok(signal) => {
                            let evaluated = self.evaluate(policy, &signal, &mut cache).await;
                            outcome.decisions.extend(evaluated.decisions);
                            HandlerError::combine(evaluated.errors)
                        }
                    };
                    if let Some(error) = error {
                        tracing::warn!(message_id = %record.message_id, error_type = error.error_type(), %error, "SQS record failed");
                        outcome.record_errors.push(RecordError {
                            message_id: record.message_id.clone(),
                            error_type: error.error_type().to_owned(),
                            error: error.to_string(),
                        });
                        failures.push(BatchItemFailure {
                            item_identifier: record.message_id,
                        });
                    }
                }
                outcome.batch_item_failures = Some(failures);
            }
        }
        self.publish(&outcome.decisions).await?;
        match HandlerError::combine(errors) {
            Some(error) => Err(error),
            None => Ok(outcome),
        }
    }

    /// Evaluates every target a signal concerns. A failing target does not stop the others.
    async fn evaluate(
        &self,
        policy: &Policy,
        signal: &Signal,
        cache: &mut QueueCache,
    ) -> Evaluated {
        let trigger = signal.to_string();
        let mut evaluated = Evaluated::default();
        // Targets with, for tag-based ones, the function read that found them.
        let mut targets: Vec<(Target, Option<FunctionView>)> = Vec::new();
        let add = |targets: &mut Vec<(Target, Option<FunctionView>)>, t: &Target| {
            if !targets
                .iter()
                .any(|(x, _)| x.function.name() == t.function.name())
            {
                targets.push((t.clone(), None));
            }
        };
        let mut request = Request::FollowAlarms;
        let mut event_alarm: Option<&AlarmSignal> = None;
        match signal {
            Signal::Alarm(alarm) => {
                for t in policy.targets_for_alarm(&alarm.name) {
                    add(&mut targets, t);
                }
                for queue in alarm.queue_names() {
                    for t in policy.targets_for_queue(queue) {
                        add(&mut targets, t);
                    }
                }
                if targets.is_empty() {
                    // An account-wide EventBridge rule sends every alarm; most are not ours.
                    tracing::info!(alarm = %alarm.name, "no target references this alarm; nothing to do");
                }
                event_alarm = Some(alarm);
            }
            Signal::QueueDepth(q) => {
                for t in policy.targets_for_queue(q.queue.name()) {
                    add(&mut targets, t);
                }
                if targets.is_empty() {
                    tracing::info!(queue = %q.queue, "no target follows this queue; nothing to do");
                }
            }
            Signal::Scheduled => {
                for t in &policy.targets {
                    add(&mut targets, t);
                }
                match self.finder.tagged(ENABLED_TAG, "true").await {
                    Err(error) => evaluated.errors.push(error.into()),
                    Ok(found) => {
                        for f in found {
                            if policy.target_for_function(&f.arn).is_some() {
                                continue; // The policy document wins.
                            }
                            match target_from_tags(&f.arn, &f.tags) {
                                Ok(t) => add(&mut targets, &t),
                                Err(message) => evaluated.errors.push(HandlerError::TagPolicy {
                                    function: f.arn.clone(),
                                    message,
                                }),
                            }
                        }
                    }
                }
            }
            Signal::Direct(command) => {
                request = Request::Direct(command.desired_concurrency);
                match policy.target_for_function(&command.function) {
                    Some(t) => add(&mut targets, t),
                    None => match self.tagged_target(&command.function).await {
                        Ok(found) => targets.push(found),
                        Err(error) => {
                            evaluated.errors.push(error);
                            return evaluated;
                        }
                    },
                }
            }
        }
        if targets.is_empty() {
            return evaluated;
        }
        let refs: Vec<&Target> = targets.iter().map(|(t, _)| t).collect();
        let observed = match self.observe_alarms(&refs, event_alarm).await {
            Ok(observed) => observed,
            Err(error) => {
                evaluated.errors.push(error);
                return evaluated;
            }
        };
        for (target, view) in targets {
            match self
                .evaluate_target(&target, view, &observed, request, &trigger, cache)
                .await
            {
                Ok(record) => evaluated.decisions.push(record),
                Err(error) => evaluated.errors.push(error),
            }
        }
        evaluated
    }

    /// A function the document does not name is managed only if it is tagged
    /// `autoscaler:enabled=true` with a valid tag policy.
    async fn tagged_target(
        &self,
        function: &str,
    ) -> Result<(Target, Option<FunctionView>), HandlerError> {
        let unmanaged = || HandlerError::Unmanaged {
            function: function.to_owned(),
        };
        let Ok(reference) = crate::function_ref::FunctionRef::parse(function) else {
            return Err(unmanaged());
        };
        let view = match self.functions.observe(&reference).await {
            Ok(view) => view,
            // Not there, or not readable: the deployed role reads only opted-in functions.
            Err(e)
                if matches!(
                    e.code.as_deref(),
                    Some("ResourceNotFoundException" | "AccessDeniedException")
                ) =>
            {
                return Err(unmanaged())
            }
            Err(e) => return Err(e.into()),
        };
        if !is_enabled(&view.tags) {
            return Err(unmanaged());
        }
        let target =
            target_from_tags(function, &view.tags).map_err(|message| HandlerError::TagPolicy {
                function: function.to_owned(),
                message,
            })?;
        Ok((target, Some(view)))
    }

    /// The history to write: this evaluation's, merged with the state as it is right now, so
    /// that an evaluation which wrote since our read is combined with ours, not overwritten
    /// (Lambda tags have no conditional write). The generation moves past both.
    async fn history_to_save(
        &self,
        target: &Target,
        ours: &History,
        read_before: &SavedState,
        now: i64,
    ) -> Result<History, AwsError> {
        let fresh = self.functions.observe(&target.function).await?;
        let current = SavedState::read(fresh.tags.get(STATE_TAG).map(String::as_str));
        let mut next = match &current {
            SavedState::Valid(theirs) if Some(theirs) != read_before.valid() => {
                tracing::warn!(
                    function = %target.function,
                    "the saved state changed during this evaluation; merging both"
                );
                ours.merge(theirs)
            }
            _ => ours.clone(),
        };
        next.expire(now, target.stability.scale_in_stabilization_seconds);
        next.generation = read_before
            .generation()
            .max(current.generation())
            .wrapping_add(1);
        Ok(next)
    }

    /// The depth of `queue`, read at most once per invocation.
    async fn queue_depth(
        &self,
        queue: &QueueRef,
        cache: &mut QueueCache,
    ) -> Result<QueueDepth, AwsError> {
        let url = match queue {
            QueueRef::Url(url) => url.clone(),
            QueueRef::Name(name) => {
                if !cache.urls.contains_key(name) {
                    let url = self.queues.url_of(name).await;
                    cache.urls.insert(name.clone(), url);
                }
                cache.urls[name].clone()?
            }
        };
        if let Some(known) = cache.depths.get(&url) {
            return known.clone();
        }
        let depth = self.queues.depth(&url).await;
        cache.depths.insert(url, depth.clone());
        depth
    }

    /// Reads every alarm the targets name in one batched call; the event's own state is
    /// used only for its alarm when CloudWatch does not return it.
    async fn observe_alarms(
        &self,
        targets: &[&Target],
        event_alarm: Option<&AlarmSignal>,
    ) -> Result<AlarmStates, HandlerError> {
        let names: Vec<String> = targets
            .iter()
            .flat_map(|t| t.alarms.iter().map(|rule| rule.name.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if names.is_empty() {
            return Ok(AlarmStates::new());
        }
        let current = self.alarms.states(&names).await?;
        let mut observed: AlarmStates = current
            .into_iter()
            .map(|(name, state)| {
                let source = StateSource::CloudWatch;
                (name, ObservedAlarm { state, source })
            })
            .collect();
        if let Some(alarm) = event_alarm {
            observed.entry(alarm.name.clone()).or_insert(ObservedAlarm {
                state: alarm.state,
                source: StateSource::Event,
            });
        }
        Ok(observed)
    }

    async fn evaluate_target(
        &self,
        target: &Target,
        view: Option<FunctionView>,
        observed: &AlarmStates,
        request: Request,
        trigger: &str,
        cache: &mut QueueCache,
    ) -> Result<DecisionRecord, HandlerError> {
        let view = match view {
            Some(view) => view,
            None => self
                .functions
                .observe(&target.function)
                .await
                .map_err(|error| match error.code.as_deref() {
                    Some("AccessDeniedException") => HandlerError::NotOptedIn {
                        function: target.function.to_string(),
                        source: error,
                    },
                    _ => error.into(),
                })?,
        };
        let queue = match (&target.queue, request) {
            (Some(spec), Request::FollowAlarms) => {
                Some(self.queue_depth(&spec.queue, cache).await?)
            }
            _ => None,
        };
        let old_state = view.tags.get(STATE_TAG).map(String::as_str);
        let saved = SavedState::read(old_state);
        let now = (self.clock)();
        let inputs = Inputs {
            current: view.reserved,
            alarms: observed,
            queue,
            saved: &saved,
            now,
        };
        let decision = decide(target, &inputs, request);
        let mut record = DecisionRecord {
            function: target.function.name().to_owned(),
            trigger: trigger.to_owned(),
            previous: decision.previous,
            desired: decision.desired,
            applied: false,
            reasons: decision.reasons.clone(),
        };
        let previous = describe(decision.previous);
        // The history is saved before the reservation changes. If the change then fails, the
        // saved history holds the next step back by a cooldown, which is conservative. In the
        // other order, a failed state write after a successful change would make Lambda
        // retry the event with the old history, and a `change` action would step twice.
        // A dry run writes nothing.
        if !self.settings.dry_run && Some(decision.history.encode().as_str()) != old_state {
            let saved_now = match self
                .history_to_save(target, &decision.history, &saved, now)
                .await
            {
                Ok(next) => self
                    .functions
                    .tag(&view.arn, STATE_TAG, &next.encode())
                    .await
                    .map(|()| next),
                Err(error) => Err(error),
            };
            let next = match saved_now {
                Ok(next) => next,
                Err(error) => {
                    record
                        .reasons
                        .push(format!("state not saved, so nothing was changed: {error}"));
                    record.log(self.settings.dry_run);
                    return Err(error.into());
                }
            };
            record
                .reasons
                .push(format!("state saved: generation {}", next.generation));
        }
        match decision.change() {
            None => record
                .reasons
                .push(format!("unchanged: reservation stays {previous}")),
            Some(value) if self.settings.dry_run => record.reasons.push(format!(
                "dry run: would set {value} (currently {previous}); nothing written"
            )),
            Some(value) => {
                if let Err(error) = self.functions.set_reserved(&target.function, value).await {
                    record.reasons.push(format!(
                        "not applied: {error} (the saved state counts the attempt, so the next \
                         step in this direction waits for its cooldown)"
                    ));
                    record.log(self.settings.dry_run);
                    return Err(error.into());
                }
                record.applied = true;
                record
                    .reasons
                    .push(format!("applied: reservation {previous} -> {value}"));
            }
        }
        record.log(self.settings.dry_run);
        Ok(record)
    }

    /// Publishes all decisions' metrics in one batched call.
    async fn publish(&self, decisions: &[DecisionRecord]) -> Result<(), HandlerError> {
        if decisions.is_empty() {
            return Ok(());
        }
        let points: Vec<_> = decisions.iter().flat_map(|d| d.metric_points()).collect();
        self.metrics
            .publish(&self.settings.namespace, &points)
            .await
            .map_err(|source| HandlerError::Reporting {
                decisions: decisions
                    .iter()
                    .map(|d| {
                        format!(
                            "{}: {} -> {}",
                            d.function,
                            describe(d.previous),
                            describe(d.desired)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                source,
            })
    }
}

fn describe(value: Option<u32>) -> String {
    match value {
        Some(n) => n.to_string(),
        None => "unreserved".to_owned(),
    }
}
