# Everything a person does twice. `make run` and `make test` are the README's two commands.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
DAYS ?= 365
export MLOPS_DATA_DIR ?= $(CURDIR)/.data
# DAGSTER_HOME: unless set, every `mlops` command uses $(MLOPS_DATA_DIR)/dagster with this repo's dagster.yaml
# (deploy/env.py), so runs started here, by the CLI or by the stack all show in the same Dagster UI.

.PHONY: install browser run materialize up stack-up stack-stop bench-services bench-serving bench-app bench-quality bench-tabular screenshots test test-fast \
	lint format bench validate clean deploy-tools validate-deploy compose-config compose-env dev-cert htpasswd image

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip check
	touch $@

## Debian's chromium for the browser tests (tests/ui), installed only when missing; Playwright drives it
browser:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

## materialize every asset on the embedded default, then start the Dagster UI, MLflow UI and the API (also when a gate blocked a promotion)
run: install
	$(BIN)/mlops land-sample air_quality_landing --days $(DAYS)
	$(BIN)/mlops land-sample census_income
	$(BIN)/mlops materialize --days $(DAYS) || echo "** some steps or blocking checks failed (above): the UIs show why; starting them anyway **"
	$(BIN)/mlops up

## materialize every asset and exit (scripts, CI)
materialize: install
	$(BIN)/mlops materialize --days $(DAYS)

## start the UIs on what is already materialized
up: install
	$(BIN)/mlops up

## the production shape without Docker: S3 server, MLflow server, Dagster on PostgreSQL, the API, nginx (deploy/stack.env); Ctrl-C stops
stack-up: install deploy-tools
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

## forecast quality per target on a 13-month landing file and the simulator's harder scenarios; one OpenMP
## thread per fit, as the fits are small and scikit-learn's threads stall on a busy shared machine
bench-quality: install
	OMP_NUM_THREADS=1 $(BIN)/python bench/forecast_quality.py

## the example tabular pipeline: holdout vs the majority baseline, calibration, conformal sets, slices, search
bench-tabular: install
	$(BIN)/python bench/tabular.py

## local vs services on the same materialization, and the stack's cold start (needs PostgreSQL and RabbitMQ)
bench-services: install
	$(BIN)/python bench/services_vs_local.py

## the prediction API vs `mlflow models serve` on one air_quality model: single-row load (wrk) and a 10,000-row batch
bench-serving: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/serving_vs_mlflow.py $(BENCH_ARGS)

## the analyst app in chromium: time to a rendered Overview and Forecast page, cold and warm, at 5 and 20 stations
bench-app: install browser
	$(BIN)/python bench/app_pages.py

## the README's screenshots of the app (docs/screenshots), taken by its browser tests
screenshots: install browser
	MLOPS_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest tests/ui/test_browser.py -q

## Debian tools the deployment needs here and in CI: nginx (the process stack's front), Prometheus and Alertmanager (the
## stack's monitoring; promtool and amtool check their files), docker-compose and shellcheck (offline checks)
deploy-tools:
	@missing=""; for tool in nginx:nginx prometheus:prometheus promtool:prometheus prometheus-alertmanager:prometheus-alertmanager \
	  amtool:prometheus-alertmanager docker-compose:docker-compose shellcheck:shellcheck; do \
	  command -v $${tool%%:*} >/dev/null || [ -x /usr/sbin/$${tool%%:*} ] || missing="$$missing $${tool#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq --no-install-recommends $$missing; fi

## the deployment, checked offline: Compose (docker-compose 1.29 and the Compose Spec schema), nginx -t on both renderings,
## the monitoring (promtool check config/rules, promtool test rules, amtool check-config, the Grafana dashboards), hadolint, shellcheck, actionlint
validate-deploy: install deploy-tools
	for overlay in dev staging prod; do $(BIN)/python -m deploy.compose_config print $$overlay > /dev/null || exit 1; done
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec deploy/compose/compose*.yaml
	$(BIN)/python -m deploy.nginx check
	$(BIN)/python -m deploy.monitoring check
	$(BIN)/hadolint Dockerfile
	shellcheck .ci/run deploy/compose/minio/setup.sh
	$(BIN)/actionlint

## the merged Compose file of an overlay (OVERLAY=dev|staging|prod), with deploy/compose/.env if present
OVERLAY ?= prod
compose-config: install
	$(BIN)/python -m deploy.compose_config print $(OVERLAY)

## deploy/compose/.env from .env.example with random passwords (kept if it exists)
compose-env: install
	$(BIN)/python -m deploy.compose_config env

## a self-signed certificate for localhost in deploy/compose/secrets/tls (dev overlay)
dev-cert: install
	$(BIN)/python -m deploy.nginx dev-cert deploy/compose/secrets/tls

## the consoles' basic-auth file deploy/compose/secrets/htpasswd (CONSOLE_USER, default admin; password asked or CONSOLE_PASSWORD)
htpasswd: install
	$(BIN)/python -m deploy.nginx htpasswd deploy/compose/secrets/htpasswd

## the platform image, for the dev overlay (needs a Docker engine)
image:
	docker build -t mlops-platform:local .

clean:
	rm -rf $(MLOPS_DATA_DIR)
