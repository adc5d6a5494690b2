//! One invocation: plan -> observe -> decide each -> apply -> report.
//!
//! Level-triggered: an event only says which targets to look at. Each target is decided from
//! the current state of its alarms, queue and reservation, so a stale or duplicated event
//! cannot push it the wrong way, and what a deadline stops is picked up by the next run.
//!
//! Observing and applying overlap: targets are read in chunks, each decision goes to the
//! writer as soon as it is made, and the writer always takes the most urgent decision it
//! knows of ([`crate::apply`]). A protective cap is therefore applied while later targets are
//! still being read.
//!
//! With watch mode on, a scheduled reconciliation goes on after its pass: every few seconds a
//! tick runs the same steps over the targets that follow a queue or have alarms, from what
//! the invocation already knows of them ([`crate::watch`]).

use crate::apply::{self, Finished, Incoming, Pending};
use crate::arn::{Arn, LambdaResource};
use crate::context::Context;
use crate::deadline::Deadline;
use crate::decide::{Observations, UnreadAlarm};
use crate::error::HandlerError;
use crate::function_ref::FunctionRef;
use crate::headroom::LearnedFloor;
use crate::mapping_cache::MappingCache;
use crate::observe::{self, Observed, Shared, TARGETS_PER_CHUNK};
use crate::outcome::TargetOutcome;
use crate::plan::{self, Plan, PlannedTarget};
use crate::policy::{Policy, PolicyError};
use crate::ports::{AwsError, MetricPoint};
use crate::queue_signals::QueueSignals;
use crate::queue_urls::QueueUrls;
use crate::report::{self, DecisionRecord, Outcome, PublishCost};
use crate::settings::{Settings, Watch};
use crate::status::{self, ActivityView, TargetStatus};
use crate::trigger::{parse_event, Origin, Trigger};
use crate::watch::{self, Cadence};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// The autoscaler: its policy, settings and the ports it talks to.
pub struct Autoscaler {
    /// Loaded once per cold start. An invalid policy is kept as an error so that every
    /// invocation fails loudly instead of the function failing to start.
    policy: Result<Policy, PolicyError>,
    settings: Settings,
    ctx: Context,
    /// The account's unreserved floor as Lambda last named it (100 until it says otherwise).
    floor: LearnedFloor,
    /// The ARN Lambda invoked the autoscaler by, once known (the Lambda context's): its
    /// account and its partition and Region come from it.
    own_arn: std::sync::OnceLock<String>,
    /// Queue URLs by name, learned once per warm container.
    queue_urls: QueueUrls,
    /// The account's SQS event source mappings, kept for a while in a warm container.
    mappings: MappingCache,
    /// Depth samples and measured service times of drain-time targets, in memory only.
    queue_signals: QueueSignals,
}

impl Autoscaler {
    pub fn new(policy: Result<Policy, PolicyError>, settings: Settings, ctx: Context) -> Self {
        Autoscaler {
            policy,
            settings,
            ctx,
            floor: LearnedFloor::default(),
            own_arn: std::sync::OnceLock::new(),
            queue_urls: QueueUrls::default(),
            mappings: MappingCache::default(),
            queue_signals: QueueSignals::default(),
        }
    }

    /// Adds a queue's depth sample taken earlier, as a warm container would have it
    /// (`autoscaler explain --earlier-depth`).
    pub fn add_queue_sample(
        &self,
        queue: crate::policy::QueueRef,
        at: i64,
        depth: crate::decide::QueueDepth,
    ) {
        self.queue_signals.add_sample(queue, at, depth);
    }

    /// The policy, or the reason it cannot be used.
    pub fn policy(&self) -> Result<&Policy, HandlerError> {
        self.policy
            .as_ref()
            .map_err(|e| HandlerError::Policy(e.clone()))
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Learns the account from the ARN Lambda invoked (`context.invoked_function_arn`):
    /// events and commands from another account are then refused. Without it (the CLI),
    /// only the Region is checked.
    pub fn learn_account(&self, invoked_function_arn: &str) {
        let _ = self.own_arn.set(invoked_function_arn.to_string());
    }

    /// The account the autoscaler runs in, once known.
    fn own_account(&self) -> Option<String> {
        Origin::of_arn(self.own_arn.get()?).account
    }

    /// The autoscaler's own function ARN, once known: its partition, Region and account give
    /// the state keys of targets named by name, before `GetFunction` answers.
    fn own_function_arn(&self) -> Option<Arn<'_>> {
        Arn::parse(self.own_arn.get()?).filter(|arn| {
            matches!(
                arn.lambda(),
                Some(LambdaResource::Function(_) | LambdaResource::Qualified { .. })
            )
        })
    }

