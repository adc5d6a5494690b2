#!/usr/bin/env bash
# Checks that the stack deploys as shipped, without an AWS account:
#   1. cfn-lint template.yaml                  (no errors, warnings or informational findings)
#   2. sam validate --lint                     (SAM transform + cfn-lint)
#   3. tests/template_security.py              (least privilege and safety properties)
#   4. checkov -f template.yaml                (no failed check; each skip carries its reason)
#      and docs/dashboard.svg is the layout of the template's dashboard (scripts/dashboard_svg.py)
#   5. sam build                               (cargo-lambda cross-compiles with zig)
#      and .aws-sam/build/Autoscaler/bootstrap is an arm64 (aarch64) ELF executable.
# Tools come from the project venv (scripts/setup-venv.sh). Exits non-zero on the first
# failure, naming the step. SKIP_SAM_BUILD=1 runs only the fast steps 1-4.
set -euo pipefail
cd "$(dirname "$0")/.."

FUNCTION_ID=Autoscaler    # the function's logical id in template.yaml
REGION=${AWS_REGION:-us-east-1}   # sam validate needs a region name; nothing is called there

fail() {
  echo "deploy-check: FAILED: $*" >&2
  exit 1
}
step() {
  echo
  echo "==> $*"
}

step "python tools (.venv)"
./scripts/setup-venv.sh || fail "scripts/setup-venv.sh could not install the tools"
venv_bin="$PWD/.venv/bin"
for tool in sam cfn-lint cargo-lambda python; do
  [ -x "$venv_bin/$tool" ] || fail "$venv_bin/$tool is missing; rerun scripts/setup-venv.sh"
done
# sam finds cargo-lambda on PATH, and cargo-lambda finds zig (python -m ziglang) the same way.
export PATH="$venv_bin:$PATH"
export SAM_CLI_TELEMETRY=0

step "cfn-lint template.yaml"
# Informational findings (I...) are included: the template is expected to be clean of them too.
cfn-lint --include-checks I -- template.yaml || fail "cfn-lint reported findings in template.yaml"

step "sam validate --lint"
sam validate --lint --template template.yaml --region "$REGION" \
  || fail "sam validate --lint rejected template.yaml"

step "template security properties"
python tests/template_security.py template.yaml || fail "tests/template_security.py found a violation"

step "checkov"
# --skip-download: no policy updates from the network; the pinned checks are the contract.
.venv-checkov/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet \
  || fail "checkov reported failed checks in template.yaml (fix them, or skip one in the resource's Metadata with a comment saying why)"

step "docs/dashboard.svg matches the dashboard in template.yaml"
python scripts/dashboard_svg.py --check \
  || fail "docs/dashboard.svg is out of date: run python3 scripts/dashboard_svg.py and commit it"

if [ "${SKIP_SAM_BUILD:-0}" = 1 ]; then
  echo
  echo "deploy-check: passed (sam build skipped: SKIP_SAM_BUILD=1)"
  exit 0
fi

step "rust target aarch64-unknown-linux-gnu"
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu || fail "rustup could not add aarch64-unknown-linux-gnu"
  fi
  echo "installed"
else
  rustc --print target-libdir --target aarch64-unknown-linux-gnu >/dev/null 2>&1 \
    || fail "no rustup, and the aarch64-unknown-linux-gnu standard library is not installed"
fi

step "sam build (arm64, cargo-lambda + zig)"
start=$(date +%s)
sam build --template template.yaml || fail "sam build failed"
echo "sam build took $(( $(date +%s) - start )) s"

step "bootstrap is an arm64 ELF executable"
bootstrap=".aws-sam/build/$FUNCTION_ID/bootstrap"
[ -f "$bootstrap" ] || fail "$bootstrap was not produced"
[ -x "$bootstrap" ] || fail "$bootstrap is not executable"
# ELF header: magic, 64-bit class (byte 4 = 2), little endian (byte 5 = 1), and e_machine
# (bytes 18-19, little endian) = 0xB7, EM_AARCH64.
python - "$bootstrap" <<'EOF' || fail "$bootstrap is not a 64-bit little-endian aarch64 ELF"
import struct, sys
path = sys.argv[1]
with open(path, "rb") as f:
    header = f.read(20)
if len(header) < 20 or header[:4] != b"\x7fELF":
    sys.exit(f"{path}: not an ELF file")
if header[4] != 2 or header[5] != 1:
    sys.exit(f"{path}: not a 64-bit little-endian ELF (class {header[4]}, data {header[5]})")
(machine,) = struct.unpack_from("<H", header, 18)
if machine != 0xB7:
    sys.exit(f"{path}: e_machine is {machine:#x}, expected 0xb7 (aarch64)")
print(f"{path}: ELF64 aarch64 (e_machine {machine:#x})")
EOF
if command -v file >/dev/null 2>&1; then
  file "$bootstrap"
fi

echo
echo "deploy-check: passed"
