"""Where the project keeps its files: project root, data folder, warehouse, Dagster home.

Each location can be moved with an environment variable (tests and production use them);
the defaults put everything under `data/` in the clone, which git ignores.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def data_dir() -> Path:
    """Generated data and runtime files: `WHOLESALER_DATA_DIR`, else `<project>/data`."""
    return Path(os.environ.get("WHOLESALER_DATA_DIR") or PROJECT_ROOT / "data")


def warehouse_path() -> Path:
    """The DuckDB warehouse file: `WHOLESALER_WAREHOUSE_PATH`, else `<data>/warehouse.duckdb`."""
    configured = os.environ.get("WHOLESALER_WAREHOUSE_PATH")
    return Path(configured) if configured else data_dir() / "warehouse.duckdb"


def duckdb_memory_limit() -> str:
    """DuckDB's memory limit for every warehouse connection (ingest and dbt alike):
    `WHOLESALER_DUCKDB_MEMORY_LIMIT`, else 6GB; DuckDB spills to disk beyond it."""
    return os.environ.get("WHOLESALER_DUCKDB_MEMORY_LIMIT") or "6GB"


def rejects_dir() -> Path:
    """Where rejected input rows are written as CSV, one file per market and table."""
    return data_dir() / "rejects"


def downloads_dir() -> Path:
    """Where roll and distress files named by URL are downloaded and unpacked."""
    return data_dir() / "downloads"


def ledger_url() -> str:
    """The outreach ledger's SQLAlchemy URL: `WHOLESALER_LEDGER_URL` (PostgreSQL in
    production), else the SQLite file `<data>/outreach.db`."""
    return os.environ.get("WHOLESALER_LEDGER_URL") or f"sqlite:///{data_dir() / 'outreach.db'}"


def secrets_dir() -> Path:
    """Locally generated secrets for the embedded defaults (the demo's PII keys); production
    passes its keys through the environment instead."""
    return data_dir() / "secrets"


def dagster_home() -> Path:
    """Dagster instance folder: `DAGSTER_HOME`, else `<data>/dagster_home`."""
    return Path(os.environ.get("DAGSTER_HOME") or data_dir() / "dagster_home")


def export_for_subprocesses() -> None:
    """Make dbt (run as a subprocess) use the same warehouse file and memory limit as this
    process (dbt_project/profiles.yml reads both variables)."""
    os.environ["WHOLESALER_WAREHOUSE_PATH"] = str(warehouse_path())
    os.environ["WHOLESALER_DUCKDB_MEMORY_LIMIT"] = duckdb_memory_limit()
