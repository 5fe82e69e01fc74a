# strato developer commands. `make help` lists them.
# `make run` and `make test` do all set-up themselves on a fresh machine (venv, tools, release
# build of the native module).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?= up
WHEEL_DIR := target/wheels
SHARED ?= $(abspath ../shared)

.PHONY: help dev run test test-python test-rust lint wheel wheel-test bench-deps bench-data bench bench-smoke bench-pds fuzz-smoke clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/.deps: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# The native module is rebuilt only when its sources, the crate's manifests or the package's
# metadata changed since the last build (the stamp), so `make run` starts at once otherwise. The
# venv is order-only: new pinned tools need no rebuild of the core.
NATIVE_SOURCES := $(shell find rust/src -name '*.rs') Cargo.toml Cargo.lock pyproject.toml

$(BIN)/.native: $(NATIVE_SOURCES) | $(BIN)/.deps
	$(BIN)/maturin develop --release --quiet
	touch $@

dev: $(BIN)/.native  ## create .venv and build the native module in release mode into it (only when changed)

run: dev  ## run the main job, `strato up` (PLC directory + PDS + relay on loopback); any command: make run ARGS="car inspect FILE"
	$(BIN)/strato $(ARGS)

test: dev test-python test-rust  ## set up, then run every test (Python and Rust)

test-python:  ## the Python suite against the built module
	STRATO_SHARED=$(SHARED) $(BIN)/pytest

test-rust:  ## the Rust core's tests, without Python
	STRATO_SHARED=$(SHARED) cargo test --no-default-features

lint: dev  ## ruff, mypy (strict), stubtest, rustfmt, clippy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest strato._core
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --no-default-features -- -D warnings

wheel: $(BIN)/.deps  ## build the portable abi3 wheel (manylinux_2_28, linked with zig)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/maturin build --release --zig --compatibility manylinux_2_28 --out $(WHEEL_DIR)

# What the installed wheel is tested with: the native module's own tests in full, and a smoke set
# through every service and the command line (the whole suite runs once, in `make test`).
WHEEL_TESTS := tests/core tests/syntax tests/lexicon tests/repo tests/test_cli.py \
	tests/test_cli_pds.py tests/test_private_data.py tests/pds/test_pds_sdk.py \
	tests/pds/test_pds_smoke.py tests/pds/test_pds_repo_import.py tests/relay/test_relay_e2e.py \
	tests/firehose/test_fanout_server.py tests/firehose/test_fanout_takeover.py \
	tests/firehose/test_firehose_sdk.py tests/pds/test_pds_firehose.py

wheel-test: wheel  ## install the wheel into a fresh venv; run the native tests and a smoke set against it
	rm -rf target/wheel-venv
	$(PYTHON) -m venv target/wheel-venv
	target/wheel-venv/bin/pip install --quiet $(WHEEL_DIR)/strato-*.whl \
		$$(grep -E '^(pytest|pytest-timeout|hypothesis|cbrrr|coincurve|atmst|atproto|pydantic|pydantic_core|annotated-types|typing-inspection|libipld|tlds|zstandard|click)==' requirements-dev.txt)
	cd tests && STRATO_EXPECT_INSTALLED=1 STRATO_SHARED=$(SHARED) \
		../target/wheel-venv/bin/python -m pytest -c ../pyproject.toml --rootdir .. -p no:cacheprovider \
		$(addprefix ../,$(WHEEL_TESTS))

bench-deps: dev  ## install the pinned peer libraries the comparison runs against
	$(BIN)/pip install --quiet -r benches/requirements.txt

bench-data: bench-deps  ## generate the benchmark inputs into benches/data (not committed)
	$(BIN)/python benches/records.py
	$(BIN)/python benches/make_repo_car.py

bench: bench-data  ## criterion benches, then strato against its peers in one process
	cargo bench --no-default-features --bench core
	cargo bench --no-default-features --bench crypto
	$(BIN)/python benches/compare.py
	$(BIN)/python benches/crypto_compare.py
	$(BIN)/python benches/repo_compare.py
	$(BIN)/python benches/syntax_compare.py
	$(BIN)/python benches/lexicon_compare.py

bench-smoke: bench-deps  ## the comparisons on small data: checks strato agrees with every peer
	$(BIN)/python benches/compare.py --quick
	$(BIN)/python benches/crypto_compare.py --quick
	$(BIN)/python benches/repo_compare.py --quick
	$(BIN)/python benches/syntax_compare.py --quick
	$(BIN)/python benches/lexicon_compare.py --quick

bench-pds: dev  ## strato's PDS against millipds over HTTP (MILLIPDS_VENV=DIR: a venv with millipds; installs wrk if missing)
	command -v wrk >/dev/null || apt-get install -y wrk || (apt-get update && apt-get install -y wrk)
	$(BIN)/python benches/pds_bench.py $(if $(MILLIPDS_VENV),--millipds-venv $(MILLIPDS_VENV)) $(PDS_BENCH_ARGS)

fuzz-smoke: dev  ## build every fuzz target, run each ~10 s on seeds from ../shared (fuzz/README.md)
	PYTHON=$(abspath $(BIN))/python STRATO_SHARED=$(SHARED) fuzz/fuzz.sh smoke-ci 10

clean:  ## remove build outputs and the venv
	rm -rf $(VENV) target fuzz/target
