//! The command-line entry point: runs one invocation through the same handler as Lambda.

use clap::{Parser, Subcommand};
use lambda_autoscaler::policy::{Action, EventSources, Policy, QueueGoal};
use lambda_autoscaler::{error::HandlerError, event_sources, settings::Settings, trigger, wiring};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "autoscaler",
    version,
    about = "Scale Lambda reserved concurrency from CloudWatch alarms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one invocation with EVENT (a file, or - for stdin) against the AWS endpoint the
    /// environment configures (AWS_ENDPOINT_URL, AWS_REGION, credentials) and print the
    /// decision record as JSON.
    Invoke {
        event: PathBuf,
        /// Policy file; overrides AUTOSCALER_POLICY and AUTOSCALER_POLICY_FILE.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Compute and report, but write nothing to Lambda (also AUTOSCALER_DRY_RUN=true).
        #[arg(long)]
        dry_run: bool,
        /// Stop starting writes this many seconds from now, as a Lambda invocation stops at
        /// its deadline; what is left is reported as deferred. No deadline by default.
        #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
        deadline_seconds: Option<f64>,
        /// Watch mode, as the deployed watcher runs it: after the scheduled event's
        /// reconciliation, read the followed queues and alarms again every SECONDS (5 to 300)
        /// and act on what changed, until the deadline (with its margin), or
        /// AUTOSCALER_WATCH_FOR_SECONDS (default 50) after the start, whichever comes first.
        /// Needs --deadline-seconds and a scheduled event (events/scheduled.json).
        #[arg(
            long,
            value_name = "SECONDS",
            value_parser = parse_watch_seconds,
            requires = "deadline_seconds"
        )]
        watch_seconds: Option<f64>,
        /// Where the decision metrics go: CloudWatch's PutMetricData (api), Embedded Metric
        /// Format lines on stderr beside the logs (emf; the Lambda function writes them to
        /// stdout), or nowhere (off).
        #[arg(long, value_enum, env = "AUTOSCALER_METRICS", default_value_t = MetricsTo::Api)]
        metrics: MetricsTo,
    },
    /// Check a policy document (a file, or the environment's) and print its targets, with
    /// the next occurrences of their schedules.
    Validate {
        #[arg(long)]
        policy: Option<PathBuf>,
        /// List the schedules' occurrences from this time: epoch seconds, or RFC 3339 with an
        /// offset (2026-12-01T08:30:00+01:00). Default: now.
        #[arg(long, value_name = "TIME", value_parser = lambda_autoscaler::cron::parse_instant)]
        now: Option<i64>,
    },
    /// Replay a load trace through the policy and baseline algorithms (docs/simulation.md).
    Simulate(lambda_autoscaler::simulate::Args),
    /// Print the decision record an event would produce, computed without AWS: the world
    /// (reservations, alarms, queues, saved state) is given on the command line.
    Explain(lambda_autoscaler::explain::Args),
    /// Show every managed target now (as `kubectl get hpa`): bounds, reservation, the
    /// recommendation in force and since when, the last change, cooldowns left, alarm
    /// states, queue depth and event source mappings. Reads only, paced as an evaluation.
    Status {
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Only this function (a name or an ARN).
        #[arg(long)]
        function: Option<String>,
        /// Print `{"targets": [...]}` instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a target's recent changes, newest first (as `describe-scaling-activities`):
    /// time, trigger, previous and desired values, reasons and outcome. Reads only.
    Activities {
        function: String,
        #[arg(long)]
        policy: Option<PathBuf>,
        /// At most this many, at least 1 (the state table keeps the last 20).
        #[arg(long, default_value_t = 20, value_parser = parse_limit)]
        limit: usize,
        /// Print `{"function", "activities": [...]}` instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `--metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum MetricsTo {
    Api,
    Emf,
    Off,
}

impl MetricsTo {
    fn publisher(
        self,
        config: &aws_config::SdkConfig,
    ) -> std::sync::Arc<dyn lambda_autoscaler::ports::MetricsPublisher> {
        match self {
            MetricsTo::Api => wiring::put_metric_data(config),
            // stderr: stdout carries the decision record only.
            MetricsTo::Emf => wiring::emf(Box::new(std::io::stderr())),
            MetricsTo::Off => wiring::no_metrics(),
        }
    }
}

fn load_policy(path: Option<&Path>) -> Result<Policy, HandlerError> {
    Ok(match path {
        Some(path) => Policy::from_file(path)?,
        None => Policy::from_env()?,
    })
}

fn read_event(path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let result = if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes).map(|_| ()))
    };
    result.map_err(|e| format!("cannot read event {}: {e}", path.display()))?;
    Ok(bytes)
}

