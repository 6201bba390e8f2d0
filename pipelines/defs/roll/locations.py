"""Parcel-location asset: each market's parcel geometry (the `parcel_locations` source of its
YAML) reduced to one centroid per parcel (latitude, longitude, WGS84) in `raw.parcel_locations`,
which dbt joins to the parcels so the marts and the Leads map carry coordinates.

Sources: GeoJSON lines (a Feature per line, as `wholesaler scrape arcgis` writes them), an
ArcGIS parcel layer (dumped to `<downloads>/<market>/parcel_locations.jsonl` first, resuming an
interrupted dump), or a CSV of parcel_id, latitude, longitude. Features become a CSV of
centroids (scrapers/parcel_geometry.py) loaded through the common ingest: a feature without
geometry or parcel id, a parcel id not on the market's roll, a location outside the market's
bounds or a repeated parcel id is set aside in `raw.ingest_rejects` and
`<rejects>/<market>/parcel_locations.csv` with its feature line and reason. The roll check
needs `raw/nal_parcels` loaded: the asset runs after the other raw loads of a run (a lower
step priority) and says `roll_checked: false` when the roll was not there.

Checks: the ingest's header and reject-share checks; `rows_match_server_count` (an ArcGIS
dump's features equal the server's count, no object id repeated); `parcels_located` (the
share of the roll's parcels with a location, as metadata; warns below MIN_LOCATED_SHARE) and
`locations_inside_bounds` (no loaded location outside the bounds, and at most
MAX_REJECT_SHARE of the rows set aside for lying outside them: a layer in a projected
spatial reference read as degrees fails here).
"""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from markets.schema import Market, ParcelLocationSource
from pipelines import settings
from pipelines.defs.roll.assets import (
    MAX_REJECT_SHARE,
    ingest_check_specs,
    ingest_results,
)
from pipelines.ingest import (
    RAW_SCHEMA,
    IngestReport,
    RowRule,
    TableSpec,
    ingest_file,
    ingest_nothing,
    market_table,
)
from pipelines.partitions import market_partitions
from pipelines.resources import MarketsResource
from scrapers.fetch import LocationError, local_file

LOCATIONS_KEY = dg.AssetKey(["raw", "parcel_locations"])
TABLE = "parcel_locations"
MIN_LOCATED_SHARE = 0.95
OUTSIDE_REASON = "lies outside the market bounds"

_COLUMNS = {"parcel_id": "VARCHAR", "latitude": "DOUBLE", "longitude": "DOUBLE"}
_FEATURE_COLUMNS = {**_COLUMNS, "geometry_type": "VARCHAR", "problem": "VARCHAR"}


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def locations_spec(market_code: str, source: ParcelLocationSource | None,
                   from_features: bool, check_roll: bool = True) -> TableSpec:
    """The raw table of one market's locations. `from_features`: the file is the CSV made
    from GeoJSON features (with geometry_type and problem columns); else the source's own CSV
    of parcel_id (named by parcel_id_field), latitude, longitude. `check_roll`: set aside
    parcel ids that are not in the market's loaded roll (raw.nal_parcels__<market>)."""
    rules = []
    if from_features:
        rules.append(RowRule("problem IS NOT NULL AND trim(problem) <> ''", "problem"))
    rules += [
        RowRule("parcel_id IS NULL OR trim(parcel_id) = ''", "'PARCEL_ID is empty'"),
        RowRule("latitude IS NULL OR longitude IS NULL", "'no coordinates'"),
    ]
    if source is not None:
        b = source.bounds
        rules.append(RowRule(
            f"NOT (latitude BETWEEN {b.south!r} AND {b.north!r} "
            f"AND longitude BETWEEN {b.west!r} AND {b.east!r})",
            f"'(' || CAST(latitude AS VARCHAR) || ', ' || CAST(longitude AS VARCHAR) || ') "
            f"{OUTSIDE_REASON} (south {b.south}, west {b.west}, north {b.north}, "
            f"east {b.east}): wrong spatial reference?'"))
    if check_roll:
        roll = f'{RAW_SCHEMA}."{market_table("nal_parcels", market_code)}"'
        rules.append(RowRule(
            f"trim(parcel_id) NOT IN (SELECT trim(parcel_id) FROM {roll})",  # nosec B608  # our identifiers
            "'PARCEL_ID ' || parcel_id || ' is not on the market''s roll'"))
    source_names = {}
    if not from_features and source is not None:
        source_names["parcel_id"] = source.parcel_id_field
    return TableSpec(table=TABLE, columns=dict(_FEATURE_COLUMNS if from_features else _COLUMNS),
                     unique_key="parcel_id", rules=tuple(rules), source_names=source_names)


