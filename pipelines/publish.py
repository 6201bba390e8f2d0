"""The published snapshot: the data the dashboards read, written as Parquet and swapped in
atomically, so the dashboards never open the warehouse (DuckDB allows no reader beside a
writer) and never see half a run.

Layout under `data/published/`:

    snapshots/<UTC timestamp>/<table>.parquet + manifest.json
    current -> snapshots/<…>          (a symlink, replaced with one atomic rename)

A reader resolves `current` once and reads every table from that folder, so a publish in the
middle of a page load cannot mix two snapshots. The two newest snapshots are kept, the rest
pruned (a reader that resolved the previous one can still finish).

Tables: `leads` (tiers A, B+ and B with their score breakdown, address, owner, valuation and
offer, every market), `comps` (of those leads), `market_summary` (parcels and leads per tier,
median ARV, offers per market), and the outreach marts (`OUTREACH_TABLES`, docs/analytics.md:
funnel, daily rates, campaign touches, first responses, conversations, handoff queue, costs,
deals, deal attribution, ROI). An outreach table is published only when its mart exists (the
`outreach_analytics` job builds them); the manifest lists the tables a snapshot holds.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines import settings

KEEP_SNAPSHOTS = 2

TABLES: dict[str, str] = {
    "leads": """
        SELECT l.*, p.situs_address, p.situs_city, p.owner_name, p.owner_city, p.owner_state,
               p.is_absentee_owner, p.is_out_of_state_owner, p.just_value,
               g.* EXCLUDE (property_id),
               o.arv, o.arv_low, o.arv_high, o.comp_count, o.confidence AS valuation_confidence,
               o.repair_tier, o.repair_estimate, o.offer_min, o.offer_max
        FROM marts.lead_scores AS l
        JOIN marts.properties AS p USING (property_id)
        -- p.latitude, p.longitude (parcel centroids, WGS84) where the marts carry them: a
        -- warehouse built before the parcel locations (or a test's minimal marts) has none
        LEFT JOIN (SELECT COLUMNS('^(property_id|latitude|longitude)$') FROM marts.properties)
            AS g USING (property_id)
        LEFT JOIN marts.offers AS o USING (property_id)
        WHERE l.tier IN ('A', 'B+', 'B')""",
    "comps": """
        SELECT c.* FROM marts.comps AS c
        WHERE c.subject_property_id IN (SELECT property_id FROM marts.lead_scores
                                        WHERE tier IN ('A', 'B+', 'B'))""",
    "market_summary": """
        SELECT l.market_code,
               count(*) AS scored_parcels,
               count(*) FILTER (WHERE tier = 'A') AS tier_a,
               count(*) FILTER (WHERE tier = 'B+') AS tier_b_plus,
               count(*) FILTER (WHERE tier = 'B') AS tier_b,
               count(*) FILTER (WHERE tier = 'C') AS tier_c,
               (SELECT median(arv) FROM marts.valuations AS v
                WHERE v.market_code = l.market_code) AS median_arv,
               (SELECT count(*) FROM marts.offers AS o
                WHERE o.market_code = l.market_code AND o.offer_max > 0) AS offers
        FROM marts.lead_scores AS l GROUP BY l.market_code ORDER BY l.market_code""",
}


# The outreach marts (dbt_project/models/marts/outreach), published as they are.
OUTREACH_TABLES: tuple[str, ...] = (
    "outreach_funnel", "outreach_daily", "campaign_touches", "first_responses", "conversations",
    "handoff_queue", "costs", "deals", "deal_attribution", "roi")
TABLES.update({name: f"SELECT * FROM marts.{name}"  # nosec B608 (constant names)
               for name in OUTREACH_TABLES})


def _missing_marts(conn: duckdb.DuckDBPyConnection) -> set[str]:
    """The outreach marts not (yet) in the warehouse: their tables are left out."""
    present = {row[0] for row in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
    ).fetchall()}
    return set(OUTREACH_TABLES) - present


def published_dir() -> Path:
    return settings.data_dir() / "published"


def current_snapshot(root: Path | None = None) -> Path | None:
    """The folder `current` points at, or None before the first publish."""
    link = (root or published_dir()) / "current"
    return link.resolve() if link.exists() else None


def publish(conn: duckdb.DuckDBPyConnection, root: Path | None = None) -> Path:
    """Write every table to a new snapshot folder, then point `current` at it atomically."""
    root = root or published_dir()
    snapshots = root / "snapshots"
    snapshots.mkdir(parents=True, exist_ok=True)
    for leftover in snapshots.glob(".*.partial"):  # from a publish that crashed
        shutil.rmtree(leftover, ignore_errors=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    staging = snapshots / f".{stamp}.partial"
    staging.mkdir()
    rows = {}
    missing = _missing_marts(conn)
    for table, query in TABLES.items():
        if table in missing:
            continue
        target = staging / f"{table}.parquet"
        # The queries are the constants in TABLES; the target is our own snapshot folder.
        conn.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
        rows[table] = conn.execute("SELECT count(*) FROM read_parquet(?)",
                                   [str(target)]).fetchone()[0]
    (staging / "manifest.json").write_text(json.dumps(
        {"published_at": datetime.now(UTC).isoformat(), "rows": rows}, indent=2))
    final = snapshots / stamp
    staging.rename(final)
    temporary_link = root / f".current.{stamp}"
    temporary_link.symlink_to(Path("snapshots") / stamp)
    os.replace(temporary_link, root / "current")
    for old in sorted(p for p in snapshots.iterdir() if not p.name.startswith("."))[
            :-KEEP_SNAPSHOTS]:
        shutil.rmtree(old, ignore_errors=True)
    return final
