#!/usr/bin/env bash
# The footprint benchmark (make bench; docs/benchmarks.md): release builds of the autoscaler
# and its references, run by a fake Lambda Runtime API against a local AWS (moto), the arm64
# deployment zips, and the decision core's criterion bench. Writes bench/results.json and
# prints the table.
#   scripts/bench.sh [SECTION...]     sections: footprint package decide (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh
bins=(lambda-autoscaler bench-runtime bench-echo bench-minimal)
cargo build --quiet --release --workspace "${bins[@]/#/--bin=}"
# Other checkouts may share the target directory and relink target/release/lambda-autoscaler
# from their own sources: measure copies taken right after this build.
target=${CARGO_TARGET_DIR:-target}
mkdir -p "$target/bench-bin"
for bin in "${bins[@]}"; do cp "$target/release/$bin" "$target/bench-bin/"; done
source scripts/moto.sh
fixtures setup >/dev/null
.venv/bin/python bench/run.py "$@"
