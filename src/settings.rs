//! Run-time settings other than the policy, read from the environment. Every one has a
//! default, and a bad value stops the cold start with the variable named.

use std::fmt;
use std::time::Duration;

/// `true` makes every invocation compute and report but never write to Lambda.
pub const DRY_RUN_ENV: &str = "AUTOSCALER_DRY_RUN";
/// The CloudWatch namespace for the autoscaler's metrics.
pub const NAMESPACE_ENV: &str = "AUTOSCALER_METRIC_NAMESPACE";
pub const DEFAULT_NAMESPACE: &str = "LambdaAutoscaler";
/// The DynamoDB table holding each target's history; unset: decide without history.
pub const STATE_TABLE_ENV: &str = "AUTOSCALER_STATE_TABLE";
/// Lambda control-plane calls per second the autoscaler allows itself.
pub const CONTROL_PLANE_RPS_ENV: &str = "AUTOSCALER_CONTROL_PLANE_RPS";
/// `GetFunction` calls per second the autoscaler allows itself.
pub const GET_FUNCTION_RPS_ENV: &str = "AUTOSCALER_GET_FUNCTION_RPS";
/// How many reads may be in flight at once.
pub const READ_CONCURRENCY_ENV: &str = "AUTOSCALER_READ_CONCURRENCY";
/// Time kept free before the invocation's deadline to report and return.
pub const DEADLINE_MARGIN_ENV: &str = "AUTOSCALER_DEADLINE_MARGIN_SECONDS";
/// The part of `AUTOSCALER_CONTROL_PLANE_RPS` this function uses, when two functions of one
/// stack share that budget (the template's watcher and the function that takes events).
pub const CONTROL_PLANE_SHARE_ENV: &str = "AUTOSCALER_CONTROL_PLANE_SHARE";
/// Watch mode: a scheduled reconciliation keeps reading its queues and alarms this often
/// ([`crate::watch`]); unset or 0: off.
pub const WATCH_SECONDS_ENV: &str = "AUTOSCALER_WATCH_SECONDS";
/// How long after its start a watching invocation may still begin a tick.
pub const WATCH_FOR_SECONDS_ENV: &str = "AUTOSCALER_WATCH_FOR_SECONDS";

/// Lambda's control-plane quota: requests per second per Region, shared by the account.
pub const CONTROL_PLANE_QUOTA: f64 = 15.0;
/// Lambda's `GetFunction` quota: requests per second per Region.
pub const GET_FUNCTION_QUOTA: f64 = 100.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub dry_run: bool,
    pub namespace: String,
    pub state_table: Option<String>,
    /// A third of the shared quota by default: deployments keep the rest.
    pub control_plane_rps: f64,
    /// Half of `GetFunction`'s own quota by default.
    pub get_function_rps: f64,
    pub read_concurrency: usize,
    pub deadline_margin: Duration,
    /// `None`: a scheduled reconciliation reconciles once and returns.
    pub watch: Option<Watch>,
}

/// Watch mode's cadence and its end ([`crate::watch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    /// Time between two ticks (the first one comes this long after the invocation starts).
    pub every: Duration,
    /// No tick starts later than this after the invocation started: it must end before the
    /// next scheduled run does.
    pub for_at_most: Duration,
}

impl Watch {
    /// Below this a tick would mostly read the same approximate queue counts again (SQS
    /// updates them within seconds, CloudWatch evaluates alarms every 10 s at best), and the
    /// account's `DescribeAlarms` quota (9 per second) would be spent faster.
    pub const SHORTEST: Duration = Duration::from_secs(5);
    pub const LONGEST: Duration = Duration::from_secs(300);
    /// A one-minute schedule (the template's) less 10 s: the next run's first pass takes the
    /// place of the tick that would come next, and it finds the function free even when it
    /// starts up to about 10 s late (docs/deploy.md, "Watch mode").
    pub const DEFAULT_FOR_AT_MOST: Duration = Duration::from_secs(50);
    /// A watching invocation cannot outlast Lambda's longest timeout.
    pub const LONGEST_FOR: Duration = Duration::from_secs(900);
}

