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
    /// With what this evaluation had written before (a mapping lowered ahead of a slow
    /// scale-in), which stands.
    Conflict(Box<Pending>, Vec<String>),
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
            TargetOutcome::Failed(None, _) | TargetOutcome::Conflict(..) => None,
        }
    }

    /// A conflict that deciding again did not resolve (a second one in a row) fails, with
    /// its record (so its metrics are sent too): nothing (more) was changed.
    pub fn unresolved(self) -> TargetOutcome {
        match self {
            TargetOutcome::Conflict(pending, written) => {
                let mut record = pending.record();
                let wrote = (!written.is_empty()).then(|| written.join(", "));
                record.reasons.push(match &wrote {
                    None => "the saved state changed again: nothing was changed".into(),
                    Some(wrote) => format!(
                        "the saved state changed again: nothing more was changed ({wrote} \
                         was written before it changed, and stands)"
                    ),
                });
                let function = pending.view.arn.clone();
                TargetOutcome::Failed(
                    Some(record),
                    HandlerError::StateConflict { function, wrote },
                )
            }
            other => other,
        }
    }

    /// This outcome of a decision made again after a conflict met once `written` had been
    /// written: those writes stand, and the record says so.
    pub fn after_writes(self, written: Vec<String>) -> TargetOutcome {
        if written.is_empty() {
            return self;
        }
        let said = format!(
            "before the saved state changed, this evaluation wrote {}, which stands",
            written.join(", ")
        );
        let mut outcome = self;
        match &mut outcome {
            TargetOutcome::Conflict(_, later) => {
                // The decision made again carries the earlier writes in its record too.
                later.retain(|w| !written.contains(w));
                later.splice(0..0, written);
            }
            TargetOutcome::Done(record) | TargetOutcome::Failed(Some(record), _) => {
                record.reasons.insert(0, said);
            }
            // No record to say it in (the target's read failed): the error says it.
            TargetOutcome::Failed(None, error) => {
                *error = HandlerError::FailedAfterWrites {
                    written: written.join(", "),
                    source: Box::new(error.clone()),
                };
            }
        }
        outcome
    }

    /// The record and the error to report.
    pub fn into_report(self) -> (Option<DecisionRecord>, Option<HandlerError>) {
        match self {
            TargetOutcome::Done(record) => (Some(record), None),
            TargetOutcome::Failed(record, error) => (record, Some(error)),
            conflict @ TargetOutcome::Conflict(..) => conflict.unresolved().into_report(),
        }
    }
}
