//! Watch mode against the in-memory world: a scheduled reconciliation that keeps ticking
//! (docs/deploy.md, "Watch mode"). The world's clock is virtual: a tick's sleep moves it, and
//! queue depths and alarm states change at set times on it, so each test can say when a
//! change happened and when the autoscaler acted on it.

use lambda_autoscaler::alarm::AlarmState::{Alarm, Ok as Fine};
use lambda_autoscaler::handler::Autoscaler;
use lambda_autoscaler::memory::{Call, World};
use lambda_autoscaler::policy::Policy;
use lambda_autoscaler::ports::{Clock, QueueDepth};
use lambda_autoscaler::report::Outcome;
use lambda_autoscaler::settings::{Settings, Watch};
use lambda_autoscaler::state::{History, Recommendation};
use lambda_autoscaler::watch::Ended;
use serde_json::{json, Value};
use std::time::Duration;

mod logs;

const NOW: i64 = 1_700_000_000;

/// A queue consumer (10 messages per instance) with a database alarm that caps it at 3, a
/// function with bounds only, and the stability knobs off: these tests pin when the ticks
/// act, not the knobs (src/decide.rs covers those).
const POLICY: &str = r#"{"targets": [
  { "function": "orders", "min": 1, "max": 100, "tolerance": 0, "scale_out_cooldown_seconds": 0,
    "scale_in_cooldown_seconds": 0, "scale_in_stabilization_seconds": 0,
    "queue": { "name": "orders", "messages_per_instance": 10 },
    "alarms": [ { "name": "db", "on_alarm": { "cap": 3 } } ] },
  { "function": "reports", "min": 2, "max": 10 }
]}"#;

fn watching(every: u64) -> Settings {
    Settings {
        watch: Some(Watch {
            every: Duration::from_secs(every),
            for_at_most: Watch::DEFAULT_FOR_AT_MOST,
        }),
        ..Settings::default()
    }
}

struct Fixture {
    world: World,
    autoscaler: Autoscaler,
}

fn fixture(settings: Settings) -> Fixture {
    fixture_of(POLICY, settings)
}

fn fixture_of(policy: &str, settings: Settings) -> Fixture {
    let world = World::new(NOW);
    let ctx = world.context(settings.control_plane_rps, settings.get_function_rps, true);
    let autoscaler = Autoscaler::new(Policy::from_json(policy, "test"), settings, ctx);
    world
        .lambda
        .add("orders", Some(5), &[("autoscaler:enabled", "true")]);
    world
        .lambda
        .add("reports", Some(2), &[("autoscaler:enabled", "true")]);
    world.cloudwatch.set_alarm("db", Fine);
    world.queues.set_depth("orders", depth(50));
    Fixture { world, autoscaler }
}

fn depth(visible: u64) -> QueueDepth {
    QueueDepth {
        visible,
        ..QueueDepth::default()
    }
}

fn scheduled() -> Value {
    json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
}

