#!/usr/bin/env bash
# The account-scale benchmark (docs/benchmarks.md, "Account scale"): the release CLI
# reconciles N targets through a local proxy that enforces Lambda's request quotas in front
# of moto, with a fixed latency per call.
#   scripts/bench-scale.sh                      a and b at N = 1, 100, 1000; c at 1000
#   scripts/bench-scale.sh --n 100              a, b and c at N = 100 (a quick run)
#   scripts/bench-scale.sh --n 1000 --cases b   options pass to bench/scale/driver.py
# Prints a table and writes bench/scale-results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh
cargo build --quiet --release --bin autoscaler
# The target dir may be shared with other checkouts: run a copy of this checkout's build.
work=$(mktemp -d -t bench-scale-bin.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "${CARGO_TARGET_DIR:-target}/release/autoscaler" "$work/autoscaler"
# The proxy's own tests first: its counts and 429s are what the table reports.
.venv/bin/python -m unittest bench/scale/tests.py
.venv/bin/python bench/scale/driver.py --binary "$work/autoscaler" "$@"