    /// The deadline `remaining` from now, keeping the configured margin.
    pub fn deadline_after(&self, remaining: std::time::Duration) -> Deadline {
        Deadline::after(&*self.ctx.clock, remaining, self.settings.deadline_margin)
    }

    /// `autoscaler status`: every managed target (document and tagged), or the one named,
    /// read as an evaluation reads them (paced, batched); nothing is written. The plan's
    /// own errors (invalid tags) come back beside the rows.
    pub async fn status(
        &self,
        function: Option<&str>,
    ) -> Result<(Vec<TargetStatus>, Vec<HandlerError>), HandlerError> {
        let plan = self.plan_of_every_target(function).await?;
        let concurrency = self.settings.read_concurrency;
        let shared = observe::shared(
            &plan,
            &self.ctx,
            concurrency,
            &self.queue_urls,
            &self.mappings,
        )
        .await;
        let rows = status::collect(&plan, &shared, &self.ctx, concurrency).await;
        Ok((rows, plan.errors))
    }

    /// `autoscaler activities`: the recent changes of one managed target, newest first, from
    /// its saved state; nothing is written.
    pub async fn activities(
        &self,
        function: &str,
        limit: usize,
    ) -> Result<Vec<ActivityView>, HandlerError> {
        if self.ctx.state.is_none() {
            return Err(HandlerError::Settings(crate::settings::SettingsError {
                variable: "AUTOSCALER_STATE_TABLE",
                message: "activities are kept in the state table, and none is configured".into(),
            }));
        }
        let plan = self.plan_of_every_target(Some(function)).await?;
        let read = observe::chunk(&plan.targets, &self.ctx, 1, None, None).await;
        match read.into_iter().next() {
            Some(Ok(observed)) => {
                let mut history = observed.stored.state.history().cloned().unwrap_or_default();
                if let Some(store) = &self.ctx.state {
                    // The older activities live in items of their own (only this reads them).
                    let older = store
                        .archived_activities(&observed.view.arn, &history, limit)
                        .await
                        .map_err(|source| HandlerError::State {
                            function: observed.view.arn.clone(),
                            source,
                        })?;
                    history.activities.splice(0..0, older);
                }
                Ok(status::activities(&history, observed.view.reserved, limit))
            }
            Some(Err(unread)) => {
                Err(unread
                    .into_report()
                    .1
                    .unwrap_or_else(|| HandlerError::Unmanaged {
                        function: function.to_owned(),
                    }))
            }
            None => Err(HandlerError::Unmanaged {
                function: function.to_owned(),
            }),
        }
    }

    /// The plan a scheduled reconciliation makes (document and tagged targets), kept to the
    /// function named, if one is.
    async fn plan_of_every_target(&self, function: Option<&str>) -> Result<Plan, HandlerError> {
        let policy = self.policy()?;
        let home = Origin {
            account: self.own_account(),
            region: self.ctx.region.clone(),
        };
        let trigger = Trigger::Signals(vec![crate::trigger::Signal::Scheduled]);
        let mut plan = plan::build(policy, trigger, &self.ctx, &home).await;
        if let Some(function) = function {
            plan.targets.retain(|t| t.target.function.matches(function));
            if !plan.targets.is_empty() {
                // Found whole: another function's invalid tags, or a discovery it did not
                // need (the document names it, or discovery found it), are not its errors.
                plan.errors.clear();
                return Ok(plan);
            }
            // Not found may be not known: discovery failed, or the function's own tags are
            // invalid. Those say why ("not tagged" would be false); another function's
            // invalid tags do not.
            let why: Vec<HandlerError> = (plan.errors.into_iter())
                .filter(|e| match e {
                    HandlerError::TagPolicy {
                        function: tagged, ..
                    } => FunctionRef::parse(tagged).is_ok_and(|t| t.matches(function)),
                    _ => true,
                })
                .collect();
            return Err(
                HandlerError::combine(why).unwrap_or(HandlerError::Unmanaged {
                    function: function.to_owned(),
                }),
            );
        }
        Ok(plan)
    }

