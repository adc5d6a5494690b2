//! lambda-autoscaler: scales Lambda functions' reserved concurrency from CloudWatch alarms.
//!
//! The work flows one way: [`trigger`] (event JSON -> what to look at), observe (through the
//! traits in [`ports`]), [`decide`] (pure), apply and [`report`]; [`handler`] orchestrates one
//! invocation, and the binaries are thin entry points around it.

pub mod alarm;
pub mod aws;
pub mod count;
pub mod decide;
pub mod error;
pub mod function_ref;
pub mod handler;
pub mod policy;
pub mod ports;
pub mod report;
pub mod settings;
pub mod simulate;
pub mod state;
pub mod tags;
pub mod trigger;
