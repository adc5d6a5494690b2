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
bin=./target/release/autoscaler
policy=examples/policy.json
# Dry run keeps the targets where they are, so every run does the same work.
export AUTOSCALER_DRY_RUN=true
printf '%-40s %10s %10s %10s %12s\n' event "p50 ms" "min ms" "max ms" "peak RSS KiB"
for event in events/alarm-lambda-action.json events/sqs-batch.json events/scheduled.json; do
  samples=$(mktemp)
  for _ in $(seq 1 "$runs"); do
    # %e wall seconds, %M peak resident set in KiB
    /usr/bin/time -f '%e %M' -o "$samples" -a "$bin" invoke "$event" --policy "$policy" >/dev/null 2>&1
  done
  .venv/bin/python - "$event" "$samples" <<'PY'
import statistics, sys
event, path = sys.argv[1], sys.argv[2]
rows = [line.split() for line in open(path) if line.strip() and line[0].isdigit()]
wall = sorted(float(r[0]) * 1000 for r in rows)
rss = max(int(r[1]) for r in rows)
print(f"{event:<40} {statistics.median(wall):10.0f} {wall[0]:10.0f} {wall[-1]:10.0f} {rss:12d}")
PY
  rm -f "$samples"
done