fn alarm_event(name: &str, state: &str) -> Value {
    json!({
        "source": "aws.cloudwatch",
        "alarmData": { "alarmName": name, "state": { "value": state } }
    })
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

impl Fixture {
    /// One invocation with a 60 s deadline (the template's timeout).
    fn run(&self, event: Value) -> Outcome {
        self.run_until(event, 60.0)
    }

    fn run_until(&self, event: Value, seconds: f64) -> Outcome {
        let deadline = self
            .autoscaler
            .deadline_after(Duration::from_secs_f64(seconds));
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(self.autoscaler.handle(&event, Some(deadline)))
            .unwrap()
    }

    fn calls(&self, operation: &str) -> Vec<Call> {
        self.world
            .calls
            .all()
            .into_iter()
            .filter(|c| c.operation == operation)
            .collect()
    }

    /// When each call of `operation` was made, in whole seconds of the virtual clock.
    fn seconds_of(&self, operation: &str) -> Vec<u64> {
        self.calls(operation)
            .iter()
            .map(|c| c.at.as_secs())
            .collect()
    }

    /// The writes (of any kind) made at or after `from`.
    fn writes_from(&self, from: Duration) -> Vec<Call> {
        self.world
            .calls
            .all()
            .into_iter()
            .filter(|c| c.at >= from)
            .filter(|c| {
                matches!(
                    c.operation,
                    "PutFunctionConcurrency" | "UpdateEventSourceMapping" | "PutItem"
                )
            })
            .collect()
    }
}

fn tick_records(outcome: &Outcome) -> Vec<&lambda_autoscaler::report::DecisionRecord> {
    outcome
        .decisions
        .iter()
        .filter(|d| d.trigger.contains("watch tick"))
        .collect()
}

#[test]
fn a_scheduled_run_ticks_every_interval_and_ends_before_the_next_scheduled_run() {
    let f = fixture(watching(10));
    let outcome = f.run(scheduled());
    // The first pass at 0 s, then a tick every 10 s up to 50 s: the next run comes at 60 s.
    assert_eq!(f.seconds_of("GetQueueAttributes"), [0, 10, 20, 30, 40, 50]);
    assert_eq!(f.seconds_of("DescribeAlarms"), [0, 10, 20, 30, 40, 50]);
    let watch = outcome.watch.expect("a watch summary");
    assert_eq!(watch.ticks, 5);
    assert_eq!(watch.ended, Ended::NextScheduledRun);
    // The queue consumer is followed; the target with bounds only cannot change in between.
    assert_eq!(watch.followed, 1);
    assert!(
        f.world.clock.elapsed() < secs(51),
        "{:?}",
        f.world.clock.elapsed()
    );
}

#[test]
fn a_queue_that_grows_between_ticks_is_followed_within_a_tick() {
    let f = fixture(watching(10));
    // 50 messages: 5 instances, as reserved. 300 arrive at 15 s: 30 instances.
    f.world
        .queues
        .set_depth_from("orders", secs(15), depth(300));
    let outcome = f.run(scheduled());
    assert_eq!(f.world.lambda.reserved("orders"), Some(30));
    // Written at the tick of 20 s, not at the next scheduled run (60 s).
    assert_eq!(f.seconds_of("PutFunctionConcurrency"), [20]);
    let ticks = tick_records(&outcome);
    assert_eq!(ticks.len(), 1, "{:#?}", outcome.decisions);
    assert_eq!((ticks[0].previous, ticks[0].desired), (Some(5), Some(30)));
    assert!(ticks[0].applied);
    assert!(
        ticks[0].trigger.contains("watch tick 2"),
        "{}",
        ticks[0].trigger
    );
    assert_eq!(outcome.watch.unwrap().changes, 1);
}

#[test]
fn an_alarm_that_goes_to_alarm_with_a_cap_acts_within_a_tick() {
    let f = fixture(watching(10));
    f.world.cloudwatch.set_alarm_from("db", secs(25), Alarm);
    let outcome = f.run(scheduled());
    assert_eq!(f.world.lambda.reserved("orders"), Some(3));
    assert_eq!(f.seconds_of("PutFunctionConcurrency"), [30]);
    let ticks = tick_records(&outcome);
    assert_eq!(ticks.len(), 1);
    assert_eq!(ticks[0].desired, Some(3));
}

#[test]
fn a_tick_reads_no_function_of_a_target_it_knows_and_of_its_saved_state_only_the_version() {
    let f = fixture(watching(10));
    f.world
        .queues
        .set_depth_from("orders", secs(15), depth(300));
    f.world
        .queues
        .set_depth_from("orders", secs(35), depth(800));
    let outcome = f.run(scheduled());
    // Read once by the first pass; the ticks decide from that read and from their own
    // writes (two changes, each saved against the version the last write left). Each tick
    // reads the saved states (one call for up to 100) only to see whether another writer
    // moved a history on; none did.
    assert_eq!(f.seconds_of("GetFunction"), [0, 0]);
    assert_eq!(f.seconds_of("BatchGetItem"), [0, 10, 20, 30, 40, 50]);
    assert_eq!(f.seconds_of("PutFunctionConcurrency"), [20, 40]);
    assert_eq!(f.world.lambda.reserved("orders"), Some(80));
    let changes: Vec<_> = tick_records(&outcome)
        .iter()
        .map(|d| (d.previous, d.desired))
        .collect();
    assert_eq!(changes, [(Some(5), Some(30)), (Some(30), Some(80))]);
    let (_, version) = f
        .world
        .state
        .get(&lambda_autoscaler::memory::MemoryLambda::arn("orders"))
        .unwrap();
    // The first pass's write (no history before), then one per change.
    assert_eq!(version, 3);
}

#[test]
fn nothing_is_written_while_nothing_changes() {
    let f = fixture(watching(10));
    let outcome = f.run(scheduled());
    assert_eq!(outcome.watch.as_ref().unwrap().ticks, 5);
    assert!(
        f.writes_from(secs(1)).is_empty(),
        "{:?}",
        f.writes_from(secs(1))
    );
    assert!(tick_records(&outcome).is_empty());
    // One set of metrics per target, from the first pass, and the invocation's one.
    let published = f.world.cloudwatch.published();
    let scaling_actions = published
        .iter()
        .filter(|(_, p)| p.metric == "ScalingActions")
        .count();
    assert_eq!(scaling_actions, 2);
}

#[test]
fn the_watch_stops_in_time_for_the_deadline_and_its_margin() {
    let f = fixture(watching(10));
    // A 25 s deadline with the 2 s margin: ticks at 10 and 20 s fit, one at 30 s does not.
    let outcome = f.run_until(scheduled(), 25.0);
    let watch = outcome.watch.unwrap();
    assert_eq!(watch.ticks, 2);
    assert_eq!(watch.ended, Ended::Deadline);
    let last = f.world.calls.all().last().unwrap().at;
    assert!(last <= secs(23), "{last:?}");
}

#[test]
fn an_alarm_event_does_not_watch_even_when_watching_is_on() {
    let f = fixture(watching(10));
    let outcome = f.run(alarm_event("db", "OK"));
    assert!(outcome.watch.is_none());
    assert_eq!(f.seconds_of("DescribeAlarms"), [0]);
    assert!(f.world.clock.elapsed() < secs(1));
}

#[test]
fn without_watching_a_scheduled_run_reconciles_once() {
    let f = fixture(Settings::default());
    let outcome = f.run(scheduled());
    assert!(outcome.watch.is_none());
    assert_eq!(f.seconds_of("GetQueueAttributes"), [0]);
}

#[test]
fn another_writers_save_between_ticks_makes_the_next_write_read_the_target_again() {
    let f = fixture(watching(10));
    f.world
        .queues
        .set_depth_from("orders", secs(15), depth(300));
    f.world
        .queues
        .set_depth_from("orders", secs(35), depth(800));
    // A steady history, so that the first pass writes nothing; then someone else (the
    // function that takes events, say) saves orders' history right before the tick of 20 s
    // saves it.
    let key = lambda_autoscaler::memory::MemoryLambda::arn("orders");
    let steady = History {
        recommendations: vec![Recommendation {
            value: 5,
            until: None,
        }],
        in_force_since: Some(NOW - 600),
        ..History::default()
    };
    f.world.state.put(&key, steady.clone());
    f.world.state.interfere(&key, steady);
    let outcome = f.run(scheduled());
    // The conflict reads the function and its state again (at 20 s, after the tick's own
    // read of the versions), decides again, and the next change (40 s) writes against the
    // version that read found.
    assert!(f.writes_from(Duration::ZERO)[0].at >= secs(20));
    assert_eq!(f.seconds_of("GetFunction"), [0, 0, 20]);
    assert_eq!(f.seconds_of("BatchGetItem"), [0, 10, 20, 20, 30, 40, 50]);
    assert_eq!(f.seconds_of("PutFunctionConcurrency"), [20, 40]);
    assert_eq!(f.world.lambda.reserved("orders"), Some(80));
    let ticks = tick_records(&outcome);
    assert!(
        ticks[0].reasons[0].contains("read and decided again"),
        "{:?}",
        ticks[0].reasons
    );
}

#[test]
fn a_dry_run_watch_reports_a_would_be_change_once_and_writes_nothing() {
    let mut settings = watching(10);
    settings.dry_run = true;
    let f = fixture(settings);
    f.world
        .queues
        .set_depth_from("orders", secs(15), depth(300));
    let outcome = f.run(scheduled());
    assert!(f.writes_from(Duration::ZERO).is_empty());
    // Would set 30 from 20 s on; said once, not at every tick.
    let ticks = tick_records(&outcome);
    assert_eq!(ticks.len(), 1, "{:#?}", ticks);
    assert_eq!(ticks[0].desired, Some(30));
}

#[test]
fn an_alarm_the_first_pass_could_not_read_is_read_again_by_the_ticks() {
    let f = fixture(watching(10));
    f.world.faults.inject(
        "DescribeAlarms",
        None,
        Some("ThrottlingException"),
        "slow down",
        Some(1),
    );
    f.world.cloudwatch.set_alarm("db", Alarm);
    f.run(scheduled());
    // The first pass holds (missing data); the tick of 10 s reads the cap and acts.
    assert_eq!(f.seconds_of("PutFunctionConcurrency"), [10]);
    assert_eq!(f.world.lambda.reserved("orders"), Some(3));
}

#[test]
fn a_ticks_calls_grow_with_queues_and_alarms_not_with_functions() {
    // 300 consumers, each with its queue and an alarm: a tick reads each queue once, the
    // alarms 100 at a time and the saved states' versions 100 at a time, and nothing else
    // while nothing changes.
    let n = 300;
    let targets: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"function":"t{i}","min":1,"max":100,"queue":{{"name":"q{i}","messages_per_instance":10}},
                   "alarms":[{{"name":"a{i}","on_alarm":{{"cap":1}}}}]}}"#
            )
        })
        .collect();
    let policy = format!(r#"{{"targets":[{}]}}"#, targets.join(","));
    let settings = watching(10);
    let world = World::new(NOW);
    let ctx = world.context(settings.control_plane_rps, settings.get_function_rps, true);
    let autoscaler = Autoscaler::new(Policy::from_json(&policy, "test"), settings, ctx);
    for i in 0..n {
        world.lambda.add(&format!("t{i}"), Some(5), &[]);
        world.queues.set_depth(&format!("q{i}"), depth(50));
        world.cloudwatch.set_alarm(&format!("a{i}"), Fine);
    }
    let f = Fixture { world, autoscaler };
    let outcome = f.run(scheduled());
    let ticks = outcome.watch.unwrap().ticks as usize;
    assert_eq!(ticks, 5);
    let in_ticks = |operation: &str| {
        f.calls(operation)
            .iter()
            .filter(|c| c.at >= secs(10))
            .count()
    };
    assert_eq!(in_ticks("GetQueueAttributes"), n * ticks);
    assert_eq!(in_ticks("DescribeAlarms"), 3 * ticks);
    assert_eq!(in_ticks("BatchGetItem"), 3 * ticks);
    for operation in ["GetFunction", "GetQueueUrl", "ListEventSourceMappings"] {
        assert_eq!(in_ticks(operation), 0, "{operation}");
    }
    assert!(f.writes_from(secs(10)).is_empty());
}

