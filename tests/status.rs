//! `autoscaler status` and `autoscaler activities` through the handler against the in-memory
//! world: what a row shows, that reading writes nothing, and how attempts get their outcome.

use lambda_autoscaler::alarm::AlarmState::{Alarm, Ok as Fine};
use lambda_autoscaler::handler::Autoscaler;
use lambda_autoscaler::memory::{MemoryLambda, World, ARCHIVE_PUT};
use lambda_autoscaler::policy::Policy;
use lambda_autoscaler::settings::Settings;
use lambda_autoscaler::state::{ActivityOutcome, History};
use serde_json::{json, Value};
use std::time::Duration;

const NOW: i64 = 1_700_000_000;

const POLICY: &str = r#"{"targets": [
  { "function": "orders", "min": 2, "max": 100, "tolerance": 0,
    "scale_out_cooldown_seconds": 60, "scale_in_cooldown_seconds": 300,
    "scale_in_stabilization_seconds": 0,
    "alarms": [ { "name": "backlog", "on_alarm": { "change": 10 } },
                { "name": "db", "on_alarm": { "cap": 3 } } ],
    "queue": { "name": "orders-q", "messages_per_instance": 1000 } }
]}"#;

fn world() -> (World, Autoscaler) {
    let world = World::new(NOW);
    let settings = Settings::default();
    let ctx = world.context(settings.control_plane_rps, settings.get_function_rps, true);
    let autoscaler = Autoscaler::new(Policy::from_json(POLICY, "test"), settings, ctx);
    world
        .lambda
        .add("orders", Some(5), &[("autoscaler:enabled", "true")]);
    world.cloudwatch.set_alarm("db", Fine);
    world.lambda.add_mapping("orders", "orders-q", None, true);
    world
        .queues
        .set_depth("orders-q", lambda_autoscaler::ports::QueueDepth::default());
    (world, autoscaler)
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(future)
}

fn alarm_event(name: &str, state: &str) -> Value {
    json!({"source": "aws.cloudwatch", "alarmData": {"alarmName": name, "state": {"value": state}}})
}

const WRITES: [&str; 3] = [
    "PutFunctionConcurrency",
    "UpdateEventSourceMapping",
    "PutItem",
];

#[test]
fn status_shows_bounds_reservation_recommendation_change_cooldowns_signals_and_mappings() {
    let (world, autoscaler) = world();
    world.cloudwatch.set_alarm("backlog", Alarm);
    block_on(autoscaler.handle(&alarm_event("backlog", "ALARM"), None)).unwrap();
    world.clock.advance(Duration::from_secs(20));
    world.calls.clear();
    let (rows, errors) = block_on(autoscaler.status(None)).unwrap();
    assert!(errors.is_empty());
    let writes: usize = WRITES.iter().map(|op| world.calls.count(op)).sum();
    assert_eq!(writes, 0, "status writes nothing: {:?}", world.calls.all());
    let row = &rows[0];
    assert_eq!(
        (row.function.as_str(), row.min, row.max),
        ("orders", 2, 100)
    );
    assert_eq!(row.reservation, Some(15));
    let recommended = row.recommendation.unwrap();
    assert_eq!((recommended.value, recommended.since), (15, Some(NOW)));
    let change = row.last_change.unwrap();
    assert_eq!((change.at, change.direction), (NOW, "out"));
    assert_eq!(row.cooldown.scale_out_seconds_left, 40);
    assert_eq!(row.cooldown.scale_in_seconds_left, 280);
    let alarms: Vec<(&str, &str)> = row
        .alarms
        .iter()
        .map(|a| (a.name.as_str(), a.state.as_str()))
        .collect();
    assert_eq!(alarms, [("backlog", "ALARM"), ("db", "OK")]);
    assert_eq!(row.queue.as_ref().unwrap().visible, Some(0));
    assert_eq!(row.event_sources[0].maximum_concurrency, Some(15));
    assert_eq!(row.event_sources[0].state, "Enabled");
    let json = serde_json::to_value(row).unwrap();
    assert_eq!(json["lastChange"]["direction"], "out");
    assert_eq!(json["reservation"], 15);
    assert_eq!(json["eventSources"][0]["maximumConcurrency"], 15);
    let table = lambda_autoscaler::status::table(&rows, NOW + 20);
    assert!(table.starts_with("FUNCTION"), "{table}");
    assert!(table.contains("out 20 s ago"), "{table}");
}

