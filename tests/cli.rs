//! The CLI's commands that need no AWS endpoint.

mod support;

fn autoscaler(args: &[&str]) -> (i32, String, String) {
    support::run_cli(args, &[])
}

/// A fresh directory for one test, named after `tag`, with `policy.json` holding `json`:
/// (the directory, the policy's path).
fn policy_file(tag: &str, json: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("autoscaler-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.json");
    std::fs::write(&policy, json).unwrap();
    (dir, policy)
}

#[test]
fn validate_prints_each_target_with_its_rules_queue_and_knobs() {
    let (code, stdout, stderr) = autoscaler(&["validate", "--policy", "examples/policy.json"]);
    assert_eq!(code, 0, "{stderr}");
    for line in [
        "orders-worker: min 0 max 100",
        "  alarm orders-backlog-high: on_alarm: change +10, on_ok: change -5",
        "  alarm orders-db-overloaded: on_alarm: cap 3",
        "  queue thumbnails: 10 messages per instance, in flight counted, delayed not counted, activation 0",
        "  tolerance 0.1, cooldowns out 60 s / in 300 s, scale-in stabilization 300 s, max step out unlimited / in unlimited",
        "policy OK: 3 target(s)",
        "note: an SQS event source mapping in provisioned mode (ProvisionedPollerConfig) has no MaximumConcurrency and is left alone: its pollers can run more than the reservation, so throttled batches go back to the queue. validate reads no AWS and cannot tell which mappings are; each decision names them",
    ] {
        assert!(stdout.lines().any(|l| l == line), "missing {line:?} in:\n{stdout}");
    }
    // What a target does without its metrics, and a queue as the policy names it (a URL
    // says which account and Region).
    let url = "https://sqs.eu-west-1.amazonaws.com/210987654321/orders";
    let (dir, policy) = policy_file(
        "validate-url",
        &format!(
            r#"{{"targets": [{{"function": "f", "min": 2, "max": 50,
                "on_metric_failure": {{"set": 8}},
                "queue": {{"url": "{url}", "messages_per_instance": 10}}}}]}}"#
        ),
    );
    let (code, stdout, stderr) = autoscaler(&["validate", "--policy", policy.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 0, "{stderr}");
    for line in [
        "  on metric failure: set 8 (a queue or alarm that cannot be read)".to_owned(),
        format!("  queue {url}: 10 messages per instance, in flight counted, delayed not counted, activation 0"),
    ] {
        assert!(stdout.lines().any(|l| l == line), "missing {line:?} in:\n{stdout}");
    }
}

#[test]
fn validate_prints_a_narrowing_tolerance() {
    let (code, stdout, stderr) =
        autoscaler(&["validate", "--policy", "examples/drain-time-policy.json"]);
    assert_eq!(code, 0, "{stderr}");
    let line = "  tolerance 0.3 narrowing to 0.1 while held (time constant 1200 s), cooldowns out 0 s / in 60 s, scale-in stabilization 180 s, max step out unlimited / in unlimited";
    assert!(
        stdout.lines().any(|l| l == line),
        "missing {line:?} in:\n{stdout}"
    );
}