#[test]
fn a_target_that_fails_at_every_tick_is_logged_once_while_it_fails_the_same_way() {
    let f = fixture(watching(10));
    // The queue asks for 20, more than the 5 reserved; every write of the reservation fails.
    f.world.queues.set_depth("orders", depth(200));
    f.world.faults.inject(
        "PutFunctionConcurrency",
        Some("orders"),
        Some("ServiceException"),
        "injected",
        None,
    );
    let (outcome, logs) = logs::logged(|| {
        let deadline = f.autoscaler.deadline_after(secs(60));
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f.autoscaler.handle(&scheduled(), Some(deadline)))
    });
    assert!(outcome.is_err());
    assert!(
        f.calls("PutFunctionConcurrency").len() > 2,
        "it tried at the ticks too"
    );
    let failed: Vec<&String> = (logs.iter())
        .filter(|l| l.starts_with(" WARN") && l.contains("a target failed"))
        .collect();
    assert_eq!(failed.len(), 1, "{logs:#?}");
    assert!(failed[0].contains("orders"), "{logs:#?}");
}

/// The deployed pair of a watching deployment sharing one world: the watcher (which takes
/// the schedule) and the function that takes events, each with its own clients and its
/// own mapping listing (kept 5 minutes in a warm container).
fn pair(policy: &str) -> (World, Autoscaler, Autoscaler) {
    let world = World::new(NOW);
    let autoscaler = |settings: Settings| {
        let ctx = world.context(settings.control_plane_rps, settings.get_function_rps, true);
        Autoscaler::new(Policy::from_json(policy, "test"), settings, ctx)
    };
    let watcher = autoscaler(watching(10));
    let events = autoscaler(Settings::default());
    (world, watcher, events)
}

