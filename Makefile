# trustlab: every target is self-contained (creates .venv and installs what it needs).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CORE_STAMP := $(VENV)/.installed-core

.PHONY: demo quick catalog test test-all bench smoke lint clean install weights

# runtime install (what `make demo` / `make quick` need), then the dev extra on top (tests, lint, launchers)
$(CORE_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e .
	$(PY) -m trustlab.catalog
	touch $(CORE_STAMP)

$(STAMP): $(CORE_STAMP)
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps torchattacks==3.5.1
	touch $(STAMP)

install: $(STAMP)

demo: $(CORE_STAMP)
	$(VENV)/bin/trustlab bench --suite demo --reuse --jobs 2
	@echo "report: $(CURDIR)/reports/demo/index.html"

quick: $(CORE_STAMP)
	$(VENV)/bin/trustlab bench --suite quick --reuse --jobs 2
	@echo "report: $(CURDIR)/reports/quick/index.html"

catalog: $(STAMP)
	$(PY) -m trustlab.catalog

# rebuild the shipped weights (methods/*/weights/*.pt + .json; about 6 CPU-minutes), then commit them
weights: $(STAMP)
	$(PY) -m trustlab.methods.coop.shipped
	$(PY) -m trustlab.methods.advsim.shipped
	OMP_NUM_THREADS=1 $(PY) -m trustlab.methods.gmoe.shipped

test: $(STAMP)
	$(PY) -m trustlab.catalog
	$(PY) -m pytest tests -n 2 --dist worksteal --durations=25

test-all: $(STAMP)
	$(PY) -m pytest tests -m ""

smoke: $(STAMP)
	$(VENV)/bin/trustlab bench --suite smoke

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts

clean:
	rm -rf reports runs build *.egg-info
