//! Structured fuzzing of events: every sample in `events/`, mutated field by field (dropped,
//! retyped, extreme numbers, long and odd strings, deep nesting), including inside the JSON
//! that SNS messages and SQS bodies carry as strings. Each mutant goes through the parser
//! and a handler over the in-memory world with the demo policy.
//!
//! Pinned: nothing panics; an event the parser refuses changes nothing and makes no call at
//! all; every refusal names where it is (an `event...` or `Records[...]` location).

use lambda_autoscaler::handler::Autoscaler;
use lambda_autoscaler::memory::World;
use lambda_autoscaler::policy::Policy;
use lambda_autoscaler::report::Outcome;
use lambda_autoscaler::settings::Settings;
use lambda_autoscaler::trigger::parse_event;
use serde_json::{json, Value};
use std::path::Path;

/// One step into a JSON document; `Embedded` steps into JSON held in a string.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
    Embedded,
}

/// Every path to a value in `value`, following JSON embedded in strings.
fn paths(value: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(Step::Key(key.clone()));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(Step::Index(i));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::String(text) => {
            if let Ok(inner @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str(text) {
                prefix.push(Step::Embedded);
                paths(&inner, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Drop,
    Replace(Value),
}

fn mutations() -> Vec<Mutation> {
    let mut deep = json!("bottom");
    for _ in 0..300 {
        deep = json!([deep]);
    }
    let replacements = vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1.5e308),
        json!(0.5),
        json!(""),
        json!("x".repeat(100_000)),
        json!("\u{0}\u{202e}../../é🚀\"'<>%s\n\t"),
        json!([]),
        json!({}),
        deep,
    ];
    std::iter::once(Mutation::Drop)
        .chain(replacements.into_iter().map(Mutation::Replace))
        .collect()
}

/// `value` with `mutation` applied at `path`.
fn mutate(value: &Value, path: &[Step], mutation: &Mutation) -> Value {
    let mut value = value.clone();
    apply(&mut value, path, mutation);
    value
}

fn apply(value: &mut Value, path: &[Step], mutation: &Mutation) {
    let (step, rest) = path.split_first().expect("a path has a step");
    if let Step::Embedded = step {
        let Value::String(text) = value else { return };
        let mut inner: Value = serde_json::from_str(text).expect("embedded JSON");
        apply(&mut inner, rest, mutation);
        *text = inner.to_string();
        return;
    }
    match (step, value) {
        (Step::Key(key), Value::Object(map)) if rest.is_empty() => match mutation {
            Mutation::Drop => {
                map.remove(key);
            }
            Mutation::Replace(new) => {
                map.insert(key.clone(), new.clone());
            }
        },
        (Step::Index(i), Value::Array(items)) if rest.is_empty() => match mutation {
            Mutation::Drop => {
                items.remove(*i);
            }
            Mutation::Replace(new) => items[*i] = new.clone(),
        },
        (Step::Key(key), Value::Object(map)) => {
            apply(map.get_mut(key).expect("path exists"), rest, mutation)
        }
        (Step::Index(i), Value::Array(items)) => apply(&mut items[*i], rest, mutation),
        _ => {}
    }
}

/// The demo world: examples/policy.json's targets and alarms, every write possible.
fn demo() -> (World, Autoscaler) {
    let world = World::new(1_700_000_000);
    for (name, reserved) in [
        ("orders-worker", Some(5)),
        ("reports-api", None),
        ("thumbnails-worker", Some(2)),
    ] {
        world
            .lambda
            .add(name, reserved, &[("autoscaler:enabled", "true")]);
    }
    world.cloudwatch.set_alarm(
        "orders-backlog-high",
        lambda_autoscaler::alarm::AlarmState::Alarm,
    );
    world.queues.set_depth(
        "thumbnails",
        lambda_autoscaler::ports::QueueDepth {
            visible: 230,
            ..Default::default()
        },
    );
    let policy_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policy.json");
    let policy = Policy::from_file(&policy_path);
    let ctx = world.context(5.0, 50.0, true);
    let autoscaler = Autoscaler::new(policy, Settings::default(), ctx);
    (world, autoscaler)
}

fn names_a_place(location: &str) -> bool {
    location.starts_with("event") || location.starts_with("Records[")
}

#[test]
fn no_mutant_of_any_sample_panics_changes_anything_when_refused_or_fails_to_say_where() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut samples: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    samples.sort();
    assert!(samples.len() >= 10, "the samples in events/");
    let mutations = mutations();
    let (mut cases, mut refused, mut record_refusals) = (0usize, 0usize, 0usize);
    for sample in &samples {
        let original: Value = serde_json::from_slice(&std::fs::read(sample).unwrap()).unwrap();
        let mut found = Vec::new();
        paths(&original, &mut Vec::new(), &mut found);
        for path in &found {
            for mutation in &mutations {
                let mutant = mutate(&original, path, mutation);
                cases += 1;
                let what = || format!("{} at {path:?} with {mutation:?}", sample.display());
                let parsed = parse_event(&mutant);
                let (world, autoscaler) = demo();
                let handled = runtime.block_on(autoscaler.handle(&mutant, None));
                match parsed {
                    Err(e) => {
                        refused += 1;
                        assert!(names_a_place(&e.location), "{}: {e}", what());
                        let err = handled.expect_err("a refused event fails the invocation");
                        assert_eq!(err.error_type(), "InvalidEvent", "{}", what());
                        assert!(
                            world.calls.all().is_empty(),
                            "{}: a refused event made calls {:?}",
                            what(),
                            world.calls.all()
                        );
                    }
                    Ok(_) => {
                        if let Ok(Outcome { record_errors, .. }) = &handled {
                            for r in record_errors
                                .iter()
                                .filter(|r| r.error_type == "InvalidEvent")
                            {
                                record_refusals += 1;
                                assert!(r.error.contains("Records["), "{}: {}", what(), r.error);
                            }
                        }
                    }
                }
            }
        }
    }
    // The size of the search, as docs/reliability.md states it.
    eprintln!(
        "{cases} mutants of {} samples: {refused} refused by the parser, {record_refusals} SQS records refused",
        samples.len()
    );
    assert!(cases > 5_000, "{cases}");
    assert!(
        refused > 1_000 && record_refusals > 100,
        "the mutants reach the refusals"
    );
}
