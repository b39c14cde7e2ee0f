# The two commands of the Quick start:  make run  |  make test
# Everything else here is what they are made of.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=

.PHONY: run test install lint format typecheck check migrations-check reset clean

run: install  ## install, migrate, load demo data, serve web + worker + beat
	$(PY) -m ccportal.devstack run

test: install  ## install and run the whole suite against real PostgreSQL and Redis
	$(PY) -m ccportal.devstack exec -- $(PY) -m pytest $(ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ccportal needs Python >= 3.11 (found " + sys.version.split()[0] + "); run: make PYTHON=python3.12 ...")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

typecheck: install
	$(PY) -m ccportal.devstack exec -- $(PY) -m mypy

migrations-check: install
	$(PY) -m ccportal.devstack exec -- $(PY) manage.py makemigrations --check --dry-run

check: lint migrations-check test

reset:  ## forget the embedded servers' data
	$(PY) -m ccportal.devstack reset

clean: reset
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .mypy_cache
