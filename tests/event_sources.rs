//! SQS event source mappings that follow their function's reservation (src/event_sources.rs,
//! src/apply.rs), through the whole handler against the in-memory world: the order of the
//! writes, pauses and resumes, what a failed write leaves, and what the records keep.

use lambda_autoscaler::alarm::AlarmState::{self, Alarm, Ok as Fine};
use lambda_autoscaler::error::HandlerError;
use lambda_autoscaler::handler::Autoscaler;
use lambda_autoscaler::memory::{MemoryLambda, World};
use lambda_autoscaler::policy::Policy;
use lambda_autoscaler::ports::Clock;
use lambda_autoscaler::report::Outcome;
use lambda_autoscaler::settings::Settings;
use lambda_autoscaler::state::{Activity, ActivityOutcome, MappingRecord};
use serde_json::{json, Value};
use std::time::Duration;

const NOW: i64 = 1_700_000_000;

// Stability knobs off: these tests pin the orchestration of the writes.
const POLICY: &str = r#"{"targets": [
  { "function": "orders", "min": 2, "max": 100, "tolerance": 0, "scale_out_cooldown_seconds": 0,
    "scale_in_cooldown_seconds": 0, "scale_in_stabilization_seconds": 0, "alarms": [
      { "name": "backlog", "on_alarm": { "change": 10 }, "on_ok": { "change": -5 } },
      { "name": "db", "on_alarm": { "cap": 3 } },
      { "name": "breaker", "on_alarm": { "cap": 0 } } ] }
]}"#;

struct Fixture {
    world: World,
    autoscaler: Autoscaler,
}

fn fixture(policy: &str, reserved: u32) -> Fixture {
    fixture_of(policy, Some(reserved))
}

/// The autoscaler of `policy` in `world`.
fn autoscaler(world: &World, policy: &str) -> Autoscaler {
    let settings = Settings::default();
    let ctx = world.context(settings.control_plane_rps, settings.get_function_rps, true);
    Autoscaler::new(Policy::from_json(policy, "test"), settings, ctx)
}

/// `orders` with the reservation `reserved` (`None`: none yet) under `policy`.
fn fixture_of(policy: &str, reserved: Option<u32>) -> Fixture {
    let world = World::new(NOW);
    let autoscaler = autoscaler(&world, policy);
    world
        .lambda
        .add("orders", reserved, &[("autoscaler:enabled", "true")]);
    // The backlog alarm's state stays unknown (no opinion) unless a test sets it.
    for alarm in ["db", "breaker"] {
        world.cloudwatch.set_alarm(alarm, Fine);
    }
    Fixture { world, autoscaler }
}

/// POLICY with `min` 0 allowed, so that a breaker's cap 0 can hold.
fn breaker_policy() -> String {
    POLICY.replace(r#""min": 2,"#, r#""min": 0, "allow_zero": true,"#)
}

impl Fixture {
    fn mapping(&self, queue: &str, max: Option<u32>, enabled: bool) -> String {
        self.world.lambda.add_mapping("orders", queue, max, enabled)
    }

    fn alarm(&self, name: &str, state: AlarmState) {
        self.world.cloudwatch.set_alarm(name, state);
    }

    fn run(&self, event: Value) -> Result<Outcome, HandlerError> {
        self.run_until(event, None)
    }

    fn run_until(&self, event: Value, seconds: Option<f64>) -> Result<Outcome, HandlerError> {
        self.run_as(&self.autoscaler, event, seconds)
    }

    /// A run of `autoscaler` (another policy's, in the same world).
    fn run_as(
        &self,
        autoscaler: &Autoscaler,
        event: Value,
        seconds: Option<f64>,
    ) -> Result<Outcome, HandlerError> {
        let deadline = seconds.map(|s| autoscaler.deadline_after(Duration::from_secs_f64(s)));
        let outcome = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(autoscaler.handle(&event, deadline));
        // Later runs start later, as scheduled evaluations do.
        self.world.clock.advance(Duration::from_secs(60));
        outcome
    }

    fn reserved(&self) -> Option<u32> {
        self.world.lambda.reserved("orders")
    }

    fn max_of(&self, uuid: &str) -> Option<u32> {
        self.world.lambda.mapping(uuid).maximum_concurrency
    }

    fn state_of(&self, uuid: &str) -> String {
        self.world.lambda.mapping(uuid).state
    }

    /// The Lambda writes and mapping reads, in order, as `operation resource`.
    fn writes(&self) -> Vec<String> {
        self.world
            .calls
            .all()
            .into_iter()
            .filter(|c| {
                matches!(
                    c.operation,
                    "PutFunctionConcurrency" | "UpdateEventSourceMapping" | "GetEventSourceMapping"
                )
            })
            .map(|c| format!("{} {}", c.operation, c.resource))
            .collect()
    }

    fn records(&self) -> Vec<MappingRecord> {
        self.world
            .state
            .get(&MemoryLambda::arn("orders"))
            .map(|(h, _)| h.event_sources)
            .unwrap_or_default()
    }

    fn clear(&self) {
        self.world.calls.clear();
    }

    /// Makes every call of `operation` fail with AWS error `code`.
    fn fail(&self, operation: &'static str, code: &str) {
        self.world
            .faults
            .inject(operation, None, Some(code), "injected", None);
    }
}

fn alarm_event(name: &str, state: &str) -> Value {
    json!({
        "source": "aws.cloudwatch",
        "alarmData": { "alarmName": name, "state": { "value": state } }
    })
}

fn scheduled() -> Value {
    json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
}

fn has_reason(outcome: &Outcome, text: &str) -> bool {
    outcome.decisions[0]
        .reasons
        .iter()
        .any(|r| r.contains(text))
}

const PUT: &str = "PutFunctionConcurrency orders";

fn update(uuid: &str) -> String {
    format!("UpdateEventSourceMapping {uuid}")
}

// ---- order of the writes ----------------------------------------------------------------

#[test]
fn a_cap_lowers_the_mapping_first_then_the_reservation_without_waiting_for_it_to_settle() {
    let f = fixture(POLICY, 10);
    let m = f.mapping("orders-q", None, true);
    f.world.lambda.set_mapping_settle_reads(3);
    f.alarm("db", Alarm);
    let outcome = f.run(alarm_event("db", "ALARM")).unwrap();
    assert_eq!(f.writes(), [update(&m), PUT.to_owned()]);
    assert_eq!(f.reserved(), Some(3));
    assert_eq!(f.max_of(&m), Some(3));
    assert!(has_reason(&outcome, "without waiting for the"));
    let sources = &outcome.decisions[0].event_sources;
    assert_eq!(sources[0].maximum_concurrency.previous, None);
    assert_eq!(sources[0].maximum_concurrency.desired, Some(3));
    assert!(sources[0].applied);
}

#[test]
fn a_scale_out_raises_the_reservation_first_then_the_mapping() {
    let f = fixture(POLICY, 5);
    let m = f.mapping("orders-q", None, true);
    // The first evaluation brings the mapping within the reservation (5).
    f.run(scheduled()).unwrap();
    assert_eq!(f.max_of(&m), Some(5));
    f.clear();
    f.alarm("backlog", Alarm);
    f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!(f.writes(), [PUT.to_owned(), update(&m)]);
    assert_eq!((f.reserved(), f.max_of(&m)), (Some(15), Some(15)));
}

#[test]
fn a_cap_waits_for_another_writers_scale_out_whose_mapping_raise_may_still_land() {
    let f = fixture(POLICY, 5);
    let m = f.mapping("orders-q", None, true);
    // The autoscaler manages the mapping (it brought it within the reservation, 5).
    f.run(scheduled()).unwrap();
    assert_eq!(f.max_of(&m), Some(5));
    // Another writer (the watcher) saved a scale-out 5 -> 15 just now; its reservation has
    // landed, and its mapping raise (after the reservation) lands 2 s from now.
    let arn = MemoryLambda::arn("orders");
    let (mut theirs, _) = f.world.state.get(&arn).unwrap();
    theirs.activities.push(Activity {
        at: f.world.clock.epoch_seconds(),
        trigger: "queue orders-q".into(),
        previous: Some(5),
        desired: Some(15),
        reasons: vec![],
        outcome: ActivityOutcome::Pending,
    });
    f.world.state.put(&arn, theirs);
    let now = f.world.clock.elapsed();
    f.world.lambda.land_at("orders", 15, now);
    f.world
        .lambda
        .raise_mapping_at(&m, 15, now + Duration::from_secs(2));
    f.alarm("db", Alarm);
    let outcome = f.run(alarm_event("db", "ALARM")).unwrap();
    // Capped after their raise could land, so it does not land over the cap's lowering.
    assert_eq!(f.reserved(), Some(3), "{:?}", outcome.decisions);
    assert_eq!(f.max_of(&m), Some(3), "{:?}", outcome.decisions);
    assert_eq!(
        (outcome.decisions[0].previous, outcome.decisions[0].desired),
        (Some(15), Some(3))
    );
}

#[test]
fn a_decrease_writes_every_mapping_change_before_the_reservation_even_a_raise() {
    let f = fixture(POLICY, 20);
    let a = f.mapping("orders-a", None, true);
    let b = f.mapping("orders-b", None, true);
    f.run(scheduled()).unwrap();
    assert_eq!((f.max_of(&a), f.max_of(&b)), (Some(10), Some(10)));
    // b leaves the reservation's care (provisioned mode): a alone takes the share.
    f.world.lambda.make_provisioned(&b);
    f.clear();
    f.alarm("backlog", Fine);
    f.run(alarm_event("backlog", "OK")).unwrap();
    assert_eq!((f.reserved(), f.max_of(&a)), (Some(15), Some(15)));
    // a's raise (10 -> 15) goes before the reservation's decrease (20 -> 15): after it,
    // another writer that finds the reservation at 15 knows the whole change has landed.
    assert_eq!(f.writes(), [update(&a), PUT.to_owned()]);
}

#[test]
fn a_budget_below_one_call_a_second_renews_the_window_before_a_write_whose_slot_is_far() {
    // One control-plane call every 5.125 s: the reservation's slot comes later than 5 s
    // after the saved attempt, once the mapping has taken the first.
    let world = World::new(NOW);
    let ctx = world.context(0.2, 50.0, true);
    let autoscaler = Autoscaler::new(Policy::from_json(POLICY, "test"), Settings::default(), ctx);
    world
        .lambda
        .add("orders", Some(10), &[("autoscaler:enabled", "true")]);
    world.cloudwatch.set_alarm("breaker", Fine);
    world.cloudwatch.set_alarm("db", Alarm);
    let m = world
        .lambda
        .add_mapping("orders", "orders-q", Some(10), true);
    let event = alarm_event("db", "ALARM");
    let outcome = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(autoscaler.handle(&event, None))
        .unwrap();
    assert_eq!(
        world.lambda.reserved("orders"),
        Some(3),
        "{:?}",
        outcome.decisions
    );
    assert_eq!(world.lambda.mapping(&m).maximum_concurrency, Some(3));
    // The history was saved again before the reservation's write (a renewed window).
    assert!(world.calls.count("PutItem") >= 2);
}

#[test]
fn a_plain_scale_in_waits_for_the_mapping_to_settle_before_the_reservation() {
    let f = fixture(POLICY, 20);
    let m = f.mapping("orders-q", Some(20), true);
    f.world.lambda.set_mapping_settle_reads(2);
    f.alarm("backlog", Fine);
    f.run(alarm_event("backlog", "OK")).unwrap();
    let get = format!("GetEventSourceMapping {m}");
    assert_eq!(f.writes(), [update(&m), get.clone(), get, PUT.to_owned()]);
    assert_eq!((f.reserved(), f.max_of(&m)), (Some(15), Some(15)));
    assert_eq!(f.state_of(&m), "Enabled");
}

#[test]
fn a_scale_in_whose_mapping_does_not_settle_before_the_deadline_leaves_the_reservation() {
    let f = fixture(POLICY, 20);
    let m = f.mapping("orders-q", Some(20), true);
    f.world.lambda.set_mapping_settle_reads(10_000);
    f.alarm("backlog", Fine);
    let outcome = f
        .run_until(alarm_event("backlog", "OK"), Some(10.0))
        .unwrap();
    assert_eq!(
        f.reserved(),
        Some(20),
        "the reservation waits for the next run"
    );
    assert_eq!(f.max_of(&m), Some(15), "the mapping went first");
    assert!(has_reason(&outcome, "is still Updating"), "{outcome:?}");
    assert!(!outcome.decisions[0].applied);
}

#[test]
fn a_scale_in_whose_mapping_settles_slowly_saves_again_before_the_reservation() {
    // Writes start within 5 s of the saved attempt (src/lease.rs): a mapping that takes 8 s
    // to settle makes the writer save the history again (renewing that window, and checking
    // that nobody else wrote) before the reservation.
    let f = fixture(POLICY, 20);
    let m = f.mapping("orders-q", Some(20), true);
    f.world.lambda.set_mapping_settle_reads(8);
    f.alarm("backlog", Fine);
    f.run(alarm_event("backlog", "OK")).unwrap();
    assert_eq!((f.reserved(), f.max_of(&m)), (Some(15), Some(15)));
    assert_eq!(f.world.calls.count("PutItem"), 2, "the attempt, then again");

    // Settled within the window: one save.
    let f = fixture(POLICY, 20);
    let m = f.mapping("orders-q", Some(20), true);
    f.world.lambda.set_mapping_settle_reads(2);
    f.alarm("backlog", Fine);
    f.run(alarm_event("backlog", "OK")).unwrap();
    assert_eq!((f.reserved(), f.max_of(&m)), (Some(15), Some(15)));
    assert_eq!(f.world.calls.count("PutItem"), 1);
}

/// A slow scale-in (20 -> 15) whose renewal save, once its mapping was lowered, meets
/// another writer's save `conflicts` times: the fixture and the mapping.
fn lowered_then_conflicts(conflicts: usize) -> (Fixture, String) {
    let f = fixture(POLICY, 20);
    let m = f.mapping("orders-q", Some(20), true);
    f.world.lambda.set_mapping_settle_reads(8);
    f.alarm("backlog", Fine);
    let arn = lambda_autoscaler::memory::MemoryLambda::arn("orders");
    f.world.state.let_through(&arn);
    for _ in 0..conflicts {
        (f.world.state).interfere(&arn, lambda_autoscaler::state::History::default());
    }
    (f, m)
}

/// The outcome and the error of handling `event`, as the CLI reports both.
fn reporting(f: &Fixture, event: Value) -> (Outcome, Option<HandlerError>) {
    let trigger = lambda_autoscaler::trigger::parse_event(&event).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f.autoscaler.handle_reporting(trigger, None))
        .unwrap()
}

