//! What an invocation returns, logs and publishes.

use crate::decide::HeadroomClamp;
use crate::error::HandlerError;
use crate::event_sources::SourceReport;
use crate::plan::{PlannedTarget, RecordPlan};
use crate::ports::Clock;
use crate::ports::{AwsError, MetricPoint, MetricsPublisher};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Metric points per `PutMetricData` call. CloudWatch takes up to 1000, but smaller calls go
/// out while later targets are still being read and written, so that little is left to
/// publish when the invocation ends (and moto parses a call's points in quadratic time).
pub const POINTS_PER_CALL: usize = 100;

/// The most publishing one metric point has cost so far: what the report still needs when
/// writes stop is estimated from it, so that it ends before the deadline.
#[derive(Debug, Default)]
pub struct PublishCost(AtomicU64);

impl PublishCost {
    pub fn per_point(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    fn note(&self, took: Duration, points: usize) {
        let per_point = took.as_nanos() / points.max(1) as u128;
        self.0.fetch_max(
            u64::try_from(per_point).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// A publisher that sends points as they come, [`POINTS_PER_CALL`] at a time, and the rest
/// once the sender is dropped; the task ends with the first failure, if any.
pub fn publisher(
    metrics: Arc<dyn MetricsPublisher>,
    namespace: String,
    clock: Arc<dyn Clock>,
    cost: Arc<PublishCost>,
) -> (
    UnboundedSender<MetricPoint>,
    tokio::task::JoinHandle<Result<(), AwsError>>,
) {
    let (points, incoming) = unbounded_channel();
    let task = tokio::spawn(publish(incoming, metrics, namespace, clock, cost));
    (points, task)
}

async fn publish(
    mut incoming: UnboundedReceiver<MetricPoint>,
    metrics: Arc<dyn MetricsPublisher>,
    namespace: String,
    clock: Arc<dyn Clock>,
    cost: Arc<PublishCost>,
) -> Result<(), AwsError> {
    let mut batch = Vec::with_capacity(POINTS_PER_CALL);
    let mut first_error = None;
    loop {
        let more = match incoming.recv().await {
            Some(point) => {
                batch.push(point);
                true
            }
            None => false,
        };
        if batch.len() >= POINTS_PER_CALL || (!more && !batch.is_empty()) {
            let started = clock.elapsed();
            if let Err(error) = metrics.publish(&namespace, &batch).await {
                first_error.get_or_insert(error);
            }
            cost.note(clock.elapsed().saturating_sub(started), batch.len());
            batch.clear();
        }
        if !more {
            return first_error.map_or(Ok(()), Err);
        }
    }
}

/// A reservation as people read it: a number, or "unreserved".
pub fn describe(value: Option<u32>) -> String {
    match value {
        Some(n) => n.to_string(),
        None => "unreserved".to_owned(),
    }
}

/// One target's decision as returned, logged and published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionRecord {
    pub function: String,
    /// What prompted the evaluation, e.g. "alarm orders-backlog-high is ALARM (SNS notification)".
    pub trigger: String,
    /// The reservation before the decision; null when there was none.
    pub previous: Option<u32>,
    /// The reservation the policy wants; null only when there was none and nothing applied.
    pub desired: Option<u32>,
    /// True when PutFunctionConcurrency was called and succeeded.
    pub applied: bool,
    /// True when the deadline came before this decision could be carried out; the next
    /// scheduled run decides again.
    pub deferred: bool,
    pub reasons: Vec<String>,
    /// The function's SQS event source mappings that follow its reservation, before and
    /// after ([`crate::event_sources`]); absent when none do.
    #[serde(rename = "eventSources", skip_serializing_if = "Vec::is_empty")]
    pub event_sources: Vec<SourceReport>,
    /// The target's schedules that were active ([`crate::schedule`]), by name; absent when
    /// none was.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<String>,
    /// The increase a scale-out asked for and the one the account's headroom granted; absent
    /// when the headroom held nothing back.
    #[serde(rename = "headroomClamp", skip_serializing_if = "Option::is_none")]
    pub headroom_clamp: Option<HeadroomClamp>,
}

impl DecisionRecord {
    /// The reservation after this decision.
    pub fn reserved_after(&self) -> Option<u32> {
        if self.applied {
            self.desired
        } else {
            self.previous
        }
    }

    /// How many of the followed mappings are paused (disabled by the autoscaler) after
    /// this decision; `None` when no mapping follows the reservation.
    pub fn paused_consumers(&self) -> Option<usize> {
        (!self.event_sources.is_empty()).then(|| {
            self.event_sources
                .iter()
                .filter(|s| {
                    let enabled = if s.applied {
                        s.enabled.desired
                    } else {
                        s.enabled.previous
                    };
                    !enabled
                })
                .count()
        })
    }

    /// `DesiredConcurrency`, `ReservedConcurrency` and `ScalingActions` for this decision
    /// (the first two only when there is a value to report), and `PausedConsumers` when
    /// mappings follow the reservation.
    pub fn metric_points(&self) -> Vec<MetricPoint> {
        let point = |metric, value: f64| MetricPoint {
            function: Some(self.function.clone()),
            metric,
            value,
        };
        let mut points = Vec::with_capacity(3);
        if let Some(desired) = self.desired {
            points.push(point("DesiredConcurrency", f64::from(desired)));
        }
        if let Some(reserved) = self.reserved_after() {
            points.push(point("ReservedConcurrency", f64::from(reserved)));
        }
        points.push(point(
            "ScalingActions",
            if self.applied { 1.0 } else { 0.0 },
        ));
        if let Some(paused) = self.paused_consumers() {
            points.push(point("PausedConsumers", paused as f64));
        }
        points
    }

    /// The structured log line of this decision (JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`).
    pub fn log(&self, dry_run: bool) {
        tracing::info!(
            function = %self.function,
            trigger = %self.trigger,
            previous = self.previous,
            desired = self.desired,
            applied = self.applied,
            deferred = self.deferred,
            dry_run,
            reasons = %self.reasons.join("; "),
            event_sources = %serde_json::to_string(&self.event_sources).unwrap_or_default(),
            schedules = %self.schedules.join(","),
            "scaling decision"
        );
    }
}

/// An SQS record that failed, in the shape Lambda's partial batch response expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemFailure {
    pub item_identifier: String,
}

/// Why an SQS record failed (returned beside `batchItemFailures` for people and scripts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordError {
    pub message_id: String,
    pub error_type: String,
    pub error: String,
}

/// What became of one SQS record: the functions it named and whether it succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordReport {
    pub message_id: String,
    pub functions: Vec<String>,
    pub succeeded: bool,
    /// Set when a later record's direct command replaced this record's for a function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

/// The value one invocation returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub decisions: Vec<DecisionRecord>,
    pub dry_run: bool,
    /// How many decisions the deadline deferred.
    pub deferred: usize,
    /// Present for SQS invocations only (Lambda's partial batch response).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_item_failures: Option<Vec<BatchItemFailure>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub record_errors: Vec<RecordError>,
    /// For SQS invocations: every record, with the functions it named.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordReport>,
    /// For a scheduled reconciliation that watched ([`crate::watch`]): how the watch went.
    /// `decisions` then holds the first pass's decisions, one per target, followed by each
    /// tick decision that changed something (or tried to), in the order they were made;
    /// `deferred` counts the targets whose latest decision was deferred.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<crate::watch::Summary>,
}

