//! Alarm states and metric publishing through CloudWatch.

use super::aws_error;
use crate::alarm::AlarmState;
use crate::ports::{
    AlarmReader, AwsError, MetricPoint, MetricReader, MetricsPublisher, ServiceQuery,
    SERVICE_QUERIES_PER_CALL,
};
use crate::service_time::{Point, PERIOD_SECONDS};
use async_trait::async_trait;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, ScanBy, StandardUnit,
    StateValue, StatusCode,
};
use std::collections::{BTreeMap, HashMap};

/// `DescribeAlarms` accepts at most 100 names per call.
const MAX_ALARM_NAMES_PER_CALL: usize = 100;
/// `PutMetricData` accepts at most 1000 data points per call.
const MAX_METRICS_PER_CALL: usize = 1000;

pub struct CloudWatch {
    client: aws_sdk_cloudwatch::Client,
}

impl CloudWatch {
    pub fn new(client: aws_sdk_cloudwatch::Client) -> Self {
        CloudWatch { client }
    }
}

/// The alarm's state; `Err` with the state's name when this SDK version does not know it.
fn alarm_state(value: Option<&StateValue>) -> Result<Option<AlarmState>, String> {
    Ok(match value {
        None => None,
        Some(StateValue::Alarm) => Some(AlarmState::Alarm),
        Some(StateValue::Ok) => Some(AlarmState::Ok),
        Some(StateValue::InsufficientData) => Some(AlarmState::InsufficientData),
        Some(other) => return Err(other.as_str().to_owned()),
    })
}

#[async_trait]
impl AlarmReader for CloudWatch {
    async fn states(&self, names: &[String]) -> Result<HashMap<String, AlarmState>, AwsError> {
        let mut states = HashMap::new();
        for chunk in names.chunks(MAX_ALARM_NAMES_PER_CALL) {
            let resource = chunk.join(", ");
            let mut token = None;
            loop {
                let output = self
                    .client
                    .describe_alarms()
                    .set_alarm_names(Some(chunk.to_vec()))
                    // Without AlarmTypes, DescribeAlarms returns metric alarms only.
                    .alarm_types(AlarmType::MetricAlarm)
                    .alarm_types(AlarmType::CompositeAlarm)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| aws_error("DescribeAlarms", resource.clone(), e))?;
                let metric = output
                    .metric_alarms()
                    .iter()
                    .map(|a| (a.alarm_name(), a.state_value()));
                let composite = output
                    .composite_alarms()
                    .iter()
                    .map(|a| (a.alarm_name(), a.state_value()));
                for (name, value) in metric.chain(composite) {
                    let Some(name) = name else { continue };
                    match alarm_state(value) {
                        Ok(Some(state)) => {
                            states.insert(name.to_owned(), state);
                        }
                        Ok(None) => {}
                        // Left out, the alarm would read as "no opinion" and its cap as
                        // lifted: unreadable instead, so its targets hold on missing data.
                        Err(unknown) => {
                            return Err(AwsError {
                                operation: "DescribeAlarms",
                                resource: name.to_owned(),
                                code: None,
                                message: format!(
                                    "state {unknown} is unknown to this build: the alarm is \
                                     unreadable"
                                ),
                            })
                        }
                    }
                }
                token = output.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(states)
    }
}

#[async_trait]
impl MetricsPublisher for CloudWatch {
    async fn publish(&self, namespace: &str, points: &[MetricPoint]) -> Result<(), AwsError> {
        for chunk in points.chunks(MAX_METRICS_PER_CALL) {
            let data = chunk
                .iter()
                .map(|p| {
                    let dimension = p.function.as_ref().map(|function| {
                        Dimension::builder()
                            .name("FunctionName")
                            .value(function)
                            .build()
                    });
                    MetricDatum::builder()
                        .metric_name(p.metric)
                        .set_dimensions(dimension.map(|d| vec![d]))
                        .value(p.value)
                        .unit(StandardUnit::Count)
                        .build()
                })
                .collect();
            self.client
                .put_metric_data()
                .namespace(namespace)
                .set_metric_data(Some(data))
                .send()
                .await
                .map_err(|e| aws_error("PutMetricData", namespace, e))?;
        }
        Ok(())
    }
}

/// One metric of a service query: its id prefix, namespace, name, dimension and statistic.
const SERVICE_METRICS: [(&str, &str, &str, &str, &str); 3] = [
    ("d", "AWS/Lambda", "Duration", "FunctionName", "Sum"),
    ("c", "AWS/Lambda", "Duration", "FunctionName", "SampleCount"),
    (
        "m",
        "AWS/SQS",
        "NumberOfMessagesDeleted",
        "QueueName",
        "Sum",
    ),
];

fn service_query(index: usize, query: &ServiceQuery, metric: usize) -> MetricDataQuery {
    let (prefix, namespace, name, dimension, stat) = SERVICE_METRICS[metric];
    let value = if dimension == "QueueName" {
        &query.queue
    } else {
        &query.function
    };
    MetricDataQuery::builder()
        // Ids start with a lower-case letter and are unique within the call.
        .id(format!("{prefix}{index}"))
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(namespace)
                        .metric_name(name)
                        .dimensions(Dimension::builder().name(dimension).value(value).build())
                        .build(),
                )
                .period(PERIOD_SECONDS as i32)
                .stat(stat)
                .build(),
        )
        .return_data(true)
        .build()
}

