//! `autoscaler simulate`: reads the options, runs every algorithm through the trace and
//! writes the results (the table is returned for stdout; warnings and progress go to stderr).

use super::alarms::AlarmThresholds;
use super::algorithms::{self, DEFAULT_ALGORITHMS};
use super::chart::{self, Series};
use super::engine::{self, Run, Timing};
use super::metrics::measure;
use super::output::{self, Outcome};
use super::progress::Progress;
use super::steps;
use super::trace;
use crate::policy::{Policy, PolicyError, QueueGoal, QueueSpec, Target, WaitGoal};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Replay a load trace through the policy and through baseline algorithms, on a model of an
/// SQS-fed Lambda consumer (docs/simulation.md), and compare them.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The policy file.
    #[arg(long)]
    pub policy: PathBuf,
    /// A CSV file with the header `second,arrivals`, or a built-in shape: step, spike,
    /// diurnal, sawtooth, bursty.
    #[arg(long)]
    pub trace: String,
    /// The target to simulate (a function name); default: the first that follows a queue.
    #[arg(long)]
    pub target: Option<String>,
    /// Comma-separated: policy, hpa, step, static:N, static:max, oracle. `NAME@SECONDS`
    /// evaluates policy, hpa or step every SECONDS instead of every --interval (policy@10).
    #[arg(long, default_value = DEFAULT_ALGORITHMS)]
    pub algorithms: String,
    /// Seconds one execution takes to process one message.
    #[arg(long, default_value_t = 1.0)]
    pub service_seconds: f64,
    /// The baselines' own target T, messages per instance (the HPA's `AverageValue`, step
    /// scaling's steps), fixed so that a change of the policy's knobs moves the policy alone.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub baseline_messages_per_instance: u32,
    /// Seconds between evaluations (the schedule's rate), for algorithms without @SECONDS.
    #[arg(long, default_value_t = 60)]
    pub interval: u64,
    /// How many seconds late each evaluation sees the queue.
    #[arg(long, default_value_t = 0)]
    pub observe_lag: u64,
    /// An alarm of the target, in ALARM while more than THRESHOLD messages are visible.
    #[arg(long = "alarm", value_name = "NAME=THRESHOLD")]
    pub alarms: Vec<String>,
    /// The seed of a built-in trace's randomness.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// When the trace's second 0 is, for the policy's schedules: RFC 3339 with an offset
    /// (2026-12-01T00:00:00+01:00) or epoch seconds. Default 2026-01-01T00:00:00Z.
    #[arg(long, value_name = "TIME", value_parser = crate::cron::parse_instant)]
    pub start: Option<i64>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also draw arrivals, concurrency and backlog over time as an SVG chart to this file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// An option or an input file is wrong; the message names it.
    #[error("{0}")]
    Input(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

fn input(message: String) -> SimulateError {
    SimulateError::Input(message)
}

/// Runs the command; returns the table for stdout.
pub fn run(args: &Args) -> Result<String, SimulateError> {
    if !(args.service_seconds.is_finite() && args.service_seconds > 0.0) {
        return Err(input(format!(
            "--service-seconds {}: must be a number of seconds above 0",
            args.service_seconds
        )));
    }
    if args.interval == 0 {
        return Err(input("--interval 0: must be at least 1 second".into()));
    }
    let policy = Policy::from_file(&args.policy)?;
    let (target, queue) = pick_target(&policy, &args.policy, args.target.as_deref())?;
    let alarms = AlarmThresholds::parse(&args.alarms, target).map_err(input)?;
    let list = algorithms::parse_list(&args.algorithms, target.max)
        .map_err(|e| input(format!("--algorithms {}: {e}", args.algorithms)))?;
    let trace = trace::load(&args.trace, args.seed).map_err(input)?;
    for warning in &alarms.warnings {
        say(&format!("warning: {warning}"));
    }
    if let QueueGoal::Wait(WaitGoal {
        batch_size: None, ..
    }) = queue.goal
    {
        say(
            "note: the consumer is simulated taking one message per execution (BatchSize 1); \
             deployed behind an SQS event source mapping, the drain-time proposal uses the \
             mapping's BatchSize, which shortens the time to drain (docs/simulation.md, \
             \"Batch size\"): give the queue's \"batch_size\" to see what it then holds",
        );
    }
    let start = args.start.unwrap_or(algorithms::policy::DEFAULT_START);
    if !target.schedules.is_empty() && args.start.is_none() {
        say(
            "note: the target's schedules are evaluated from 2026-01-01T00:00:00Z (a Thursday); \
             --start sets when the trace begins",
        );
    }

    let started = Instant::now();
    let seconds = trace.arrivals.len();
    let mut progress = Progress::new(seconds * list.len(), started);
    let steady = engine::steady_reservation(&trace.arrivals, args.service_seconds);
    // The baselines follow the same queue with their own, fixed target.
    let baseline_queue = QueueSpec {
        goal: QueueGoal::PerInstance(args.baseline_messages_per_instance),
        ..queue.clone()
    };
    let mut runs: Vec<(String, Run)> = Vec::with_capacity(list.len());
    for (index, named) in list.iter().enumerate() {
        let mut scaler = algorithms::scaler(
            named.algorithm,
            target,
            &baseline_queue,
            &alarms.thresholds,
            start,
        );
        let run = engine::run(
            &trace.arrivals,
            scaler.as_mut(),
            algorithms::start(named.algorithm, target, steady),
            args.service_seconds,
            Timing {
                interval: named.interval.unwrap_or(args.interval),
                observe_lag: args.observe_lag,
            },
            engine::MetricsClock {
                seed: args.seed,
                epoch_start: start,
            },
            &mut |done| {
                if let Some(line) =
                    progress.update(index * seconds + done, Instant::now(), &named.name)
                {
                    say(&line);
                }
            },
        );
        runs.push((named.name.clone(), run));
    }
    let steps_up = steps::steps_up(&trace.arrivals, args.service_seconds, target.max);
    let outcomes: Vec<Outcome> = runs
        .iter()
        .map(|(name, run)| Outcome {
            name: name.clone(),
            metrics: measure(run, &steps_up),
        })
        .collect();

    let mut setting = format!(
        "target {}, service {} s per message, evaluation every {} s{}, observed {} s late",
        target.function.name(),
        args.service_seconds,
        args.interval,
        own_cadences(&list, args.interval),
        args.observe_lag
    );
    if let Some(start) = args.start {
        // Only a given start is shown, so that the output without one stays as it was.
        let zone = target
            .schedules
            .first()
            .map_or_else(crate::cron::Zone::utc, |w| w.timezone.clone());
        let at = zone
            .wall(crate::cron::instant(start))
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string();
        setting.push_str(&format!(", from {at}"));
    }
    if let Some(path) = &args.json {
        let json = output::json(&outcomes, &steps_up);
        write(path, &format!("{json:#}\n"))?;
    }
    if let Some(path) = &args.svg {
        let series: Vec<Series> = runs
            .iter()
            .map(|(name, run)| Series { name, run })
            .collect();
        let title = [format!("trace {}", trace.description), setting.clone()];
        let svg = chart::svg(&title, &trace.arrivals, &series).map_err(|e| {
            input(format!(
                "--svg {}: cannot draw the chart: {e}",
                path.display()
            ))
        })?;
        write(path, &svg)?;
    }
    let heading = format!("trace {}\n{setting}", trace.description);
    Ok(output::table(&heading, &outcomes))
}

/// ` (policy@10 every 10 s, hpa@15 every 15 s)`: the algorithms whose `@SECONDS` differs
/// from `--interval`, for the setting line; empty when none does, so that a run without `@`
/// reads as it did before cadences existed.
fn own_cadences(list: &[algorithms::Named], interval: u64) -> String {
    let own: Vec<String> = list
        .iter()
        .filter_map(|n| {
            n.interval
                .filter(|&i| i != interval)
                .map(|i| format!("{} every {i} s", n.name))
        })
        .collect();
    if own.is_empty() {
        String::new()
    } else {
        format!(" ({})", own.join(", "))
    }
}

/// The target named by `--target`, else the first target following a queue.
fn pick_target<'a>(
    policy: &'a Policy,
    path: &Path,
    name: Option<&str>,
) -> Result<(&'a Target, &'a QueueSpec), SimulateError> {
    let with_queue: Vec<&str> = policy
        .targets
        .iter()
        .filter(|t| t.queue.is_some())
        .map(|t| t.function.name())
        .collect();
    let listed = |names: &[&str]| match names {
        [] => "none".to_owned(),
        names => names.join(", "),
    };
    let target = match name {
        Some(name) => policy.target_for_function(name).ok_or_else(|| {
            let all: Vec<&str> = policy.targets.iter().map(|t| t.function.name()).collect();
            input(format!(
                "--target {name}: policy {} has no such target (targets: {})",
                path.display(),
                listed(&all)
            ))
        })?,
        None => policy
            .targets
            .iter()
            .find(|t| t.queue.is_some())
            .ok_or_else(|| {
                input(format!(
                    "policy {}: no target follows a queue; the simulator models a queue \
                     consumer, so it needs a target with \"queue\"",
                    path.display()
                ))
            })?,
    };
    match &target.queue {
        Some(queue) => Ok((target, queue)),
        None => Err(input(format!(
            "--target {}: the target does not follow a queue; the simulator models a queue \
             consumer (targets following one: {})",
            target.function.name(),
            listed(&with_queue)
        ))),
    }
}

fn write(path: &Path, text: &str) -> Result<(), SimulateError> {
    std::fs::write(path, text).map_err(|source| SimulateError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// A line on stderr; nothing better to do if stderr is gone.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_names_only_the_cadences_that_differ_from_the_interval() {
        let list = algorithms::parse_list("policy@10,hpa@15,step@60,step,oracle", 100).unwrap();
        assert_eq!(
            own_cadences(&list, 60),
            " (policy@10 every 10 s, hpa@15 every 15 s)"
        );
        let plain = algorithms::parse_list("policy,hpa,step@60,oracle", 100).unwrap();
        assert_eq!(own_cadences(&plain, 60), "");
    }
}
