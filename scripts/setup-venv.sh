#!/usr/bin/env bash
# Creates .venv with the Python-distributed tools the project needs (moto's server,
# cargo-lambda, zig for cross builds, SAM CLI, cfn-lint). Idempotent: reinstalls only
# when scripts/requirements-dev.txt changed since the last successful run.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
# One stamp per requirements file content: worktrees that share one .venv (a link) with
# different requirements each install theirs once, and never undo each other's.
stamp=$venv/.requirements-$(sha256sum scripts/requirements-dev.txt | cut -c1-16)
if [ -f "$stamp" ] || { [ -f "$venv/.requirements-installed" ] && cmp -s scripts/requirements-dev.txt "$venv/.requirements-installed"; }; then
  exit 0
fi
# Create the venv only when missing: a worktree's .venv may be a link to another one's.
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -r scripts/requirements-dev.txt
touch "$stamp"
echo "python tools installed in $venv"
