# Annotate — set-up, test and run. `make demo` and `make test` are the two set-up commands.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# pip prints one warning per package for this machine's empty local index folders; hide only those.
PIP := $(PY) -m pip --disable-pip-version-check
QUIET_PIP := 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint bench messages serve worker gpu-worker beat migrate clean-venv

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip $(QUIET_PIP)

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PIP) install -q -r requirements.txt $(QUIET_PIP)
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PIP) install -q -r requirements-dev.txt $(QUIET_PIP)
	touch $@

## demo: install, migrate, seed the demo projects, run a Celery worker and the web server (Ctrl-C stops both);
## DEMO_IMAGES=DIR seeds from your own ImageFolder-style folder (DIR/CLASS/IMAGE) instead of the bundled photos
DEMO_IMAGES ?=
demo: $(VENV)/.runtime
	$(PY) manage.py demo --host $(HOST) --port $(PORT) $(if $(DEMO_IMAGES),--images "$(DEMO_IMAGES)")

## test: install runtime + dev requirements and run the whole suite, on TEST_WORKERS pytest-xdist processes
## (TEST_WORKERS=0: one process). Each worker has its own test database (pytest-django's _gwN suffix), var
## directory and broker key prefix (annotate/settings/test.py). Whole test files go to one worker (--dist
## loadfile): a module's shared fixtures (a model trained once, a server started once) are built once, as in a
## serial run. (loadgroup would be finer, but xdist 3.8's group suffix has no effect on pytest 9's node ids.)
## Then a second, SQLite pass (what `make demo` uses) of the quality, gold and curation services' tests and the
## vote path's query budgets (issue 22: both databases in CI): DATABASE_URL emptied = SQLite (annotate/settings/
## base.py), in its own var directory; browser, worker and slow tests stay in the main pass.
SQLITE_SUITES := tests/labeling/quality tests/labeling/curation tests/labeling/labeling/test_label_vote_budget.py
TEST_WORKERS ?= 2
test: $(VENV)/.dev
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	DATABASE_URL= ANNOTATE_VAR_DIR="$${ANNOTATE_VAR_DIR:-$(CURDIR)/var}/sqlite-pass" \
	  $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not browser and not slow and not worker and not postgres" $(SQLITE_SUITES)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

## bench: every benchmark script in bench/ (prints ratios against baselines measured in the same run)
bench: $(VENV)/.dev
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

## messages: refresh every locale/<lang>/LC_MESSAGES/*.po from the code (needs GNU gettext: apt-get install gettext),
## then compile the .mo files, which are committed (a machine without gettext still runs every language)
MESSAGES_IGNORE := --ignore='var/*' --ignore='tests/*' --ignore='bench/*'
messages: $(VENV)/.runtime
	$(PY) manage.py makemessages --all --no-location --no-obsolete $(MESSAGES_IGNORE)
	$(PY) manage.py makemessages --all --no-location --no-obsolete -d djangojs $(MESSAGES_IGNORE)
	$(PY) manage.py compilemessages --ignore='.venv' --ignore='var'

# The same commands docker-compose.yml runs.
migrate: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput

serve: $(VENV)/.runtime
	$(VENV)/bin/gunicorn annotate.wsgi:application --bind $(HOST):$(PORT) --workers 2 --threads 4 --timeout 120

worker: $(VENV)/.runtime
	$(VENV)/bin/celery -A annotate worker -Q default,ingest --concurrency 2 --loglevel INFO

gpu-worker: $(VENV)/.runtime
	$(VENV)/bin/celery -A annotate worker -Q gpu --concurrency 1 --loglevel INFO

beat: $(VENV)/.runtime
	$(VENV)/bin/celery -A annotate beat --loglevel INFO --schedule $${ANNOTATE_VAR_DIR:-var}/celerybeat-schedule

clean-venv:
	rm -rf $(VENV)
