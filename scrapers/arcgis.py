"""ArcGIS REST layer dumper: every feature of a FeatureServer/MapServer layer, exactly once, as
one GeoJSON Feature per line (WGS84), checked against the server's own count.

How a dump goes (docs/scrapers.md has the long version):

1. Layer metadata (``?f=json``): object-id field, maxRecordCount, pagination and statistics
   support, geoJSON output support; then the server's count (``returnCountOnly``).
2. A plan of units, each one query:
   - with ``supportsPagination``: offset pages (``resultOffset``/``resultRecordCount``, ordered
     by object id). The first page is asked first; a server that returns fewer features than
     asked (its cap is below our page size) sets the page size for the rest. Any unit that still
     comes back short asks again from where the returned features end, so a cap never loses
     rows (esridump's historical bug);
   - without it: object-id ranges (``OID > lo AND OID <= hi``) from min/max statistics
     (``outStatistics``), or from the sorted id list (``returnIdsOnly``) in chunks when the
     server has no statistics or the ids are sparse. A range the server truncates
     (``exceededTransferLimit``) is continued after its last id, or split in two.
3. Up to ``max_concurrency`` units in flight (the polite client also limits the host); results
   are written in plan order, each unit appended and flushed before the checkpoint (a sidecar
   JSON file) records it. An interrupted dump resumes at the first unwritten unit and cuts the
   partial file back to the last checkpointed byte, so nothing is duplicated or lost.
4. Verification: rows written == server count and no object id repeated (a repeat is not
   written again and is counted). The finished file replaces ``FILE``; `DumpSummary` says
   whether it verified.

ArcGIS errors sent as HTTP 200 ``{"error": ...}`` are retried when transient (5xx-like codes)
and fail at once when they are about the request (400, 401, 403, 404, 498, 499).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from scrapers.http import Permanent, PoliteClient, Retryable, ScrapeError

PERMANENT_ERROR_CODES = frozenset({400, 401, 403, 404, 498, 499})
CHECKPOINT_VERSION = 1
DEFAULT_PAGE_SIZE = 1000
WGS84 = 4326
# Object-id ranges from min/max statistics are used while ids fill at least this share of the
# range; sparser layers page through their sorted id list instead (no empty requests).
MIN_ID_DENSITY = 0.5


class ArcGisError(ScrapeError):
    """The layer or the server's answers cannot give a complete, consistent dump."""


@dataclass(frozen=True)
class LayerInfo:
    """What the dumper needs from a layer's metadata."""

    url: str
    name: str
    object_id_field: str
    max_record_count: int
    supports_pagination: bool
    supports_statistics: bool
    supports_geojson: bool
    fields: tuple[str, ...]
    geometry_type: str | None


@dataclass
class DumpSummary:
    """What a dump did and whether it verified (rows == server_count, no duplicates)."""

    layer_url: str
    out: str
    method: str
    page_size: int
    rows: int
    server_count: int
    duplicates: int
    requests: int
    retries: int
    elapsed_seconds: float
    resumed_at_row: int | None
    fields: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.rows == self.server_count and self.duplicates == 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verified": self.verified,
                "elapsed_seconds": round(self.elapsed_seconds, 3)}

    def describe(self) -> str:
        if self.verified:
            return (f"verified: {self.rows} rows written == server count {self.server_count}, "
                    "no object id repeated")
        return (f"NOT verified: {self.rows} rows written, server count {self.server_count}, "
                f"{self.duplicates} repeated object id(s)")


def _arcgis_check(body: Any) -> None:
    """Raise `Permanent`/`Retryable` for ArcGIS's errors in an HTTP 200 body."""
    if not isinstance(body, dict):
        raise Retryable(f"expected a JSON object, got {type(body).__name__}")
    error = body.get("error")
    if error is None:
        return
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message", "") if isinstance(error, dict) else str(error)
    details = error.get("details") if isinstance(error, dict) else None
    text = f"ArcGIS error {code}: {message}" + (f" ({'; '.join(map(str, details))})"
                                                if details else "")
    if code in PERMANENT_ERROR_CODES:
        raise Permanent(text)
    raise Retryable(text)


def _features_check(body: Any) -> None:
    _arcgis_check(body)
    if not isinstance(body.get("features"), list):
        raise Retryable("query answer has no 'features' list")


