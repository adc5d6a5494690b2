//! Drain-time targets (`target_wait_seconds`) in the handler, against the in-memory world:
//! the service time read from CloudWatch (batched, only with traffic, at most every 10
//! minutes, kept when a read fails), the depth samples kept between invocations of a warm
//! container, and the mapping's batch size.

use lambda_autoscaler::error::HandlerError;
use lambda_autoscaler::handler::Autoscaler;
use lambda_autoscaler::memory::World;
use lambda_autoscaler::policy::Policy;
use lambda_autoscaler::ports::QueueDepth;
use lambda_autoscaler::report::{DecisionRecord, Outcome};
use lambda_autoscaler::service_time::{Point, REREAD_SECONDS};
use lambda_autoscaler::settings::Settings;
use lambda_autoscaler::state::LoadMemory;
use serde_json::{json, Value};
use std::time::Duration;

const NOW: i64 = 1_700_000_000;

/// Stability knobs off, so that the proposal shows through.
const KNOBS_OFF: &str = r#""tolerance": 0, "scale_out_cooldown_seconds": 0,
    "scale_in_cooldown_seconds": 0, "scale_in_stabilization_seconds": 0"#;

fn policy(queue: &str, knobs: &str) -> String {
    format!(
        r#"{{"targets": [{{"function": "orders", "min": 1, "max": 500, {knobs},
            "queue": {queue}}}]}}"#
    )
}

struct Fixture {
    world: World,
    autoscaler: Autoscaler,
}

fn fixture(queue: &str) -> Fixture {
    fixture_with(queue, KNOBS_OFF)
}

fn fixture_with(queue: &str, knobs: &str) -> Fixture {
    let f = fixture_of(&policy(queue, knobs));
    f.world
        .lambda
        .add("orders", Some(10), &[("autoscaler:enabled", "true")]);
    f
}

/// A world with a state table and an autoscaler of `policy`, and no function yet.
fn fixture_of(policy: &str) -> Fixture {
    let world = World::new(NOW);
    let settings = Settings::default();
    let ctx = world.context(settings.control_plane_rps, settings.get_function_rps, true);
    let autoscaler = Autoscaler::new(Policy::from_json(policy, "test"), settings, ctx);
    Fixture { world, autoscaler }
}

const SCHEDULED: &str =
    r#"{"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}"#;

impl Fixture {
    fn depth(&self, visible: u64, in_flight: u64) {
        self.world.queues.set_depth(
            "orders-q",
            QueueDepth {
                visible,
                in_flight,
                delayed: 0,
            },
        );
    }

    /// Five minutes of one-minute points ending now: `seconds` per message, 600 messages a
    /// minute in invocations of `batch` messages.
    fn measured(&self, seconds: f64, batch: f64) {
        let points = (0..5)
            .map(|m| Point {
                end: NOW - 60 * m,
                duration_seconds: 600.0 * seconds,
                invocations: Some(600.0 / batch),
                messages: 600.0,
            })
            .collect();
        self.world
            .cloudwatch
            .set_service_points("orders", "orders-q", points);
    }

    fn run(&self) -> Outcome {
        self.run_until(None)
    }

    /// A scheduled run, with `seconds` left before the invocation's deadline (`None`: none).
    fn run_until(&self, seconds: Option<f64>) -> Outcome {
        let event: Value = serde_json::from_str(SCHEDULED).unwrap();
        self.handle(&event, seconds).unwrap()
    }

    /// `event` handled, with `seconds` left before the invocation's deadline (`None`: none).
    fn handle(&self, event: &Value, seconds: Option<f64>) -> Result<Outcome, HandlerError> {
        let deadline = seconds.map(|s| self.autoscaler.deadline_after(Duration::from_secs_f64(s)));
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(self.autoscaler.handle(event, deadline))
    }

    /// The reservation of `orders`.
    fn reserved(&self) -> u32 {
        self.world.lambda.reserved("orders").expect("a reservation")
    }

    /// The load memory saved with `orders`' history.
    fn saved_load(&self) -> LoadMemory {
        let arn = lambda_autoscaler::memory::MemoryLambda::arn("orders");
        self.world.state.get(&arn).expect("a saved history").0.load
    }

