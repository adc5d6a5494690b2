//! The invocation's deadline against the writer's paced calls (src/apply.rs): no
//! control-plane call starts after the deadline's margin, and what the deadline (or a
//! mapping still updating, or the account's pool) keeps from being done is deferred, an SQS
//! record's command delivered again.

use lambda_autoscaler::alarm::AlarmState::Ok as Fine;
use lambda_autoscaler::error::HandlerError;
use lambda_autoscaler::handler::Autoscaler;
use lambda_autoscaler::memory::World;
use lambda_autoscaler::policy::Policy;
use lambda_autoscaler::ports::{Clock, QueueDepth};
use lambda_autoscaler::report::Outcome;
use lambda_autoscaler::settings::Settings;
use serde_json::{json, Value};
use std::time::Duration;

const NOW: i64 = 1_700_000_000;
/// The default deadline margin.
const MARGIN: f64 = 2.0;

const POLICY: &str = r#"{"targets": [
  { "function": "orders", "min": 2, "max": 100, "tolerance": 0, "scale_out_cooldown_seconds": 0,
    "scale_in_cooldown_seconds": 0, "scale_in_stabilization_seconds": 0, "alarms": [
      { "name": "backlog", "on_alarm": { "change": 10 }, "on_ok": { "change": -5 } } ] }
]}"#;

/// `n` targets t0.. following queues q0.., 10 messages an instance, stability knobs off.
fn fleet(n: usize, max: u32) -> String {
    let targets: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"function":"t{i}","min":1,"max":{max},"tolerance":0,
                   "scale_out_cooldown_seconds":0,"scale_in_cooldown_seconds":0,
                   "scale_in_stabilization_seconds":0,
                   "queue":{{"name":"q{i}","messages_per_instance":10}}}}"#
            )
        })
        .collect();
    format!(r#"{{"targets":[{}]}}"#, targets.join(","))
}

/// A world and the autoscaler of `policy` with a control-plane budget of `rps`.
fn setup(policy: &str, rps: f64) -> (World, Autoscaler) {
    let world = World::new(NOW);
    let settings = Settings {
        control_plane_rps: rps,
        ..Settings::default()
    };
    let ctx = world.context(settings.control_plane_rps, settings.get_function_rps, true);
    let autoscaler = Autoscaler::new(Policy::from_json(policy, "test"), settings, ctx);
    (world, autoscaler)
}

fn run(a: &Autoscaler, event: Value, seconds: Option<f64>) -> Result<Outcome, HandlerError> {
    let deadline = seconds.map(|s| a.deadline_after(Duration::from_secs_f64(s)));
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(a.handle(&event, deadline))
}

fn scheduled() -> Value {
    json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
}

fn backlog_ok() -> Value {
    json!({"source": "aws.cloudwatch", "alarmData": {"alarmName": "backlog", "state": {"value": "OK"}}})
}

/// When each call of `operation` started, from `since`.
fn starts(world: &World, operation: &str, since: Duration) -> Vec<Duration> {
    world
        .calls
        .all()
        .into_iter()
        .filter(|c| c.operation == operation)
        .map(|c| c.at - since)
        .collect()
}

/// Asserts that every call in `starts` began before the margin of a deadline `seconds` away.
#[track_caller]
fn within_margin(starts: &[Duration], seconds: f64) {
    let latest = Duration::from_secs_f64(seconds - MARGIN);
    assert!(starts.iter().all(|t| *t <= latest), "{starts:?}");
}

/// An SQS batch of one record, `m1`, carrying a direct command.
fn sqs_command(function: &str, desired: u32) -> Value {
    let body = json!({"function": function, "desiredConcurrency": desired}).to_string();
    json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": body}]})
}

/// The records the batch reports failed, to be delivered again.
fn failed_records(outcome: &Outcome) -> Vec<String> {
    outcome
        .batch_item_failures
        .iter()
        .flatten()
        .map(|f| f.item_identifier.clone())
        .collect()
}

/// Lambda throttles the next `n` writes of reservations.
fn throttle_puts(world: &World, n: u32) {
    world.faults.inject(
        "PutFunctionConcurrency",
        None,
        Some("TooManyRequestsException"),
        "Rate exceeded",
        Some(n),
    );
}

