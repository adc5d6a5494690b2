//! `autoscaler explain`: the decision record an event would produce, computed without AWS.
//!
//! The world is given on the command line (reservations, alarm states, queue depths, saved
//! histories) and held by the in-memory ports, the same ones the handler tests use; the
//! event then goes through the same handler as `invoke`. Users can pin what their policy does
//! in their own CI.

use crate::alarm::AlarmState;
use crate::aws::dynamodb::{history_from_item_json, written_from_item_json};
use crate::handler::Autoscaler;
use crate::memory::{MemoryLambda, World};
use crate::policy::{Policy, QueueRef, WaitGoal};
use crate::ports::QueueDepth;
use crate::report::Outcome;
use crate::service_time::Point;
use crate::settings::Settings;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The event (a file, or - for stdin).
    pub event: PathBuf,
    /// The policy document.
    #[arg(long)]
    pub policy: PathBuf,
    /// A target's current reservation: N for every target, or NAME=N for one (repeatable).
    /// Without it a function has no reservation.
    #[arg(long, value_name = "[NAME=]N", value_parser = ForTarget::<u32>::parse_reservation)]
    pub current: Vec<ForTarget<u32>>,
    /// An alarm's state: NAME=ALARM, NAME=OK or NAME=INSUFFICIENT_DATA (repeatable). An
    /// alarm not given is one CloudWatch does not know (the event's state is used).
    #[arg(long, value_name = "NAME=STATE", value_parser = Named::<AlarmState>::parse_alarm)]
    pub alarm: Vec<Named<AlarmState>>,
    /// A queue's depth: NAME=VISIBLE[,IN_FLIGHT[,DELAYED]] (repeatable).
    #[arg(long, value_name = "NAME=COUNTS", value_parser = Named::<QueueDepth>::parse_depth)]
    pub queue_depth: Vec<Named<QueueDepth>>,
    /// A saved history, as the state table keeps it (the output of `aws dynamodb get-item`,
    /// or the item alone): FILE for every target, or NAME=FILE for one (repeatable).
    #[arg(long, value_name = "[NAME=]FILE", value_parser = ForTarget::<PathBuf>::parse_file)]
    pub history: Vec<ForTarget<PathBuf>>,
    /// For a `target_wait_seconds` goal: the queue's depth SECONDS before this evaluation,
    /// NAME=VISIBLE[,IN_FLIGHT[,DELAYED]]@SECONDS (repeatable), as a warm container would
    /// have sampled it. Messages that piled up since count as arrivals beyond the
    /// executions' pace.
    #[arg(long, value_name = "NAME=COUNTS@SECONDS", value_parser = Named::<Earlier>::parse_earlier)]
    pub earlier_depth: Vec<Named<Earlier>>,
    /// For a `target_wait_seconds` goal without `service_seconds`: the service time
    /// CloudWatch measured, SECONDS per message and optionally the messages an invocation
    /// takes: SECONDS[/MESSAGES] for every target, or NAME=SECONDS[/MESSAGES] for one.
    /// Without it the service time is unknown, as before CloudWatch has any.
    #[arg(
        long,
        value_name = "[NAME=]SECONDS[/MESSAGES]",
        value_parser = ForTarget::<ServiceTime>::parse_service_time
    )]
    pub service_time: Vec<ForTarget<ServiceTime>>,
    /// The time of the evaluation: epoch seconds, or RFC 3339 with an offset
    /// (2026-12-01T08:30:00+01:00). Schedules are evaluated at it. Default: now.
    #[arg(long, value_name = "TIME", value_parser = crate::cron::parse_instant)]
    pub now: Option<i64>,
}