fn run_on(autoscaler: &Autoscaler, event: Value) -> Outcome {
    let deadline = autoscaler.deadline_after(secs(60));
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(autoscaler.handle(&event, Some(deadline)))
        .unwrap()
}

/// A consumer of 10 (100 messages, 10 per instance) with a cap or a breaker on `alarm`.
fn capped_consumer(cap: u32) -> String {
    format!(
        r#"{{"targets": [
      {{ "function": "orders", "min": 0, "allow_zero": true, "max": 100, "tolerance": 0,
        "scale_out_cooldown_seconds": 30, "scale_in_cooldown_seconds": 0,
        "scale_in_stabilization_seconds": 0,
        "queue": {{ "name": "orders", "messages_per_instance": 10 }},
        "alarms": [ {{ "name": "db", "on_alarm": {{ "cap": {cap} }} }} ] }}
    ]}}"#
    )
}

#[test]
fn a_cap_the_other_function_set_and_the_watcher_lifts_raises_the_mapping_with_the_reservation() {
    let (world, watcher, events) = pair(&capped_consumer(3));
    world
        .lambda
        .add("orders", Some(10), &[("autoscaler:enabled", "true")]);
    let m = world.lambda.add_mapping("orders", "orders", None, true);
    world.cloudwatch.set_alarm("db", Fine);
    world.queues.set_depth("orders", depth(100));
    // The watcher's run brings the mapping within the reservation, 10.
    run_on(&watcher, scheduled());
    assert_eq!(world.lambda.mapping(&m).maximum_concurrency, Some(10));
    // The alarm fires: the function that takes events caps the mapping and the reservation.
    world.cloudwatch.set_alarm("db", Alarm);
    run_on(&events, alarm_event("db", "ALARM"));
    assert_eq!(world.lambda.reserved("orders"), Some(3));
    assert_eq!(world.lambda.mapping(&m).maximum_concurrency, Some(3));
    // OK 3 s later: held by its scale-out cooldown (30 s).
    world.clock.advance(secs(3));
    world.cloudwatch.set_alarm("db", Fine);
    run_on(&events, alarm_event("db", "OK"));
    assert_eq!(world.lambda.reserved("orders"), Some(3));
    // The watcher's next run lifts the cap: its listing still says 10, Lambda says 3.
    world.clock.advance(secs(120) - world.clock.elapsed());
    let outcome = run_on(&watcher, scheduled());
    assert_eq!(world.lambda.reserved("orders"), Some(10));
    assert_eq!(
        world.lambda.mapping(&m).maximum_concurrency,
        Some(10),
        "{:#?}",
        outcome.decisions[0]
    );
    assert!(
        (outcome.decisions[0].reasons.iter())
            .any(|r| r.contains("event source mappings changed since the account's listing")),
        "{:#?}",
        outcome.decisions[0].reasons
    );
}

