//! `autoscaler simulate`: replays a load trace through the same decision core as the Lambda
//! function, and through baseline algorithms, on a simple model of an SQS-fed Lambda
//! consumer; docs/simulation.md describes the model, the traces, the algorithms and the
//! metrics.
//!
//! The core is pure: [`trace`] and [`shapes`] give the arrivals, [`model`] is the queue and
//! its consumer, [`algorithms`] the scalers, [`engine`] runs one scaler through a trace,
//! [`steps`] finds the trace's steps up and [`metrics`] sums the run up. [`command`] is the
//! CLI's glue around them, with [`output`] (table, JSON), [`chart`] (SVG) and [`progress`].
//! Only the CLI reaches this module, so the Lambda binary does not link it.

pub mod alarms;
pub mod algorithms;
pub mod chart;
pub mod cloudwatch;
pub mod command;
pub mod engine;
pub mod metrics;
pub mod model;
pub mod output;
pub mod progress;
pub mod random;
pub mod shapes;
pub mod steps;
pub mod trace;

pub use command::{run, Args, SimulateError};