/// Reads the arguments, builds the world, handles the event; the outcome and its JSON.
pub async fn run(args: &Args, event: &[u8]) -> Result<(Outcome, String), String> {
    let policy = Policy::from_file(&args.policy).map_err(|e| e.to_string())?;
    let now = args.now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    });
    let world = World::new(now);
    // Headroom is not what explain is about: an account with room for anything.
    world.lambda.set_pool(u32::MAX / 2, 100);
    let names: Vec<String> = policy
        .targets
        .iter()
        .map(|t| t.function.name().to_owned())
        .collect();
    let currents = per_target("--current", &args.current, &names)?;
    for name in &names {
        let current = currents.get(name).copied();
        world
            .lambda
            .add(name, current, &[("autoscaler:enabled", "true")]);
    }
    for Named { name, value: state } in &args.alarm {
        // A name no target follows would be silently ignored: a typo must not pass.
        if policy.targets_for_alarm(name).next().is_none() {
            return Err(format!(
                "--alarm {name}={state}: no target of {} follows an alarm named {name}",
                args.policy.display()
            ));
        }
        world.cloudwatch.set_alarm(name, *state);
    }
    for Named { name, value: depth } in &args.queue_depth {
        // A queue no target follows would read as a metric failure: a typo must not pass.
        let queue = followed_queue(&policy, name).ok_or_else(|| {
            format!("--queue-depth {name}=...: no target follows a queue \"{name}\"")
        })?;
        world.queues.set_depth(queue.name(), *depth);
    }
    for (name, path) in per_target("--history", &args.history, &names)? {
        let path = path.display();
        let text = std::fs::read_to_string(path.to_string())
            .map_err(|e| format!("cannot read history {path}: {e}"))?;
        let json: serde_json::Value = crate::trigger::json_value(text.as_bytes())
            .map_err(|e| format!("history {path} is not JSON: {e}"))?;
        let history = history_from_item_json(&json).map_err(|e| format!("history {path}: {e}"))?;
        // Written when the item says, not now: a change still in flight holds the decision
        // only as long as it would have held the Lambda function's.
        let written = written_from_item_json(&json).map_err(|e| format!("history {path}: {e}"))?;
        world
            .state
            .put_as(&MemoryLambda::arn(&name), history, written);
    }
    let measured = per_target("--service-time", &args.service_time, &names)?;
    for target in &policy.targets {
        let (Some(ServiceTime(seconds, per_invocation)), Some(queue)) =
            (measured.get(target.function.name()), &target.queue)
        else {
            continue;
        };
        world.cloudwatch.set_service_points(
            target.function.name(),
            queue.queue.name(),
            measured_points(now, *seconds, *per_invocation),
        );
    }
    let mut earlier = Vec::new();
    for Named { name, value } in &args.earlier_depth {
        let queue = followed_queue(&policy, name).ok_or_else(|| {
            format!("--earlier-depth {name}=...: no target follows a queue \"{name}\"")
        })?;
        earlier.push((queue.clone(), now - value.ago, value.depth));
    }
    let mut ctx = world.context(
        Settings::DEFAULT_CONTROL_PLANE_RPS,
        Settings::DEFAULT_GET_FUNCTION_RPS,
        true,
    );
    // The Region the user's AWS settings name, as the Lambda function would know its own;
    // none (nothing compared by Region) without them, rather than the in-memory world's.
    ctx.region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
    let autoscaler = Autoscaler::new(Ok(policy), Settings::default(), ctx);
    // Oldest first, as they were taken.
    earlier.sort_by_key(|(_, at, _)| *at);
    for (queue, at, depth) in earlier {
        autoscaler.add_queue_sample(queue, at, depth);
    }
    let trigger = crate::trigger::parse_event_bytes(event)
        .map_err(|e| format!("invalid event {}: {e}", args.event.display()))?;
    let outcome = autoscaler
        .handle_trigger(trigger, None)
        .await
        .map_err(|e| format!("{}: {e}", e.error_type()))?;
    let json = serde_json::to_string_pretty(&outcome).map_err(|e| e.to_string())?;
    Ok((outcome, json))
}

/// A flag's value for one target (`NAME=VALUE`) or for every target (`VALUE`).
#[derive(Debug, Clone)]
pub struct ForTarget<T> {
    name: Option<String>,
    value: T,
}

/// A flag's value for one alarm or queue: `NAME=VALUE`.
#[derive(Debug, Clone)]
pub struct Named<T> {
    name: String,
    value: T,
}

/// `--earlier-depth`'s sample: a depth, and how many seconds before the evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Earlier {
    depth: QueueDepth,
    ago: i64,
}

/// `--service-time`'s `SECONDS[/MESSAGES]`: seconds per message, and the messages an
/// invocation takes.
#[derive(Debug, Clone, Copy)]
pub struct ServiceTime(f64, Option<f64>);