fn depth(visible: u64) -> QueueDepth {
    QueueDepth {
        visible,
        ..QueueDepth::default()
    }
}

#[test]
fn decreases_the_deadline_defers_list_no_mappings_after_its_margin() {
    let n = 40;
    let (world, a) = setup(&fleet(n, 100), 5.0);
    world.lambda.set_pool(10_000, 100);
    for i in 0..n {
        world.lambda.add(&format!("t{i}"), Some(50), &[]);
        world.queues.set_depth(&format!("q{i}"), depth(500));
    }
    // Steady: nothing written, and the account's listing is kept.
    run(&a, scheduled(), None).unwrap();
    world.clock.advance(Duration::from_secs(60));
    for i in 0..n {
        world.queues.set_depth(&format!("q{i}"), depth(10));
    }
    world.calls.clear();
    let since = world.clock.elapsed();
    let outcome = run(&a, scheduled(), Some(6.0)).unwrap();
    assert!(outcome.deferred > 0, "{outcome:?}");
    let lists = starts(&world, "ListEventSourceMappings", since);
    within_margin(&lists, 6.0);
}

#[test]
fn a_scale_out_refused_for_the_pool_is_decided_again_only_while_the_deadline_allows() {
    let (world, a) = setup(&fleet(1, 1000), 0.5);
    world.lambda.set_pool(300, 50);
    world.lambda.add("someone-else", Some(235), &[]);
    world.lambda.add("t0", Some(5), &[]);
    world.queues.set_depth("q0", depth(1000));
    // The write's check passes (a 2.05 s slot, a save and a write, the margin: 6.05 s); the
    // retry's read, save and write would not.
    let outcome = run(&a, scheduled(), Some(6.1)).unwrap();
    let puts = starts(&world, "PutFunctionConcurrency", Duration::ZERO);
    within_margin(&puts, 6.1);
    assert_eq!(puts.len(), 1);
    assert!(outcome.decisions[0].deferred, "{:?}", outcome.decisions[0]);
}

#[test]
fn waiting_for_several_mappings_to_settle_counts_every_read_and_the_write_after() {
    let (world, a) = setup(POLICY, 1.0);
    world
        .lambda
        .add("orders", Some(40), &[("autoscaler:enabled", "true")]);
    world.cloudwatch.set_alarm("backlog", Fine);
    for i in 0..4 {
        world
            .lambda
            .add_mapping("orders", &format!("q{i}"), Some(10), true);
    }
    // Three reads each, at one call a second: a round of four reads takes four seconds, and
    // a check that counted two calls a round would write after the margin.
    world.lambda.set_mapping_settle_reads(3);
    run(&a, backlog_ok(), Some(18.0)).unwrap();
    let puts = starts(&world, "PutFunctionConcurrency", Duration::ZERO);
    within_margin(&puts, 18.0);
}

#[test]
fn an_sqs_command_held_for_a_mapping_still_updating_is_delivered_again() {
    let (world, a) = setup(POLICY, 5.0);
    world
        .lambda
        .add("orders", Some(20), &[("autoscaler:enabled", "true")]);
    world.cloudwatch.set_alarm("backlog", Fine);
    world
        .lambda
        .add_mapping("orders", "orders-q", Some(20), true);
    world.lambda.set_mapping_settle_reads(10_000);
    let outcome = run(&a, sqs_command("orders", 4), Some(10.0)).unwrap();
    assert_eq!(world.lambda.reserved("orders"), Some(20));
    assert!(outcome.decisions[0].deferred);
    assert_eq!(failed_records(&outcome), ["m1"]);
}

#[test]
fn a_throttled_write_is_retried_only_before_the_deadlines_margin_then_deferred() {
    let (world, a) = setup(&fleet(1, 100), 1.0);
    world.lambda.add("t0", Some(1), &[]);
    world.queues.set_depth("q0", depth(50));
    throttle_puts(&world, 3);
    // The check before the write passes (a 1.025 s slot, a save, a write, the margin: 5.025
    // s); the retries after two throttles would not.
    let outcome = run(&a, scheduled(), Some(5.05)).unwrap();
    let puts = starts(&world, "PutFunctionConcurrency", Duration::ZERO);
    within_margin(&puts, 5.05);
    let d = &outcome.decisions[0];
    assert!(d.deferred && !d.applied, "{d:?}");
    assert_eq!(world.lambda.reserved("t0"), Some(1));
}

