# The two commands of the Quick start:  make run  |  make test
# Both go through scripts/dev.py (which also works without make): it checks the Python, makes or
# refreshes the virtual environment, then hands over to ccportal/devstack.py.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
ARGS   ?=
# PYTHON given on the command line (or in the environment) remakes VENV with it when another
# Python made it; otherwise VENV keeps the Python it was made with.
CHOSEN := $(if $(filter command line environment,$(origin PYTHON)),--python-chosen)
DEV    := $(PYTHON) scripts/dev.py --venv $(VENV) $(CHOSEN)

.PHONY: run test smoke install lint format typecheck check migrations-check reset clean

run:  ## install, migrate, load demo data, serve web + workers + beat on PORT
	@$(DEV) run --port $(PORT) $(ARGS)

test:  ## install and run the whole suite against real PostgreSQL and Redis
	@$(DEV) test $(ARGS)

# compose.yaml's services as local processes (granian, daphne, Celery, beat) behind Debian's
# nginx with deploy/nginx.conf, checked end to end through the proxy; no container engine needed.
# Uses DATABASE_URL/REDIS_URL (a throwaway <name>_smoke database; REDIS_URL's database is
# emptied: give it a spare number), else embedded servers under .data/smoke.
smoke: install  ## the production shape of compose.yaml, run locally and checked (under a minute)
	@CCPORTAL_PROFILE=smoke $(PY) -m ccportal.devstack exec -- $(PY) scripts/smoke.py $(ARGS)

install:
	@$(DEV) install

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

typecheck: install
	$(PY) -m ccportal.devstack exec -- $(PY) -m mypy

migrations-check: install
	$(PY) -m ccportal.devstack exec -- $(PY) manage.py makemigrations --check --dry-run

check: lint migrations-check test

reset: install  ## stop the embedded servers left running and forget their data
	@$(PY) -m ccportal.devstack reset

clean: reset
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .mypy_cache
