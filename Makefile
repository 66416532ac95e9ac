# The two commands: `make run` (app + worker on http://127.0.0.1:8000) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench install browser clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@# numba compiles librosa's beat tracker into its on-disk cache once (~10 s), not in every
	@# worker and test process that analyses a song
	$(PY) -c "from mv.music.analysis import warm_up; warm_up()"
	@touch $(STAMP)

install: $(STAMP)

## make run: install, migrate, ensure an admin user, then serve + run the worker, with DEBUG off
## (DEBUG=true make run for Django's debug pages) and, without a SECRET_KEY, the key made once
## and kept in .secret_key (git-ignored).
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py ensure_admin
	$(VENV)/bin/honcho start -f Procfile

## make test: the whole suite: the fast part in TEST_WORKERS processes (pytest-xdist; each has its
## own SQLite/PostgreSQL test database and media folders; three keep 2 cores busy while some
## tests wait on servers and workers they start), the browser tests in two (each with its own
## live server), the PostgreSQL + RQ + S3 end-to-end run (marker `isolated`) on its own,
## then the PostgreSQL pass whenever PostgreSQL answers on 127.0.0.1:5432 (it says when it does not).
TEST_WORKERS ?= 3
test: $(STAMP)
	@bash scripts/ensure-chromium.sh
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not browser and not isolated"
	$(PY) -m pytest -n 2 -m browser
	$(PY) -m pytest -m isolated
	@bash scripts/test-postgres.sh $(PY) -n $(TEST_WORKERS) -m "not browser and not isolated"

## make bench: the benchmarks in bench/, each printing ratios measured side by side.
bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
