//! The one struct that carries every port to the steps of an invocation (kube-rs's
//! `Context`). Apart from [`crate::ports`], so that the ports do not depend on the pacer
//! that wraps one of them.

use crate::pace::PacedLambda;
use crate::ports::{
    AlarmReader, Clock, FunctionFinder, MetricReader, MetricsPublisher, QueueReader, StateStore,
};
use std::sync::Arc;

/// Everything an invocation talks to. The Lambda port is held only as a
/// [`PacedLambda`], so no caller can skip the account's budget.
#[derive(Clone)]
pub struct Context {
    pub lambda: Arc<PacedLambda>,
    pub alarms: Arc<dyn AlarmReader>,
    /// The service times of drain-time targets.
    pub metric_reader: Arc<dyn MetricReader>,
    pub queues: Arc<dyn QueueReader>,
    pub finder: Arc<dyn FunctionFinder>,
    pub metrics: Arc<dyn MetricsPublisher>,
    /// `None` when no state table is configured: decisions are made without history.
    pub state: Option<Arc<dyn StateStore>>,
    pub clock: Arc<dyn Clock>,
    /// The Region the autoscaler works in (from the SDK configuration).
    pub region: Option<String>,
}
