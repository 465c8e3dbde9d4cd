# motiflens — `make help` lists the targets.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
SERVICES := trainer interpreter motifmatch
# MinIO built from source (docker/minio.Dockerfile); deploy/base/Kustomization names the same tag.
MINIO_RELEASE := RELEASE.2025-10-15T17-29-55Z
BUDGET ?= small
OUTPUT ?= reproduce-output
IRF1 ?= ../shared/data/IRF1_400_h3k27ac.h5

.DEFAULT_GOAL := help
.PHONY: help install test test-slow lint type format demo reproduce bench clean protos up images

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'

# After pip: memelite's Tomtom kernels compiled into numba's cache in the venv (motiflens/tomtom/bake.py),
# so no process compiles them on a first call: about 75 s on 2 cores the first time, 2 s when the
# cache is already filled (a rerun after a dependency change recompiles only if memelite or numba changed).
$(STAMP): pyproject.toml client/pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found); set PYTHON=..."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e ./client -e ".[dev]"
	$(PY) -m motiflens.tomtom.bake
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install motiflens with pinned dependencies

protos: install ## Regenerate client/motiflens_client/_proto from protos/
	$(PY) tools/gen_protos.py

lint: install ## ruff check + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

type: install ## mypy over motiflens/, services/ and client/ (configured in pyproject.toml)
	$(VENV)/bin/mypy

format: install ## Apply ruff formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install lint type ## Install if needed, lint, type-check, run the fast test suite
	$(PY) -m pytest -m "not slow" -q

test-slow: install ## Run the slow tests (minutes: Task 3 motif discovery end to end)
	$(PY) -m pytest -m slow -q || [ $$? -eq 5 ]  # 5 = no test collected

up: install ## Start trainer, interpreter and motifmatch on loopback (STORE=a folder, file:///... or s3://...)
	$(PY) -m motiflens_client up $(if $(STORE),--store '$(STORE)')

demo: install ## Install, then run the end-to-end example (see README)
	$(PY) -m motiflens_client.experiments.demo

reproduce: install ## Reproduce the paper through the services: BUDGET=small|paper|tiny, OUTPUT, IRF1, ADDRESS
	$(PY) bench/reproduce.py --budget $(BUDGET) --output $(OUTPUT) --irf1 $(IRF1) $(if $(ADDRESS),--address $(ADDRESS))

bench: install ## Print training, attribution and sweep-submission figures (bench/*.py; load.py separately)
	$(PY) bench/train_throughput.py
	$(PY) bench/attribution_throughput.py
	$(PY) bench/sweep_submit.py

images: ## Build the service images motiflens/<svc>:$(VERSION), the GPU trainer and MinIO (needs Docker)
	@for svc in $(SERVICES) trainer-gpu; do \
		echo docker build -f docker/$$svc.Dockerfile -t motiflens/$$svc:$(VERSION) . ; \
		docker build -f docker/$$svc.Dockerfile -t motiflens/$$svc:$(VERSION) . || exit 1; \
	done
	docker build -f docker/minio.Dockerfile --build-arg MINIO_RELEASE=$(MINIO_RELEASE) \
		-t motiflens/minio:$(MINIO_RELEASE) docker

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