/// `DeferredTargets`: how many decisions the deadline deferred in this invocation (no
/// dimension: it is about the invocation, not one function).
pub fn deferred_point(deferred: usize) -> MetricPoint {
    MetricPoint {
        function: None,
        metric: "DeferredTargets",
        value: deferred as f64,
    }
}

/// "orders: 5 -> 15, billing: unreserved -> 8": what the decisions wanted, for an error
/// that must say what was decided although reporting failed.
pub fn summary(decisions: &[DecisionRecord]) -> String {
    decisions
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
        .join(", ")
}

/// Fills in an SQS batch's outcome: a record fails with any of the targets it named (or
/// when its own signal failed), and a record whose target was deferred fails too, so that
/// SQS delivers it again. A command that a later one in the batch replaced fails only for
/// its own errors: delivered again, it could land after the later one and win.
pub fn sqs_records(
    outcome: &mut Outcome,
    targets: &[PlannedTarget],
    records: Vec<RecordPlan>,
    target_errors: &[Option<HandlerError>],
    deferred: &[bool],
) {
    let mut failures = Vec::new();
    for record in records {
        let mut errors = record.errors;
        // A replaced command's target now carries the later command's fate.
        let own_targets = if record.superseded_by.is_some() {
            &[][..]
        } else {
            record.targets.as_slice()
        };
        for &i in own_targets {
            let function = targets[i].target.function.name().to_owned();
            if let Some(error) = &target_errors[i] {
                errors.push(error.clone());
            } else if deferred[i] {
                errors.push(HandlerError::Deferred { function });
            }
        }
        let functions = record
            .targets
            .iter()
            .map(|&i| targets[i].target.function.name().to_owned())
            .collect();
        let succeeded = errors.is_empty();
        if let Some(error) = HandlerError::combine(errors) {
            tracing::warn!(message_id = %record.message_id, error_type = error.error_type(), %error, "SQS record failed");
            outcome.record_errors.push(RecordError {
                message_id: record.message_id.clone(),
                error_type: error.error_type().to_owned(),
                error: error.to_string(),
            });
            failures.push(BatchItemFailure {
                item_identifier: record.message_id.clone(),
            });
        }
        outcome.records.push(RecordReport {
            message_id: record.message_id,
            functions,
            succeeded,
            superseded_by: record.superseded_by,
        });
    }
    outcome.batch_item_failures = Some(failures);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(previous: Option<u32>, desired: Option<u32>, applied: bool) -> DecisionRecord {
        DecisionRecord {
            function: "f".into(),
            trigger: "t".into(),
            previous,
            desired,
            applied,
            deferred: false,
            reasons: vec![],
            event_sources: vec![],
            schedules: vec![],
            headroom_clamp: None,
        }
    }

    fn values(r: &DecisionRecord) -> Vec<(&'static str, f64)> {
        r.metric_points()
            .iter()
            .map(|p| (p.metric, p.value))
            .collect()
    }

    #[test]
    fn an_applied_change_reports_the_new_reservation_and_one_action() {
        let r = record(Some(5), Some(15), true);
        assert_eq!(
            values(&r),
            [
                ("DesiredConcurrency", 15.0),
                ("ReservedConcurrency", 15.0),
                ("ScalingActions", 1.0)
            ]
        );
    }

    #[test]
    fn an_unapplied_change_reports_the_old_reservation_and_no_action() {
        let r = record(Some(5), Some(15), false);
        assert_eq!(
            values(&r),
            [
                ("DesiredConcurrency", 15.0),
                ("ReservedConcurrency", 5.0),
                ("ScalingActions", 0.0)
            ]
        );
        assert_eq!(
            values(&record(None, None, false)),
            [("ScalingActions", 0.0)]
        );
    }

    #[test]
    fn the_outcome_serializes_in_lambda_partial_batch_shape() {
        let outcome = Outcome {
            decisions: vec![record(None, Some(3), true)],
            dry_run: false,
            deferred: 0,
            batch_item_failures: Some(vec![BatchItemFailure {
                item_identifier: "m-1".into(),
            }]),
            record_errors: vec![],
            records: vec![],
            watch: None,
        };
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], "m-1");
        assert_eq!(json["decisions"][0]["previous"], serde_json::Value::Null);
        assert_eq!(json["decisions"][0]["desired"], 3);
        assert!(json.get("recordErrors").is_none());
    }
}
