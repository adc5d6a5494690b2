//! `autoscaler simulate` end to end: the table, the JSON, the chart, known answers through the
//! command line, and bad input that must fail with a clear message and exit status 1.

mod support;

use serde_json::Value;
use std::path::PathBuf;

/// `autoscaler simulate --policy POLICY --trace TRACE OPTIONS...`
fn simulate(policy: &str, trace: &str, options: &[&str]) -> (i32, String, String) {
    let mut args = vec!["simulate", "--policy", policy, "--trace", trace];
    args.extend(options);
    support::run_cli(&args, &[])
}

/// A fresh directory for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("autoscaler-sim-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const QUEUE_POLICY: &str = r#"{"targets": [
  {"function": "reports-api", "min": 1, "max": 20},
  {"function": "orders-worker", "min": 1, "max": 50,
   "queue": {"name": "orders", "messages_per_instance": 1},
   "alarms": [{"name": "orders-backlog-high", "on_alarm": {"set": 50}}]}]}"#;

/// Exit status 1, nothing on stdout, and `expected` in the message: a clear error, no panic.
fn assert_fails_with(code: i32, stdout: &str, stderr: &str, expected: &str) {
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_recommended_policy_runs_every_default_algorithm_on_a_builtin_trace() {
    let dir = scratch("default");
    let json = dir.join("out.json");
    let svg = dir.join("out.svg");
    let (code, stdout, stderr) = simulate(
        "examples/recommended-policy.json",
        "spike",
        &[
            "--json",
            json.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("trace spike (seed 1)"), "{stdout}");
    assert!(
        lines[2].starts_with("algorithm  message-wait (msg-s)"),
        "{stdout}"
    );
    let rows: Vec<&str> = lines[3..]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(rows, ["policy", "hpa", "step", "oracle"]);

    let value: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let algorithms = value["algorithms"].as_object().unwrap();
    assert_eq!(algorithms.len(), 4);
    for metrics in algorithms.values() {
        let mut keys: Vec<&str> = metrics
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "concurrency_seconds",
                "direction_changes",
                "drain_seconds",
                "max_backlog",
                "message_wait_seconds",
                "reaction_not_covered",
                "reaction_seconds_max",
                "reaction_seconds_mean",
                "writes"
            ]
        );
    }
    // The spike, from 10 to 200 a second at minute 20, is the trace's one step up.
    let steps = value["steps_up"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{value}");
    assert_eq!(steps[0]["second"], 1200);
    // The oracle keeps the backlog at zero: the floor the others are measured against.
    assert_eq!(value["algorithms"]["oracle"]["max_backlog"], 0);

    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg"));
    for name in ["policy", "hpa", "step", "oracle"] {
        assert!(
            chart.contains(&format!("\n{name}\n")),
            "no legend entry {name}"
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

/// Runs QUEUE_POLICY on a CSV trace of `arrivals` per second with `algorithms`; the results
/// as JSON.
fn simulate_csv(test: &str, arrivals: &[u64], algorithms: &str) -> Value {
    let dir = scratch(test);
    let policy = write(&dir, "policy.json", QUEUE_POLICY);
    let rows: String = arrivals
        .iter()
        .enumerate()
        .map(|(second, count)| format!("{second},{count}\n"))
        .collect();
    let trace = write(&dir, "trace.csv", &format!("second,arrivals\n{rows}"));
    let json = dir.join("out.json");
    let (code, _, stderr) = simulate(
        &policy,
        &trace,
        &[
            "--algorithms",
            algorithms,
            "--alarm",
            "orders-backlog-high=100000",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    std::fs::remove_dir_all(dir).ok();
    value
}

#[test]
fn a_static_ten_against_fifty_messages_a_second_grows_the_backlog_by_forty_each_second() {
    let value = simulate_csv("known", &[50; 10], "static:10,static:max");
    // 40, 80, ..., 400 messages wait at the ends of the ten seconds.
    assert_eq!(
        value["algorithms"]["static:10"],
        serde_json::json!({"message_wait_seconds": 2200, "max_backlog": 400,
            "drain_seconds": null, "concurrency_seconds": 100, "writes": 0,
            "direction_changes": 0, "reaction_seconds_mean": null,
            "reaction_seconds_max": null, "reaction_not_covered": 0})
    );
    // static:max is the target's max, 50: exactly enough, nothing ever waits.
    let max = &value["algorithms"]["static:max"];
    assert_eq!(max["max_backlog"], 0);
    assert_eq!(max["concurrency_seconds"], 500);
}

#[test]
fn the_policy_follows_the_queue_through_the_decision_core() {
    // Quiet, then 30 a second from second 60: the evaluation at second 120 sees 60 s of
    // 29 extra messages a second (1740 visible, 1 in flight) and proposes 1741, so max 50.
    let arrivals: Vec<u64> = (0..180).map(|s| if s < 60 { 1 } else { 30 }).collect();
    let value = simulate_csv("policy", &arrivals, "policy");
    let policy = &value["algorithms"]["policy"];
    assert_eq!(policy["max_backlog"], 1740);
    // From 1 to 50 at second 120: one write; 120 s at 1, 60 s at 50.
    assert_eq!(policy["writes"], 1);
    assert_eq!(policy["concurrency_seconds"], 120 + 60 * 50);
}

#[test]
fn an_alarm_without_a_threshold_is_ignored_with_a_warning() {
    let dir = scratch("alarm");
    let policy = write(&dir, "policy.json", QUEUE_POLICY);
    let (code, _, stderr) = simulate(&policy, "step", &["--algorithms", "policy"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "warning: alarm orders-backlog-high of target orders-worker has no threshold"
        ),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_long_trace_reports_its_progress_on_stderr() {
    let dir = scratch("progress");
    let policy = write(&dir, "policy.json", QUEUE_POLICY);
    // The longest trace allowed, 31 days; the seconds left out are quiet.
    let trace = write(&dir, "trace.csv", "second,arrivals\n0,10\n2678399,10\n");
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = simulate(
        &policy,
        &trace,
        &["--algorithms", "policy,hpa,step,oracle,static:1,static:2"],
    );
    let took = started.elapsed();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("static:2"));
    let percents: Vec<u32> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("simulating: "))
        .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
        .collect();
    // Nothing is said in the first second, so only a run that took longer must say it.
    if took > std::time::Duration::from_millis(1500) {
        assert!(!percents.is_empty(), "no progress in {took:?}:\n{stderr}");
    }
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");
    assert!(percents.iter().all(|&p| p <= 100), "{percents:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_input_names_what_is_wrong_and_exits_1() {
    let dir = scratch("bad");
    let policy = write(&dir, "policy.json", QUEUE_POLICY);
    let no_queue = write(
        &dir,
        "no-queue.json",
        r#"{"targets": [{"function": "reports-api", "min": 1, "max": 20}]}"#,
    );
    let bad_header = write(&dir, "header.csv", "time,count\n0,1\n");
    let bad_row = write(&dir, "row.csv", "second,arrivals\n0,1\n1,many\n");
    let missing = dir.join("missing.json").display().to_string();
    // Bad input files: (the policy, the trace, what the message says).
    let inputs: [(&str, &str, String); 5] = [
        (&missing, "step", "cannot read the file".into()),
        (
            &no_queue,
            "step",
            format!("policy {no_queue}: no target follows a queue"),
        ),
        (
            &policy,
            "no-such-trace.csv",
            "trace no-such-trace.csv: cannot read the file".into(),
        ),
        (
            &policy,
            &bad_header,
            format!("trace {bad_header}: line 1: the header must be `second,arrivals`"),
        ),
        (
            &policy,
            &bad_row,
            format!("trace {bad_row}: line 3: arrivals `many` is not a whole number >= 0"),
        ),
    ];
    for (policy, trace, expected) in &inputs {
        let (code, stdout, stderr) = simulate(policy, trace, &[]);
        assert_fails_with(code, &stdout, &stderr, expected);
    }
    // Wrong options on a good policy and trace: (the options, what the message says).
    let options: [(&[&str], &str); 10] = [
        (
            &["--algorithms", "policy,kpa"],
            "--algorithms policy,kpa: unknown algorithm `kpa`",
        ),
        (
            &["--algorithms", "static:x"],
            "--algorithms static:x: `static:x`: the size must be",
        ),
        (
            &["--alarm", "orders-backlog-high"],
            "--alarm orders-backlog-high: expected NAME=",
        ),
        (
            &["--alarm", "orders-backlog-high=lots"],
            "the threshold must be a number",
        ),
        (
            &["--target", "billing-worker"],
            "--target billing-worker: policy",
        ),
        (
            &["--target", "reports-api"],
            "the target does not follow a queue",
        ),
        (
            &["--service-seconds", "0"],
            "--service-seconds 0: must be a number of seconds above 0",
        ),
        (
            &["--service-seconds", "NaN"],
            "--service-seconds NaN: must be a number of seconds",
        ),
        (
            &["--interval", "0"],
            "--interval 0: must be at least 1 second",
        ),
        (
            &["--json", "/no/such/dir/out.json"],
            "cannot write /no/such/dir/out.json",
        ),
    ];
    for (extra, expected) in options {
        let (code, stdout, stderr) = simulate(&policy, "step", extra);
        assert_fails_with(code, &stdout, &stderr, expected);
    }
    std::fs::remove_dir_all(dir).ok();
}

// ---- schedules (issue 15) ---------------------------------------------------------------

/// The policy's metrics on `trace` with these extra options.
fn policy_metrics(test: &str, policy: &str, trace: &str, extra: &[&str]) -> (Value, String) {
    let dir = scratch(test);
    let json = dir.join("out.json");
    let mut options = vec!["--algorithms", "policy", "--json", json.to_str().unwrap()];
    options.extend_from_slice(extra);
    let (code, stdout, stderr) = simulate(policy, trace, &options);
    assert_eq!(code, 0, "{stderr}");
    let value: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    std::fs::remove_dir_all(dir).ok();
    (value["algorithms"]["policy"].clone(), stdout)
}

#[test]
fn start_puts_the_trace_on_the_clock_the_schedules_read() {
    let business = "examples/business-hours.json";
    // `step` lasts 70 min. From Tuesday 07:50 in Berlin, business hours (min 120) open at
    // 07:55; from Saturday they do not open at all.
    let (tuesday, stdout) = policy_metrics(
        "tuesday",
        business,
        "step",
        &["--start", "2026-12-01T07:50:00+01:00"],
    );
    assert!(
        stdout.contains(", from 2026-12-01 07:50 CET"),
        "the setting names the start: {stdout}"
    );
    let (saturday, _) = policy_metrics(
        "saturday",
        business,
        "step",
        &["--start", "2026-12-05T07:50:00+01:00"],
    );
    let held = |m: &Value| m["concurrency_seconds"].as_f64().unwrap();
    let waited = |m: &Value| m["message_wait_seconds"].as_f64().unwrap();
    // From 07:55, at least 120 for 65 minutes; the step to 100 msg/s at minute 10 then
    // finds its capacity there, and (on this trace) far less waits.
    assert!(held(&tuesday) >= 120.0 * 65.0 * 60.0, "{tuesday}");
    // On a Saturday no window is active: exactly the recommended policy's run.
    let (recommended, _) = policy_metrics(
        "recommended",
        "examples/recommended-policy.json",
        "step",
        &[],
    );
    assert_eq!(saturday, recommended);
    assert!(waited(&tuesday) < waited(&saturday), "{tuesday} {saturday}");
}

#[test]
fn without_schedules_the_start_changes_nothing() {
    let recommended = "examples/recommended-policy.json";
    let (plain, stdout) = policy_metrics("plain", recommended, "spike", &[]);
    assert!(!stdout.contains(", from "), "{stdout}");
    let (started, _) = policy_metrics(
        "started",
        recommended,
        "spike",
        &["--start", "2026-12-01T07:50:00+01:00"],
    );
    assert_eq!(plain, started);
}

#[test]
fn a_bad_start_is_a_usage_error() {
    let (code, _, stderr) = simulate(
        "examples/recommended-policy.json",
        "spike",
        &["--start", "tomorrow"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("\"tomorrow\" is neither epoch seconds nor an RFC 3339 time"));
}

#[test]
fn the_baselines_keep_their_own_target_so_the_policys_knobs_move_the_policy_alone() {
    let dir = scratch("baseline-target");
    let run = |policy_per_instance: u32, options: &[&str]| -> Value {
        let policy = QUEUE_POLICY.replace(
            r#""messages_per_instance": 1}"#,
            &format!(r#""messages_per_instance": {policy_per_instance}}}"#),
        );
        let policy = write(&dir, &format!("p{policy_per_instance}.json"), &policy);
        let json = dir.join(format!("out-{policy_per_instance}-{}.json", options.len()));
        let mut args = vec![
            "--target",
            "orders-worker",
            "--json",
            json.to_str().unwrap(),
        ];
        args.extend(options);
        let (code, _, stderr) = simulate(&policy, "spike", &args);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
    };
    let by_1 = run(1, &[]);
    let by_10 = run(10, &[]);
    // The policy's own knob moved the policy, not the baselines (their T stays 1).
    assert_ne!(by_1["algorithms"]["policy"], by_10["algorithms"]["policy"]);
    assert_eq!(by_1["algorithms"]["hpa"], by_10["algorithms"]["hpa"]);
    assert_eq!(by_1["algorithms"]["step"], by_10["algorithms"]["step"]);
    // The baselines' T moves the baselines alone.
    let baseline_10 = run(1, &["--baseline-messages-per-instance", "10"]);
    assert_eq!(
        by_1["algorithms"]["policy"],
        baseline_10["algorithms"]["policy"]
    );
    assert_ne!(by_1["algorithms"]["hpa"], baseline_10["algorithms"]["hpa"]);
    let (code, stdout, stderr) = simulate(
        "examples/recommended-policy.json",
        "spike",
        &["--baseline-messages-per-instance", "0"],
    );
    assert_eq!(code, 2, "a usage error: {stdout}{stderr}");
}

// ---- per-algorithm cadence (NAME@SECONDS) -----------------------------------------------

/// A policy that follows the queue at every evaluation: no tolerance, cooldown or window.
const EAGER_POLICY: &str = r#"{"targets": [
  {"function": "orders-worker", "min": 1, "max": 500,
   "queue": {"name": "orders", "messages_per_instance": 1},
   "tolerance": 0, "scale_out_cooldown_seconds": 0, "scale_in_cooldown_seconds": 0,
   "scale_in_stabilization_seconds": 0}]}"#;

/// Runs EAGER_POLICY on a CSV trace with these options; (stdout, the JSON's algorithms).
fn simulate_eager(test: &str, arrivals: &[u64], options: &[&str]) -> (String, Value) {
    let dir = scratch(test);
    let policy = write(&dir, "policy.json", EAGER_POLICY);
    let rows: String = arrivals
        .iter()
        .enumerate()
        .map(|(second, count)| format!("{second},{count}\n"))
        .collect();
    let trace = write(&dir, "trace.csv", &format!("second,arrivals\n{rows}"));
    let json = dir.join("out.json");
    let mut args = vec!["--json", json.to_str().unwrap()];
    args.extend(options);
    let (code, stdout, stderr) = simulate(&policy, &trace, &args);
    assert_eq!(code, 0, "{stderr}");
    let value: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    std::fs::remove_dir_all(dir).ok();
    (stdout, value["algorithms"].clone())
}

#[test]
fn an_algorithm_at_ten_seconds_evaluates_six_times_as_often_as_at_sixty() {
    // A ramp of one more message a second each second: every evaluation but the first (which
    // finds the start value) sees a different load, so each one writes.
    let ramp: Vec<u64> = (10..190).collect();
    let (stdout, results) = simulate_eager(
        "cadence",
        &ramp,
        &["--algorithms", "policy@10,policy@60,hpa@15,oracle"],
    );
    // 180 s: evaluations at 0, 10, ..., 170 (18) against 0, 60, 120 (3).
    assert_eq!(results["policy@10"]["writes"], 17, "{results}");
    assert_eq!(results["policy@60"]["writes"], 2, "{results}");
    assert_eq!(results.as_object().unwrap().len(), 4, "{results}");
    for name in ["policy@10", "policy@60", "hpa@15", "oracle"] {
        assert!(stdout.lines().any(|l| l.starts_with(name)), "{stdout}");
    }
    assert!(
        stdout.contains(
            "evaluation every 60 s (policy@10 every 10 s, hpa@15 every 15 s), observed 0 s late"
        ),
        "{stdout}"
    );

    // NAME@SECONDS is NAME with --interval SECONDS, number for number.
    for (entry, interval) in [("policy@10", "10"), ("hpa@15", "15"), ("policy@60", "60")] {
        let base = entry.split('@').next().unwrap();
        let (plain_stdout, plain) = simulate_eager(
            &format!("interval-{interval}"),
            &ramp,
            &["--algorithms", base, "--interval", interval],
        );
        assert_eq!(results[entry], plain[base], "{entry}");
        assert!(!plain_stdout.contains(" every 10 s ("), "{plain_stdout}");
    }
}

#[test]
fn a_bad_cadence_names_its_entry_and_exits_1() {
    let dir = scratch("bad-cadence");
    let policy = write(&dir, "policy.json", QUEUE_POLICY);
    let cases: [(&str, &str); 6] = [
        (
            "policy@0",
            "--algorithms policy@0: `policy@0`: the cadence after @ must be a whole number of \
             seconds from 1",
        ),
        ("hpa@x", "`hpa@x`: the cadence after @ must be"),
        ("policy,step@", "`step@`: the cadence after @ must be"),
        (
            "oracle@5",
            "`oracle@5`: the oracle decides every second by definition, so it takes no @SECONDS",
        ),
        (
            "static:5@10",
            "`static:5@10`: a static reservation never changes, so it takes no @SECONDS",
        ),
        ("policy@10,policy@10", "`policy@10` is listed twice"),
    ];
    for (algorithms, expected) in cases {
        let (code, stdout, stderr) = simulate(&policy, "step", &["--algorithms", algorithms]);
        assert_fails_with(code, &stdout, &stderr, expected);
    }
    std::fs::remove_dir_all(dir).ok();
}

// ---- reaction ----------------------------------------------------------------------------

#[test]
fn reaction_counts_the_seconds_from_a_step_up_until_the_reservation_covers_it() {
    // 20 a second for 10 minutes, then 80; the eager policy follows the queue.
    let mut arrivals = vec![20; 600];
    arrivals.extend([80; 600]);
    let (stdout, results) = simulate_eager(
        "reaction",
        &arrivals,
        &[
            "--algorithms",
            "policy@10,policy@60,static:50,static:80,oracle",
        ],
    );
    let reaction = |name: &str| {
        let m = &results[name];
        (
            m["reaction_seconds_mean"].as_u64(),
            m["reaction_seconds_max"].as_u64(),
            m["reaction_not_covered"].as_u64().unwrap(),
        )
    };
    // The step is at second 600 and needs 80. The evaluation at 600 still sees the queue
    // before it (the end of second 599); the next one, 10 or 60 s later, sees the backlog
    // and scales out at once.
    assert_eq!(reaction("policy@10"), (Some(10), Some(10), 0));
    assert_eq!(reaction("policy@60"), (Some(60), Some(60), 0));
    // A static 80 covers it at once; 50 never does.
    assert_eq!(reaction("static:80"), (Some(0), Some(0), 0));
    assert_eq!(reaction("static:50"), (None, None, 1));
    assert_eq!(reaction("oracle"), (Some(0), Some(0), 0));
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap()
            .to_owned()
    };
    assert!(row("policy@60").ends_with(" 60/60"), "{stdout}");
    assert!(row("static:50").ends_with(" 1 never"), "{stdout}");
}

#[test]
fn a_drain_time_target_without_a_batch_size_is_noted_as_simulated_with_batches_of_one() {
    let note = "simulated taking one message per execution (BatchSize 1)";
    let (code, _, stderr) = simulate(
        "examples/drain-time-policy.json",
        "step",
        &["--algorithms", "policy"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(note), "{stderr}");
    // With the batch size given, or with a messages_per_instance target: no note.
    let dir = scratch("batch");
    let given = write(
        &dir,
        "given.json",
        r#"{"targets": [{"function": "w", "min": 1, "max": 50,
            "queue": {"name": "q", "target_wait_seconds": 30, "batch_size": 10}}]}"#,
    );
    for policy in [given.as_str(), "examples/recommended-policy.json"] {
        let (code, _, stderr) = simulate(policy, "step", &["--algorithms", "policy"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(!stderr.contains(note), "{policy}: {stderr}");
    }
}
