# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# Base of the links in emails. HOST=0.0.0.0 (every interface) is no address to open: links use 127.0.0.1.
PUBLIC_URL ?= http://$(if $(filter 0.0.0.0 ::,$(HOST)),127.0.0.1,$(HOST)):$(PORT)
# Test processes (pytest-xdist): one per CPU by default; TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= auto

.PHONY: run test lint test-postgres browser-test bench schema migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Set up, migrate the embedded SQLite database, load demo data once, serve on HOST:PORT with the background worker.
# Development mode for every command of the recipe (the settings default to production).
run: export PROCURA_ENV = development
run: $(STAMP)
	$(BIN)/procura db upgrade
	PUBLIC_URL='$(PUBLIC_URL)' $(BIN)/procura demo-data
	HOST=$(HOST) PORT=$(PORT) PUBLIC_URL='$(PUBLIC_URL)' $(BIN)/procura serve --host $(HOST) --port $(PORT) --no-migrate --with-worker

## Set up and run the whole suite on SQLite; on PostgreSQL too when TEST_DATABASE_URL is set.
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

## ruff (lint and import order) and mypy over the project.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## Headless Chromium opens GraphiQL, signs in, runs `me` and saves a screenshot.
browser-test: $(STAMP)
	$(BIN)/python -m pip install --quiet 'playwright>=1.47'
	PROCURA_BROWSER_TEST=1 $(BIN)/python -m pytest tests/browser

bench: $(STAMP)
	$(BIN)/python bench/authz.py

schema: $(STAMP)
	$(BIN)/procura export-schema

migrate: $(STAMP)
	$(BIN)/procura db upgrade

clean:
	rm -rf $(VENV) var *.egg-info