/// A positive, finite number of seconds.
fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(s),
        _ => Err(format!(
            "\"{text}\" is not a number of seconds above 0 and up to 86400"
        )),
    }
}

/// `--watch-seconds`: a tick interval in the range `AUTOSCALER_WATCH_SECONDS` allows (a usage
/// error otherwise, as any malformed flag; 0, which turns the variable off, asks for nothing
/// here).
fn parse_watch_seconds(text: &str) -> Result<f64, String> {
    let (shortest, longest) = (
        lambda_autoscaler::settings::Watch::SHORTEST.as_secs_f64(),
        lambda_autoscaler::settings::Watch::LONGEST.as_secs_f64(),
    );
    match text.trim().parse::<f64>() {
        Ok(s) if (shortest..=longest).contains(&s) => Ok(s),
        _ => Err(format!(
            "\"{text}\" is not a tick interval of {shortest} to {longest} seconds"
        )),
    }
}

/// What an alarm's `set` or `cap` outside `[min, max]` really does (the bounds always win),
/// for `validate` to say: such a value is most likely a mistake.
fn out_of_bounds(action: Action, min: u32, max: u32) -> Option<String> {
    match action {
        Action::Set(n) if n > max => Some(format!("set {n} is above max {max}: it sets {max}")),
        Action::Set(n) if n < min => Some(format!("set {n} is below min {min}: it sets {min}")),
        Action::Cap(n) if n >= max => Some(format!(
            "cap {n} is not below max {max}: it never lowers anything"
        )),
        Action::Cap(n) if n < min => Some(format!(
            "cap {n} is below min {min}: it holds {min} (allow_zero and min 0 let a cap reach 0)"
        )),
        _ => None,
    }
}

/// The bounds while `window` alone is active: its own in place of the document's (a `set`
/// is both), a min above the max giving way, as `schedule::bounds` has it.
fn window_bounds(
    target: &lambda_autoscaler::policy::Target,
    window: &lambda_autoscaler::policy::schedule::Window,
) -> (u32, u32) {
    let w = window.bounds;
    if let Some(set) = w.set {
        return (set, set);
    }
    let max = w.max.unwrap_or(target.max);
    (w.min.unwrap_or(target.min).min(max), max)
}

/// `activities --limit`: a count of at least 1 (0 would ask for nothing and print "no
/// activities recorded").
fn parse_limit(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("\"{text}\" is not a count of at least 1")),
    }
}

/// `autoscaler invoke`'s options.
struct InvokeArgs<'a> {
    event: &'a Path,
    policy: Option<&'a Path>,
    dry_run: bool,
    deadline_seconds: Option<f64>,
    watch_seconds: Option<f64>,
    metrics: MetricsTo,
}

