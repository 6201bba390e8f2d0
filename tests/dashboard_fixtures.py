"""The tiny warehouse of lead marts the dashboard tests publish: two markets, four parcels
(one lead valued, with one comp)."""

from __future__ import annotations

import duckdb


def create_lead_marts(conn: duckdb.DuckDBPyConnection) -> None:
    """The lead marts the snapshot has always read: two markets, four parcels."""
    conn.execute("CREATE SCHEMA marts")
    conn.execute("""CREATE TABLE marts.lead_scores AS SELECT * FROM (VALUES
        ('orange_fl-1', 'orange_fl', '1', 61.0, 'A', 'absentee, lis_pendens', 20.0, 25.0, 30),
        ('orange_fl-2', 'orange_fl', '2', 39.0, 'B+', 'absentee', 20.0, 0.0, 12),
        ('orange_fl-3', 'orange_fl', '3', 5.0, 'C', '', 5.0, 0.0, 2),
        ('lake_fl-9', 'lake_fl', '9', 44.0, 'A', 'tax_deed', 0.0, 0.0, 40))
        AS t(property_id, market_code, parcel_id, score, tier, reasons, absentee_points,
             lis_pendens_points, years_owned)""")
    conn.execute("""CREATE TABLE marts.properties AS SELECT property_id,
        '12 ELM ST' AS situs_address, 'ORLANDO' AS situs_city, 'PAT OWNER' AS owner_name,
        'TAMPA' AS owner_city, 'FL' AS owner_state, true AS is_absentee_owner,
        false AS is_out_of_state_owner, 250000.0 AS just_value FROM marts.lead_scores""")
    conn.execute("""CREATE TABLE marts.offers AS SELECT 'orange_fl-1' AS property_id,
        'orange_fl' AS market_code, 300000.0 AS arv, 280000.0 AS arv_low, 320000.0 AS arv_high,
        6 AS comp_count, 0.8 AS confidence, 'medium' AS repair_tier, 40000.0 AS repair_estimate,
        120000.0 AS offer_min, 160000.0 AS offer_max""")
    conn.execute("""CREATE TABLE marts.valuations AS SELECT property_id, market_code, arv
        FROM marts.offers""")
    conn.execute("""CREATE TABLE marts.comps AS SELECT 'c1' AS comp_id, 'orange_fl' AS
        market_code, 'orange_fl-1' AS subject_property_id, 1 AS similarity_rank,
        310000.0 AS sale_price""")