    /// Handles one event as the Lambda runtime delivers it.
    pub async fn handle(
        &self,
        event: &Value,
        deadline: Option<Deadline>,
    ) -> Result<Outcome, HandlerError> {
        self.policy()?;
        self.handle_trigger(parse_event(event)?, deadline).await
    }

    /// Handles an event as JSON text (the Lambda runtime's payload): parsed strictly, so a
    /// key given twice is refused rather than read as its last value.
    pub async fn handle_text(
        &self,
        event: &[u8],
        deadline: Option<Deadline>,
    ) -> Result<Outcome, HandlerError> {
        self.policy()?;
        let trigger = crate::trigger::parse_event_bytes(event)?;
        self.handle_trigger(trigger, deadline).await
    }

    /// Handles an already parsed event (the CLI parses files itself).
    pub async fn handle_trigger(
        &self,
        trigger: Trigger,
        deadline: Option<Deadline>,
    ) -> Result<Outcome, HandlerError> {
        match self.handle_reporting(trigger, deadline).await? {
            (_, Some(error)) => Err(error),
            (outcome, None) => Ok(outcome),
        }
    }

    /// Handles an already parsed event, and returns what was decided with the error of any
    /// target that failed: the Lambda function returns the error alone, as Lambda reports a
    /// failed invocation; the CLI prints both. `Err`: nothing was decided.
    pub async fn handle_reporting(
        &self,
        trigger: Trigger,
        deadline: Option<Deadline>,
    ) -> Result<(Outcome, Option<HandlerError>), HandlerError> {
        let policy = self.policy()?;
        let started = self.ctx.clock.elapsed();
        // Only a scheduled reconciliation watches: an event or a command never loops.
        let watching = self
            .settings
            .watch
            .filter(|_| watch::is_scheduled(&trigger));
        let home = Origin {
            account: self.own_account(),
            region: self.ctx.region.clone(),
        };
        let plan = plan::build(policy, trigger, &self.ctx, &home).await;
        if !plan.targets.is_empty() && self.ctx.state.is_none() {
            tracing::warn!(
                "no state table is configured (AUTOSCALER_STATE_TABLE): deciding without \
                 history, so cooldowns and scale-in stabilization start afresh every time, \
                 and SQS event source mappings do not follow the reservation"
            );
        }
        let cost = Arc::new(PublishCost::default());
        let (points, published) = report::publisher(
            self.ctx.metrics.clone(),
            self.settings.namespace.clone(),
            self.ctx.clock.clone(),
            cost.clone(),
        );
        let results = self
            .reconcile(&plan, deadline, Some(&points), &cost, watching.is_some())
            .await;
        let (results, known): (Vec<TargetOutcome>, Vec<Option<Observed>>) =
            results.into_iter().map(|f| (f.outcome, f.known)).unzip();
        // Logged now: a watching invocation goes on for most of a minute.
        let first = log_results(results, self.settings.dry_run);
        let watched = match watching {
            None => None,
            Some(watch) => {
                let ticks = Ticks {
                    watch,
                    started,
                    deadline,
                    points: &points,
                    report_cost: &cost,
                };
                Some(self.watch(ticks, &plan, &first, known).await)
            }
        };
        Ok(self.report(plan, first, watched, points, published).await)
    }