#[test]
fn a_conflict_met_after_the_mappings_were_lowered_still_reports_them() {
    // The renewal save of a slow scale-in meets another writer's save once the mapping was
    // lowered: decided again, the record says what was written before; met again, the error
    // does not say "nothing was changed".
    let lowered_then_conflicts = |conflicts: usize| {
        let (f, m) = lowered_then_conflicts(conflicts);
        let result = f.run(alarm_event("backlog", "OK"));
        assert_eq!(f.max_of(&m), Some(15));
        (result, m)
    };
    let (once, m) = lowered_then_conflicts(1);
    let wrote = format!("before the saved state changed, this evaluation wrote event source mapping {m}, which stands");
    assert!(has_reason(&once.unwrap(), &wrote));
    let (twice, m) = lowered_then_conflicts(2);
    let err = twice.unwrap_err();
    assert_eq!(err.error_type(), "StateConflict");
    assert!(
        err.to_string().contains(&format!(
            "nothing more was changed after event source mapping {m}, which stands"
        )),
        "{err}"
    );
}

#[test]
fn a_conflicts_record_and_error_keep_the_mapping_written_before_it() {
    // Met twice: the record of the unresolved conflict shows the mapping as written.
    let (f, m) = lowered_then_conflicts(2);
    let (outcome, error) = reporting(&f, alarm_event("backlog", "OK"));
    assert_eq!(f.max_of(&m), Some(15));
    assert_eq!(error.unwrap().error_type(), "StateConflict");
    let source = &outcome.decisions[0].event_sources[0];
    assert_eq!((source.uuid.as_str(), source.applied), (m.as_str(), true));
    assert_eq!(source.maximum_concurrency.desired, Some(15));

    // Met once, and reading the target again fails: the error names the mapping written.
    let (f, m) = lowered_then_conflicts(1);
    f.world.faults.inject_after(
        1,
        "GetFunction",
        None,
        Some("ServiceException"),
        "injected",
        None,
    );
    let error = f.run(alarm_event("backlog", "OK")).unwrap_err();
    assert_eq!(f.max_of(&m), Some(15));
    assert_eq!(error.error_type(), "AwsCallFailed");
    assert!(
        error.to_string().contains(&format!(
            "before that, this evaluation wrote event source mapping {m}, which stands"
        )),
        "{error}"
    );
}

// ---- pause and resume -------------------------------------------------------------------

#[test]
fn a_breaker_pauses_the_consumer_and_its_recovery_resumes_only_what_the_autoscaler_paused() {
    let f = fixture(&breaker_policy(), 10);
    let ours = f.mapping("orders-q", None, true);
    let by_hand = f.mapping("audit-q", Some(5), false);
    f.alarm("breaker", Alarm);
    let outcome = f.run(alarm_event("breaker", "ALARM")).unwrap();
    assert_eq!(f.writes(), [update(&ours), PUT.to_owned()]);
    assert_eq!(f.reserved(), Some(0));
    assert_eq!(f.state_of(&ours), "Disabled");
    assert!(has_reason(&outcome, "pause them (disable)"));
    assert_eq!(
        f.records(),
        [MappingRecord {
            uuid: ours.clone(),
            ceiling: None,
            paused: true,
            held: false,
        }]
    );
    let paused = f
        .world
        .cloudwatch
        .published()
        .into_iter()
        .filter(|(_, p)| p.metric == "PausedConsumers")
        .map(|(_, p)| p.value)
        .collect::<Vec<_>>();
    assert_eq!(paused, [1.0]);

    f.clear();
    f.alarm("breaker", Fine);
    let outcome = f.run(scheduled()).unwrap();
    // Nothing proposes a value: the floor (2 per followed mapping) brings it back.
    assert_eq!(f.writes(), [PUT.to_owned(), update(&ours)]);
    assert_eq!(f.reserved(), Some(2));
    assert_eq!(
        (f.state_of(&ours), f.max_of(&ours)),
        ("Enabled".into(), Some(2))
    );
    assert_eq!(
        f.state_of(&by_hand),
        "Disabled",
        "disabled by hand: left alone"
    );
    assert!(has_reason(&outcome, "disabled by someone else"));
    // Recorded as paused until a plan finds it enabled (a failed resume is tried again).
    assert!(f.records()[0].paused && !f.records()[0].held);
    f.run(scheduled()).unwrap();
    assert!(!f.records()[0].paused);
}

#[test]
fn a_resume_that_fails_is_tried_again_and_the_consumer_does_not_stay_paused() {
    let f = fixture(&breaker_policy(), 10);
    let m = f.mapping("orders-q", None, true);
    f.alarm("breaker", Alarm);
    f.run(alarm_event("breaker", "ALARM")).unwrap();
    assert_eq!(f.state_of(&m), "Disabled");
    // Recovery: the history is saved with the resume, and the resume's write then fails.
    f.world.faults.inject(
        "UpdateEventSourceMapping",
        None,
        Some("InvalidParameterValueException"),
        "injected",
        Some(1),
    );
    f.alarm("breaker", Fine);
    f.run(scheduled()).unwrap_err();
    assert_eq!(f.state_of(&m), "Disabled");
    assert!(
        f.records()[0].paused,
        "recorded as paused until it is enabled"
    );
    // The next run, without the fault, resumes it; the one after records it enabled.
    f.run(scheduled()).unwrap();
    assert_eq!(f.state_of(&m), "Enabled");
    f.run(scheduled()).unwrap();
    assert!(!f.records()[0].paused);
    assert_eq!(f.state_of(&m), "Enabled");
}

#[test]
fn a_pause_outlives_a_saved_state_set_aside_for_its_clock() {
    let f = fixture(&breaker_policy(), 10);
    let m = f.mapping("orders-q", None, true);
    f.alarm("breaker", Alarm);
    f.run(alarm_event("breaker", "ALARM")).unwrap();
    assert_eq!(f.state_of(&m), "Disabled");
    // A CLI run from a machine whose clock is an hour ahead saved the item: the next
    // evaluation sets its history aside, but not the pause record.
    let arn = MemoryLambda::arn("orders");
    let (mut skewed, _) = f.world.state.get(&arn).unwrap();
    if let Some(change) = skewed.last_change.as_mut() {
        change.at += 3600;
    }
    f.world.state.put(&arn, skewed);
    f.alarm("breaker", Fine);
    let outcome = f.run(scheduled()).unwrap();
    assert!(has_reason(&outcome, "saved state is from the future"));
    assert_eq!(f.state_of(&m), "Enabled", "{:?}", outcome.decisions);
    assert!(!has_reason(&outcome, "disabled by someone else"));
}

#[test]
fn a_cap_below_two_per_mapping_pauses_both_mappings_of_a_function() {
    let f = fixture(POLICY, 10);
    let a = f.mapping("a-q", None, true);
    let b = f.mapping("b-q", None, true);
    f.alarm("db", Alarm);
    f.run(alarm_event("db", "ALARM")).unwrap();
    assert_eq!(f.reserved(), Some(3));
    assert_eq!(
        (f.state_of(&a), f.state_of(&b)),
        ("Disabled".into(), "Disabled".into())
    );
}

