//! Why an invocation (or one record of it) failed.
//!
//! Each variant maps to a Lambda `errorType`, so a failed invocation says whether retrying
//! can help (an AWS call failed) or not (the input or the policy is wrong).

use crate::policy::PolicyError;
use crate::ports::AwsError;
use crate::settings::SettingsError;
use crate::trigger::EventError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Policy(#[from] PolicyError),

    #[error(transparent)]
    Settings(#[from] SettingsError),

    #[error("invalid event: {0}")]
    Event(#[from] EventError),

    #[error(
        "refused: function \"{function}\" is not a target of the policy and not tagged \
         autoscaler:enabled=true, so the autoscaler will not change it; nothing was changed"
    )]
    Unmanaged { function: String },

    /// AWS denied reading a target: the deployed role reads and writes only opted-in functions.
    #[error(
        "function \"{function}\" is in the policy but not opted in: {source}. The deployed \
         role reads and changes only functions tagged autoscaler:enabled=true; tag it to let \
         the autoscaler manage it. Nothing was changed"
    )]
    NotOptedIn { function: String, source: AwsError },

    /// An event from another account or Region, or a command naming a function there.
    #[error(
        "refused: {what} is in {difference}. The autoscaler reads alarms and changes functions \
         in its own account and Region only, and acting on this could move the wrong function \
         (one with the same name here); nothing was changed"
    )]
    Foreign { what: String, difference: String },

    #[error("function \"{function}\" has invalid autoscaler tags, so it is left alone: {message}")]
    TagPolicy { function: String, message: String },

    #[error("{0}")]
    Aws(#[from] AwsError),

    /// AWS denied a write on a target the autoscaler could read.
    #[error(
        "the autoscaler may not change {function}: {source}. The role allows \
         lambda:PutFunctionConcurrency only on functions tagged autoscaler:enabled=true (and \
         in ManagedFunctionArns, when that is set); nothing was changed"
    )]
    WriteDenied { function: String, source: AwsError },

    /// The target does not exist (any more).
    #[error("function {function} does not exist in this account and Region: {source}; nothing was changed")]
    FunctionGone { function: String, source: AwsError },

    /// The saved state of a target could not be read or written, so it was left alone.
    #[error("the saved state of {function} is unavailable, so nothing was changed: {source}")]
    State { function: String, source: AwsError },

    /// The saved state could not be written again after some of a change's writes (the
    /// mappings lowered first): those stand, the rest waits for the next evaluation.
    #[error(
        "the saved state of {function} is unavailable after writing {written}: what was \
         written stands, and the next evaluation finishes: {source}"
    )]
    StateAfterWrites {
        function: String,
        written: String,
        source: Box<AwsError>,
    },

    /// A target that failed once a conflict made it read again (its read failed, say), after
    /// this evaluation had written to it: those writes stand.
    #[error("{source}; before that, this evaluation wrote {written}, which stands")]
    FailedAfterWrites {
        written: String,
        source: Box<HandlerError>,
    },

    /// Another evaluation wrote the target's state while this one decided, twice in a row;
    /// `wrote`: what this one had written before the first (it stands).
    #[error(
        "the saved state of {function} changed twice while it was being decided (another \
         evaluation is working on it); {}, the next evaluation decides again",
        match .wrote {
            None => "nothing was changed".to_owned(),
            Some(wrote) => format!("nothing more was changed after {wrote}, which stands"),
        }
    )]
    StateConflict {
        function: String,
        wrote: Option<String>,
    },

    /// An SQS record whose target the deadline deferred: failing it makes SQS deliver it
    /// again, so a direct command in it is not lost.
    #[error(
        "{function} was deferred by the invocation's deadline; the record will be delivered again"
    )]
    Deferred { function: String },

    /// A direct command that lowers a reservation while its SQS event source mappings could
    /// not be listed: their pollers may run more than the new value, which would throttle
    /// their batches ([`crate::decide::refuses_without_mappings`]).
    #[error(
        "the direct command for {function} is refused: it lowers the reservation, and the \
         function's SQS event source mappings could not be listed, so their batches could be \
         throttled ({source}); nothing was changed, try again"
    )]
    MappingsUnread { function: String, source: AwsError },

    /// Several targets of one invocation failed; the others were handled and reported.
    #[error("{} target(s) failed: {}", .0.len(), join(.0))]
    Several(Vec<HandlerError>),

    /// Scaling was applied but publishing its metrics failed: `PutMetricData`, the CLI's
    /// default. The Lambda function writes them as EMF lines, which cannot fail this way.
    #[error("publishing metrics failed after the decisions were made ({decisions}): {source}")]
    Reporting { decisions: String, source: AwsError },
}

fn join(errors: &[HandlerError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl HandlerError {
    /// The Lambda `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Policy(_) => "InvalidPolicy",
            HandlerError::Settings(_) => "InvalidSettings",
            HandlerError::Event(_) => "InvalidEvent",
            HandlerError::Unmanaged { .. } => "UnmanagedFunction",
            HandlerError::TagPolicy { .. } => "InvalidTagPolicy",
            HandlerError::Foreign { .. } => "ForeignEvent",
            HandlerError::NotOptedIn { .. } => "FunctionNotOptedIn",
            HandlerError::Aws(_) => "AwsCallFailed",
            HandlerError::WriteDenied { .. } => "WriteDenied",
            HandlerError::FunctionGone { .. } => "FunctionNotFound",
            HandlerError::State { .. } | HandlerError::StateAfterWrites { .. } => {
                "StateUnavailable"
            }
            HandlerError::StateConflict { .. } => "StateConflict",
            HandlerError::FailedAfterWrites { source, .. } => source.error_type(),
            HandlerError::Deferred { .. } => "Deferred",
            HandlerError::MappingsUnread { .. } => "EventSourcesUnreadable",
            HandlerError::Several(_) => "SeveralTargetsFailed",
            HandlerError::Reporting { .. } => "ReportingFailed",
        }
    }

    /// Combines the errors of one invocation: none, one, or several.
    pub fn combine(mut errors: Vec<HandlerError>) -> Option<HandlerError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(HandlerError::Several(errors)),
        }
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(error: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}