def _roll_loaded(warehouse: DuckDBResource, market_code: str) -> bool:
    with warehouse.get_connection() as conn:
        return conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [RAW_SCHEMA, market_table("nal_parcels", market_code)]).fetchone()[0] > 0


def _dump_layer(market: Market, source: ParcelLocationSource, features: Path) -> dict:
    from scrapers.arcgis import dump_layer
    from scrapers.http import PoliteClient, ScrapeError

    try:
        with PoliteClient(market.scraping) as client:
            summary = dump_layer(client, source.location, features,
                                 where=source.where or "1=1", fields=[source.parcel_id_field])
    except ScrapeError as error:
        raise dg.Failure(f"{market.source_file}: parcel_locations: {error}") from error
    return summary.to_dict()


def load_parcel_locations(market: Market, warehouse: DuckDBResource
                          ) -> tuple[IngestReport, dict | None]:
    """Load the market's parcel locations (none configured: an empty table); returns the
    ingest report and, for an ArcGIS source, the dump summary."""
    from scrapers.parcel_geometry import write_locations_csv

    source = market.parcel_locations
    if source is None:
        with warehouse.get_connection() as conn:
            return ingest_nothing(conn, locations_spec(market.code, None, True), market.code,
                                  "(no source configured)"), None
    check_roll = _roll_loaded(warehouse, market.code)
    folder = settings.downloads_dir() / market.code
    dump = None
    if source.format == "arcgis":
        features = folder / f"{TABLE}.jsonl"
        dump = _dump_layer(market, source, features)
    else:
        try:
            features = local_file(market.resolve_location(source.location), folder)
        except LocationError as error:
            raise dg.Failure(f"{market.source_file}: parcel_locations: {error}") from error
    with warehouse.get_connection() as conn:
        if source.format == "csv":
            return ingest_file(conn, locations_spec(market.code, source, False, check_roll),
                               market.code,
                               features, settings.rejects_dir(),
                               source_label=source.location), None
        converted = folder / f"{TABLE}.csv"
        write_locations_csv(features, source.parcel_id_field, converted)
        report = ingest_file(conn, locations_spec(market.code, source, True, check_roll),
                             market.code,
                             converted, settings.rejects_dir(), source_label=source.location,
                             line_offset=-1)
    return report, dump


def _located_figures(warehouse: DuckDBResource, market: Market) -> dict:
    located_table = f'{RAW_SCHEMA}."{market_table(TABLE, market.code)}"'
    roll = market_table("nal_parcels", market.code)
    with warehouse.get_connection() as conn:
        roll_exists = conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [RAW_SCHEMA, roll]).fetchone()[0]
        parcels = conn.execute(
            f'SELECT count(*) FROM {RAW_SCHEMA}."{roll}"'  # nosec B608  # our identifiers
        ).fetchone()[0] if roll_exists else 0
        located, south, north, west, east = conn.execute(
            f"SELECT count(*), min(latitude), max(latitude), min(longitude), max(longitude) "  # nosec B608  # our identifiers
            f"FROM {located_table}").fetchone()
        outside_loaded = 0
        if market.parcel_locations is not None:
            b = market.parcel_locations.bounds
            outside_loaded = conn.execute(
                f"SELECT count(*) FROM {located_table} WHERE NOT (latitude BETWEEN ? AND ? "  # nosec B608  # our identifiers
                f"AND longitude BETWEEN ? AND ?)", [b.south, b.north, b.west, b.east]
            ).fetchone()[0]
        outside_rejected = conn.execute(
            "SELECT count(*) FROM raw.ingest_rejects WHERE market_code = ? "
            "AND table_name = ? AND reason LIKE ?",
            [market.code, TABLE, f"%{OUTSIDE_REASON}%"]).fetchone()[0]
    return {"parcels": parcels, "located": located, "roll_checked": bool(roll_exists),
            "outside_loaded": outside_loaded,
            "outside_rejected": outside_rejected,
            "extent": None if located == 0 else
            {"south": south, "north": north, "west": west, "east": east}}


