# Every target creates .venv itself: a fresh clone needs nothing but python3 and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
# jupyter refuses to run as root without this flag (CI and these machines run as root).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: test lab demo bench lint clean

# The sidebar's sources and build function: `pip install -e` rebuilds the labextension, so a
# change here reinstalls like a change of pyproject.toml does.
LABEXT_SRC := build_labextension.py labextension/package.json labextension/package-lock.json \
	$(wildcard labextension/src/*) $(wildcard labextension/style/*)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# `pip install -e .` builds the sidebar with npm (hatch-jupyter-builder); Debian's nodejs
# and npm are enough when the machine has none.
NEED_NPM := command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)

$(VENV)/.test-deps: pyproject.toml $(LABEXT_SRC) | $(BIN)/python
	$(NEED_NPM)
	$(PIP) install -e '.[test]'
	touch $@

$(VENV)/.lab-deps: pyproject.toml $(LABEXT_SRC) | $(BIN)/python
	$(NEED_NPM)
	$(PIP) install -e '.[lab]'
	touch $@

$(VENV)/.bench-deps: pyproject.toml | $(BIN)/python
	$(NEED_NPM)
	$(PIP) install -e '.[bench]'
	touch $@

## make test: install the test extras and run the linter and every test.
# tests/test_notebooks.py runs each notebook of notebooks/ with `pytest --nbval-lax`.
# tests/ui drives JupyterLab in Debian's Chromium (Playwright cannot download its own here).
# tests/core/test_archive_names.py makes its zips with Info-ZIP's zip, as users on Linux do.
test: $(VENV)/.test-deps
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	command -v zip >/dev/null || (apt-get update -qq && apt-get install -y -qq zip)
	$(BIN)/ruff check src tests bench notebooks examples
	$(BIN)/pytest

lint: $(VENV)/.test-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

## make lab: JupyterLab on notebooks/ over the embedded local store (~/.modelshelf),
# with the "Models" sidebar (built into the package by `pip install -e`).
lab: $(VENV)/.lab-deps
	mkdir -p notebooks
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 $(ROOT_FLAG)

## make demo: the example notebooks, run headless in a throw-away store, cell by cell.
demo: $(VENV)/.test-deps
	$(BIN)/python examples/tour.py

## make bench: the benchmarks against their peers; writes BENCHMARKS.md.
# bench/serve.py loads its servers with wrk (Debian's); without it, with an asyncio client.
# bench/handlers.py runs Multi Model Server, whose frontend needs Java (Debian's JRE).
bench: $(VENV)/.bench-deps
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) \
		|| echo "wrk not installed: bench/serve.py uses its asyncio load generator"
	$(BIN)/python bench/cli_startup.py
	$(BIN)/python bench/store.py
	$(BIN)/python bench/listing.py
	$(BIN)/python bench/jobs.py
	$(BIN)/python bench/schedules.py
	$(BIN)/python bench/upload.py
	$(BIN)/python bench/serve.py
	command -v java >/dev/null || (apt-get update -qq && apt-get install -y -qq default-jre-headless) \
		|| echo "no Java: bench/handlers.py measures without Multi Model Server"
	$(BIN)/python bench/handlers.py
	$(BIN)/python bench/batching.py
	$(BIN)/python bench/scaling.py
	$(BIN)/python bench/environments.py
	$(BIN)/python bench/batch.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