impl Settings {
    pub const DEFAULT_CONTROL_PLANE_RPS: f64 = 5.0;
    pub const DEFAULT_GET_FUNCTION_RPS: f64 = 50.0;
    /// From the account-scale benchmark (docs/benchmarks.md): at 25 ms per call, 1000
    /// targets are read in 40 s with 1 read in flight, 26 s with 2, 24 s with 4 and 23.5 s
    /// with 8; 8 keeps the GetFunction budget the limit up to 160 ms per call.
    pub const DEFAULT_READ_CONCURRENCY: usize = 8;
    pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_secs(2);
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dry_run: false,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            state_table: None,
            control_plane_rps: Self::DEFAULT_CONTROL_PLANE_RPS,
            get_function_rps: Self::DEFAULT_GET_FUNCTION_RPS,
            read_concurrency: Self::DEFAULT_READ_CONCURRENCY,
            deadline_margin: Self::DEFAULT_DEADLINE_MARGIN,
            watch: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting {variable}: {message}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub message: String,
}

impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "dry_run={} namespace={} state_table={} control_plane_rps={} get_function_rps={} \
             read_concurrency={} deadline_margin={}s watch={}",
            self.dry_run,
            self.namespace,
            self.state_table.as_deref().unwrap_or("(none)"),
            self.control_plane_rps,
            self.get_function_rps,
            self.read_concurrency,
            self.deadline_margin.as_secs_f64(),
            match &self.watch {
                None => "off".to_owned(),
                Some(w) => format!(
                    "every {}s for {}s",
                    w.every.as_secs_f64(),
                    w.for_at_most.as_secs_f64()
                ),
            }
        )
    }
}

impl Settings {
    pub fn from_env() -> Result<Settings, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// `from_env` with the environment passed in.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let value = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let d = Settings::default();
        let dry_run = match value(DRY_RUN_ENV) {
            None => d.dry_run,
            Some(text) => parse_bool(&text).ok_or_else(|| SettingsError {
                variable: DRY_RUN_ENV,
                message: format!("\"{text}\" is not a boolean (use true or false)"),
            })?,
        };
        let namespace = match value(NAMESPACE_ENV) {
            None => d.namespace,
            Some(ns) => check_namespace(ns)?,
        };
        let rate = |variable: &'static str, default: f64, quota: f64| match value(variable) {
            None => Ok(default),
            Some(text) => number_in(variable, &text, MIN_RATE, quota).map_err(|mut e| {
                e.message.push_str(&format!(
                    " (Lambda's quota is {quota} per second per Region, shared by the account)"
                ));
                e
            }),
        };
        let read_concurrency = match value(READ_CONCURRENCY_ENV) {
            None => d.read_concurrency,
            Some(text) => number_in(READ_CONCURRENCY_ENV, &text, 1.0, 256.0)
                .and_then(|n| whole(READ_CONCURRENCY_ENV, n))?,
        };
        let deadline_margin = match value(DEADLINE_MARGIN_ENV) {
            None => d.deadline_margin,
            Some(text) => {
                Duration::from_secs_f64(number_in(DEADLINE_MARGIN_ENV, &text, 0.0, 60.0)?)
            }
        };
        // Two functions of one stack (the watcher and the one that takes events) split the
        // stack's budget, so that together they never take more than it.
        let control_plane_share = match value(CONTROL_PLANE_SHARE_ENV) {
            None => 1.0,
            Some(text) => number_in(CONTROL_PLANE_SHARE_ENV, &text, MIN_RATE, 1.0)?,
        };
        let control_plane_rps = rate(
            CONTROL_PLANE_RPS_ENV,
            d.control_plane_rps,
            CONTROL_PLANE_QUOTA,
        )?;
        if control_plane_rps * control_plane_share < MIN_RATE {
            return Err(SettingsError {
                variable: CONTROL_PLANE_SHARE_ENV,
                message: format!(
                    "{control_plane_share} of {CONTROL_PLANE_RPS_ENV}'s {control_plane_rps} is \
                     {} calls a second, below the least of {MIN_RATE}",
                    control_plane_rps * control_plane_share
                ),
            });
        }
        let mut settings = Settings {
            dry_run,
            namespace,
            state_table: value(STATE_TABLE_ENV).map(|t| t.trim().to_owned()),
            control_plane_rps: control_plane_rps * control_plane_share,
            get_function_rps: rate(GET_FUNCTION_RPS_ENV, d.get_function_rps, GET_FUNCTION_QUOTA)?,
            read_concurrency,
            deadline_margin,
            watch: None,
        };
        if let Some(watch) = watch(&value)? {
            settings.set_watch(watch)?;
        }
        Ok(settings)
    }

    /// Turns watch mode on. It needs the state table: a tick decides from the reservation it
    /// last read and writes only after a compare-and-set of the history, which is what
    /// catches the other function's (or a CLI run's) changes meanwhile.
    pub fn set_watch(&mut self, watch: Watch) -> Result<(), SettingsError> {
        if self.state_table.is_none() {
            return Err(SettingsError {
                variable: WATCH_SECONDS_ENV,
                message: "watch mode needs AUTOSCALER_STATE_TABLE: its ticks decide from the \
                    reservation they last read, and only the state table's compare-and-set \
                    finds out that another writer changed the target meanwhile"
                    .into(),
            });
        }
        self.watch = Some(watch);
        Ok(())
    }
}

