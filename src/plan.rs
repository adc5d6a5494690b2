//! Signals + policy + discovery -> one plan: the deduplicated set of targets an invocation
//! looks at, each with what was asked of it and why.
//!
//! However many signals name a target (an SQS batch of alarms, a schedule and an alarm in one
//! SNS delivery), it is observed once and decided once. A direct command replaces the
//! alarms' proposals for its target; when several name one target, the later one wins.

use crate::alarm::AlarmState;
use crate::context::Context;
use crate::decide::Request;
use crate::error::HandlerError;
use crate::function_ref::FunctionRef;
use crate::policy::tags::{has_tag_policy, is_enabled, target_from_tags, ENABLED_TAG};
use crate::policy::{Policy, Target};
use crate::ports::{AwsError, ErrorKind, FunctionView, Lambda, Stored};
use crate::trigger::{Origin, Signal, Trigger};
use std::collections::{HashMap, HashSet};

/// One target of the plan.
#[derive(Debug, Clone)]
pub struct PlannedTarget {
    pub target: Target,
    pub request: Request,
    /// The signals that named it, in order, as people read them.
    pub triggers: Vec<String>,
    /// The function as planning already read it (a tag-managed function named by a direct
    /// command), so that it is not read twice.
    pub view: Option<FunctionView>,
    /// The saved state as this invocation already knows it (a watching invocation's ticks:
    /// what the last read or the autoscaler's own write left), so that it is not read again.
    pub stored: Option<Stored>,
    /// The SQS record whose direct command set `request`, if one did.
    direct_from: Option<String>,
    /// The ARN the winning direct command named, if it named one: the command acts on
    /// exactly that function or not at all.
    pub command_arn: Option<String>,
}

/// One SQS record: what it named and whether it failed before any target was looked at.
#[derive(Debug)]
pub struct RecordPlan {
    pub message_id: String,
    /// Indices into [`Plan::targets`] of the targets this record named.
    pub targets: Vec<usize>,
    /// Why the record fails whatever happens to its targets (a bad body, an unmanaged function).
    pub errors: Vec<HandlerError>,
    /// A later record whose direct command replaced this record's for the same target.
    pub superseded_by: Option<String>,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub targets: Vec<PlannedTarget>,
    /// Alarm states the events carried: used only for alarms CloudWatch does not return
    /// (the latest signal wins).
    pub event_alarms: HashMap<String, AlarmState>,
    /// Failures of signals outside an SQS batch (each SQS record carries its own).
    pub errors: Vec<HandlerError>,
    /// Present for SQS batches: one entry per record, in order.
    pub records: Option<Vec<RecordPlan>>,
}

/// Builds the plan for one event. Reads only what choosing targets needs: the tag discovery
/// of a scheduled reconciliation, and the function a direct command names when the policy
/// document does not. Signals from another account or Region than `home` are refused.
pub async fn build(policy: &Policy, trigger: Trigger, ctx: &Context, home: &Origin) -> Plan {
    let mut planner = Planner {
        policy,
        ctx,
        home,
        plan: Plan::default(),
        by_name: HashMap::new(),
        discovered: None,
        superseded: Vec::new(),
        conflicting: HashSet::new(),
    };
    match trigger {
        Trigger::Signals(signals) => {
            for signal in &signals {
                let (_, errors) = planner.add(signal, None).await;
                // One invocation reports a failure once, however many signals met it.
                for error in errors {
                    let text = error.to_string();
                    if !planner.plan.errors.iter().any(|e| e.to_string() == text) {
                        planner.plan.errors.push(error);
                    }
                }
            }
        }
        Trigger::Queue(records) => {
            let mut planned = Vec::with_capacity(records.len());
            for record in records {
                let (targets, errors) = match record.signal {
                    Err(e) => (Vec::new(), vec![HandlerError::Event(e)]),
                    Ok(signal) => planner.add(&signal, Some(&record.message_id)).await,
                };
                planned.push(RecordPlan {
                    message_id: record.message_id,
                    targets,
                    errors,
                    superseded_by: None,
                });
            }
            for (earlier, later) in std::mem::take(&mut planner.superseded) {
                if let Some(r) = planned.iter_mut().find(|r| r.message_id == earlier) {
                    r.superseded_by = Some(later);
                }
            }
            planner.plan.records = Some(planned);
        }
    }
    planner.plan
}

