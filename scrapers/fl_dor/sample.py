"""Sample-data generator: fictional but realistic Florida DOR tax-roll files (NAL and SDF), the
three distress lists (code violations, lis pendens, tax-deed applications) and the parcel
locations (GeoJSON lines, scrapers/fl_dor/sample_locations.py) for a market.

Everything is fictional (owner names, street and subdivision names, banks, case numbers), while
the shape follows a Central-Florida county: a use-code mix led by single-family homes and condos,
parcels grouped into neighbourhoods (NBRHD_CD) and market areas (MKT_AR) in the county's cities
and ZIP codes, values and building eras that cluster by neighbourhood, a sales history with a
price trend and non-arm's-length codes, homestead and absentee owners, estates and trusts, and
distress lists that concentrate on a small share of older, cheaper, absentee-owned parcels.

Output is deterministic: the same (parcels, seed, market) gives byte-identical files whatever the
number of worker processes and whichever markets are generated together. The market's layout
(neighbourhoods, streets) comes from ``SeedSequence(seed, spawn_key=(co_no, 1))`` and chunk k of
``CHUNK_ROWS`` parcels from ``spawn_key=(co_no, 2, k)``; chunks are generated vectorised with
numpy and polars and appended to the files in order, so memory stays bounded by a few chunks.
Files are written under a temporary name in the same folder and renamed when complete.

Conventions of this generator (not DOR definitions): FIDU_CD "1" is a trustee and "2" a
personal representative; trustees share the trust's mailing address, about half the personal
representatives have an address of their own; PARCEL_ID is Orange-style, 15 digits: range,
township, section, subdivision (4), block (2), lot (3); STATE_PAR_ID is "C", CO_NO and
PARCEL_ID.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
import multiprocessing
import os
import sys
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from scrapers.distress_layout import DISTRESS_LAYOUTS
from scrapers.fl_dor.layout import nal_columns, nal_types, sdf_columns

ASMNT_YR = 2026
CHUNK_ROWS = 100_000
"""Parcels per generation chunk. Part of the output's identity: changing it changes the bytes."""

SDF_FIRST_MONTH = (2023, 7)
SDF_LAST_MONTH = (2026, 6)
DISTRESS_LAST_DATE = "2026-10-31"

_M_NOW = SDF_LAST_MONTH[0] * 12 + SDF_LAST_MONTH[1] - 1  # months since year 0, June 2026
_M_SDF_FIRST = SDF_FIRST_MONTH[0] * 12 + SDF_FIRST_MONTH[1] - 1


# --------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class SampleMarket:
    """One market to generate: its code (the output folder), DOR county number and name."""

    code: str
    co_no: int
    county_name: str


@dataclass(frozen=True)
class SampleFiles:
    """Where a market's sample files are (or will be), and how many parcels they hold."""

    market_code: str
    nal: Path
    sdf: Path
    code_violations: Path
    lis_pendens: Path
    tax_deed_applications: Path
    parcel_locations: Path
    parcels: int


def sample_paths(out_dir: Path, market: SampleMarket) -> SampleFiles:
    """The file locations for a market under ``out_dir`` (nothing is written; parcels is 0)."""
    folder = Path(out_dir) / market.code
    return SampleFiles(
        market_code=market.code,
        nal=folder / f"NAL{market.co_no}F{ASMNT_YR}.csv",
        sdf=folder / f"SDF{market.co_no}F{ASMNT_YR}.csv",
        code_violations=folder / "code_violations.csv",
        lis_pendens=folder / "lis_pendens.csv",
        tax_deed_applications=folder / "tax_deed_applications.csv",
        parcel_locations=folder / "parcel_locations.geojsonl",
        parcels=0,
    )


def generate_market(out_dir: Path, market: SampleMarket, parcels: int, seed: int) -> SampleFiles:
    """Generate one market's six files in this process."""
    return generate(out_dir, [market], parcels, seed, workers=1)[0]


@contextmanager
def _workers_skip_main() -> Iterator[None]:
    """While the pool starts its workers, hide the caller's ``__main__`` module: a spawned
    worker otherwise re-runs the caller's main file first, which is wrong for callers that are
    not plain scripts (a notebook, a test runner after Streamlit's AppTest executed a page as
    ``__main__``, an embedding service). The chunk functions live in this module."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def generate(out_dir: Path, markets: Sequence[SampleMarket], parcels: int, seed: int,
             workers: int | None = None) -> list[SampleFiles]:
    """Generate the files of every market; returns them in the order of ``markets``.

    Work is split into (market, chunk) tasks. With ``workers`` above 1 (default: min(2, CPUs,
    markets)) they run in a spawned process pool and this process appends each market's chunks
    in order, so the bytes do not depend on ``workers``. The workers need nothing from the
    caller's ``__main__`` and do not import it (see `_workers_skip_main`).
    """
    if parcels < 1:
        raise ValueError(f"parcels must be at least 1, got {parcels}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    codes = [m.code for m in markets]
    if len(set(codes)) != len(codes):
        raise ValueError(f"market codes must be unique: {codes}")
    for market in markets:
        if not 1 <= market.co_no <= 99:
            raise ValueError(f"{market.code}: co_no must be a DOR county number (1-99), "
                             f"got {market.co_no}")
    if not markets:
        return []
    n_chunks = -(-parcels // CHUNK_ROWS)
    tasks = [(i, k) for i in range(len(markets)) for k in range(n_chunks)]
    if workers is None:
        workers = min(2, os.cpu_count() or 1, len(markets))
    workers = max(1, min(workers, len(tasks)))

    writers = [_MarketWriter(sample_paths(Path(out_dir), m)) for m in markets]
    try:
        if workers == 1:
            for i, k in tasks:
                _store(writers[i], k, n_chunks, _render_chunk(markets[i], parcels, seed, k))
        else:
            context = multiprocessing.get_context("spawn")
            with _workers_skip_main(), concurrent.futures.ProcessPoolExecutor(
                    workers, mp_context=context) as pool:
                window = 2 * workers
                pending: list[tuple[int, int, concurrent.futures.Future[tuple[bytes, ...]]]] = []
                queue = iter(tasks)
                for i, k in queue:
                    pending.append((i, k, pool.submit(_render_chunk, markets[i], parcels, seed, k)))
                    if len(pending) >= window:
                        j, c, future = pending.pop(0)
                        _store(writers[j], c, n_chunks, future.result())
                for j, c, future in pending:
                    _store(writers[j], c, n_chunks, future.result())
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    return [dataclasses.replace(w.files, parcels=parcels) for w in writers]


# --------------------------------------------------------------------------------------------
# Writing


_KINDS = ("nal", "sdf", "code_violations", "lis_pendens", "tax_deed_applications",
          "parcel_locations")


class _MarketWriter:
    """Appends a market's chunks to temporary files and renames them when all are written."""

    def __init__(self, files: SampleFiles) -> None:
        self.files = files
        self._handles: dict[str, io.BufferedWriter] = {}
        self._temps: dict[str, Path] = {}

    def append(self, parts: tuple[bytes, ...]) -> None:
        if not self._handles:
            self.files.nal.parent.mkdir(parents=True, exist_ok=True)
            for kind in _KINDS:
                final: Path = getattr(self.files, kind)
                temp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
                self._temps[kind] = temp
                self._handles[kind] = temp.open("wb")
        for kind, data in zip(_KINDS, parts, strict=True):
            self._handles[kind].write(data)

    def finish(self) -> None:
        for handle in self._handles.values():
            handle.close()
        for kind in _KINDS:
            os.replace(self._temps[kind], getattr(self.files, kind))
        self._handles.clear()
        self._temps.clear()

    def abort(self) -> None:
        for handle in self._handles.values():
            handle.close()
        for temp in self._temps.values():
            temp.unlink(missing_ok=True)
        self._handles.clear()
        self._temps.clear()


def _store(writer: _MarketWriter, k: int, n_chunks: int, parts: tuple[bytes, ...]) -> None:
    writer.append(parts)
    if k == n_chunks - 1:
        writer.finish()


def _render_chunk(market: SampleMarket, parcels: int, seed: int, k: int) -> tuple[bytes, ...]:
    """The bytes of chunk k of every file of a market (CSV headers with chunk 0 only)."""
    from scrapers.fl_dor.sample_locations import locations_chunk

    plan = _plan(market, parcels, seed)
    frames = _chunk_frames(plan, k)
    out = []
    for kind, frame in zip(_KINDS[:-1], frames, strict=True):
        buffer = io.BytesIO()
        frame.write_csv(buffer, include_header=(k == 0),
                        float_precision=2 if kind not in ("nal", "sdf") else None)
        out.append(buffer.getvalue())
    out.append(locations_chunk(plan, k, k * CHUNK_ROWS, frames[0]["PARCEL_ID"],
                               frames[0]["DOR_UC"]))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Reference tables (fictional names; real county city names and ZIP codes)


@dataclass(frozen=True)
class _County:
    name: str
    fips: int
    twn: tuple[int, int]
    rng: tuple[int, int]
    cities: tuple[tuple[str, float, tuple[str, ...]], ...]  # (city, weight, ZIP codes)


