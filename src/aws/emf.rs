//! Metrics as CloudWatch's Embedded Metric Format (EMF): JSON log lines that CloudWatch Logs
//! turns into metrics on its own, with no API call, no IAM permission and no failure of the
//! invocation's own. The Lambda binary's metrics go this way ([`crate::wiring::emf`]).
//!
//! One document per function (its points share the `FunctionName` dimension), and one without
//! a dimension for the invocation-wide points (`DeferredTargets`): the namespace, metric
//! names, dimension and unit of [`super::cloudwatch`]'s `PutMetricData`, so the dashboard's
//! searches find the same metrics. Each document is one line, a JSON object with nothing
//! before or after it, written with a single write so that no log line can land inside it.
//!
//! Written here with serde_json rather than with a crate: `metrics_cloudwatch_embedded` is a
//! recorder for the `metrics` facade (global registrations, gauges flushed again and again),
//! not a writer of the points an invocation already has; `metrique-writer-format-emf` is a
//! framework for wide events that brings eight more crates into a zip with little room left
//! (docs/benchmarks.md); `cloudwatch_emf_helper` has had one release.

use crate::ports::{AwsError, Clock, MetricPoint, MetricsPublisher};
use async_trait::async_trait;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// EMF's limit of metric definitions per document.
pub const MAX_METRICS_PER_DOCUMENT: usize = 100;
/// EMF's limit of values per metric (an array of values) in one document.
pub const MAX_VALUES_PER_METRIC: usize = 100;
/// The dimension of per-function points, as `PutMetricData` names it.
pub const DIMENSION: &str = "FunctionName";
/// Every metric of the autoscaler counts something (`PutMetricData` sends `Count` too).
const UNIT: &str = "Count";

/// A [`MetricsPublisher`] that writes EMF documents to `out`, one line each: stdout in
/// Lambda, where Lambda sends every line to CloudWatch Logs.
pub struct Emf {
    out: Mutex<Box<dyn Write + Send>>,
    clock: Arc<dyn Clock>,
}

impl Emf {
    pub fn new(out: Box<dyn Write + Send>, clock: Arc<dyn Clock>) -> Emf {
        Emf {
            out: Mutex::new(out),
            clock,
        }
    }
}

#[async_trait]
impl MetricsPublisher for Emf {
    /// Never fails: a line that cannot be written is logged and lost. The decisions are made
    /// by then, and a failed invocation would be retried for nothing.
    async fn publish(&self, namespace: &str, points: &[MetricPoint]) -> Result<(), AwsError> {
        let timestamp = self.clock.epoch_millis();
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        for document in documents(namespace, points, timestamp) {
            let mut line = document.to_string().into_bytes();
            line.push(b'\n');
            if let Err(error) = out.write_all(&line).and_then(|()| out.flush()) {
                tracing::warn!(%error, "an EMF metrics line could not be written; its metrics are lost");
            }
        }
        Ok(())
    }
}

/// The EMF documents of `points`: one per function in the order the functions first appear
/// (more only past EMF's limits), then one without dimensions for the points that have none.
/// A metric given twice for the same function carries its values as an array.
pub fn documents(namespace: &str, points: &[MetricPoint], timestamp_ms: i64) -> Vec<Value> {
    let mut groups: Vec<(Option<&str>, Vec<&MetricPoint>)> = Vec::new();
    for point in points {
        let function = point.function.as_deref();
        match groups.iter_mut().find(|(f, _)| *f == function) {
            Some((_, group)) => group.push(point),
            None => groups.push((function, vec![point])),
        }
    }
    // The invocation-wide document last, as PutMetricData's batch had it.
    groups.sort_by_key(|(function, _)| function.is_none());
    let mut documents = Vec::new();
    for (function, group) in groups {
        let mut metrics: Vec<(&'static str, Vec<f64>)> = Vec::new();
        for point in group {
            let full = match metrics.iter().position(|(name, _)| *name == point.metric) {
                Some(i) => metrics[i].1.len() >= MAX_VALUES_PER_METRIC,
                None => metrics.len() >= MAX_METRICS_PER_DOCUMENT,
            };
            if full {
                documents.push(document(namespace, function, &metrics, timestamp_ms));
                metrics.clear();
            }
            match metrics.iter_mut().find(|(name, _)| *name == point.metric) {
                Some((_, values)) => values.push(point.value),
                None => metrics.push((point.metric, vec![point.value])),
            }
        }
        if !metrics.is_empty() {
            documents.push(document(namespace, function, &metrics, timestamp_ms));
        }
    }
    documents
}

fn document(
    namespace: &str,
    function: Option<&str>,
    metrics: &[(&'static str, Vec<f64>)],
    timestamp_ms: i64,
) -> Value {
    let dimensions: Vec<&str> = function.map(|_| DIMENSION).into_iter().collect();
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, _)| json!({"Name": name, "Unit": UNIT}))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimensions],
                "Metrics": definitions,
            }],
        }),
    );
    if let Some(function) = function {
        root.insert(DIMENSION.into(), function.into());
    }
    for (name, values) in metrics {
        let value = match values.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
        root.insert((*name).into(), value);
    }
    Value::Object(root)
}