struct Planner<'a> {
    policy: &'a Policy,
    ctx: &'a Context,
    home: &'a Origin,
    plan: Plan,
    /// Target index by function name.
    by_name: HashMap<String, usize>,
    /// The tag-discovered targets, and what failed, found once per plan.
    discovered: Option<(Vec<usize>, Vec<HandlerError>)>,
    /// Alarms whose records in this event carry different states.
    conflicting: HashSet<String>,
    /// (earlier, later) SQS records whose direct commands named the same target.
    superseded: Vec<(String, String)>,
}

impl Planner<'_> {
    /// Adds what one signal asks for; returns the targets it named and what failed.
    async fn add(
        &mut self,
        signal: &Signal,
        record: Option<&str>,
    ) -> (Vec<usize>, Vec<HandlerError>) {
        let why = signal.to_string();
        let mut named = Vec::new();
        let mut errors = Vec::new();
        let policy = self.policy;
        match signal {
            Signal::Alarm(alarm) => {
                if let Some(difference) = alarm.origin.differs_from(self.home) {
                    errors.push(HandlerError::Foreign {
                        what: format!("alarm {}", alarm.name),
                        difference,
                    });
                    return (named, errors);
                }
                // Records of one SQS batch come in no set order: an alarm whose records
                // disagree says nothing reliable of its state, so the event's state is kept
                // only while they agree (CloudWatch's own read decides either way).
                if !self.conflicting.contains(&alarm.name) {
                    match self.plan.event_alarms.get(&alarm.name) {
                        Some(seen) if *seen != alarm.state => {
                            tracing::warn!(
                                alarm = %alarm.name,
                                "the event's records carry different states of this alarm: \
                                 none of them is used"
                            );
                            self.plan.event_alarms.remove(&alarm.name);
                            self.conflicting.insert(alarm.name.clone());
                        }
                        _ => {
                            self.plan
                                .event_alarms
                                .insert(alarm.name.clone(), alarm.state);
                        }
                    }
                }
                let by_alarm = policy.targets_for_alarm(&alarm.name);
                let by_queue = alarm
                    .queue_names()
                    .flat_map(|queue| policy.targets_for_queue(queue));
                for target in by_alarm.chain(by_queue) {
                    named.push(self.follow(target, None, &why));
                }
                if named.is_empty() {
                    // An account-wide EventBridge rule sends every alarm; most are not ours.
                    tracing::info!(alarm = %alarm.name, "no target references this alarm; nothing to do");
                }
            }
            Signal::QueueDepth(q) => {
                for target in policy.targets_for_queue(q.queue.name()) {
                    named.push(self.follow(target, None, &why));
                }
                if named.is_empty() {
                    tracing::info!(queue = %q.queue, "no target follows this queue; nothing to do");
                }
            }
            Signal::Scheduled => {
                for target in &policy.targets {
                    named.push(self.follow(target, None, &why));
                }
                let (found, failed) = self.discover(&why).await;
                named.extend(found);
                errors.extend(failed);
            }
            Signal::Direct(command) => {
                let named_arn = command.function.arn().is_some();
                if let Some(difference) =
                    Origin::of_arn(command.function.api_id()).differs_from(self.home)
                {
                    errors.push(HandlerError::Foreign {
                        what: format!("function {}", command.function),
                        difference,
                    });
                    return (named, errors);
                }
                let request = Request::Direct(command.desired_concurrency);
                let index = match policy.target_for_function(command.function.api_id()) {
                    Some(target) => Some(self.command(target.clone(), None, request, &why, record)),
                    None => match self.tagged_target(&command.function).await {
                        Ok((target, view)) => {
                            Some(self.command(target, Some(view), request, &why, record))
                        }
                        Err(error) => {
                            errors.push(error);
                            None
                        }
                    },
                };
                if let Some(index) = index {
                    self.plan.targets[index].command_arn =
                        named_arn.then(|| command.function.api_id().to_owned());
                    named.push(index);
                }
            }
        }
        // In the order the signal named them, each once.
        let mut seen = std::collections::HashSet::new();
        named.retain(|i| seen.insert(*i));
        (named, errors)
    }

    /// Adds (or finds) a target and notes why it is looked at.
    fn follow(&mut self, target: &Target, view: Option<FunctionView>, why: &str) -> usize {
        let name = target.function.name().to_owned();
        let index = *self.by_name.entry(name).or_insert_with(|| {
            self.plan.targets.push(PlannedTarget {
                target: target.clone(),
                request: Request::FollowAlarms,
                triggers: Vec::new(),
                view: None,
                stored: None,
                direct_from: None,
                command_arn: None,
            });
            self.plan.targets.len() - 1
        });
        let planned = &mut self.plan.targets[index];
        if !planned.triggers.iter().any(|t| t == why) {
            planned.triggers.push(why.to_owned());
        }
        if view.is_some() {
            planned.view = view;
        }
        index
    }

    /// A direct command: it replaces the alarms' proposals, and an earlier command's.
    fn command(
        &mut self,
        target: Target,
        view: Option<FunctionView>,
        request: Request,
        why: &str,
        record: Option<&str>,
    ) -> usize {
        let index = self.follow(&target, view, why);
        let planned = &mut self.plan.targets[index];
        planned.request = request;
        let earlier = std::mem::replace(&mut planned.direct_from, record.map(str::to_owned));
        if let (Some(earlier), Some(later)) = (earlier, record) {
            self.superseded.push((earlier, later.to_owned()));
        }
        index
    }

    /// The functions opted in by tags (`autoscaler:enabled=true`) that the document does not
    /// name; found once per plan however many schedules the event carries.
    async fn discover(&mut self, why: &str) -> (Vec<usize>, Vec<HandlerError>) {
        // Every scheduled signal asked for the same discovery: each gets its failures too, so
        // that every such SQS record is delivered again, not the first alone.
        if let Some((known, failed)) = &self.discovered {
            return (known.clone(), failed.clone());
        }
        let mut found = Vec::new();
        let mut errors = Vec::new();
        match self.ctx.finder.tagged(ENABLED_TAG, "true").await {
            Err(error) => errors.push(error.into()),
            Ok(tagged) => {
                for f in tagged {
                    if self.policy.target_for_function(&f.arn).is_some() {
                        continue; // The policy document wins.
                    }
                    if !has_tag_policy(&f.tags) {
                        tracing::info!(
                            function = %f.arn,
                            "tagged autoscaler:enabled=true, but neither in the policy \
                             document nor with autoscaler: tags of its own: nothing to manage"
                        );
                        continue;
                    }
                    match target_from_tags(&f.arn, &f.tags) {
                        Ok(target) => found.push(self.follow(&target, None, why)),
                        Err(message) => errors.push(HandlerError::TagPolicy {
                            function: f.arn.clone(),
                            message,
                        }),
                    }
                }
            }
        }
        self.discovered = Some((found.clone(), errors.clone()));
        (found, errors)
    }

    /// A function the document does not name is managed only if it is tagged
    /// `autoscaler:enabled=true` with a valid tag policy.
    async fn tagged_target(
        &self,
        function: &FunctionRef,
    ) -> Result<(Target, FunctionView), HandlerError> {
        let unmanaged = || HandlerError::Unmanaged {
            function: function.to_string(),
        };
        let view = match self.ctx.lambda.get_function(function).await {
            Ok(view) => view,
            // Not there, or not readable: the deployed role reads only opted-in functions.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::AccessDenied) => {
                return Err(unmanaged())
            }
            Err(e) => return Err(e.into()),
        };
        if !is_enabled(&view.tags) {
            // No tags returned is not "untagged": GetFunction gives them only to a role
            // allowed lambda:ListTags, and saying "not tagged" would be false.
            if let Some(why) = &view.tags_error {
                return Err(HandlerError::Aws(AwsError {
                    operation: "GetFunction",
                    resource: function.to_string(),
                    code: Some("TagsError".into()),
                    message: format!(
                        "the function's tags were not returned ({why}): the role needs \
                         lambda:ListTags on functions tagged autoscaler:enabled=true to manage \
                         one that the policy document does not name (docs/deploy.md)"
                    ),
                }));
            }
            return Err(unmanaged());
        }
        let target = target_from_tags(function.api_id(), &view.tags).map_err(|message| {
            HandlerError::TagPolicy {
                function: function.to_string(),
                message,
            }
        })?;
        Ok((target, view))
    }
}