_COUNTIES: dict[int, _County] = {
    58: _County("ORANGE", 95, (20, 24), (27, 33), (
        ("ORLANDO", 0.55, ("32801", "32803", "32804", "32805", "32806", "32807", "32808",
                           "32809", "32810", "32811", "32812", "32814", "32817", "32818",
                           "32819", "32822", "32824", "32825", "32826", "32827", "32828",
                           "32829", "32832", "32835", "32836", "32837", "32839")),
        ("APOPKA", 0.09, ("32703", "32712")),
        ("WINTER GARDEN", 0.08, ("34787",)),
        ("WINTER PARK", 0.06, ("32789", "32792")),
        ("OCOEE", 0.05, ("34761",)),
        ("WINDERMERE", 0.04, ("34786",)),
        ("MAITLAND", 0.03, ("32751",)),
        ("BELLE ISLE", 0.02, ("32809", "32812")),
        ("CHRISTMAS", 0.02, ("32709",)),
        ("EDGEWOOD", 0.01, ("32839",)),
        ("OAKLAND", 0.01, ("34760",)),
        ("ZELLWOOD", 0.01, ("32798",)),
        ("GOTHA", 0.01, ("34734",)),
        ("EATONVILLE", 0.01, ("32751",)),
    )),
    69: _County("SEMINOLE", 117, (19, 21), (29, 32), (
        ("SANFORD", 0.22, ("32771", "32773")),
        ("ALTAMONTE SPRINGS", 0.15, ("32701", "32714")),
        ("OVIEDO", 0.14, ("32765", "32766")),
        ("WINTER SPRINGS", 0.12, ("32708",)),
        ("LONGWOOD", 0.10, ("32750", "32779")),
        ("LAKE MARY", 0.09, ("32746",)),
        ("CASSELBERRY", 0.08, ("32707",)),
        ("FERN PARK", 0.03, ("32730",)),
        ("CHULUOTA", 0.03, ("32766",)),
        ("GENEVA", 0.02, ("32732",)),
    )),
    59: _County("OSCEOLA", 97, (24, 33), (28, 33), (
        ("KISSIMMEE", 0.55, ("34741", "34743", "34744", "34746", "34747", "34758", "34759")),
        ("ST CLOUD", 0.28, ("34769", "34771", "34772", "34773")),
        ("POINCIANA", 0.08, ("34759",)),
        ("CELEBRATION", 0.05, ("34747",)),
        ("HARMONY", 0.02, ("34773",)),
        ("INTERCESSION CITY", 0.02, ("33848",)),
    )),
    45: _County("LAKE", 69, (17, 24), (23, 27), (
        ("CLERMONT", 0.22, ("34711", "34714", "34715")),
        ("LEESBURG", 0.14, ("34748", "34788")),
        ("EUSTIS", 0.09, ("32726",)),
        ("MOUNT DORA", 0.09, ("32757",)),
        ("TAVARES", 0.08, ("32778",)),
        ("GROVELAND", 0.08, ("34736",)),
        ("LADY LAKE", 0.07, ("32159", "32162")),
        ("MINNEOLA", 0.05, ("34715",)),
        ("FRUITLAND PARK", 0.04, ("34731",)),
        ("UMATILLA", 0.03, ("32784",)),
        ("MASCOTTE", 0.03, ("34753",)),
        ("MONTVERDE", 0.02, ("34756",)),
        ("SORRENTO", 0.02, ("32776",)),
        ("ALTOONA", 0.01, ("32702",)),
        ("HOWEY IN THE HILLS", 0.01, ("34737",)),
        ("ASTATULA", 0.01, ("34705",)),
    )),
    74: _County("VOLUSIA", 127, (14, 20), (28, 34), (
        ("DAYTONA BEACH", 0.20, ("32114", "32117", "32118", "32119", "32124")),
        ("DELTONA", 0.20, ("32725", "32738")),
        ("DELAND", 0.12, ("32720", "32724")),
        ("PORT ORANGE", 0.11, ("32127", "32128", "32129")),
        ("ORMOND BEACH", 0.10, ("32174", "32176")),
        ("NEW SMYRNA BEACH", 0.07, ("32168", "32169")),
        ("EDGEWATER", 0.05, ("32132", "32141")),
        ("DEBARY", 0.04, ("32713",)),
        ("ORANGE CITY", 0.03, ("32763",)),
        ("HOLLY HILL", 0.03, ("32117",)),
        ("SOUTH DAYTONA", 0.02, ("32119",)),
        ("LAKE HELEN", 0.01, ("32744",)),
        ("PIERSON", 0.01, ("32180",)),
        ("OAK HILL", 0.01, ("32759",)),
    )),
}


def _county(market: SampleMarket) -> _County:
    """The county's table, or a generic one built from the county name and number."""
    known = _COUNTIES.get(market.co_no)
    if known is not None:
        return known
    name = "".join(c for c in market.county_name.upper() if c.isascii()) or f"COUNTY {market.co_no}"
    # DOR numbers run alphabetically from 11 like the FIPS codes (odd, from 001); Dade is 086.
    fips = 86 if market.co_no == 23 else max(1, 2 * (market.co_no - 10) - 1)
    base = 32000 + (market.co_no * 37) % 2900
    cities = tuple(
        (city, weight, tuple(f"{base + 10 * i + z:05d}" for z in range(zips)))
        for i, (city, weight, zips) in enumerate((
            (name, 0.5, 4), (f"NORTH {name}", 0.2, 2), (f"{name} SPRINGS", 0.15, 2),
            (f"LAKE {name}", 0.15, 1)))
    )
    return _County(name, fips, (20, 24), (25, 30), cities)


_OTHER_FL = (  # (city, state, ZIP) for owners elsewhere in Florida
    ("TAMPA", "FL", "33606"), ("MIAMI", "FL", "33131"), ("JACKSONVILLE", "FL", "32207"),
    ("FORT LAUDERDALE", "FL", "33301"), ("SARASOTA", "FL", "34236"), ("GAINESVILLE", "FL", "32601"),
    ("TALLAHASSEE", "FL", "32301"), ("BOCA RATON", "FL", "33432"), ("NAPLES", "FL", "34102"),
    ("OCALA", "FL", "34471"), ("MELBOURNE", "FL", "32901"), ("LAKELAND", "FL", "33801"),
    ("ST PETERSBURG", "FL", "33701"), ("PALM BAY", "FL", "32905"), ("CLEARWATER", "FL", "33755"),
)
_OUT_OF_STATE = (
    ("ATLANTA", "GA", "30318"), ("NEW YORK", "NY", "10023"), ("BROOKLYN", "NY", "11215"),
    ("CHICAGO", "IL", "60614"), ("CHARLOTTE", "NC", "28203"), ("BOSTON", "MA", "02116"),
    ("NEWARK", "NJ", "07102"), ("PHILADELPHIA", "PA", "19103"), ("COLUMBUS", "OH", "43215"),
    ("DALLAS", "TX", "75201"), ("HOUSTON", "TX", "77002"), ("LOS ANGELES", "CA", "90012"),
    ("NASHVILLE", "TN", "37203"), ("RICHMOND", "VA", "23219"), ("DETROIT", "MI", "48226"),
    ("DENVER", "CO", "80202"), ("PHOENIX", "AZ", "85004"), ("SEATTLE", "WA", "98101"),
    ("BALTIMORE", "MD", "21202"), ("HARTFORD", "CT", "06103"), ("INDIANAPOLIS", "IN", "46204"),
    ("SAVANNAH", "GA", "31401"), ("RALEIGH", "NC", "27601"), ("PITTSBURGH", "PA", "15222"),
)
_FOREIGN = (  # (city, country, postal code, a fictional street)
    ("TORONTO", "CANADA", "M5V 2T6", "KINGSWOOD CRES"),
    ("MONTREAL", "CANADA", "H3B 1A7", "RUE DES ERABLIERES"),
    ("LONDON", "UNITED KINGDOM", "SW1A 1AA", "ASHWICK GARDENS"),
    ("SAO PAULO", "BRAZIL", "01310-100", "RUA DAS PALMEIRAS ALTAS"),
    ("BOGOTA", "COLOMBIA", "110111", "CALLE 185 SUR"),
    ("MUNICH", "GERMANY", "80331", "LINDENHOFSTRASSE"),
    ("MEXICO CITY", "MEXICO", "06600", "CALLE DE LOS OLIVARES"),
)

_FIRST = (
    "JAMES", "MARY", "ROBERT", "PATRICIA", "JOHN", "JENNIFER", "MICHAEL", "LINDA", "DAVID",
    "ELIZABETH", "WILLIAM", "BARBARA", "RICHARD", "SUSAN", "JOSEPH", "JESSICA", "THOMAS",
    "KAREN", "CHARLES", "SARAH", "CARLOS", "MARIA", "JOSE", "ANA", "LUIS", "CARMEN", "DANIEL",
    "NANCY", "MARK", "LISA", "PAUL", "BETTY", "STEVEN", "SANDRA", "ANDREW", "ASHLEY", "KEVIN",
    "DONNA", "BRIAN", "CAROL", "GEORGE", "MICHELLE", "EDWARD", "DOROTHY", "RONALD", "AMANDA",
    "TIMOTHY", "MELISSA", "JASON", "DEBORAH", "JEFFREY", "STEPHANIE", "RYAN", "REBECCA",
    "GARY", "SHARON", "NICHOLAS", "LAURA", "ERIC", "CYNTHIA", "JORGE", "YOLANDA", "ANDRE",
    "LATOYA", "KEISHA", "DARNELL", "HOANG", "PRIYA", "RAJESH", "MEI", "FRANCOIS", "GERALD",
)
_MIDDLE = tuple(f" {c}" for c in "ABCDEFGHJKLMNPRSTW") + ("",) * 8
_SURNAME_A = (
    "ABER", "ALDER", "AMBRO", "ASHWIN", "BALTER", "BRAX", "BRENNE", "CALLO", "CARRIN", "CORVEL",
    "DALVER", "DRAVEN", "ELDRI", "ELLSMER", "FARNA", "FENNI", "GALVER", "GORMAL", "HADDLE",
    "HALVER", "HOLLIN", "IVERS", "JESSAM", "KELMER", "KIRBEL", "LAMBRI", "LORRIN", "MALVERN",
    "MERRIN", "MORLAN", "NESBER", "NORLIN", "OAKLER", "ORMSBY", "PELLAM", "PRESCOR", "QUILLON",
    "RADNEL", "ROWAN", "SALTER", "SHELDER", "STAVEN", "TALLIS", "THACKER", "TREMAL", "UPSHER",
    "VANCEL", "VESPER", "WALDRE", "WHITLER", "WINSEL", "YARDLE", "ZELLAR", "SMITH",
)
_SURNAME_B = (
    "ACRE", "BERG", "BOURNE", "BRIDGE", "BY", "COMBE", "DALE", "DEN", "FIELD", "FORD", "GATE",
    "HAM", "HOLT", "LAND", "LEY", "MAN", "MERE", "MONT", "MORE", "OW", "RIDGE", "SEN", "STON",
    "TON", "WELL", "WICK", "WORTH",
)
_STREET_A = (
    "AMBER", "BRIAR", "CEDAR", "COPPER", "DOVE", "EMBER", "FALCON", "FERN", "GLEN", "HAWK",
    "HERON", "IVY", "JUNIPER", "LARK", "LAUREL", "MAPLE", "MOSS", "OSPREY", "PALM", "PINE",
    "QUAIL", "RAVEN", "SAGE", "SPARROW", "TIMBER", "WILLOW", "WREN", "BIRCH", "CYPRESS",
    "EGRET", "FOX", "GULL", "HICKORY", "IBIS", "KESTREL", "LINDEN", "MAGNOLIA", "NUTMEG",
    "ORCHID", "PELICAN", "QUILLON", "ROSE", "SABLE", "TANSY", "VERBENA", "WHISPER", "YARROW",
    "AZALEA",
)
_STREET_B = (
    "BROOK", "CREST", "FALL", "FIELD", "GATE", "HAVEN", "HOLLOW", "MEAD", "MERE", "MOOR",
    "RUN", "SHIRE", "STONE", "VALE", "WATER", "WOOD", "WYCK", "BEND", "CLIFF", "DALE", "FORD",
    "GLADE", "HURST", "LEIGH", "MONT", "POINT", "SIDE", "TON",
)
_STREET_MID = ("", " RIDGE", " OAKS", " LAKE", " GROVE", " HILL", " POINTE", " PARK")
_STREET_TYPE = (
    " DR", " LN", " CT", " WAY", " AVE", " ST", " RD", " TRL", " CIR", " PL", " LOOP", " BLVD",
    " TER", " PKWY", " RUN", " COVE",
)
_SUBD_SUFFIX = (
    " ESTATES", " OAKS", " HEIGHTS", " VILLAS", " RESERVE", " PARK", " LANDING", " CROSSING",
    " HAMMOCK", " GROVE", " SHORES", " POINTE", " TRAILS", " PRESERVE", " WOODS", " MANOR",
    " ADDITION", " SUBDIVISION", " ISLE", " COMMONS",
)
_BUSINESS_KIND = (
    " HOLDINGS", " PROPERTIES", " INVESTMENTS", " CAPITAL", " HOMES", " REALTY", " VENTURES",
    " ASSET MANAGEMENT", " RENTALS", " EQUITIES", " LAND TRUST", " DEVELOPMENT", " GROUP",
)
_BANKS = (
    "PELICAN HARBOR BANK NA", "CORALVIEW MORTGAGE SERVICING LLC",
    "TRIDENT CREST LOAN SERVICING LLC", "MANGROVE FEDERAL SAVINGS BANK",
    "GULFWATER NATIONAL BANK", "BLOSSOMGATE HOME LOANS LLC", "HERONFIELD BANK AND TRUST",
    "LAKEMOOR CAPITAL MORTGAGE LLC", "SABLEPOINT MORTGAGE TRUST 2019-2",
    "QUILLON FINANCIAL SERVICES INC",
)
_VIOLATIONS = (
    ("OVERGROWN LOT", 0.22), ("TRASH AND DEBRIS", 0.14), ("JUNK VEHICLE", 0.10),
    ("UNSECURED STRUCTURE", 0.09), ("ROOF DAMAGE", 0.08), ("POOL NOT MAINTAINED", 0.07),
    ("EXTERIOR DISREPAIR", 0.10), ("BOARDED WINDOWS", 0.05), ("UNPERMITTED CONSTRUCTION", 0.08),
    ("ACCUMULATION OF JUNK", 0.07),
)
_LP_TYPES = (
    ("LIS PENDENS - MORTGAGE FORECLOSURE", 0.78),
    ("LIS PENDENS - HOA LIEN FORECLOSURE", 0.13),
    ("LIS PENDENS - CONDO ASSN LIEN FORECLOSURE", 0.04),
    ("LIS PENDENS - CODE LIEN FORECLOSURE", 0.02),
    ("LIS PENDENS", 0.03),
)