    fn later(&self, seconds: u64) {
        self.world.clock.advance(Duration::from_secs(seconds));
    }

    fn reads(&self) -> usize {
        self.world.calls.count("GetMetricData")
    }
}

fn decision(outcome: &Outcome) -> &DecisionRecord {
    outcome
        .decisions
        .iter()
        .find(|d| d.function == "orders")
        .expect("a decision for orders")
}

fn says(record: &DecisionRecord, text: &str) -> bool {
    record.reasons.iter().any(|r| r.contains(text))
}

const MEASURED: &str = r#"{"name": "orders-q", "target_wait_seconds": 10}"#;

#[test]
fn the_measured_service_time_sizes_the_drain_and_is_read_again_only_after_ten_minutes() {
    let f = fixture(MEASURED);
    f.measured(0.5, 1.0);
    f.depth(1000, 20);
    let first = f.run();
    // 20 at work; headroom 2 x 0.5 x sqrt(40/s x 60 s) / 10 = 4.9; 1000 x 0.5 / 10 = 50.
    assert_eq!(
        decision(&first).desired,
        Some(75),
        "{:?}",
        decision(&first).reasons
    );
    assert!(says(
        decision(&first),
        "service 0.5 s (measured by CloudWatch)"
    ));
    assert_eq!(f.reads(), 1);

    f.later(60);
    f.run();
    assert_eq!(f.reads(), 1, "within ten minutes the reading is kept");
    f.later(REREAD_SECONDS as u64);
    f.run();
    assert_eq!(f.reads(), 2);
}

#[test]
fn a_queue_without_traffic_costs_no_metric_read() {
    let f = fixture(MEASURED);
    f.measured(0.5, 1.0);
    f.depth(0, 0);
    f.run();
    assert_eq!(f.reads(), 0);
}

#[test]
fn a_service_time_read_the_deadline_does_not_allow_is_left_due_for_the_next_run() {
    let f = fixture(MEASURED);
    f.measured(0.5, 1.0);
    f.depth(1000, 20);
    // 13 s left: room to read the target and write, but not for a metric read that can take
    // the SDK's 12 s operation timeout and then the 2 s margin. Every decision would wait
    // for it: it does not start, and the target is decided without it.
    let outcome = f.run_until(Some(13.0));
    assert_eq!(
        f.reads(),
        0,
        "no metric read starts that could end past the margin"
    );
    assert!(!decision(&outcome).deferred);
    assert!(
        says(decision(&outcome), "service time unknown"),
        "{:?}",
        decision(&outcome).reasons
    );
    f.later(60);
    let next = f.run();
    assert_eq!(f.reads(), 1, "the next run reads what was left due");
    assert!(says(
        decision(&next),
        "service 0.5 s (measured by CloudWatch)"
    ));
}