    /// Observes, decides and applies every target of the plan; one result per target, in
    /// plan order, with what is known of the target afterwards when `keep_known`. Each
    /// decision's metric points go to `points`, if given, as soon as it is done.
    async fn reconcile(
        &self,
        plan: &Plan,
        deadline: Option<Deadline>,
        points: Option<&UnboundedSender<MetricPoint>>,
        report_cost: &PublishCost,
        keep_known: bool,
    ) -> Vec<Finished> {
        let ctx = &self.ctx;
        // A pass that starts within the deadline's margin reads nothing (no alarm, queue or
        // mapping either: no control-plane call spent) and decides nothing, not even a target
        // whose view a watching invocation holds: each is deferred to the next run.
        if let Some(reason) = observe::too_late_to_read(ctx, deadline.as_ref()) {
            return (plan.targets.iter().enumerate())
                .map(|(order, planned)| {
                    let outcome = TargetOutcome::deferred_unread(planned, reason.clone());
                    if let (Some(points), Some(record)) = (points, outcome.record()) {
                        send_points(points, record);
                    }
                    let known = None; // Not read: nothing is known.
                    Finished {
                        order,
                        outcome,
                        known,
                    }
                })
                .collect();
        }
        let concurrency = self.settings.read_concurrency;
        let own = self.own_function_arn();
        let (decided, incoming) = tokio::sync::mpsc::unbounded_channel();
        let reads = async {
            let decided = decided;
            // The targets are read chunk after chunk while the alarms, queues and mappings
            // are: the evaluations wait for those shared reads, the GetFunction budget does
            // not (a thousand queue reads would otherwise hold the second chunk back). A
            // target with another writer's change in flight waits for it apart, so that the
            // rest of its chunk is decided at once.
            let (read, mut chunks_read) = tokio::sync::mpsc::unbounded_channel();
            let (in_flight, mut waiting) = tokio::sync::mpsc::unbounded_channel();
            let read_chunks = {
                let read = read.clone();
                async move {
                    for (c, chunk) in plan.targets.chunks(TARGETS_PER_CHUNK).enumerate() {
                        // A change in flight when its target was read is waited for and read
                        // again, even if its lease ends while the rest of the chunk is read.
                        let read_at = ctx.clock.epoch_seconds();
                        let observed =
                            observe::chunk(chunk, ctx, concurrency, deadline.as_ref(), own).await;
                        let reads = (c * TARGETS_PER_CHUNK..).zip(chunk.iter().zip(observed));
                        let now = ctx.clock.epoch_seconds();
                        let (ready, wait) =
                            observe::set_apart_changes_in_flight(reads.collect(), read_at, now);
                        // The evaluations outlive the reads: sending cannot fail.
                        let _ = read.send(ready);
                        if !wait.is_empty() {
                            let _ = in_flight.send((read_at, wait));
                        }
                    }
                }
            };
            let after_changes_in_flight = async move {
                while let Some((read_at, wait)) = waiting.recv().await {
                    let emit = |settled| {
                        let _ = read.send(settled);
                    };
                    observe::after_changes_in_flight(wait, read_at, ctx, deadline.as_ref(), emit)
                        .await;
                }
            };
            let read_targets = async {
                futures::join!(read_chunks, after_changes_in_flight);
            };
            let evaluate = async {
                let mut shared =
                    observe::shared(plan, ctx, concurrency, &self.queue_urls, &self.mappings).await;
                let now = ctx.clock.epoch_seconds();
                let home = Origin {
                    account: self.own_account(),
                    region: ctx.region.clone(),
                };
                shared.drain = self
                    .queue_signals
                    .read(plan, &shared, ctx, (now, &home), deadline.as_ref())
                    .await;
                let mut unread = Vec::new();
                while let Some(reads) = chunks_read.recv().await {
                    for (order, (planned, observed)) in reads {
                        let result = match observed {
                            Ok(observed) => {
                                match self.evaluate(order, planned, observed, &shared) {
                                    Ok(pending) => {
                                        // The writer outlives the reads: sending cannot fail.
                                        let _ = decided.send(Incoming::Decided(Box::new(pending)));
                                        continue;
                                    }
                                    Err(error) => TargetOutcome::Failed(None, error),
                                }
                            }
                            Err(unread) => {
                                if let (Some(points), Some(record)) = (points, unread.record()) {
                                    send_points(points, record);
                                }
                                *unread
                            }
                        };
                        let _ = decided.send(Incoming::Unread {
                            max: planned.target.max,
                        });
                        unread.push((order, result));
                    }
                }
                (shared, unread)
            };
            let ((), (shared, unread)) = futures::join!(read_targets, evaluate);
            (shared, unread)
        };
        let could_ask = plan.targets.iter().map(|t| u64::from(t.target.max)).sum();
        let (finished, mut done) = tokio::sync::mpsc::unbounded_channel();
        let run = apply::Run {
            ctx,
            floor: &self.floor,
            mappings: &self.mappings,
            targets: plan.targets.len(),
            could_ask,
            dry_run: self.settings.dry_run,
            deadline,
            report_cost,
        };
        let writes = apply::run(run, incoming, finished);
        let collect = async {
            let mut applied = Vec::new();
            while let Some(finished) = done.recv().await {
                if let (Some(points), Some(record)) = (points, finished.outcome.record()) {
                    send_points(points, record);
                }
                applied.push(finished);
            }
            applied
        };
        let ((shared, unread), (), applied) = futures::join!(reads, writes, collect);

        let mut results: Vec<Option<Finished>> = Vec::new();
        results.resize_with(plan.targets.len(), || None);
        for (order, outcome) in unread {
            let known = None; // Not read: nothing is known.
            results[order] = Some(Finished {
                order,
                outcome,
                known,
            });
        }
        for applied in applied {
            let order = applied.order;
            let finished = match applied.outcome {
                TargetOutcome::Conflict(pending, written) => {
                    let mut finished = self
                        .decide_again(*pending, &shared, deadline, report_cost)
                        .await;
                    finished.outcome = finished.outcome.after_writes(written).unresolved();
                    if let (Some(points), Some(record)) = (points, finished.outcome.record()) {
                        send_points(points, record);
                    }
                    finished
                }
                _ => applied,
            };
            results[order] = Some(finished);
        }
        results
            .into_iter()
            .map(|r| r.expect("every target of the plan has a result"))
            .map(|mut finished| {
                if !keep_known {
                    finished.known = None;
                }
                finished
            })
            .collect()
    }

