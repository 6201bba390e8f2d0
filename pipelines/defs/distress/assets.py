"""Distress-list assets: each market's code violations, lis pendens and tax-deed applications
loaded into the raw schema from the sources its YAML names: a CSV file, or an ArcGIS layer
dumped (scrapers/arcgis.py) to `<downloads>/<market>/<kind>.jsonl`, mapped to our columns with
the source's `field_map` and loaded through the same ingest. A market without a source for a
kind gets an empty table. ArcGIS sources record rows, the server's count and elapsed time, and
the check `rows_match_server_count` fails when the dump and the server disagree."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from markets.schema import DistressSource, Market
from pipelines import settings
from pipelines.defs.roll.assets import ingest_check_specs, ingest_results, load_location
from pipelines.ingest import IngestReport, ingest_file, ingest_nothing
from pipelines.partitions import market_partitions
from pipelines.raw_tables import distress_spec
from pipelines.resources import MarketsResource
from scrapers.distress_layout import DISTRESS_KINDS

_DESCRIPTIONS = {
    "code_violations": "Code-enforcement cases per parcel.",
    "lis_pendens": "Lis pendens / foreclosure filings per parcel.",
    "tax_deed_applications": "Tax-deed applications on tax certificates per parcel.",
}


def load_arcgis_source(market: Market, source: DistressSource, warehouse: DuckDBResource
                       ) -> tuple[IngestReport, dict]:
    """Dump the source's layer (resuming an interrupted dump), map it to the distress layout
    and ingest it; returns the ingest report and the dump summary."""
    from scrapers.arcgis import dump_layer
    from scrapers.distress_features import source_fields, write_distress_csv
    from scrapers.http import PoliteClient, ScrapeError

    folder = settings.downloads_dir() / market.code
    features = folder / f"{source.kind}.jsonl"
    wanted = list(dict.fromkeys(source_fields(source.kind, source.field_map).values()))
    try:
        with PoliteClient(market.scraping) as client:
            summary = dump_layer(client, source.location, features, where=source.where or "1=1",
                                 fields=wanted)
    except ScrapeError as error:
        raise dg.Failure(f"{market.source_file}: distress_sources {source.kind}: {error}"
                         ) from error
    mapped = write_distress_csv(features, source.kind, source.field_map,
                                folder / f"{source.kind}.csv")
    with warehouse.get_connection() as conn:
        report = ingest_file(conn, distress_spec(source.kind), market.code,
                             folder / f"{source.kind}.csv", settings.rejects_dir(),
                             source_label=source.location)
    return report, {**summary.to_dict(), "rows_mapped": mapped}


def _server_count_results(key: dg.AssetKey, dump: dict | None):
    if dump is None:
        yield dg.AssetCheckResult(check_name="rows_match_server_count", asset_key=key,
                                  passed=True, metadata={"note": "not an ArcGIS source"})
        return
    yield dg.AssetCheckResult(
        check_name="rows_match_server_count", asset_key=key, passed=dump["verified"],
        metadata={"rows": dg.MetadataValue.int(dump["rows"]),
                  "server_count": dg.MetadataValue.int(dump["server_count"]),
                  "duplicates": dg.MetadataValue.int(dump["duplicates"])},
    )


def _distress_asset(kind: str) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", kind])

    @dg.multi_asset(
        name=kind,
        specs=[dg.AssetSpec(key, description=_DESCRIPTIONS[kind], group_name="raw",
                            kinds={"duckdb"})],
        check_specs=[*ingest_check_specs(key), dg.AssetCheckSpec(
            "rows_match_server_count", asset=key,
            description="ArcGIS sources: rows dumped equal the server's count, no id repeated.")],
        partitions_def=market_partitions,
        pool="warehouse",
    )
    def _load(context: dg.AssetExecutionContext, markets: MarketsResource,
              warehouse: DuckDBResource):
        market = markets.get(context.partition_key)
        source = next((s for s in market.distress_sources if s.kind == kind), None)
        spec = distress_spec(kind, source.field_map if source else None)
        dump = None
        if source is None:
            with warehouse.get_connection() as conn:
                report = ingest_nothing(conn, spec, market.code, "(no source configured)")
        elif source.format == "arcgis":
            report, dump = load_arcgis_source(market, source, warehouse)
            context.log.info(f"{market.code} {kind}: {dump['rows']} features, server count "
                             f"{dump['server_count']}, {dump['requests']} requests")
        else:
            report = load_location(market, source.location, spec, warehouse)
        for result in ingest_results(report, key):
            if isinstance(result, dg.MaterializeResult) and dump is not None:
                result = dg.MaterializeResult(asset_key=result.asset_key, metadata={
                    **(result.metadata or {}),
                    "rows": dg.MetadataValue.int(dump["rows"]),
                    "server_count": dg.MetadataValue.int(dump["server_count"]),
                    "dump_elapsed_seconds": dg.MetadataValue.float(dump["elapsed_seconds"]),
                    "requests": dg.MetadataValue.int(dump["requests"]),
                    "verified": dump["verified"],
                    "layer_url": dg.MetadataValue.url(dump["layer_url"]),
                })
            yield result
        yield from _server_count_results(key, dump)

    return _load


code_violations, lis_pendens, tax_deed_applications = (
    _distress_asset(kind) for kind in DISTRESS_KINDS
)
