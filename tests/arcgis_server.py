"""A local HTTP server on 127.0.0.1 that behaves like an ArcGIS REST services directory with
FeatureServer layers, for the scraper tests and the dump benchmark.

It answers the calls real servers answer: the services directory, a service's layer list,
layer metadata (``?f=json``), and ``/query`` by GET or POST with ``where`` (``1=1``, object-id
comparisons, ``FIELD = 'value'`` joined by AND), ``returnCountOnly``, ``returnIdsOnly``,
``outStatistics`` (min/max), ``resultOffset``/``resultRecordCount`` (only when the layer
supports pagination), ``outFields``, and ``f=json`` or ``f=geojson``. Pages are capped at the
layer's maxRecordCount whatever is asked, with ``exceededTransferLimit`` set when more remain.

Features: `feature_count` of them with object ids from `first_oid`, attributes as `FIELDS`
(PARCEL_ID ``58`` + the zero-padded object id) and a point or small square polygon on a grid
from `origin`; `attribute_overrides` and `geometry_overrides` (by object id) replace an
attribute or the geometry of chosen features (a parcel layer keyed by a market's roll).

Failure injection (`LayerSpec.faults`, keyed by the n-th feature query, 1-based): an error in
an HTTP 200 body (transient or permanent), HTTP 500, HTTP 429 with Retry-After, a slow answer,
a connection cut mid-body, a body that is not JSON, and `fail_after` (every feature query after
the n-th answers HTTP 500, to interrupt a dump). `latency_seconds` and `max_concurrent` make a
server that takes a fixed time per request and serves at most that many requests at once.

Run alone for the benchmark: ``python tests/arcgis_server.py --features 200000 ...`` prints the
layer URL and serves until killed.
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import socket
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DAY_MS = 86_400_000
EPOCH_2024_MS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
VIOLATION_TYPES = ("Overgrown yard", "Unsafe structure", "Junk vehicle", "Pool not secured")

FIELDS = [
    {"name": "OBJECTID", "type": "esriFieldTypeOID", "alias": "OBJECTID"},
    {"name": "PARCEL_ID", "type": "esriFieldTypeString", "alias": "Parcel ID", "length": 20},
    {"name": "CASE_NO", "type": "esriFieldTypeString", "alias": "Case Number", "length": 20},
    {"name": "VIOL_TYPE", "type": "esriFieldTypeString", "alias": "Violation", "length": 50},
    {"name": "OPENED", "type": "esriFieldTypeDate", "alias": "Date Opened", "length": 8},
    {"name": "STATUS", "type": "esriFieldTypeString", "alias": "Status", "length": 10},
    {"name": "CLOSED_DT", "type": "esriFieldTypeDate", "alias": "Closed", "length": 8},
    {"name": "FINE_AMT", "type": "esriFieldTypeDouble", "alias": "Fine"},
]


@dataclass
class LayerSpec:
    """One fake layer and how it misbehaves; mutable while the server runs."""

    feature_count: int = 100
    max_record_count: int = 50
    supports_pagination: bool = True
    supports_statistics: bool = True
    supports_geojson: bool = True
    first_oid: int = 1
    oid_step: int = 1
    geometry: str = "point"  # or "polygon"
    name: str = "Code Violations"
    blank_parcel_every: int = 0  # every n-th feature has an empty PARCEL_ID (0: none)
    latency_seconds: float = 0.0
    slow_seconds: float = 2.0
    faults: dict[int, str] = field(default_factory=dict)
    fail_after: int | None = None
    retry_after: str = "0"  # Retry-After of an injected 429
    advertised_max_record_count: int | None = None  # a server that caps below what it says
    count_offset: int = 0  # returnCountOnly answers this much more than exists
    offset_shift_after: int | None = None  # after n feature queries a row "appears" in front
    later_cap: tuple[int, int] | None = None  # (n, cap): after n feature queries pages cap lower
    origin: tuple[float, float] = (-81.5, 28.3)  # (x, y) of the features' grid, WGS84
    attribute_overrides: dict[int, dict[str, Any]] = field(default_factory=dict)  # by oid
    geometry_overrides: dict[int, dict[str, Any]] = field(default_factory=dict)  # Esri, by oid

    def __post_init__(self) -> None:
        self.oids = [self.first_oid + i * self.oid_step for i in range(self.feature_count)]

    def attributes(self, oid: int) -> dict[str, Any]:
        blank = self.blank_parcel_every and oid % self.blank_parcel_every == 0
        opened = EPOCH_2024_MS + (oid % 700) * DAY_MS + 5 * 3_600_000
        closed = None if oid % 3 else opened + 30 * DAY_MS
        return {
            "OBJECTID": oid,
            "PARCEL_ID": "" if blank else f"58{oid:010d}",
            "CASE_NO": f"CE-{oid:07d}",
            "VIOL_TYPE": VIOLATION_TYPES[oid % len(VIOLATION_TYPES)],
            "OPENED": opened,
            "STATUS": "CLOSED" if closed else "OPEN",
            "CLOSED_DT": closed,
            "FINE_AMT": float(oid % 500),
            **self.attribute_overrides.get(oid, {}),
        }

    def esri_geometry(self, oid: int) -> dict[str, Any]:
        if oid in self.geometry_overrides:
            return self.geometry_overrides[oid]
        x, y = self.origin[0] + (oid % 1000) * 1e-4, self.origin[1] + (oid // 1000) * 1e-4
        if self.geometry == "polygon":  # clockwise outer ring, as Esri writes it
            d = 5e-5
            return {"rings": [[[x, y], [x, y + d], [x + d, y + d], [x + d, y], [x, y]]]}
        return {"x": x, "y": y}


def geojson_geometry(esri: dict[str, Any]) -> dict[str, Any]:
    """The layer's Esri geometry as its f=geojson answer gives it: a Point, or a Polygon of the
    rings reversed (an outer ring and its holes; several outer rings are not supported)."""
    if "x" in esri:
        return {"type": "Point", "coordinates": [esri["x"], esri["y"]]}
    return {"type": "Polygon", "coordinates": [ring[::-1] for ring in esri["rings"]]}


_CLAUSE = re.compile(r"^\s*(\w+)\s*(<=|>=|<>|=|<|>)\s*('(?:[^']|'')*'|-?\d+(?:\.\d+)?)\s*$")


def _parse_where(where: str) -> list[tuple[str, str, Any]]:
    clauses = []
    for part in re.split(r"\s+AND\s+", where.strip(), flags=re.IGNORECASE):
        part = part.strip()
        while part.startswith("(") and part.endswith(")"):
            part = part[1:-1].strip()
        if part.replace(" ", "") == "1=1":
            continue
        match = _CLAUSE.match(part)
        if not match:
            raise ValueError(f"unsupported where clause {part!r}")
        name, op, raw = match.groups()
        value: Any = raw[1:-1].replace("''", "'") if raw.startswith("'") else float(raw)
        clauses.append((name.upper(), op, value))
    return clauses


_OPS = {"=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b,
        ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}


class FakeArcGisServer:
    """The server: `services` maps a FeatureServer name to its layers. Start with `start()`
    (or use as a context manager); `layer_url(service, index)` gives a layer's URL."""

    def __init__(self, services: dict[str, list[LayerSpec]] | None = None, *,
                 robots_txt: str | None = None, max_concurrent: int | None = None,
                 port: int = 0):
        self.services = services if services is not None else {"CodeEnforcement": [LayerSpec()]}
        self.robots_txt = robots_txt
        self.lock = threading.Lock()
        self.gate = threading.BoundedSemaphore(max_concurrent) if max_concurrent else None
        self.in_flight = 0
        self.max_in_flight = 0
        self.feature_queries = 0
        self.requests: list[tuple[str, str, dict[str, str], str]] = []  # method, path, params, UA
        self.http = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.http.daemon_threads = True
        self.http.fake = self  # type: ignore[attr-defined]
        self.http.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}"

    def layer_url(self, service: str = "CodeEnforcement", index: int = 0) -> str:
        return f"{self.base_url}/arcgis/rest/services/{service}/FeatureServer/{index}"

    @property
    def layer(self) -> LayerSpec:
        """The first layer of the first service (most tests use one)."""
        return next(iter(self.services.values()))[0]

    def start(self) -> FakeArcGisServer:
        self.thread = threading.Thread(target=self.http.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()

    def __enter__(self) -> FakeArcGisServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def data_requests(self) -> list[dict[str, str]]:
        """Params of every feature query received (not counts, ids or statistics)."""
        return [params for _, path, params, _ in self.requests
                if path.endswith("/query") and _is_feature_query(params)]


def _is_feature_query(params: dict[str, str]) -> bool:
    return not (params.get("returnCountOnly") == "true" or params.get("returnIdsOnly") == "true"
                or params.get("outStatistics"))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeArcGIS/10.9"

    def log_message(self, *_: Any) -> None:
        pass

    @property
    def fake(self) -> FakeArcGisServer:
        return self.server.fake  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        self._dispatch(parsed.path, dict(urllib.parse.parse_qsl(parsed.query)))

    def do_POST(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        self._dispatch(parsed.path, {**dict(urllib.parse.parse_qsl(parsed.query)), **form})

    def _dispatch(self, path: str, params: dict[str, str]) -> None:
        fake = self.fake
        if path == "/__stats":  # for the benchmark, which runs the server in another process
            with fake.lock:
                stats = {"requests": len(fake.requests), "feature_queries":
                         fake.feature_queries, "max_in_flight": fake.max_in_flight}
                if params.get("reset"):
                    fake.requests.clear()
                    fake.feature_queries = fake.max_in_flight = 0
            self._json(stats)
            return
        with fake.lock:
            fake.requests.append((self.command, path, params,
                                  self.headers.get("User-Agent", "")))
        if path == "/robots.txt":
            if fake.robots_txt is None:
                self._send(404, b"not found", "text/plain")
            else:
                self._send(200, fake.robots_txt.encode(), "text/plain")
            return
        gate = fake.gate
        if gate:
            gate.acquire()
        with fake.lock:
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            self._route(path.rstrip("/"), params)
        finally:
            with fake.lock:
                fake.in_flight -= 1
            if gate:
                gate.release()

    def _route(self, path: str, params: dict[str, str]) -> None:
        parts = path.split("/")
        # /arcgis/rest/services[/<name>/FeatureServer[/<id>[/query]]]
        if parts[:4] != ["", "arcgis", "rest", "services"]:
            self._send(404, b"not found", "text/plain")
            return
        rest = parts[4:]
        services = self.fake.services
        if not rest:
            self._json({"currentVersion": 10.91, "folders": [], "services": [
                {"name": name, "type": "FeatureServer"} for name in services]})
            return
        if len(rest) < 2 or rest[0] not in services or rest[1] != "FeatureServer":
            self._json({"error": {"code": 404, "message": "Service not found", "details": []}})
            return
        layers = services[rest[0]]
        if len(rest) == 2:
            self._json({"currentVersion": 10.91, "serviceDescription": "",
                        "maxRecordCount": max(layer.max_record_count for layer in layers),
                        "layers": [{"id": i, "name": layer.name,
                                    "geometryType": _geometry_type(layer)}
                                   for i, layer in enumerate(layers)], "tables": []})
            return
        try:
            layer = layers[int(rest[2])]
        except (ValueError, IndexError):
            self._json({"error": {"code": 400, "message": "Invalid layer", "details": []}})
            return
        if len(rest) == 3:
            self._json(_metadata(layer, int(rest[2])))
        elif len(rest) == 4 and rest[3] == "query":
            self._query(layer, params)
        else:
            self._send(404, b"not found", "text/plain")

    def _query(self, layer: LayerSpec, params: dict[str, str]) -> None:
        if layer.latency_seconds:
            time.sleep(layer.latency_seconds)
        if _is_feature_query(params):
            fake = self.fake
            with fake.lock:
                fake.feature_queries += 1
                number = fake.feature_queries
            if layer.fail_after is not None and number > layer.fail_after:
                self._send(500, b"<html>Internal Server Error</html>", "text/html")
                return
            fault = layer.faults.get(number)
            if fault and self._inject(fault, layer):
                return
        shifted = (layer.offset_shift_after is not None
                   and self.fake.feature_queries > layer.offset_shift_after)
        try:
            cap = layer.max_record_count
            if layer.later_cap and self.fake.feature_queries > layer.later_cap[0]:
                cap = layer.later_cap[1]
            answer = _answer(layer, params, shift=-1 if shifted else 0, cap=cap)
        except ValueError as error:
            answer = {"error": {"code": 400, "message": "Unable to complete operation.",
                                "details": [str(error)]}}
        self._json(answer)

    def _inject(self, fault: str, layer: LayerSpec) -> bool:
        """Send a failure; False when the fault only delays the real answer."""
        if fault == "error_200":
            self._json({"error": {"code": 500, "message": "Error performing query operation",
                                  "details": []}})
        elif fault == "error_200_permanent":
            self._json({"error": {"code": 400, "message": "Invalid or missing input parameters.",
                                  "details": ["'where' parameter is invalid"]}})
        elif fault == "http_500":
            self._send(500, b"<html>Internal Server Error</html>", "text/html")
        elif fault == "http_429":
            self._send(429, b"Too Many Requests", "text/plain",
                       {"Retry-After": layer.retry_after})
        elif fault == "not_json":
            self._send(200, b"<html><body>Service temporarily busy</body></html>", "text/html")
        elif fault == "cut":
            body = json.dumps({"features": [{"attributes": {"OBJECTID": 1}}] * 50}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif fault == "slow":
            time.sleep(layer.slow_seconds)
            return False
        else:
            raise ValueError(f"unknown fault {fault!r}")
        return True

    def _json(self, payload: Any) -> None:
        self._send(200, json.dumps(payload, separators=(",", ":")).encode(),
                   "application/json; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True  # the client gave up (e.g. its timeout)


def _geometry_type(layer: LayerSpec) -> str:
    return "esriGeometryPolygon" if layer.geometry == "polygon" else "esriGeometryPoint"


def _metadata(layer: LayerSpec, index: int) -> dict[str, Any]:
    formats = "JSON, geoJSON, PBF" if layer.supports_geojson else "JSON, AMF"
    return {
        "currentVersion": 10.91, "id": index, "name": layer.name, "type": "Feature Layer",
        "geometryType": _geometry_type(layer), "objectIdField": "OBJECTID",
        "maxRecordCount": layer.advertised_max_record_count or layer.max_record_count,
        "supportsStatistics":
        layer.supports_statistics, "supportedQueryFormats": formats,
        "advancedQueryCapabilities": {"supportsPagination": layer.supports_pagination,
                                      "supportsStatistics": layer.supports_statistics,
                                      "supportsOrderBy": True},
        "capabilities": "Query", "fields": FIELDS,
        "extent": {"xmin": -81.6, "ymin": 28.2, "xmax": -81.0, "ymax": 28.9,
                   "spatialReference": {"wkid": 4326}},
    }


def _matching(layer: LayerSpec, where: str) -> list[int]:
    """Object ids matching `where`, in order; object-id clauses use bisection (fast)."""
    low, high = 0, len(layer.oids)
    others = []
    for name, op, value in _parse_where(where or "1=1"):
        if name != "OBJECTID":
            others.append((name, op, value))
            continue
        if op == ">":
            low = max(low, bisect.bisect_right(layer.oids, value))
        elif op == ">=":
            low = max(low, bisect.bisect_left(layer.oids, value))
        elif op == "<":
            high = min(high, bisect.bisect_left(layer.oids, value))
        elif op == "<=":
            high = min(high, bisect.bisect_right(layer.oids, value))
        else:
            others.append((name, op, value))
    ids = layer.oids[low:high]
    if others:
        known = {f["name"] for f in FIELDS}
        for name, _, _ in others:
            if name not in known:
                raise ValueError(f"invalid field {name!r} in where")
        ids = [oid for oid in ids if all(_OPS[op](layer.attributes(oid)[name], value)
                                         for name, op, value in others)]
    return ids


def _answer(layer: LayerSpec, params: dict[str, str], shift: int = 0,
            cap: int | None = None) -> dict[str, Any]:
    cap = cap or layer.max_record_count
    ids = _matching(layer, params.get("where", "1=1"))
    if params.get("returnCountOnly") == "true":
        return {"count": len(ids) + layer.count_offset}
    if params.get("returnIdsOnly") == "true":
        return {"objectIdFieldName": "OBJECTID", "objectIds": ids}
    if params.get("outStatistics"):
        if not layer.supports_statistics:
            raise ValueError("statistics are not supported")
        names = {s["statisticType"]: s["outStatisticFieldName"]
                 for s in json.loads(params["outStatistics"])}
        return {"features": [{"attributes": {names["min"]: min(ids, default=None),
                                             names["max"]: max(ids, default=None)}}]}
    if "resultOffset" in params or "resultRecordCount" in params:
        if not layer.supports_pagination:
            raise ValueError("Pagination is not supported")
        offset = max(0, int(params.get("resultOffset") or 0) + shift)
        asked = int(params.get("resultRecordCount") or layer.max_record_count)
    else:
        offset, asked = 0, layer.max_record_count
    page = ids[offset: offset + min(asked, cap)]
    exceeded = offset + len(page) < len(ids)
    out_fields = params.get("outFields", "*")
    wanted = None if out_fields in ("*", "") else {n.strip().upper()
                                                   for n in out_fields.split(",")}
    records = []
    for oid in page:
        attributes = layer.attributes(oid)
        if wanted is not None:
            attributes = {k: v for k, v in attributes.items() if k in wanted}
        records.append((oid, attributes, layer.esri_geometry(oid)))
    if params.get("f") == "geojson":
        if not layer.supports_geojson:
            raise ValueError("f=geojson is not supported")
        answer: dict[str, Any] = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": oid, "geometry": geojson_geometry(geometry),
             "properties": attributes} for oid, attributes, geometry in records]}
        if exceeded:
            answer["properties"] = {"exceededTransferLimit": True}
        return answer
    return {"objectIdFieldName": "OBJECTID", "geometryType": _geometry_type(layer),
            "spatialReference": {"wkid": 4326}, "fields": FIELDS,
            "features": [{"attributes": attributes, "geometry": geometry}
                         for _, attributes, geometry in records],
            "exceededTransferLimit": exceeded}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake ArcGIS layer until killed.")
    parser.add_argument("--features", type=int, default=200_000)
    parser.add_argument("--max-record-count", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--max-concurrent", type=int, default=None)
    parser.add_argument("--no-pagination", action="store_true")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    layer = LayerSpec(feature_count=args.features, max_record_count=args.max_record_count,
                      supports_pagination=not args.no_pagination,
                      latency_seconds=args.latency)
    server = FakeArcGisServer({"CodeEnforcement": [layer]}, max_concurrent=args.max_concurrent,
                              port=args.port)
    print(server.layer_url(), flush=True)
    try:
        server.http.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.http.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