#[test]
fn a_policy_service_time_costs_no_metric_read() {
    let f = fixture(r#"{"name": "orders-q", "target_wait_seconds": 10, "service_seconds": 1}"#);
    f.depth(100, 5);
    let outcome = f.run();
    assert_eq!(f.reads(), 0);
    assert!(says(decision(&outcome), "service 1 s (service_seconds)"));
}

#[test]
fn without_a_measurement_each_waiting_message_gets_an_execution_and_a_failed_read_keeps_the_last() {
    let f = fixture(MEASURED);
    f.depth(40, 5);
    f.world.faults.inject(
        "GetMetricData",
        None,
        Some("AccessDenied"),
        "not authorized to perform cloudwatch:GetMetricData",
        Some(1),
    );
    let outcome = f.run();
    // The largest service time the goal allows, 10 s: 5 at work, headroom
    // 2 x 10 x sqrt(5/10 x 60) / 10 = 10.95, and 40 waiting, one each: at least what any
    // real service time would propose, so nothing scales in on a missing measurement.
    assert_eq!(decision(&outcome).desired, Some(56));
    assert!(says(decision(&outcome), "service time unknown"));

    // A later read succeeds; one after it fails and the measurement is kept.
    f.measured(0.5, 1.0);
    f.later(REREAD_SECONDS as u64);
    assert!(says(decision(&f.run()), "measured by CloudWatch"));
    f.world.faults.inject(
        "GetMetricData",
        None,
        Some("Throttling"),
        "slow down",
        Some(1),
    );
    f.later(REREAD_SECONDS as u64);
    let kept = f.run();
    assert_eq!(f.reads(), 3);
    assert!(says(decision(&kept), "measured by CloudWatch"));
}

#[test]
fn a_measurement_from_an_earlier_load_serves_no_more_once_it_is_too_old() {
    let f = fixture(MEASURED);
    // Measured under load: batches of 10, so 20 in flight are 2 executions.
    f.measured(0.5, 10.0);
    f.depth(0, 20);
    let first = f.run();
    assert!(says(decision(&first), "10 messages per invocation"));
    // A day later traffic is back, and CloudWatch has nothing newer than that load: the day-old
    // batch size would size 20 in flight as 2 executions again (a scale-in on late data).
    f.later(86_400);
    let outcome = f.run();
    let record = decision(&outcome);
    assert!(says(record, "service time unknown"), "{:?}", record.reasons);
    assert!(
        !says(record, "messages per invocation"),
        "{:?}",
        record.reasons
    );
    assert!(record.desired >= Some(20), "{:?}", record.reasons);
}

#[test]
fn messages_per_invocation_and_the_mappings_batch_size_shape_the_proposal() {
    let f = fixture(MEASURED);
    f.world
        .lambda
        .add_mapping("orders", "orders-q", Some(10), true);
    // 1 s a message, 4 messages an invocation: 40 in flight are 10 executions.
    f.measured(1.0, 4.0);
    f.depth(0, 40);
    let outcome = f.run();
    let record = decision(&outcome);
    assert!(
        says(record, "4 messages per invocation"),
        "{:?}",
        record.reasons
    );
    // 10 at work; headroom 2 x 1 x sqrt(10 x 60) / 1 (10 s less a batch of 10's 9 s) = 49.
    assert_eq!(record.desired, Some(59));
}

#[test]
fn a_warm_container_smooths_its_samples_and_a_growing_backlog_counts() {
    let f = fixture(r#"{"name": "orders-q", "target_wait_seconds": 60, "service_seconds": 1}"#);
    f.depth(0, 10);
    f.run();
    f.later(60);
    f.depth(600, 10);
    let outcome = f.run();
    let record = decision(&outcome);
    assert!(
        says(record, "smoothed over 2 samples"),
        "{:?}",
        record.reasons
    );
    assert!(says(record, "piling up 10/s"), "{:?}", record.reasons);
}

#[test]
fn a_steady_target_with_noisy_samples_writes_nothing() {
    let f = fixture_with(
        r#"{"name": "orders-q", "target_wait_seconds": 30, "service_seconds": 1}"#,
        r#""tolerance": 0.2, "scale_out_cooldown_seconds": 0"#,
    );
    let run = || f.run();
    // Settle first: 40 at work.
    f.depth(0, 40);
    for _ in 0..3 {
        run();
        f.later(10);
    }
    let settled = f.world.lambda.reserved("orders");
    f.world.calls.clear();
    // The load eases a little, within the tolerance, with noise and a few messages waiting
    // now and then: the drain part comes and goes, the reservation and history stay.
    for (i, in_flight) in [34, 38, 35, 37, 36, 33, 38, 35, 37, 34, 36, 35]
        .iter()
        .enumerate()
    {
        f.depth([0, 30, 0, 12, 45, 0][i % 6], *in_flight);
        run();
        f.later(10);
    }
    assert_eq!(f.world.lambda.reserved("orders"), settled);
    assert_eq!(f.world.calls.count("PutFunctionConcurrency"), 0);
    assert_eq!(f.world.calls.count("PutItem"), 0, "no history write either");
}

#[test]
fn while_nothing_is_measured_the_read_is_tried_again_after_two_minutes() {
    let f = fixture(MEASURED);
    f.depth(100, 5);
    f.run();
    assert_eq!(f.reads(), 1);
    f.later(60);
    f.run();
    assert_eq!(f.reads(), 1, "not within two minutes");
    f.later(60);
    f.measured(0.5, 1.0);
    let outcome = f.run();
    assert_eq!(f.reads(), 2);
    assert!(says(decision(&outcome), "measured by CloudWatch"));
}

#[test]
fn after_a_spike_the_reservation_comes_down_without_the_window_until_a_drop_is_undone() {
    let f = fixture_with(
        r#"{"name": "orders-q", "target_wait_seconds": 10, "service_seconds": 1}"#,
        r#""tolerance": 0.3, "scale_out_cooldown_seconds": 0, "scale_in_cooldown_seconds": 0,
            "scale_in_stabilization_seconds": 600"#,
    );
    // A spike: 200 at work.
    f.depth(0, 200);
    f.run();
    let spiked = f.reserved();
    assert!(spiked > 200, "{spiked}");
    // It ends: 10 at work. Within three minutes of a 600 s window the reservation is down.
    f.depth(0, 10);
    for _ in 0..3 {
        f.later(60);
        f.run();
    }
    let after = f.reserved();
    assert!(after < 40, "still {after} of {spiked}");
    assert!(f.saved_load().drop_at.is_some());
    // A second spike five minutes later undoes the drop...
    f.later(300);
    f.depth(0, 200);
    f.run();
    assert!(f.reserved() > 200);
    assert!(f.saved_load().drop_undone_at.is_some());
    // ...so the next drop waits out the window.
    f.depth(0, 10);
    for _ in 0..3 {
        f.later(60);
        let outcome = f.run();
        assert!(
            says(decision(&outcome), "but one was undone"),
            "{:?}",
            decision(&outcome).reasons
        );
    }
    assert!(f.reserved() > 200, "{}", f.reserved());
}

#[test]
fn two_targets_that_count_a_queues_delayed_messages_differently_keep_their_samples_apart() {
    let queue = |delayed: bool| {
        format!(
            r#"{{"name": "orders-q", "target_wait_seconds": 60, "service_seconds": 1,
                "include_delayed": {delayed}}}"#
        )
    };
    let policy = format!(
        r#"{{"targets": [
            {{"function": "orders", "min": 1, "max": 500, {KNOBS_OFF}, "queue": {}}},
            {{"function": "billing", "min": 1, "max": 500, {KNOBS_OFF}, "queue": {},
              "alarms": [{{"name": "billing-db", "on_alarm": {{"cap": 400}}}}]}}]}}"#,
        queue(false),
        queue(true)
    );
    let f = fixture_of(&policy);
    for name in ["orders", "billing"] {
        f.world.lambda.add(name, Some(10), &[]);
    }
    // 100 visible and 500 delayed, all along.
    f.world.queues.set_depth(
        "orders-q",
        QueueDepth {
            visible: 100,
            in_flight: 10,
            delayed: 500,
        },
    );
    f.run();
    f.later(60);
    // An alarm event: only billing is evaluated. Its 600 waiting are what it counted a
    // minute ago, not orders' 100.
    let alarm = json!({
        "source": "aws.cloudwatch",
        "alarmData": {"alarmName": "billing-db", "state": {"value": "OK"}}
    });
    let outcome = f.handle(&alarm, None).unwrap();
    let billing = outcome
        .decisions
        .iter()
        .find(|d| d.function == "billing")
        .expect("a decision for billing");
    assert!(
        says(billing, "smoothed over 2 samples"),
        "{:?}",
        billing.reasons
    );
    assert!(!says(billing, "piling up"), "{:?}", billing.reasons);
}

