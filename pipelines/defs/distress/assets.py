"""Distress-list assets: each market's code violations, lis pendens and tax-deed applications
loaded into the raw schema from the sources its YAML names (CSV today; ArcGIS layers arrive
with the scrapers work). A market without a source for a kind gets an empty table."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.defs.roll.assets import ingest_check_specs, ingest_results, load_location
from pipelines.ingest import ingest_nothing
from pipelines.partitions import market_partitions
from pipelines.raw_tables import distress_spec
from pipelines.resources import MarketsResource
from scrapers.distress_layout import DISTRESS_KINDS

_DESCRIPTIONS = {
    "code_violations": "Code-enforcement cases per parcel.",
    "lis_pendens": "Lis pendens / foreclosure filings per parcel.",
    "tax_deed_applications": "Tax-deed applications on tax certificates per parcel.",
}


def _distress_asset(kind: str) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", kind])

    @dg.multi_asset(
        name=kind,
        specs=[dg.AssetSpec(key, description=_DESCRIPTIONS[kind], group_name="raw",
                            kinds={"duckdb"})],
        check_specs=ingest_check_specs(key),
        partitions_def=market_partitions,
        pool="warehouse",
    )
    def _load(context: dg.AssetExecutionContext, markets: MarketsResource,
              warehouse: DuckDBResource):
        market = markets.get(context.partition_key)
        source = next((s for s in market.distress_sources if s.kind == kind), None)
        spec = distress_spec(kind, source.field_map if source else None)
        if source is None:
            with warehouse.get_connection() as conn:
                report = ingest_nothing(conn, spec, market.code, "(no source configured)")
        elif source.format != "csv":
            raise dg.Failure(
                f"{market.source_file}: distress_sources {kind}: format {source.format!r} is "
                "not supported by the ingest yet (only csv); see the scrapers issue"
            )
        else:
            report = load_location(market, source.location, spec, warehouse)
        yield from ingest_results(report, key)

    return _load


code_violations, lis_pendens, tax_deed_applications = (
    _distress_asset(kind) for kind in DISTRESS_KINDS
)