#[test]
fn a_breaker_the_other_function_set_and_the_watcher_lifts_resumes_the_consumer() {
    let (world, watcher, events) = pair(&capped_consumer(0));
    world
        .lambda
        .add("orders", Some(10), &[("autoscaler:enabled", "true")]);
    let m = world.lambda.add_mapping("orders", "orders", None, true);
    world.cloudwatch.set_alarm("db", Fine);
    world.queues.set_depth("orders", depth(100));
    run_on(&watcher, scheduled());
    // The breaker opens: the function that takes events pauses the consumer.
    world.cloudwatch.set_alarm("db", Alarm);
    run_on(&events, alarm_event("db", "ALARM"));
    assert_eq!(world.lambda.reserved("orders"), Some(0));
    assert_eq!(world.lambda.mapping(&m).state, "Disabled");
    // It closes, and the OK event does not get to act (its invocation failed, say): the
    // watcher's next run lifts it, and must resume the consumer with the reservation.
    world.clock.advance(secs(3));
    world.cloudwatch.set_alarm("db", Fine);
    world.clock.advance(secs(120) - world.clock.elapsed());
    run_on(&watcher, scheduled());
    assert_eq!(world.lambda.reserved("orders"), Some(10));
    assert_eq!(world.lambda.mapping(&m).state, "Enabled");
    assert_eq!(world.lambda.mapping(&m).maximum_concurrency, Some(10));
}

