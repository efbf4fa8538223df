# Everything a person does twice. `make run` and `make test` are the README's two commands.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
DAYS ?= 365
export MLOPS_DATA_DIR ?= $(CURDIR)/.data
# DAGSTER_HOME: unless set, every `mlops` command uses $(MLOPS_DATA_DIR)/dagster with this repo's dagster.yaml
# (deploy/env.py), so runs started here, by the CLI or by the stack all show in the same Dagster UI.

.PHONY: install run materialize up stack-up stack-stop bench-services bench-serving test test-fast lint format bench validate clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip check
	touch $@

## materialize every asset on the embedded default, then start the Dagster UI, MLflow UI and the API (also when a gate blocked a promotion)
run: install
	$(BIN)/mlops land-sample air_quality_landing --days $(DAYS)
	$(BIN)/mlops materialize --days $(DAYS) || echo "** some steps or blocking checks failed (above): the UIs show why; starting them anyway **"
	$(BIN)/mlops up

## materialize every asset and exit (scripts, CI)
materialize: install
	$(BIN)/mlops materialize --days $(DAYS)

## start the UIs on what is already materialized
up: install
	$(BIN)/mlops up

## the production shape without Docker: S3 server, MLflow server, Dagster on PostgreSQL (deploy/stack.env); Ctrl-C stops
stack-up: install
	$(BIN)/mlops stack up --profile services

## stop a stack started with `mlops stack up --detach`
stack-stop: install
	$(BIN)/mlops stack stop --profile services

## the test suite; PYTEST_ARGS narrows it (e.g. PYTEST_ARGS="-m 'not slow'"); "no tests collected" is a failure
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## the definitions load, on the local instance's configuration (its storage and run launcher classes load too)
validate: install
	DAGSTER_HOME="$$($(BIN)/python -m deploy.env)" $(BIN)/dagster definitions validate -w workspace.yaml

bench: install
	$(BIN)/python bench/materialize_vs_script.py

## local vs services on the same materialization, and the stack's cold start (needs PostgreSQL and RabbitMQ)
bench-services: install
	$(BIN)/python bench/services_vs_local.py

## the prediction API vs `mlflow models serve` on one air_quality model: single-row load (wrk) and a 10,000-row batch
bench-serving: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/serving_vs_mlflow.py

clean:
	rm -rf $(MLOPS_DATA_DIR)