# Use codes (DOR_UC) and their classes
_UC = ("000", "001", "002", "003", "004", "005", "008", "010", "011", "012", "017", "021", "027",
       "048", "071", "086")
_VAC_RES, _SFR, _MH, _MF10, _CONDO, _MF, _VAC_COM, _COM, _INST, _GOV = range(10)
_UC_CLASS = np.array([_VAC_RES, _SFR, _MH, _MF10, _CONDO, _CONDO, _MF, _VAC_COM, _COM, _COM, _COM,
                      _COM, _COM, _COM, _INST, _GOV])
_UC_STRATUM = ("1", "1", "2", "3", "1", "1", "1", "4", "4", "4", "4", "4", "4", "5", "7", "8")
#                   vac   sfr   mh   mf10  condo  mf   vcom   com  inst   gov
_CLS_AREA = np.array([0.0, 1.0, 0.62, 14.0, 0.60, 1.45, 0.0, 3.5, 4.0, 3.0])
_CLS_AREA_SD = np.array([0.0, 0.22, 0.15, 0.5, 0.25, 0.2, 0.0, 0.7, 0.5, 0.6])
_CLS_PPSF = np.array([0.0, 1.0, 0.5, 0.62, 0.9, 0.8, 0.0, 0.85, 0.55, 0.5])
_CLS_LOT = np.array([1.0, 1.0, 0.6, 8.0, 0.0, 1.3, 2.5, 3.0, 4.0, 5.0])
_CLS_IMPROVED = np.array([False, True, True, True, True, True, False, True, True, True])
_CLS_RESIDENTIAL = np.array([True, True, True, True, True, True, False, False, False, False])
_CLS_DISTRESS = np.array([True, True, True, False, True, True, False, False, False, False])

# Neighbourhood types and their use-code mix (columns in _UC order)
_NB_SFR, _NB_CONDO, _NB_MOBILE, _NB_MIXED = range(4)
_NB_TYPE_WEIGHTS = (0.62, 0.13, 0.07, 0.18)
_NB_UC_MIX = np.array([  # per mille
    # 000  001  002  003  004  005  008  010  011  012  017  021  027  048  071  086
    [85, 855, 8, 0, 8, 0, 15, 4, 4, 2, 3, 1, 0, 0, 5, 3],                 # single-family
    [5, 30, 0, 0, 920, 25, 0, 0, 10, 0, 10, 0, 0, 0, 0, 0],               # condominium
    [120, 140, 730, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 5, 0],               # mobile-home park
    [60, 460, 10, 30, 80, 5, 100, 40, 65, 20, 45, 20, 15, 30, 10, 10],    # urban mixed
], dtype=float)
_NB_UC_P = _NB_UC_MIX / _NB_UC_MIX.sum(axis=1, keepdims=True)

# Owner types
_IND, _COUPLE, _LLC, _INC, _TRUST, _ESTATE, _BANK, _GOVT, _HOA = range(9)
# Occupancy: homestead, owner-occupied without homestead, absentee
_HOMESTEAD, _OWNER_OCC, _ABSENTEE = range(3)
# Mailing place: the property, local (in county), elsewhere in Florida, other state, abroad
_AT_PROPERTY, _LOCAL, _FLORIDA, _OTHER_STATE, _ABROAD = range(5)

# Qualification codes of sales and their shares; price factor ranges for non-arm's-length codes
_QUAL = ("01", "02", "05", "11", "12", "19", "30", "38")
_QUAL_P = np.array([0.82, 0.055, 0.024, 0.035, 0.02, 0.008, 0.03, 0.008])
_QUAL_LOW = np.array([1.0, 1.0, 1.0, 0.30, 0.55, 0.50, 0.30, 0.50])
_QUAL_HIGH = np.array([1.0, 1.0, 1.0, 0.75, 0.85, 0.90, 0.80, 0.80])
_QUAL_NOMINAL = np.array([0.0, 0.0, 0.0, 0.35, 0.0, 0.0, 0.30, 0.0])

# Price index by year (1.0 = mid 2026): Central-Florida shape, boom, bust, 2020s run-up
_INDEX_YEARS = np.array([1950, 1960, 1970, 1980, 1990, 2000, 2003, 2006, 2009, 2011, 2013, 2016,
                         2019, 2020, 2021, 2022, 2023, 2024, 2025, 2026.5])
_INDEX_VALUES = np.array([0.03, 0.05, 0.09, 0.19, 0.29, 0.37, 0.47, 0.80, 0.52, 0.42, 0.48, 0.58,
                          0.66, 0.70, 0.82, 0.97, 1.00, 1.02, 1.01, 1.00])


def _price_index(months: np.ndarray) -> np.ndarray:
    years = months / 12.0 + 1.0 / 24.0
    return np.interp(years, _INDEX_YEARS, _INDEX_VALUES)


# --------------------------------------------------------------------------------------------
# Small vectorised helpers


def _strings(values: Sequence[str]) -> pl.Series:
    return pl.Series(list(values), dtype=pl.String)


def _take(values: pl.Series, idx: np.ndarray) -> pl.Series:
    return values.gather(idx.astype(np.int64, copy=False))


def _pick(rng: np.random.Generator, n: int, weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """n indices drawn with the given weights."""
    cum = np.cumsum(np.asarray(weights, dtype=float))
    cum /= cum[-1]
    return np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(cum) - 1)