// The flags' values are read as clap reads the others: a malformed one is a usage error
// (exit 2), named by clap with its flag; a name the policy does not know is found later.
impl<T> ForTarget<T> {
    fn of(text: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Self, String> {
        Ok(match text.split_once('=') {
            Some((name, value)) if !name.is_empty() => ForTarget {
                name: Some(name.to_owned()),
                value: parse(value)?,
            },
            _ => ForTarget {
                name: None,
                value: parse(text)?,
            },
        })
    }
}

impl ForTarget<u32> {
    fn parse_reservation(text: &str) -> Result<Self, String> {
        ForTarget::of(text, |n| {
            n.parse()
                .map_err(|_| format!("\"{n}\" is not a reservation (a whole number)"))
        })
    }
}

impl ForTarget<PathBuf> {
    fn parse_file(text: &str) -> Result<Self, String> {
        ForTarget::of(text, |path| Ok(PathBuf::from(path)))
    }
}

impl ForTarget<ServiceTime> {
    fn parse_service_time(text: &str) -> Result<Self, String> {
        ForTarget::of(text, service_time)
    }
}

impl<T> Named<T> {
    fn of(text: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Self, String> {
        let (name, value) = text
            .split_once('=')
            .filter(|(name, _)| !name.is_empty())
            .ok_or("expected NAME=VALUE")?;
        Ok(Named {
            name: name.to_owned(),
            value: parse(value)?,
        })
    }
}

impl Named<AlarmState> {
    fn parse_alarm(text: &str) -> Result<Self, String> {
        Named::of(text, |state| {
            serde_json::from_value(serde_json::Value::String(state.into()))
                .map_err(|_| "the state is ALARM, OK or INSUFFICIENT_DATA".to_owned())
        })
    }
}

impl Named<QueueDepth> {
    fn parse_depth(text: &str) -> Result<Self, String> {
        Named::of(text, queue_depth)
    }
}

impl Named<Earlier> {
    fn parse_earlier(text: &str) -> Result<Self, String> {
        Named::of(text, |rest| {
            let (counts, ago) = rest
                .rsplit_once('@')
                .ok_or("expected NAME=COUNTS@SECONDS")?;
            let ago: i64 = ago
                .trim()
                .parse()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| format!("\"{ago}\" is not a number of seconds above 0"))?;
            // An older sample starts the smoothing afresh: it would be ignored.
            if ago > crate::drain::GAP_SECONDS {
                return Err(format!(
                    "a sample more than {} s old says nothing about the growth now, and is \
                     not used",
                    crate::drain::GAP_SECONDS
                ));
            }
            Ok(Earlier {
                depth: queue_depth(counts)?,
                ago,
            })
        })
    }
}

/// Each target's value of a flag: the one given for it by name, else the one for every
/// target; a name that is no target of the policy is refused.
fn per_target<T: Clone>(
    flag: &str,
    given: &[ForTarget<T>],
    names: &[String],
) -> Result<std::collections::BTreeMap<String, T>, String> {
    let mut values = std::collections::BTreeMap::new();
    for item in given {
        match &item.name {
            Some(name) => {
                if !names.iter().any(|n| n == name) {
                    return Err(format!(
                        "{flag} {name}=...: \"{name}\" is not a target of the policy ({})",
                        names.join(", ")
                    ));
                }
                values.insert(name.clone(), item.value.clone());
            }
            None => {
                for name in names {
                    values
                        .entry(name.clone())
                        .or_insert_with(|| item.value.clone());
                }
            }
        }
    }
    Ok(values)
}

/// The queue of a target that follows `name`: its name, or its URL as the policy gives it.
fn followed_queue<'a>(policy: &'a Policy, name: &str) -> Option<&'a QueueRef> {
    (policy.targets.iter())
        .filter_map(|t| t.queue.as_ref().map(|q| &q.queue))
        .find(|q| q.name() == name || matches!(q, QueueRef::Url(url) if url == name))
}

/// `SECONDS[/MESSAGES]`: seconds per message, and the messages an invocation takes.
fn service_time(text: &str) -> Result<ServiceTime, String> {
    let (seconds, per_invocation) = match text.split_once('/') {
        Some((s, k)) => (s, Some(k)),
        None => (text, None),
    };
    let seconds: f64 = seconds
        .trim()
        .parse()
        .ok()
        .filter(|s| (WaitGoal::MIN_SERVICE_SECONDS..=WaitGoal::MAX_SERVICE_SECONDS).contains(s))
        .ok_or_else(|| {
            format!(
                "\"{seconds}\" is not seconds from {} to {}",
                WaitGoal::MIN_SERVICE_SECONDS,
                WaitGoal::MAX_SERVICE_SECONDS
            )
        })?;
    let per_invocation = match per_invocation {
        None => None,
        Some(k) => Some(
            k.trim()
                .parse::<f64>()
                .ok()
                .filter(|k| k.is_finite() && *k >= 1.0)
                .ok_or_else(|| format!("\"{k}\" is not a number of messages (1 or more)"))?,
        ),
    };
    Ok(ServiceTime(seconds, per_invocation))
}

/// Five minutes of CloudWatch points ending `now` that measure `seconds` per message (600
/// messages a minute, in invocations of `per_invocation`).
fn measured_points(now: i64, seconds: f64, per_invocation: Option<f64>) -> Vec<Point> {
    const MESSAGES: f64 = 600.0;
    (0..5)
        .map(|minute| Point {
            end: now - 60 * minute,
            duration_seconds: MESSAGES * seconds,
            invocations: Some(MESSAGES / per_invocation.unwrap_or(1.0)),
            messages: MESSAGES,
        })
        .collect()
}

fn queue_depth(counts: &str) -> Result<QueueDepth, String> {
    let numbers: Vec<u64> = counts
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .map_err(|_| format!("\"{n}\" is not a message count"))
        })
        .collect::<Result<_, _>>()?;
    match numbers.as_slice() {
        [visible] => Ok(QueueDepth {
            visible: *visible,
            ..QueueDepth::default()
        }),
        [visible, in_flight] => Ok(QueueDepth {
            visible: *visible,
            in_flight: *in_flight,
            delayed: 0,
        }),
        [visible, in_flight, delayed] => Ok(QueueDepth {
            visible: *visible,
            in_flight: *in_flight,
            delayed: *delayed,
        }),
        _ => Err("expected VISIBLE[,IN_FLIGHT[,DELAYED]]".into()),
    }
}