async fn invoke(args: InvokeArgs<'_>) -> Result<(), String> {
    let InvokeArgs {
        event,
        policy,
        dry_run,
        deadline_seconds,
        watch_seconds,
        metrics,
    } = args;
    let mut settings = Settings::from_env().map_err(|e| e.to_string())?;
    settings.dry_run |= dry_run;
    let policy = load_policy(policy).map_err(|e| e.to_string())?;
    let bytes = read_event(event)?;
    let trigger = trigger::parse_event_bytes(&bytes)
        .map_err(|e| format!("invalid event {}: {e}", event.display()))?;
    if let Some(seconds) = watch_seconds {
        // The deployed function ignores the setting for other events; a person asking for a
        // watch of one is told.
        if !lambda_autoscaler::watch::is_scheduled(&trigger) {
            return Err(format!(
                "--watch-seconds: only a scheduled reconciliation watches, and {} is not a \
                 scheduled event (see events/scheduled.json)",
                event.display()
            ));
        }
        let as_flag = |e: lambda_autoscaler::settings::SettingsError| match e.variable {
            lambda_autoscaler::settings::WATCH_SECONDS_ENV => {
                format!("--watch-seconds: {}", e.message)
            }
            _ => e.to_string(),
        };
        let watch = Settings::watch_every(seconds).map_err(as_flag)?;
        settings.set_watch(watch).map_err(as_flag)?;
    }
    if let Some(seconds) = deadline_seconds {
        let margin = settings.deadline_margin.as_secs_f64();
        if seconds <= margin {
            // Every write would be deferred, and the run would still exit 0.
            return Err(format!(
                "--deadline-seconds {seconds}: not above the deadline's margin of {margin} s \
                 ({}), so nothing could be written",
                lambda_autoscaler::settings::DEADLINE_MARGIN_ENV
            ));
        }
    }
    let config = wiring::sdk_config().await;
    let metrics = metrics.publisher(&config);
    let autoscaler = wiring::autoscaler(&config, Ok(policy), settings, metrics);
    let deadline = deadline_seconds
        .map(|seconds| autoscaler.deadline_after(std::time::Duration::from_secs_f64(seconds)));
    let described = |e: HandlerError| {
        let reporting = match &e {
            HandlerError::Reporting { .. } => true,
            HandlerError::Several(all) => all
                .iter()
                .any(|e| matches!(e, HandlerError::Reporting { .. })),
            _ => false,
        };
        let hint = if reporting {
            "\n(--metrics api publishes with cloudwatch:PutMetricData, which the deployed \
             role does not grant; --metrics emf or --metrics off need no permission)"
        } else {
            ""
        };
        format!("{}: {e}{hint}", e.error_type())
    };
    // What was decided is printed even when a target failed: the other targets may have
    // been changed. A failure that decided nothing (an unmanaged function) prints nothing.
    let (outcome, failed) = autoscaler
        .handle_reporting(trigger, deadline)
        .await
        .map_err(described)?;
    if failed.is_none() || !outcome.decisions.is_empty() {
        let json = serde_json::to_string_pretty(&outcome).map_err(|e| e.to_string())?;
        write_stdout(&format!("{json}\n"))?;
    }
    if let Some(error) = failed {
        return Err(described(error));
    }
    failed_records(&outcome)
}

