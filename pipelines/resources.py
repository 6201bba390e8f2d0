"""Dagster resources: the markets folder and the DuckDB warehouse, one resource per external
thing the assets touch, so tests and production swap them by configuration."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource
from sqlalchemy import Engine

from markets.loader import load_markets, markets_dir
from markets.schema import Market
from pipelines import settings


class MarketsResource(dg.ConfigurableResource):
    """The market YAML folder; assets look their partition's market up here."""

    directory: str

    def all(self) -> list[Market]:
        return load_markets(Path(self.directory))

    def get(self, code: str) -> Market:
        for market in self.all():
            if market.code == code:
                return market
        raise dg.Failure(f"no market {code!r} in {self.directory}")


class LedgerResource(dg.ConfigurableResource):
    """The outreach ledger (SQLAlchemy URL; default `settings.ledger_url()`), migrated to the
    newest schema on first use."""

    url: str | None = None

    def engine(self) -> Engine:
        from outreach.ledger.db import ledger_engine, upgrade_ledger

        engine = ledger_engine(self.url or settings.ledger_url())
        upgrade_ledger(engine)
        return engine


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources for the embedded defaults (paths from environment variables, see settings)."""
    from pipelines.dbt import dbt_cli_resource

    settings.export_for_subprocesses()
    return {
        "markets": MarketsResource(directory=str(markets_dir())),
        "warehouse": DuckDBResource(
            database=str(settings.warehouse_path()),
            connection_config={"memory_limit": settings.duckdb_memory_limit()},
        ),
        "dbt": dbt_cli_resource(),
        "ledger": LedgerResource(),
    }