#[test]
fn a_failed_write_down_from_on_metric_failures_value_leaves_the_next_descent_no_drop() {
    let f = fixture_with(
        r#"{"name": "orders-q", "target_wait_seconds": 10, "service_seconds": 1}"#,
        r#""tolerance": 0.3, "scale_out_cooldown_seconds": 0, "scale_in_cooldown_seconds": 0,
            "scale_in_stabilization_seconds": 600, "on_metric_failure": {"set": 250}"#,
    );
    f.depth(0, 10);
    f.run();
    let settled = f.reserved();
    // The queue cannot be read: on_metric_failure sets 250.
    f.later(60);
    let denied = Some("AccessDenied");
    f.world
        .faults
        .inject("GetQueueAttributes", None, denied, "denied", None);
    f.run();
    f.world.faults.clear();
    assert_eq!(f.reserved(), 250);
    // The metrics are back and the proposals bring it down, but the write fails after the
    // history was saved.
    f.later(60);
    let failing = Some("ServiceException");
    f.world
        .faults
        .inject("PutFunctionConcurrency", None, failing, "boom", None);
    let failed = f.handle(&serde_json::from_str(SCHEDULED).unwrap(), None);
    f.world.faults.clear();
    assert!(failed.is_err(), "the write failed");
    assert_eq!(f.reserved(), 250);
    // The next evaluation leaves on_metric_failure's 250 again: no drop of the load's.
    f.later(60);
    let outcome = f.run();
    assert_eq!(f.reserved(), settled, "{:?}", decision(&outcome).reasons);
    assert_eq!(f.saved_load().drop_at, None, "{:?}", f.saved_load());
}

