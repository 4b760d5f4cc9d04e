# Each target builds .venv by itself on a fresh machine (Python 3.11+).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WHEELHOUSE := $(VENV)/wheelhouse

.PHONY: demo test lint schemas bench soak soak-flows soak-watch clean wheelhouse

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Wheels of reconciler's dependencies and build backend (setuptools, as in pyproject.toml), so
# the pre-commit test can build the hook's environment with pip offline.
$(WHEELHOUSE)/.complete: $(STAMP)
	rm -rf $(WHEELHOUSE)
	$(BIN)/pip wheel --quiet --wheel-dir $(WHEELHOUSE) . 'setuptools>=77'
	touch $@

wheelhouse: $(WHEELHOUSE)/.complete

## demo: plan, apply, then plan again, against the embedded sandbox
demo: $(STAMP)
	bash scripts/demo.sh

## test: every gate - ruff, mypy --strict, import contracts, pytest
test: $(STAMP) $(WHEELHOUSE)/.complete lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

schemas: $(STAMP)
	$(BIN)/reconciler schema

bench: $(STAMP)
	$(BIN)/python -m benchmarks.scale --specs 10000

## soak: 1,000 SIGKILL trials with faults and spec changes, checked at the sandbox (outside CI)
SOAK_TRIALS ?= 1000
soak: $(STAMP)
	$(BIN)/python -m benchmarks.soak --trials $(SOAK_TRIALS)

## soak-flows: 200 scheduled occurrences and 100 chain reruns, each with a SIGKILL (outside CI)
soak-flows: $(STAMP)
	SCHEDULED_TRIALS=200 CHAIN_TRIALS=100 $(BIN)/pytest -q -p no:cacheprovider \
		tests/resilience/test_exactly_once.py -k "scheduled or chain"

## soak-watch: watch replicas on one PostgreSQL state under kills, pauses, terminated connections and joins (outside CI)
SOAK_ROUNDS ?= 40
soak-watch: $(STAMP)
	$(BIN)/python -m benchmarks.watch_soak --rounds $(SOAK_ROUNDS)

clean:
	rm -rf $(VENV) .reconciler .pytest_cache .mypy_cache .ruff_cache
