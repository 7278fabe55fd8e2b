# Relance: the two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: demo test lint bench clean locale

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.base: $(BIN)/python requirements/base.lock pyproject.toml
	$(BIN)/pip install -q -r requirements/base.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(VENV)/.dev: $(BIN)/python requirements/dev.lock pyproject.toml
	$(BIN)/pip install -q -r requirements/dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@ $(VENV)/.base

## Install, migrate the embedded SQLite database, load the demo organisation and serve.
demo: $(VENV)/.base
	$(BIN)/relance demo --host $(HOST) --port $(PORT)

## Lint, type-check and run the whole suite on SQLite and on a throw-away PostgreSQL.
test: $(VENV)/.dev
	scripts/test

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy relance

## Benchmarks (figures go into docs/performance.md).
bench: $(VENV)/.dev
	$(BIN)/python -m bench
	$(BIN)/python -m bench.engine_run

## Extract the messages to translate, then compile the catalogues (needs GNU gettext).
locale: $(VENV)/.dev
	cd relance && ../$(BIN)/relance makemessages -l fr --no-obsolete --no-location
	cd relance && ../$(BIN)/relance compilemessages

## Refresh the lock files after editing pyproject.toml (needs uv).
lock:
	uv pip compile -q pyproject.toml --python-version 3.11 -o requirements/base.lock
	uv pip compile -q pyproject.toml --extra dev --python-version 3.11 -o requirements/dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
