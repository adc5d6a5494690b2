//! The CLI's commands that need no AWS endpoint.

mod support;

fn autoscaler(args: &[&str]) -> (i32, String, String) {
    support::run_cli(args, &[])
}

#[test]
fn validate_prints_each_target_with_its_rules_queue_and_knobs() {
    let (code, stdout, stderr) = autoscaler(&["validate", "--policy", "examples/policy.json"]);
    assert_eq!(code, 0, "{stderr}");
    for line in [
        "orders-worker: min 2 max 100",
        "  alarm orders-backlog-high: on_alarm: change +10, on_ok: change -5",
        "  alarm orders-db-overloaded: on_alarm: cap 3",
        "  queue thumbnails: 10 messages per instance, in flight counted, delayed not counted, activation 0",
        "  tolerance 0.1, cooldowns out 60 s / in 300 s, scale-in stabilization 300 s, max step out unlimited / in unlimited",
        "policy OK: 3 target(s)",
    ] {
        assert!(stdout.lines().any(|l| l == line), "missing {line:?} in:\n{stdout}");
    }
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
