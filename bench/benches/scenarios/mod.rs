//! The sample events of `events/`, each with an in-memory world in which N targets follow
//! what the sample names: the `calls` bench counts their AWS calls, the `handler` bench times
//! them. Every target starts at a reservation that the event moves, so a first evaluation
//! writes and the next one finds nothing to change.

use lambda_autoscaler::alarm::AlarmState::{self, Alarm, Ok as Fine};
use lambda_autoscaler::aws::emf::Emf;
use lambda_autoscaler::handler::Autoscaler;
use lambda_autoscaler::memory::{MemoryLambda, World};
use lambda_autoscaler::policy::Policy;
use lambda_autoscaler::ports::QueueDepth;
use lambda_autoscaler::report::Outcome;
use lambda_autoscaler::settings::Settings;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const NOW: i64 = 1_795_000_000;
/// Every target's reservation before the first evaluation.
const START: u32 = 5;
/// What an alarm in ALARM sets, and one in OK (through a scale-in).
const SCALED_OUT: u32 = 10;
const SCALED_IN: u32 = 2;
/// The queue's visible messages: at 10 per instance, the queue proposes `SCALED_OUT`.
const BACKLOG: u64 = 100;
/// The function's timeout in template.yaml: the deadline Lambda would give.
const TIMEOUT: Duration = Duration::from_secs(60);

pub struct Sample {
    pub path: &'static str,
    json: &'static str,
}

macro_rules! sample {
    ($file:literal) => {
        Sample {
            path: concat!("events/", $file),
            json: include_str!(concat!("../../../events/", $file)),
        }
    };
}

pub struct Scenario {
    pub name: &'static str,
    pub sample: Sample,
    /// The alarms the sample names, as CloudWatch holds them: the handler reads their
    /// current state, which wins over the event's.
    alarms: &'static [(&'static str, AlarmState)],
    /// The queue the sample names; every target follows it.
    queue: Option<&'static str>,
    /// The function a direct command in the sample names: the first target.
    command: Option<&'static str>,
    /// Whether every target is an SQS consumer: an event source mapping (with no
    /// `MaximumConcurrency` yet) that follows its reservation.
    mapping: bool,
}

pub const SCENARIOS: [Scenario; 8] = [
    Scenario {
        name: "alarm action",
        sample: sample!("alarm-lambda-action.json"),
        alarms: &[("orders-backlog-high", Alarm)],
        queue: None,
        command: None,
        mapping: false,
    },
    // The same for SQS consumers: the first evaluation also brings each one's mapping within
    // the new reservation (lowered from no limit before the reservation is raised).
    Scenario {
        name: "alarm action, SQS-fed",
        sample: sample!("alarm-lambda-action.json"),
        alarms: &[("orders-backlog-high", Alarm)],
        queue: None,
        command: None,
        mapping: true,
    },
    Scenario {
        name: "EventBridge",
        sample: sample!("alarm-eventbridge.json"),
        alarms: &[("orders-backlog-high", Fine)],
        queue: None,
        command: None,
        mapping: false,
    },
    Scenario {
        name: "SNS",
        sample: sample!("alarm-sns.json"),
        alarms: &[("orders-backlog-high", Alarm)],
        queue: None,
        command: None,
        mapping: false,
    },
    // Four records: orders-backlog-high twice (ALARM, then OK), reports-errors-high (OK) and
    // a direct command for reports-api.
    Scenario {
        name: "SQS batch",
        sample: sample!("sqs-batch.json"),
        alarms: &[
            ("orders-backlog-high", Alarm),
            ("reports-errors-high", Fine),
        ],
        queue: None,
        command: Some("reports-api"),
        mapping: false,
    },
    // Names nothing: every target is reconciled, after a GetResources for tagged functions.
    Scenario {
        name: "schedule",
        sample: sample!("scheduled.json"),
        alarms: &[("orders-backlog-high", Alarm)],
        queue: None,
        command: None,
        mapping: false,
    },
    Scenario {
        name: "queue depth",
        sample: sample!("queue-depth.json"),
        alarms: &[],
        queue: Some("orders"),
        command: None,
        mapping: false,
    },
    // Concerns its one function however many targets follow the same alarm.
    Scenario {
        name: "direct command",
        sample: sample!("direct-command.json"),
        alarms: &[("reports-errors-high", Fine)],
        queue: None,
        command: Some("reports-api"),
        mapping: false,
    },
];

