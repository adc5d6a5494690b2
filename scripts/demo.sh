#!/usr/bin/env bash
# The main job, locally: a local AWS (moto), the demo targets (orders-worker consumes the
# orders queue through an SQS event source mapping), the sample events in events/, and the
# changes of reserved concurrency and of the mapping they cause under examples/policy.json.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh
# Cargo's own progress (on stderr): a first build compiles the AWS SDK and takes minutes.
echo "Building the autoscaler CLI (cargo build --bin autoscaler)..." >&2
cargo build --bin autoscaler
autoscaler="${CARGO_TARGET_DIR:-target}/debug/autoscaler"
# moto's server, patched where it answers differently from AWS (a reservation of 0 that
# moto 5.2.5 leaves out of GetFunction would make a paused consumer read as unreserved).
source scripts/moto.sh
fixtures setup
# orders-worker consumes the orders queue through an SQS event source mapping, created as
# users create them: enabled, with no MaximumConcurrency.
fixtures consumer orders-worker orders
# The state table the fixtures created: decisions keep their history between runs.
export AUTOSCALER_STATE_TABLE=autoscaler-state

policy=examples/policy.json
step() {
  local title=$1 event=$2
  printf '\n=== %s\n$ autoscaler invoke %s --policy %s\n' "$title" "$event" "$policy"
  # The CLI prints the full decision record as JSON; this shows its gist.
  "$autoscaler" invoke "$event" --policy "$policy" 2>/dev/null | fixtures summary || true
  fixtures show orders-worker reports-api thumbnails-worker resize-worker
}
step_stdin() {
  local title=$1 event=$2
  printf "\n=== %s\n\$ echo '%s' | autoscaler invoke - --policy %s\n" "$title" "$event" "$policy"
  echo "$event" | "$autoscaler" invoke - --policy "$policy" 2>/dev/null | fixtures summary || true
  fixtures show orders-worker reports-api thumbnails-worker resize-worker
}

echo "Policy ($policy):"; cat "$policy"
echo; echo "Before:"; fixtures show orders-worker reports-api thumbnails-worker resize-worker
step "orders backlog alarm fires (CloudWatch Lambda action)" events/alarm-lambda-action.json
fixtures alarm orders-backlog-high OK
step "backlog clears (EventBridge state change; CloudWatch now says OK)" events/alarm-eventbridge.json
step "the orders database is overloaded (composite alarm): cap 3" events/alarm-lambda-action-composite.json
fixtures alarm orders-db-down ALARM
step_stdin "the orders database is down (circuit breaker): cap 0 pauses the consumer" \
  '{"source":"aws.cloudwatch","alarmData":{"alarmName":"orders-db-down","state":{"value":"ALARM"}}}'
fixtures alarm orders-db-down OK
step_stdin "the database is back (CloudWatch says OK): the consumer resumes, at 2 per mapping" \
  '{"source":"aws.cloudwatch","alarmData":{"alarmName":"orders-db-down","state":{"value":"OK"}}}'
step "reports-api error rate back to OK (SNS, metric math)" events/alarm-sns-metric-math.json
step "an operator sets reports-api directly" events/direct-command.json
step "an SQS batch carrying alarms and a command" events/sqs-batch.json
step_stdin "the thumbnails queue reports its depth (230 messages, 10 per instance)" '{"queue": "thumbnails"}'
# The same queue with a drain-time goal instead (docs/policy.md "Drain-time target"): the
# proposal counts the executions at work, headroom and the backlog drained within the wait.
# (moto.sh's EXIT trap stops moto: the file is removed right after its use instead.)
drain_policy=$(mktemp)
cat > "$drain_policy" <<'JSON'
{"targets": [{"function": "thumbnails-worker", "min": 1, "max": 50,
  "queue": {"name": "thumbnails", "target_wait_seconds": 30, "service_seconds": 0.5}}]}
JSON
printf '\n=== the thumbnails queue with a drain-time goal: 30 s at most, 0.5 s a message\n'
printf "\$ echo '{\"queue\": \"thumbnails\"}' | autoscaler invoke - --policy drain-time.json\n"
cat "$drain_policy"
echo '{"queue": "thumbnails"}' | "$autoscaler" invoke - --policy "$drain_policy" 2>/dev/null \
  | fixtures summary || true
rm -f "$drain_policy"
fixtures show thumbnails-worker
step "scheduled reconciliation: every target, plus functions opted in by tags" events/scheduled.json
printf '\n=== an alarm no target names is a quiet no-op\n'
echo '{"source":"aws.cloudwatch","alarmData":{"alarmName":"someone-elses-alarm","state":{"value":"ALARM"}}}' \
  | "$autoscaler" invoke - --policy "$policy" 2>/dev/null
printf '\n=== a bad event is refused with a precise message (exit 1, nothing changes)\n'
echo '{"function":"orders-worker","desiredConcurrency":"12"}' \
  | "$autoscaler" invoke - --policy "$policy" 2>&1 | grep -v 'INFO' || true
printf '\n=== what it is doing now: every managed target (reads only)\n$ autoscaler status --policy %s\n' "$policy"
"$autoscaler" status --policy "$policy" 2>/dev/null
printf '\n=== what it did to orders-worker, newest first\n$ autoscaler activities orders-worker --limit 3 --policy %s\n' "$policy"
"$autoscaler" activities orders-worker --limit 3 --policy "$policy" 2>/dev/null
printf '\nMetrics published to the local CloudWatch:\n'
fixtures metrics LambdaAutoscaler
