# WDP developer commands. `make install` once, then `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

.PHONY: install test trial test-fast lint typecheck vectors vectors-check proto demo clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 install'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

## Everything CI checks: lint, types, test vectors up to date, the whole test suite.
test: install lint typecheck vectors-check
	$(BIN)/pytest -q -ra --durations=20 -m "not trial"; status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests"; exit 1; fi; exit $$status

## Tests that measure what does not yet hold every time (issue 15's keeper among black holes).
trial: install
	$(BIN)/pytest -q -ra -m trial

## The quick loop: skips multi-process, Docker and Rust interop suites.
test-fast: install
	$(BIN)/pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check wdp tests
	$(BIN)/ruff format --check wdp tests

## Types: the core strictly (pyproject.toml), the drivers and tools too.
typecheck: install
	$(BIN)/mypy wdp

## Regenerate protocols/vectors/ from fixed seeds (byte-identical every run).
vectors: install
	$(PY) -m wdp.vectors

vectors-check: install
	$(PY) -m wdp.vectors --check

## Regenerate the Python protobuf code from protocols/wdp.proto.
proto: install
	$(PY) -m grpc_tools.protoc -Iprotocols --python_out=wdp/core/proto --pyi_out=wdp/core/proto protocols/wdp.proto

## The main job on one machine: 10 nodes, put, seize 30 %, repair, get, verdict.
demo: install
	$(PY) -m wdp.ops.demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info

.PHONY: bench-sim study budget

## Swarm simulator: handoffs simulated per second (fidelity, stand-in crypto, 10,000-node shape).
bench-sim: install
	$(PY) -m wdp.sim.cli bench

## Durability study: every scenario x storage policy; rewrites docs/durability.md's numbers and plots.
study: install
	$(PY) -m wdp.sim.cli study --docs docs

## Hop budget: loss, exposure and bandwidth against epoch length and attacker lag (docs/durability.md).
budget: install
	$(PY) -m wdp.sim.cli budget --docs docs

.PHONY: testbed testbed-down soak testbed-scenario

## The WAN testbed (root): nodes in 3 regions with shaped links, for TESTBED_MINUTES (default 30).
testbed: install
	$(PY) -m wdp.ops.wan run --per-region $(or $(PER_REGION),2) --minutes $(or $(TESTBED_MINUTES),30)

## False alarms on the testbed: SOAK_MINUTES (default 30) of ordinary load, then a region seized.
soak: install
	$(PY) -m wdp.ops.wan.soak --minutes $(or $(SOAK_MINUTES),30)

## A scenario of the simulator on the testbed's real nodes: make testbed-scenario NAME=loss-then-seize
testbed-scenario: install
	$(PY) -m wdp.ops.wan.scenario $(or $(NAME),loss-then-seize)

## Remove what a crashed testbed run left (its namespaces and the processes in them).
testbed-down: install
	$(PY) -m wdp.ops.wan down

.PHONY: bench

## Throughput, latency, put/get and panic evacuation next to same-run baselines (a few minutes).
bench: install
	$(PY) -m wdp.ops.bench

.PHONY: rust-peer test-interop

# Cargo builds outside the clone, so a fresh clone reuses compiled crates.
WDP_CARGO_TARGET_DIR ?= $(HOME)/.cache/wdp/cargo-target

## The Rust WDP peer (interop/rust): $(WDP_CARGO_TARGET_DIR)/debug/wdp-rust-peer.
rust-peer:
	@command -v cargo >/dev/null 2>&1 || { echo "error: cargo not found; install Rust from https://rustup.rs"; exit 1; }
	cd interop/rust && CARGO_TARGET_DIR="$(WDP_CARGO_TARGET_DIR)" cargo build --bin wdp-rust-peer

## Python <-> Rust interop suite over TCP and WebSocket (also runs `cargo test`).
test-interop: install
	WDP_CARGO_TARGET_DIR="$(WDP_CARGO_TARGET_DIR)" $(BIN)/pytest -q -m interop tests/interop

.PHONY: image cluster-up cluster-down chaos
NODES ?= 6

## The wdp-node container image; without a registry, a local base is made first (docker/).
image: install
	docker/build-image.sh

## A local swarm in containers: bootstrap (API on 127.0.0.1:5080) + NODES nodes (default 6).
cluster-up: image
	docker/cluster.sh up $(NODES)

## Remove the cluster's containers, network and volumes.
cluster-down:
	docker/cluster.sh down

## Kill 30 % of the carriers, pause and disconnect others, get every file back byte for byte.
chaos: install
	PYTHON=$(PY) docker/cluster.sh chaos $(CHAOS_ARGS)
