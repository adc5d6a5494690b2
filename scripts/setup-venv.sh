#!/usr/bin/env bash
# Creates the venvs of the Python-distributed tools the project needs:
#   .venv          moto's server, cargo-lambda, zig for cross builds, SAM CLI, cfn-lint
#                  (scripts/requirements-dev.txt)
#   .venv-checkov  checkov, which pins an older boto3 than moto's
#                  (scripts/requirements-checkov.txt)
# Idempotent: a venv is reinstalled only when its requirements changed since the last
# successful run.
set -euo pipefail
cd "$(dirname "$0")/.."

install() {
  local venv=$1 requirements=$2
  local stamp=$venv/.requirements-installed
  if [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
    return 0
  fi
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -r "$requirements"
  cp "$requirements" "$stamp"
  echo "python tools installed in $venv"
}

install .venv scripts/requirements-dev.txt
install .venv-checkov scripts/requirements-checkov.txt
