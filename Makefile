# Two commands on a fresh machine: `make demo` (set up, then run the demo) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup ui bench clean-data

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/wholesaler demo

test: setup
	$(BIN)/ruff check .
	$(BIN)/bandit -q -r pipelines scrapers markets contacts outreach dashboards -c pyproject.toml \
		--severity-level medium
	$(BIN)/pytest

ui: setup
	$(BIN)/wholesaler ui

clean-data:
	rm -rf data/warehouse.duckdb data/warehouse.duckdb.wal data/rejects data/dagster_home
