# Two entry points: `make demo` (install arxdeploy, run the demo) and `make test` (everything CI runs).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install install-test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[testing]'

demo: install
	$(BIN)/arxdeploy demo

install-test: $(BIN)/python
	scripts/install-test-deps.sh $(BIN)/python

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

bench: install-test
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build src/*.egg-info
