//! AWS calls per event, counted at the port boundary of the in-memory world: for each sample
//! event, with 1 and with 10 targets, a first evaluation (it writes) and a steady one a
//! minute later (nothing changed: it must write nothing). Prints JSON for bench/run.py and
//! fails if a steady evaluation wrote or a first one did not.

mod scenarios;

use lambda_autoscaler::memory::World;
use scenarios::SCENARIOS;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const READS: &[&str] = &[
    "GetFunction",
    "DescribeAlarms",
    "GetQueueUrl",
    "GetQueueAttributes",
    "GetResources",
    "BatchGetItem",
    "GetAccountSettings",
    "ListEventSourceMappings",
    "GetEventSourceMapping",
];
const LAMBDA_WRITES: &[&str] = &["PutFunctionConcurrency", "UpdateEventSourceMapping"];
const STATE_WRITES: &[&str] = &["PutItem"];
/// None from the Lambda binary, whose metrics are EMF lines (scenarios/mod.rs); a
/// PutMetricData would still be counted here.
const METRICS: &[&str] = &["PutMetricData"];
/// The schedule's period in template.yaml: the next evaluation a steady target sees.
const STEADY_AFTER: Duration = Duration::from_secs(60);

/// The calls logged since the last clear, by class; panics on an operation of no class, so
/// that a new kind of call cannot go uncounted.
fn counts(world: &World, decisions: usize) -> Value {
    let mut operations = BTreeMap::<&str, usize>::new();
    for call in world.calls.all() {
        *operations.entry(call.operation).or_default() += 1;
    }
    let class = |ops: &[&str]| ops.iter().map(|op| world.calls.count(op)).sum::<usize>();
    let known = [READS, LAMBDA_WRITES, STATE_WRITES, METRICS].concat();
    if let Some(op) = operations.keys().find(|op| !known.contains(op)) {
        panic!("{op} is neither a read, a write nor metrics: classify it in calls.rs");
    }
    let (lambda_writes, state_writes) = (class(LAMBDA_WRITES), class(STATE_WRITES));
    json!({
        "decisions": decisions,
        "reads": class(READS),
        "writes": lambda_writes + state_writes,
        "lambda_writes": lambda_writes,
        "state_writes": state_writes,
        "metrics": class(METRICS),
        "operations": operations,
    })
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    // A list, to keep the samples' order (bench/run.py makes it a dict).
    let mut events = Vec::new();
    let mut failures = Vec::new();
    for scenario in &SCENARIOS {
        let mut by_targets = Map::new();
        for targets in [1, 10] {
            let setup = scenario.setup(targets);
            let first = setup.evaluate(&runtime);
            let first = counts(&setup.world, first.decisions.len());
            setup.world.calls.clear();
            setup.world.clock.advance(STEADY_AFTER);
            let steady = setup.evaluate(&runtime);
            let steady = counts(&setup.world, steady.decisions.len());
            let case = format!("{} with {targets} target(s)", scenario.name);
            if first["lambda_writes"] == 0 {
                failures.push(format!("{case}: the first evaluation changed nothing"));
            }
            if steady["writes"] != 0 {
                failures.push(format!("{case}: the steady evaluation wrote {steady}"));
            }
            by_targets.insert(
                targets.to_string(),
                json!({"first": first, "steady": steady}),
            );
        }
        events.push(json!({
            "event": scenario.name, "sample": scenario.sample.path, "targets": by_targets,
        }));
    }
    println!("{}", json!({ "calls_per_event": events }));
    if !failures.is_empty() {
        eprintln!("{}", failures.join("\n"));
        std::process::exit(1);
    }
}
