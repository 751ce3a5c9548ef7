# The two commands in the README do all set-up on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-quick migrate clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

migrate: $(STAMP)
	$(PY) run.py migrate

run: migrate
	$(PY) run.py serve

TYPED := config adapters callbacks scrm tagging archive run.py

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy $(TYPED)
	$(PY) -m pytest -q -ra

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy $(TYPED)

bench: $(STAMP)
	-$(PY) bench/intake.py
	-$(PY) bench/tagging.py
	-$(PY) bench/archive.py
	-$(PY) bench/tickets.py
	-$(PY) bench/channels.py --db postgres
	-$(PY) bench/leads.py

bench-quick: $(STAMP)
	-$(PY) bench/intake.py --quick
	-$(PY) bench/tagging.py --quick
	-$(PY) bench/archive.py --quick
	-$(PY) bench/tickets.py --quick
	-$(PY) bench/channels.py --quick
	-$(PY) bench/leads.py --quick

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
