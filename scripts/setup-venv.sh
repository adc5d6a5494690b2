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

# One stamp per requirements content: worktrees that share a venv (a link) with different
# requirements each install theirs once, and never undo each other's.
install() {
  local venv=$1 requirements=$2
  local stamp=$venv/.requirements-$(sha256sum "$requirements" | cut -c1-16)
  if [ -f "$stamp" ]; then
    return 0
  fi
  # Create the venv only when missing: a worktree's venv may be a link to another one's.
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -r "$requirements"
  touch "$stamp"
  echo "python tools installed in $venv"
}

install .venv scripts/requirements-dev.txt
install .venv-checkov scripts/requirements-checkov.txt