#[test]
fn an_sqs_command_the_pool_has_no_room_for_is_delivered_again() {
    let (world, a) = setup(POLICY, 5.0);
    // 400 in the account, 295 reserved elsewhere and orders' 5: 100 unreserved, the floor,
    // so nothing more fits.
    world.lambda.set_pool(400, 100);
    world.lambda.add("someone-else", Some(295), &[]);
    world
        .lambda
        .add("orders", Some(5), &[("autoscaler:enabled", "true")]);
    world.cloudwatch.set_alarm("backlog", Fine);
    let outcome = run(&a, sqs_command("orders", 50), None).unwrap();
    let d = &outcome.decisions[0];
    assert_eq!(world.lambda.reserved("orders"), Some(5), "{d:?}");
    assert!(d.deferred, "{d:?}");
    assert_eq!(failed_records(&outcome), ["m1"]);
}

#[test]
fn the_accounts_headroom_is_not_read_after_the_deadlines_margin() {
    let (world, a) = setup(&fleet(2, 100), 1.0);
    world.lambda.set_pool(1000, 100);
    for i in 0..2 {
        world.lambda.add(&format!("t{i}"), Some(1), &[]);
        world.queues.set_depth(&format!("q{i}"), depth(500));
    }
    // Two scale-outs after the account's listing, at one call a second: `GetAccountSettings`
    // could go at 1.025 s, after the margin of a 3 s deadline has begun.
    let outcome = run(&a, scheduled(), Some(3.0)).unwrap();
    let reads = starts(&world, "GetAccountSettings", Duration::ZERO);
    within_margin(&reads, 3.0);
    assert_eq!(outcome.deferred, 2, "{outcome:?}");
}

#[test]
fn a_scale_out_decided_again_after_a_refusal_raises_its_mappings_only_before_the_margin() {
    // A scale-out refused for the unreserved floor is decided again: its account read, save,
    // write and the raises of its two mappings after it all start before the margin, or
    // the retry is deferred. Deadlines from 4 to 20 s cross every point of that sequence.
    for tenths in (40..200).step_by(3) {
        let seconds = f64::from(tenths) / 10.0;
        let (world, a) = setup(&fleet(1, 1000), 0.5);
        world.lambda.set_pool(300, 50);
        world.lambda.add("someone-else", Some(231), &[]);
        world.lambda.add("t0", Some(8), &[]);
        for q in ["qa", "qb"] {
            world.lambda.add_mapping("t0", q, None, true);
        }
        world.queues.set_depth("q0", depth(1000));
        run(&a, scheduled(), Some(seconds)).unwrap();
        let mut calls = starts(&world, "PutFunctionConcurrency", Duration::ZERO);
        calls.extend(starts(&world, "UpdateEventSourceMapping", Duration::ZERO));
        calls.extend(starts(&world, "GetAccountSettings", Duration::ZERO));
        within_margin(&calls, seconds);
    }
}

#[test]
fn the_first_round_of_reads_of_settling_mappings_starts_before_the_margin() {
    // Two scale-ins of four mappings each at one call a second: the second target's first
    // round of reads once started after the margin, its last read after the deadline.
    let target = |name: &str| {
        format!(
            r#"{{ "function": "{name}", "min": 2, "max": 100, "tolerance": 0,
                "scale_out_cooldown_seconds": 0, "scale_in_cooldown_seconds": 0,
                "scale_in_stabilization_seconds": 0, "alarms": [
                  {{ "name": "backlog", "on_alarm": {{ "change": 10 }},
                     "on_ok": {{ "change": -20 }} }} ] }}"#
        )
    };
    let policy = format!(r#"{{"targets": [{}, {}]}}"#, target("a"), target("b"));
    for tenths in (20..400).step_by(7) {
        let seconds = f64::from(tenths) / 10.0;
        let (world, a) = setup(&policy, 1.0);
        for f in ["a", "b"] {
            world
                .lambda
                .add(f, Some(40), &[("autoscaler:enabled", "true")]);
            for i in 0..4 {
                world
                    .lambda
                    .add_mapping(f, &format!("{f}q{i}"), Some(10), true);
            }
        }
        world.cloudwatch.set_alarm("backlog", Fine);
        world.lambda.set_mapping_settle_reads(1);
        run(&a, backlog_ok(), Some(seconds)).unwrap();
        let mut calls = starts(&world, "GetEventSourceMapping", Duration::ZERO);
        for operation in [
            "UpdateEventSourceMapping",
            "PutFunctionConcurrency",
            "ListEventSourceMappings",
        ] {
            calls.extend(starts(&world, operation, Duration::ZERO));
        }
        within_margin(&calls, seconds);
    }
}

