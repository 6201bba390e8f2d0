"""Sample parcel locations: one GeoJSON Feature per line (the shape `wholesaler scrape arcgis`
writes), a small parcel polygon in WGS84 for every parcel of the sample roll, for
`scrapers/fl_dor/sample.py` to write beside the NAL file as ``parcel_locations.geojsonl``.

Where parcels lie: each market area (MKT_AR) sits around one of its city's real centre
(rough coordinates), each neighbourhood (NBRHD_CD) near its market area, and the parcels of a
neighbourhood on a street grid (one street a row, ``per_street`` lots along it, as the roll's
addresses are laid out), so neighbourhoods form compact clusters. Everything stays inside a
rough real bounding box of the county (``COUNTY_BOUNDS``; the market YAMLs carry the same box).
Condos (DOR use 004) are Points, vacant residential land (000) a MultiPolygon of two halves,
every other parcel a rectangle Polygon (exterior ring counter-clockwise, RFC 7946).

Deliberately bad rows, in the first chunk only (so every sample size has them): the parcel on
feature line 5 has ``"geometry": null`` (it stays unlocated), and after feature line 10 one
feature carries a parcel id that is not on the roll (``BAD_PARCEL_ID``). The ingest sets both
aside with their line.

Deterministic: the layout comes from ``SeedSequence(seed, spawn_key=(co_no, 3))``; the grid
needs no other randomness, so chunk bytes depend only on (market, parcels, seed, chunk).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from scrapers.fl_dor.sample import SampleMarket, _Plan

Box = tuple[float, float, float, float]
"""(west, south, east, north) in degrees, WGS84."""

COUNTY_BOUNDS: dict[int, Box] = {
    # rough real extents of the counties (DOR county number -> box)
    58: (-81.66, 28.34, -80.86, 28.79),   # Orange
    69: (-81.46, 28.58, -80.99, 28.88),   # Seminole
    59: (-81.66, 27.64, -80.86, 28.35),   # Osceola
    45: (-81.96, 28.35, -81.32, 29.28),   # Lake
    74: (-81.69, 28.61, -80.74, 29.44),   # Volusia
}

CITY_CENTRES: dict[str, tuple[float, float]] = {
    # (latitude, longitude), rounded; the sample's cities in scrapers/fl_dor/sample.py
    "ORLANDO": (28.538, -81.379), "APOPKA": (28.676, -81.512),
    "WINTER GARDEN": (28.565, -81.586), "WINTER PARK": (28.600, -81.339),
    "OCOEE": (28.569, -81.544), "WINDERMERE": (28.495, -81.535), "MAITLAND": (28.628, -81.363),
    "BELLE ISLE": (28.458, -81.359), "CHRISTMAS": (28.536, -81.018),
    "EDGEWOOD": (28.486, -81.372), "OAKLAND": (28.555, -81.633), "ZELLWOOD": (28.731, -81.601),
    "GOTHA": (28.528, -81.522), "EATONVILLE": (28.615, -81.380),
    "SANFORD": (28.800, -81.273), "ALTAMONTE SPRINGS": (28.661, -81.366),
    "OVIEDO": (28.670, -81.208), "WINTER SPRINGS": (28.699, -81.308),
    "LONGWOOD": (28.703, -81.338), "LAKE MARY": (28.759, -81.318),
    "CASSELBERRY": (28.678, -81.328), "FERN PARK": (28.649, -81.351),
    "CHULUOTA": (28.642, -81.123), "GENEVA": (28.740, -81.115),
    "KISSIMMEE": (28.292, -81.408), "ST CLOUD": (28.249, -81.281),
    "POINCIANA": (28.140, -81.459), "CELEBRATION": (28.325, -81.533),
    "HARMONY": (28.190, -81.143), "INTERCESSION CITY": (28.264, -81.508),
    "CLERMONT": (28.549, -81.773), "LEESBURG": (28.811, -81.878), "EUSTIS": (28.853, -81.685),
    "MOUNT DORA": (28.803, -81.645), "TAVARES": (28.804, -81.726),
    "GROVELAND": (28.558, -81.851), "LADY LAKE": (28.917, -81.923),
    "MINNEOLA": (28.574, -81.746), "FRUITLAND PARK": (28.861, -81.906),
    "UMATILLA": (28.929, -81.666), "MASCOTTE": (28.578, -81.886),
    "MONTVERDE": (28.600, -81.674), "SORRENTO": (28.802, -81.561),
    "ALTOONA": (28.965, -81.649), "HOWEY IN THE HILLS": (28.717, -81.773),
    "ASTATULA": (28.709, -81.733),
    "DAYTONA BEACH": (29.211, -81.023), "DELTONA": (28.900, -81.264),
    "DELAND": (29.028, -81.303), "PORT ORANGE": (29.138, -80.996),
    "ORMOND BEACH": (29.286, -81.056), "NEW SMYRNA BEACH": (29.026, -80.927),
    "EDGEWATER": (28.989, -80.903), "DEBARY": (28.883, -81.309),
    "ORANGE CITY": (28.949, -81.299), "HOLLY HILL": (29.244, -81.038),
    "SOUTH DAYTONA": (29.166, -81.005), "LAKE HELEN": (28.981, -81.234),
    "PIERSON": (29.239, -81.466), "OAK HILL": (28.866, -80.856),
}

PARCEL_ID_PROPERTY = "PARCEL_ID"
BAD_PARCEL_ID = "990000000000000"  # range 99 does not exist in the sample's PARCEL_IDs
NULL_GEOMETRY_LINE = 5
UNKNOWN_PARCEL_AFTER_LINE = 10

_LOT_DY = 0.00030       # degrees latitude from one street row to the next (~33 m)
_LOT_DX_M = 0.00026     # degrees longitude between lots at the equator; / cos(latitude)
_HALF_Y = 0.00011       # half depth of a lot polygon
_HALF_X_M = 0.00011     # half width at the equator; / cos(latitude)
_MARGIN = 0.004         # keep parcels this far inside the county box


def county_bounds(co_no: int) -> Box:
    """The county's rough box; for a county without one, a 0.5-degree box inside Florida
    derived from its number (the generic fallback of the sample generator)."""
    known = COUNTY_BOUNDS.get(co_no)
    if known is not None:
        return known
    lat = 27.0 + (co_no * 7 % 30) / 10
    lon = -82.5 + (co_no * 11 % 15) / 10
    return (round(lon - 0.25, 2), round(lat - 0.25, 2), round(lon + 0.25, 2),
            round(lat + 0.25, 2))


@dataclass(frozen=True)
class _Layout:
    box: Box
    nb_lat: np.ndarray   # neighbourhood centres, in the plan's neighbourhood order
    nb_lon: np.ndarray
    rows: np.ndarray     # street rows per neighbourhood


@lru_cache(maxsize=8)
def _layout(market: SampleMarket, parcels: int, seed: int) -> _Layout:
    from scrapers.fl_dor.sample import _plan

    plan = _plan(market, parcels, seed)
    rng = np.random.default_rng(np.random.SeedSequence(plan.seed,
                                                       spawn_key=(plan.market.co_no, 3)))
    west, south, east, north = box = county_bounds(plan.market.co_no)
    cities = plan.county.cities
    random_lat = rng.uniform(south + 0.05, north - 0.05, len(cities))
    random_lon = rng.uniform(west + 0.05, east - 0.05, len(cities))
    centre_lat = np.array([CITY_CENTRES.get(c[0], (random_lat[i], 0.0))[0]
                           for i, c in enumerate(cities)])
    centre_lon = np.array([CITY_CENTRES.get(c[0], (0.0, random_lon[i]))[1]
                           for i, c in enumerate(cities)])
    weight = np.array([c[1] for c in cities])
    spread = 0.012 + 0.06 * np.sqrt(weight)          # a big city spreads further

    ma = plan.nb_text["mkt_ar"].cast(pl.Int64).to_numpy() - 1
    n_ma = int(ma.max()) + 1
    ma_city = np.zeros(n_ma, dtype=np.int64)
    ma_city[ma] = plan.nb["city"]                    # every neighbourhood of an area: one city
    cos = math.cos(math.radians((south + north) / 2))
    ma_lat = centre_lat[ma_city] + rng.normal(0, 1, n_ma) * spread[ma_city]
    ma_lon = centre_lon[ma_city] + rng.normal(0, 1, n_ma) * spread[ma_city] / cos
    n_nb = len(ma)
    nb_lat = ma_lat[ma] + rng.normal(0, 0.012, n_nb)   # ~1.3 km: neighbourhoods of an area
    nb_lon = ma_lon[ma] + rng.normal(0, 0.012, n_nb) / cos
    nb_lat = np.clip(nb_lat, south + 2 * _MARGIN, north - 2 * _MARGIN)
    nb_lon = np.clip(nb_lon, west + 2 * _MARGIN, east - 2 * _MARGIN)
    sizes = np.diff(plan.nb_start)
    rows = -(-sizes // plan.nb["per_street"])
    return _Layout(box, nb_lat, nb_lon, rows)


def _fmt(template: str, *columns: str) -> pl.Expr:
    """`template` with each "{}" replaced by the next column (JSON braces stay literal)."""
    pieces = template.split("{}")
    if len(pieces) != len(columns) + 1:
        raise ValueError(f"{template!r} has {len(pieces) - 1} slots for {len(columns)} columns")
    parts: list[pl.Expr] = [pl.lit(pieces[0])]
    for column, piece in zip(columns, pieces[1:], strict=True):
        parts += [pl.col(column), pl.lit(piece)]
    return pl.concat_str(parts)


def _text(values: np.ndarray) -> pl.Series:
    return pl.Series(values).round(6).cast(pl.String)


def locations_chunk(plan: _Plan, k: int, lo: int, parcel_ids: pl.Series,
                    use_codes: pl.Series) -> bytes:
    """The GeoJSON lines of parcels [lo, lo + len(parcel_ids)) (chunk k of the roll)."""
    layout = _layout(plan.market, plan.parcels, plan.seed)
    n = len(parcel_ids)
    g = np.arange(lo, lo + n, dtype=np.int64)
    nbi = np.searchsorted(plan.nb_start, g, side="right") - 1
    j = g - plan.nb_start[nbi]
    per = plan.nb["per_street"][nbi]
    row, col = j // per, j % per
    west, south, east, north = layout.box
    cos = np.cos(np.radians(layout.nb_lat[nbi]))
    lat = layout.nb_lat[nbi] + (row - layout.rows[nbi] / 2) * _LOT_DY
    lon = layout.nb_lon[nbi] + (col - per / 2) * _LOT_DX_M / cos
    lat = np.clip(lat, south + _MARGIN, north - _MARGIN)
    lon = np.clip(lon, west + _MARGIN, east - _MARGIN)
    half_x = _HALF_X_M / cos

    x0, x1 = _text(lon - half_x), _text(lon + half_x)
    y0, y1 = _text(lat - _HALF_Y), _text(lat + _HALF_Y)
    xa, xb = _text(lon - half_x / 10), _text(lon + half_x / 10)   # the MultiPolygon's gap
    frame = pl.DataFrame({"id": pl.Series(g + 1), "pid": parcel_ids, "uc": use_codes,
                          "x": _text(lon), "y": _text(lat), "x0": x0, "x1": x1,
                          "y0": y0, "y1": y1, "xa": xa, "xb": xb})
    polygon = _fmt('{"type":"Polygon","coordinates":[[[{},{}],[{},{}],[{},{}],[{},{}],'
                        '[{},{}]]]}', "x0", "y0", "x1", "y0", "x1", "y1", "x0", "y1", "x0", "y0")
    multi = _fmt('{"type":"MultiPolygon","coordinates":[[[[{},{}],[{},{}],[{},{}],'
                      '[{},{}],[{},{}]]],[[[{},{}],[{},{}],[{},{}],[{},{}],[{},{}]]]]}',
                      "x0", "y0", "xa", "y0", "xa", "y1", "x0", "y1", "x0", "y0",
                      "xb", "y0", "x1", "y0", "x1", "y1", "xb", "y1", "xb", "y0")
    point = _fmt('{"type":"Point","coordinates":[{},{}]}', "x", "y")
    geometry = (pl.when(pl.col("uc") == "004").then(point)
                .when(pl.col("uc") == "000").then(multi)
                .otherwise(polygon))
    frame = frame.with_columns(geometry.alias("geometry"))
    if k == 0 and n >= UNKNOWN_PARCEL_AFTER_LINE:
        frame = frame.with_columns(
            pl.when(pl.int_range(pl.len()) == NULL_GEOMETRY_LINE - 1)
            .then(pl.lit("null")).otherwise(pl.col("geometry")).alias("geometry"))
    lines = frame.select(_fmt(
        '{"type":"Feature","id":{},"properties":{"' + PARCEL_ID_PROPERTY + '":"{}"},'
        '"geometry":{}}', "id", "pid", "geometry")).to_series()
    if k == 0 and n >= UNKNOWN_PARCEL_AFTER_LINE:
        at = UNKNOWN_PARCEL_AFTER_LINE
        unknown = (f'{{"type":"Feature","id":{plan.parcels + 1},"properties":'
                   f'{{"{PARCEL_ID_PROPERTY}":"{BAD_PARCEL_ID}"}},'
                   f'"geometry":{frame["geometry"][at - 1]}}}')
        lines = pl.concat([lines[:at], pl.Series([unknown]), lines[at:]])
    buffer = io.BytesIO()
    pl.DataFrame({"line": lines}).write_csv(buffer, include_header=False, quote_style="never")
    return buffer.getvalue()