#[test]
fn a_target_that_could_not_be_read_shows_its_reservation_as_unknown_not_unreserved() {
    let (world, autoscaler) = world();
    world.faults.inject(
        "GetFunction",
        None,
        Some("AccessDeniedException"),
        "injected",
        None,
    );
    let (rows, _) = block_on(autoscaler.status(None)).unwrap();
    assert!(rows[0].error.is_some());
    let table = lambda_autoscaler::status::table(&rows, NOW);
    let line = table.lines().find(|l| l.starts_with("orders")).unwrap();
    assert!(line.contains("unknown"), "{line}");
    assert!(
        !line.contains("unreserved") && !line.contains("0s/0s"),
        "{line}"
    );
    // An archived activity may carry any time: ages saturate.
    assert_eq!(
        lambda_autoscaler::status::ago(NOW, i64::MIN),
        format!("{} d", i64::MAX / 86_400)
    );
}

#[test]
fn status_of_a_function_the_policy_does_not_manage_is_refused() {
    let (_, autoscaler) = world();
    let error = block_on(autoscaler.status(Some("payments"))).unwrap_err();
    assert_eq!(error.error_type(), "UnmanagedFunction");
}

#[test]
fn an_attempt_is_pending_until_the_next_write_settles_it_from_the_reservation_read() {
    let (world, autoscaler) = world();
    world.cloudwatch.set_alarm("backlog", Alarm);
    block_on(autoscaler.handle(&alarm_event("backlog", "ALARM"), None)).unwrap();
    let arn = MemoryLambda::arn("orders");
    let (history, _) = world.state.get(&arn).unwrap();
    assert_eq!(history.activities.len(), 1);
    assert_eq!(history.activities[0].outcome, ActivityOutcome::Pending);
    assert_eq!(history.activities[0].desired, Some(15));
    // Shown as pending, with the reservation now.
    let views = block_on(autoscaler.activities("orders", 20)).unwrap();
    assert!(
        views[0].outcome.contains("now 15 as desired"),
        "{:?}",
        views[0]
    );
    // The next change settles it: the reservation it read was 15.
    world.clock.advance(Duration::from_secs(120));
    world.cloudwatch.set_alarm("backlog", Fine);
    world.cloudwatch.set_alarm("db", Alarm);
    block_on(autoscaler.handle(&alarm_event("db", "ALARM"), None)).unwrap();
    // The target's item keeps the newest; the settled one went to an item of its own.
    let (history, _) = world.state.get(&arn).unwrap();
    assert_eq!(history.activities.len(), 1);
    // Numbered from the history's start: the settled one was its first.
    let first = History::started_at(NOW).earlier_activities;
    assert_eq!(history.earlier_activities, first + 1);
    let views = block_on(autoscaler.activities("orders", 1)).unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!((views[0].previous, views[0].desired), (Some(15), Some(3)));
    assert!(views[0].trigger.contains("db"), "{:?}", views[0]);
    let views = block_on(autoscaler.activities("orders", 20)).unwrap();
    assert_eq!(views.len(), 2);
    assert_eq!(views[1].desired, Some(15));
    assert_eq!(views[1].outcome, "applied", "{:?}", views[1]);
}

#[test]
fn a_failed_change_records_its_outcome_at_once_with_a_second_write() {
    let (world, autoscaler) = world();
    world.faults.inject(
        "PutFunctionConcurrency",
        None,
        Some("ResourceNotFoundException"),
        "gone",
        None,
    );
    world.cloudwatch.set_alarm("backlog", Alarm);
    assert!(block_on(autoscaler.handle(&alarm_event("backlog", "ALARM"), None)).is_err());
    assert_eq!(
        world.calls.count("PutItem"),
        2,
        "the attempt, then its outcome"
    );
    let (history, _) = world.state.get(&MemoryLambda::arn("orders")).unwrap();
    match &history.activities[0].outcome {
        ActivityOutcome::Failed(why) => assert!(why.contains("gone"), "{why}"),
        other => panic!("{other:?}"),
    }
    let views = block_on(autoscaler.activities("orders", 20)).unwrap();
    assert!(views[0].outcome.starts_with("failed: "), "{:?}", views[0]);
}