    /// Gathers the target's observations and decides.
    fn evaluate(
        &self,
        order: usize,
        planned: &PlannedTarget,
        observed: Observed,
        shared: &Shared,
    ) -> Result<Pending, HandlerError> {
        let target = &planned.target;
        // A command that named an ARN acts on exactly that function.
        if let Some(arn) = planned
            .command_arn
            .as_ref()
            .filter(|arn| **arn != observed.view.arn)
        {
            return Err(HandlerError::Foreign {
                what: format!("function {arn}"),
                difference: format!(
                    "{}: the function managed under that name is {}",
                    Origin::of_arn(arn)
                        .differs_from(&Origin::of_arn(&observed.view.arn))
                        .unwrap_or_else(|| "another place".into()),
                    observed.view.arn
                ),
            });
        }
        let mut unread = Vec::new();
        if let Some(error) = shared.alarm_failure(target) {
            match crate::decide::on_unread_alarm(planned.request) {
                UnreadAlarm::Refuse => return Err(error.clone().into()),
                UnreadAlarm::DecideOnMissingData => unread.push(error.to_string()),
            }
        }
        let sources = shared.event_sources(target, &observed.view.arn);
        if let crate::event_sources::Observed::Unreadable(why) = &sources {
            unread.push(format!("event source mappings unreadable: {why}"));
        }
        let saved_records = observed.stored.state.event_sources();
        let mapping_floor = crate::event_sources::floor(&sources, saved_records);
        let pause_held = crate::event_sources::pause_held(saved_records);
        // What was read, whatever the request: decide ignores the queue (and missing data)
        // for a direct command.
        let queue = match shared.queue(target) {
            Some(Ok(depth)) => Some(*depth),
            Some(Err(error)) => {
                unread.push(error.to_string());
                None
            }
            None => None,
        };
        let observations = Observations {
            current: observed.view.reserved,
            alarms: shared.alarms_of(target),
            queue,
            saved: observed.stored.state,
            now: self.ctx.clock.epoch_seconds(),
            unread,
            mapping_floor,
            pause_held,
            drain: shared.drain.signals(target, &sources),
        };
        let version = self.ctx.state.as_ref().map(|_| observed.stored.version);
        let decision = observations.decide(target, planned.request, None);
        if let crate::event_sources::Observed::Unreadable(error) = &sources {
            if crate::decide::refuses_without_mappings(planned.request, &decision) {
                return Err(HandlerError::MappingsUnread {
                    function: target.function.to_string(),
                    source: error.clone(),
                });
            }
        }
        Ok(Pending::new(
            order,
            planned.clone(),
            observed.view,
            version,
            observations,
            sources,
            decision,
        ))
    }