#[test]
fn a_queue_in_another_account_or_region_is_not_measured_by_a_same_named_queue_here() {
    let url = |region: &str, account: &str| {
        format!(
            r#"{{"url": "https://sqs.{region}.amazonaws.com/{account}/orders-q",
                "target_wait_seconds": 10}}"#
        )
    };
    let at = |queue: &str| {
        let f = fixture(queue);
        f.autoscaler
            .learn_account("arn:aws:lambda:us-east-1:123456789012:function:lambda-autoscaler");
        f.depth(0, 20);
        // A queue of the same name here, at 0.1 s a message.
        f.measured(0.1, 1.0);
        let record = decision(&f.run()).clone();
        (f.reads(), record)
    };
    for queue in [
        url("us-east-1", "999999999999"),
        url("eu-west-1", "123456789012"),
    ] {
        let (reads, record) = at(&queue);
        assert_eq!(reads, 0, "{queue}");
        assert!(
            says(
                &record,
                "unknown (no service_seconds, none measured: the queue is in another account or \
                 Region, whose metrics are not read here): at most the wait over the batch, 10"
            ),
            "{queue}: {:?}",
            record.reasons
        );
    }
    // The autoscaler's own account and Region: measured.
    let (reads, record) = at(&url("us-east-1", "123456789012"));
    assert_eq!(reads, 1);
    assert!(
        says(&record, "measured by CloudWatch"),
        "{:?}",
        record.reasons
    );
}

#[test]
fn a_read_that_keeps_failing_is_named_in_the_reasons_and_tried_less_and_less_often() {
    let f = fixture(MEASURED);
    f.depth(40, 5);
    f.world.faults.inject(
        "GetMetricData",
        None,
        Some("AccessDeniedException"),
        "not authorized to perform cloudwatch:GetMetricData",
        None,
    );
    let mut reads_at = Vec::new();
    let mut last = None;
    for minute in 0..60 {
        let before = f.reads();
        last = Some(f.run());
        if f.reads() > before {
            reads_at.push(minute);
        }
        f.later(60);
    }
    // 2, 4 and 8 minutes apart, then every 10 (as a measured target): 8 reads in the hour,
    // not the 30 of a read every 2 minutes.
    assert_eq!(reads_at, [0, 2, 6, 14, 24, 34, 44, 54]);
    let record = decision(last.as_ref().unwrap());
    assert!(
        says(record, "none measured: the latest metric read failed"),
        "{:?}",
        record.reasons
    );
}

#[test]
fn the_minute_still_filling_is_not_read_as_a_whole_one() {
    let f = fixture(MEASURED);
    f.depth(100, 5);
    // Whole minutes up to the last minute boundary at 0.5 s a message, and the minute now
    // filling (a third of it so far, at 5 s a message), which CloudWatch returns for any end
    // time inside it.
    let boundary = NOW - NOW.rem_euclid(60);
    let mut points: Vec<Point> = (0..5)
        .map(|m| Point {
            end: boundary - 60 * m,
            duration_seconds: 300.0,
            invocations: Some(600.0),
            messages: 600.0,
        })
        .collect();
    points.push(Point {
        end: boundary + 60,
        duration_seconds: 1000.0,
        invocations: Some(200.0),
        messages: 200.0,
    });
    f.world
        .cloudwatch
        .set_service_points("orders", "orders-q", points);
    let outcome = f.run();
    assert!(
        says(decision(&outcome), "service 0.5 s (measured by CloudWatch)"),
        "{:?}",
        decision(&outcome).reasons
    );
}