impl Settings {
    /// Watch mode every `seconds` (the CLI's `--watch-seconds`), checked as
    /// `AUTOSCALER_WATCH_SECONDS` is, with the environment's `AUTOSCALER_WATCH_FOR_SECONDS`.
    pub fn watch_every(seconds: f64) -> Result<Watch, SettingsError> {
        let lookup = |name: &str| match name {
            WATCH_SECONDS_ENV => Some(seconds.to_string()),
            _ => std::env::var(name).ok().filter(|v| !v.trim().is_empty()),
        };
        watch(&lookup)?.ok_or_else(|| SettingsError {
            variable: WATCH_SECONDS_ENV,
            message: "a watch needs a tick interval above 0".into(),
        })
    }
}

/// `AUTOSCALER_WATCH_SECONDS` (unset or 0: off) and `AUTOSCALER_WATCH_FOR_SECONDS`.
fn watch(value: &dyn Fn(&str) -> Option<String>) -> Result<Option<Watch>, SettingsError> {
    let every = match value(WATCH_SECONDS_ENV) {
        None => return Ok(None),
        Some(text) if text.trim().parse::<f64>() == Ok(0.0) => return Ok(None),
        Some(text) => number_in(
            WATCH_SECONDS_ENV,
            &text,
            Watch::SHORTEST.as_secs_f64(),
            Watch::LONGEST.as_secs_f64(),
        )
        .map_err(|mut e| {
            e.message.push_str(" (0 or unset: no watch)");
            e
        })?,
    };
    let for_at_most = match value(WATCH_FOR_SECONDS_ENV) {
        None => Watch::DEFAULT_FOR_AT_MOST.as_secs_f64(),
        Some(text) => number_in(
            WATCH_FOR_SECONDS_ENV,
            &text,
            f64::MIN_POSITIVE,
            Watch::LONGEST_FOR.as_secs_f64(),
        )?,
    };
    if for_at_most < every {
        return Err(SettingsError {
            variable: WATCH_FOR_SECONDS_ENV,
            message: format!(
                "{for_at_most} s is shorter than {WATCH_SECONDS_ENV} ({every} s): no tick would \
                 ever run"
            ),
        });
    }
    Ok(Some(Watch {
        every: Duration::from_secs_f64(every),
        for_at_most: Duration::from_secs_f64(for_at_most),
    }))
}

/// The smallest rate (calls per second) and share taken: a call every 100 s. Below it a
/// pacer's window would outgrow any invocation (and, far below, a `Duration`).
const MIN_RATE: f64 = 0.01;

/// A number in `min..=max`, or an error that names the variable and the range.
fn number_in(variable: &'static str, text: &str, min: f64, max: f64) -> Result<f64, SettingsError> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && (min..=max).contains(&n) => Ok(n),
        _ => Err(SettingsError {
            variable,
            message: format!(
                "\"{text}\" is not a number from {} to {max}",
                if min == f64::MIN_POSITIVE {
                    "above 0".to_owned()
                } else {
                    min.to_string()
                }
            ),
        }),
    }
}

