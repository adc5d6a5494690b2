//! lambda-autoscaler: scales Lambda functions' reserved concurrency from CloudWatch alarms,
//! queue depth and schedules.
//!
//! One invocation flows one way: [`trigger`] (event JSON -> signals), [`plan`] (signals ->
//! the targets to look at), [`observe`] (reads), [`decide`] (pure), [`apply`] (paced writes
//! within the deadline) and [`report`]; [`handler`] composes them, and with [`watch`] mode
//! a scheduled reconciliation goes on ticking through them until shortly before the next. The ports in [`ports`]
//! have AWS adapters in [`aws`] and in-memory ones in [`memory`]; [`wiring`] builds the
//! real ones once, and the binaries are thin entry points.

pub mod alarm;
pub mod apply;
pub mod arn;
pub mod aws;
pub mod clock;
pub mod context;
pub mod count;
pub mod cron;
pub mod deadline;
pub mod decide;
pub mod drain;
pub mod drain_stability;
pub mod error;
pub mod event_sources;
pub mod explain;
pub mod function_ref;
pub mod handler;
pub mod headroom;
pub mod lease;
pub mod mapping_cache;
pub mod memory;
pub mod observe;
pub mod outcome;
pub mod pace;
pub mod pending;
pub mod plan;
pub mod policy;
pub mod ports;
pub mod queue_signals;
pub mod queue_urls;
pub mod report;
pub mod schedule;
pub mod service_time;
pub mod settings;
pub mod simulate;
pub mod state;
pub mod status;
pub mod trigger;
pub mod watch;
pub mod wiring;
