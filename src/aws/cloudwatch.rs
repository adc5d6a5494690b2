//! Alarm states and metric publishing through CloudWatch.

use super::aws_error;
use crate::alarm::AlarmState;
use crate::ports::{AlarmReader, AwsError, MetricPoint, MetricsPublisher};
use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{AlarmType, Dimension, MetricDatum, StandardUnit, StateValue};
use std::collections::HashMap;

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

fn alarm_state(value: Option<&StateValue>) -> Option<AlarmState> {
    match value? {
        StateValue::Alarm => Some(AlarmState::Alarm),
        StateValue::Ok => Some(AlarmState::Ok),
        StateValue::InsufficientData => Some(AlarmState::InsufficientData),
        // A state this SDK version does not know: treat the alarm as unreadable.
        _ => None,
    }
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
                    if let (Some(name), Some(state)) = (name, alarm_state(value)) {
                        states.insert(name.to_owned(), state);
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