def _allocate(n: int, weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """n category indices in the exact proportions of ``weights`` (largest remainders)."""
    share = np.asarray(weights, dtype=float)
    share = share / share.sum() * n
    counts = np.floor(share).astype(np.int64)
    counts[np.argsort(counts - share, kind="stable")[: n - counts.sum()]] += 1
    return np.repeat(np.arange(len(counts)), counts)


def _pick_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One index per row of ``probs`` (rows sum to 1)."""
    cum = np.cumsum(probs, axis=1)
    return np.minimum((rng.random(len(probs))[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)


def _digits(values: np.ndarray, width: int) -> pl.Series:
    return pl.Series(values.astype(np.int64, copy=False)).cast(pl.String).str.zfill(width)


def _unique_code(index: np.ndarray, width: int, salt: int) -> np.ndarray:
    """A bijection of [0, 10**width) that scatters sequential indices: distinct in, distinct out."""
    modulus = 10**width
    return (index.astype(np.int64) * 7_919_683 + salt) % modulus


def _choose(flags: np.ndarray, if_false: str, if_true: str) -> pl.Series:
    """if_true where flags is set, else if_false (faster than a numpy string array)."""
    return _take(_strings((if_false, if_true)), flags.astype(np.int64))


def _opt(values: np.ndarray, valid: np.ndarray) -> pl.Series:
    """An Int64 Series that is null where ``valid`` is False."""
    return _when(valid, pl.Series(values, dtype=pl.Int64))


def _when(valid: np.ndarray, series: pl.Series) -> pl.Series:
    """``series`` with nulls where ``valid`` is False."""
    return series.clone().set(pl.Series(~valid), None)


def _nulls(n: int, dtype: type[pl.DataType]) -> pl.Series:
    return pl.select(pl.repeat(None, n, dtype=dtype)).to_series()


def _names_from_combo(combo: np.ndarray, parts: Sequence[Sequence[str]]) -> pl.Series:
    """Concatenate one element of each part list, chosen by the mixed-radix digits of combo."""
    pieces = []
    rest = combo.astype(np.int64)
    for part in parts:
        pieces.append(_take(_strings(part), rest % len(part)))
        rest = rest // len(part)
    frame = pl.DataFrame({f"p{i}": p for i, p in enumerate(pieces)})
    return frame.select(pl.concat_str(pl.all()).alias("name")).to_series()


# --------------------------------------------------------------------------------------------
# Market plan: neighbourhoods, market areas, streets


@dataclass(frozen=True)
class _Plan:
    market: SampleMarket
    county: _County
    parcels: int
    seed: int
    nb_start: np.ndarray          # first parcel row of each neighbourhood, plus the total
    nb: dict[str, np.ndarray]     # numeric attributes per neighbourhood
    nb_text: pl.DataFrame         # string attributes per neighbourhood
    streets: pl.Series            # every street name of the market
    cities: pl.DataFrame          # county cities: city, zip (one row per city/ZIP pair)
    places: pl.DataFrame          # mailing places elsewhere: city, state, zip, dom, street
    place_ranges: dict[int, tuple[int, int]]
    case_width: int


@lru_cache(maxsize=8)
def _plan(market: SampleMarket, parcels: int, seed: int) -> _Plan:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(market.co_no, 1)))
    county = _county(market)

    # Neighbourhood sizes (300-800, scaled to sum to parcels) and market areas (15-30 each)
    n_nb = max(1, round(parcels / 550))
    sizes = rng.uniform(300, 800, n_nb)
    sizes = np.floor(sizes * parcels / sizes.sum()).astype(np.int64)
    sizes[: parcels - sizes.sum()] += 1
    n_ma = max(1, round(n_nb / 22))
    ma_of_nb = _allocate(n_nb, rng.uniform(15, 30, n_ma))
    within_ma = np.arange(n_nb) - np.searchsorted(ma_of_nb, ma_of_nb, side="left")

    # Market areas: a city, a township/range, a price level
    city_weights = np.array([c[1] for c in county.cities])
    ma_city = _pick(rng, n_ma, city_weights)
    ma_twn = rng.integers(county.twn[0], county.twn[1] + 1, n_ma)
    ma_rng = rng.integers(county.rng[0], county.rng[1] + 1, n_ma)
    ma_level = rng.lognormal(0.0, 0.18, n_ma)
    ma_tract = rng.integers(100, 1900, n_ma) * 100

    # Neighbourhoods
    nb_type = rng.permutation(_allocate(n_nb, _NB_TYPE_WEIGHTS))
    city = ma_city[ma_of_nb]
    zip_count = np.array([len(c[2]) for c in county.cities])
    zip_pick = rng.integers(0, 1 << 30, n_nb) % zip_count[city]
    zip_offset = np.concatenate([[0], np.cumsum(zip_count)[:-1]])
    city_zip_row = zip_offset[city] + zip_pick

    era_bucket = np.where(
        nb_type == _NB_SFR, _pick(rng, n_nb, (0.18, 0.30, 0.32, 0.20)),
        np.where(nb_type == _NB_MIXED, _pick(rng, n_nb, (0.50, 0.35, 0.10, 0.05)),
                 np.where(nb_type == _NB_CONDO, _pick(rng, n_nb, (0.02, 0.40, 0.38, 0.20)),
                          _pick(rng, n_nb, (0.05, 0.65, 0.30, 0.0)))))
    era_lo = np.array([1922, 1962, 1990, 2010])[era_bucket]
    era_hi = np.array([1962, 1990, 2010, 2025])[era_bucket]
    era = rng.uniform(era_lo, era_hi)
    era_sd = np.where(era_bucket == 0, rng.uniform(6, 12, n_nb), rng.uniform(2, 6, n_nb))

    ppsf = 215.0 * ma_level[ma_of_nb] * rng.lognormal(0.0, 0.24, n_nb)
    ppsf *= np.array([0.92, 1.0, 1.03, 1.10])[era_bucket]
    ppsf = np.clip(ppsf, 110, 560)
    rank = np.empty(n_nb)
    rank[np.argsort(ppsf, kind="stable")] = (np.arange(n_nb) + 0.5) / n_nb

    area = np.array([1350, 1650, 2000, 2250])[era_bucket] * rng.lognormal(0, 0.12, n_nb)
    area *= 0.85 + 0.3 * rank
    rural = (nb_type == _NB_SFR) & (rng.random(n_nb) < 0.08)
    lot = np.array([7200, 9500, 8500, 6200])[era_bucket] * rng.lognormal(0, 0.25, n_nb)
    lot = np.where(rural, rng.uniform(40_000, 200_000, n_nb), lot)
    lot = np.where(nb_type == _NB_MOBILE, lot * 0.6, lot)
    land_share = np.clip(rng.normal(0.27, 0.06, n_nb) + np.where(era_bucket == 0, 0.06, 0.0),
                         0.12, 0.5)
    land_psf = ppsf * area * land_share / lot
    land_psf = np.where(rural, land_psf * 0.35, land_psf)
    turnover = rng.uniform(0.03, 0.06, n_nb) * np.where(nb_type == _NB_CONDO, 1.2, 1.0)
    quality = 1.8 + 2.6 * rank + rng.normal(0, 0.25, n_nb)
    p_distress = 0.012 + 0.13 * (1 - rank) ** 2
    assess = rng.uniform(0.84, 0.92, n_nb)
    highrise = (nb_type == _NB_CONDO) & (rng.random(n_nb) < 0.35)

    per_street = rng.integers(24, 61, n_nb)
    n_streets = -(-sizes // per_street)
    street_first = np.concatenate([[0], np.cumsum(n_streets)[:-1]])
    house_base = rng.integers(1, 150, n_nb) * 100
    lots_per_block = rng.integers(12, 41, n_nb)
    plat_book = rng.integers(1, 130, n_nb)
    plat_page = rng.integers(1, 150, n_nb)
    block_base = rng.integers(1000, 4000, n_nb)

    # Unique (section, subdivision) per neighbourhood makes every PARCEL_ID unique
    space = 36 * 9000
    if n_nb > space:
        raise ValueError(f"too many parcels for one market: {parcels}")
    key = rng.choice(space, size=n_nb, replace=False)
    sec = key // 9000 + 1
    subd = key % 9000 + 1000

    total_streets = int(n_streets.sum())
    street_parts = (_STREET_A, _STREET_B, _STREET_MID, _STREET_TYPE)
    combos = int(np.prod([len(p) for p in street_parts]))
    street_combo = (np.arange(total_streets, dtype=np.int64) * 15_485_863
                    + int(rng.integers(0, combos))) % combos
    streets = _names_from_combo(street_combo, street_parts)

    subd_parts = (_STREET_A, _STREET_B, _SUBD_SUFFIX)
    subd_combos = int(np.prod([len(p) for p in subd_parts]))
    subd_combo = (np.arange(n_nb, dtype=np.int64) * 104_729
                  + int(rng.integers(0, subd_combos))) % subd_combos
    subd_name = _names_from_combo(subd_combo, subd_parts)
    subd_name = pl.select(
        pl.when(pl.lit(pl.Series(nb_type == _NB_CONDO)))
        .then(pl.lit(subd_name).str.replace(r" [A-Z]+$", " CONDO"))
        .otherwise(pl.lit(subd_name))
    ).to_series()

    ma_width = max(3, len(str(n_ma)))
    ma_code = _digits(ma_of_nb + 1, ma_width)
    nb_text = pl.DataFrame({
        "mkt_ar": ma_code,
        "nbhd_cd": pl.select(pl.concat_str([pl.lit(ma_code), pl.lit(_digits(within_ma + 1, 2))]))
        .to_series(),
        "twn": _digits(ma_twn[ma_of_nb], 2),
        "rng": _digits(ma_rng[ma_of_nb], 2),
        "sec": _digits(sec, 2),
        "subd": _digits(subd, 4),
        "subd_name": subd_name,
        "plat": pl.select(pl.format("{}/{}", pl.lit(pl.Series(plat_book)),
                                    pl.lit(pl.Series(plat_page)))).to_series(),
        "tract": _digits(ma_tract[ma_of_nb] + rng.integers(0, 40, n_nb), 6),
        "city_zip_row": pl.Series(city_zip_row),
        "tax_auth": _digits(city * 100 + 1, 4),
    })
    nb = {
        "type": nb_type, "era": era, "era_sd": era_sd, "era_bucket": era_bucket, "ppsf": ppsf,
        "rank": rank, "area": area, "lot": lot, "land_share": land_share, "land_psf": land_psf,
        "turnover": turnover, "quality": quality, "p_distress": p_distress, "assess": assess,
        "highrise": highrise, "per_street": per_street, "street_first": street_first,
        "house_base": house_base, "lots_per_block": lots_per_block, "block_base": block_base,
        "city": city, "rural": rural,
    }

    # Sort neighbourhoods by their PARCEL_ID prefix so the roll is in parcel-id order
    prefix = pl.select(pl.concat_str([pl.lit(nb_text[c]) for c in ("rng", "twn", "sec", "subd")]))
    order = np.argsort(prefix.to_series().to_numpy().astype(str), kind="stable")
    nb = {name: values[order] for name, values in nb.items()}
    nb_text = nb_text[order]
    sizes = sizes[order]
    nb_start = np.concatenate([[0], np.cumsum(sizes)])

    cities = pl.DataFrame({
        "city": [c[0] for c in county.cities for _ in c[2]],
        "zip": [z for c in county.cities for z in c[2]],
        "city_idx": [i for i, c in enumerate(county.cities) for _ in c[2]],
    })
    own_cities = {c[0] for c in county.cities}
    other_fl = [p for p in _OTHER_FL if p[0] not in own_cities]
    places = pl.DataFrame(
        [(c, s, z, s, None) for c, s, z in other_fl]
        + [(c, s, z, s, None) for c, s, z in _OUT_OF_STATE]
        + [(c, s, z, None, f" {street}") for c, s, z, street in _FOREIGN],
        schema={"city": pl.String, "state": pl.String, "zip": pl.String, "dom": pl.String,
                "street": pl.String},
        orient="row",
    )
    n_fl, n_os = len(other_fl), len(_OUT_OF_STATE)
    place_ranges = {_FLORIDA: (0, n_fl), _OTHER_STATE: (n_fl, n_fl + n_os),
                    _ABROAD: (n_fl + n_os, n_fl + n_os + len(_FOREIGN))}
    return _Plan(
        market=market, county=county, parcels=parcels, seed=seed, nb_start=nb_start, nb=nb,
        nb_text=nb_text, streets=streets, cities=cities, places=places,
        place_ranges=place_ranges, case_width=max(6, len(str(4 * parcels))),
    )


# --------------------------------------------------------------------------------------------
# One chunk of parcels


def _chunk_frames(plan: _Plan, k: int) -> tuple[pl.DataFrame, ...]:
    """NAL, SDF and distress frames for parcel rows [k*CHUNK_ROWS, (k+1)*CHUNK_ROWS)."""
    lo = k * CHUNK_ROWS
    hi = min(plan.parcels, lo + CHUNK_ROWS)
    n = hi - lo
    rng = np.random.default_rng(np.random.SeedSequence(plan.seed,
                                                       spawn_key=(plan.market.co_no, 2, k)))
    g = np.arange(lo, hi, dtype=np.int64)
    nbi = np.searchsorted(plan.nb_start, g, side="right") - 1
    j = g - plan.nb_start[nbi]
    nb = {name: values[nbi] for name, values in plan.nb.items()}
    text = plan.nb_text[nbi]

    # Use code and class -----------------------------------------------------------------
    uc = _pick_rows(rng, _NB_UC_P[nb["type"]])
    cls = _UC_CLASS[uc]
    improved = _CLS_IMPROVED[cls]
    residential = _CLS_RESIDENTIAL[cls]

    # Building ---------------------------------------------------------------------------
    act = nb["era"] + rng.normal(0, 1, n) * nb["era_sd"]
    infill = rng.random(n) < 0.07
    act = np.where(infill, rng.uniform(nb["era"], 2025.99), act)
    act = np.clip(np.floor(act), 1905, 2025).astype(np.int64)
    age_factor = np.where(improved, np.clip((2005 - act) / 50.0, 0, 1), 0.5)
    distressed = (_CLS_DISTRESS[cls]
                  & (rng.random(n) < nb["p_distress"] * (0.55 + 0.9 * age_factor)))

    renovated = (~distressed) & (act < 1995) & (rng.random(n) < 0.3)
    eff = np.where(renovated, act + rng.uniform(0.3, 0.7, n) * (2025 - act),
                   act + rng.uniform(0, 4, n))
    eff = np.where(distressed, act - rng.uniform(0, 8, n), eff)
    eff = np.clip(np.floor(eff), 1900, 2025).astype(np.int64)

    area = nb["area"] * _CLS_AREA[cls] * np.exp(rng.normal(0, 1, n) * _CLS_AREA_SD[cls])
    area = np.where(improved, np.maximum(np.round(area), 380), 0).astype(np.int64)
    quality = np.clip(np.round(nb["quality"] + rng.normal(0, 0.6, n) - 0.8 * distressed), 1, 6)
    quality = quality.astype(np.int64)
    frame_share = np.where(act < 1960, 0.55, np.where(act < 2000, 0.12, 0.25))
    const = np.where(rng.random(n) < frame_share, 4, 3)
    const = np.where(cls == _CONDO, np.where(nb["highrise"], 2, 3), const)
    const = np.where(cls == _MH, 4, const)
    const = np.where(np.isin(cls, (_COM, _INST, _GOV, _MF10)),
                     np.array([1, 2, 3, 5])[_pick(rng, n, (0.1, 0.35, 0.4, 0.15))], const)
    units = np.select(
        [np.isin(cls, (_SFR, _MH, _CONDO)), cls == _MF, cls == _MF10],
        [1, np.array([2, 2, 3, 4])[rng.integers(0, 4, n)], np.maximum(10, area // 900)], 0)
    buildings = np.where(improved, np.where(cls == _COM, rng.integers(1, 3, n), 1), 0)

    # Land and value ---------------------------------------------------------------------
    lot = nb["lot"] * _CLS_LOT[cls] * rng.lognormal(0, 0.25, n)
    lot = np.round(lot).astype(np.int64)
    ppsf = (nb["ppsf"] * _CLS_PPSF[cls] * (1 + 0.07 * (quality - 3))
            * (1 - 0.0035 * np.clip(2025 - eff, 0, 70)) * rng.lognormal(0, 0.10, n)
            * np.where(distressed, 0.82, 1.0))
    market_value = np.where(
        improved, area * ppsf,
        lot * nb["land_psf"] * rng.lognormal(0, 0.2, n) * np.where(cls == _VAC_COM, 1.8, 1.0))
    market_value = np.maximum(market_value, 2500.0)
    jv = np.round(market_value * nb["assess"]).astype(np.int64)
    land_share = np.clip(nb["land_share"] + rng.normal(0, 0.04, n), 0.08, 0.6)
    land_share = np.where(cls == _CONDO, land_share * 0.35, land_share)
    land_val = np.where(improved, np.round(jv * land_share), jv).astype(np.int64)
    pool = (cls == _SFR) & (rng.random(n) < 0.15 + 0.3 * nb["rank"])
    spec_feat = np.where(pool, rng.integers(9000, 32000, n),
                         np.where(improved & (cls != _CONDO), rng.integers(0, 4000, n), 0))
    spec_feat = np.minimum(spec_feat, (jv - land_val) // 4)
    new_construction = improved & (act == 2025)

    # Occupancy and owner ----------------------------------------------------------------
    occ_probs = np.zeros((n, 3))
    base_occ = {_SFR: (0.52, 0.21, 0.27), _CONDO: (0.38, 0.14, 0.48), _MH: (0.48, 0.16, 0.36),
                _MF: (0.12, 0.08, 0.80)}
    distress_occ = {_SFR: (0.16, 0.14, 0.70), _CONDO: (0.08, 0.10, 0.82), _MH: (0.15, 0.15, 0.70),
                    _MF: (0.05, 0.05, 0.90)}
    occ_probs[:, _ABSENTEE] = 1.0
    for c, probs in base_occ.items():
        mask = cls == c
        occ_probs[mask] = np.where(distressed[mask, None], distress_occ[c], probs)
    occupancy = _pick_rows(rng, occ_probs)

    owner_probs = np.zeros((n, 9))
    owner_probs[:] = (0.40, 0.16, 0.24, 0.04, 0.07, 0.03, 0.02, 0.01, 0.0)        # absentee
    owner_probs[occupancy == _HOMESTEAD] = (0.50, 0.40, 0, 0, 0.09, 0.01, 0, 0, 0)
    owner_probs[occupancy == _OWNER_OCC] = (0.55, 0.25, 0.02, 0, 0.08, 0.10, 0, 0, 0)
    absentee_distressed = (occupancy == _ABSENTEE) & distressed
    owner_probs[absentee_distressed] = (0.40, 0.08, 0.10, 0.01, 0.10, 0.27, 0.04, 0, 0)
    owner_probs[cls == _VAC_RES] = (0.40, 0.12, 0.25, 0.05, 0.06, 0.03, 0, 0.03, 0.06)
    owner_probs[np.isin(cls, (_COM, _VAC_COM, _MF10))] = (0.08, 0.03, 0.50, 0.25, 0.05, 0.02,
                                                          0.01, 0.06, 0)
    owner_probs[cls == _INST] = (0, 0, 0.1, 0.9, 0, 0, 0, 0, 0)
    owner_probs[cls == _GOV] = (0, 0, 0, 0, 0, 0, 0, 1.0, 0)
    owner = _pick_rows(rng, owner_probs)
    occupancy = np.where(np.isin(owner, (_LLC, _INC, _BANK, _GOVT, _HOA)), _ABSENTEE, occupancy)
    homestead = occupancy == _HOMESTEAD

    place_probs = np.where(distressed[:, None], (0.50, 0.20, 0.27, 0.03),
                           (0.63, 0.20, 0.15, 0.02))
    place = 1 + _pick_rows(rng, place_probs)
    place = np.where(owner == _BANK, _OTHER_STATE, place)
    place = np.where(np.isin(owner, (_GOVT, _HOA)), _LOCAL, place)
    # Estates without a fiduciary keep the decedent's address; absentee ones mail elsewhere
    place = np.where(occupancy == _ABSENTEE, place, _AT_PROPERTY)

    # Sales ------------------------------------------------------------------------------
    rate = nb["turnover"] * np.select(
        [owner == _LLC, owner == _INC, owner == _ESTATE, owner == _TRUST, owner == _GOVT],
        [1.8, 1.2, 0.45, 0.7, 0.3], 1.0)
    rate = rate * np.where(distressed, 0.55, 1.0) * np.where(improved, 1.0, 0.6)
    build_m = act * 12 + rng.integers(0, 12, n)
    m1 = _M_NOW - np.floor(rng.exponential(12.0 / rate)).astype(np.int64)
    is_bank = owner == _BANK  # took the parcel in the last two years
    m1 = np.where(is_bank, _M_NOW - rng.integers(0, 24, n), m1)
    first_sale = improved & (m1 < build_m) & (act >= 1970)  # from the builder
    m1 = np.where(first_sale, np.minimum(build_m + rng.integers(0, 8, n), _M_NOW), m1)
    has1 = (m1 >= 1970 * 12) & ~((m1 < 1986 * 12) & (rng.random(n) < 0.5))
    has1 &= ~((owner == _GOVT) & (rng.random(n) < 0.6))
    q1 = _pick(rng, n, _QUAL_P)
    q1 = np.where(first_sale, np.where(rng.random(n) < 0.9, 0, 2), q1)  # 01 or 05
    q1 = np.where(is_bank, np.where(rng.random(n) < 0.5, 3, 4), q1)  # 11 or 12

    m2 = m1 - 1 - np.floor(rng.exponential(12.0 / 0.11, n)).astype(np.int64)
    lot_sale = improved & (m2 < build_m) & (act >= 1985) & (rng.random(n) < 0.5)
    m2 = np.where(lot_sale, build_m - rng.integers(1, 19, n), m2)
    has2 = has1 & ~first_sale & ((m2 >= build_m) | lot_sale | ~improved) & (m2 >= 1970 * 12)
    q2 = _pick(rng, n, _QUAL_P)
    flip = (has1 & ~first_sale & ~is_bank & (occupancy != _ABSENTEE) & (_M_NOW - m1 < 30)
            & (rng.random(n) < 0.07))
    m2 = np.where(flip, m1 - rng.integers(3, 13, n), m2)
    has2 |= flip
    has2 &= m2 < m1
    q2 = np.where(flip, np.array([0, 3, 4, 7])[_pick(rng, n, (0.3, 0.2, 0.25, 0.25))], q2)
    q1 = np.where(flip, 0, q1)
    eff = np.where(flip, np.maximum(eff, 2015 + rng.integers(0, 10, n)), eff)

    land_now = market_value * np.where(improved, land_share, 1.0)
    prices = []
    for m, q, flip_low in ((m1, q1, None), (m2, q2, flip)):
        vacant_at_sale = ~improved | (m < build_m)
        base = np.where(vacant_at_sale, land_now, market_value) * _price_index(m)
        factor = np.where(_QUAL_LOW[q] >= 1.0, rng.lognormal(0, 0.08, n),
                          rng.uniform(_QUAL_LOW[q], _QUAL_HIGH[q]))
        if flip_low is not None:
            factor = np.where(flip_low, rng.uniform(0.55, 0.75, n), factor)
        price = np.maximum(np.round(base * factor / 100) * 100, 100)
        nominal = rng.random(n) < _QUAL_NOMINAL[q]
        prices.append((np.where(nominal, 100, price).astype(np.int64), vacant_at_sale))
    (p1, vac1), (p2, vac2) = prices

    def recording(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        book = 1500 + (m - 1970 * 12) * 19 + rng.integers(0, 19, len(m))
        page = rng.integers(1, 4500, len(m))
        clerk = (m // 12) * 10_000_000 + rng.integers(0, 10_000_000, len(m))
        return book, page, clerk

    book1, page1, clerk1 = recording(m1)
    book2, page2, clerk2 = recording(m2)
    held_years = np.where(has1, np.clip((_M_NOW - m1) / 12.0, 0, 40), 40.0)

    # Assessment and exemptions ----------------------------------------------------------
    nonhmstd_resd = residential & (cls != _MF10) & ~homestead
    other_class = ~residential | (cls == _MF10)
    av_h = np.round(jv * np.clip(1 - 0.03 * held_years, 0.3, 1)).astype(np.int64)
    av_cap10 = np.round(jv * np.clip(1 - 0.025 * np.minimum(held_years, 10), 0.75, 1))
    av_nsd = np.where(homestead, av_h, np.where(
        nonhmstd_resd, av_cap10, np.round(jv * np.clip(1 - 0.02 * held_years, 0.85, 1))))
    av_nsd = av_nsd.astype(np.int64)
    av_sd = np.where(homestead, av_h, jv)
    exempt_01 = np.where(homestead, np.where(av_h >= 75_000, 50_000, 25_000), 0)
    exempt_entity = np.isin(owner, (_GOVT,)) | (cls == _INST)
    tv_sd = np.where(exempt_entity, 0, np.maximum(av_sd - np.minimum(exempt_01, 25_000), 0))
    tv_nsd = np.where(exempt_entity, 0, np.maximum(av_nsd - exempt_01, 0))

    portability = homestead & has1 & (m1 >= 2023 * 12) & (rng.random(n) < 0.25)

    # Distress lists ---------------------------------------------------------------------
    absentee = occupancy == _ABSENTEE
    eligible = _CLS_DISTRESS[cls]
    p_cv = np.where(distressed, 0.42, 0.010 * np.where(absentee, 1.5, 0.7)) * eligible
    p_lp = np.where(distressed, 0.16, 0.006 * np.where(homestead, 0.8, 1.3)) * eligible
    p_lp = np.where(np.isin(owner, (_BANK, _GOVT, _HOA)), 0.0, p_lp)
    p_td = np.where(distressed, 0.08, 0.0025 * np.where(homestead, 0.5, 1.4)) * eligible
    p_td = np.where(np.isin(owner, (_GOVT, _HOA)), 0.0, p_td)
    in_cv = rng.random(n) < p_cv
    in_lp = rng.random(n) < p_lp
    in_td = rng.random(n) < p_td

    # Text columns -----------------------------------------------------------------------
    pid, phy_addr1, legal = _situs(rng, plan, nbi, j, cls, nb, text, n)
    city_zip = plan.cities[text["city_zip_row"].to_numpy()]
    owner_cols = _owner_columns(rng, plan, owner, place, phy_addr1, city_zip, n)

    # The frame builders read the arrays above by name
    arrays: dict[str, Any] = dict(locals())
    nal = _nal_frame(arrays)
    arrays["nal"] = nal
    sdf = _sdf_frame(arrays)
    cv, lp, td = _distress_frames(rng, plan, arrays)
    return nal, sdf, cv, lp, td


def _situs(rng: np.random.Generator, plan: _Plan, nbi: np.ndarray, j: np.ndarray,
           cls: np.ndarray, nb: dict[str, np.ndarray], text: pl.DataFrame, n: int
           ) -> tuple[pl.Series, pl.Series, pl.Series]:
    """PARCEL_ID, PHY_ADDR1 and S_LEGAL of each parcel."""
    condo_nb = nb["type"] == _NB_CONDO
    lpb = nb["lots_per_block"]
    block = np.where(condo_nb, j // 999, 1 + j // lpb)
    lot = np.where(condo_nb, 1 + j % 999, 1 + j % lpb)
    pid = pl.DataFrame({
        "a": text["rng"], "b": text["twn"], "c": text["sec"], "d": text["subd"],
        "e": _digits(block, 2), "f": _digits(lot, 3),
    }).select(pl.concat_str(pl.all())).to_series()

    street_idx = nb["street_first"] + j // nb["per_street"]
    pos = j % nb["per_street"]
    street = _take(plan.streets, street_idx)
    # Condo buildings get even numbers, other parcels odd ones: no two share an address
    house = np.where(condo_nb & (cls == _CONDO), nb["house_base"] + 10 * (pos // 24),
                     nb["house_base"] + 4 * pos + (nbi % 2) * 2 + 1)
    unit = (pos % 24) // 6 * 100 + 101 + pos % 6
    no_situs = (cls == _VAC_RES) & (rng.random(n) < 0.4) | (cls == _VAC_COM) & (rng.random(n) < 0.3)
    frame = pl.DataFrame({"house": pl.Series(house), "street": street,
                          "unit": pl.Series(unit), "condo": pl.Series(cls == _CONDO),
                          "no_situs": pl.Series(no_situs)})
    addr = frame.select(
        pl.when(pl.col("no_situs")).then(pl.lit(None, dtype=pl.String))
        .when(pl.col("condo"))
        .then(pl.format("{} {} UNIT {}", "house", "street", "unit"))
        .otherwise(pl.format("{} {}", "house", "street"))
    ).to_series()

    blk_letter = _take(_strings(list("ABCDEFGHJKLMNPQRSTUVWXYZ")), (block - 1) % 24)
    legal = pl.DataFrame({
        "name": text["subd_name"], "plat": text["plat"], "lot": pl.Series(lot),
        "blk": blk_letter, "condo": pl.Series(cls == _CONDO), "unit": pl.Series(unit),
        "condo_nb": pl.Series(condo_nb),
    }).select(
        pl.when(pl.col("condo") | pl.col("condo_nb"))
        .then(pl.format("{} UNIT {}", "name", "unit"))
        .otherwise(pl.format("{} {} LOT {} BLK {}", "name", "plat", "lot", "blk"))

    ).to_series()
    return pid, addr, legal


def _person_names(rng: np.random.Generator, n: int) -> pl.DataFrame:
    surnames = _names_from_combo(rng.integers(0, len(_SURNAME_A) * len(_SURNAME_B), n),
                                 (_SURNAME_A, _SURNAME_B))
    surnames2 = _names_from_combo(rng.integers(0, len(_SURNAME_A) * len(_SURNAME_B), n),
                                  (_SURNAME_A, _SURNAME_B))
    first = _strings(_FIRST)
    middle = _strings(_MIDDLE)
    return pl.DataFrame({
        "last": surnames, "last2": surnames2,
        "first": _take(first, rng.integers(0, len(_FIRST), n)),
        "first2": _take(first, rng.integers(0, len(_FIRST), n)),
        "mi": _take(middle, rng.integers(0, len(_MIDDLE), n)),
        "mi2": _take(middle, rng.integers(0, len(_MIDDLE), n)),
    })


def _owner_columns(rng: np.random.Generator, plan: _Plan, owner: np.ndarray, place: np.ndarray,
                   phy_addr1: pl.Series, city_zip: pl.DataFrame, n: int) -> pl.DataFrame:
    """OWN_* and FIDU_* columns."""
    people = _person_names(rng, n)
    business_word = _names_from_combo(rng.integers(0, len(_STREET_A) * len(_STREET_B), n),
                                      (_STREET_A, _STREET_B))
    county_name = plan.county.name
    gov_names = _strings([f"{county_name} COUNTY", f"CITY OF {plan.county.cities[0][0]}",
                          "STATE OF FLORIDA", f"{county_name} COUNTY SCHOOL BOARD"])
    frame = people.with_columns(
        otype=pl.Series(owner),
        variant=pl.Series(rng.integers(0, 4, n)),
        word=business_word,
        kind=_take(_strings(_BUSINESS_KIND), rng.integers(0, len(_BUSINESS_KIND), n)),
        bank=_take(_strings(_BANKS), rng.integers(0, len(_BANKS), n)),
        gov=_take(gov_names, _pick(rng, n, (0.5, 0.3, 0.1, 0.1))),
        series_no=pl.Series(rng.integers(1, 9, n)),
        comma=pl.Series(rng.random(n) < 0.25),
    )
    person = pl.concat_str([pl.col("last"), pl.lit(" "), pl.col("first"), pl.col("mi")])
    v = pl.col("variant")
    t = pl.col("otype")
    llc_suffix = pl.when(pl.col("comma")).then(pl.lit(", LLC")).otherwise(pl.lit(" LLC"))
    name = (
        pl.when(t == _IND).then(person)
        .when(t == _COUPLE).then(
            pl.when(v < 3).then(pl.concat_str([person, pl.lit(" & "), pl.col("first2"),
                                                pl.col("mi2")]))
            .otherwise(pl.concat_str([person, pl.lit(" & "), pl.col("last2"), pl.lit(" "),
                                      pl.col("first2")])))
        .when(t == _LLC).then(
            pl.when(v == 0).then(pl.concat_str([pl.col("word"), pl.col("kind"), pl.lit(" "),
                                                pl.col("series_no").cast(pl.String), llc_suffix]))
            .otherwise(pl.concat_str([pl.col("word"), pl.col("kind"), llc_suffix])))
        .when(t == _INC).then(pl.concat_str([pl.col("word"), pl.col("kind"), pl.lit(" INC")]))
        .when(t == _TRUST).then(
            pl.when(v == 0).then(pl.concat_str([person, pl.lit(" TR")]))
            .when(v == 1).then(pl.concat_str([pl.col("last"), pl.lit(" FAMILY TRUST")]))
            .when(v == 2).then(pl.concat_str([pl.col("last"), pl.lit(" "), pl.col("first"),
                                              pl.lit(" REVOCABLE TRUST")]))
            .otherwise(pl.concat_str([person, pl.lit(" TRUSTEE")])))
        .when(t == _ESTATE).then(
            pl.when(v < 3).then(pl.concat_str([pl.lit("ESTATE OF "), person]))
            .otherwise(pl.concat_str([person, pl.lit(" EST")])))
        .when(t == _BANK).then(pl.col("bank"))
        .when(t == _GOVT).then(pl.col("gov"))
        .otherwise(pl.concat_str([pl.col("word"), pl.lit(" HOMEOWNERS ASSOCIATION INC")]))
    )
    fiduciary = ((t == _TRUST) & (pl.col("fidu_draw") < 0.4)) | (
        (t == _ESTATE) & (pl.col("fidu_draw") < 0.6))
    fidu_name = pl.concat_str([pl.col("last2"), pl.lit(" "), pl.col("first2"), pl.col("mi2")])

    # Mailing addresses
    local_pick = rng.integers(0, len(plan.cities), n)
    local = plan.cities[local_pick]
    lo_hi = plan.place_ranges
    far_pick = np.zeros(n, dtype=np.int64)
    for kind in (_FLORIDA, _OTHER_STATE, _ABROAD):
        a, b = lo_hi[kind]
        far_pick = np.where(place == kind, rng.integers(a, b, n), far_pick)
    far = plan.places[far_pick]
    mail_street = _take(plan.streets, rng.integers(0, len(plan.streets), n))
    mail_house = pl.Series(rng.integers(1, 99, n) * 100 + rng.integers(0, 50, n) * 2 + 1)
    po_box = pl.Series((rng.random(n) < 0.09) & (place != _AT_PROPERTY) & (place != _ABROAD))
    frame = frame.with_columns(
        place=pl.Series(place), phy=phy_addr1, phy_city=city_zip["city"],
        phy_zip=city_zip["zip"], mail_street=mail_street, mail_house=mail_house,
        po_box=po_box, po_no=pl.Series(rng.integers(100, 99999, n)),
        foreign_street=far["street"],
        local_city=local["city"], local_zip=local["zip"],
        far_city=far["city"], far_state=far["state"], far_zip=far["zip"], far_dom=far["dom"],
        fidu_draw=pl.Series(rng.random(n)),
    )
    p = pl.col("place")
    addr1 = (
        pl.when(p == _AT_PROPERTY).then(pl.col("phy"))
        .when(pl.col("po_box")).then(pl.format("PO BOX {}", "po_no"))
        .when(p == _ABROAD).then(pl.concat_str([pl.col("mail_house").cast(pl.String),
                                                pl.col("foreign_street")]))
        .otherwise(pl.format("{} {}", "mail_house", "mail_street"))
    )
    in_county = (p == _AT_PROPERTY) | (p == _LOCAL)
    out = frame.select(
        OWN_NAME=name,
        OWN_ADDR1=addr1,
        OWN_CITY=pl.when(p == _AT_PROPERTY).then(pl.col("phy_city"))
        .when(p == _LOCAL).then(pl.col("local_city")).otherwise(pl.col("far_city")),
        OWN_STATE=pl.when(in_county).then(pl.lit("FL")).otherwise(pl.col("far_state")),
        OWN_ZIPCD=pl.when(p == _AT_PROPERTY).then(pl.col("phy_zip"))
        .when(p == _LOCAL).then(pl.col("local_zip")).otherwise(pl.col("far_zip")),
        OWN_STATE_DOM=pl.when(in_county).then(pl.lit("FL")).otherwise(pl.col("far_dom")),
        FIDU_NAME=pl.when(fiduciary).then(fidu_name),
        FIDU_CD=pl.when(fiduciary).then(
            pl.when(t == _TRUST).then(pl.lit("1")).otherwise(pl.lit("2"))),
        fiduciary=fiduciary,
        # half the personal representatives live elsewhere; trustees use the trust's address
        fiduciary_elsewhere=fiduciary & (t == _ESTATE) & (pl.col("fidu_draw") < 0.3),
    )
    return out


def _nal_frame(v: dict[str, Any]) -> pl.DataFrame:
    """The NAL columns of a chunk, in layout order."""
    plan: _Plan = v["plan"]
    n: int = v["n"]
    g: np.ndarray = v["g"]
    text: pl.DataFrame = v["text"]
    uc: np.ndarray = v["uc"]
    improved: np.ndarray = v["improved"]
    homestead: np.ndarray = v["homestead"]
    rng: np.random.Generator = v["rng"]
    owners: pl.DataFrame = v["owner_cols"]
    city_zip: pl.DataFrame = v["city_zip"]
    jv = v["jv"]
    has1, has2 = v["has1"], v["has2"]
    m1, m2 = v["m1"], v["m2"]
    co_no = plan.market.co_no

    uc_text = _take(_strings(_UC), uc)
    stratum = _take(_strings(_UC_STRATUM), uc)
    lot = v["lot"]
    acres = lot >= 43_560
    lot_units = pl.select(
        pl.when(pl.lit(pl.Series(acres)))
        .then(pl.lit(pl.Series(np.round(lot / 43_560, 2))).cast(pl.String))
        .otherwise(pl.lit(pl.Series(lot)).cast(pl.String))
    ).to_series()
    inspect_month = rng.integers(1, 13, n)
    inspect_year = rng.integers(19, 26, n)
    oth = v["other_class"]
    nhr = v["nonhmstd_resd"]
    portability = v["portability"]
    fiduciary = owners["fiduciary"].to_numpy()
    mail = {c: owners[c] for c in ("OWN_ADDR1", "OWN_CITY", "OWN_STATE", "OWN_ZIPCD")}
    # A fiduciary living elsewhere gets the previous row's mailing address (no extra draws,
    # so every other column stays as it was); the others share the owner's mailing address.
    elsewhere = owners["fiduciary_elsewhere"].to_numpy()
    previous = pl.Series(np.roll(np.arange(n), 1))
    fidu_mail = {c: pl.select(pl.when(pl.lit(pl.Series(elsewhere)))
                              .then(pl.lit(series.gather(previous)))
                              .otherwise(pl.lit(series))).to_series()
                 for c, series in mail.items()}
    pid = v["pid"]
    public = v["owner"] == _GOVT

    columns: dict[str, pl.Series] = {
        "CO_NO": pl.Series(np.full(n, co_no)),
        "PARCEL_ID": pid,
        "FILE_T": _take(_strings(["R"]), np.zeros(n, dtype=np.int64)),
        "ASMNT_YR": pl.Series(np.full(n, ASMNT_YR)),
        "BAS_STRT": stratum,
        "ATV_STRT": stratum,
        "GRP_NO": stratum,
        "DOR_UC": uc_text,
        "PA_UC": uc_text.str.slice(1, 2),
        "JV": pl.Series(jv),
        "AV_SD": pl.Series(v["av_sd"]),
        "AV_NSD": pl.Series(v["av_nsd"]),
        "TV_SD": pl.Series(v["tv_sd"]),
        "TV_NSD": pl.Series(v["tv_nsd"]),
        "JV_HMSTD": _opt(jv, homestead),
        "AV_HMSTD": _opt(v["av_h"], homestead),
        "JV_NON_HMSTD_RESD": _opt(jv, nhr),
        "AV_NON_HMSTD_RESD": _opt(v["av_nsd"], nhr),
        "JV_RESD_NON_RESD": _opt(jv, oth),
        "AV_RESD_NON_RESD": _opt(v["av_nsd"], oth),
        "NCONST_VAL": _opt(jv - v["land_val"], v["new_construction"]),
        "LND_VAL": pl.Series(v["land_val"]),
        "LND_UNTS_CD": _choose(acres, "2", "1"),
        "NO_LND_UNTS": lot_units,
        "LND_SQFOOT": pl.Series(lot),
        "DT_LAST_INSPT": pl.select(pl.concat_str([pl.lit(_digits(inspect_month, 2)),
                                                  pl.lit(_digits(inspect_year, 2))])).to_series(),
        "IMP_QUAL": _when(improved, pl.Series(v["quality"]).cast(pl.String)),
        "CONST_CLASS": _when(improved, pl.Series(v["const"]).cast(pl.String)),
        "EFF_YR_BLT": _opt(v["eff"], improved),
        "ACT_YR_BLT": _opt(v["act"], improved),
        "TOT_LVG_AREA": _opt(v["area"], improved),
        "NO_BULDNG": pl.Series(v["buildings"]),
        "NO_RES_UNTS": pl.Series(v["units"]),
        "SPEC_FEAT_VAL": pl.Series(v["spec_feat"]),
        "OWN_NAME": owners["OWN_NAME"],
        **mail,
        "OWN_STATE_DOM": owners["OWN_STATE_DOM"],
        "FIDU_NAME": owners["FIDU_NAME"],
        "FIDU_ADDR1": _when(fiduciary, fidu_mail["OWN_ADDR1"]),
        "FIDU_CITY": _when(fiduciary, fidu_mail["OWN_CITY"]),
        "FIDU_STATE": _when(fiduciary, fidu_mail["OWN_STATE"]),
        "FIDU_ZIPCD": _when(fiduciary, fidu_mail["OWN_ZIPCD"]),
        "FIDU_CD": owners["FIDU_CD"],
        "S_LEGAL": v["legal"],
        "MKT_AR": text["mkt_ar"],
        "NBRHD_CD": text["nbhd_cd"],
        "PUBLIC_LND": _when(public, _choose(public, "", "C")),
        "TAX_AUTH_CD": text["tax_auth"],
        "TWN": text["twn"],
        "RNG": text["rng"],
        "SEC": text["sec"],
        "CENSUS_BK": _census_block(v),
        "PHY_ADDR1": v["phy_addr1"],
        "PHY_CITY": city_zip["city"],
        "PHY_ZIPCD": city_zip["zip"],
        "ALT_KEY": _digits(_unique_code(g, 8, 1_234_567) + 100_000_000, 9),
        "ASS_TRNSFR_FG": _when(portability, _choose(portability, "N", "Y")),
        "ASS_DIF_TRNS": _opt(rng.integers(20, 151, n) * 1000, portability),
        "CONO_PRV_HM": _when(portability, _digits(
            np.where(rng.random(n) < 0.8, co_no, rng.integers(11, 78, n)), 2)),
        "PARCEL_ID_PRV_HMSTD": _when(portability, _take(pid, rng.integers(0, n, n))),
        "YR_VAL_TRNSF": _opt(np.minimum(m1 // 12 + 1, ASMNT_YR), portability),
        "EXMPT_01": _opt(v["exempt_01"], homestead),
        "SEQ_NO": pl.Series(g + 1),
        "STATE_PAR_ID": pl.select(pl.concat_str([pl.lit(f"C{co_no:02d}"), pl.lit(pid)]))
        .to_series(),
    }
    for slot, has, m, q, (price, vacant), rec in (
        (1, has1, m1, v["q1"], (v["p1"], v["vac1"]), (v["book1"], v["page1"], v["clerk1"])),
        (2, has2, m2, v["q2"], (v["p2"], v["vac2"]), (v["book2"], v["page2"], v["clerk2"])),
    ):
        book, page, clerk = rec
        columns[f"QUAL_CD{slot}"] = _when(has, _take(_strings(_QUAL), q))
        columns[f"VI_CD{slot}"] = _when(has, _choose(vacant, "I", "V"))
        columns[f"SALE_PRC{slot}"] = _opt(price, has)
        columns[f"SALE_YR{slot}"] = _opt(m // 12, has)
        columns[f"SALE_MO{slot}"] = _opt(m % 12 + 1, has)
        columns[f"OR_BOOK{slot}"] = _when(has, _digits(book, 5))
        columns[f"OR_PAGE{slot}"] = _when(has, _digits(page, 4))
        columns[f"CLERK_NO{slot}"] = _when(has & (m >= 2008 * 12), pl.Series(clerk).cast(pl.String))

    types = {name: _dtype(kind) for name, kind in nal_types().items()}
    nulls = {dtype: _nulls(n, dtype) for dtype in set(types.values())}
    return pl.DataFrame([
        (columns[name].cast(types[name]) if name in columns else nulls[types[name]]).alias(name)
        for name in nal_columns()
    ])


def _dtype(kind: str) -> type[pl.DataType]:
    return {"INTEGER": pl.Int32, "BIGINT": pl.Int64, "DOUBLE": pl.String}.get(kind, pl.String)


def _census_block(v: dict[str, Any]) -> pl.Series:
    plan: _Plan = v["plan"]
    j = v["j"]
    nbi = v["nbi"]
    block = plan.nb["block_base"][nbi] + j // 40
    state_county = f"12{plan.county.fips:03d}"
    return pl.select(pl.concat_str([pl.lit(state_county), pl.lit(v["text"]["tract"]),
                                    pl.lit(_digits(block % 10_000, 4))])).to_series()


def _sdf_frame(v: dict[str, Any]) -> pl.DataFrame:
    """One row per sale in the SDF window, ordered by parcel and date."""
    g = v["g"]
    rows, slots = [], []
    for slot, has, m in ((1, v["has1"], v["m1"]), (2, v["has2"], v["m2"])):
        in_window = has & (m >= _M_SDF_FIRST) & (m <= _M_NOW)
        idx = np.flatnonzero(in_window)
        rows.append(idx)
        slots.append(np.full(len(idx), slot))
    row = np.concatenate(rows)
    slot = np.concatenate(slots)
    month = np.where(slot == 1, v["m1"][row], v["m2"][row])
    order = np.lexsort((month, row))
    row, slot, month = row[order], slot[order], month[order]
    first = slot == 1

    def pick(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(first, a[row], b[row])

    nal: pl.DataFrame = v["nal"]
    sub = nal[row]
    vacant = pick(v["vac1"], v["vac2"])
    return pl.DataFrame({
        "CO_NO": sub["CO_NO"],
        "PARCEL_ID": sub["PARCEL_ID"],
        "ASMNT_YR": sub["ASMNT_YR"],
        "ATV_STRT": sub["ATV_STRT"],
        "GRP_NO": sub["GRP_NO"],
        "DOR_UC": sub["DOR_UC"],
        "NBRHD_CD": sub["NBRHD_CD"],
        "MKT_AR": sub["MKT_AR"],
        "CENSUS_BK": sub["CENSUS_BK"],
        "SALE_ID_CD": _digits(_unique_code(g[row] * 2 + slot - 1, 10, 987_654_321), 10),
        "SAL_CHG_CD": _nulls(len(row), pl.String),
        "VI_CD": _choose(vacant, "I", "V"),
        "OR_BOOK": _digits(pick(v["book1"], v["book2"]), 5),
        "OR_PAGE": _digits(pick(v["page1"], v["page2"]), 4),
        "CLERK_NO": pl.Series(pick(v["clerk1"], v["clerk2"])).cast(pl.String),
        "QUAL_CD": _take(_strings(_QUAL), pick(v["q1"], v["q2"])),
        "SALE_YR": pl.Series(month // 12).cast(pl.Int32),
        "SALE_MO": pl.Series(month % 12 + 1).cast(pl.Int32),
        "SALE_PRC": pl.Series(pick(v["p1"], v["p2"])).cast(pl.Int64),
        "MULTI_PAR_SAL": _nulls(len(row), pl.String),
        "RS_ID": _nulls(len(row), pl.String),
        "MP_ID": _nulls(len(row), pl.String),
        "STATE_PARCEL_ID": sub["STATE_PAR_ID"],
    }).select(list(sdf_columns()))


_D_FIRST = int(np.datetime64("2024-01-02", "D").astype(np.int64))
_D_LAST = int(np.datetime64(DISTRESS_LAST_DATE, "D").astype(np.int64))


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series(days.astype(np.int32)).cast(pl.Date)


def _distress_frames(rng: np.random.Generator, plan: _Plan, v: dict[str, Any]
                     ) -> tuple[pl.DataFrame, ...]:
    """Code violations, lis pendens and tax-deed applications of the chunk's listed parcels."""
    g = v["g"]
    pid: pl.Series = v["pid"]
    jv = v["jv"]
    distressed = v["distressed"]
    cls = v["cls"]
    width = plan.case_width

    # Code violations: one or two cases per listed parcel
    cv_rows = np.flatnonzero(v["in_cv"])
    cases = 1 + (rng.random(len(cv_rows)) < 0.25)
    row = np.repeat(cv_rows, cases)
    case_j = np.arange(len(row)) - np.repeat(np.cumsum(cases) - cases, cases)
    m = len(row)
    opened = rng.integers(_D_FIRST, _D_LAST - 30, m)
    vtype = _pick(rng, m, [w for _, w in _VIOLATIONS])
    vtype = np.where((cls[row] == _VAC_RES) & (rng.random(m) < 0.6), 0, vtype)
    still_open = rng.random(m) < np.where(distressed[row], 0.65, 0.45)
    closed = opened + rng.integers(10, 366, m)
    still_open |= closed > _D_LAST
    fines = np.where(still_open, np.round(rng.lognormal(7.2, 1.0, m), 2),
                     np.where(rng.random(m) < 0.6, 0.0, np.round(rng.uniform(100, 1500, m), 2)))
    open_year = (opened.astype("datetime64[D]").astype("datetime64[Y]").astype(int)
                 + 1970)
    cv = pl.DataFrame({
        "parcel_id": _take(pid, row),
        "case_number": pl.select(pl.format(
            "CE{}-{}", pl.lit(pl.Series(open_year)),
            pl.lit(_digits(_unique_code(g[row] * 4 + case_j, width, 424_242), width)))).to_series(),
        "violation_type": _take(_strings([t for t, _ in _VIOLATIONS]), vtype),
        "opened_date": _dates(opened),
        "status": _choose(still_open, "CLOSED", "OPEN"),
        "closed_date": _when(~still_open, _dates(closed)),
        "fine_amount": pl.Series(fines, dtype=pl.Float64),
    })

    # Lis pendens
    row = np.flatnonzero(v["in_lp"])
    m = len(row)
    filed = rng.integers(_D_FIRST, _D_LAST + 1, m)
    doc = _pick(rng, m, [w for _, w in _LP_TYPES])
    doc = np.where((cls[row] == _CONDO) & (doc == 1), 2, doc)
    mortgage = doc == 0
    amount = np.where(mortgage, jv[row] * rng.uniform(0.35, 0.95, m), rng.uniform(1500, 30000, m))
    association = pl.DataFrame({
        "subd": v["text"]["subd_name"].gather(row).str.replace(r" [A-Z]+$", ""),
        "suffix": _choose(doc == 2, " HOMEOWNERS ASSN INC", " CONDOMINIUM ASSN INC"),
    }).select(pl.concat_str(pl.all())).to_series()
    plaintiff = pl.DataFrame({
        "doc": pl.Series(doc),
        "bank": _take(_strings(_BANKS), rng.integers(0, len(_BANKS), m)),
        "association": association,
    }).select(
        pl.when(pl.col("doc").is_in([1, 2])).then(pl.col("association"))
        .when(pl.col("doc") == 3).then(pl.lit(f"{plan.county.name} COUNTY"))
        .otherwise(pl.col("bank"))
    ).to_series()
    filed_year = (filed.astype("datetime64[D]").astype("datetime64[Y]").astype(int)
                  + 1970)
    lp = pl.DataFrame({
        "parcel_id": _take(pid, row),
        "case_number": pl.select(pl.format(
            "{}-CA-{}", pl.lit(pl.Series(filed_year)),
            pl.lit(_digits(_unique_code(g[row] * 4 + 2, width, 77_777), width)))).to_series(),
        "document_type": _take(_strings([t for t, _ in _LP_TYPES]), doc),
        "filed_date": _dates(filed),
        "plaintiff": plaintiff,
        "amount": pl.Series(np.round(amount, 2), dtype=pl.Float64),
    })

    # Tax-deed applications
    row = np.flatnonzero(v["in_td"])
    m = len(row)
    cert_year = np.array([2021, 2022, 2023, 2024])[_pick(rng, m, (0.15, 0.25, 0.3, 0.3))]
    earliest = np.maximum(
        _D_FIRST,
        (np.array([f"{y + 2}-06-01" for y in range(2021, 2025)], dtype="datetime64[D]")
         .astype(np.int64))[cert_year - 2021])
    applied = rng.integers(earliest, _D_LAST + 1)
    status = np.array(["ACTIVE", "SCHEDULED", "REDEEMED"])[_pick(rng, m, (0.45, 0.30, 0.25))]
    status = np.where(applied > _D_LAST - 60, "ACTIVE", status)
    bid = jv[row] * 0.019 * (ASMNT_YR - cert_year + 1) + rng.uniform(300, 1500, m)
    applied_year = (applied.astype("datetime64[D]").astype("datetime64[Y]").astype(int)
                    + 1970)
    number = _digits(_unique_code(g[row] * 4 + 3, width, 31_337), width)
    td = pl.DataFrame({
        "parcel_id": _take(pid, row),
        "application_number": pl.select(pl.format("{}-TD-{}", pl.lit(pl.Series(applied_year)),
                                                  pl.lit(number))).to_series(),
        "certificate_number": pl.select(pl.format("{}-{}", pl.lit(pl.Series(cert_year)),
                                                  pl.lit(number.str.slice(width - 5, 5))))
        .to_series(),
        "certificate_year": pl.Series(cert_year, dtype=pl.Int32),
        "application_date": _dates(applied),
        "opening_bid": pl.Series(np.round(bid, 2), dtype=pl.Float64),
        "status": pl.Series(status),
    })
    frames = []
    for kind, frame in (("code_violations", cv), ("lis_pendens", lp),
                        ("tax_deed_applications", td)):
        frames.append(frame.select(list(DISTRESS_LAYOUTS[kind])))
    return tuple(frames)