def read_layer(client: PoliteClient, url: str) -> LayerInfo:
    """The layer's metadata (``?f=json``)."""
    url = url.rstrip("/")
    meta = client.get_json(url, {"f": "json"}, check=_arcgis_check)
    fields = meta.get("fields") or []
    oid_field = meta.get("objectIdField") or next(
        (f["name"] for f in fields if f.get("type") == "esriFieldTypeOID"), None)
    if not oid_field:
        raise ArcGisError(f"{url}: the layer names no object-id field; cannot verify a dump")
    advanced = meta.get("advancedQueryCapabilities") or {}
    formats = str(meta.get("supportedQueryFormats", "")).lower()
    return LayerInfo(
        url=url,
        name=str(meta.get("name", "")),
        object_id_field=oid_field,
        max_record_count=int(meta.get("maxRecordCount") or DEFAULT_PAGE_SIZE),
        supports_pagination=bool(advanced.get("supportsPagination",
                                              meta.get("supportsPagination", False))),
        supports_statistics=bool(meta.get("supportsStatistics",
                                          advanced.get("supportsStatistics", False))),
        supports_geojson="geojson" in formats,
        fields=tuple(f["name"] for f in fields if "name" in f),
        geometry_type=meta.get("geometryType"),
    )


# -- Esri JSON -> GeoJSON -----------------------------------------------------------------------


def _ring_is_clockwise(ring: list[list[float]]) -> bool:
    return sum((x2 - x1) * (y2 + y1) for (x1, y1, *_), (x2, y2, *_)
               in pairwise(ring)) > 0


