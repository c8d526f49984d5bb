# Two commands matter: `make run` and `make test`. Everything else is what they stand on.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export TOCSIN_CHROMIUM ?= /usr/bin/chromium

.PHONY: run test test-sqlite test-postgres lint typecheck setup assets db demo browser alertmanager clean migration bench

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

assets: node_modules/.installed

# Debian's Chromium drives the browser tests; Playwright never downloads a browser of its own.
browser:
	@test -x $(TOCSIN_CHROMIUM) || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Debian's Prometheus Alertmanager is the real sender in the end-to-end ingestion test.
alertmanager:
	@test -x /usr/bin/prometheus-alertmanager || { \
	  echo "installing Debian's prometheus-alertmanager for the ingestion tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager >/dev/null; }

db: setup
	mkdir -p var
	$(BIN)/tocsin db upgrade

run: setup db
	$(BIN)/tocsin demo --if-empty
	$(BIN)/tocsin serve --host 127.0.0.1 --port 8000

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests benchmarks

typecheck: setup
	$(BIN)/mypy

# The whole suite runs on SQLite, then on PostgreSQL (a fresh database per run).
# With CI=true the PostgreSQL leg is required; elsewhere it is skipped when no server answers.
test: setup browser alertmanager lint typecheck
	$(BIN)/python -m pytest -n 2 --durations=15 --db sqlite
	$(BIN)/python -m pytest -n 2 --durations=15 --db postgresql

test-sqlite: setup
	$(BIN)/python -m pytest -n 2 --durations=15 --db sqlite

test-postgres: setup
	$(BIN)/python -m pytest -n 2 --durations=15 --db postgresql

# Regenerates the initial migration from the models (before the first release only).
migration: setup
	$(BIN)/python -m tocsin.db.regenerate

bench: setup
	$(BIN)/python benchmarks/jobs.py

clean:
	rm -rf $(VENV) node_modules var/*.db*