#[test]
fn a_steady_target_writes_no_activity_and_its_attempt_stays_pending() {
    let (world, autoscaler) = world();
    // The queue proposes 15 (15000 visible, 1000 per instance), evaluation after evaluation.
    let depth = lambda_autoscaler::ports::QueueDepth {
        visible: 15_000,
        ..Default::default()
    };
    world.queues.set_depth("orders-q", depth);
    let scheduled = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    block_on(autoscaler.handle(&scheduled, None)).unwrap();
    assert_eq!(world.lambda.reserved("orders"), Some(15));
    world.clock.advance(Duration::from_secs(60));
    world.calls.clear();
    block_on(autoscaler.handle(&scheduled, None)).unwrap();
    assert_eq!(world.calls.count("PutItem"), 0);
    let (history, _) = world.state.get(&MemoryLambda::arn("orders")).unwrap();
    assert_eq!(history.activities.len(), 1);
    assert_eq!(history.activities[0].outcome, ActivityOutcome::Pending);
}

#[test]
fn a_history_after_an_expired_one_never_shows_the_earlier_ones_activities() {
    let (world, autoscaler) = world();
    let arn = MemoryLambda::arn("orders");
    let command = |desired: u32| {
        world.clock.advance(Duration::from_secs(400));
        let command = json!({"function": "orders", "desiredConcurrency": desired});
        block_on(autoscaler.handle(&command, None)).unwrap();
    };
    for desired in [40, 41, 42] {
        command(desired);
    }
    // A week without a write: the item expires, its archived activities stay.
    world.state.expire(&arn);
    world.clock.advance(Duration::from_secs(8 * 86_400));
    // The new history's archive write fails (logged; the save itself lands).
    world
        .faults
        .inject(ARCHIVE_PUT, None, Some("InternalServerError"), "boom", None);
    command(10);
    command(11);
    let views = block_on(autoscaler.activities("orders", 20)).unwrap();
    let desired: Vec<_> = views.iter().map(|v| v.desired).collect();
    // Only the new history's newest: its first was never archived, and the slot that would
    // hold it still holds the earlier history's first (40), which must not show.
    assert_eq!(desired, [Some(11)]);
}

#[test]
fn at_most_twenty_activities_are_kept_newest_last() {
    let (world, autoscaler) = world();
    for i in 0..25u32 {
        world.clock.advance(Duration::from_secs(400));
        let command = json!({"function": "orders", "desiredConcurrency": 10 + i});
        block_on(autoscaler.handle(&command, None)).unwrap();
    }
    // A decision reads only the newest; the 19 before it are archived apart.
    let (history, _) = world.state.get(&MemoryLambda::arn("orders")).unwrap();
    assert_eq!(history.activities.len(), 1);
    // The history started at the first command, 400 s in.
    let first = History::started_at(NOW + 400).earlier_activities;
    assert_eq!(history.earlier_activities, first + 24);
    let views = block_on(autoscaler.activities("orders", 50)).unwrap();
    let desired: Vec<_> = views.iter().map(|v| v.desired.unwrap()).collect();
    assert_eq!(desired, (15..=34).rev().collect::<Vec<_>>());
    assert!(
        views[1..].iter().all(|v| v.outcome == "applied"),
        "{views:?}"
    );
}

#[test]
fn status_shows_the_bounds_of_the_active_schedules_and_names_them() {
    // NOW is 22:13 UTC: the evening window is active, the morning one is not.
    let policy = POLICY.replace(
        r#""queue":"#,
        r#""schedules": [
             { "name": "evening", "start": "0 22 * * *", "duration_seconds": 7200, "min": 20 },
             { "name": "morning", "start": "0 8 * * *", "duration_seconds": 7200, "max": 4 } ],
           "queue":"#,
    );
    let world = World::new(NOW);
    let settings = Settings::default();
    let ctx = world.context(settings.control_plane_rps, settings.get_function_rps, true);
    let autoscaler = Autoscaler::new(Policy::from_json(&policy, "test"), settings, ctx);
    world
        .lambda
        .add("orders", Some(5), &[("autoscaler:enabled", "true")]);
    let (rows, _) = block_on(autoscaler.status(None)).unwrap();
    let row = &rows[0];
    assert_eq!((row.min, row.max), (20, 100));
    assert_eq!(row.schedules, ["evening"]);
    assert_eq!(
        serde_json::to_value(row).unwrap()["schedules"],
        json!(["evening"])
    );
    let table = lambda_autoscaler::status::table(&rows, NOW);
    assert!(table.contains("schedule evening"), "{table}");
}

