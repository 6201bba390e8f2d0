"""Distress features to distress rows: a dumped ArcGIS layer (GeoJSON lines, see
scrapers/arcgis.py) becomes a CSV in the distress layout (scrapers/distress_layout.py), ready for
the warehouse ingest, which sets bad rows aside with their line and reason.

Each of our columns reads the feature property the market's `field_map` names (default: the
same name), matched case-insensitively, as ArcGIS field names are usually upper case. DATE
columns turn ArcGIS dates (epoch milliseconds, UTC) into ISO ``YYYY-MM-DD``; text dates pass
through for the ingest to parse or reject. CSV line n + 1 holds feature line n (line 1 is the
header).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapers.distress_layout import DISTRESS_LAYOUTS


def source_fields(kind: str, field_map: dict[str, str]) -> dict[str, str]:
    """Our column -> the layer's field name, for every column of `kind`."""
    return {column: field_map.get(column, column) for column in DISTRESS_LAYOUTS[kind]}


def missing_fields(kind: str, field_map: dict[str, str], layer_fields: Iterable[str]) -> list[str]:
    """The mapped field names the layer does not have (compared case-insensitively)."""
    have = {name.lower() for name in layer_fields}
    return [name for name in source_fields(kind, field_map).values() if name.lower() not in have]


def _cell(value: Any, column_type: str) -> str:
    if value is None:
        return ""
    if column_type == "DATE" and isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC).date().isoformat()
    if isinstance(value, float) and value.is_integer() and column_type in ("INTEGER", "BIGINT"):
        return str(int(value))
    return str(value)


def write_distress_csv(features_path: Path, kind: str, field_map: dict[str, str],
                       csv_path: Path) -> int:
    """Write the distress CSV for `kind` from GeoJSON lines; returns the rows written."""
    layout = DISTRESS_LAYOUTS[kind]
    sources = source_fields(kind, field_map)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    partial = csv_path.with_name(csv_path.name + ".part")
    rows = 0
    with features_path.open(encoding="utf-8") as features, \
            partial.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(list(layout))
        for line in features:
            properties = json.loads(line).get("properties") or {}
            by_lower = {name.lower(): value for name, value in properties.items()}
            writer.writerow([_cell(by_lower.get(sources[column].lower()), column_type)
                             for column, column_type in layout.items()])
            rows += 1
    partial.replace(csv_path)
    return rows