#[async_trait]
impl MetricReader for CloudWatch {
    async fn service_points(
        &self,
        queries: &[ServiceQuery],
        start: i64,
        end: i64,
    ) -> Result<Vec<Vec<Point>>, AwsError> {
        let resource = queries
            .iter()
            .map(|q| q.function.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if queries.len() > SERVICE_QUERIES_PER_CALL {
            return Err(AwsError {
                operation: "GetMetricData",
                resource,
                code: None,
                message: format!(
                    "{} queries asked in one call; at most {SERVICE_QUERIES_PER_CALL}",
                    queries.len()
                ),
            });
        }
        let data: Vec<MetricDataQuery> = queries
            .iter()
            .enumerate()
            .flat_map(|(i, q)| (0..SERVICE_METRICS.len()).map(move |m| service_query(i, q, m)))
            .collect();
        // Values by id, then by the period's start.
        let mut values: HashMap<String, BTreeMap<i64, f64>> = HashMap::new();
        let mut token = None;
        loop {
            let output = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(data.clone()))
                .start_time(DateTime::from_secs(start))
                .end_time(DateTime::from_secs(end))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| aws_error("GetMetricData", resource.clone(), e))?;
            token = output.next_token().map(str::to_owned);
            for result in output.metric_data_results() {
                // A query that failed (or whose data stays partial on the last page) is not
                // a period without traffic: the read fails, and the last measurement serves.
                let status = result.status_code();
                let complete = match status {
                    None | Some(StatusCode::Complete) => true,
                    Some(StatusCode::PartialData) => token.is_some(),
                    Some(_) => false,
                };
                if !complete {
                    return Err(AwsError {
                        operation: "GetMetricData",
                        resource,
                        code: status.map(|s| s.as_str().to_owned()),
                        message: format!(
                            "query {} answered {}{}",
                            result.id().unwrap_or("?"),
                            status.map_or("no status", |s| s.as_str()),
                            result
                                .messages()
                                .iter()
                                .filter_map(|m| m.value())
                                .map(|m| format!(": {m}"))
                                .collect::<String>()
                        ),
                    });
                }
                let Some(id) = result.id() else { continue };
                let series = values.entry(id.to_owned()).or_default();
                for (at, value) in result.timestamps().iter().zip(result.values()) {
                    series.insert(at.secs(), *value);
                }
            }
            if token.is_none() {
                break;
            }
        }
        let empty = BTreeMap::new();
        let series = |prefix: &str, i: usize| values.get(&format!("{prefix}{i}")).unwrap_or(&empty);
        Ok((0..queries.len())
            .map(|i| {
                let (duration, count, deleted) = (series("d", i), series("c", i), series("m", i));
                duration
                    .iter()
                    .filter_map(|(at, milliseconds)| {
                        Some(Point {
                            end: at + PERIOD_SECONDS,
                            duration_seconds: milliseconds / 1000.0,
                            invocations: count.get(at).copied(),
                            messages: *deleted.get(at)?,
                        })
                    })
                    .collect()
            })
            .collect())
    }
}
