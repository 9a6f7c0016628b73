# notion-batch — `make run` starts the product, `make test` runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := libs/common services/api services/scheduler services/worker services/cli emulator
# The example handler plugin, installed (editable) like a team's own plugin would be: its
# entry point is then real to importlib.metadata, for the API, the workers and the tests
# (tests/plugins). Not part of PACKAGES: it is no part of the product's images.
EXAMPLES := examples/notion-batch-plugin-example
STAMP := $(VENV)/.installed

# Local services of this machine (trust auth, guest/guest); override for your own.
DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/notion_batch
AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/
export DATABASE_URL AMQP_URL

# Tests use real PostgreSQL and RabbitMQ: the local ones when they answer, else the test
# fixtures start containers (testcontainers) where Docker exists.
PG_UP := $(shell (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && echo yes)
MQ_UP := $(shell (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && echo yes)
ifeq ($(PG_UP),yes)
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
export TEST_DATABASE_URL
endif
ifeq ($(MQ_UP),yes)
TEST_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/
export TEST_AMQP_URL
endif
# With both local servers in use and their control tools at hand, the suite also stops and
# restarts them for real (tests/outages); set NOTION_BATCH_OUTAGE_TESTS=0 to keep them up.
ifeq ($(PG_UP)$(MQ_UP),yesyes)
ifneq ($(shell command -v pg_ctlcluster >/dev/null && command -v rabbitmqctl >/dev/null && echo yes),)
NOTION_BATCH_OUTAGE_TESTS ?= 1
export NOTION_BATCH_OUTAGE_TESTS
endif
endif

.PHONY: help install bench-install run migrate test test-fast soak bench bench-quick lint format lock clean

help:
	@echo "make run    start api + scheduler + workers (+ the Notion emulator when NOTION_TOKEN is unset)"
	@echo "make test   run the whole test suite against real PostgreSQL and RabbitMQ"
	@echo "make soak   the randomized fault soak, 100 rounds (SOAK_ARGS='--seed S --rounds N')"
	@echo "make lint   ruff + mypy + no import circle"

install: $(STAMP)

$(STAMP): constraints.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES) $(EXAMPLES))
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt hatchling
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt \
		$(addprefix -e ,$(PACKAGES))
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-deps $(addprefix -e ,$(EXAMPLES))
	@$(MAKE) --no-print-directory chromium
	@touch $@

# The console's browser tests (tests/console) drive Debian's Chromium through Playwright (whose
# own browser download is not reachable here). Installed when missing and the machine allows
# it (root with apt-get); never fails: without it those tests skip, saying why.
.PHONY: chromium
chromium:
	@if command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium (for the console's browser tests)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
			>/dev/null 2>&1 || echo "could not install chromium: tests/console will skip"; \
	else echo "no chromium and no way to install it here: tests/console will skip"; fi

migrate: install
	$(BIN)/notion-batch migrate

run: install
	@scripts/run-local.sh

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/pytest -m "not e2e and not slow" $(PYTEST_ARGS)

# The randomized fault soak (tests/soak): not part of `make test`, which runs its 5-round smoke.
soak: install
	$(BIN)/python -m tests.soak $(SOAK_ARGS)

# The benchmark's extra: the peers it measures ours against (bench/peers/: Celery, psycopg).
# Only the bench targets install it; `make install` and `make test` never do.
BENCH_STAMP := $(VENV)/.bench-installed

bench-install: $(BENCH_STAMP)

$(BENCH_STAMP): $(STAMP) bench/peers/requirements.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -r bench/peers/requirements.txt
	@touch $@

bench: install bench-install
	$(BIN)/python bench/run.py

bench-quick: install bench-install
	$(BIN)/python bench/run.py --quick

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/check_import_cycles.py
	$(BIN)/mypy libs/common services/api/notion_batch services/scheduler/notion_batch \
		services/worker/notion_batch services/cli/notion_batch emulator/notion_batch bench/run.py \
		bench/probe.py scripts/check_import_cycles.py scripts/dashboard_preview.py scripts/servers.py \
		examples/notion-batch-plugin-example/src tests

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^notion-batch' > constraints.txt

clean:
	rm -rf $(VENV)

# The product in containers (deploy/docker-compose.yml), with Prometheus, Loki and Grafana.
# As with `make run`: without NOTION_TOKEN the Notion emulator (compose profile "emulator")
# starts too and the workers use it; with NOTION_TOKEN they use real Notion.
.PHONY: up down
up:
	$(if $(NOTION_TOKEN),NOTION_BASE_URL=$${NOTION_BASE_URL:-https://api.notion.com},COMPOSE_PROFILES=emulator) \
		docker compose -f deploy/docker-compose.yml up --build

# Every profile, so that the emulator goes too; add `-v` by hand to drop the data volumes.
down:
	COMPOSE_PROFILES=emulator docker compose -f deploy/docker-compose.yml down