def _point_in_ring(point: list[float], ring: list[list[float]]) -> bool:
    x, y = point[0], point[1]
    inside = False
    for (x1, y1, *_), (x2, y2, *_) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def esri_geometry_to_geojson(geometry: dict[str, Any] | None) -> dict[str, Any] | None:
    """Esri JSON geometry to a GeoJSON geometry (RFC 7946 ring order); None stays None.
    Esri polygons list outer rings clockwise and holes counter-clockwise, in any order."""
    if not geometry:
        return None
    if "x" in geometry:
        x, y = geometry.get("x"), geometry.get("y")
        if x is None or y is None or (isinstance(x, float) and math.isnan(x)):
            return None
        coordinates = [x, y] + ([geometry["z"]] if geometry.get("z") is not None else [])
        return {"type": "Point", "coordinates": coordinates}
    if "points" in geometry:
        return {"type": "MultiPoint", "coordinates": geometry["points"]}
    if "paths" in geometry:
        paths = geometry["paths"]
        if len(paths) == 1:
            return {"type": "LineString", "coordinates": paths[0]}
        return {"type": "MultiLineString", "coordinates": paths}
    if "rings" in geometry:
        outers: list[list[list[list[float]]]] = []
        holes: list[list[list[float]]] = []
        for ring in geometry["rings"]:
            (outers.append([ring]) if _ring_is_clockwise(ring) else holes.append(ring))
        for hole in holes:
            owner = next((polygon for polygon in outers if _point_in_ring(hole[0], polygon[0])),
                         None)
            if owner is None:
                outers.append([hole[::-1]])  # a lone counter-clockwise ring: an outer ring
            else:
                owner.append(hole)
        polygons = [[polygon[0][::-1], *[hole[::-1] for hole in polygon[1:]]]
                    if _ring_is_clockwise(polygon[0]) else polygon for polygon in outers]
        if not polygons:
            return None
        if len(polygons) == 1:
            return {"type": "Polygon", "coordinates": polygons[0]}
        return {"type": "MultiPolygon", "coordinates": polygons}
    if {"xmin", "ymin", "xmax", "ymax"} <= geometry.keys():
        x0, y0, x1, y1 = (geometry[k] for k in ("xmin", "ymin", "xmax", "ymax"))
        return {"type": "Polygon",
                "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}
    raise ArcGisError(f"unknown Esri geometry with keys {sorted(geometry)}")


# -- plan and units -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Query:
    """The parameters every feature query of one dump shares."""

    layer: LayerInfo
    where: str
    out_fields: str
    output_format: str

    def and_where(self, clause: str) -> str:
        return clause if self.where.strip() == "1=1" else f"({self.where}) AND {clause}"


class _Dumper:
    def __init__(self, client: PoliteClient, query: _Query, server_count: int):
        self.client = client
        self.query = query
        self.server_count = server_count
        self.layer = query.layer
        self.query_url = f"{self.layer.url}/query"

    # One query: (features as (oid, json line), exceededTransferLimit).
    def fetch(self, params: dict[str, Any]) -> tuple[list[tuple[int, str]], bool]:
        base = {"where": "1=1", "outFields": self.query.out_fields, "returnGeometry": "true",
                "outSR": WGS84, "f": self.query.output_format}
        body = self.client.get_json(self.query_url, {**base, **params}, check=_features_check)
        exceeded = bool(body.get("exceededTransferLimit")
                        or (body.get("properties") or {}).get("exceededTransferLimit"))
        rows = [self._feature_line(feature) for feature in body["features"]]
        return rows, exceeded

    def _feature_line(self, feature: dict[str, Any]) -> tuple[int, str]:
        oid_field = self.layer.object_id_field
        if self.query.output_format == "geojson":
            properties = feature.get("properties") or {}
            oid = feature.get("id", properties.get(oid_field))
            geojson = {"type": "Feature", "id": oid, "geometry": feature.get("geometry"),
                       "properties": properties}
        else:
            attributes = feature.get("attributes") or {}
            oid = attributes.get(oid_field)
            geojson = {"type": "Feature", "id": oid,
                       "geometry": esri_geometry_to_geojson(feature.get("geometry")),
                       "properties": attributes}
        if oid is None:
            raise ArcGisError(f"{self.query_url}: a feature without object id {oid_field!r}")
        return int(oid), json.dumps(geojson, separators=(",", ":"), ensure_ascii=False)

    def server_ids(self) -> list[int]:
        body = self.client.get_json(self.query_url, {"where": self.query.where,
                                                     "returnIdsOnly": "true", "f": "json"},
                                    check=_arcgis_check)
        ids = body.get("objectIds")
        if ids is None:
            raise ArcGisError(f"{self.query_url}: returnIdsOnly gave no objectIds")
        return sorted(int(i) for i in ids)

    def id_min_max(self) -> tuple[int, int]:
        oid = self.layer.object_id_field
        statistics = json.dumps([
            {"statisticType": "min", "onStatisticField": oid, "outStatisticFieldName": "oid_min"},
            {"statisticType": "max", "onStatisticField": oid, "outStatisticFieldName": "oid_max"},
        ])
        body = self.client.get_json(self.query_url, {"where": self.query.where,
                                                     "outStatistics": statistics, "f": "json"},
                                    check=_arcgis_check)
        try:
            values = [int(v) for v in body["features"][0]["attributes"].values()]
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ArcGisError(f"{self.query_url}: statistics answer unusable: {body}") from error
        return min(values), max(values)

    # Units: ["offset", start, count] or ["ids", low_exclusive, high_inclusive].
    def fetch_unit(self, unit: list[Any]) -> list[tuple[int, str]]:
        if unit[0] == "offset":
            return self._fetch_offset(unit[1], unit[2])
        return self._fetch_id_range(unit[1], unit[2])

    def _fetch_offset(self, offset: int, count: int) -> list[tuple[int, str]]:
        rows: list[tuple[int, str]] = []
        while count > 0:
            page, exceeded = self.fetch({
                "where": self.query.where, "resultOffset": offset, "resultRecordCount": count,
                "orderByFields": f"{self.layer.object_id_field} ASC"})
            rows.extend(page)
            got = len(page)
            if got >= count:
                break
            if got == 0:
                if exceeded:
                    raise ArcGisError(f"{self.query_url}: offset {offset}: the server says more "
                                      "features exist but returned none")
                break
            if not exceeded and offset + got >= self.server_count:
                break
            offset, count = offset + got, count - got  # capped below what we asked: continue
        return rows

    def _fetch_id_range(self, low: int, high: int) -> list[tuple[int, str]]:
        oid = self.layer.object_id_field
        page, exceeded = self.fetch({
            "where": self.query.and_where(f"{oid} > {low} AND {oid} <= {high}"),
            "orderByFields": f"{oid} ASC"})
        if not exceeded or high - low <= 1:
            return page
        ids = [row[0] for row in page]
        if ids and ids == sorted(ids) and low < ids[-1] < high:
            return page + self._fetch_id_range(ids[-1], high)
        middle = (low + high) // 2  # unordered and truncated: split, discard this answer
        return self._fetch_id_range(low, middle) + self._fetch_id_range(middle, high)


def _id_range_units(low: int, high: int, step: int) -> list[list[Any]]:
    return [["ids", start, min(start + step, high)] for start in range(low - 1, high, step)]


def _id_list_units(ids: list[int], step: int) -> list[list[Any]]:
    units: list[list[Any]] = []
    previous = ids[0] - 1
    for index in range(0, len(ids), step):
        last = ids[min(index + step, len(ids)) - 1]
        units.append(["ids", previous, last])
        previous = last
    return units


# -- checkpoint ---------------------------------------------------------------------------------


@dataclass
class _Checkpoint:
    path: Path
    identity: dict[str, Any]
    method: str
    page_size: int
    server_count: int
    plan: list[list[Any]]
    done: int = 0
    bytes: int = 0

    def save(self) -> None:
        partial = self.path.with_name(self.path.name + ".tmp")
        partial.write_text(json.dumps({
            "version": CHECKPOINT_VERSION, "identity": self.identity, "method": self.method,
            "page_size": self.page_size, "server_count": self.server_count, "done": self.done,
            "bytes": self.bytes, "plan": self.plan}))
        partial.replace(self.path)

    @classmethod
    def load(cls, path: Path) -> _Checkpoint | None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise ArcGisError(f"{path}: unreadable checkpoint ({error}); delete it to start "
                              "over") from error
        if data.get("version") != CHECKPOINT_VERSION:
            raise ArcGisError(f"{path}: checkpoint version {data.get('version')} is not "
                              f"{CHECKPOINT_VERSION}; delete it to start over")
        return cls(path, data["identity"], data["method"], data["page_size"],
                   data["server_count"], data["plan"], data["done"], data["bytes"])


def checkpoint_path(out: Path) -> Path:
    return out.with_name(out.name + ".checkpoint.json")


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".part")


