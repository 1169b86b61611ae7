# make test      : create .venv if missing, install, run the test suite (both cores: organisms built first, then pytest-xdist)
# make test-fast : the unit tier on both cores (no organism, no notebook, no browser; a few minutes)
# make lint      : ruff (lint and format check)
# make typecheck : mypy on src/ against its baseline (tools/mypy-baseline.json: the count per file may only shrink)
# make demo      : install, run the main job: the default audit (facts organism; writes reports/facts-forget/)
# make bench     : the benchmark suite in bench/ (bench/run_all.py; not part of the tests)
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# Organism builds train on 2 torch threads (their weights depend on the thread count, so it is
# part of the recipe), and a build beside a second busy worker trains about twice as slowly: with
# workers, the run first builds the suite's organisms one at a time (--prebuild-organisms, see
# tests/conftest.py), then the workers run the tests on one thread each.  TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
export OMP_NUM_THREADS ?= 1
export HF_HUB_OFFLINE ?= 1
export WANDB_MODE ?= disabled
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install test test-fast lint typecheck demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -r requirements.lock
	$(BIN)/python -m pip install -q -c constraints.txt --no-deps -e .
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --prebuild-organisms

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not organism and not slow and not browser"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: $(STAMP)
	$(BIN)/python tools/typecheck.py

DEMO_THREADS ?= 2
demo: $(STAMP)
	OMP_NUM_THREADS=$(DEMO_THREADS) $(BIN)/unlearnscope audit

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
