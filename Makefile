# One entry point for everything; a fresh machine needs only Rust, Python 3 and make.
#   make demo   the main job locally: a local AWS, demo targets, sample events, decisions
#   make test   every check CI runs (.ci/run calls it)

SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: venv build demo test lint unit integration smoke deploy-check bench clean

venv:
	./scripts/setup-venv.sh

build:
	cargo build --bins

demo: venv
	./scripts/demo.sh

# Everything: formatting, lints, unit, handler, fault-injection and moto integration tests,
# the cargo-lambda round trip, and the deployment checks.
test: venv lint unit integration smoke deploy-check

# --workspace: the bench crate too, so its programs and the criterion bench cannot rot
# (type-checked, not run: `make bench` runs them).
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	python3 -m py_compile bench/run.py bench/python/handler.py scripts/tune_policy.py

# Pure tests: the decision core, policy, parsing, handler in memory, injected faults, the
# simulator, and structured fuzzing of every sample event.
unit:
	cargo test --lib --bins --test event_parsing --test handler --test event_sources --test status --test faults --test deadline --test watch --test drain --test cli --test simulate --test fuzz_events

# The handler and the CLI against moto's server (started by the tests themselves).
integration: venv
	cargo test --test moto

# `cargo lambda watch` + `cargo lambda invoke` with the real Lambda binary.
smoke: venv
	./scripts/cargo-lambda-smoke.sh

# template.yaml lint, security properties, and an offline arm64 `sam build`.
deploy-check: venv
	./scripts/deploy-check.sh

# The benchmarks (docs/benchmarks.md): the function as Lambda runs it, its package, the
# decision core, AWS calls and handler CPU per event, and the account scale (about 13 min of
# the whole); writes bench/results.json and prints the table. Not part of `make test`.
# All but the account scale: scripts/bench.sh footprint package decide calls cpu
bench: venv
	./scripts/bench.sh

clean:
	cargo clean
	rm -rf $(VENV) .aws-sam
