#!/usr/bin/env bash
# make bench (docs/benchmarks.md): every section of bench/run.py, or the ones named. Writes
# bench/results.json (other sections' results stay) and prints the table.
#   scripts/bench.sh [SECTION...]     footprint package decide calls cpu scale (default: all)
#   scripts/bench.sh footprint package decide calls cpu     all but scale (~13 min)
# footprint: release builds of the autoscaler and its references under a fake Lambda Runtime
# API against a local AWS (moto); package: the arm64 deployment zips; decide, calls, cpu: the
# bench crate's benches (bench/benches/); scale: scripts/bench-scale.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh
# cargo-lambda (the package section) and moto's server are in the project's venv.
export PATH="$PWD/.venv/bin:$PATH"
# Only footprint and ab run the programs against moto; the other sections build what they need.
if [[ $# -eq 0 || " $* " == *" footprint "* || " $* " == *" ab "* ]]; then
  bins=(lambda-autoscaler bench-runtime bench-echo bench-minimal)
  cargo build --quiet --release --workspace "${bins[@]/#/--bin=}"
  # Other checkouts may share the target directory and relink target/release/lambda-autoscaler
  # from their own sources: measure copies taken right after this build.
  target=${CARGO_TARGET_DIR:-target}
  mkdir -p "$target/bench-bin"
  for bin in "${bins[@]}"; do cp "$target/release/$bin" "$target/bench-bin/"; done
  source scripts/moto.sh
  fixtures setup >/dev/null
fi
.venv/bin/python bench/run.py "$@"
