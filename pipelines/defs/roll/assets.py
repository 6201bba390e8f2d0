"""Tax-roll assets: each market's Florida DOR NAL (parcels) and SDF (sales) files loaded into
the warehouse's raw schema, with header-drift and reject-share checks."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from markets.schema import Market
from pipelines import settings
from pipelines.ingest import IngestReport, TableSpec, ingest_file
from pipelines.partitions import market_partitions
from pipelines.raw_tables import nal_spec, sdf_spec
from pipelines.resources import MarketsResource
from scrapers.fetch import LocationError, local_file

MAX_REJECT_SHARE = 0.01


def ingest_check_specs(asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec("header_matches_reference", asset=asset_key,
                          description="The file's header equals the reference layout."),
        dg.AssetCheckSpec("reject_share_below_limit", asset=asset_key,
                          description=f"At most {MAX_REJECT_SHARE:.0%} of rows set aside."),
    ]


def ingest_results(report: IngestReport, asset_key: dg.AssetKey):
    """The materialization and check results of one load."""
    yield dg.MaterializeResult(
        asset_key=asset_key,
        metadata={
            "rows_loaded": dg.MetadataValue.int(report.rows_loaded),
            "rows_rejected": dg.MetadataValue.int(report.rows_rejected),
            "reject_reasons": dg.MetadataValue.json(report.reject_reasons),
            "rejects_file": dg.MetadataValue.path(str(report.rejects_file or "")),
            "source_file": dg.MetadataValue.path(report.source_file),
            "header_drift": report.header_drift.describe(),
            "elapsed_seconds": dg.MetadataValue.float(round(report.elapsed_seconds, 3)),
        },
    )
    yield dg.AssetCheckResult(
        check_name="header_matches_reference",
        asset_key=asset_key,
        passed=report.header_drift.is_exact,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"drift": report.header_drift.describe()},
    )
    yield dg.AssetCheckResult(
        check_name="reject_share_below_limit",
        asset_key=asset_key,
        passed=report.reject_share <= MAX_REJECT_SHARE,
        metadata={"reject_share": dg.MetadataValue.float(round(report.reject_share, 6)),
                  "rows_rejected": dg.MetadataValue.int(report.rows_rejected),
                  "rejects_file": dg.MetadataValue.path(str(report.rejects_file or ""))},
    )


def load_location(market: Market, location: str, spec: TableSpec,
                  warehouse: DuckDBResource) -> IngestReport:
    """Fetch a configured location and ingest it; rows record the location as configured."""
    try:
        path = local_file(market.resolve_location(location),
                          settings.downloads_dir() / market.code)
    except LocationError as error:
        raise dg.Failure(f"{market.source_file}: {error}") from error
    with warehouse.get_connection() as conn:
        return ingest_file(conn, spec, market.code, path, settings.rejects_dir(),
                           source_label=location)


NAL_KEY = dg.AssetKey(["raw", "nal_parcels"])
SDF_KEY = dg.AssetKey(["raw", "sdf_sales"])


@dg.multi_asset(
    specs=[dg.AssetSpec(NAL_KEY, description="Florida DOR NAL roll: one row per parcel.",
                        group_name="raw", kinds={"duckdb"})],
    check_specs=ingest_check_specs(NAL_KEY),
    partitions_def=market_partitions,
    pool="warehouse",
)
def nal_parcels(context: dg.AssetExecutionContext, markets: MarketsResource,
                warehouse: DuckDBResource):
    market = markets.get(context.partition_key)
    spec = nal_spec(market.dor_county_number, market.code, market.roll.encoding)
    report = load_location(market, market.roll.nal, spec, warehouse)
    context.log.info(f"{market.code}: {report.rows_loaded} parcels, {report.rows_rejected} "
                     f"rejected ({report.header_drift.describe()})")
    yield from ingest_results(report, NAL_KEY)


@dg.multi_asset(
    specs=[dg.AssetSpec(SDF_KEY, description="Florida DOR SDF: one row per recorded sale.",
                        group_name="raw", kinds={"duckdb"})],
    check_specs=ingest_check_specs(SDF_KEY),
    partitions_def=market_partitions,
    pool="warehouse",
)
def sdf_sales(context: dg.AssetExecutionContext, markets: MarketsResource,
              warehouse: DuckDBResource):
    market = markets.get(context.partition_key)
    spec = sdf_spec(market.dor_county_number, market.code, market.roll.encoding)
    report = load_location(market, market.roll.sdf, spec, warehouse)
    context.log.info(f"{market.code}: {report.rows_loaded} sales, {report.rows_rejected} rejected")
    yield from ingest_results(report, SDF_KEY)
