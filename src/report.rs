//! What an invocation returns, logs and publishes.

use crate::ports::MetricPoint;
use serde::Serialize;

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
    pub reasons: Vec<String>,
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

    /// `DesiredConcurrency`, `ReservedConcurrency` and `ScalingActions` for this decision
    /// (the first two only when there is a value to report).
    pub fn metric_points(&self) -> Vec<MetricPoint> {
        let point = |metric, value: f64| MetricPoint {
            function: self.function.clone(),
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
            dry_run,
            reasons = %self.reasons.join("; "),
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

/// The value one invocation returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub decisions: Vec<DecisionRecord>,
    pub dry_run: bool,
    /// Present for SQS invocations only (Lambda's partial batch response).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_item_failures: Option<Vec<BatchItemFailure>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub record_errors: Vec<RecordError>,
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
            reasons: vec![],
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
            batch_item_failures: Some(vec![BatchItemFailure {
                item_identifier: "m-1".into(),
            }]),
            record_errors: vec![],
        };
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], "m-1");
        assert_eq!(json["decisions"][0]["previous"], serde_json::Value::Null);
        assert_eq!(json["decisions"][0]["desired"], 3);
        assert!(json.get("recordErrors").is_none());
    }
}
