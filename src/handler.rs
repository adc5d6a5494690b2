//! One invocation: trigger -> observe -> decide -> apply -> report.
//!
//! Level-triggered: an event only says which targets to look at. Each target is evaluated
//! from the current state of its alarms (one batched `DescribeAlarms` call) and its current
//! reservation, so a stale or duplicated event cannot push a target the wrong way.

use crate::decide::{decide, AlarmStates, ObservedAlarm, Request, StateSource};
use crate::error::HandlerError;
use crate::policy::{Policy, PolicyError, Target};
use crate::ports::{AlarmReader, FunctionConcurrency, MetricsPublisher};
use crate::report::{BatchItemFailure, DecisionRecord, Outcome, RecordError};
use crate::settings::Settings;
use crate::trigger::{parse_event, AlarmSignal, Signal, Trigger};
use serde_json::Value;
use std::collections::BTreeSet;

/// The autoscaler, generic over its AWS capabilities.
pub struct Autoscaler<F, A, M> {
    /// Loaded once per cold start. An invalid policy is kept as an error so that every
    /// invocation fails loudly instead of the function failing to start.
    policy: Result<Policy, PolicyError>,
    settings: Settings,
    functions: F,
    alarms: A,
    metrics: M,
}

/// The decisions made for one signal and the targets that failed.
#[derive(Default)]
struct Evaluated {
    decisions: Vec<DecisionRecord>,
    errors: Vec<HandlerError>,
}

impl<F, A, M> Autoscaler<F, A, M>
where
    F: FunctionConcurrency,
    A: AlarmReader,
    M: MetricsPublisher,
{
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
        }
    }

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
        match trigger {
            Trigger::Signals(signals) => {
                for signal in &signals {
                    let evaluated = self.evaluate(policy, signal).await;
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
                            let evaluated = self.evaluate(policy, &signal).await;
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
    async fn evaluate(&self, policy: &Policy, signal: &Signal) -> Evaluated {
        let trigger = signal.to_string();
        let (targets, request, event_alarm): (Vec<&Target>, Request, Option<&AlarmSignal>) =
            match signal {
                Signal::Alarm(alarm) => {
                    let targets: Vec<&Target> = policy.targets_for_alarm(&alarm.name).collect();
                    if targets.is_empty() {
                        // An account-wide EventBridge rule sends every alarm; most are not ours.
                        tracing::info!(alarm = %alarm.name, "no target references this alarm; nothing to do");
                    }
                    (targets, Request::FollowAlarms, Some(alarm))
                }
                Signal::Direct(command) => match policy.target_for_function(&command.function) {
                    Some(target) => (
                        vec![target],
                        Request::Direct(command.desired_concurrency),
                        None,
                    ),
                    None => {
                        return Evaluated {
                            decisions: Vec::new(),
                            errors: vec![HandlerError::Unmanaged {
                                function: command.function.clone(),
                            }],
                        }
                    }
                },
            };
        if targets.is_empty() {
            return Evaluated::default();
        }
        let observed = match self.observe_alarms(&targets, event_alarm).await {
            Ok(observed) => observed,
            Err(error) => {
                return Evaluated {
                    decisions: Vec::new(),
                    errors: vec![error],
                }
            }
        };
        let mut evaluated = Evaluated::default();
        for target in targets {
            match self
                .evaluate_target(target, &observed, request, &trigger)
                .await
            {
                Ok(record) => evaluated.decisions.push(record),
                Err(error) => evaluated.errors.push(error),
            }
        }
        evaluated
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
        observed: &AlarmStates,
        request: Request,
        trigger: &str,
    ) -> Result<DecisionRecord, HandlerError> {
        let current = self.functions.reserved(&target.function).await?;
        let decision = decide(target, current, observed, request);
        let mut record = DecisionRecord {
            function: target.function.name().to_owned(),
            trigger: trigger.to_owned(),
            previous: decision.previous,
            desired: decision.desired,
            applied: false,
            reasons: decision.reasons.clone(),
        };
        let previous = describe(decision.previous);
        match decision.change() {
            None => record
                .reasons
                .push(format!("unchanged: reservation stays {previous}")),
            Some(value) if self.settings.dry_run => record.reasons.push(format!(
                "dry run: would set {value} (currently {previous}); nothing written"
            )),
            Some(value) => {
                if let Err(error) = self.functions.set_reserved(&target.function, value).await {
                    record.reasons.push(format!("not applied: {error}"));
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
