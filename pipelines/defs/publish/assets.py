"""The published snapshot the dashboards read (pipelines/publish.py): every market's leads,
comps and summary as Parquet, swapped in atomically after the markets are built."""


import json

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.publish import OUTREACH_TABLES, publish

PUBLISHED = dg.AssetKey(["published", "dashboard_snapshot"])


@dg.asset(
    key=PUBLISHED,
    deps=[dg.AssetKey(["marts", name]) for name in ("lead_scores", "properties", "offers",
                                                    "comps", "valuations", *OUTREACH_TABLES)],
    group_name="published",
    kinds={"parquet"},
    pool="warehouse",
    description="Leads, comps, market summary and the outreach marts for the dashboards, "
                "as Parquet under data/published/current (replaced atomically).",
)
def dashboard_snapshot(context: dg.AssetExecutionContext,
                       warehouse: DuckDBResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as conn:
        folder = publish(conn)
    manifest = json.loads((folder / "manifest.json").read_text())
    return dg.MaterializeResult(metadata={
        "snapshot": str(folder), **{f"rows_{table}": n for table, n in manifest["rows"].items()}})
