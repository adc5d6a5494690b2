//! Throughput of the pure decision core on a realistic target: a queue, three alarms (a step,
//! a percent step and a cap), every stability knob, and a saved history that `decide` itself
//! built over the previous hour (its internals are not ours to construct).

use criterion::{criterion_group, criterion_main, Criterion};
use lambda_autoscaler::alarm::AlarmState;
use lambda_autoscaler::decide::{
    decide, AlarmStates, Inputs, ObservedAlarm, QueueDepth, Request, StateSource,
};
use lambda_autoscaler::policy::{Policy, Target};
use lambda_autoscaler::state::SavedState;
use std::hint::black_box;

const POLICY: &str = r#"{"targets": [{
  "function": "orders-worker", "min": 2, "max": 200,
  "alarms": [
    {"name": "orders-backlog-high", "on_alarm": {"change": 10}, "on_ok": {"change": -5}},
    {"name": "orders-latency-high", "on_alarm": {"percent": 50}},
    {"name": "orders-db-overloaded", "on_alarm": {"cap": 40}}
  ],
  "queue": {"name": "orders", "messages_per_instance": 10, "include_delayed": true, "activation": 5},
  "tolerance": 0.1, "scale_out_cooldown_seconds": 60, "scale_in_cooldown_seconds": 300,
  "scale_in_stabilization_seconds": 600, "max_scale_out_step": 20, "max_scale_in_step_percent": 25
}]}"#;

const START: i64 = 1_795_000_000;
const EVERY: i64 = 30;

/// The alarms and the queue at evaluation `i`: a backlog that rises and falls over the hour.
fn world(i: i64) -> (AlarmStates, QueueDepth) {
    let state = |on: bool| ObservedAlarm {
        state: if on {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        },
        source: StateSource::CloudWatch,
    };
    let backlog = (((i as f64) / 20.0).sin() * 800.0 + 900.0) as u64;
    let alarms = AlarmStates::from([
        ("orders-backlog-high".to_string(), state(backlog > 1000)),
        ("orders-latency-high".to_string(), state(i % 7 == 0)),
        ("orders-db-overloaded".to_string(), state(i % 11 == 0)),
    ]);
    let depth = QueueDepth {
        visible: backlog,
        in_flight: backlog / 10,
        delayed: 3,
    };
    (alarms, depth)
}

/// An hour of evaluations, each applied and its history saved, as the handler does.
fn an_hour_of_history(target: &Target) -> (Option<u32>, SavedState) {
    let (mut current, mut saved) = (Some(10), SavedState::Missing);
    for i in 0..120 {
        let (alarms, queue) = world(i);
        let inputs = Inputs {
            current,
            alarms: &alarms,
            queue: Some(queue),
            saved: &saved,
            now: START + i * EVERY,
            unread: &[],
            headroom: None,
            mapping_floor: 0,
            pause_held: false,
            drain: Default::default(),
        };
        let decision = decide(target, &inputs, Request::FollowAlarms);
        current = decision.desired.or(current);
        saved = SavedState::Valid(decision.history);
    }
    (current, saved)
}

fn bench_decide(c: &mut Criterion) {
    let policy = Policy::from_json(POLICY, "bench").expect("the bench policy is valid");
    let target = &policy.targets[0];
    let (current, saved) = an_hour_of_history(target);
    let (alarms, queue) = world(120);
    let inputs = Inputs {
        current,
        alarms: &alarms,
        queue: Some(queue),
        saved: &saved,
        now: START + 120 * EVERY,
        unread: &[],
        headroom: None,
        mapping_floor: 0,
        pause_held: false,
        drain: Default::default(),
    };
    c.bench_function("decide/queue+3 alarms+knobs+history", |b| {
        b.iter(|| decide(black_box(target), black_box(&inputs), Request::FollowAlarms))
    });
}

criterion_group!(benches, bench_decide);
criterion_main!(benches);