#[test]
fn explain_compares_a_queue_urls_region_with_the_one_the_users_settings_name() {
    let (dir, policy) = policy_file(
        "explain-region",
        r#"{"targets": [{"function": "orders-worker", "min": 1, "max": 1000, "tolerance": 0,
            "queue": {"url": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
                      "target_wait_seconds": 30}}]}"#,
    );
    let explain = |region: Option<&str>| {
        let env: Vec<(&'static str, String)> = match region {
            Some(r) => vec![("AWS_REGION", r.to_owned())],
            // Set empty: none named, whatever the machine's environment says.
            None => vec![("AWS_REGION", String::new())],
        };
        let (code, stdout, stderr) = support::run_cli(
            &[
                "explain",
                "events/scheduled.json",
                "--policy",
                policy.to_str().unwrap(),
                "--current",
                "20",
                "--queue-depth",
                "orders=600,20",
                "--service-time",
                "1",
                "--now",
                "2026-12-01T12:00:00Z",
            ],
            &env.into_iter()
                .chain([("AWS_DEFAULT_REGION", String::new())])
                .collect::<Vec<_>>(),
        );
        assert_eq!(code, 0, "{stderr}");
        let record: serde_json::Value = serde_json::from_str(&stdout).expect("the record");
        record["decisions"][0]["desired"].as_u64()
    };
    // In its own Region, or with none named, the service time given counts (43, as above).
    assert_eq!(explain(Some("eu-west-1")), Some(43));
    assert_eq!(explain(None), Some(43));
    // From another Region the queue's metrics are not here: the goal's largest, 633.
    assert_eq!(explain(Some("us-east-1")), Some(633));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn explain_exits_1_when_an_sqs_record_fails_as_invoke_does() {
    let (dir, policy) = policy_file(
        "explain-record",
        r#"{"targets": [{"function": "orders-worker", "min": 1, "max": 100}]}"#,
    );
    let body =
        r#"{"function": "orders-worker", "desiredConcurrency": 5, "desiredConcurrency": 50}"#;
    let event = serde_json::json!({"Records": [
        {"messageId": "m-1", "eventSource": "aws:sqs", "body": body}]});
    let path = dir.join("event.json");
    std::fs::write(&path, event.to_string()).unwrap();
    let (code, stdout, stderr) = autoscaler(&[
        "explain",
        path.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--current",
        "10",
    ]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("recordErrors"), "{stdout}");
    assert!(
        stderr.contains("record m-1 failed: InvalidEvent")
            && stderr.contains("the key \"desiredConcurrency\" is given twice"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn validate_without_any_policy_says_how_to_give_one() {
    let (code, stdout, stderr) = autoscaler(&["validate"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("set AUTOSCALER_POLICY (inline JSON) or AUTOSCALER_POLICY_FILE (a path)"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_subcommand_is_a_usage_error_not_a_panic() {
    let (code, _, stderr) = autoscaler(&["scale", "everything"]);
    assert_eq!(code, 2, "clap's usage errors exit 2");
    assert!(
        stderr.contains("unrecognized subcommand 'scale'"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn validate_warns_of_an_alarms_set_or_cap_that_the_bounds_override() {
    let (dir, policy) = policy_file(
        "bounds",
        r#"{"targets": [{"function": "f", "min": 2, "max": 50, "alarms": [
            {"name": "surge", "on_alarm": {"set": 80}},
            {"name": "db", "on_alarm": {"cap": 60}, "on_ok": {"set": 10}}]}]}"#,
    );
    let (code, stdout, stderr) = autoscaler(&["validate", "--policy", policy.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("  warning: alarm surge on_alarm: set 80 is above max 50: it sets 50"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  warning: alarm db on_alarm: cap 60 is not below max 50: it never lowers anything"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("alarm db on_ok"), "{stdout}");

    // A schedule whose max is above the document's lets both act while it is active: a
    // note, not a warning that would have a user delete a cap protecting a database.
    let (dir, policy) = policy_file(
        "bounds-sale",
        r#"{"targets": [{"function": "f", "min": 2, "max": 50, "alarms": [
            {"name": "surge", "on_alarm": {"set": 80}},
            {"name": "db", "on_alarm": {"cap": 60}}],
            "schedules": [{"name": "sale", "start": "0 8 * * *", "duration_seconds": 3600,
                           "max": 100}]}]}"#,
    );
    let (code, stdout, stderr) = autoscaler(&["validate", "--policy", policy.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("warning: alarm"), "{stdout}");
    assert!(
        stdout.contains("  note: alarm db on_alarm: cap 60 is not below max 50: it never lowers anything, except while schedule sale (max 100) is active"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  note: alarm surge on_alarm: set 80 is above max 50: it sets 50, except while schedule sale (max 100) is active"),
        "{stdout}"
    );
}

#[test]
fn a_deadline_within_its_own_margin_is_refused() {
    let (code, stdout, stderr) = autoscaler(&[
        "invoke",
        "events/scheduled.json",
        "--policy",
        "examples/policy.json",
        "--deadline-seconds",
        "1.5",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("--deadline-seconds 1.5: not above the deadline's margin of 2 s"),
        "{stderr}"
    );
}

#[test]
fn activities_takes_a_limit_of_at_least_1() {
    let (code, _, stderr) = autoscaler(&["activities", "orders-worker", "--limit", "0"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("\"0\" is not a count of at least 1"),
        "{stderr}"
    );
}

#[test]
fn watch_seconds_needs_a_deadline_and_a_scheduled_event() {
    let (code, _, stderr) = autoscaler(&[
        "invoke",
        "events/scheduled.json",
        "--policy",
        "examples/policy.json",
        "--watch-seconds",
        "10",
    ]);
    assert_eq!(code, 2, "clap's usage errors exit 2: {stderr}");
    assert!(stderr.contains("--deadline-seconds"), "{stderr}");
    // An interval out of range is one too, whatever it is.
    for seconds in ["0", "2", "400"] {
        let (code, _, stderr) = autoscaler(&[
            "invoke",
            "events/scheduled.json",
            "--policy",
            "examples/policy.json",
            "--deadline-seconds",
            "30",
            "--watch-seconds",
            seconds,
        ]);
        assert_eq!(code, 2, "{seconds}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "invalid value '{seconds}' for '--watch-seconds <SECONDS>': \"{seconds}\" is not a tick interval of 5 to 300 seconds"
            )),
            "{stderr}"
        );
    }
    // Each refused before anything is read: exit 1, nothing on stdout.
    for (event, seconds, expected) in [
        (
            "events/alarm-lambda-action.json",
            "10",
            "only a scheduled reconciliation watches",
        ),
        // Without the state table nothing would catch the other function's writes.
        (
            "events/scheduled.json",
            "10",
            "--watch-seconds: watch mode needs AUTOSCALER_STATE_TABLE",
        ),
    ] {
        let (code, stdout, stderr) = autoscaler(&[
            "invoke",
            event,
            "--policy",
            "examples/policy.json",
            "--deadline-seconds",
            "30",
            "--watch-seconds",
            seconds,
        ]);
        assert_eq!(code, 1, "{event} {seconds}: {stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains(expected), "{event} {seconds}: {stderr}");
    }
}

#[test]
fn a_reader_that_stops_early_is_not_a_crash() {
    // Far more output than a pipe buffers, so the write after the reader left must fail.
    let targets: Vec<String> = (0..3000)
        .map(|i| format!(r#"{{"function":"f{i}","min":1,"max":10}}"#))
        .collect();
    let dir = std::env::temp_dir().join(format!("autoscaler-cli-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.json");
    std::fs::write(&policy, format!(r#"{{"targets":[{}]}}"#, targets.join(","))).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_autoscaler"))
        .args(["validate", "--policy"])
        .arg(&policy)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `| head -0`
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    std::fs::remove_dir_all(dir).ok();
}

// ---- explain: the decision record without AWS ------------------------------------------

fn explain(extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "explain",
        "events/alarm-lambda-action.json",
        "--policy",
        "examples/policy.json",
        "--now",
        "1700000000",
    ];
    args.extend_from_slice(extra);
    autoscaler(&args)
}

/// `explain` of a scheduled event under `policy` at the same --now, with `extra`.
fn explain_scheduled(policy: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let policy = policy.to_str().unwrap();
    let mut args = vec![
        "explain",
        "events/scheduled.json",
        "--policy",
        policy,
        "--now",
        "1700000000",
    ];
    args.extend_from_slice(extra);
    autoscaler(&args)
}

#[test]
fn explain_prints_the_record_invoke_would_print_from_a_world_given_on_the_command_line() {
    let (code, stdout, stderr) = explain(&[
        "--current",
        "orders-worker=5",
        "--alarm",
        "orders-backlog-high=ALARM",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let record: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is the record");
    let decision = &record["decisions"][0];
    assert_eq!(decision["function"], "orders-worker");
    assert_eq!(
        (decision["previous"].as_u64(), decision["desired"].as_u64()),
        (Some(5), Some(15))
    );
    assert!(
        decision["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "alarm orders-backlog-high is ALARM: change +10 from 5 -> propose 15"),
        "{decision}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal: {stderr:?}"
    );
}

#[test]
fn explain_takes_a_saved_history_as_the_state_table_keeps_it() {
    let dir = std::env::temp_dir().join(format!("autoscaler-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let history = dir.join("item.json");
    // A scale-out 20 s before --now, as `aws dynamodb get-item` prints the item.
    std::fs::write(
        &history,
        r#"{"Item": {"function": {"S": "arn:aws:lambda:us-east-1:123456789012:function:orders-worker"},
            "version": {"N": "7"}, "format": {"N": "1"}, "last_change_at": {"N": "1699999980"},
            "last_change": {"S": "out"}, "recommendations": {"L": [{"M": {"value": {"N": "15"}}}]}}}"#,
    )
    .unwrap();
    let history = format!("orders-worker={}", history.display());
    let (code, stdout, stderr) = explain(&[
        "--current",
        "15",
        "--alarm",
        "orders-backlog-high=ALARM",
        "--history",
        &history,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("held: scale-out cooldown, 40 s left"),
        "{stdout}"
    );
    // The same item with its change's activity still pending (as every applied change
    // leaves it until the next write), saved 20 s before --now as its updated_at says: the
    // other writer's lease (12 s) ended 8 s ago, so nothing waits for it, as in Lambda.
    let pending = dir.join("pending.json");
    std::fs::write(
        &pending,
        r#"{"Item": {"function": {"S": "arn:aws:lambda:us-east-1:123456789012:function:orders-worker"},
            "version": {"N": "7"}, "format": {"N": "1"}, "last_change_at": {"N": "1699999980"},
            "updated_at": {"N": "1699999980"}, "writer": {"S": "0123456789abcdef"},
            "last_change": {"S": "out"}, "recommendations": {"L": [{"M": {"value": {"N": "15"}}}]},
            "activities": {"L": [{"M": {"at": {"N": "1699999980"}, "trigger": {"S": "alarm"},
                "previous": {"N": "5"}, "desired": {"N": "15"}, "reasons": {"L": []},
                "outcome": {"S": "pending"}}}]}, "activity_number": {"N": "0"}}}"#,
    )
    .unwrap();
    let pending = format!("orders-worker={}", pending.display());
    // The reservation read is not what that change set (12, not 15): its write might still
    // land, for as long as its lease.
    let (code, stdout, stderr) = explain(&[
        "--current",
        "12",
        "--alarm",
        "orders-backlog-high=ALARM",
        "--history",
        &pending,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("held: scale-out cooldown, 40 s left"),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn explain_refuses_a_world_it_cannot_read_and_says_which_flag() {
    // A malformed value is a usage error (2, as clap's own); a name the policy does not
    // know, or a file that cannot be read, a failure (1).
    for (extra, code_expected, expected) in [
        (
            vec!["--alarm", "orders-backlog-high=FIRING"],
            2,
            "invalid value 'orders-backlog-high=FIRING' for '--alarm <NAME=STATE>': the state is ALARM, OK or INSUFFICIENT_DATA",
        ),
        (
            vec!["--alarm", "orders-backlog-hig=ALARM"],
            1,
            "--alarm orders-backlog-hig=ALARM: no target of examples/policy.json follows an alarm named orders-backlog-hig",
        ),
        (
            vec!["--current", "payments=3"],
            1,
            "--current payments=...: \"payments\" is not a target of the policy",
        ),
        (vec!["--current", "many"], 2, "\"many\" is not a reservation"),
        (
            vec!["--queue-depth", "thumbnails=1,x"],
            2,
            "invalid value 'thumbnails=1,x' for '--queue-depth <NAME=COUNTS>': \"x\" is not a message count",
        ),
        (
            vec!["--history", "/nonexistent.json"],
            1,
            "cannot read history /nonexistent.json",
        ),
    ] {
        let (code, stdout, stderr) = explain(&extra);
        assert_eq!(code, code_expected, "{extra:?}: {stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
    }
}

#[test]
fn explain_takes_an_earlier_depth_and_a_measured_service_time_for_a_drain_time_goal() {
    let (dir, policy) = policy_file(
        "drain",
        r#"{"targets": [{"function": "orders-worker", "min": 1, "max": 1000, "tolerance": 0,
            "queue": {"name": "orders", "target_wait_seconds": 30}}]}"#,
    );
    let run = |extra: &[&str]| {
        let mut args = vec!["--current", "20", "--queue-depth", "orders=600,20"];
        args.extend_from_slice(extra);
        explain_scheduled(&policy, &args)
    };
    let desired = |stdout: &str| {
        let record: serde_json::Value = serde_json::from_str(stdout).expect("the record");
        record["decisions"][0]["desired"].as_u64()
    };
    // Without a service time, the largest the goal allows (30 s): 20 at work, headroom
    // 2 x sqrt(20 x 30 x 60) / 30 = 12.65, and one execution for each of 600 waiting.
    let (code, stdout, stderr) = run(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(desired(&stdout), Some(633));
    // 1 s a message: 20 at work, headroom 2 x sqrt(20 x 60) / 30 = 2.31, 600 / 30 = 20.
    let (code, stdout, stderr) = run(&["--service-time", "1"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(desired(&stdout), Some(43));
    // 600 piled up in the last 60 s: 10/s more arrive than the 20 executions take.
    let (code, stdout, stderr) = run(&["--service-time", "1", "--earlier-depth", "orders=0,20@60"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(desired(&stdout), Some(53), "{stdout}");
    for (extra, code_expected, expected) in [
        (
            vec!["--service-time", "0"],
            2,
            "invalid value '0' for '--service-time <[NAME=]SECONDS[/MESSAGES]>': \"0\" is not seconds from 0.000001 to 900",
        ),
        (
            vec!["--service-time", "1/0.5"],
            2,
            "\"0.5\" is not a number of messages (1 or more)",
        ),
        (
            vec!["--earlier-depth", "orders=0,20"],
            2,
            "invalid value 'orders=0,20' for '--earlier-depth <NAME=COUNTS@SECONDS>': expected NAME=COUNTS@SECONDS",
        ),
        (
            vec!["--earlier-depth", "payments=0@60"],
            1,
            "no target follows a queue \"payments\"",
        ),
    ] {
        let (code, stdout, stderr) = run(&extra);
        assert_eq!(code, code_expected, "{extra:?}: {stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn explain_counts_an_earlier_depth_as_each_target_counts_its_waiting_messages() {
    let (dir, policy) = policy_file(
        "delayed",
        r#"{"targets": [
            {"function": "orders", "min": 1, "max": 1000, "tolerance": 0,
             "queue": {"name": "orders-q", "target_wait_seconds": 60, "service_seconds": 1}},
            {"function": "billing", "min": 1, "max": 1000, "tolerance": 0,
             "queue": {"name": "orders-q", "target_wait_seconds": 60, "service_seconds": 1,
                       "include_delayed": true}}]}"#,
    );
    // The same depth a minute ago and now: 100 visible, 10 in flight, 500 delayed. Nothing
    // grew: orders drains its 100 waiting (10 at work + 0.82 headroom + 100/60 -> 13), and
    // billing its 600 (+ 10 -> 21). Read as growth, the 500 delayed would pile up 8.33/s and
    // billing would ask for 30.
    let (code, stdout, stderr) = explain_scheduled(
        &policy,
        &[
            "--current",
            "10",
            "--queue-depth",
            "orders-q=100,10,500",
            "--earlier-depth",
            "orders-q=100,10,500@60",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let record: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for (function, desired) in [("orders", 13), ("billing", 21)] {
        let decision = record["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["function"] == function)
            .unwrap();
        let reasons = decision["reasons"].to_string();
        assert!(reasons.contains("smoothed over 2 samples"), "{reasons}");
        assert_eq!(decision["desired"], desired, "{function}: {reasons}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

// ---- schedules (issue 15) ---------------------------------------------------------------

#[test]
fn validate_warns_of_a_window_a_late_run_can_miss_and_of_one_open_for_months() {
    let (dir, policy) = policy_file("short-window", "{}");
    // `validate --now` of a target with one window of `fields`: its output.
    let validated = |fields: &str, now: &str| {
        let json = format!(
            r#"{{"targets":[{{"function":"f","min":2,"max":9,"schedules":[
                {{"name":"w",{fields},"min":5}}]}}]}}"#
        );
        std::fs::write(&policy, json).unwrap();
        let at = [
            "validate",
            "--policy",
            policy.to_str().unwrap(),
            "--now",
            now,
        ];
        let (code, stdout, stderr) = autoscaler(&at);
        assert_eq!(code, 0, "{stderr}");
        stdout
    };
    let now = "2026-11-15T12:00:00Z";
    let blip = r#""start":"0 8 * * *","duration_seconds":60"#;
    let warning = "    warning: an occurrence is open for 60 s (from Mon 2026-11-16 08:00 UTC): a run of the one-minute schedule that comes late can miss all of it; give the window lead_seconds or more time";
    let stdout = validated(blip, now);
    assert!(stdout.lines().any(|l| l == warning), "{stdout}");
    // An hour each night but a minute on the night of the spring change, months after the
    // occurrences listed.
    let night = r#""start":"59 1 * * *","end":"0 3 * * *","timezone":"Europe/Berlin""#;
    let stdout = validated(night, now);
    let warning = "    warning: an occurrence is open for 60 s (from Sun 2027-03-28 01:59 CET): a run of the one-minute schedule that comes late can miss all of it; give the window lead_seconds or more time";
    assert!(stdout.lines().any(|l| l == warning), "{stdout}");
    assert!(
        !stdout.contains("2027-03-28 01:59 CET to"),
        "listed: {stdout}"
    );
    // Two minutes open with its lead: nothing to warn of.
    let stdout = validated(&format!(r#"{blip},"lead_seconds":60"#), now);
    assert!(!stdout.contains("    warning"), "{stdout}");
    // An end that first comes on New Year's Day holds a daily window for months.
    let stdout = validated(r#""start":"0 8 * * *","end":"0 0 1 1 *""#, now);
    let warning = "    warning: an occurrence is open for 46 days (from Sun 2026-11-15 08:00 UTC): longer than duration_seconds may give (31 days): check its end";
    assert!(stdout.lines().any(|l| l == warning), "{stdout}");
    // Not warned of: one-minute occurrences back to back (a whole hour open), the longest
    // duration with a lead, and a whole month across October's change of the clocks.
    for (window, now) in [
        (r#""start":"* 8 * * *","duration_seconds":60"#, now),
        (
            r#""start":"0 8 * * *","duration_seconds":2678400,"lead_seconds":300"#,
            now,
        ),
        (
            r#""start":"0 0 1 * *","end":"0 0 1 * *","timezone":"Europe/Berlin""#,
            "2026-09-15T12:00:00Z",
        ),
        // Half an hour each night, empty on the night of the spring change (documented).
        (
            r#""start":"30 2 * * *","end":"0 3 * * *","timezone":"Europe/Berlin""#,
            "2027-03-26T12:00:00Z",
        ),
    ] {
        let stdout = validated(window, now);
        assert!(!stdout.contains("    warning"), "{window}: {stdout}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn validate_lists_each_windows_next_occurrences_in_its_time_zone_and_its_tag() {
    let (code, stdout, stderr) = autoscaler(&[
        "validate",
        "--policy",
        "examples/business-hours.json",
        "--now",
        "2026-12-04T12:00:00+01:00",
    ]);
    assert_eq!(code, 0, "{stderr}");
    for line in [
        "  schedule business-hours: Mon-Fri 08:00 until Mon-Fri 18:00, Europe/Berlin, 5 min early: min 120",
        "    Fri 2026-12-04 07:55 CET to Fri 2026-12-04 18:00 CET (starts 08:00), active now",
        "    Mon 2026-12-07 07:55 CET to Mon 2026-12-07 18:00 CET (starts 08:00)",
        "    Tue 2026-12-08 07:55 CET to Tue 2026-12-08 18:00 CET (starts 08:00)",
        "    as a tag: autoscaler:schedule:business-hours = start=0 8 . . MON-FRI end=0 18 . . MON-FRI timezone=Europe/Berlin lead_seconds=300 min=120",
        "    Mon 2026-12-28 08:50 CET to Mon 2026-12-28 17:00 CET (starts 09:00)",
        "    note: 0 is below 2: while the window is active, SQS event source mappings are paused (disabled), and resumed when it ends",
        "policy OK: 2 target(s)",
    ] {
        assert!(stdout.lines().any(|l| l == line), "missing {line:?} in:\n{stdout}");
    }
    // After the one-off window, validate says it is over.
    let (_, stdout, _) = autoscaler(&[
        "validate",
        "--policy",
        "examples/business-hours.json",
        "--now",
        "2027-01-01T00:00:00Z",
    ]);
    assert!(
        stdout.contains("    no occurrence after now: it is over"),
        "{stdout}"
    );
}

#[test]
fn explain_decides_at_an_rfc_3339_time_as_at_the_same_epoch_seconds() {
    let run = |now: &str| {
        autoscaler(&[
            "explain",
            "events/scheduled.json",
            "--policy",
            "examples/business-hours.json",
            "--now",
            now,
            "--current",
            "40",
            "--queue-depth",
            "orders=5",
        ])
    };
    // Tuesday 07:56 in Berlin: business hours opened a minute ago (lead_seconds 300).
    let (code, rfc, stderr) = run("2026-12-01T07:56:00+01:00");
    assert_eq!(code, 0, "{stderr}");
    let (_, epoch, _) = run("1796108160");
    assert_eq!(rfc, epoch);
    let record: serde_json::Value = serde_json::from_str(&rfc).unwrap();
    let orders = &record["decisions"][0];
    assert_eq!(orders["function"], "orders-worker");
    assert_eq!(orders["desired"], 120);
    assert_eq!(orders["schedules"], serde_json::json!(["business-hours"]));
    // At 23:00 the invoice mailer's quiet night holds it at 0; orders has no window.
    let (_, night, _) = run("2026-12-01T23:00:00+01:00");
    let record: serde_json::Value = serde_json::from_str(&night).unwrap();
    assert!(record["decisions"][0].get("schedules").is_none(), "{night}");
    assert_eq!(record["decisions"][1]["desired"], 0);
    assert_eq!(
        record["decisions"][1]["schedules"],
        serde_json::json!(["quiet-night"])
    );
}

#[test]
fn a_time_without_an_offset_is_a_usage_error_that_says_what_to_write() {
    let (code, stdout, stderr) = autoscaler(&[
        "validate",
        "--policy",
        "examples/business-hours.json",
        "--now",
        "2026-12-01T08:00:00",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("RFC 3339 time with an offset, such as 2026-12-01T08:30:00+01:00"),
        "{stderr}"
    );
}

#[test]
fn explain_refuses_a_queue_no_target_follows_takes_a_queues_url_and_never_overflows() {
    let drain = std::path::Path::new("examples/drain-time-policy.json");
    // A typo would read as a metric failure and hold: refused.
    let (code, _, stderr) = explain_scheduled(drain, &["--queue-depth", "order=500"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--queue-depth order=...: no target follows a queue \"order\""),
        "{stderr}"
    );
    // A sample too old to be used is refused rather than dropped.
    let (code, _, stderr) = explain_scheduled(
        drain,
        &[
            "--queue-depth",
            "orders=5",
            "--earlier-depth",
            "orders=5@301",
        ],
    );
    assert_eq!(code, 2, "a usage error: {stderr}");
    assert!(stderr.contains("more than 300 s old"), "{stderr}");
    // Counts beyond any real queue's saturate: the largest reservation, no panic.
    let huge = format!("orders={},{}", u64::MAX, u64::MAX);
    let (code, stdout, stderr) =
        explain_scheduled(drain, &["--current", "10", "--queue-depth", &huge]);
    assert_eq!(code, 0, "{stderr}");
    let record: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(record["decisions"][0]["desired"], 250);
    // A queue the policy names by URL is given by its URL (or its name).
    let url = "https://sqs.us-east-1.amazonaws.com/123456789012/orders";
    let (dir, policy) = policy_file(
        "explain-url",
        &format!(
            r#"{{"targets": [{{"function": "orders-worker", "min": 1, "max": 100, "tolerance": 0,
                "queue": {{"url": "{url}", "messages_per_instance": 10}}}}]}}"#
        ),
    );
    for queue in [url, "orders"] {
        let depth = format!("{queue}=200");
        let (code, stdout, stderr) =
            explain_scheduled(&policy, &["--current", "5", "--queue-depth", &depth]);
        assert_eq!(code, 0, "{stderr}");
        let record: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(record["decisions"][0]["desired"], 20, "{queue}: {stdout}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