#[test]
fn scale_outs_waiting_on_the_other_reads_never_read_the_headroom_after_the_margin() {
    // 130 targets read in chunks at 4 GetFunction a second: the first chunk's scale-outs ask
    // whether the headroom covers all that may still come while the second is read.
    let n = 130;
    for tenths in (30..600).step_by(29) {
        let seconds = f64::from(tenths) / 10.0;
        let world = World::new(NOW);
        let settings = Settings {
            control_plane_rps: 1.0,
            get_function_rps: 4.0,
            ..Settings::default()
        };
        let ctx = world.context(settings.control_plane_rps, settings.get_function_rps, true);
        let a = Autoscaler::new(Policy::from_json(&fleet(n, 100), "test"), settings, ctx);
        world.lambda.set_pool(100_000, 100);
        for i in 0..n {
            world.lambda.add(&format!("t{i}"), Some(1), &[]);
            world.queues.set_depth(&format!("q{i}"), depth(500));
        }
        let outcome = run(&a, scheduled(), Some(seconds)).unwrap();
        let mut calls = starts(&world, "GetAccountSettings", Duration::ZERO);
        calls.extend(starts(&world, "PutFunctionConcurrency", Duration::ZERO));
        within_margin(&calls, seconds);
        // Every scale-out is applied or deferred, none dropped.
        let done = (outcome.decisions.iter())
            .filter(|d| d.applied || d.deferred)
            .count();
        assert_eq!(done, n, "{seconds} s");
    }
}

/// A queue target at 100 whose band narrows from 0.3 towards 0.1, as the drain-time example's.
const NARROWING: &str = r#"{"targets":[{"function":"t0","min":1,"max":500,"tolerance":0.3,
    "tolerance_narrows_to":0.1,"scale_out_cooldown_seconds":0,"scale_in_cooldown_seconds":0,
    "scale_in_stabilization_seconds":0,"queue":{"name":"q0","messages_per_instance":10}}]}"#;

#[test]
fn a_change_whose_write_failed_is_made_by_the_next_run_however_the_band_narrows() {
    let (world, a) = setup(NARROWING, 15.0);
    world.lambda.add("t0", Some(100), &[]);
    world.queues.set_depth("q0", depth(1000));
    run(&a, scheduled(), None).unwrap();
    world.clock.advance(Duration::from_secs(7200));
    // The need grows by 25 %: beyond the band at its floor; decided, saved, and refused.
    world.queues.set_depth("q0", depth(1250));
    world.faults.inject(
        "PutFunctionConcurrency",
        None,
        Some("InvalidParameterValueException"),
        "something else",
        Some(1),
    );
    assert!(run(&a, scheduled(), None).is_err());
    assert_eq!(world.lambda.reserved("t0"), Some(100));
    // The attempt did not move the reservation: the band stays at its floor, and the next
    // run makes the change (the band its save widened would hold it for minutes).
    let next = a_minute_later_sets(&world, &a, 125);
    assert!(
        (next.decisions[0].reasons.iter())
            .any(|r| r
                .starts_with("the reservation is not what the last change set (125, 60 s ago)")),
        "{:?}",
        next.decisions[0].reasons
    );
}