    /// Someone else saved the target's history while this invocation decided: read the
    /// target again, decide once more and apply. A second conflict is reported.
    async fn decide_again(
        &self,
        pending: Pending,
        shared: &Shared,
        deadline: Option<Deadline>,
        report_cost: &PublishCost,
    ) -> Finished {
        let order = pending.order;
        let unknown = |outcome| Finished {
            order,
            outcome,
            known: None,
        };
        // Read it afresh: the reservation may have changed too.
        let mut fresh = pending.planned.clone();
        fresh.view = None;
        fresh.stored = None;
        let targets = std::slice::from_ref(&fresh);
        let read_at = self.ctx.clock.epoch_seconds();
        let read = observe::chunk(targets, &self.ctx, 1, deadline.as_ref(), None).await;
        let reads = read.into_iter().map(|o| ((), (&fresh, o))).collect();
        let mut observed = None;
        observe::after_changes_in_flight(reads, read_at, &self.ctx, deadline.as_ref(), |mut s| {
            observed = s.pop();
        })
        .await;
        let observed = match observed {
            Some((_, (_, Ok(observed)))) => observed,
            Some((_, (_, Err(unread)))) => return unknown(*unread),
            None => unreachable!("one target read, one result"),
        };
        let earlier = pending;
        let mut pending = match self.evaluate(earlier.order, &fresh, observed, shared) {
            Ok(pending) => pending,
            Err(error) => return unknown(TargetOutcome::Failed(None, error)),
        };
        pending.inherit_written(&earlier);
        pending.note("the saved state changed while deciding: read and decided again".into());
        let max = u64::from(pending.planned.target.max);
        let (send, incoming) = tokio::sync::mpsc::unbounded_channel();
        let _ = send.send(Incoming::Decided(Box::new(pending)));
        drop(send);
        let (finished, mut done) = tokio::sync::mpsc::unbounded_channel();
        let run = apply::Run {
            ctx: &self.ctx,
            floor: &self.floor,
            mappings: &self.mappings,
            targets: 1,
            could_ask: max,
            dry_run: self.settings.dry_run,
            deadline,
            report_cost,
        };
        apply::run(run, incoming, finished).await;
        // A second conflict stays one: the report says nothing was changed.
        match done.recv().await {
            Some(finished) => finished,
            None => unreachable!("one decision sent, one result"),
        }
    }

    /// Watch mode after the first pass: a tick every [`Watch::every`], each one pass of
    /// [`Self::reconcile`] over the followed targets from what is known of them, until the
    /// cadence ends ([`crate::watch`]). Decisions worth it are logged, published and
    /// returned as they are made.
    async fn watch(
        &self,
        ticks: Ticks<'_>,
        plan: &Plan,
        first: &[Reported],
        known: Vec<Option<Observed>>,
    ) -> Watched {
        let dry_run = self.settings.dry_run;
        let clock = self.ctx.clock.clone();
        let mut followed: Vec<Followed> = plan
            .targets
            .iter()
            .zip(first)
            .zip(known)
            .enumerate()
            .filter_map(|(order, ((planned, (record, error)), known))| {
                let deferred = record.as_ref().is_some_and(|r| r.deferred);
                let target = &planned.target;
                // Bounds and schedules alone do not move between two runs.
                let moves = target.queue.is_some() || !target.alarms.is_empty();
                // Not known and not deferred: it failed before it could be decided, or its
                // history changed twice under it. The next scheduled run reads it again.
                let readable = known.is_some() || deferred;
                ((moves || deferred) && readable).then(|| Followed {
                    order,
                    planned: planned.clone(),
                    known,
                    deferred,
                    reported: record.as_ref().and_then(|r| r.desired),
                    failing: error.as_ref().map(ToString::to_string),
                })
            })
            .collect();
        let mut watched = Watched {
            records: Vec::new(),
            errors: BTreeMap::new(),
            deferred: 0,
            summary: watch::Summary {
                every_seconds: ticks.watch.every.as_secs_f64(),
                followed: followed.len(),
                ticks: 0,
                changes: 0,
                ended: watch::Ended::NextScheduledRun,
            },
        };
        let mut cadence = Cadence::new(ticks.started, ticks.watch);
        loop {
            let (tick, due) = match cadence.next(&*clock, ticks.deadline.as_ref()) {
                Ok(next) => next,
                Err(ended) => {
                    watched.summary.ended = ended;
                    break;
                }
            };
            let now = clock.elapsed();
            if due > now {
                clock.sleep(due - now).await;
            }
            let began = clock.elapsed();
            self.forget_moved_on(&mut followed, ticks.deadline.as_ref())
                .await;
            let seconds_in = due.saturating_sub(ticks.started).as_secs_f64();
            let tick_plan = Plan {
                targets: followed
                    .iter()
                    .map(|f| f.for_tick(tick, seconds_in))
                    .collect(),
                ..Plan::default()
            };
            let results = self
                .reconcile(&tick_plan, ticks.deadline, None, ticks.report_cost, true)
                .await;
            cadence.took(clock.elapsed().saturating_sub(began));
            watched.summary.ticks += 1;
            for (f, finished) in followed.iter_mut().zip(results) {
                f.known = finished.known;
                let (record, error) = finished.outcome.into_report();
                f.deferred = record.as_ref().is_some_and(|r| r.deferred);
                if let Some(record) = record {
                    if watch::worth_reporting(&record, error.is_some(), dry_run, f.reported) {
                        record.log(dry_run);
                        send_points(ticks.points, &record);
                        f.reported = record.desired;
                        watched.records.push(record);
                    }
                }
                if let Some(error) = error {
                    // Once while it stays the same: a target that fails at every tick would
                    // write a line every few seconds.
                    let text = error.to_string();
                    if f.failing.as_ref() != Some(&text) {
                        log_failure(&error);
                        f.failing = Some(text);
                    }
                    watched.errors.insert(f.order, error);
                } else {
                    f.failing = None;
                }
            }
        }
        // Every target the first pass deferred is followed, so this counts them all.
        watched.deferred = followed.iter().filter(|f| f.deferred).count();
        watched.summary.changes = watched.records.len();
        tracing::info!(
            every_seconds = watched.summary.every_seconds,
            followed = watched.summary.followed,
            ticks = watched.summary.ticks,
            changes = watched.summary.changes,
            ended = ?watched.summary.ended,
            "watch ended"
        );
        watched
    }

