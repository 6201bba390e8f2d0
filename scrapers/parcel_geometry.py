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
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


def write_locations_csv(features_path: Path, parcel_id_field: str, csv_path: Path) -> int:
    """Write the locations CSV from GeoJSON lines; returns the rows written (one per line,
    blank lines included as problems so that line numbers stay aligned)."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    partial = csv_path.with_name(csv_path.name + ".part")
    rows = 0
    with features_path.open(encoding="utf-8", errors="replace") as features, \
            partial.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(LOCATION_COLUMNS)
        for line in features:
            text = line.strip()
            writer.writerow(_location_row(text, parcel_id_field) if text
                            else ["", "", "", "", "empty line"])
            rows += 1
    partial.replace(csv_path)
    return rows
