//! Alarm states and published metrics.

use super::{lock, Parts};
use crate::alarm::AlarmState;
use crate::ports::{
    AlarmReader, AwsError, Clock, MetricPoint, MetricReader, MetricsPublisher, ServiceQuery,
};
use crate::service_time::Point;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

pub struct MemoryCloudWatch {
    parts: Parts,
    alarms: Mutex<HashMap<String, AlarmState>>,
    /// States that take effect later, on the world's clock: (from, alarm, state).
    later: Mutex<Vec<(std::time::Duration, String, AlarmState)>>,
    published: Mutex<Vec<(String, MetricPoint)>>,
    /// How long one `PutMetricData` takes, per point (on the world's clock).
    publish_time_per_point: Mutex<std::time::Duration>,
    /// Stored one-minute service-time points by query.
    service: Mutex<HashMap<ServiceQuery, Vec<Point>>>,
}

impl MemoryCloudWatch {
    pub(super) fn new(parts: Parts) -> MemoryCloudWatch {
        MemoryCloudWatch {
            parts,
            alarms: Mutex::default(),
            later: Mutex::default(),
            published: Mutex::default(),
            publish_time_per_point: Mutex::default(),
            service: Mutex::default(),
        }
    }

    /// Stores the one-minute points `GetMetricData` returns for the function and queue.
    pub fn set_service_points(&self, function: &str, queue: &str, points: Vec<Point>) {
        let query = ServiceQuery {
            function: function.to_owned(),
            queue: queue.to_owned(),
        };
        lock(&self.service).insert(query, points);
    }

    /// Creates the alarm or changes its state.
    pub fn set_alarm(&self, name: &str, state: AlarmState) {
        lock(&self.alarms).insert(name.to_owned(), state);
    }

    /// Changes the alarm's state once the world's clock reaches `from` (its monotonic
    /// time), for an alarm that fires while an invocation runs.
    pub fn set_alarm_from(&self, name: &str, from: std::time::Duration, state: AlarmState) {
        lock(&self.later).push((from, name.to_owned(), state));
    }

    /// Makes every `PutMetricData` take this long per point.
    pub fn set_publish_time_per_point(&self, time: std::time::Duration) {
        *lock(&self.publish_time_per_point) = time;
    }

    /// Every point published so far, with its namespace.
    pub fn published(&self) -> Vec<(String, MetricPoint)> {
        lock(&self.published).clone()
    }
}

#[async_trait]
impl AlarmReader for MemoryCloudWatch {
    async fn states(&self, names: &[String]) -> Result<HashMap<String, AlarmState>, AwsError> {
        self.parts.call("DescribeAlarms", &names.join(", "))?;
        let now = self.parts.clock.elapsed();
        let mut alarms = lock(&self.alarms);
        lock(&self.later).retain(|(from, name, state)| {
            if *from > now {
                return true;
            }
            alarms.insert(name.clone(), *state);
            false
        });
        Ok(names
            .iter()
            .filter_map(|n| alarms.get(n).map(|s| (n.clone(), *s)))
            .collect())
    }
}

#[async_trait]
impl MetricsPublisher for MemoryCloudWatch {
    async fn publish(&self, namespace: &str, points: &[MetricPoint]) -> Result<(), AwsError> {
        self.parts.call("PutMetricData", namespace)?;
        let per_point = *lock(&self.publish_time_per_point);
        self.parts
            .clock
            .sleep(per_point * u32::try_from(points.len()).unwrap_or(u32::MAX))
            .await;
        lock(&self.published).extend(points.iter().map(|p| (namespace.to_owned(), p.clone())));
        Ok(())
    }
}

#[async_trait]
impl MetricReader for MemoryCloudWatch {
    async fn service_points(
        &self,
        queries: &[ServiceQuery],
        start: i64,
        end: i64,
    ) -> Result<Vec<Vec<Point>>, AwsError> {
        let functions: Vec<&str> = queries.iter().map(|q| q.function.as_str()).collect();
        self.parts.call("GetMetricData", &functions.join(", "))?;
        let stored = lock(&self.service);
        Ok(queries
            .iter()
            .map(|q| {
                stored.get(q).map_or_else(Vec::new, |points| {
                    points
                        .iter()
                        // As CloudWatch: the periods that start in [start, end).
                        .filter(|p| {
                            let starts = p.end - crate::service_time::PERIOD_SECONDS;
                            starts >= start && starts < end
                        })
                        .copied()
                        .collect()
                })
            })
            .collect())
    }
}
