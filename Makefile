# Chorus: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
export CHORUS_HOME := $(ROOT)
export PKG_CONFIG_PATH := $(ROOT)/.deps/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH))
SWIFT ?= swift
# Parallel test execution is on by default in Swift Testing; tests use unique topics and tables.
SWIFT_TEST_FLAGS ?=

.PHONY: setup build release up down status test chaos demo clean distclean bench-billing bench-inference bench bench-broker

setup: ## Install system and project-local dependencies (idempotent, seconds when done).
	@scripts/setup.sh

build: setup ## Debug build of every target.
	@$(SWIFT) build

release: setup ## Optimized build (services, benchmarks).
	@$(SWIFT) build -c release

up: build ## Start the embedded broker + PostgreSQL, create topics, apply migrations.
	@bin/chorus up

down: ## Stop the services and the embedded stack.
	@bin/chorus down

status:
	@bin/chorus status

test: setup ## Set up, start the stack, run every test (and the short fault suite on a private stack).
	@bin/chorus up
	@$(SWIFT) build --build-tests
	@$(SWIFT) test --skip-build $(SWIFT_TEST_FLAGS)
	@scripts/chaos.sh --short

chaos: setup ## The fault suite on a private broker and database: a table, then `chaos: scenarios=N ...`.
	@$(SWIFT) build --build-tests
	@scripts/chaos.sh

demo: up ## Set up everything and run the main job on the embedded default.
	@scripts/demo.sh

clean:
	@$(SWIFT) package clean

distclean: down ## Remove build outputs, project-local dependencies and data.
	@rm -rf .build .deps .data bench-results

bench-billing: up ## billing.daily_spend over 1,000,000 ledger rows (writes bench-results/billing.json).
	@scripts/bench-billing.sh

bench-inference: setup ## Cold starts by tier, batched decode rates, plain libllama reference (writes bench-results/inference.json).
	@$(SWIFT) build -c release --product bench-inference
	@.build/release/bench-inference --output bench-results/inference.json

bench: setup ## Pipeline overhead and throughput beside LiteLLM, open loop (writes bench-results/pipeline.json; BENCH_SMOKE=1 for a short run).
	@.deps/bench-venv/bin/python -c "import litellm" 2>/dev/null || (python3 -m venv --clear .deps/bench-venv && .deps/bench-venv/bin/pip install -q -r scripts/requirements-bench.txt)
	@scripts/bench-pipeline.sh

bench-broker: setup ## What the embedded Tansu broker costs per idle consumer and per message (private brokers, about 2 minutes).
	@.deps/venv/bin/python scripts/bench-broker.py
