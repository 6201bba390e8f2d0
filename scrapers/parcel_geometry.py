"""Parcel geometry to parcel locations: GeoJSON lines (one Feature per line, WGS84, as
`scrapers/arcgis.py` dumps a parcel layer) become a CSV of parcel_id, latitude, longitude,
geometry_type and problem, ready for the warehouse ingest, which sets rows with a problem aside
with their line and reason. CSV line n + 1 holds feature line n (line 1 is the header); the
ingest is told so and reports feature lines.

The location of a parcel is the centroid of its geometry:

- Polygon: the area centroid of the exterior ring minus its holes (shoelace formula on the
  longitude/latitude degrees, as if they were planar). For parcel-sized shapes (well under a
  kilometre) the distortion of treating degrees as planar is far below a metre.
- MultiPolygon: the area-weighted mean of its parts' centroids.
- Point: the point itself. MultiPoint: the mean of its points.
- A shape with no area (all vertices on a line) falls back to the mean of its distinct ring
  vertices (the closing vertex not counted twice).

A feature without geometry, with a geometry of another type, with coordinates that are not
numbers, or without the parcel id property is written with empty coordinates and a `problem`.

Speed: a county's parcel layer has millions of features, almost all single-ring polygons with a
string parcel id. Those are placed in bulk by polars (`_bulk_centroids`: the same shoelace
arithmetic, operation for operation, on the exploded vertices), in chunks; every other line
(points, multipolygons, holes, unclosed or degenerate rings, odd property names, anything
malformed) goes through `_location_row`, so the rules above have one implementation and the
bulk path only ever takes lines whose answer it computes the same way (tests compare both).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

LOCATION_COLUMNS = ("parcel_id", "latitude", "longitude", "geometry_type", "problem")

Ring = Sequence[Sequence[float]]


class GeometryError(ValueError):
    """A geometry this module cannot place (wrong type, malformed coordinates)."""


def _ring_moments(ring: Ring) -> tuple[float, float, float]:
    """Signed area and first moments (sum for cx, sum for cy) of a ring (shoelace)."""
    area2 = cx = cy = 0.0
    points = list(ring)
    if len(points) > 1 and points[0][:2] != points[-1][:2]:
        points.append(points[0])
    # shift to the first vertex: keeps the products small and the sums exact enough
    x0, y0 = float(points[0][0]), float(points[0][1])
    for (xa, ya), (xb, yb) in zip(((float(p[0]) - x0, float(p[1]) - y0) for p in points),
                                  ((float(p[0]) - x0, float(p[1]) - y0) for p in points[1:]),
                                  strict=False):
        cross = xa * yb - xb * ya
        area2 += cross
        cx += (xa + xb) * cross
        cy += (ya + yb) * cross
    area = area2 / 2
    # moments relative to the first vertex, turned back into absolute coordinates
    return area, cx / 6 + x0 * area, cy / 6 + y0 * area


def _distinct_vertices(rings: Sequence[Ring]) -> list[tuple[float, float]]:
    vertices = []
    for ring in rings:
        points = [(float(p[0]), float(p[1])) for p in ring]
        if len(points) > 1 and points[0] == points[-1]:
            points.pop()
        vertices.extend(points)
    return vertices


def _polygons_centroid(polygons: Sequence[Sequence[Ring]]) -> tuple[float, float]:
    """(longitude, latitude) of polygons given as [exterior, hole, ...] ring lists."""
    total = mx = my = 0.0
    for rings in polygons:
        if not rings:
            continue
        outer_area, outer_mx, outer_my = _ring_moments(rings[0])
        sign = 1.0 if outer_area >= 0 else -1.0  # ring order differs between sources
        area, px, py = abs(outer_area), outer_mx * sign, outer_my * sign
        for hole in rings[1:]:
            hole_area, hole_mx, hole_my = _ring_moments(hole)
            hole_sign = 1.0 if hole_area >= 0 else -1.0
            area -= abs(hole_area)
            px -= hole_mx * hole_sign
            py -= hole_my * hole_sign
        total += area
        mx += px
        my += py
    if total > 1e-18:
        return mx / total, my / total
    vertices = _distinct_vertices([ring for rings in polygons for ring in rings[:1]])
    if not vertices:
        raise GeometryError("the geometry has no coordinates")
    return (sum(v[0] for v in vertices) / len(vertices),
            sum(v[1] for v in vertices) / len(vertices))


def centroid(geometry: dict[str, Any]) -> tuple[float, float]:
    """(longitude, latitude) of a GeoJSON Polygon, MultiPolygon, Point or MultiPoint."""
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    try:
        if kind == "Point":
            longitude, latitude = float(coordinates[0]), float(coordinates[1])
        elif kind == "MultiPoint":
            if not coordinates:
                raise GeometryError("the MultiPoint has no points")
            longitude = sum(float(p[0]) for p in coordinates) / len(coordinates)
            latitude = sum(float(p[1]) for p in coordinates) / len(coordinates)
        elif kind == "Polygon":
            longitude, latitude = _polygons_centroid([coordinates])
        elif kind == "MultiPolygon":
            longitude, latitude = _polygons_centroid(coordinates)
        else:
            raise GeometryError(f"geometry type {kind!r} is not Polygon, MultiPolygon or Point")
    except (TypeError, IndexError, ValueError) as error:
        if isinstance(error, GeometryError):
            raise
        raise GeometryError(f"malformed {kind} coordinates: {error}") from error
    if not (math.isfinite(longitude) and math.isfinite(latitude)):
        raise GeometryError(f"{kind} coordinates are not finite numbers")
    return longitude, latitude


def _location_row(line: str, parcel_id_field: str) -> list[str]:
    try:
        feature = json.loads(line)
    except ValueError as error:
        return ["", "", "", "", f"not a JSON feature: {error}"]
    if not isinstance(feature, dict):
        return ["", "", "", "", "not a JSON feature object"]
    properties = feature.get("properties") or {}
    wanted = parcel_id_field.lower()
    parcel_id = next((value for name, value in properties.items() if name.lower() == wanted),
                     None)
    parcel_text = "" if parcel_id is None else str(parcel_id).strip()
    if not parcel_text:
        return ["", "", "", "", f"no {parcel_id_field} property"]
    geometry = feature.get("geometry")
    if not geometry:
        return [parcel_text, "", "", "", "no geometry"]
    kind = str(geometry.get("type", ""))
    try:
        longitude, latitude = centroid(geometry)
    except GeometryError as error:
        return [parcel_text, "", "", kind, str(error)]
    return [parcel_text, f"{latitude:.7f}", f"{longitude:.7f}", kind, ""]


_BULK_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHUNK_LINES = 200_000
_EMPTY_PLACED = {"row": pl.UInt32, "parcel_id": pl.String, "latitude": pl.Float64,
                 "longitude": pl.Float64, "geometry_type": pl.String}

# The bulk path's candidates, read by DuckDB's JSON functions (one parse per line): valid JSON
# whose parcel id is a non-blank JSON string and whose geometry is a Point, a Polygon (as a
# list of one polygon) or a MultiPolygon, coordinates as numbers where they are numbers (the
# rings are checked in `_bulk_centroids`).
_CANDIDATES_SQL = """
WITH typed AS MATERIALIZED (
    SELECT "row", trim(part[1] ->> '$') AS parcel_id, part[2] ->> '$' AS kind,
           part[3] AS coordinates
    FROM (SELECT "row", json_extract(text, ['$.properties.{field}', '$.geometry.type',
                                            '$.geometry.coordinates']) AS part
          FROM lines WHERE plain AND json_valid(text))
    WHERE json_type(part[1]) = 'VARCHAR'
)
SELECT "row", parcel_id, kind,
       CASE kind WHEN 'Point' THEN json_transform(coordinates, '["DOUBLE"]') END AS point,
       CASE kind WHEN 'Polygon' THEN [json_transform(coordinates, '[[["DOUBLE"]]]')]
                 WHEN 'MultiPolygon' THEN json_transform(coordinates, '[[[["DOUBLE"]]]]')
       END AS polygons