def _ids_in(path: Path, size: int) -> Iterator[int]:
    with path.open("rb") as handle:
        remaining = size
        for line in handle:
            if remaining <= 0:
                break
            remaining -= len(line)
            yield int(json.loads(line)["id"])


# -- the dump -----------------------------------------------------------------------------------


def dump_layer(client: PoliteClient, layer_url: str, out: Path | str, *, where: str = "1=1",
               fields: Iterable[str] | None = None, page_size: int | None = None,
               method: str | None = None) -> DumpSummary:
    """Dump every feature of `layer_url` matching `where` into `out` (GeoJSON lines), resuming
    from `out`'s checkpoint when one exists for the same query. `method` forces "offset",
    "statistics" or "ids" (default: the best the layer supports). Raises `ScrapeError` on a
    failure; returns a summary whose `verified` says whether the counts agree."""
    started = time.perf_counter()
    requests_before, retries_before = client.stats.requests, client.stats.retries
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    layer = read_layer(client, layer_url)
    wanted = [name.strip() for name in (fields or []) if name.strip()]
    if wanted:
        known = {name.lower() for name in layer.fields}
        unknown = [name for name in wanted if name.lower() not in known]
        if unknown and layer.fields:
            raise ArcGisError(f"{layer.url}: unknown field(s) {unknown}; the layer has "
                              f"{list(layer.fields)}")
        if layer.object_id_field.lower() not in {name.lower() for name in wanted}:
            wanted.append(layer.object_id_field)
    query = _Query(layer, where or "1=1", ",".join(wanted) if wanted else "*",
                   "geojson" if layer.supports_geojson else "json")
    count_body = client.get_json(f"{layer.url}/query", {"where": query.where,
                                                        "returnCountOnly": "true", "f": "json"},
                                 check=_arcgis_check)
    if not isinstance(count_body.get("count"), int):
        raise ArcGisError(f"{layer.url}: returnCountOnly gave no count: {count_body}")
    server_count = count_body["count"]
    dumper = _Dumper(client, query, server_count)
    identity = {"layer_url": layer.url, "where": query.where, "out_fields": query.out_fields,
                "format": query.output_format, "out_sr": WGS84}
    part, sidecar = partial_path(out), checkpoint_path(out)

    checkpoint = _Checkpoint.load(sidecar)
    seen: set[int] = set()
    duplicates = 0
    resumed_at: int | None = None
    first_rows: list[tuple[int, str]] | None = None
    if checkpoint is not None and part.exists():
        if checkpoint.identity != identity:
            raise ArcGisError(f"{sidecar}: checkpoint is for another query ({checkpoint.identity})"
                              f"; delete it (and {part.name}) to start over")
        if checkpoint.server_count != server_count:
            raise ArcGisError(
                f"{layer.url}: the layer changed since the interrupted dump (count "
                f"{checkpoint.server_count} -> {server_count}); delete {sidecar.name} and "
                f"{part.name} to start over")
        with part.open("r+b") as handle:
            handle.truncate(checkpoint.bytes)  # drop a unit written after the last checkpoint
        for oid in _ids_in(part, checkpoint.bytes):
            if oid in seen:
                duplicates += 1
            seen.add(oid)
        resumed_at = len(seen)
    else:
        part.unlink(missing_ok=True)
        part.touch()
        checkpoint, first_rows = _plan(dumper, sidecar, identity, page_size, method)
        checkpoint.save()

    if server_count and checkpoint.done < len(checkpoint.plan):
        duplicates = _run_plan(dumper, checkpoint, part, seen, duplicates, first_rows)
    part.replace(out)
    sidecar.unlink(missing_ok=True)
    return DumpSummary(
        layer_url=layer.url, out=str(out), method=checkpoint.method,
        page_size=checkpoint.page_size, rows=len(seen), server_count=server_count,
        duplicates=duplicates, requests=client.stats.requests - requests_before,
        retries=client.stats.retries - retries_before,
        elapsed_seconds=time.perf_counter() - started, resumed_at_row=resumed_at,
        fields=list(layer.fields))


