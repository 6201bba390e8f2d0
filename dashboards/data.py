"""The dashboards' one data-access module: every page reads through here.

It reads the published snapshot (`data/published/current`, see pipelines/publish.py) with an
in-memory DuckDB over the Parquet files, resolving `current` once per call so a page never
mixes two snapshots. Results are cached with `st.cache_data` keyed by the snapshot folder, so
a new publish shows up on the next load and an unchanged one costs nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from pipelines.publish import current_snapshot

CACHE_SECONDS = 300


@dataclass(frozen=True)
class Snapshot:
    folder: Path
    published_at: str
    rows: dict[str, int]


def snapshot() -> Snapshot | None:
    """The current snapshot, or None before the first publish."""
    folder = current_snapshot()
    if folder is None or not (folder / "manifest.json").exists():
        return None
    manifest = json.loads((folder / "manifest.json").read_text())
    return Snapshot(folder, manifest["published_at"], manifest["rows"])


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _query(folder: str, sql: str, parameters: tuple[object, ...] = ()) -> pd.DataFrame:
    with duckdb.connect() as conn:
        for table in ("leads", "comps", "market_summary"):
            path = Path(folder) / f"{table}.parquet"
            conn.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
        return conn.execute(sql, list(parameters)).df()


def market_summary(current: Snapshot) -> pd.DataFrame:
    return _query(str(current.folder), "SELECT * FROM market_summary ORDER BY market_code")


def markets(current: Snapshot) -> list[str]:
    return market_summary(current)["market_code"].tolist()


def leads(current: Snapshot, market_codes: tuple[str, ...], tiers: tuple[str, ...],
          min_score: float, limit: int = 5_000) -> pd.DataFrame:
    """Leads of the chosen markets and tiers at or above `min_score`, best first."""
    return _query(
        str(current.folder),
        """SELECT market_code, parcel_id, tier, score, situs_address, situs_city, owner_name,
                  owner_state, years_owned, arv, offer_min, offer_max, repair_tier, reasons
           FROM leads WHERE list_contains(?, market_code) AND list_contains(?, tier)
                AND score >= ? ORDER BY score DESC, market_code, parcel_id LIMIT ?""",
        (list(market_codes), list(tiers), min_score, limit))


def lead_detail(current: Snapshot, market_code: str, parcel_id: str) -> pd.DataFrame:
    return _query(str(current.folder),
                  "SELECT * FROM leads WHERE market_code = ? AND parcel_id = ?",
                  (market_code, parcel_id))


def lead_comps(current: Snapshot, property_id: str) -> pd.DataFrame:
    return _query(str(current.folder),
                  "SELECT * FROM comps WHERE subject_property_id = ? ORDER BY similarity_rank",
                  (property_id,))