#[test]
fn the_summary_counts_the_ticks_that_ran_when_a_slow_tick_skips_a_slot() {
    let f = fixture(watching(10));
    f.world
        .queues
        .set_depth_from("orders", secs(15), depth(300));
    let key = lambda_autoscaler::memory::MemoryLambda::arn("orders");
    let steady = History {
        recommendations: vec![Recommendation {
            value: 5,
            until: None,
        }],
        in_force_since: Some(NOW - 600),
        ..History::default()
    };
    f.world.state.put(&key, steady.clone());
    // Another writer saves an attempt (5 -> 7) just before the tick of 20 s saves: that tick
    // reads again and waits for the attempt to be unable to land (12 s), past the slot of 30 s.
    let mut theirs = steady;
    theirs.activities.push(lambda_autoscaler::state::Activity {
        at: NOW + 20,
        trigger: "alarm".into(),
        previous: Some(5),
        desired: Some(7),
        reasons: vec![],
        outcome: lambda_autoscaler::state::ActivityOutcome::Pending,
    });
    f.world.state.interfere(&key, theirs);
    let outcome = f.run(scheduled());
    // The first pass reads the queue once, then each tick once.
    let ticks_ran = f.seconds_of("GetQueueAttributes").len() - 1;
    assert!(
        f.seconds_of("GetQueueAttributes")
            .windows(2)
            .any(|w| w[1] - w[0] > 10),
        "a slot was skipped: {:?}",
        f.seconds_of("GetQueueAttributes")
    );
    assert_eq!(outcome.watch.unwrap().ticks as usize, ticks_ran);
}