fn whole(variable: &'static str, n: f64) -> Result<usize, SettingsError> {
    if n.fract() != 0.0 {
        return Err(SettingsError {
            variable,
            message: format!("{n} is not a whole number"),
        });
    }
    Ok(n as usize)
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" | "" => Some(false),
        _ => None,
    }
}

/// CloudWatch namespaces: 1 to 255 characters of letters, digits, `. - _ / # :` and space,
/// and `AWS/` is reserved for AWS services.
fn check_namespace(namespace: String) -> Result<String, SettingsError> {
    let fail = |message: String| SettingsError {
        variable: NAMESPACE_ENV,
        message,
    };
    if namespace.len() > 255 {
        return Err(fail("longer than CloudWatch's 255 characters".into()));
    }
    if let Some(c) = namespace
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ".-_/#: ".contains(*c)))
    {
        return Err(fail(format!(
            "\"{namespace}\" has {c:?}: CloudWatch takes letters, digits, . - _ / # : and space"
        )));
    }
    if namespace.starts_with(':') {
        return Err(fail(format!(
            "\"{namespace}\" starts with ':', which CloudWatch refuses"
        )));
    }
    if namespace.starts_with("AWS/") {
        return Err(fail(format!(
            "\"{namespace}\" is reserved: AWS/ namespaces belong to AWS services"
        )));
    }
    Ok(namespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_write_for_real_to_the_lambda_autoscaler_namespace() {
        assert_eq!(settings(&[]).unwrap(), Settings::default());
    }

    #[test]
    fn budgets_concurrency_margin_and_table_are_read_within_their_ranges() {
        let s = settings(&[
            (STATE_TABLE_ENV, "autoscaler-state"),
            (CONTROL_PLANE_RPS_ENV, "2.5"),
            (GET_FUNCTION_RPS_ENV, "80"),
            (READ_CONCURRENCY_ENV, "16"),
            (DEADLINE_MARGIN_ENV, "5"),
        ])
        .unwrap();
        assert_eq!(s.state_table.as_deref(), Some("autoscaler-state"));
        assert_eq!(s.control_plane_rps, 2.5);
        assert_eq!(s.get_function_rps, 80.0);
        assert_eq!(s.read_concurrency, 16);
        assert_eq!(s.deadline_margin, Duration::from_secs(5));
        for (variable, text, expected) in [
            (
                CONTROL_PLANE_RPS_ENV,
                "20",
                "from 0.01 to 15 (Lambda's quota is 15",
            ),
            (CONTROL_PLANE_RPS_ENV, "0", "from 0.01 to 15"),
            (CONTROL_PLANE_RPS_ENV, "1e-20", "from 0.01 to 15"),
            (CONTROL_PLANE_RPS_ENV, "fast", "\"fast\" is not a number"),
            (GET_FUNCTION_RPS_ENV, "101", "from 0.01 to 100"),
            (READ_CONCURRENCY_ENV, "0", "from 1 to 256"),
            (READ_CONCURRENCY_ENV, "2.5", "2.5 is not a whole number"),
            (DEADLINE_MARGIN_ENV, "-1", "from 0 to 60"),
        ] {
            let err = settings(&[(variable, text)]).unwrap_err();
            assert_eq!(err.variable, variable);
            assert!(err.message.contains(expected), "{variable}={text}: {err}");
        }
        assert_eq!(
            settings(&[(STATE_TABLE_ENV, " ")]).unwrap().state_table,
            None
        );
    }

    #[test]
    fn watch_mode_is_off_unless_a_tick_interval_is_set_and_its_bounds_are_checked() {
        assert_eq!(settings(&[]).unwrap().watch, None);
        assert_eq!(settings(&[(WATCH_SECONDS_ENV, "0")]).unwrap().watch, None);
        const TABLE: (&str, &str) = (STATE_TABLE_ENV, "autoscaler-state");
        let on = settings(&[(WATCH_SECONDS_ENV, "10"), TABLE])
            .unwrap()
            .watch
            .unwrap();
        assert_eq!(on.every, Duration::from_secs(10));
        assert_eq!(on.for_at_most, Watch::DEFAULT_FOR_AT_MOST);
        let longer = settings(&[
            (WATCH_SECONDS_ENV, "7.5"),
            (WATCH_FOR_SECONDS_ENV, "110"),
            TABLE,
        ])
        .unwrap()
        .watch
        .unwrap();
        assert_eq!(longer.every, Duration::from_millis(7500));
        assert_eq!(longer.for_at_most, Duration::from_secs(110));
        for (pairs, variable, expected) in [
            (
                vec![(WATCH_SECONDS_ENV, "2")],
                WATCH_SECONDS_ENV,
                "from 5 to 300",
            ),
            (
                vec![(WATCH_SECONDS_ENV, "often")],
                WATCH_SECONDS_ENV,
                "0 or unset: no watch",
            ),
            (
                vec![(WATCH_SECONDS_ENV, "20"), (WATCH_FOR_SECONDS_ENV, "15")],
                WATCH_FOR_SECONDS_ENV,
                "no tick would ever run",
            ),
            (
                vec![(WATCH_SECONDS_ENV, "20"), (WATCH_FOR_SECONDS_ENV, "1000")],
                WATCH_FOR_SECONDS_ENV,
                "to 900",
            ),
            (
                vec![(WATCH_SECONDS_ENV, "10")],
                WATCH_SECONDS_ENV,
                "watch mode needs AUTOSCALER_STATE_TABLE",
            ),
        ] {
            let err = settings(&pairs).unwrap_err();
            assert_eq!(err.variable, variable, "{pairs:?}");
            assert!(err.message.contains(expected), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn a_control_plane_share_takes_that_part_of_the_stacks_budget() {
        let s = settings(&[
            (CONTROL_PLANE_RPS_ENV, "5"),
            (CONTROL_PLANE_SHARE_ENV, "0.6"),
        ]);
        assert!((s.unwrap().control_plane_rps - 3.0).abs() < 1e-9);
        let s = settings(&[(CONTROL_PLANE_SHARE_ENV, "0.4")]).unwrap();
        assert!((s.control_plane_rps - 2.0).abs() < 1e-9);
        for text in ["0", "1.5", "half"] {
            let err = settings(&[(CONTROL_PLANE_SHARE_ENV, text)]).unwrap_err();
            assert_eq!(err.variable, CONTROL_PLANE_SHARE_ENV, "{text}");
        }
    }

    #[test]
    fn dry_run_and_namespace_are_read_and_checked() {
        let s = settings(&[(DRY_RUN_ENV, "TRUE"), (NAMESPACE_ENV, "Team/Scaling")]).unwrap();
        assert!(s.dry_run);
        assert_eq!(s.namespace, "Team/Scaling");
        assert!(settings(&[(DRY_RUN_ENV, "maybe")])
            .unwrap_err()
            .to_string()
            .contains("\"maybe\" is not a boolean"));
        assert!(settings(&[(NAMESPACE_ENV, "my\"app")])
            .unwrap_err()
            .message
            .contains("CloudWatch takes letters"));
        assert!(settings(&[(NAMESPACE_ENV, "AWS/Lambda")])
            .unwrap_err()
            .to_string()
            .contains("reserved"));
        // CloudWatch's pattern is [^:].*: every PutMetricData would fail.
        assert!(settings(&[(NAMESPACE_ENV, ":orders")])
            .unwrap_err()
            .message
            .contains("starts with ':'"));
    }

    #[test]
    fn a_share_of_a_rate_below_the_least_rate_is_refused() {
        let e = settings(&[
            (CONTROL_PLANE_RPS_ENV, "0.01"),
            (CONTROL_PLANE_SHARE_ENV, "0.01"),
        ])
        .unwrap_err();
        assert_eq!(e.variable, CONTROL_PLANE_SHARE_ENV);
        assert!(
            e.message.contains("below the least of 0.01"),
            "{}",
            e.message
        );
        let s = settings(&[
            (CONTROL_PLANE_RPS_ENV, "0.02"),
            (CONTROL_PLANE_SHARE_ENV, "0.5"),
        ])
        .unwrap();
        assert_eq!(s.control_plane_rps, 0.01);
    }
}