#[test]
fn a_target_whose_mappings_cannot_be_listed_keeps_its_reservation_and_signals_with_a_warning() {
    let (world, autoscaler) = world();
    world.faults.inject(
        "ListEventSourceMappings",
        None,
        Some("ServiceException"),
        "injected",
        None,
    );
    let (rows, _) = block_on(autoscaler.status(None)).unwrap();
    assert_eq!(rows[0].reservation, Some(5));
    assert_eq!(rows[0].error, None);
    assert!(
        (rows[0].warning.as_deref())
            .is_some_and(|w| w.contains("event source mappings unreadable")),
        "{:?}",
        rows[0].warning
    );
    let table = lambda_autoscaler::status::table(&rows, NOW + 20);
    let line = table.lines().find(|l| l.starts_with("orders")).unwrap();
    // function, min, max, reservation.
    assert_eq!(line.split_whitespace().nth(3), Some("5"), "{line}");
    assert!(line.contains("db=OK"), "{line}");
    assert!(!line.contains("error:"), "{line}");
    assert!(
        line.contains("(warning: event source mappings unreadable"),
        "{line}"
    );
}

#[test]
fn a_named_tagged_target_that_discovery_cannot_see_says_why_not_that_it_is_not_tagged() {
    let (world, autoscaler) = world();
    let tags = |min: &'static str| {
        [
            ("autoscaler:enabled", "true"),
            ("autoscaler:min", min),
            ("autoscaler:max", "50"),
        ]
    };
    world.lambda.add("payments", Some(4), &tags("1"));
    let (rows, errors) = block_on(autoscaler.status(Some("payments"))).unwrap();
    assert!(errors.is_empty() && rows.len() == 1, "{errors:?}");
    // A function that is simply not managed is said to be so.
    let error = block_on(autoscaler.status(Some("nobody"))).unwrap_err();
    assert_eq!(error.error_type(), "UnmanagedFunction", "{error}");
    // Its tags are invalid: that is what both commands say.
    world.lambda.add("payments", Some(4), &tags("60"));
    let status = block_on(autoscaler.status(Some("payments"))).unwrap_err();
    let activities = block_on(autoscaler.activities("payments", 5)).unwrap_err();
    for error in [status, activities] {
        assert_eq!(error.error_type(), "InvalidTagPolicy", "{error}");
    }
    // Discovery is denied: the failure, not "not tagged".
    world.lambda.add("payments", Some(4), &tags("1"));
    deny_tag_discovery(&world);
    let status = block_on(autoscaler.status(Some("payments"))).unwrap_err();
    let activities = block_on(autoscaler.activities("payments", 5)).unwrap_err();
    for error in [status, activities] {
        assert_ne!(error.error_type(), "UnmanagedFunction", "{error}");
        assert!(error.to_string().contains("tag:GetResources"), "{error}");
    }
}

#[test]
fn status_of_a_named_function_reports_no_other_functions_errors() {
    let (world, autoscaler) = world();
    // "orders" (the document's) is listed; another function's tags are invalid.
    world.lambda.add(
        "billing",
        Some(4),
        &[
            ("autoscaler:enabled", "true"),
            ("autoscaler:min", "60"),
            ("autoscaler:max", "50"),
        ],
    );
    let (rows, errors) = block_on(autoscaler.status(Some("orders"))).unwrap();
    assert_eq!(rows.len(), 1);
    // The CLI exits 1 with "targets missing from the list: ..." whenever this is not empty.
    assert!(
        errors.is_empty(),
        "status --function orders listed orders, yet fails for: {errors:?}"
    );
}

#[test]
fn status_of_a_document_target_needs_no_discovery() {
    let (world, autoscaler) = world();
    deny_tag_discovery(&world);
    // "orders" is the policy document's: tag discovery could not add or change it.
    let (rows, errors) = block_on(autoscaler.status(Some("orders"))).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        errors.is_empty(),
        "status --function orders listed orders in full, yet exits 1 for: {errors:?}"
    );
}

/// The role may not read the account's tags: tag discovery fails for every run.
fn deny_tag_discovery(world: &lambda_autoscaler::memory::World) {
    world.faults.inject(
        "GetResources",
        None,
        Some("AccessDeniedException"),
        "not authorized to perform tag:GetResources",
        None,
    );
}