@dg.multi_asset(
    specs=[dg.AssetSpec(LOCATIONS_KEY, group_name="raw", kinds={"duckdb"},
                        description="Parcel centroids (latitude, longitude, WGS84) from the "
                                    "county's parcel geometry.")],
    check_specs=[
        *ingest_check_specs(LOCATIONS_KEY),
        dg.AssetCheckSpec("parcels_located", asset=LOCATIONS_KEY,
                          description=f"At least {MIN_LOCATED_SHARE:.0%} of the roll's parcels "
                                      f"have a location (the share is in the metadata)."),
        dg.AssetCheckSpec("locations_inside_bounds", asset=LOCATIONS_KEY,
                          description="Every location lies inside the market's bounds; at most "
                                      f"{MAX_REJECT_SHARE:.0%} of the rows were set aside for "
                                      f"lying outside them."),
        dg.AssetCheckSpec("rows_match_server_count", asset=LOCATIONS_KEY,
                          description="ArcGIS sources: features dumped equal the server's "
                                      "count, no object id repeated."),
    ],
    partitions_def=market_partitions,
    pool="warehouse",
    # after the other raw loads of the run (raw/nal_parcels above all: parcel ids are checked
    # against the loaded roll). Not a declared dependency on raw/nal_parcels: the dbt source
    # tests on it are blocking checks run inside the dbt step, so a dependency would split
    # the dbt build in two around this asset.
    op_tags={"dagster/priority": "-1"},
)
def parcel_locations(context: dg.AssetExecutionContext, markets: MarketsResource,
                     warehouse: DuckDBResource):
    market = markets.get(context.partition_key)
    report, dump = load_parcel_locations(market, warehouse)
    figures = _located_figures(warehouse, market)
    share = figures["located"] / figures["parcels"] if figures["parcels"] else 0.0
    context.log.info(f"{market.code}: {figures['located']} of {figures['parcels']} parcels "
                     f"located ({share:.1%}), {report.rows_rejected} rows set aside")
    configured = market.parcel_locations is not None
    if configured and not figures["roll_checked"]:
        context.log.warning(f"{market.code}: raw/nal_parcels is not loaded, so parcel ids were "
                            f"not checked against the roll (materialize it, then this again)")
    for result in ingest_results(report, LOCATIONS_KEY):
        if isinstance(result, dg.MaterializeResult):
            extra = {"parcels_located": dg.MetadataValue.int(figures["located"]),
                     "roll_parcels": dg.MetadataValue.int(figures["parcels"]),
                     "located_share": dg.MetadataValue.float(round(share, 5)),
                     "roll_checked": figures["roll_checked"],
                     "extent": dg.MetadataValue.json(figures["extent"] or {})}
            if dump is not None:
                extra.update({"rows": dg.MetadataValue.int(dump["rows"]),
                              "server_count": dg.MetadataValue.int(dump["server_count"]),
                              "verified": dump["verified"],
                              "layer_url": dg.MetadataValue.url(dump["layer_url"])})
            result = dg.MaterializeResult(asset_key=result.asset_key,
                                          metadata={**(result.metadata or {}), **extra})
        yield result
    yield dg.AssetCheckResult(
        check_name="parcels_located", asset_key=LOCATIONS_KEY,
        passed=(not configured) or share >= MIN_LOCATED_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"located_share": dg.MetadataValue.float(round(share, 5)),
                  "parcels_located": dg.MetadataValue.int(figures["located"]),
                  "roll_parcels": dg.MetadataValue.int(figures["parcels"]),
                  "note": "source configured" if configured else "no source configured"},
    )
    if dump is None:
        yield dg.AssetCheckResult(check_name="rows_match_server_count", asset_key=LOCATIONS_KEY,
                                  passed=True, metadata={"note": "not an ArcGIS source"})
    else:
        yield dg.AssetCheckResult(
            check_name="rows_match_server_count", asset_key=LOCATIONS_KEY,
            passed=bool(dump["verified"]),
            metadata={"rows": dg.MetadataValue.int(dump["rows"]),
                      "server_count": dg.MetadataValue.int(dump["server_count"]),
                      "duplicates": dg.MetadataValue.int(dump["duplicates"])})
    outside_share = (figures["outside_rejected"] / report.rows_read) if report.rows_read else 0.0
    bounds = market.parcel_locations.bounds.model_dump() if configured else {}
    yield dg.AssetCheckResult(
        check_name="locations_inside_bounds", asset_key=LOCATIONS_KEY,
        passed=figures["outside_loaded"] == 0 and outside_share <= MAX_REJECT_SHARE,
        metadata={"bounds": dg.MetadataValue.json(bounds),
                  "extent": dg.MetadataValue.json(figures["extent"] or {}),
                  "outside_loaded": dg.MetadataValue.int(figures["outside_loaded"]),
                  "outside_rejected": dg.MetadataValue.int(figures["outside_rejected"]),
                  "outside_share": dg.MetadataValue.float(round(outside_share, 6))},
    )
