#!/usr/bin/env bash
# Creates .venv with the Python-distributed tools the project needs (moto's server,
# cargo-lambda, zig for cross builds, SAM CLI, cfn-lint). Idempotent: reinstalls only
# when scripts/requirements-dev.txt changed since the last successful run.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
stamp=$venv/.requirements-installed
if [ -f "$stamp" ] && cmp -s scripts/requirements-dev.txt "$stamp"; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -r scripts/requirements-dev.txt
cp scripts/requirements-dev.txt "$stamp"
echo "python tools installed in $venv"
