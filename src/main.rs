//! The Lambda entry point: settings, policy and clients, then the runtime.

use lambda_autoscaler::{aws::emf, policy::Policy, settings::Settings, wiring};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

// One event at a time: a second worker thread would only cost memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // JSON logs when AWS_LAMBDA_LOG_FORMAT=JSON; level from AWS_LAMBDA_LOG_LEVEL.
    lambda_runtime::tracing::init_default_subscriber();
    // Bad settings stop the cold start: nothing can run safely without them.
    let settings = Settings::from_env()?;
    // A bad policy does not stop the cold start: every invocation reports it instead.
    let policy = Policy::from_env();
    if let Err(error) = &policy {
        tracing::error!(%error, "the policy is invalid; every invocation will fail until it is fixed");
    }
    // The metrics are EMF lines without a `level`, which Lambda's log-level filter counts as
    // INFO.
    let log_level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    if emf::dropped_by_log_level(log_level.as_deref()) {
        // At ERROR, so that it passes the filter it is about (WARN or ERROR; FATAL drops it).
        tracing::error!(
            log_level = log_level.as_deref().unwrap_or_default(),
            "the function's ApplicationLogLevel is above INFO: Lambda drops the metrics (EMF \
             lines, which it counts as INFO) and the dashboard stays empty; set it to INFO"
        );
    }
    // From the environment Lambda sets, without I/O: no provider chain to wait for.
    let config = wiring::lambda_sdk_config(|name| std::env::var(name).ok())?;
    let metrics = wiring::emf(Box::new(std::io::stdout()));
    let autoscaler = wiring::autoscaler(&config, policy, settings, metrics);
    let autoscaler = &autoscaler;
    // The payload as text: the handler's own parse refuses what Value would hide (a key
    // given twice) with the event's error, not the runtime's.
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move {
            autoscaler.learn_account(&event.context.invoked_function_arn);
            let deadline =
                remaining(event.context.deadline).map(|left| autoscaler.deadline_after(left));
            let handled = autoscaler
                .handle_text(event.payload.get().as_bytes(), deadline)
                .await;
            // The runtime reports a failed invocation to Lambda without logging it.
            if let Err(error) = &handled {
                tracing::error!(%error, error_type = error.error_type(), "the invocation failed");
            }
            handled
        },
    ))
    .await
}

/// Time left until `deadline_ms` (epoch milliseconds, as the runtime API gives it). `None`
/// when it cannot be an epoch time: some local emulators (cargo-lambda 1.9) send the
/// timeout itself (600000), which read as a date is in 1970 and would defer every target.
fn remaining(deadline_ms: u64) -> Option<Duration> {
    const NOT_AN_EPOCH_TIME: Duration = Duration::from_secs(24 * 3600);
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let now = SystemTime::now();
    match deadline.duration_since(now) {
        Ok(left) => Some(left),
        Err(late) if late.duration() < NOT_AN_EPOCH_TIME => Some(Duration::ZERO),
        Err(_) => {
            tracing::warn!(
                deadline_ms,
                "the runtime's deadline is not an epoch time; running without a deadline"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_ms(at: SystemTime) -> u64 {
        at.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
    }

    #[test]
    fn a_deadline_ahead_leaves_the_time_until_it() {
        let left = remaining(epoch_ms(SystemTime::now() + Duration::from_secs(60))).unwrap();
        assert!(
            left > Duration::from_secs(55) && left <= Duration::from_secs(60),
            "{left:?}"
        );
    }

    #[test]
    fn a_deadline_just_past_leaves_nothing() {
        let past = epoch_ms(SystemTime::now() - Duration::from_secs(5));
        assert_eq!(remaining(past), Some(Duration::ZERO));
    }

    #[test]
    fn a_timeout_sent_as_the_deadline_means_no_deadline() {
        // cargo-lambda 1.9's `watch` sends the function's timeout, not a date.
        assert_eq!(remaining(600_000), None);
    }
}