    /// Finishes publishing the metrics and builds the returned record from the first pass's
    /// results (one per plan target, logged already) and what a watch added; SQS records
    /// fail with their targets.
    async fn report(
        &self,
        plan: Plan,
        first: Vec<Reported>,
        watched: Option<Watched>,
        points: UnboundedSender<MetricPoint>,
        published: tokio::task::JoinHandle<Result<(), AwsError>>,
    ) -> (Outcome, Option<HandlerError>) {
        let dry_run = self.settings.dry_run;
        let mut decisions = Vec::new();
        let mut target_errors: Vec<Option<HandlerError>> = Vec::new();
        let mut deferred_targets: Vec<bool> = Vec::new();
        for (record, error) in first {
            deferred_targets.push(record.as_ref().is_some_and(|r| r.deferred));
            decisions.extend(record);
            target_errors.push(error);
        }
        let mut deferred = deferred_targets.iter().filter(|d| **d).count();
        let mut watch = None;
        if let Some(watched) = watched {
            // A target that failed in a tick reports its latest failure; one that failed in
            // the first pass only keeps that one (a later tick that wrote nothing is no
            // proof that it was resolved).
            for (order, error) in watched.errors {
                target_errors[order] = Some(error);
            }
            decisions.extend(watched.records);
            deferred = watched.deferred;
            watch = Some(watched.summary);
        }
        let mut outcome = Outcome {
            decisions,
            dry_run,
            deferred,
            batch_item_failures: None,
            record_errors: Vec::new(),
            records: Vec::new(),
            watch,
        };
        let mut errors = plan.errors;
        match plan.records {
            None => errors.extend(target_errors.into_iter().flatten()),
            Some(records) => report::sqs_records(
                &mut outcome,
                &plan.targets,
                records,
                &target_errors,
                &deferred_targets,
            ),
        }
        if !outcome.decisions.is_empty() {
            let _ = points.send(report::deferred_point(outcome.deferred));
        }
        drop(points);
        let published = published.await.unwrap_or_else(|panic| {
            Err(AwsError {
                operation: "PutMetricData",
                resource: self.settings.namespace.clone(),
                code: None,
                message: format!("the publishing task ended abnormally: {panic}"),
            })
        });
        if let Err(source) = published {
            // Beside the targets' own errors, never instead of them.
            errors.push(HandlerError::Reporting {
                decisions: report::summary(&outcome.decisions),
                source,
            });
        }
        (outcome, HandlerError::combine(errors))
    }
}