#[test]
fn a_scale_out_deferred_after_its_save_is_continued_by_the_next_run() {
    let (world, a) = setup(NARROWING, 1.0);
    world.lambda.add("t0", Some(100), &[]);
    world.queues.set_depth("q0", depth(1250));
    throttle_puts(&world, 3);
    let first = run(&a, scheduled(), Some(5.05)).unwrap();
    let d = &first.decisions[0];
    assert!(d.deferred && !d.applied, "{d:?}");
    // "The next scheduled run continues": not held by the band the attempt widened.
    a_minute_later_sets(&world, &a, 125);
}

/// The scheduled run a minute later, which sets `t0` to `value`.
#[track_caller]
fn a_minute_later_sets(world: &World, a: &Autoscaler, value: u32) -> Outcome {
    world.clock.advance(Duration::from_secs(60));
    let next = run(a, scheduled(), None).unwrap();
    let reasons = &next.decisions[0].reasons;
    assert_eq!(world.lambda.reserved("t0"), Some(value), "{reasons:?}");
    next
}

#[test]
fn a_throttled_read_started_before_the_margin_ends_before_the_deadline() {
    // One target; its GetFunction is throttled three times. The read starts at once, well
    // before the margin of a 2.5 s deadline (0.5 s): its retries must not run it past the
    // deadline itself, where Lambda ends the invocation.
    let (world, a) = setup(&fleet(1, 100), 10.0);
    world.lambda.add("t0", Some(1), &[]);
    world.queues.set_depth("q0", depth(50));
    world.faults.inject(
        "GetFunction",
        None,
        Some("TooManyRequestsException"),
        "Rate exceeded",
        Some(3),
    );
    let _ = run(&a, scheduled(), Some(2.5));
    let reads = starts(&world, "GetFunction", Duration::ZERO);
    let ended = world.clock.elapsed();
    assert!(
        ended <= Duration::from_secs_f64(2.5),
        "returned {ended:?} after the start, past a 2.5 s deadline; GetFunction at {reads:?}"
    );
    // The first attempt before the margin; its retries (up to 0.7 s of backoff) may not be.
    within_margin(&reads[..1], 2.5);
}

#[test]
fn a_throttled_mapping_raise_late_in_a_run_is_retried_only_before_the_margin() {
    // Six scale-outs at 2 calls a second, each raising the mapping it lowered a minute ago.
    // The last one's UpdateEventSourceMapping (after its reservation) is throttled three
    // times: each retry, like the reservation's, starts only before the deadline's margin.
    const N: usize = 6;
    let seconds = 12.1;
    let (world, a) = setup(&fleet(N, 1000), 2.0);
    for i in 0..N {
        world.lambda.add(&format!("t{i}"), Some(40), &[]);
        world
            .lambda
            .add_mapping(&format!("t{i}"), &format!("m{i}"), Some(40), true);
        world.queues.set_depth(&format!("q{i}"), depth(20));
    }
    run(&a, scheduled(), None).unwrap();
    assert_eq!(world.lambda.reserved("t5"), Some(2));
    world.clock.advance(Duration::from_secs(60));
    world.calls.clear();
    for i in 0..N {
        world.queues.set_depth(&format!("q{i}"), depth(1000));
    }
    world.faults.inject(
        "UpdateEventSourceMapping",
        Some("t5-m5"),
        Some("TooManyRequestsException"),
        "Rate exceeded",
        Some(3),
    );
    let since = world.clock.elapsed();
    let outcome = run(&a, scheduled(), Some(seconds)).unwrap();
    let ended = world.clock.elapsed() - since;
    let updates = starts(&world, "UpdateEventSourceMapping", since);
    assert!(
        ended <= Duration::from_secs_f64(seconds),
        "returned {ended:?} after the start, past a {seconds} s deadline; \
         UpdateEventSourceMapping at {updates:?}"
    );
    within_margin(&updates, seconds);
    // What it could not send waits for the next run, as a deferred target does.
    let t5 = outcome
        .decisions
        .iter()
        .find(|d| d.function == "t5")
        .unwrap();
    assert!(t5.deferred, "{t5:#?}");
    assert!(
        (t5.reasons.iter()).any(|r| r.contains("would start after the deadline's margin")),
        "{:#?}",
        t5.reasons
    );
}