#[test]
fn two_mappings_share_the_reservation_evenly_and_min_rises_to_two_each() {
    let policy = POLICY.replace(r#""min": 2,"#, r#""min": 1,"#);
    let f = fixture(&policy, 1);
    let a = f.mapping("a-q", None, true);
    let b = f.mapping("b-q", None, true);
    let outcome = f.run(scheduled()).unwrap();
    assert_eq!(f.reserved(), Some(4), "2 for each mapping, not min 1");
    assert!(has_reason(&outcome, "below the event source floor 4"));
    assert_eq!((f.max_of(&a), f.max_of(&b)), (Some(2), Some(2)));
    f.alarm("backlog", Alarm);
    f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!(f.reserved(), Some(14));
    assert_eq!((f.max_of(&a), f.max_of(&b)), (Some(7), Some(7)));
}

#[test]
fn the_users_maximum_is_a_ceiling_the_autoscaler_never_raises_the_mapping_above() {
    let f = fixture(POLICY, 10);
    let m = f.mapping("orders-q", Some(8), true);
    f.alarm("db", Alarm);
    f.run(alarm_event("db", "ALARM")).unwrap();
    assert_eq!(f.max_of(&m), Some(3));
    f.alarm("db", Fine);
    f.alarm("backlog", Alarm);
    let outcome = f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!(f.reserved(), Some(13));
    assert_eq!(f.max_of(&m), Some(8), "back to the user's 8, not 13");
    assert!(has_reason(
        &outcome,
        "5 of the reservation left to other invokers"
    ));
}

#[test]
fn a_steady_target_with_a_mapping_writes_nothing() {
    let f = fixture(POLICY, 5);
    f.mapping("orders-q", None, true);
    f.run(scheduled()).unwrap();
    f.clear();
    f.run(scheduled()).unwrap();
    assert!(f.writes().is_empty(), "{:?}", f.writes());
    assert_eq!(f.world.calls.count("PutItem"), 0);
}

#[test]
fn ignore_leaves_the_mappings_alone() {
    let policy = POLICY.replace(
        r#""max": 100,"#,
        r#""max": 100, "event_sources": "ignore","#,
    );
    let f = fixture(&policy, 10);
    let m = f.mapping("orders-q", None, true);
    f.alarm("db", Alarm);
    let outcome = f.run(alarm_event("db", "ALARM")).unwrap();
    assert_eq!(f.reserved(), Some(3));
    assert_eq!(f.max_of(&m), None);
    assert!(outcome.decisions[0].event_sources.is_empty());
    assert_eq!(f.world.calls.count("ListEventSourceMappings"), 0);
}

#[test]
fn a_mapping_created_since_the_listing_is_found_before_a_decrease() {
    let f = fixture(POLICY, 20);
    let a = f.mapping("a-q", Some(20), true);
    f.run(scheduled()).unwrap();
    // Created after the account's listing, which this warm container keeps.
    let b = f.mapping("b-q", None, true);
    f.clear();
    f.alarm("backlog", Fine);
    let outcome = f.run(alarm_event("backlog", "OK")).unwrap();
    assert_eq!(
        f.world.calls.count("ListEventSourceMappings"),
        1,
        "the function's own"
    );
    assert_eq!(f.reserved(), Some(15));
    assert_eq!((f.max_of(&a), f.max_of(&b)), (Some(7), Some(8)));
    assert_eq!(&f.writes()[2..], [PUT.to_owned()]);
    assert!(has_reason(&outcome, "(1 then, 2 now)"));
}

// ---- failures ---------------------------------------------------------------------------

#[test]
fn a_failed_mapping_write_keeps_the_reservation_of_a_plain_scale_in() {
    let f = fixture(POLICY, 20);
    let m = f.mapping("orders-q", Some(20), true);
    f.fail("UpdateEventSourceMapping", "InvalidParameterValueException");
    f.alarm("backlog", Fine);
    let error = f.run(alarm_event("backlog", "OK")).unwrap_err();
    assert!(
        error.to_string().contains("UpdateEventSourceMapping"),
        "{error}"
    );
    assert_eq!((f.reserved(), f.max_of(&m)), (Some(20), Some(20)));
}

#[test]
fn a_failed_mapping_write_never_holds_back_a_cap_and_is_reported() {
    let f = fixture(POLICY, 20);
    let m = f.mapping("orders-q", Some(20), true);
    f.fail("UpdateEventSourceMapping", "InvalidParameterValueException");
    f.alarm("db", Alarm);
    let error = f.run(alarm_event("db", "ALARM")).unwrap_err();
    assert!(
        error.to_string().contains("UpdateEventSourceMapping"),
        "{error}"
    );
    assert_eq!(f.reserved(), Some(3), "protection first");
    assert_eq!(f.max_of(&m), Some(20));
}

#[test]
fn a_failed_reservation_write_after_the_mapping_leaves_the_mapping_within_it() {
    let f = fixture(POLICY, 20);
    let m = f.mapping("orders-q", Some(20), true);
    f.fail("PutFunctionConcurrency", "ResourceNotFoundException");
    f.alarm("backlog", Fine);
    assert!(f.run(alarm_event("backlog", "OK")).is_err());
    assert_eq!((f.reserved(), f.max_of(&m)), (Some(20), Some(15)));
}

#[test]
fn a_failed_mapping_write_after_a_scale_out_leaves_the_mapping_below_the_reservation() {
    let f = fixture(POLICY, 5);
    let m = f.mapping("orders-q", Some(5), true);
    f.run(scheduled()).unwrap();
    // The user's 5 is the ceiling: record a higher one to let the mapping grow.
    f.world.state.put(
        &MemoryLambda::arn("orders"),
        lambda_autoscaler::state::History {
            event_sources: vec![MappingRecord {
                uuid: m.clone(),
                ceiling: None,
                paused: false,
                held: false,
            }],
            ..Default::default()
        },
    );
    f.fail("UpdateEventSourceMapping", "InvalidParameterValueException");
    f.alarm("backlog", Alarm);
    let outcome = f.run(alarm_event("backlog", "ALARM"));
    assert!(outcome.is_err());
    assert_eq!((f.reserved(), f.max_of(&m)), (Some(15), Some(5)));
    // The activity says the reservation itself landed.
    let (history, _) = f.world.state.get(&MemoryLambda::arn("orders")).unwrap();
    let last = history.activities.last().unwrap();
    match &last.outcome {
        ActivityOutcome::Failed(detail) => assert!(
            detail.starts_with("the reservation was set to 15, but a mapping was not written"),
            "{detail}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_mapping_still_updating_is_retried_until_lambda_takes_the_write() {
    let f = fixture(POLICY, 10);
    let m = f.mapping("orders-q", None, true);
    f.world.faults.inject(
        "UpdateEventSourceMapping",
        None,
        Some("ResourceInUseException"),
        "The event source mapping is being updated",
        Some(2),
    );
    f.alarm("db", Alarm);
    f.run(alarm_event("db", "ALARM")).unwrap();
    assert_eq!(f.world.calls.count("UpdateEventSourceMapping"), 3);
    assert_eq!((f.reserved(), f.max_of(&m)), (Some(3), Some(3)));
}

#[test]
fn a_role_without_the_mapping_permissions_falls_back_to_the_reservation_alone() {
    let f = fixture(POLICY, 10);
    let m = f.mapping("orders-q", None, true);
    f.fail("UpdateEventSourceMapping", "AccessDeniedException");
    f.alarm("db", Alarm);
    let outcome = f.run(alarm_event("db", "ALARM")).unwrap();
    assert_eq!((f.reserved(), f.max_of(&m)), (Some(3), None));
    assert!(has_reason(&outcome, "the reservation acts alone"));

    let f = fixture(POLICY, 10);
    f.mapping("orders-q", None, true);
    f.fail("ListEventSourceMappings", "AccessDeniedException");
    f.alarm("db", Alarm);
    let outcome = f.run(alarm_event("db", "ALARM")).unwrap();
    assert_eq!(f.reserved(), Some(3));
    assert!(has_reason(&outcome, "may not list them"));
}

#[test]
fn unreadable_mappings_hold_a_scale_in_but_not_a_cap() {
    let f = fixture(POLICY, 20);
    f.mapping("orders-q", Some(20), true);
    f.fail("ListEventSourceMappings", "InvalidParameterValueException");
    f.alarm("backlog", Fine);
    let outcome = f.run(alarm_event("backlog", "OK")).unwrap();
    assert_eq!(f.reserved(), Some(20));
    assert!(has_reason(&outcome, "event source mappings unreadable"));
    f.alarm("db", Alarm);
    f.run(alarm_event("db", "ALARM")).unwrap();
    assert_eq!(f.reserved(), Some(3));
}

#[test]
fn a_direct_command_that_lowers_the_reservation_is_refused_while_the_mappings_are_unreadable() {
    let f = fixture(POLICY, 20);
    let m = f.mapping("orders-q", Some(20), true);
    f.fail("ListEventSourceMappings", "ServiceException");
    // Its pollers may run 20: at 5, their batches would be throttled and their messages
    // could end in the dead-letter queue.
    let error = f
        .run(json!({"function": "orders", "desiredConcurrency": 5}))
        .unwrap_err();
    assert_eq!(error.error_type(), "EventSourcesUnreadable", "{error}");
    assert!(
        error.to_string().contains("ListEventSourceMappings"),
        "{error}"
    );
    assert_eq!((f.reserved(), f.max_of(&m)), (Some(20), Some(20)));
    // A raise throttles nothing: it is carried out.
    f.run(json!({"function": "orders", "desiredConcurrency": 30}))
        .unwrap();
    assert_eq!(f.reserved(), Some(30));
}

#[test]
fn the_account_is_listed_page_by_page_once_for_many_targets() {
    let targets: Vec<String> = (0..30)
        .map(|i| format!(r#"{{ "function": "f{i}", "min": 2, "max": 10 }}"#))
        .collect();
    let policy = format!(r#"{{"targets": [{}]}}"#, targets.join(","));
    let world = World::new(NOW);
    let settings = Settings::default();
    let ctx = world.context(settings.control_plane_rps, settings.get_function_rps, true);
    let autoscaler = Autoscaler::new(Policy::from_json(&policy, "test"), settings, ctx);
    world.lambda.set_mapping_page_size(10);
    for i in 0..30 {
        let name = format!("f{i}");
        world.lambda.add(&name, Some(4), &[]);
        world
            .lambda
            .add_mapping(&name, &format!("q{i}"), Some(4), true);
    }
    let outcome = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(autoscaler.handle(&scheduled(), None))
        .unwrap();
    assert_eq!(outcome.decisions.len(), 30);
    assert_eq!(world.calls.count("ListEventSourceMappings"), 3);
    assert_eq!(world.calls.count("UpdateEventSourceMapping"), 0);
    assert!(outcome.decisions.iter().all(|d| d.event_sources.len() == 1));
}

#[test]
fn a_decrease_right_after_the_accounts_listing_does_not_list_the_function_again() {
    let f = fixture(POLICY, 20);
    let m = f.mapping("orders-q", Some(20), true);
    f.alarm("backlog", Fine);
    f.run(alarm_event("backlog", "OK")).unwrap();
    assert_eq!(f.world.calls.count("ListEventSourceMappings"), 1);
    assert_eq!((f.reserved(), f.max_of(&m)), (Some(15), Some(15)));
}

#[test]
fn an_operators_pause_holds_until_something_proposes_a_value_but_a_caps_lifts_with_the_cap() {
    let f = fixture(&breaker_policy(), 10);
    let m = f.mapping("orders-q", None, true);
    let outcome = f
        .run(json!({"function": "orders", "desiredConcurrency": 0}))
        .unwrap();
    assert_eq!((f.reserved(), f.state_of(&m)), (Some(0), "Disabled".into()));
    assert!(has_reason(&outcome, "until something proposes a value"));
    assert!(f.records()[0].held);
    // The next scheduled evaluation has nothing to propose: the pause holds.
    f.clear();
    let outcome = f.run(scheduled()).unwrap();
    assert!(f.writes().is_empty(), "{:?}", f.writes());
    assert_eq!((f.reserved(), f.state_of(&m)), (Some(0), "Disabled".into()));
    assert!(has_reason(&outcome, "the mappings stay paused at 0"));
    // A proposal ends it.
    f.alarm("backlog", Alarm);
    f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!((f.reserved(), f.state_of(&m)), (Some(10), "Enabled".into()));
    // Recorded as paused until a plan finds it enabled (a failed resume is tried again).
    assert!(f.records()[0].paused && !f.records()[0].held);
    f.run(scheduled()).unwrap();
    assert!(!f.records()[0].paused);
}

// ---- schedules (issue 15) ---------------------------------------------------------------

/// POLICY with `min` 0 and one window (NOW is 2023-11-14T22:13:20Z, a Tuesday).
fn scheduled_policy(window: &str) -> String {
    breaker_policy().replace(
        r#""alarms": ["#,
        &format!(r#""schedules": [{window}], "alarms": ["#),
    )
}

#[test]
fn a_night_window_pauses_the_consumer_and_the_morning_resumes_it() {
    let f = fixture(
        &scheduled_policy(
            r#"{"name": "night", "start": "0 22 * * *", "end": "0 6 * * *", "max": 0}"#,
        ),
        10,
    );
    let m = f.mapping("orders-q", None, true);
    // 22:13: the window's max 0 is below the floor, as explicit as a set: pause, then 0.
    let outcome = f.run(scheduled()).unwrap();
    assert_eq!(f.writes(), [update(&m), PUT.to_owned()]);
    assert_eq!((f.reserved(), f.state_of(&m)), (Some(0), "Disabled".into()));
    assert_eq!(outcome.decisions[0].schedules, ["night"]);
    assert!(has_reason(
        &outcome,
        "schedule night's max 0 is below the event source floor"
    ));
    assert!(f.records()[0].paused && !f.records()[0].held);
    // Later that night nothing moves.
    f.clear();
    f.run(scheduled()).unwrap();
    assert!(f.writes().is_empty(), "{:?}", f.writes());
    // 06:00: the window is over. Nothing proposes a value, and yet the consumer resumes:
    // a window's pause is not an operator's, which would hold.
    f.world.clock.advance(Duration::from_secs(8 * 3600));
    f.clear();
    let outcome = f.run(scheduled()).unwrap();
    assert_eq!(f.writes(), [PUT.to_owned(), update(&m)]);
    assert_eq!(
        (f.reserved(), f.state_of(&m), f.max_of(&m)),
        (Some(2), "Enabled".into(), Some(2))
    );
    assert!(outcome.decisions[0].schedules.is_empty());
    // Recorded as paused until a plan finds it enabled (a failed resume is tried again).
    assert!(f.records()[0].paused && !f.records()[0].held);
    f.run(scheduled()).unwrap();
    assert!(!f.records()[0].paused);
}

#[test]
fn a_breaker_holds_through_business_hours_and_the_window_applies_when_it_closes() {
    let f = fixture(
        &scheduled_policy(
            r#"{"name": "evening-rush", "start": "0 22 * * *", "duration_seconds": 7200, "min": 20}"#,
        ),
        10,
    );
    let m = f.mapping("orders-q", None, true);
    f.alarm("breaker", Alarm);
    let outcome = f.run(alarm_event("breaker", "ALARM")).unwrap();
    assert_eq!((f.reserved(), f.state_of(&m)), (Some(0), "Disabled".into()));
    assert!(has_reason(
        &outcome,
        "cap 0 wins over schedule evening-rush's min 20"
    ));
    assert_eq!(outcome.decisions[0].schedules, ["evening-rush"]);
    // The breaker closes while the window is still open: the window's min, and the mapping
    // resumes with it.
    f.alarm("breaker", Fine);
    f.run(alarm_event("breaker", "OK")).unwrap();
    assert_eq!(
        (f.reserved(), f.state_of(&m), f.max_of(&m)),
        (Some(20), "Enabled".into(), Some(20))
    );
}

#[test]
fn the_policys_event_source_ceiling_bounds_every_mapping_and_leaves_the_rest_to_other_invokers() {
    let policy = POLICY.replace(
        r#""max": 100,"#,
        r#""max": 100, "event_source_ceiling": 4,"#,
    );
    let f = fixture(&policy, 5);
    let m = f.mapping("orders-q", None, true);
    f.alarm("backlog", Alarm);
    let outcome = f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!((f.reserved(), f.max_of(&m)), (Some(15), Some(4)));
    assert!(has_reason(
        &outcome,
        "11 of the reservation left to other invokers"
    ));
}

// ---- what the writes leave between their steps ------------------------------------------

#[test]
fn a_decrease_lowers_its_mappings_before_it_raises_any_and_raises_none_after_a_failed_lower() {
    let f = fixture(POLICY, 20);
    let a = f.mapping("a-q", Some(4), true); // the user's 4: a's ceiling
    let b = f.mapping("b-q", None, true);
    f.run(scheduled()).unwrap();
    assert_eq!(
        (f.max_of(&a), f.max_of(&b), f.reserved()),
        (Some(4), Some(16), Some(20))
    );
    // A ceiling of 12 and a scale-in to 15 in one evaluation: a rises to 7 and b falls to 8.
    // b's lower fails: a must not have risen, or the mappings run 7 + 16 against 20.
    let ceiling = autoscaler(
        &f.world,
        &POLICY.replace(
            r#""max": 100,"#,
            r#""max": 100, "event_source_ceiling": 12,"#,
        ),
    );
    f.world.faults.inject(
        "UpdateEventSourceMapping",
        Some(&b),
        Some("InvalidParameterValueException"),
        "injected",
        None,
    );
    f.alarm("backlog", Fine);
    f.clear();
    let _ = f.run_as(&ceiling, alarm_event("backlog", "OK"), None);
    assert_eq!(
        (f.max_of(&a), f.max_of(&b), f.reserved()),
        (Some(4), Some(16), Some(20)),
        "{:?}",
        f.writes()
    );
    // Once b can be written, the lower goes first.
    f.world.faults.clear();
    f.clear();
    f.run_as(&ceiling, alarm_event("backlog", "OK"), None)
        .unwrap();
    assert_eq!(
        f.writes()
            .iter()
            .filter(|w| w.starts_with("Update"))
            .cloned()
            .collect::<Vec<_>>(),
        [
            format!("UpdateEventSourceMapping {b}"),
            format!("UpdateEventSourceMapping {a}")
        ]
    );
    assert!(f.max_of(&a).unwrap() + f.max_of(&b).unwrap() <= f.reserved().unwrap());
}

#[test]
fn a_save_that_fails_after_a_mapping_write_reports_the_write_not_nothing_changed() {
    let f = fixture(POLICY, 20);
    let m = f.mapping("orders-q", Some(20), true);
    // The mapping settles slowly: its start window runs out, and the save that renews it
    // (the second) fails.
    f.world.lambda.set_mapping_settle_reads(8);
    f.world.faults.inject_after(
        1,
        "PutItem",
        None,
        Some("ProvisionedThroughputExceededException"),
        "injected",
        None,
    );
    f.alarm("backlog", Fine);
    let error = f.run(alarm_event("backlog", "OK")).unwrap_err();
    assert_eq!((f.max_of(&m), f.reserved()), (Some(15), Some(20)));
    assert_eq!(error.error_type(), "StateUnavailable");
    let text = error.to_string();
    assert!(!text.contains("nothing was changed"), "{text}");
    assert!(
        text.contains(&format!("after writing event source mapping {m}:")),
        "{text}"
    );
}

#[test]
fn a_scale_in_waits_for_a_mapping_an_earlier_evaluation_left_updating() {
    let f = fixture(POLICY, 20);
    let m = f.mapping("orders-q", Some(20), true);
    // More reads than two runs of 10 s make, fewer than a run without a deadline waits.
    f.world.lambda.set_mapping_settle_reads(30);
    f.alarm("backlog", Fine);
    f.run_until(alarm_event("backlog", "OK"), Some(10.0))
        .unwrap();
    assert_eq!((f.reserved(), f.max_of(&m)), (Some(20), Some(15)));
    assert_eq!(f.state_of(&m), "Updating");
    // The next evaluation has no mapping to write, but the one written is still updating.
    let outcome = f
        .run_until(alarm_event("backlog", "OK"), Some(10.0))
        .unwrap();
    assert_eq!(f.state_of(&m), "Updating");
    assert_eq!(f.reserved(), Some(20), "{:?}", outcome.decisions[0].reasons);
    // Without a deadline the next one waits until it has settled, and goes on.
    f.run(alarm_event("backlog", "OK")).unwrap();
    assert_eq!((f.state_of(&m), f.reserved()), ("Enabled".into(), Some(15)));
}

#[test]
fn a_scale_out_is_written_though_a_mapping_could_not_be_brought_within_it() {
    let f = fixture(POLICY, 5);
    let m = f.mapping("orders-q", None, true);
    f.fail("UpdateEventSourceMapping", "InvalidParameterValueException");
    f.alarm("backlog", Alarm);
    let outcome = f.run(alarm_event("backlog", "ALARM"));
    // The reservation rises whatever the mapping runs: a larger one throttles less.
    assert_eq!((f.max_of(&m), f.reserved()), (None, Some(15)));
    let Err(error) = outcome else {
        panic!("the failed mapping write is reported")
    };
    assert!(error.to_string().contains("injected"), "{error}");
}

#[test]
fn a_first_reservation_waits_for_its_mappings_to_settle() {
    let f = fixture_of(POLICY, None);
    let m = f.mapping("orders-q", Some(200), true);
    f.world.lambda.set_mapping_settle_reads(2);
    f.alarm("backlog", Fine);
    let outcome = f.run(alarm_event("backlog", "OK")).unwrap();
    let d = &outcome.decisions[0];
    assert_eq!((d.previous, d.desired), (None, Some(95)), "{:?}", d.reasons);
    assert_eq!(
        f.writes(),
        [
            format!("UpdateEventSourceMapping {m}"),
            format!("GetEventSourceMapping {m}"),
            format!("GetEventSourceMapping {m}"),
            "PutFunctionConcurrency orders".to_owned(),
        ]
    );
}

#[test]
fn an_operators_pause_holds_through_a_cap_that_comes_and_goes() {
    let f = fixture(&breaker_policy(), 10);
    let m = f.mapping("orders-q", None, true);
    f.run(json!({"function": "orders", "desiredConcurrency": 0}))
        .unwrap();
    assert_eq!((f.reserved(), f.state_of(&m)), (Some(0), "Disabled".into()));
    f.alarm("breaker", Alarm);
    f.run(alarm_event("breaker", "ALARM")).unwrap();
    assert_eq!((f.reserved(), f.state_of(&m)), (Some(0), "Disabled".into()));
    // The breaker closes: nothing proposes a value, so the operator's pause still holds.
    f.alarm("breaker", Fine);
    let outcome = f.run(alarm_event("breaker", "OK")).unwrap();
    assert_eq!(
        (f.reserved(), f.state_of(&m)),
        (Some(0), "Disabled".into()),
        "{:?}",
        outcome.decisions[0].reasons
    );
}

#[test]
fn a_mapping_write_that_fails_after_an_earlier_attempts_write_shows_the_failure_and_says_the_earlier_stands(
) {
    // Lowered to 15, then a conflict; decided again, the same mapping's write fails: the
    // record shows that write failed (not applied), and says the earlier one stands.
    let (f, m) = lowered_then_conflicts(1);
    f.world.faults.inject_after(
        1,
        "UpdateEventSourceMapping",
        None,
        Some("ServiceException"),
        "injected",
        None,
    );
    let (outcome, _) = reporting(&f, alarm_event("backlog", "OK"));
    assert_eq!(f.max_of(&m), Some(15));
    let record = &outcome.decisions[0];
    let source = &record.event_sources[0];
    assert!(!source.applied, "{source:?}");
    assert!(source
        .error
        .as_deref()
        .is_some_and(|e| e.contains("injected")));
    assert!(
        (record.reasons.iter()).any(|r| r.contains(&format!(
            "event source {m} was set to maximum concurrency 15 and enabled earlier in this evaluation, which stands"
        ))),
        "{:#?}",
        record.reasons
    );
}

#[test]
fn a_cap_whose_mapping_writes_meet_the_deadline_still_writes_its_reservation() {
    // A cap of 3 on a function reserved at 40, its mapping throttled: the mapping's attempts
    // stop where the reservation's write still fits before the deadline's margin, and the cap
    // is written; the mapping follows at the next run (the record says deferred).
    for throttles in [3u32, 10] {
        let f = fixture(POLICY, 40);
        let m = f.mapping("orders-q", Some(40), true);
        f.world.faults.inject(
            "UpdateEventSourceMapping",
            None,
            Some("TooManyRequestsException"),
            "Rate exceeded",
            Some(throttles),
        );
        f.alarm("db", Alarm);
        // Throttled through all its attempts, the mapping write fails (reported), and the
        // cap is written all the same.
        let trigger = lambda_autoscaler::trigger::parse_event(&alarm_event("db", "ALARM")).unwrap();
        let deadline = f.autoscaler.deadline_after(Duration::from_secs(8));
        let (outcome, _) = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f.autoscaler.handle_reporting(trigger, Some(deadline)))
            .unwrap();
        let d = &outcome.decisions[0];
        assert_eq!(
            f.reserved(),
            Some(3),
            "throttles {throttles}: {:#?}",
            d.reasons
        );
        assert!(
            f.max_of(&m) == Some(3) || d.deferred || d.event_sources[0].error.is_some(),
            "throttles {throttles}: {:#?}",
            d.reasons
        );
    }
}

/// A breaker pauses the consumer `m` (container A); when the breaker closes, A raises the
/// reservation and its resume fails (on AWS: the mapping still Disabling,
/// ResourceInUseException through the 4 quick attempts). The record says paused.
fn pause_then_fail_the_resume(f: &Fixture, m: &str) {
    f.alarm("breaker", Alarm);
    f.run(alarm_event("breaker", "ALARM")).unwrap();
    assert_eq!(f.state_of(m), "Disabled");
    f.world.faults.inject(
        "UpdateEventSourceMapping",
        None,
        Some("ResourceInUseException"),
        "still disabling",
        Some(4),
    );
    f.alarm("breaker", Fine);
    let _ = f.run(scheduled());
    assert_eq!(f.state_of(m), "Disabled");
    assert!(f.records()[0].paused, "still recorded as paused");
}

/// Container B (another warm instance of the same function) lists the account at t=0, with
/// the consumer on `on` (`orders`, or an alias) already there when `listed_by_b`, else created
/// just after; then A pauses it and its resume fails ([`pause_then_fail_the_resume`]). The
/// record says paused; B's listing, kept 5 minutes, says enabled or lacks the mapping.
/// Returns the fixture, the mapping and B.
fn a_pause_whose_resume_failed_and_another_containers_listing(
    on: &str,
    listed_by_b: bool,
) -> (Fixture, String, Autoscaler) {
    let f = fixture(&breaker_policy(), 10);
    let add = |f: &Fixture| f.world.lambda.add_mapping(on, "orders-q", None, true);
    let early = listed_by_b.then(|| add(&f));
    let b = autoscaler(&f.world, &breaker_policy());
    f.run_as(&b, scheduled(), None).unwrap();
    let m = early.unwrap_or_else(|| add(&f));
    assert_eq!(f.state_of(&m), "Enabled");
    pause_then_fail_the_resume(&f, &m);
    (f, m, b)
}

/// Six more rounds of evaluations by both containers: the consumer the autoscaler paused
/// must be resumed by then.
fn both_containers_resume_it(f: &Fixture, b: &Autoscaler, m: &str, context: &str) {
    for _ in 0..6 {
        f.run(scheduled()).unwrap();
        f.run_as(b, scheduled(), None).unwrap();
    }
    assert_eq!(
        f.state_of(m),
        "Enabled",
        "the consumer the autoscaler paused must be resumed; records {:?}\n{context}",
        f.records()
    );
}

#[test]
fn a_pause_is_forgotten_only_after_a_current_listing_not_another_containers_stale_one() {
    let (f, m, b) = a_pause_whose_resume_failed_and_another_containers_listing("orders", true);
    // t=180: B's scheduled run: its listing, 3 minutes old (kept 5), has the mapping enabled.
    f.run_as(&b, scheduled(), None).unwrap();
    assert!(
        f.records()[0].paused,
        "B's stale listing must not forget the pause"
    );
    // From now on, every evaluation of either container.
    both_containers_resume_it(&f, &b, &m, "");
}

#[test]
fn scale_ins_waiting_for_their_mappings_to_settle_hold_a_cap_read_later_only_briefly() {
    // Target 1: `orders`, above its max (20 > 15): a plain scale-in, whose mapping update
    // stays `Updating` (real AWS answers `Updating`; here it never settles within the run).
    // Targets 2..=100: steady. Target 101: `payments`, whose `db` alarm caps it at 3.
    let (f, mappings, read, capped) = settle_budget_case(1, 0);
    assert_eq!(f.world.lambda.reserved("orders"), Some(20));
    assert_eq!(
        f.max_of(&mappings[0]),
        Some(15),
        "lowered first, its reservation held"
    );
    // The scale-ins of the run wait at most SETTLE_BUDGET in all (then hold to the next
    // evaluation); without it the cap waited 54 s, until the deadline's margin.
    assert!(
        capped - read < lambda_autoscaler::apply::SETTLE_BUDGET + Duration::from_secs(2),
        "the cap on payments, read at {read:?}, waited for another function's mapping to \
         settle: written at {capped:?}"
    );
}

#[test]
fn a_role_that_may_not_read_a_mapping_does_not_hold_a_scale_in_waiting_for_it() {
    let f = fixture(POLICY, 20);
    let m = f.mapping("orders-q", Some(20), true);
    // Real Lambda answers an update `Updating`; the role may list and update, not get.
    f.world.lambda.set_mapping_settle_reads(1);
    f.fail("GetEventSourceMapping", "AccessDeniedException");
    f.alarm("backlog", Fine);
    let outcome = f
        .run_until(alarm_event("backlog", "OK"), Some(60.0))
        .unwrap();
    let reasons = &outcome.decisions[0].reasons;
    assert_eq!(
        (f.reserved(), f.max_of(&m)),
        (Some(15), Some(15)),
        "{reasons:#?}"
    );
    assert!(
        (reasons.iter()).any(|r| r.contains("lambda:GetEventSourceMapping")),
        "{reasons:#?}"
    );
    // One read, not one a second until the deadline (58 before).
    assert_eq!(f.world.calls.count("GetEventSourceMapping"), 1);
}

#[test]
fn a_cap_on_a_mapping_still_updating_waits_for_it_to_settle_and_lowers_it_first() {
    let f = fixture(POLICY, 20);
    let m = f.mapping("orders-q", Some(20), true);
    // An update takes longer than the quick retries of ResourceInUseException give it: the
    // scale-in's update settles only after 8 reads (a second apart), longer than the run's
    // settle budget, and its reservation is held.
    f.world.lambda.set_mapping_settle_reads(8);
    f.alarm("backlog", Fine);
    f.run_until(alarm_event("backlog", "OK"), Some(10.0))
        .unwrap();
    assert_eq!(
        (f.reserved(), f.max_of(&m), f.state_of(&m)),
        (Some(20), Some(15), "Updating".into())
    );
    // Within the minute the database alarm caps the consumer at 3, while it still updates.
    f.alarm("db", Alarm);
    let outcome = f.run(alarm_event("db", "ALARM")).unwrap();
    let reasons = &outcome.decisions[0].reasons;
    assert_eq!(f.reserved(), Some(3), "{reasons:#?}");
    assert_eq!(
        f.max_of(&m),
        Some(3),
        "the mapping must not run above the cap's reservation: {reasons:#?}"
    );
    assert!(
        (reasons.iter()).any(|r| r.contains("was still updating: its write waited")),
        "{reasons:#?}"
    );
}

#[test]
fn a_consumer_paused_before_a_switch_to_ignore_is_said_to_stay_disabled_while_it_is() {
    let f = fixture(&breaker_policy(), 10);
    let m = f.mapping("orders-q", None, true);
    f.alarm("breaker", Alarm);
    f.run(alarm_event("breaker", "ALARM")).unwrap();
    assert_eq!(f.state_of(&m), "Disabled");
    let ignore =
        breaker_policy().replace(r#""min": 0,"#, r#""min": 5, "event_sources": "ignore","#);
    let b = autoscaler(&f.world, &ignore);
    f.alarm("breaker", Fine);
    // Listed at the first evaluation, then at most every 5 minutes: said at every one.
    for (run, listed) in [true, false, false].into_iter().enumerate() {
        let outcome = f.run_as(&b, scheduled(), None).unwrap();
        let reasons = &outcome.decisions[0].reasons;
        let said = if listed {
            "it is still disabled"
        } else {
            "not at this evaluation"
        };
        assert!(
            (reasons.iter())
                .any(|r| r.contains(&format!("event source {m} was paused")) && r.contains(said)),
            "run {run}: {reasons:#?}"
        );
    }
    // Ignored: left alone, and the record kept, so that following again resumes it.
    assert_eq!(
        (f.reserved(), f.state_of(&m).as_str()),
        (Some(5), "Disabled")
    );
    assert!(f.records()[0].paused);
    f.run(scheduled()).unwrap();
    assert_eq!(f.state_of(&m), "Enabled");
}

#[test]
fn a_mapping_only_attempt_whose_write_never_landed_is_settled_unconfirmed_not_applied() {
    let f = fixture(POLICY, 10);
    let m = f.mapping("orders-q", None, true);
    // The mapping write fails (not retried), then the outcome's second save fails.
    f.world.faults.inject(
        "UpdateEventSourceMapping",
        None,
        Some("InvalidParameterValueException"),
        "injected",
        Some(1),
    );
    f.world.faults.inject_after(
        1,
        "PutItem",
        None,
        Some("InternalServerError"),
        "injected",
        Some(1),
    );
    let first = f.run(scheduled());
    assert!(first.is_err(), "{first:?}");
    assert_eq!(f.max_of(&m), None, "the mapping was never written");
    let arn = MemoryLambda::arn("orders");
    let (h, _) = f.world.state.get(&arn).unwrap();
    let a = h.activities.last().unwrap().clone();
    assert_eq!(
        (a.previous, a.desired),
        (Some(10), Some(10)),
        "mapping-only"
    );
    assert_eq!(a.outcome, ActivityOutcome::Pending);
    // The next run writes the mapping (a new attempt) and settles the first one.
    f.run(scheduled()).unwrap();
    assert_eq!(f.max_of(&m), Some(10));
    let (h, _) = f.world.state.get(&arn).unwrap();
    let ctx = f.world.context(5.0, 50.0, true);
    let archived = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(
            ctx.state
                .as_ref()
                .unwrap()
                .archived_activities(&arn, &h, 19),
        )
        .unwrap();
    let first_attempt = archived.last().expect("the first attempt is archived");
    assert_eq!(first_attempt.at, a.at);
    // What happened: its mapping write failed. What the history says (it said applied):
    assert!(
        matches!(&first_attempt.outcome, ActivityOutcome::Unconfirmed(d)
            if d.contains("event source mappings still to be written")),
        "{:?}",
        first_attempt.outcome
    );
}

#[test]
fn a_pause_recorded_before_a_switch_to_ignore_ends_once_a_listing_shows_the_consumer_enabled() {
    let f = fixture(&breaker_policy(), 10);
    let m = f.mapping("orders-q", None, true);
    f.alarm("breaker", Alarm);
    f.run(alarm_event("breaker", "ALARM")).unwrap();
    assert_eq!(f.state_of(&m), "Disabled");
    let ignore =
        breaker_policy().replace(r#""min": 0,"#, r#""min": 5, "event_sources": "ignore","#);
    let b = autoscaler(&f.world, &ignore);
    f.alarm("breaker", Fine);
    f.run_as(&b, scheduled(), None).unwrap();
    // The operator reads the reason and enables the consumer by hand.
    f.world
        .lambda
        .add_mapping("orders", "orders-q", Some(5), true);
    assert_eq!(f.state_of(&m), "Enabled");
    // Once the kept listing (5 minutes) is read again, the pause is over.
    f.world
        .clock
        .advance(lambda_autoscaler::mapping_cache::KEPT_FOR);
    for _ in 0..3 {
        let outcome = f.run_as(&b, scheduled(), None).unwrap();
        let reasons = &outcome.decisions[0].reasons;
        assert!(
            !(reasons.iter()).any(|r| r.contains(&format!("event source {m} was paused"))),
            "{reasons:#?}"
        );
    }
}

#[test]
fn a_consumer_enabled_then_disabled_by_hand_while_ignored_stays_disabled_when_followed_again() {
    let f = fixture(&breaker_policy(), 10);
    let m = f.mapping("orders-q", None, true);
    f.alarm("breaker", Alarm);
    f.run(alarm_event("breaker", "ALARM")).unwrap();
    let ignore =
        breaker_policy().replace(r#""min": 0,"#, r#""min": 5, "event_sources": "ignore","#);
    let b = autoscaler(&f.world, &ignore);
    f.alarm("breaker", Fine);
    f.run_as(&b, scheduled(), None).unwrap();
    // By hand: enabled (as the reason says), used for weeks, then disabled on purpose.
    f.world
        .lambda
        .add_mapping("orders", "orders-q", Some(5), true);
    f.world
        .clock
        .advance(lambda_autoscaler::mapping_cache::KEPT_FOR);
    f.run_as(&b, scheduled(), None).unwrap();
    f.world
        .lambda
        .add_mapping("orders", "orders-q", Some(5), false);
    f.world
        .clock
        .advance(lambda_autoscaler::mapping_cache::KEPT_FOR);
    f.run_as(&b, scheduled(), None).unwrap();
    // The target follows its mappings again (a fresh container lists the account).
    let c = autoscaler(&f.world, &breaker_policy());
    f.run_as(&c, scheduled(), None).unwrap();
    assert_eq!(
        f.state_of(&m),
        "Disabled",
        "one disabled by hand stays disabled (docs/policy.md)"
    );
}

#[test]
fn a_pause_is_kept_when_the_listing_that_would_confirm_its_end_fails() {
    let (f, m, b) = a_pause_whose_resume_failed_and_another_containers_listing("orders", true);
    // B's re-list before forgetting is throttled through its 4 attempts: its own listing,
    // 3 minutes old, shows the mapping enabled, but the pause is kept.
    f.world.faults.inject(
        "ListEventSourceMappings",
        None,
        Some("TooManyRequestsException"),
        "Rate exceeded",
        Some(4),
    );
    let outcome = f.run_as(&b, scheduled(), None).unwrap();
    let reasons = &outcome.decisions[0].reasons;
    assert!(
        (reasons.iter()).any(|r| r.contains("a pause the autoscaler recorded is kept")),
        "{reasons:#?}"
    );
    assert!(f.records()[0].paused, "{:?}", f.records());
    both_containers_resume_it(&f, &b, &m, "");
}

/// Case of the settle budget: `orders` (20, max 15) scales in with `mappings` mappings that
/// never settle in the run, 99 steady targets, then `payments` capped at 3 in the second
/// chunk, with `throttles` throttled mapping writes. Returns the fixture, the mappings, when
/// payments could go (after its read and the scale-in's writes) and when it was capped.
fn settle_budget_case(
    mappings: usize,
    throttles: u32,
) -> (Fixture, Vec<String>, Duration, Duration) {
    let mut targets = vec![
        json!({"function": "orders", "min": 2, "max": 15, "tolerance": 0,
        "scale_in_cooldown_seconds": 0, "scale_in_stabilization_seconds": 0}),
    ];
    for i in 2..=100 {
        targets.push(json!({"function": format!("f{i}"), "min": 1, "max": 100}));
    }
    targets.push(json!({"function": "payments", "min": 1, "max": 100,
        "alarms": [{"name": "db", "on_alarm": {"cap": 3}}]}));
    let policy = json!({"targets": targets}).to_string();
    let f = fixture(&policy, 20);
    let per = 20 / mappings as u32;
    let uuids: Vec<String> = (0..mappings)
        .map(|i| f.mapping(&format!("orders-q{i}"), Some(per), true))
        .collect();
    for i in 2..=100 {
        f.world.lambda.add(&format!("f{i}"), Some(5), &[]);
    }
    f.world.lambda.add("payments", Some(50), &[]);
    f.world.lambda.set_mapping_settle_reads(10_000);
    if throttles > 0 {
        f.world.faults.inject(
            "UpdateEventSourceMapping",
            None,
            Some("TooManyRequestsException"),
            "Rate exceeded",
            Some(throttles),
        );
    }
    f.alarm("db", Alarm);
    let outcome = f.run_until(scheduled(), Some(60.0)).unwrap();
    let orders = outcome
        .decisions
        .iter()
        .find(|d| d.function == "orders")
        .unwrap();
    assert!(
        (orders.reasons.iter()).any(|r| r.contains("a mapping is still Updating")),
        "{:#?}",
        orders.reasons
    );
    assert_eq!(f.world.lambda.reserved("payments"), Some(3));
    let calls = f.world.calls.all();
    let read = calls
        .iter()
        .find(|c| c.operation == "BatchGetItem" && c.resource.ends_with("function:payments"))
        .unwrap()
        .at;
    let capped = calls
        .iter()
        .find(|c| c.operation == "PutFunctionConcurrency" && c.resource == "payments")
        .unwrap()
        .at;
    // The cap waits for the scale-in's own writes (one target at a time), then for its
    // settling: from the later of its read and those writes.
    let lowered = (calls.iter())
        .filter(|c| c.operation == "UpdateEventSourceMapping" && c.at < capped)
        .map(|c| c.at)
        .max()
        .unwrap_or_default();
    (f, uuids, read.max(lowered), capped)
}

/// The run's settle budget counts the paced reads of settling mappings, not only the waits
/// between them: five mappings, and a pacer slowed by throttles, held a cap read later for
/// 7 and 25 s (from its read).
#[test]
fn the_settle_budget_counts_the_reads_of_settling_mappings_too() {
    use lambda_autoscaler::apply::SETTLE_BUDGET;
    // Mappings, and throttled mapping writes (which slow the pacer to a call a second): the
    // budget counts the next round's reads before it starts, so the cap waits at most the
    // budget, then its own paced calls (listing its mappings, its write).
    for (mappings, throttles) in [(5, 0), (4, 0), (5, 2), (4, 2), (3, 2)] {
        let (_, _, read, capped) = settle_budget_case(mappings, throttles);
        assert!(
            capped - read <= SETTLE_BUDGET + Duration::from_secs(2),
            "{mappings} mappings, {throttles} throttles: {:?}",
            capped - read
        );
    }
}

#[test]
fn a_cap_whose_mapping_cannot_be_read_is_not_said_to_have_waited_for_it() {
    let f = fixture(POLICY, 20);
    let m = f.mapping("orders-q", Some(20), true);
    f.world.lambda.set_mapping_settle_reads(8);
    f.alarm("backlog", Fine);
    f.run_until(alarm_event("backlog", "OK"), Some(10.0))
        .unwrap();
    assert_eq!(f.state_of(&m), "Updating");
    f.fail("GetEventSourceMapping", "AccessDeniedException");
    f.clear();
    f.alarm("db", Alarm);
    let (outcome, error) = reporting(&f, alarm_event("db", "ALARM"));
    let reasons = &outcome.decisions[0].reasons;
    assert!(error.is_some(), "the mapping's failure is reported");
    // Protection first: lowered, while the mapping could not be.
    assert_eq!((f.reserved(), f.max_of(&m)), (Some(3), Some(15)));
    assert!(
        !(reasons.iter()).any(|r| r.contains("its write waited for it to settle")),
        "claims a wait that never happened: {reasons:#?}"
    );
    assert!(
        (reasons.iter()).any(|r| r.contains("lambda:GetEventSourceMapping")),
        "{reasons:#?}"
    );
    assert!(
        !(reasons.iter()).any(|r| r.contains("keeps the mappings within the reservation")),
        "{reasons:#?}"
    );
}

#[test]
fn a_landed_scale_out_is_settled_applied_whatever_another_containers_stale_listing_shows() {
    let f = fixture(POLICY, 10);
    let m = f.mapping("orders-q", None, true);
    // Container B (the other function of a watching deployment, say), whose policy has no
    // on_ok step, lists the account at t=0 and brings the mapping within 10.
    let quiet = POLICY.replace(r#", "on_ok": { "change": -5 }"#, "");
    let b = autoscaler(&f.world, &quiet);
    f.run_as(&b, scheduled(), None).unwrap();
    assert_eq!(f.max_of(&m), Some(10));
    // t=60: container A scales out to 20; reservation and mapping both land.
    f.alarm("backlog", Alarm);
    f.run(alarm_event("backlog", "ALARM")).unwrap();
    assert_eq!((f.reserved(), f.max_of(&m)), (Some(20), Some(20)));
    // t=120: B's scheduled run (listing 2 minutes old, kept 5): nothing to change.
    f.alarm("backlog", Fine);
    let outcome = f.run_as(&b, scheduled(), None).unwrap();
    assert!(outcome.decisions[0].event_sources[0].applied);
    let arn = MemoryLambda::arn("orders");
    let (h, _) = f.world.state.get(&arn).unwrap();
    let ctx = f.world.context(5.0, 50.0, true);
    let archived = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(
            ctx.state
                .as_ref()
                .unwrap()
                .archived_activities(&arn, &h, 19),
        )
        .unwrap();
    let scale_out = (archived.iter())
        .find(|a| a.desired == Some(20) && a.previous == Some(10))
        .expect("the scale-out's activity");
    assert_eq!(
        scale_out.outcome,
        ActivityOutcome::Applied,
        "its reservation and its mapping both landed"
    );
}

/// Container B listed the account at t=0 (mapping enabled); A paused the consumer at
/// t=60 (breaker); the target then ignores its mappings, and B's evaluation at t=120 reads
/// its own 2-minute-old listing: it shows the mapping enabled, and the pause was forgotten
/// (following again then left the consumer disabled for good): it is checked against a
/// listing of the function's mappings made then.
#[test]
fn a_stale_listing_does_not_end_a_pause_recorded_before_a_switch_to_ignore() {
    let f = fixture(&breaker_policy(), 10);
    let m = f.mapping("orders-q", None, true);
    let ignore =
        breaker_policy().replace(r#""min": 0,"#, r#""min": 5, "event_sources": "ignore","#);
    let b = autoscaler(&f.world, &ignore);
    f.run_as(&b, scheduled(), None).unwrap(); // t=0: B runs, the mapping enabled
    f.alarm("breaker", Alarm);
    f.run(alarm_event("breaker", "ALARM")).unwrap(); // t=60: A pauses it
    assert_eq!(f.state_of(&m), "Disabled");
    assert!(f.records()[0].paused);
    f.alarm("breaker", Fine);
    let outcome = f.run_as(&b, scheduled(), None).unwrap(); // t=120: ignored, B's listing
    let still = f.records().first().is_some_and(|r| r.paused);
    let c = autoscaler(&f.world, &breaker_policy());
    f.run_as(&c, scheduled(), None).unwrap(); // follows again, a fresh container
    assert_eq!(
        (still, f.state_of(&m).as_str()),
        (true, "Enabled"),
        "B's reasons {:#?}",
        outcome.decisions[0].reasons
    );
}

/// As `a_pause_whose_resume_failed_and_another_containers_listing`, but B's listing
/// (t=0) predates the mapping itself (created at t=60, before A's first listing): B's plan
/// drops the record of a mapping its listing does not have ("deleted"); that counts as
/// forgetting the pause, so the function's mappings are listed again first.
#[test]
fn a_pause_of_a_mapping_newer_than_a_stale_listing_is_not_forgotten() {
    let (f, m, b) = a_pause_whose_resume_failed_and_another_containers_listing("orders", false);
    f.run_as(&b, scheduled(), None).unwrap(); // t=180: B, its listing 3 minutes old
    let after_b = f.records();
    both_containers_resume_it(&f, &b, &m, &format!("records after B's run {after_b:?}"));
}

/// A policy whose targets all ignore their mappings lists none, unless a target holds a pause
/// recorded before the switch; a role that may not list them is fine for it.
#[test]
fn a_policy_that_only_ignores_mappings_lists_them_only_for_a_recorded_pause() {
    let ignore = POLICY.replace(r#""min": 2,"#, r#""min": 2, "event_sources": "ignore","#);
    let f = fixture(&ignore, 20);
    f.fail("ListEventSourceMappings", "AccessDeniedException");
    for _ in 0..3 {
        f.run(scheduled()).unwrap();
    }
    assert_eq!(f.world.calls.count("ListEventSourceMappings"), 0);
}

/// Every mapping may run up to 100 (`event_source_ceiling`), the `db` cap as given: a at 2
/// and b at 38 share a reservation of 40, and a's writes fail. A decrease raises a and lowers
/// b, both before the reservation. Returns the fixture and the two mappings.
fn a_raise_before_the_reservation_fails(cap: &str) -> (Fixture, String, String) {
    let policy = POLICY.replace(r#""cap": 3"#, cap).replace(
        r#""max": 100,"#,
        r#""max": 100, "event_source_ceiling": 100,"#,
    );
    let f = fixture(&policy, 40);
    let a = f.mapping("a-q", Some(2), true);
    let b = f.mapping("b-q", Some(38), true);
    f.world.faults.inject(
        "UpdateEventSourceMapping",
        Some(&a),
        Some("InvalidParameterValueException"),
        "injected",
        None,
    );
    (f, a, b)
}

#[test]
fn a_cap_whose_raise_before_the_reservation_fails_says_the_mappings_stay_within_it() {
    // A cap of 10 on 40 takes a from 2 up to 5 and b from 38 down to 5, both before the
    // reservation. a's raise fails.
    let (f, a, b) = a_raise_before_the_reservation_fails(r#""cap": 10"#);
    f.alarm("db", Alarm);
    let (outcome, error) = reporting(&f, alarm_event("db", "ALARM"));
    let reasons = &outcome.decisions[0].reasons;
    assert!(error.is_some(), "the failed raise is reported");
    assert_eq!(
        (f.reserved(), f.max_of(&a), f.max_of(&b)),
        (Some(10), Some(2), Some(5)),
        "{reasons:#?}"
    );
    assert!(
        (reasons.iter()).any(|r| r.contains("could not be raised to its share")),
        "{reasons:#?}"
    );
    assert!(
        !(reasons.iter()).any(|r| r.contains("although a mapping could not be")),
        "every lower landed: {reasons:#?}"
    );
}

#[test]
fn a_scale_in_whose_only_failed_mapping_write_was_a_raise_still_lowers_the_reservation() {
    let (f, a, b) = a_raise_before_the_reservation_fails(r#""cap": 3"#);
    f.alarm("backlog", Fine);
    let (outcome, error) = reporting(&f, alarm_event("backlog", "OK"));
    assert!(error.is_some(), "the failed raise is reported");
    let reasons = &outcome.decisions[0].reasons;
    // b lowered 38 -> 18 first; a's raise 2 -> 17 failed: both within 35.
    assert_eq!(
        (f.reserved(), f.max_of(&a), f.max_of(&b)),
        (Some(35), Some(2), Some(18)),
        "{reasons:#?}"
    );
    assert!(
        (reasons.iter()).any(|r| r.contains("could not be raised to its share")),
        "{reasons:#?}"
    );
}

/// A consumer on an alias (`orders:live`, followed as the function's: the account's listing
/// groups it by the unqualified ARN) paused by a cap, then the policy switches to ignore in
/// a deployment whose targets all ignore: the writer's listing by name does not return
/// mappings on aliases (and no account listing is kept to add them), so a recorded mapping
/// it lacks is read by its UUID; it was read as deleted and its pause ended silently.
#[test]
fn a_pause_of_an_alias_mapping_is_not_ended_by_a_listing_by_name() {
    let f = fixture(&breaker_policy(), 10);
    let m = f
        .world
        .lambda
        .add_mapping("orders:live", "orders-q", None, true);
    f.alarm("breaker", Alarm);
    f.run(alarm_event("breaker", "ALARM")).unwrap(); // follows: pauses it
    assert_eq!(f.state_of(&m), "Disabled");
    assert!(f.records().iter().any(|r| r.uuid == m && r.paused));
    f.alarm("breaker", Fine);
    let ignore =
        breaker_policy().replace(r#""min": 0,"#, r#""min": 5, "event_sources": "ignore","#);
    let b = autoscaler(&f.world, &ignore);
    let outcome = f.run_as(&b, scheduled(), None).unwrap();
    let still = f.records().iter().any(|r| r.uuid == m && r.paused);
    let c = autoscaler(&f.world, &breaker_policy());
    let again = f.run_as(&c, scheduled(), None).unwrap(); // follows again
    assert_eq!(
        (still, f.state_of(&m).as_str()),
        (true, "Enabled"),
        "ignore run: {:#?}\nrecords {:?}\nfollow again: {:#?}",
        outcome.decisions[0].reasons,
        f.records(),
        again.decisions[0].reasons
    );
}

/// As `a_pause_of_a_mapping_newer_than_a_stale_listing_is_not_forgotten`, the consumer on an
/// alias: the listing by name lacks it, and the stale account listing too.
#[test]
fn a_pause_of_an_alias_mapping_newer_than_a_stale_listing_is_not_forgotten() {
    let (f, m, b) =
        a_pause_whose_resume_failed_and_another_containers_listing("orders:live", false);
    f.run_as(&b, scheduled(), None).unwrap(); // t=180: B, its listing 3 minutes old
    let after_b = f.records();
    both_containers_resume_it(&f, &b, &m, &format!("records after B's run {after_b:?}"));
}

/// A role that may list and update mappings but not get one (supported: see
/// `a_role_that_may_not_read_a_mapping_does_not_hold_a_scale_in_waiting_for_it`), and a
/// record of a mapping deleted since: the re-list before a scale-in keeps that record as it
/// is and follows the listed mappings (the whole re-list failed, the mappings read as "not
/// followed", and the reservation was lowered below the remaining mapping's maximum).
#[test]
fn a_recorded_mapping_that_cannot_be_read_keeps_its_record_and_the_others_followed() {
    let f = fixture(POLICY, 20);
    let a = f.mapping("orders-q", Some(20), true);
    f.run(scheduled()).unwrap(); // t=0: the account's listing is kept
    let arn = MemoryLambda::arn("orders");
    let (mut history, _) = f.world.state.get(&arn).unwrap_or_default();
    history.event_sources.push(MappingRecord {
        uuid: "orders-gone-q".into(),
        ceiling: Some(10),
        paused: false,
        held: false,
    });
    f.world.state.put(&arn, history);
    f.fail("GetEventSourceMapping", "AccessDeniedException");
    f.alarm("backlog", Fine);
    let outcome = f.run(alarm_event("backlog", "OK")).unwrap(); // t=60: listing 60 s old
    let reasons = &outcome.decisions[0].reasons;
    assert!(
        (reasons.iter()).any(|r| r.contains("orders-gone-q")
            && r.contains("lambda:GetEventSourceMapping")
            && r.contains("its record is kept")),
        "{reasons:#?}"
    );
    assert!(f.records().iter().any(|r| r.uuid == "orders-gone-q"));
    assert_eq!(
        (f.reserved(), f.max_of(&a)),
        (Some(15), Some(15)),
        "the mapping must be lowered with the reservation: {reasons:#?}"
    );
}

/// A consumer the breaker paused, then re-pointed by its owner to another function
/// (`UpdateEventSourceMapping` with `FunctionName`), still disabled: the listing by name lacks
/// it, GetEventSourceMapping returns it (on `payments`): not `orders`' any more, so gone (it
/// was taken as `orders`' own, resumed and lowered).
#[test]
fn a_recorded_mapping_now_on_another_function_is_not_the_targets() {
    let f = fixture(&breaker_policy(), 10);
    f.world.lambda.add("payments", Some(50), &[]);
    let m = f.mapping("orders-q", Some(10), true);
    f.alarm("breaker", Alarm);
    f.run(alarm_event("breaker", "ALARM")).unwrap(); // t=0: pauses it
    assert_eq!(f.state_of(&m), "Disabled");
    f.world.lambda.move_mapping(&m, "payments");
    f.alarm("breaker", Fine);
    f.clear();
    let outcome = f.run(scheduled()).unwrap(); // t=60
    let reasons = outcome.decisions[0].reasons.clone();
    assert_eq!(
        f.state_of(&m),
        "Disabled",
        "payments' consumer written by orders: {reasons:#?}"
    );
}

/// a scale-in whose re-list finds a new mapping (b, created since the account's
/// listing) while a recorded mapping cannot be read: the floor is refreshed from the new
/// listing as without the unread record (4 for a and b; it stayed 2, and a plain scale-in to
/// 3 paused both consumers).
fn new_mapping_case(with_unread_record: bool) -> (Option<u32>, String, String, Vec<String>) {
    let f = fixture(POLICY, 8);
    let a = f.mapping("orders-q", Some(8), true);
    f.run(scheduled()).unwrap(); // t=0: the account's listing is kept
    if with_unread_record {
        let arn = MemoryLambda::arn("orders");
        let (mut history, _) = f.world.state.get(&arn).unwrap_or_default();
        history.event_sources.push(MappingRecord {
            uuid: "orders-gone-q".into(),
            ceiling: Some(10),
            paused: false,
            held: false,
        });
        f.world.state.put(&arn, history);
    }
    let b = f.mapping("other-q", None, true); // created since the listing
    f.fail("GetEventSourceMapping", "AccessDeniedException");
    f.alarm("backlog", Fine);
    let outcome = f.run(alarm_event("backlog", "OK")).unwrap(); // 8 - 5 = 3
    (
        f.reserved(),
        f.state_of(&a),
        f.state_of(&b),
        outcome.decisions[0].reasons.clone(),
    )
}

#[test]
fn an_unread_record_does_not_skip_the_mapping_floor_refresh() {
    let control = new_mapping_case(false);
    assert_eq!(
        (control.0, control.1.as_str(), control.2.as_str()),
        (Some(4), "Enabled", "Enabled"),
        "control: {:#?}",
        control.3
    );
    let unread = new_mapping_case(true);
    assert_eq!(
        (unread.0, unread.1.as_str(), unread.2.as_str()),
        (Some(4), "Enabled", "Enabled"),
        "with an unread record: {:#?}",
        unread.3
    );
}

/// an ignoring target with a paused record of a mapping that cannot be read (role
/// denied GetEventSourceMapping; the mapping deleted): the reasons say it could not be read,
/// not that it "is still disabled", which nothing read.
#[test]
fn an_unread_paused_record_is_not_said_to_be_still_disabled() {
    let ignore = POLICY.replace(r#""min": 2,"#, r#""min": 2, "event_sources": "ignore","#);
    let f = fixture(&ignore, 8);
    let arn = MemoryLambda::arn("orders");
    let (mut history, _) = f.world.state.get(&arn).unwrap_or_default();
    history.event_sources.push(MappingRecord {
        uuid: "orders-gone-q".into(),
        ceiling: Some(10),
        paused: true,
        held: false,
    });
    f.world.state.put(&arn, history);
    f.fail("GetEventSourceMapping", "AccessDeniedException");
    let mut said = Vec::new();
    for _ in 0..11 {
        let outcome = f.run(scheduled()).unwrap();
        said.push(outcome.decisions[0].reasons.clone());
    }
    // Listed and read at most every 5 minutes: 3 times in 11 minutes.
    assert_eq!(f.world.calls.count("GetEventSourceMapping"), 3);
    assert!(
        !said[0]
            .iter()
            .any(|r| r.contains("orders-gone-q") && r.contains("it is still disabled")),
        "{:#?}",
        said[0]
    );
    assert!(
        said[0]
            .iter()
            .any(|r| r.contains("orders-gone-q") && r.contains("it could not be read")),
        "{:#?}",
        said[0]
    );
}

/// a role denied ListEventSourceMappings (mappings "not followed": no listing and no
/// read is made before the write), with records saved from before: the deadline check
/// before the (skipped) re-list counts no read for them (it counted one each, deferring a
/// cap that fits).
fn cap_near_deadline(records: usize) -> (Option<u32>, Vec<String>) {
    let f = fixture(POLICY, 10);
    let arn = MemoryLambda::arn("orders");
    let (mut history, _) = f.world.state.get(&arn).unwrap_or_default();
    for i in 0..records {
        history.event_sources.push(MappingRecord {
            uuid: format!("orders-old-{i:02}"),
            ceiling: Some(10),
            paused: false,
            held: false,
        });
    }
    f.world.state.put(&arn, history);
    f.fail("ListEventSourceMappings", "AccessDeniedException");
    f.alarm("db", Alarm);
    let outcome = f.run_until(alarm_event("db", "ALARM"), Some(12.0)).unwrap();
    assert_eq!(f.world.calls.count("GetEventSourceMapping"), 0);
    (f.reserved(), outcome.decisions[0].reasons.clone())
}

#[test]
fn reads_never_made_do_not_defer_a_cap() {
    let control = cap_near_deadline(0);
    assert_eq!(control.0, Some(3), "control {:#?}", control.1);
    let with = cap_near_deadline(10);
    assert_eq!(with.0, Some(3), "with records {:#?}", with.1);
}

/// as `a_recorded_mapping_now_on_another_function_is_not_the_targets`, the consumer on
/// an alias: the re-list by name lacks it, and the copy carried over from the kept account
/// listing (still on `orders:live` there) is read by UUID too (it was resumed as `orders`'
/// own).
#[test]
fn an_alias_mapping_now_on_another_function_is_not_the_targets() {
    let f = fixture(&breaker_policy(), 10);
    f.world.lambda.add("payments", Some(50), &[]);
    let m = f
        .world
        .lambda
        .add_mapping("orders:live", "orders-q", Some(10), true);
    f.alarm("breaker", Alarm);
    f.run(alarm_event("breaker", "ALARM")).unwrap(); // t=0: pauses it
    assert_eq!(f.state_of(&m), "Disabled");
    f.world.lambda.move_mapping(&m, "payments");
    f.alarm("breaker", Fine);
    f.clear();
    let outcome = f.run(scheduled()).unwrap(); // t=60
    let reasons = outcome.decisions[0].reasons.clone();
    assert_eq!(
        f.state_of(&m),
        "Disabled",
        "payments' consumer written by orders: {reasons:#?}\n{:?}",
        f.writes()
    );
}

/// An alias mapping at `max` when the account is listed (t=0, `None`: unlimited, so the
/// autoscaler sets it and records it), then moved to `payments`, whose owner may set it to
/// `payments_max` (it is at `then` after that): neither the re-list of a scale-in (t=60) nor the evaluation after it
/// (t=120, within the kept listing's 5 minutes) writes it as `orders`'.
fn a_moved_alias_mapping_is_not_written(max: Option<u32>, payments_max: Option<u32>, then: u32) {
    let f = fixture(POLICY, 20);
    f.world.lambda.add("payments", Some(50), &[]);
    let m = f
        .world
        .lambda
        .add_mapping("orders:live", "orders-q", max, true);
    f.run(scheduled()).unwrap(); // t=0: the account's listing is kept
    f.world.lambda.move_mapping(&m, "payments");
    if let Some(n) = payments_max {
        f.world
            .lambda
            .raise_mapping_at(&m, n, f.world.clock.elapsed());
    }
    let expected = Some(then);
    f.alarm("backlog", Fine);
    f.clear();
    let first = f.run(alarm_event("backlog", "OK")).unwrap(); // t=60: 20 -> 15, re-list
    assert_eq!(f.reserved(), Some(15), "{:#?}", first.decisions[0].reasons);
    assert_eq!(f.max_of(&m), expected, "written at t=60: {:?}", f.writes());
    f.clear();
    let second = f.run(scheduled()).unwrap(); // t=120: kept listing, 120 s old
    assert_eq!(
        f.max_of(&m),
        expected,
        "payments' consumer written by orders at t=120: {:?}\n{:#?}",
        f.writes(),
        second.decisions[0].reasons
    );
}

/// The alias mapping the autoscaler never changed: the re-list reads the carried copy by its
/// UUID, and it is dropped from the kept listing too.
#[test]
fn a_moved_alias_mapping_is_read_by_its_uuid_and_dropped_from_the_kept_listing() {
    a_moved_alias_mapping_is_not_written(Some(20), None, 20);
}

/// The alias mapping recorded (the autoscaler set its maximum at t=0), its new owner's 40.
#[test]
fn a_moved_recorded_alias_mapping_is_dropped_from_the_kept_listing() {
    a_moved_alias_mapping_is_not_written(None, Some(40), 40);
}

/// The alias mapping exists (Enabled) in B's account listing, A pauses it, A's resume fails;
/// the role may not GetEventSourceMapping (a supported set-up). B's re-list by name lacks
/// it, and the read of the carried (stale, "Enabled") copy fails: its record is kept as it
/// is (the copy was taken as current, the pause forgotten, the consumer disabled for good).
#[test]
fn an_unreadable_carried_copy_does_not_forget_a_pause() {
    let (f, m, b) = a_pause_whose_resume_failed_and_another_containers_listing("orders:live", true);
    f.fail("GetEventSourceMapping", "AccessDeniedException");
    let out_b = f.run_as(&b, scheduled(), None).unwrap(); // t=180: B, listing 3 min old
    let after_b = f.records();
    let said = &out_b.decisions[0].reasons;
    both_containers_resume_it(
        &f,
        &b,
        &m,
        &format!("after B {after_b:?}; B said {said:#?}"),
    );
}

/// A mapping on the function itself, moved to its alias after the account's listing: the
/// listing by name lacks it, and its copy is read by its UUID (it was dropped, and the
/// reservation lowered below it).
#[test]
fn a_mapping_moved_from_the_function_to_its_alias_is_lowered_with_a_decrease() {
    let f = fixture(POLICY, 20);
    let m = f
        .world
        .lambda
        .add_mapping("orders", "orders-q", Some(20), true);
    f.run(scheduled()).unwrap(); // t=0: the account's listing is kept
    assert_eq!(f.max_of(&m), Some(20));
    f.world.lambda.move_mapping(&m, "orders:live");
    f.alarm("backlog", Fine);
    f.clear();
    let out = f.run(alarm_event("backlog", "OK")).unwrap(); // t=60: 20 -> 15, re-list
    assert_eq!(f.reserved(), Some(15), "{:#?}", out.decisions[0].reasons);
    assert!(
        f.max_of(&m).is_some_and(|x| x <= 15),
        "consumer max {:?} above the reservation 15: writes {:?}\n{:#?}",
        f.max_of(&m),
        f.writes(),
        out.decisions[0].reasons
    );
}