/// True when Lambda's log-level filter (`AWS_LAMBDA_LOG_LEVEL`, the function's
/// `ApplicationLogLevel`) drops INFO lines. Lambda counts a JSON line without a `level` field
/// as INFO, so every EMF document would be dropped with them and the dashboard stay empty.
pub fn dropped_by_log_level(level: Option<&str>) -> bool {
    let level = level.unwrap_or_default().trim().to_ascii_uppercase();
    matches!(level.as_str(), "WARN" | "ERROR" | "FATAL")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(function: Option<&str>, metric: &'static str, value: f64) -> MetricPoint {
        MetricPoint {
            function: function.map(str::to_owned),
            metric,
            value,
        }
    }

    fn names(document: &Value) -> Vec<&str> {
        document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn one_document_per_function_and_one_without_dimensions_last() {
        let points = [
            point(None, "DeferredTargets", 0.0),
            point(Some("orders"), "DesiredConcurrency", 15.0),
            point(Some("billing"), "DesiredConcurrency", 8.0),
            point(Some("orders"), "ScalingActions", 1.0),
        ];
        let docs = documents("NS", &points, 1_700_000_000_000);
        let functions: Vec<_> = docs.iter().map(|d| d.get(DIMENSION)).collect();
        assert_eq!(
            functions,
            [Some(&json!("orders")), Some(&json!("billing")), None]
        );
        assert_eq!(names(&docs[0]), ["DesiredConcurrency", "ScalingActions"]);
        assert_eq!(
            docs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName"]])
        );
        assert_eq!(
            docs[2]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        assert_eq!(docs[2]["DeferredTargets"], json!(0.0));
        assert_eq!(docs[0]["_aws"]["Timestamp"], json!(1_700_000_000_000_i64));
    }

    #[test]
    fn a_metric_given_twice_for_a_function_carries_both_values() {
        let points = [
            point(Some("orders"), "ScalingActions", 1.0),
            point(Some("orders"), "ScalingActions", 0.0),
        ];
        let docs = documents("NS", &points, 0);
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["ScalingActions"], json!([1.0, 0.0]));
        assert_eq!(names(&docs[0]), ["ScalingActions"]);
    }

    #[test]
    fn past_emf_limits_a_function_gets_more_documents_each_within_them() {
        // 150 distinct metrics, then 250 values of one metric.
        let mut points: Vec<MetricPoint> = (0..150)
            .map(|i| {
                let name: &'static str = Box::leak(format!("M{i}").into_boxed_str());
                point(Some("orders"), name, 1.0)
            })
            .collect();
        points.extend((0..250).map(|i| point(Some("billing"), "ScalingActions", f64::from(i))));
        let docs = documents("NS", &points, 0);
        let metrics: Vec<usize> = docs.iter().map(|d| names(d).len()).collect();
        assert_eq!(metrics, [100, 50, 1, 1, 1]);
        let values: Vec<usize> = docs[2..]
            .iter()
            .map(|d| d["ScalingActions"].as_array().unwrap().len())
            .collect();
        assert_eq!(values, [100, 100, 50]);
        // Nothing lost, nothing repeated.
        let all: Vec<f64> = docs[2..]
            .iter()
            .flat_map(|d| d["ScalingActions"].as_array().unwrap().clone())
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(all, (0..250).map(f64::from).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn each_document_is_written_as_one_line() {
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<Vec<u8>>>>);
        impl Write for Lines {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().push(buf.to_vec());
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let writes = Lines::default();
        let clock = Arc::new(crate::memory::ManualClock::new(1_700_000_000));
        let emf = Emf::new(Box::new(writes.clone()), clock);
        let points = [
            point(Some("orders"), "DesiredConcurrency", 15.0),
            point(None, "DeferredTargets", 0.0),
        ];
        emf.publish("NS", &points).await.unwrap();
        let writes = writes.0.lock().unwrap().clone();
        assert_eq!(writes.len(), 2, "one write per document");
        for write in &writes {
            let text = std::str::from_utf8(write).unwrap();
            assert!(text.starts_with('{') && text.ends_with("}\n"), "{text:?}");
            assert_eq!(text.matches('\n').count(), 1, "{text:?}");
            let doc: Value = serde_json::from_str(text).unwrap();
            assert_eq!(doc["_aws"]["Timestamp"], json!(1_700_000_000_000_i64));
        }
    }

    #[test]
    fn only_levels_above_info_drop_the_documents() {
        for level in ["WARN", "warn", "ERROR", "FATAL", " Error "] {
            assert!(dropped_by_log_level(Some(level)), "{level}");
        }
        for level in [None, Some(""), Some("INFO"), Some("DEBUG"), Some("TRACE")] {
            assert!(!dropped_by_log_level(level), "{level:?}");
        }
    }
}
