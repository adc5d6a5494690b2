#!/usr/bin/env bash
# The Lambda function as cargo-lambda runs it locally: `cargo lambda watch` serves the real
# `lambda-autoscaler` binary behind the emulated Lambda runtime API, `cargo lambda invoke`
# sends it a sample event, and the reservation must change in the local AWS (moto); its
# decisions and its metrics (Embedded Metric Format) must be in its log.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh
export PATH="$PWD/.venv/bin:$PATH"
# Build first, so the wait below is for the emulator, not the compiler: `cargo lambda watch`
# runs this same dev build, whose features differ from the test build's (no test-util).
cargo build --quiet --bin lambda-autoscaler
source scripts/moto.sh
fixtures setup
# The state table the fixtures created: decisions keep their history between runs.
export AUTOSCALER_STATE_TABLE=autoscaler-state

invoke_port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
watch_log=$(mktemp -t cargo-lambda-watch.XXXXXX.log)
AUTOSCALER_POLICY_FILE=examples/policy.json AWS_LAMBDA_LOG_FORMAT=JSON \
  cargo lambda watch --quiet --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
  >"$watch_log" 2>&1 &
watch_pid=$!
cleanup() { kill "$watch_pid" 2>/dev/null; wait "$watch_pid" 2>/dev/null; rm -f "$watch_log"; stop_moto; }
trap cleanup EXIT

invoke() {
  cargo lambda invoke lambda-autoscaler --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
    --data-file "$1"
}
# Retry until the emulator answers (it starts the already built function on first invoke).
output=""
for _ in $(seq 1 150); do
  if output=$(invoke events/alarm-lambda-action.json 2>&1); then break; fi
  sleep 2
done
echo "$output"
fail() { echo "cargo-lambda smoke test FAILED: $*"; echo "--- cargo lambda watch log:"; cat "$watch_log"; exit 1; }
echo "$output" | grep -q '"applied":true' || fail "the alarm event was not applied"
fixtures show orders-worker | grep -q 'reserved concurrency: 15' || fail "orders-worker is not at 15"

# The SQS sample through the same runtime: a partial batch response comes back.
output=$(invoke events/sqs-batch.json 2>&1) || fail "sqs-batch invoke failed: $output"
echo "$output" | grep -q '"batchItemFailures":\[\]' || fail "sqs-batch: $output"

# Every sample a user may invoke with is handled: a decision record, not an error.
for event in events/*.json; do
  output=$(invoke "$event" 2>&1) || fail "$event: $output"
  echo "$output" | grep -q '"decisions":' || fail "$event returned no decision record: $output"
done
echo "every sample in events/ handled through cargo lambda invoke"
# With AWS_LAMBDA_LOG_FORMAT=JSON every decision is one JSON line carrying its fields.
.venv/bin/python - "$watch_log" <<'PY' || fail "no structured JSON decision log line"
import json, sys
decisions = []
for line in open(sys.argv[1], errors="replace"):
    start = line.find("{")
    if start < 0:
        continue
    try:
        entry = json.loads(line[start:])
    except ValueError:
        continue
    fields = entry.get("fields", {})
    if fields.get("message") == "scaling decision":
        decisions.append(fields)
assert decisions, "no JSON line with fields.message == 'scaling decision'"
first = decisions[0]
for key in ("function", "trigger", "previous", "desired", "applied", "dry_run", "reasons"):
    assert key in first, f"decision log line lacks {key}: {first}"
assert first["function"] == "orders-worker" and first["desired"] == 15, first
print(f"{len(decisions)} JSON decision log lines, e.g. {json.dumps(first)[:160]}...")
PY
# The metrics are Embedded Metric Format lines on stdout, not PutMetricData calls: each one
# a JSON object alone on its line (in Lambda, stdout lines reach CloudWatch Logs as they are;
# cargo lambda watch may put its own prefix before them), orders-worker's with the values of
# its decision, and nothing in moto's CloudWatch.
.venv/bin/python - "$watch_log" <<'PY' || fail "no EMF metrics line for orders-worker"
import json, sys
documents = []
for line in open(sys.argv[1], errors="replace"):
    start = line.find('{"')
    if start < 0 or '"_aws"' not in line:
        continue
    text = line[start:].rstrip("\n")
    document = json.loads(text)  # the whole rest of the line: nothing after the object
    meta = document["_aws"]
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 10**12, meta
    directive = meta["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "LambdaAutoscaler", directive
    for key in (k for dimensions in directive["Dimensions"] for k in dimensions):
        assert isinstance(document[key], str), (key, document)
    for metric in directive["Metrics"]:
        assert isinstance(document[metric["Name"]], (int, float, list)), (metric, document)
    documents.append(document)
orders = [d for d in documents if d.get("FunctionName") == "orders-worker"]
assert orders, f"no EMF document for orders-worker among {len(documents)}"
first = orders[0]
assert first["DesiredConcurrency"] == 15 and first["ScalingActions"] == 1, first
assert any("DeferredTargets" in d and "FunctionName" not in d for d in documents), documents
print(f"{len(documents)} EMF metrics lines, e.g. {json.dumps(first)[:160]}...")
PY
published=$(fixtures metrics LambdaAutoscaler)
[ -z "$published" ] || fail "the Lambda binary called PutMetricData: $published"
echo "cargo-lambda smoke: 5 passed, 0 failed"