/// A world with its autoscaler, and the event to hand it.
pub struct Setup {
    pub world: World,
    autoscaler: Autoscaler,
    event: Value,
    /// The sample's path, to name it when an evaluation fails.
    sample: &'static str,
}

impl Scenario {
    pub fn setup(&self, targets: usize) -> Setup {
        let world = World::new(NOW);
        for function in self.functions(targets) {
            world
                .lambda
                .add(&function, Some(START), &[("autoscaler:enabled", "true")]);
            if self.mapping {
                world
                    .lambda
                    .add_mapping(&function, &format!("{function}-queue"), None, true);
            }
        }
        for (name, state) in self.alarms {
            world.cloudwatch.set_alarm(name, *state);
        }
        if let Some(queue) = self.queue {
            let depth = QueueDepth {
                visible: BACKLOG,
                ..QueueDepth::default()
            };
            world.queues.set_depth(queue, depth);
        }
        let settings = Settings::default();
        let mut ctx = world.context(settings.control_plane_rps, settings.get_function_rps, true);
        // The metrics as the Lambda binary writes them (src/main.rs): EMF lines, here to a
        // sink; no PutMetricData.
        ctx.metrics = Arc::new(Emf::new(Box::new(std::io::sink()), world.clock.clone()));
        let autoscaler = Autoscaler::new(Ok(self.policy(targets)), settings, ctx);
        // As in Lambda (src/main.rs), where the context's ARN tells the account: events from
        // other accounts are refused, and the state is read beside GetFunction.
        autoscaler.learn_account(&MemoryLambda::arn("lambda-autoscaler"));
        let event = serde_json::from_str(self.sample.json).expect("the samples are JSON");
        Setup {
            world,
            autoscaler,
            event,
            sample: self.sample.path,
        }
    }

    fn functions(&self, targets: usize) -> impl Iterator<Item = String> + '_ {
        (0..targets).map(|i| match (i, self.command) {
            (0, Some(function)) => function.to_owned(),
            _ => format!("worker-{i}"),
        })
    }

    /// Each target: a rule per alarm (`set`, so that evaluating again changes nothing), the
    /// queue, and the default stability knobs but for scale-in's, which are off so that the
    /// OK samples' scale-in is applied at once instead of held for 5 minutes.
    fn policy(&self, targets: usize) -> Policy {
        let rules: Vec<Value> = self
            .alarms
            .iter()
            .map(|(name, _)| {
                json!({"name": name, "on_alarm": {"set": SCALED_OUT}, "on_ok": {"set": SCALED_IN}})
            })
            .collect();
        let targets: Vec<Value> = self
            .functions(targets)
            .map(|function| {
                let mut target = json!({
                    "function": function, "min": 1, "max": 20, "alarms": rules,
                    "scale_in_cooldown_seconds": 0, "scale_in_stabilization_seconds": 0,
                });
                if let Some(queue) = self.queue {
                    target["queue"] = json!({"name": queue, "messages_per_instance": 10});
                }
                target
            })
            .collect();
        Policy::from_json(&json!({ "targets": targets }).to_string(), self.name)
            .expect("the bench policies are valid")
    }
}

impl Setup {
    /// One invocation, as Lambda makes it (with the deadline its timeout gives); panics
    /// unless every target and record succeeded, which would make the numbers meaningless.
    pub fn evaluate(&self, runtime: &tokio::runtime::Runtime) -> Outcome {
        let deadline = self.autoscaler.deadline_after(TIMEOUT);
        let outcome = runtime
            .block_on(self.autoscaler.handle(&self.event, Some(deadline)))
            .unwrap_or_else(|error| panic!("{}: {error}", self.sample));
        let failures = outcome.batch_item_failures.as_ref().map_or(0, Vec::len);
        assert!(
            failures == 0 && outcome.record_errors.is_empty() && outcome.deferred == 0,
            "{}: {}",
            self.sample,
            serde_json::to_string(&outcome).unwrap_or_default()
        );
        outcome
    }
}