impl Autoscaler {
    /// Reads the saved state of the followed targets a tick knows (`BatchGetItem`, 100 keys
    /// a call; no control-plane call), and forgets what it knows of those whose history
    /// another writer has moved on since (the function that takes events, a CLI run), so
    /// that the tick reads them again. Without it, a tick whose decision matched its stale
    /// view wrote nothing, met no conflict, and left the other writer's value (say a
    /// scale-in while the queue was briefly empty) until the next scheduled run. A read that
    /// fails, or that the deadline leaves no time for, keeps what is known.
    async fn forget_moved_on(&self, followed: &mut [Followed], deadline: Option<&Deadline>) {
        let Some(state) = &self.ctx.state else {
            return;
        };
        let keys: Vec<String> = (followed.iter())
            .filter_map(|f| f.known.as_ref().map(|k| k.view.arn.clone()))
            .collect();
        let mut stored = HashMap::new();
        for chunk in keys.chunks(TARGETS_PER_CHUNK) {
            if observe::too_late_to_read(&self.ctx, deadline).is_some() {
                break;
            }
            match state.load(chunk).await {
                Ok(read) => stored.extend(read),
                Err(error) => {
                    tracing::warn!(%error, "a watch tick could not read the saved state: it decides from what it knows");
                }
            }
        }
        for f in followed.iter_mut() {
            let moved = f.known.as_ref().is_some_and(|k| {
                (stored.get(&k.view.arn)).is_some_and(|s| s.version != k.stored.version)
            });
            if moved {
                f.known = None;
            }
        }
    }
}

/// One target's first-pass result as reported: its record (logged) and its error.
type Reported = (Option<DecisionRecord>, Option<HandlerError>);

/// Turns the pass's results into what is reported, logging each record.
fn log_results(results: Vec<TargetOutcome>, dry_run: bool) -> Vec<Reported> {
    results
        .into_iter()
        .map(|result| {
            let (record, error) = result.into_report();
            if let Some(record) = &record {
                record.log(dry_run);
            }
            if let Some(error) = &error {
                log_failure(error);
            }
            (record, error)
        })
        .collect()
}

/// A target's error, at WARN: the record's line (INFO) says what was decided, this one that
/// the target failed, also when it has no record (its read failed), so that a Logs Insights
/// filter on WARN and ERROR finds every failure.
fn log_failure(error: &HandlerError) {
    tracing::warn!(error = %error, error_type = error.error_type(), "a target failed");
}

/// What a watch runs with.
struct Ticks<'a> {
    watch: Watch,
    /// When the invocation started, on the clock's monotonic scale.
    started: Duration,
    deadline: Option<Deadline>,
    points: &'a UnboundedSender<MetricPoint>,
    report_cost: &'a PublishCost,
}

/// A target a watch follows, with what is known of it.
struct Followed {
    order: usize,
    planned: PlannedTarget,
    /// `None`: read it at the next tick.
    known: Option<Observed>,
    /// Whether its latest result was deferred.
    deferred: bool,
    /// The desired value last reported for it (a dry run reports a would-be change once).
    reported: Option<u32>,
    /// The error its latest tick logged, while it keeps failing the same way.
    failing: Option<String>,
}

impl Followed {
    /// The target as tick `n` plans it: what is known of it, so that it is not read again,
    /// and a trigger that says which tick decided.
    fn for_tick(&self, n: u32, seconds_in: f64) -> PlannedTarget {
        let mut planned = self.planned.clone();
        planned.view = self.known.as_ref().map(|k| k.view.clone());
        planned.stored = self.known.as_ref().map(|k| k.stored.clone());
        planned.triggers = vec![format!(
            "{} (watch tick {n}, {seconds_in:.0} s in)",
            self.planned.triggers.join("; ")
        )];
        planned
    }
}

/// What a watch adds to the report.
struct Watched {
    /// The tick decisions worth reporting, in the order they were made (logged already).
    records: Vec<DecisionRecord>,
    /// The latest tick failure of each target, by plan order.
    errors: BTreeMap<usize, HandlerError>,
    /// How many targets' latest result is deferred.
    deferred: usize,
    summary: watch::Summary,
}

/// Sends a finished decision's metric points to the publisher.
fn send_points(points: &UnboundedSender<MetricPoint>, record: &DecisionRecord) {
    for point in record.metric_points() {
        // The publisher lives until the report drops the sender.
        let _ = points.send(point);
    }
}
