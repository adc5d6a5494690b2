//! What becomes of one target of the plan, from its reads to the report: one type all the
//! way, as kube-rs's `reconcile` returns one result per object.

use crate::error::HandlerError;
use crate::pending::Pending;
use crate::plan::PlannedTarget;
use crate::report::DecisionRecord;

#[derive(Debug)]
pub enum TargetOutcome {
    /// Decided: changed, held, unchanged or deferred; the record says which.
    Done(DecisionRecord),
    /// Failed; with the record when a decision was made (it says what was and was not done).
    Failed(Option<DecisionRecord>, HandlerError),
    /// Someone else saved the target's history since it was read: read it and decide again.
    Conflict(Box<Pending>),
}

impl TargetOutcome {
    /// A target the deadline kept from being read: deferred, for the next scheduled run.
    pub fn deferred_unread(planned: &PlannedTarget, reason: String) -> TargetOutcome {
        TargetOutcome::Done(DecisionRecord {
            function: planned.target.function.name().to_owned(),
            trigger: planned.triggers.join("; "),
            previous: None,
            desired: None,
            applied: false,
            deferred: true,
            reasons: vec![reason],
            event_sources: Vec::new(),
            schedules: Vec::new(),
            headroom_clamp: None,
        })
    }

    /// The target's record, once a decision (or a deferral) was made.
    pub fn record(&self) -> Option<&DecisionRecord> {
        match self {
            TargetOutcome::Done(record) | TargetOutcome::Failed(Some(record), _) => Some(record),
            TargetOutcome::Failed(None, _) | TargetOutcome::Conflict(_) => None,
        }
    }

    /// A conflict that deciding again did not resolve (a second one in a row) fails, with
    /// its record (so its metrics are sent too): nothing was changed.
    pub fn unresolved(self) -> TargetOutcome {
        match self {
            TargetOutcome::Conflict(pending) => {
                let mut record = pending.record();
                record
                    .reasons
                    .push("the saved state changed again: nothing was changed".into());
                let function = pending.view.arn.clone();
                TargetOutcome::Failed(Some(record), HandlerError::StateConflict { function })
            }
            other => other,
        }
    }

    /// The record and the error to report.
    pub fn into_report(self) -> (Option<DecisionRecord>, Option<HandlerError>) {
        match self {
            TargetOutcome::Done(record) => (Some(record), None),
            TargetOutcome::Failed(record, error) => (record, Some(error)),
            conflict @ TargetOutcome::Conflict(_) => conflict.unresolved().into_report(),
        }
    }
}
