# Everything a user or CI needs, from a machine with only Python 3.11 on it.
# `make build` and `make test` install what they need first (into .venv).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# No analytics or telemetry calls from the pipeline (there is no network here, and users
# may not want their pipeline to call home).
export GX_ANALYTICS_ENABLED := False
export DAGSTER_DISABLE_TELEMETRY := 1

.PHONY: install lock chromium build test test-e2e lint dev benchmark clean

# Every package from requirements.lock, each checked against its sha256 (a file that does
# not match what was locked is refused); then the project itself, with no further packages.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## Resolve requirements.lock again after a change to pyproject.toml's dependencies (needs the
## package index; keeps every locked version it can, `UPGRADE=--upgrade` to move them all).
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --disable-pip-version-check uv==0.13.9
	.venv-lock/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--custom-compile-command "make lock" $(UPGRADE) -o requirements.lock

## Build the warehouse from the bundled snapshots, every asset and partition, and summarise it.
build: install
	$(BIN)/cmc build

# The browser tests drive Debian's Chromium (a browser downloaded by a tool's own installer
# is not used): installed from the distribution's packages when it is missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

## Lint and run the test suite (a few minutes; no network but the package registries).
test: install chromium
	$(BIN)/ruff check cmc_pipeline cmc_pipeline_tests benchmarks
	$(BIN)/pytest -m "not slow"

## The deployment end-to-end tests: Dagster daemon and webserver on PostgreSQL, backfills,
## a daemon killed mid-run, Celery workers. They wait on the daemon's ticks (~5 minutes);
## CI runs them after `make test`.
test-e2e: install
	$(BIN)/pytest -m slow

lint: install
	$(BIN)/ruff check cmc_pipeline cmc_pipeline_tests benchmarks
	$(BIN)/ruff format --check cmc_pipeline cmc_pipeline_tests benchmarks

## The Dagster UI on http://127.0.0.1:3000, showing the runs `make build` recorded.
dev: install
	$(BIN)/cmc dev

## Run every benchmark; each writes its own section of docs/benchmarks.md.
benchmark: install
	for script in benchmarks/*_benchmark.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf data/warehouse data/raw data/dagster_home
