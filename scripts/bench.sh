#!/usr/bin/env bash
# Speed and memory of one invocation, measured on the release CLI (the same handler code as
# the Lambda function) against a local AWS (moto). Each run is a fresh process, like a cold
# start: SDK set-up, policy load, event parse, AWS round trips, report.
#   scripts/bench.sh [RUNS]      (make bench)
# Prints the median and spread of wall time and peak RSS per sample event.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-21}
./scripts/setup-venv.sh
cargo build --quiet --release --bin autoscaler
source scripts/moto.sh
fixtures setup >/dev/null
# The state table the fixtures created: decisions keep their history between runs.
export AUTOSCALER_STATE_TABLE=autoscaler-state
bin=./target/release/autoscaler
policy=examples/policy.json
# Dry run keeps the targets where they are, so every run does the same work.
export AUTOSCALER_DRY_RUN=true
.venv/bin/python - "$bin" "$policy" "$runs" events/alarm-lambda-action.json events/sqs-batch.json events/scheduled.json <<'PY'
import os, statistics, subprocess, sys, time
binary, policy, runs, events = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
print(f"{'event':<36} {'p50 ms':>8} {'min ms':>8} {'max ms':>8} {'peak RSS MiB':>13}")
for event in events:
    walls, peaks = [], []
    for _ in range(runs):
        start = time.perf_counter()
        child = subprocess.Popen([binary, "invoke", event, "--policy", policy],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        walls.append((time.perf_counter() - start) * 1000)
        if status != 0:
            sys.exit(f"{event}: the CLI failed (status {status})")
        peaks.append(usage.ru_maxrss / 1024)  # ru_maxrss is KiB on Linux
    print(f"{event:<36} {statistics.median(walls):8.1f} {min(walls):8.1f} {max(walls):8.1f} {max(peaks):13.1f}")
PY
