"""The ledger copy and the outreach marts (docs/analytics.md).

- `ledger/<table>` (one multi-asset, one op): pipelines/ledger_copy.py copies the ledger's
  non-personal columns into the warehouse schema `ledger`, incrementally by change timestamps
  and keys; `config/market_costs` holds each market's prices from markets/*.yaml. Metadata:
  rows copied per table, rows held, the mode (incremental or full).
- `outreach_dbt_models`: every dbt model tagged `outreach` (stg_ledger__*, the outreach
  intermediates, marts/outreach/*) in ONE `dbt build` over every market (they are not
  market-partitioned, and the roll's job `materialize_market` never runs them). Unit tests
  are left to the test suite, as in the partition builds. The monthly compute cost comes from
  `WHOLESALER_COMPUTE_MONTHLY_USD` (default 0) as the dbt var `compute_monthly_usd`.
"""

import json
import os
from datetime import timedelta

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from dagster_duckdb import DuckDBResource
from pydantic import Field

from pipelines.dbt import OUTREACH_TAG, WholesalerDbtTranslator, dbt_project, ensure_manifest
from pipelines.defs.outreach.assets import warehouse_connection
from pipelines.ledger_copy import (
    KEY_OVERLAP,
    OVERLAP,
    TABLES,
    copy_ledger,
    write_market_costs,
)
from pipelines.resources import LedgerResource, MarketsResource

ensure_manifest()

GROUP = "analytics"
MARKET_COSTS = dg.AssetKey(["config", "market_costs"])
COMPUTE_COST_ENV = "WHOLESALER_COMPUTE_MONTHLY_USD"


class LedgerCopyConfig(dg.Config):
    full_refresh: bool = Field(default=False, description="Copy every table from scratch.")
    overlap_seconds: float = Field(
        default=OVERLAP.total_seconds(), ge=0,
        description="Rows changed this long before a table's newest copied change are read "
                    "again (catches transactions that committed late).")
    key_overlap: int = Field(default=KEY_OVERLAP, ge=0,
                             description="Append-only tables: keys this far below the highest "
                                         "copied key are read again.")


@dg.multi_asset(
    specs=[dg.AssetSpec(["ledger", spec.table], group_name=GROUP, kinds={"duckdb"},
                        description=f"The ledger's `{spec.table}` without personal data "
                                    "(pipelines/ledger_copy.py).")
           for spec in TABLES]
    + [dg.AssetSpec(MARKET_COSTS, group_name=GROUP, kinds={"duckdb"},
                    description="Each market's prices (markets/*.yaml `costs`).")],
    name="ledger_copy",
    pool="warehouse",
)
def ledger_copy(context: dg.AssetExecutionContext, config: LedgerCopyConfig,
                ledger: LedgerResource, warehouse: DuckDBResource,
                markets: MarketsResource):
    engine = ledger.engine()
    try:
        with warehouse_connection(warehouse) as conn:
            report = copy_ledger(engine, conn, full_refresh=config.full_refresh,
                                 overlap=timedelta(seconds=config.overlap_seconds),
                                 key_overlap=config.key_overlap)
            priced = write_market_costs(conn, markets.all())
    finally:
        engine.dispose()
    context.log.info(f"ledger copied in {report.seconds:.1f} s: {report.rows_copied}")
    for copied in report.tables:
        yield dg.MaterializeResult(asset_key=dg.AssetKey(["ledger", copied.table]), metadata={
            "rows_copied": copied.rows_copied, "rows": copied.rows_total,
            "mode": copied.mode, "seconds_all_tables": round(report.seconds, 2)})
    yield dg.MaterializeResult(asset_key=MARKET_COSTS, metadata={"markets": priced})


def compute_monthly_usd() -> float:
    text = os.environ.get(COMPUTE_COST_ENV) or "0"
    try:
        value = float(text)
    except ValueError as error:
        raise dg.Failure(f"{COMPUTE_COST_ENV}={text!r}: not a number of dollars") from error
    if value < 0:
        raise dg.Failure(f"{COMPUTE_COST_ENV}={text!r}: must be 0 or more")
    return value


def outreach_build_args() -> list[str]:
    return ["build", "--exclude-resource-type", "unit_test",
            "--vars", json.dumps({"compute_monthly_usd": compute_monthly_usd()})]


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=f"tag:{OUTREACH_TAG}",
    name="outreach_dbt_models",
    dagster_dbt_translator=WholesalerDbtTranslator(),
    pool="warehouse",
)
def outreach_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(outreach_build_args(), context=context).stream()