/// The SQS records that failed, as an error (exit status 1), if any did.
fn failed_records(outcome: &lambda_autoscaler::report::Outcome) -> Result<(), String> {
    match outcome.record_errors.as_slice() {
        [] => Ok(()),
        failed => Err(failed
            .iter()
            .map(|f| {
                format!(
                    "record {} failed: {}: {}",
                    f.message_id, f.error_type, f.error
                )
            })
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

/// How many occurrences of each window `validate` lists.
const NEXT_WINDOWS: usize = 3;

/// How far ahead `validate` looks for occurrences to warn of: a year, and at most this many
/// occurrences.
const WARN_HORIZON_SECONDS: i64 = 366 * 86_400;
const WARN_OCCURRENCES: usize = 2_000;

/// An occurrence open for less than this can be missed by a late run of the one-minute
/// schedule (one in time, then one late by up to a minute).
const SHORT_WINDOW_SECONDS: i64 = 120;

/// A target's windows and their next occurrences, each in its own time zone.
fn write_schedules(out: &mut String, target: &lambda_autoscaler::policy::Target, now: i64) {
    use lambda_autoscaler::policy::tags::{schedule_tag, MAX_TAG_VALUE_LEN};
    use lambda_autoscaler::schedule::{describe, upcoming};
    let now = lambda_autoscaler::cron::instant(now);
    for window in &target.schedules {
        let _ = writeln!(
            out,
            "  schedule {}: {}: {}",
            window.name,
            describe(window),
            window.bounds
        );
        let zone = &window.timezone;
        let show = |t| zone.wall(t).strftime("%a %Y-%m-%d %H:%M %Z").to_string();
        // The occurrences listed, and those warned of: the year ahead, not only the ones
        // listed (a window can be short or long only on the night the clocks change).
        match upcoming(window, now, WARN_OCCURRENCES) {
            Ok(all) if all.is_empty() => {
                let _ = writeln!(out, "    no occurrence after now: it is over");
            }
            Ok(all) => {
                for o in all.iter().take(NEXT_WINDOWS) {
                    let early = if o.opens < o.starts {
                        format!(" (starts {})", zone.wall(o.starts).strftime("%H:%M"))
                    } else {
                        String::new()
                    };
                    let active = if o.opens <= now { ", active now" } else { "" };
                    let _ = writeln!(
                        out,
                        "    {} to {}{early}{active}",
                        show(o.opens),
                        show(o.ends)
                    );
                }
                let horizon = now.as_second() + WARN_HORIZON_SECONDS;
                let within = (all.iter())
                    .take_while(|o| o.opens.as_second() <= horizon)
                    .count();
                let scanned = &all[..within];
                // The schedule runs once a minute: a stretch open for less than two of its
                // spacings can fall between a late run and the next. A stretch runs from
                // `opens` (the lead included) to `ends`; occurrences that meet or overlap
                // are one.
                let mut stretches: Vec<(i64, i64)> = Vec::new();
                for o in scanned {
                    let (from, to) = (o.opens.as_second(), o.ends.as_second());
                    match stretches.last_mut() {
                        Some(last) if from <= last.1 => last.1 = last.1.max(to),
                        _ => stretches.push((from, to)),
                    }
                }
                // An empty one is the documented skipped hour, not a window to lengthen.
                let shortest = (stretches.iter())
                    .filter(|(from, to)| to > from)
                    .min_by_key(|(from, to)| (to - from, *from));
                // An end expression has no cap of its own: one that first fires months after
                // the start (a day of month that the start's days never reach) is a mistake
                // more often than a plan. Measured from its start, not counting the lead,
                // with an hour to spare for a change of the clocks (a whole-month window
                // over October's); the first such occurrence is named.
                let cap = i64::from(lambda_autoscaler::policy::schedule::MAX_DURATION_SECONDS);
                let too_long = (scanned.iter())
                    .map(|o| (o.ends.as_second() - o.starts.as_second(), o.starts))
                    .find(|&(open, _)| open > cap + 3600);
                let at = |second: i64| show(lambda_autoscaler::cron::instant(second));
                if let Some((seconds, starts)) = too_long {
                    let _ = writeln!(
                        out,
                        "    warning: an occurrence is open for {} days (from {}): longer \
                         than duration_seconds may give (31 days): check its end",
                        seconds / 86_400,
                        show(starts)
                    );
                }
                if let Some((from, to)) =
                    shortest.filter(|(from, to)| to - from < SHORT_WINDOW_SECONDS)
                {
                    let _ = writeln!(
                        out,
                        "    warning: an occurrence is open for {} s (from {}): a run of the \
                         one-minute schedule that comes late can miss all of it; give the \
                         window lead_seconds or more time",
                        to - from,
                        at(*from)
                    );
                }
            }
            Err(why) => {
                let _ = writeln!(out, "    warning: cannot list its occurrences: {why}");
            }
        }
        let below = [window.bounds.max, window.bounds.set]
            .into_iter()
            .flatten()
            .find(|&v| v < event_sources::MIN_PER_MAPPING);
        if let (Some(value), EventSources::Follow) = (below, target.event_sources) {
            let _ = writeln!(
                out,
                "    note: {value} is below 2: while the window is active, SQS event source \
                 mappings are paused (disabled), and resumed when it ends"
            );
        }
        let (key, value) = schedule_tag(window);
        if value.len() > MAX_TAG_VALUE_LEN {
            let _ = writeln!(
                out,
                "    as a tag: too long ({} characters; AWS allows {MAX_TAG_VALUE_LEN})",
                value.len()
            );
        } else {
            let _ = writeln!(out, "    as a tag: {key} = {value}");
        }
    }
}

fn validate(policy: Option<&Path>, now: Option<i64>) -> Result<(), String> {
    let policy = load_policy(policy).map_err(|e| e.to_string())?;
    let now = now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    });
    let mut out = String::new();
    for target in &policy.targets {
        let _ = writeln!(
            out,
            "{}: min {} max {}",
            target.function, target.min, target.max
        );
        for rule in &target.alarms {
            let actions: Vec<String> = [
                ("on_alarm", rule.on_alarm),
                ("on_ok", rule.on_ok),
                ("on_insufficient_data", rule.on_insufficient_data),
            ]
            .iter()
            .filter_map(|(state, action)| action.map(|a| format!("{state}: {a}")))
            .collect();
            let _ = writeln!(out, "  alarm {}: {}", rule.name, actions.join(", "));
            for (state, action) in [
                ("on_alarm", rule.on_alarm),
                ("on_ok", rule.on_ok),
                ("on_insufficient_data", rule.on_insufficient_data),
            ] {
                let Some(action) = action else { continue };
                let Some(why) = out_of_bounds(action, target.min, target.max) else {
                    continue;
                };
                // A schedule's bounds replace the document's while it is active: an action
                // they let act is no mistake, only idle the rest of the time.
                let acts_in: Vec<String> = (target.schedules.iter())
                    .filter(|w| {
                        let (min, max) = window_bounds(target, w);
                        out_of_bounds(action, min, max).is_none()
                    })
                    .map(|w| format!("{} ({})", w.name, w.bounds))
                    .collect();
                let _ = if acts_in.is_empty() {
                    writeln!(out, "  warning: alarm {} {state}: {why}", rule.name)
                } else {
                    writeln!(
                        out,
                        "  note: alarm {} {state}: {why}, except while schedule {} is active",
                        rule.name,
                        acts_in.join(" or ")
                    )
                };
            }
        }
        if let Some(queue) = &target.queue {
            let delayed = if queue.include_delayed {
                "counted"
            } else {
                "not counted"
            };
            let _ = match queue.goal {
                QueueGoal::PerInstance(per) => writeln!(
                    out,
                    "  queue {}: {per} messages per instance, in flight {}, delayed {delayed}, \
                     activation {}",
                    queue.queue,
                    if queue.include_in_flight {
                        "counted"
                    } else {
                        "not counted"
                    },
                    queue.activation
                ),
                QueueGoal::Wait(goal) => writeln!(
                    out,
                    "  queue {}: target wait {} s, service {}, batch {}, delayed {delayed}, \
                     activation {}",
                    queue.queue,
                    goal.target_wait_seconds,
                    goal.service_seconds.map_or_else(
                        || "measured from CloudWatch".to_owned(),
                        |s| format!("{s} s per message")
                    ),
                    goal.batch_size.map_or_else(
                        || "the event source mapping's BatchSize (1 without one)".to_owned(),
                        |b| format!("{b} messages")
                    ),
                    queue.activation
                ),
            };
        }
        match target.event_sources {
            EventSources::Follow => {
                let ceiling = match target.event_source_ceiling {
                    Some(c) => format!(", at most {c} each"),
                    None => String::new(),
                };
                let _ = writeln!(
                    out,
                    "  event sources: follow (SQS mappings share the reservation, at least 2 \
                     each{ceiling}; a cap or set below that pauses them)"
                );
                if target.min < event_sources::MIN_PER_MAPPING {
                    let _ = writeln!(
                        out,
                        "  warning: min {} is below 2: if the function has SQS event source \
                         mappings, its bounds never take it below 2 per mapping (the least \
                         MaximumConcurrency AWS allows); only a cap, a set or a schedule's max below it pauses it",
                        target.min
                    );
                }
            }
            EventSources::Ignore => {
                let _ = writeln!(out, "  event sources: ignore (mappings are left alone)");
                let _ = writeln!(
                    out,
                    "  warning: with event sources ignored, a reservation below an SQS \
                     mapping's pollers throttles their batches, and the messages move towards \
                     the dead-letter queue"
                );
            }
        }
        write_schedules(&mut out, target, now);
        let _ = writeln!(
            out,
            "  on metric failure: {} (a queue or alarm that cannot be read)",
            target.on_metric_failure
        );
        let knobs = &target.stability;
        let step = |s: Option<u32>, percent: Option<u32>| match (s, percent) {
            (None, None) => "unlimited".to_owned(),
            (Some(s), None) => s.to_string(),
            (None, Some(p)) => format!("{p}%"),
            (Some(s), Some(p)) => format!("{s} or {p}% (the tighter)"),
        };
        let mut tolerance = match knobs.scale_out_tolerance {
            Some(out) => format!("{} (scale-out {out})", knobs.tolerance),
            None => knobs.tolerance.to_string(),
        };
        if let Some(narrowing) = knobs.narrowing {
            let _ = write!(
                tolerance,
                " narrowing to {} while held (time constant {} s)",
                narrowing.to, narrowing.seconds
            );
        }
        let _ = writeln!(
            out,
            "  tolerance {}, cooldowns out {} s / in {} s, scale-in stabilization {} s, \
             max step out {} / in {}",
            tolerance,
            knobs.scale_out_cooldown_seconds,
            knobs.scale_in_cooldown_seconds,
            knobs.scale_in_stabilization_seconds,
            step(knobs.max_scale_out_step, knobs.max_scale_out_step_percent),
            step(knobs.max_scale_in_step, knobs.max_scale_in_step_percent)
        );
    }
    if policy
        .targets
        .iter()
        .any(|t| t.event_sources == EventSources::Follow)
    {
        let _ = writeln!(
            out,
            "note: an SQS event source mapping in provisioned mode (ProvisionedPollerConfig) \
             has no MaximumConcurrency and is left alone: its pollers can run more than the \
             reservation, so throttled batches go back to the queue. validate reads no AWS \
             and cannot tell which mappings are; each decision names them"
        );
    }
    let _ = writeln!(out, "policy OK: {} target(s)", policy.targets.len());
    write_stdout(&out)
}

/// Writes to stdout. A reader that went away (`autoscaler validate | head`) is not an error;
/// `println!` would panic there.
fn write_stdout(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to stdout: {e}"))
        }
        _ => Ok(()),
    }
}

