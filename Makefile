# whatsapp-notif: `make run` starts the whole system locally, `make test` checks it.
# Everything installs into .venv from uv.lock; nothing outside the project is required.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
UV_VERSION := 0.13.8
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run sandbox test test-deps lint typecheck unit e2e contracts bench-deps bench-ingest \
	bench-dispatcher bench-sandbox bench-ledger clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml \
		tools/*/pyproject.toml
	$(UV) sync --frozen --all-packages --quiet
	touch $@

install: $(VENV)/.synced ## create .venv with the locked dependencies

run: install ## the whole system locally, on embedded defaults
	$(BIN)/notif-local run

sandbox: install ## the WhatsApp Cloud API sandbox alone on 127.0.0.1:3900
	$(BIN)/wa-sandbox

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy libs/notif-core/src libs/notif-local/src services/ingest/src \
		services/dispatcher/src services/ledger/src services/wa-sandbox/src tools/notifctl/src \
		tests bench

unit: install
	$(BIN)/pytest -m "not e2e"

e2e: install
	$(BIN)/pytest -m e2e

test: lint typecheck test-deps ## ruff, mypy, then every test (unit, integration, end-to-end)
	$(BIN)/pytest

test-deps: ## promtool and prometheus, which the alert-rule tests run (a Debian package)
	@command -v promtool >/dev/null || ($(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus)

bench-deps: ## wrk, the HTTP load generator (a Debian package)
	@command -v wrk >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk)

bench-ingest: install bench-deps ## ingest vs a bare FastAPI endpoint; webhook intake latency
	$(BIN)/python bench/ingest_load.py --seconds 10

bench-dispatcher: install ## one dispatcher's max sends/s and CPU per message, httpx vs aiohttp
	$(BIN)/python bench/dispatcher_load.py --messages 3000

bench-ledger: install ## ledger projection: batched appends vs one event per transaction
	$(BIN)/python bench/ledger_projection.py

bench-sandbox: install ## load the sandbox alone; writes bench/results/sandbox-*.json
	$(BIN)/python bench/sandbox_load.py --seconds 10

contracts: install ## regenerate docs/events from the event models
	$(BIN)/python -m notif_core.contracts docs/events

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