#[test]
fn another_writers_change_that_a_tick_would_not_undo_by_itself_is_seen_at_the_next_tick() {
    // The queue needs 5 (50 messages, 10 per instance), as reserved. Between the ticks of
    // 10 and 20 s the function that takes events scales in to 1 (its queue-depth event saw
    // the queue empty for a moment) and saves its history. The ticks' own view still says
    // 5, which is what they decide: without reading the history they would write nothing
    // and leave 1 until the next scheduled run.
    let f = fixture(watching(10));
    let key = lambda_autoscaler::memory::MemoryLambda::arn("orders");
    let deadline = f.autoscaler.deadline_after(secs(60));
    let other_writer = async {
        while f.world.clock.elapsed() < secs(12) {
            tokio::task::yield_now().await;
        }
        let (mut history, _) = f.world.state.get(&key).unwrap_or_default();
        history.last_change = Some(lambda_autoscaler::state::LastChange {
            at: NOW + 12,
            direction: lambda_autoscaler::state::Direction::In,
        });
        f.world.state.put(&key, history);
        f.world.lambda.land_at("orders", 1, f.world.clock.elapsed());
    };
    let outcome = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let event = scheduled();
            let (outcome, ()) =
                futures::join!(f.autoscaler.handle(&event, Some(deadline)), other_writer);
            outcome.unwrap()
        });
    assert_eq!(f.world.lambda.reserved("orders"), Some(5));
    assert_eq!(f.seconds_of("PutFunctionConcurrency"), [20]);
    assert_eq!(outcome.watch.unwrap().changes, 1);
}

#[test]
fn each_function_of_the_pair_is_a_process_of_its_own_that_waits_for_the_others_change() {
    // One function scales an SQS consumer out (its mapping is raised after the reservation,
    // so its change may still land for its lease, 12 s). A second later the queue has grown:
    // the same function decides at once, the other waits until that change can no longer
    // land, as two Lambda containers with their own writer marks do.
    let policy = r#"{"targets": [
      { "function": "orders", "min": 1, "max": 100, "tolerance": 0,
        "scale_out_cooldown_seconds": 0, "scale_in_cooldown_seconds": 0,
        "scale_in_stabilization_seconds": 0,
        "queue": { "name": "orders", "messages_per_instance": 10 } } ]}"#;
    let waits = |other: bool| {
        let (world, watcher, events) = pair(policy);
        world
            .lambda
            .add("orders", Some(5), &[("autoscaler:enabled", "true")]);
        world.lambda.add_mapping("orders", "orders", None, true);
        world.queues.set_depth("orders", depth(100));
        let event = json!({"queue": "orders"});
        run_on(&events, event.clone());
        assert_eq!(world.lambda.reserved("orders"), Some(10));
        world.clock.advance(secs(1));
        world.queues.set_depth("orders", depth(200));
        let before = world.clock.elapsed();
        run_on(if other { &watcher } else { &events }, event);
        assert_eq!(world.lambda.reserved("orders"), Some(20));
        world.clock.elapsed() - before
    };
    assert!(waits(false) < secs(1), "its own change never holds it");
    assert!(
        waits(true) >= secs(10),
        "the other's change holds it until it cannot land"
    );
}

/// A target that ignores its mappings, with a pause recorded before the switch that the
/// user keeps (the mapping stays disabled): its mappings are listed at most every 5 minutes
/// (they were listed at every tick, 11 times a minute at 5 s ticks).
#[test]
fn an_ignored_pause_is_checked_at_most_every_five_minutes_not_at_every_tick() {
    let policy = POLICY.replace(r#""min": 1,"#, r#""min": 1, "event_sources": "ignore","#);
    let f = fixture_of(&policy, watching(5));
    let m = f
        .world
        .lambda
        .add_mapping("orders", "orders", Some(5), false);
    let history = History {
        event_sources: vec![lambda_autoscaler::state::MappingRecord {
            uuid: m,
            ceiling: None,
            paused: true,
            held: false,
        }],
        ..History::default()
    };
    f.world.state.put(
        &lambda_autoscaler::memory::MemoryLambda::arn("orders"),
        history,
    );
    let outcome = f.run(scheduled());
    // The account's listing, for `reports`, which follows; and one of orders' own.
    let lists: Vec<_> = (f.world.calls.all().into_iter())
        .filter(|c| c.operation == "ListEventSourceMappings" && c.resource != "account")
        .map(|c| c.at)
        .collect();
    assert!(
        outcome.watch.as_ref().is_some_and(|w| w.ticks > 5),
        "{:?}",
        outcome.watch
    );
    assert_eq!(lists.len(), 1, "{lists:?}");
}