FROM typed WHERE parcel_id <> '' AND kind IN ('Point', 'Polygon', 'MultiPolygon')
"""


def _added_in_order(values: pl.Expr) -> pl.Expr:
    """The sum of a list, added one element after another as a Python loop adds them."""
    return values.list.eval(pl.element().cum_sum()).list.last()


def _ring_moments_frame(rings: pl.DataFrame) -> pl.DataFrame:
    """`rings` (row, part, ring) with x0, y0, area2, cx, cy: `_ring_moments` of each ring,
    relative to its first vertex, and `usable`: a closed ring of at least four vertices of
    two or more numbers each (other rings go through the Python path)."""
    xs = pl.col("ring").list.eval(pl.element().list.get(0, null_on_oob=True))
    ys = pl.col("ring").list.eval(pl.element().list.get(1, null_on_oob=True))
    head = pl.col("xs").list.len() - 1
    usable = ((pl.col("width") >= 2) & (pl.col("xs").list.len() >= 4)
              & (pl.col("xs").list.drop_nulls().list.len() == pl.col("xs").list.len())
              & (pl.col("ys").list.drop_nulls().list.len() == pl.col("ys").list.len())
              & (pl.col("xs").list.first() == pl.col("xs").list.last())
              & (pl.col("ys").list.first() == pl.col("ys").list.last()))
    edges = (rings
             .with_columns(pl.col("ring").list.eval(pl.element().list.len()).list.min()
                           .alias("width"), xs.alias("xs"), ys.alias("ys"))
             .with_columns(usable.fill_null(False).alias("usable"),
                           pl.col("xs").list.first().alias("x0"),
                           pl.col("ys").list.first().alias("y0"))
             # vertices relative to the first; edge k runs from vertex k (a) to k + 1 (b)
             .with_columns((pl.col("xs") - pl.col("x0")).alias("xs"),
                           (pl.col("ys") - pl.col("y0")).alias("ys"))
             .with_columns(pl.col("xs").list.head(head).alias("xa"),
                           pl.col("xs").list.tail(head).alias("xb"),
                           pl.col("ys").list.head(head).alias("ya"),
                           pl.col("ys").list.tail(head).alias("yb")))
    cross = pl.col("xa") * pl.col("yb") - pl.col("xb") * pl.col("ya")
    return (edges.with_columns(cross.alias("cross"))
            .select("row", "part", "usable", "x0", "y0",
                    _added_in_order(pl.col("cross")).alias("area2"),
                    _added_in_order((pl.col("xa") + pl.col("xb")) * pl.col("cross"))
                    .alias("cx"),
                    _added_in_order((pl.col("ya") + pl.col("yb")) * pl.col("cross"))
                    .alias("cy")))


def _polygon_centroids(polygons: pl.DataFrame) -> pl.DataFrame:
    """(row, total, mx, my) of features given as (row, polygons): `_polygons_centroid`'s sums
    over their polygons in order, for features whose every polygon is one usable ring (no
    holes). One-polygon features (nearly all) skip the grouping."""
    one_ring_each = pl.col("polygons").list.eval(pl.element().list.len() == 1).list.all()
    polygons = polygons.filter(pl.col("polygons").list.len() >= 1, one_ring_each)
    single = polygons.filter(pl.col("polygons").list.len() == 1).select(
        "row", pl.lit(0).alias("part"),
        pl.col("polygons").list.first().list.first().alias("ring"))
    several = (polygons.filter(pl.col("polygons").list.len() > 1)
               .with_columns(pl.int_ranges(pl.col("polygons").list.len()).alias("part"))
               .explode("polygons", "part")
               .select("row", pl.col("part").cast(pl.Int32),
                       pl.col("polygons").list.first().alias("ring")))
    moments = _ring_moments_frame(pl.concat([single.with_columns(pl.col("part")
                                                                 .cast(pl.Int32)), several]))
    area = pl.col("area2") / 2
    sign = pl.when(area >= 0).then(1.0).otherwise(-1.0)  # ring order differs between sources
    parts = moments.select("row", "part", "usable", area.abs().alias("area"),
                           ((pl.col("cx") / 6 + pl.col("x0") * area) * sign).alias("mx"),
                           ((pl.col("cy") / 6 + pl.col("y0") * area) * sign).alias("my"))
    alone = parts.filter(pl.col("row").is_in(single["row"].implode()), pl.col("usable"))
    grouped = (parts.filter(~pl.col("row").is_in(single["row"].implode()))
               .sort("row", "part")
               .group_by("row", maintain_order=True)
               .agg(pl.col("usable").all(), pl.col("area").cum_sum().last(),
                    pl.col("mx").cum_sum().last(), pl.col("my").cum_sum().last())
               .filter(pl.col("usable")))
    return pl.concat([alone.select("row", pl.col("area").alias("total"), "mx", "my"),
                      grouped.select("row", pl.col("area").alias("total"), "mx", "my")])


def _bulk_centroids(texts: pl.Series, parcel_id_field: str) -> pl.DataFrame:
    """(row, parcel_id, latitude, longitude, geometry_type) of the lines the bulk path can
    place (`_CANDIDATES_SQL`, with the parcel id property present once under that exact name
    and `geometry` / `coordinates` once each): Points, and Polygons and MultiPolygons without
    holes, with `_polygons_centroid`'s arithmetic in the same order (sequential sums), except
    a shape with no area. Rows left out go through `_location_row`."""
    if not _BULK_FIELD.fullmatch(parcel_id_field):
        return pl.DataFrame(schema=_EMPTY_PLACED)
    key = re.escape(json.dumps(parcel_id_field))
    once = ((pl.col("text").str.count_matches(rf"(?i){key}\s*:") == 1)
            & (pl.col("text").str.count_matches(r'"geometry"\s*:') == 1)
            & (pl.col("text").str.count_matches(r'"coordinates"\s*:') == 1))
    lines = pl.DataFrame({"text": texts}).with_row_index("row").with_columns(once.alias("plain"))
    with duckdb.connect() as conn:
        conn.register("lines", lines.to_arrow())
        candidates = pl.from_arrow(conn.sql(
            _CANDIDATES_SQL.replace("{field}", parcel_id_field)).to_arrow_table())
    assert isinstance(candidates, pl.DataFrame)
    points = (candidates.filter(pl.col("kind") == "Point",
                                pl.col("point").list.len() >= 2,
                                pl.col("point").list.get(0, null_on_oob=True).is_not_null(),
                                pl.col("point").list.get(1, null_on_oob=True).is_not_null())
              .select("row", "parcel_id",
                      pl.col("point").list.get(1, null_on_oob=True).alias("latitude"),
                      pl.col("point").list.get(0, null_on_oob=True).alias("longitude"),
                      pl.col("kind").alias("geometry_type")))
    polygons = candidates.filter(pl.col("kind") != "Point")
    placed = (_polygon_centroids(polygons.select("row", "polygons"))
              .filter(pl.col("total") > 1e-18)
              .join(polygons.select("row", "parcel_id", "kind"), on="row")
              .select("row", "parcel_id", (pl.col("my") / pl.col("total")).alias("latitude"),
                      (pl.col("mx") / pl.col("total")).alias("longitude"),
                      pl.col("kind").alias("geometry_type")))
    return (pl.concat([points, placed])
            .filter(pl.col("latitude").is_finite(), pl.col("longitude").is_finite())
            .cast(_EMPTY_PLACED))


def _chunk_rows(lines: list[str], parcel_id_field: str) -> pl.DataFrame:
    """The CSV rows of one chunk of feature lines, in line order."""
    texts = pl.Series("text", [line.strip() for line in lines], dtype=pl.String)
    placed = _bulk_centroids(texts, parcel_id_field)
    done = set(placed["row"].to_list())
    rest: list[tuple[int, str | None, float | None, float | None, str | None, str | None]] = []
    for row, text in enumerate(texts.to_list()):
        if row in done:
            continue
        found = (_location_row(text, parcel_id_field) if text
                 else ["", "", "", "", "empty line"])
        rest.append((row, found[0] or None, float(found[1]) if found[1] else None,
                     float(found[2]) if found[2] else None, found[3] or None, found[4] or None))
    schema = {"row": pl.UInt32, "parcel_id": pl.String, "latitude": pl.Float64,
              "longitude": pl.Float64, "geometry_type": pl.String, "problem": pl.String}
    bulk = placed.with_columns(pl.lit(None, dtype=pl.String).alias("problem"))
    return (pl.concat([bulk.select(list(schema)),
                       pl.DataFrame(rest, schema=schema, orient="row")])
            .sort("row").drop("row"))


def write_locations_csv(features_path: Path, parcel_id_field: str, csv_path: Path) -> int:
    """Write the locations CSV from GeoJSON lines; returns the rows written (one per line,
    blank lines included as problems so that line numbers stay aligned). Coordinates are
    written with 7 decimals (about 1 cm)."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    partial = csv_path.with_name(csv_path.name + ".part")
    rows = 0
    with features_path.open(encoding="utf-8", errors="replace") as features, \
            partial.open("wb") as out:
        out.write((",".join(LOCATION_COLUMNS) + "\n").encode())
        while chunk := list(itertools.islice(features, _CHUNK_LINES)):
            _chunk_rows(chunk, parcel_id_field).write_csv(
                out, include_header=False, float_precision=7, null_value="")
            rows += len(chunk)
    partial.replace(csv_path)
    return rows