/// Logs go to stderr, so that stdout carries only the decision record: JSON with
/// `AWS_LAMBDA_LOG_FORMAT=JSON`, at `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`, default INFO), as the
/// Lambda runtime's default subscriber does, but in colour only on a terminal.
fn init_logging() {
    use lambda_runtime::tracing::subscriber::{filter::LevelFilter, fmt, EnvFilter};
    use std::io::IsTerminal;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let logs = fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(
            EnvFilter::builder()
                .with_default_directive(level.into())
                .from_env_lossy(),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

/// The autoscaler the environment configures, with the policy given or the environment's,
/// for the commands that only read (`status`, `activities`): no metrics.
async fn configured(
    policy: Option<&Path>,
) -> Result<lambda_autoscaler::handler::Autoscaler, String> {
    let settings = Settings::from_env().map_err(|e| e.to_string())?;
    let policy = load_policy(policy).map_err(|e| e.to_string())?;
    let config = wiring::sdk_config().await;
    Ok(wiring::autoscaler(
        &config,
        Ok(policy),
        settings,
        wiring::no_metrics(),
    ))
}

fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn status(policy: Option<&Path>, function: Option<&str>, json: bool) -> Result<(), String> {
    let autoscaler = configured(policy).await?;
    let (rows, errors) = autoscaler
        .status(function)
        .await
        .map_err(|e| format!("{}: {e}", e.error_type()))?;
    if json {
        let json = serde_json::json!({ "targets": rows });
        let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
        write_stdout(&format!("{text}\n"))?;
    } else {
        write_stdout(&lambda_autoscaler::status::table(&rows, now_epoch()))?;
    }
    // The table shows what could be listed; a target missing from it fails the command, so
    // that a script does not take the table for the whole fleet.
    match errors.as_slice() {
        [] => Ok(()),
        errors => Err(format!(
            "targets missing from the list: {}",
            (errors.iter())
                .map(|e| format!("{}: {e}", e.error_type()))
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

async fn activities(
    function: &str,
    policy: Option<&Path>,
    limit: usize,
    json: bool,
) -> Result<(), String> {
    let autoscaler = configured(policy).await?;
    let activities = autoscaler
        .activities(function, limit)
        .await
        .map_err(|e| format!("{}: {e}", e.error_type()))?;
    if json {
        let json = serde_json::json!({ "function": function, "activities": activities });
        let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
        return write_stdout(&format!("{text}\n"));
    }
    let now = now_epoch();
    let mut out = String::new();
    if activities.is_empty() {
        let _ = writeln!(out, "{function}: no activities recorded");
    }
    for a in &activities {
        let value = |v: Option<u32>| v.map_or("unreserved".into(), |v| v.to_string());
        let _ = writeln!(
            out,
            "{} ago  {} -> {}  {}\n  trigger: {}",
            lambda_autoscaler::status::ago(now, a.at),
            value(a.previous),
            value(a.desired),
            a.outcome,
            a.trigger
        );
        for reason in &a.reasons {
            let _ = writeln!(out, "    - {reason}");
        }
    }
    write_stdout(&out)
}

async fn explain(args: &lambda_autoscaler::explain::Args) -> Result<(), String> {
    let event = read_event(&args.event)?;
    let (outcome, json) = lambda_autoscaler::explain::run(args, &event).await?;
    write_stdout(&format!("{json}\n"))?;
    failed_records(&outcome)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match &cli.command {
        Command::Invoke {
            event,
            policy,
            dry_run,
            deadline_seconds,
            watch_seconds,
            metrics,
        } => {
            invoke(InvokeArgs {
                event,
                policy: policy.as_deref(),
                dry_run: *dry_run,
                deadline_seconds: *deadline_seconds,
                watch_seconds: *watch_seconds,
                metrics: *metrics,
            })
            .await
        }
        Command::Validate { policy, now } => validate(policy.as_deref(), *now),
        Command::Simulate(args) => lambda_autoscaler::simulate::run(args)
            .map_err(|e| e.to_string())
            .and_then(|table| write_stdout(&table)),
        Command::Explain(args) => explain(args).await,
        Command::Status {
            policy,
            function,
            json,
        } => status(policy.as_deref(), function.as_deref(), *json).await,
        Command::Activities {
            function,
            policy,
            limit,
            json,
        } => activities(function, policy.as_deref(), *limit, *json).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // Nothing better to do if stderr is gone too.
            let _ = writeln!(std::io::stderr(), "error: {message}");
            ExitCode::FAILURE
        }
    }
}