def _plan(dumper: _Dumper, sidecar: Path, identity: dict[str, Any], page_size: int | None,
          method: str | None) -> tuple[_Checkpoint, list[tuple[int, str]] | None]:
    layer, count = dumper.layer, dumper.server_count
    asked = max(1, min(page_size or layer.max_record_count, layer.max_record_count))
    method = method or ("offset" if layer.supports_pagination else
                        "statistics" if layer.supports_statistics else "ids")
    if method not in ("offset", "statistics", "ids"):
        raise ArcGisError(f"unknown paging method {method!r}")
    if count == 0:
        return _Checkpoint(sidecar, identity, method, asked, count, []), None
    if method == "offset":
        # The first page shows the server's real cap; later pages use what it returned.
        first, exceeded = dumper.fetch({"where": dumper.query.where, "resultOffset": 0,
                                        "resultRecordCount": asked,
                                        "orderByFields": f"{layer.object_id_field} ASC"})
        got = len(first)
        step = got if 0 < got < asked and (exceeded or got < count) else asked
        plan = [["offset", 0, got]] + [["offset", start, step]
                                       for start in range(got, count, step)]
        return _Checkpoint(sidecar, identity, method, step, count, plan), first
    if method == "statistics":
        try:
            low, high = dumper.id_min_max()
            if count / max(1, high - low + 1) >= MIN_ID_DENSITY:
                return _Checkpoint(sidecar, identity, method, asked, count,
                                   _id_range_units(low, high, asked)), None
        except ScrapeError:
            pass  # statistics unusable: page through the id list instead
        method = "ids"
    ids = dumper.server_ids()
    if not ids:
        return _Checkpoint(sidecar, identity, method, asked, count, []), None
    return _Checkpoint(sidecar, identity, method, asked, count,
                       _id_list_units(ids, asked)), None


def _run_plan(dumper: _Dumper, checkpoint: _Checkpoint, part: Path, seen: set[int],
              duplicates: int, first_rows: list[tuple[int, str]] | None) -> int:
    """Fetch the plan's remaining units concurrently; write them in plan order, checkpointing
    after each. Returns the number of repeated object ids met."""
    workers = dumper.client.policy.max_concurrency
    window = workers * 4  # units fetched ahead of the next one to write
    finished: dict[int, list[tuple[int, str]]] = {}
    if first_rows is not None and checkpoint.done == 0:
        finished[0] = first_rows
    next_to_submit = checkpoint.done + len(finished)
    in_flight: dict[Future, int] = {}
    stop = threading.Event()

    def fetch(index: int) -> list[tuple[int, str]]:
        if stop.is_set():
            return []
        return dumper.fetch_unit(checkpoint.plan[index])

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="arcgis") as pool, \
            part.open("ab") as handle:
        handle.seek(checkpoint.bytes)
        try:
            while checkpoint.done < len(checkpoint.plan):
                while (next_to_submit < len(checkpoint.plan)
                       and next_to_submit < checkpoint.done + window
                       and len(in_flight) < workers):
                    in_flight[pool.submit(fetch, next_to_submit)] = next_to_submit
                    next_to_submit += 1
                if checkpoint.done not in finished:
                    completed, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in completed:
                        finished[in_flight.pop(future)] = future.result()
                while checkpoint.done in finished:
                    rows = finished.pop(checkpoint.done)
                    lines = []
                    for oid, line in rows:
                        if oid in seen:
                            duplicates += 1
                            continue
                        seen.add(oid)
                        lines.append(line)
                    if lines:
                        handle.write(("\n".join(lines) + "\n").encode())
                    handle.flush()
                    checkpoint.bytes = handle.tell()
                    checkpoint.done += 1
                    checkpoint.save()
        finally:
            stop.set()
            for future in in_flight:
                future.cancel()
    return duplicates
