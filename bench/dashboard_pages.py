"""Benchmark: each dashboard page's time to render in headless Chromium over a published
snapshot at production scale: one year of outreach for five markets (about 1 M messages) and
the leads of 10 M scored parcels.

Data. The pages read only the published snapshot (Parquet under `data/published/current`),
so the bench writes that snapshot directly, at the scale the pages would see, with DuckDB:

- `leads`: the tiered parcels of 10 M scored ones (A 3 %, B+ 3 %, B 7 %: 1.3 M rows) with
  the real table's ~50 columns (score points per signal, address, owner, valuation and offer
  for the A/B+ comp subjects); `comps`: 10 per comp subject (6 M rows); `market_summary`.
- outreach: 272 k enrollments in three campaigns (SMS 4 touches, email 3, mixed 4) sent over
  365 days; a touch every 3-7 days until the drip ends or the owner replies; ~12 % reply, with
  follow-ups, auto-replies, opt-out confirmations; about 1 M `conversations` rows with
  templated bodies carrying names and addresses, intents, sentiment, takeovers; and the
  tables derived from them as the marts define them (`outreach_daily`, `outreach_funnel`,
  `campaign_touches`, `first_responses`, `handoff_queue`, `costs`, `deals`,
  `deal_attribution`, `roi`; columns per docs/published_tables.md).

Measure. `streamlit run dashboards/streamlit_app.py` headless on loopback, Debian's Chromium
through Playwright (never a downloaded browser). Sign in (shared password: a viewer, so the
redaction of free text is included), then open every page through the sidebar and time from
the click until the page has rendered: the page's own marker text and its footer are
visible, the script has finished (`stApp` reports `notRunning`), no element is stale, and
every chart and table has drawn its canvas/SVG. Pass 1 after a fresh server start is cold
(Streamlit's `st.cache_data` empty; the OS file cache is warm since the files were just
written); pass 2 in the same session is warm. Each repeat restarts the server. The figure
beside them: the sign-in form's render time (Streamlit + browser alone, no data).

    .venv/bin/python bench/dashboard_pages.py [--parcels 10000000] [--messages 1000000]
        [--repeats 2] [--keep DIR] [--reuse DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MARKETS = ("orange_fl", "lake_fl", "osceola_fl", "seminole_fl", "volusia_fl")
PASSWORD = "bench-password-long"
TARGET_SECONDS = 3.0
PAGES = {  # sidebar title: text that only that page shows once its content is there
    "Overview": "Response rate",
    "Campaigns": "Per touch",
    "Conversations": "threads (the",
    "ROI": "Break-even",
    "Leads": "leads shown",
    "Handoffs": "open handoffs",
}

SIGNALS = ("lis_pendens", "tax_deed", "code_violation", "vacancy", "estate_trust",
           "distressed_sale", "absentee", "out_of_state", "no_homestead", "long_ownership",
           "equity")
POINTS = (18, 14, 10, 6, 10, 5, 10, 6, 5, 8, 8)


def _copy(conn: duckdb.DuckDBPyConnection, folder: Path, table: str, query: str) -> int:
    target = folder / f"{table}.parquet"
    conn.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
    return conn.execute("SELECT count(*) FROM read_parquet(?)", [str(target)]).fetchone()[0]


def _leads_sql(parcels: int) -> str:
    tiered = int(parcels * 0.13)
    points = ",\n".join(
        f"CASE WHEN hash(i, '{s}') % 100 < {30 + 5 * (k % 4)} THEN {p}.0 ELSE 0.0 END "
        f"AS {s}_points" for k, (s, p) in enumerate(zip(SIGNALS, POINTS, strict=True)))
    markets = "[" + ", ".join(f"'{m}'" for m in MARKETS) + "]"
    return f"""
        WITH base AS (
            SELECT i, {markets}[1 + i % 5] AS market_code,
                   CASE WHEN i % 13 < 3 THEN 'A' WHEN i % 13 < 6 THEN 'B+' ELSE 'B' END
                       AS tier,
                   (hash(i) % 1000) / 1000.0 AS u
            FROM range({tiered}) AS t(i))
        SELECT market_code || '-' || lpad(i::VARCHAR, 13, '0') AS property_id, market_code,
               lpad(i::VARCHAR, 13, '0') AS parcel_id, DATE '2026-10-01' AS as_of_month,
               CAST(CASE tier WHEN 'A' THEN 43 + u * 40 WHEN 'B+' THEN 38 + u * 4.9
                    ELSE 30 + u * 7.9 END AS DECIMAL(7, 2)) AS score, tier,
               tier IN ('A', 'B+') AS is_outreach_candidate,
               tier IN ('A', 'B+') AS is_comp_subject,
               'absentee, long_ownership, equity' ||
                   CASE WHEN u > 0.5 THEN ', lis_pendens' ELSE '' END AS reasons,
               {points},
               '0100' AS dor_use_code, 'single_family' AS use_family,
               (900 + hash(i, 'a') % 2600)::INTEGER AS living_area_sqft,
               (1950 + hash(i, 'y') % 73)::INTEGER AS year_built,
               'N' || (i % 400) AS neighborhood_code, 'M' || (i % 40) AS market_area_code,
               (32700 + i % 900)::VARCHAR AS situs_zip, (2 + i % 40)::INTEGER AS years_owned,
               0.3 + u * 0.7 AS estimated_equity_ratio, '01' AS last_sale_qualification_code,
               'v3' AS engine_version,
               (100 + i % 9800) || ' ' || ['OAK', 'ELM', 'PINE', 'LAKE', 'PALM'][1 + i % 5]
                   || ' ' || ['ST', 'AVE', 'DR', 'CT'][1 + i % 4] AS situs_address,
               ['ORLANDO', 'TAVARES', 'KISSIMMEE', 'SANFORD', 'DELAND'][1 + i % 5]
                   AS situs_city,
               ['SMITH', 'JOHNSON', 'GARCIA', 'NGUYEN', 'PATEL'][1 + i % 5] || ' ' ||
                   ['JOHN', 'MARIA', 'LEE', 'ANA', 'RAJ', 'PAT'][1 + i % 6] AS owner_name,
               ['TAMPA', 'MIAMI', 'ATLANTA', 'NEW YORK'][1 + i % 4] AS owner_city,
               ['FL', 'FL', 'GA', 'NY'][1 + i % 4] AS owner_state, true AS is_absentee_owner,
               i % 4 >= 2 AS is_out_of_state_owner, 150000.0 + (hash(i) % 350000) AS just_value,
               CASE WHEN tier <> 'B' THEN 180000.0 + (hash(i, 'v') % 320000) END AS arv,
               CASE WHEN tier <> 'B' THEN 160000.0 + (hash(i, 'v') % 320000) END AS arv_low,
               CASE WHEN tier <> 'B' THEN 200000.0 + (hash(i, 'v') % 320000) END AS arv_high,
               CASE WHEN tier <> 'B' THEN (3 + i % 8)::INTEGER END AS comp_count,
               CASE WHEN tier <> 'B' THEN 0.5 + u / 2 END AS valuation_confidence,
               CASE WHEN tier <> 'B' THEN ['light', 'medium', 'heavy'][1 + i % 3] END
                   AS repair_tier,
               CASE WHEN tier <> 'B' THEN 15000.0 + (i % 60) * 1000 END AS repair_estimate,
               CASE WHEN tier <> 'B' THEN 60000.0 + (hash(i, 'v') % 200000) END AS offer_min,
               CASE WHEN tier <> 'B' THEN 80000.0 + (hash(i, 'v') % 200000) END AS offer_max
        FROM base"""


def _outreach_tables(conn: duckdb.DuckDBPyConnection, messages: int) -> None:
    """Enrollments, touches and replies for one year, as temporary tables the published
    tables are derived from."""
    enrollments = int(messages * 0.272)  # ~3.7 messages per enrollment
    markets = "[" + ", ".join(f"'{m}'" for m in MARKETS) + "]"
    conn.execute(f"""CREATE TEMP TABLE enrollments AS
        SELECT i AS enrollment_id, 1000000 + i AS owner_id, {markets}[1 + i % 5] AS market_code,
               ['fl_cash_offer_v1', 'fl_probate_email', 'fl_absentee_mixed'][1 + i % 3]
                   AS campaign_name,
               CASE WHEN i % 3 = 1 THEN 3 ELSE 4 END AS planned_touches,
               CASE WHEN hash(i, 't') % 10 < 4 THEN 'A' ELSE 'B+' END AS tier,
               lpad((i * 13)::VARCHAR, 13, '0') AS parcel_id,
               (hash(i, 'd') % 335)::INTEGER AS start_day,
               CASE WHEN hash(i, 'r') % 1000 < 120 THEN 1 + hash(i, 'k') % 3 END AS reply_touch,
               hash(i, 'i') % 100 AS intent_roll,
               ['JOHN', 'MARIA', 'LEE', 'ANA', 'RAJ', 'PAT'][1 + i % 6] AS first_name,
               (100 + i % 9800) || ' ' || ['OAK', 'ELM', 'PINE', 'LAKE', 'PALM'][1 + i % 5]
                   || ' ' || ['ST', 'AVE', 'DR', 'CT'][1 + i % 4] AS address
        FROM range({enrollments}) AS t(i)""")
    conn.execute("""CREATE TEMP TABLE touches AS
        SELECT e.*, n AS touch_number,
               CASE WHEN e.campaign_name = 'fl_probate_email' THEN 'email'
                    WHEN e.campaign_name = 'fl_absentee_mixed' AND n % 2 = 0 THEN 'email'
                    ELSE 'sms' END AS channel,
               TIMESTAMP '2025-11-21 13:00:00' + to_days(e.start_day + (n - 1) * 5)
                   + to_minutes((hash(e.enrollment_id, n) % 420)::INTEGER) AS sent_at,
               CASE WHEN hash(e.enrollment_id, n, 's') % 100 < 3 THEN 'failed'
                    WHEN hash(e.enrollment_id, n, 's') % 100 < 4 THEN 'refused'
                    ELSE 'delivered' END AS status
        FROM enrollments AS e, range(1, 5) AS r(n)
        WHERE n <= coalesce(e.reply_touch, e.planned_touches)""")
    conn.execute("""CREATE TEMP TABLE replies AS
        SELECT t.*, k AS reply_number,
               t.sent_at + to_minutes((20 + hash(t.enrollment_id, k) % 600)::INTEGER + k * 1440)
                   AS reply_at,
               CASE WHEN t.intent_roll < 25 THEN 'interested'
                    WHEN t.intent_roll < 40 THEN 'question'
                    WHEN t.intent_roll < 65 THEN 'not_interested'
                    WHEN t.intent_roll < 90 THEN 'opt_out'
                    WHEN t.intent_roll < 95 THEN 'wrong_number' ELSE 'unknown' END AS intent
        FROM touches AS t, range(1, 4) AS r(k)
        WHERE t.touch_number = t.reply_touch AND t.status = 'delivered'
          AND k <= CASE WHEN t.intent_roll < 40 THEN 3 ELSE 1 END""")


INBOUND_TEXTS = {
    "interested": ["Yes I might sell. What can you offer for {a}?",
                   "Maybe, depends on the price. Call me.",
                   "I have been thinking about selling {a}, send me a number"],
    "question": ["Who is this and how did you get my number?",
                 "What is the process, do I need to fix anything first?",
                 "Is this about {a}? What are you offering?"],
    "not_interested": ["Not interested, thanks.", "No, we are keeping it.",
                       "Not for sale."],
    "opt_out": ["STOP", "stop texting me", "Unsubscribe"],
    "wrong_number": ["Wrong number, I don't own {a}", "You have the wrong person"],
    "unknown": ["ok", "?", "Hmm"],
}


def _sql_texts(texts: list[str], seed: str) -> str:
    options = ", ".join("'" + t.replace("'", "''").replace("{a}", "' || address || '") + "'"
                        for t in texts)
    return f"[{options}][1 + (hash(message_key, '{seed}') % {len(texts)})::BIGINT]"


def _conversations_sql() -> str:
    inbound_body = "CASE intent " + " ".join(
        f"WHEN '{intent}' THEN {_sql_texts(texts, intent)}"
        for intent, texts in INBOUND_TEXTS.items()) + " END"
    sms_body = ("'Hi ' || first_name || ', this is Sam with Sunshine Home Buyers. Would you "
                "consider a cash offer for ' || address || '? No repairs, no fees. Reply "
                "STOP to opt out.'")
    email_body = ("'Dear ' || first_name || ',\\n\\nWe buy houses in Central Florida as they "
                  "are, and we would like to make you a fair cash offer for ' || address || "
                  "'. We pay closing costs, you choose the closing date, and there are no "
                  "agent commissions. If you would like a no-obligation offer, simply reply "
                  "to this email.\\n\\nSunshine Home Buyers, 100 Main St, Orlando FL 32801.\\n"
                  "To stop receiving these emails, use the unsubscribe link below.'")
    return f"""
        WITH outbound AS (
            SELECT enrollment_id * 10 + touch_number AS message_key, owner_id, market_code,
                   campaign_name, parcel_id, tier, 'outbound' AS direction, channel,
                   'touch' AS purpose, touch_number,
                   campaign_name || '_' || touch_number AS template, status, sent_at AS "at",
                   CASE WHEN channel = 'email'
                        THEN 'A cash offer for ' || address END AS subject,
                   CASE WHEN channel = 'email' THEN {email_body} ELSE {sms_body} END AS body,
                   NULL::BIGINT AS reply_to_key, NULL AS intent, NULL::DOUBLE AS sentiment,
                   NULL::DOUBLE AS intent_confidence, NULL::BOOLEAN AS is_opt_out,
                   NULL AS decision, first_name, address
            FROM touches WHERE status <> 'refused'),
        inbound AS (
            SELECT enrollment_id * 10 + 5 + reply_number AS message_key, owner_id,
                   market_code, campaign_name, parcel_id, tier, 'inbound', channel, NULL,
                   NULL::INTEGER, NULL, 'received', reply_at,
                   CASE WHEN channel = 'email' THEN 'Re: A cash offer for ' || address END,
                   NULL, enrollment_id * 10 + touch_number, intent,
                   CASE intent WHEN 'interested' THEN 0.5 WHEN 'question' THEN 0.1
                        WHEN 'opt_out' THEN -0.5 WHEN 'not_interested' THEN -0.3 ELSE 0 END
                       + ((hash(enrollment_id, reply_number) % 40)::INTEGER - 20) / 100.0,
                   0.6 + (hash(enrollment_id, 'c') % 40) / 100.0, intent = 'opt_out',
                   CASE intent WHEN 'interested' THEN 'handoff' WHEN 'question' THEN
                        'auto_reply' WHEN 'opt_out' THEN 'stop' ELSE 'none' END,
                   first_name, address
            FROM replies),
        answers AS (
            SELECT enrollment_id * 10 + 8 + reply_number AS message_key, owner_id,
                   market_code, campaign_name, parcel_id, tier, 'outbound', channel,
                   CASE intent WHEN 'opt_out' THEN 'opt_out_confirmation' ELSE 'auto_reply'
                       END, NULL::INTEGER, NULL, 'delivered', reply_at + INTERVAL 2 MINUTE,
                   NULL, CASE intent WHEN 'opt_out' THEN 'You are unsubscribed and will get '
                       || 'no more messages from us.' ELSE 'Thanks ' || first_name || '! '
                       || 'We can usually close in 2-3 weeks and pay all costs. A person from '
                       || 'our team will follow up shortly.' END,
                   enrollment_id * 10 + 5 + reply_number, NULL, NULL, NULL, NULL, NULL,
                   first_name, address
            FROM replies WHERE reply_number = 1 AND intent IN ('question', 'opt_out')),
        everything AS (SELECT * FROM outbound UNION ALL SELECT * FROM inbound
                       UNION ALL SELECT * FROM answers)
        SELECT message_key AS message_id, owner_id, market_code, campaign_name, parcel_id, tier,
               direction, channel, purpose, touch_number, template, status, "at", subject,
               {inbound_body} AS inbound_text,
               body, "at" < TIMESTAMP '2026-02-01' AS is_body_purged, reply_to_key AS
               in_reply_to_id, intent, sentiment, intent_confidence, is_opt_out, decision,
               false AS is_human_takeover, NULL AS conversation_state,
               CASE WHEN channel = 'sms'
                    THEN '(407) ***-**' || lpad((owner_id % 100)::VARCHAR, 2, '0')
                    ELSE lower(first_name[1]) || '***@example.com' END AS contact_hint
        FROM everything"""


def generate(root: Path, parcels: int, messages: int) -> dict[str, float]:
    """Write a snapshot (same layout and manifest as pipelines/publish.py) under `root`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = root / "published" / "snapshots" / stamp
    folder.mkdir(parents=True)
    started = time.perf_counter()
    rows: dict[str, int] = {}
    with duckdb.connect() as conn:
        conn.execute("SET preserve_insertion_order = false")
        rows["leads"] = _copy(conn, folder, "leads", _leads_sql(parcels))
        rows["comps"] = _copy(conn, folder, "comps", f"""
            SELECT property_id || '|' || market_code || '-s' || k AS comp_id, market_code,
                   property_id AS subject_property_id, market_code || '-s' || k AS comp_sale_id,
                   market_code || '-c' || k AS comp_property_id, 1 + k % 3 AS comp_level,
                   ['same_neighborhood', 'same_area', 'same_zip'][1 + k % 3]
                       AS comp_level_name, k AS similarity_rank, k / 10.0 AS similarity_distance,
                   as_of_month, as_of_month - to_months(k) AS sale_month,
                   k AS months_before_as_of, arv - 5000 * k AS sale_price, living_area_sqft,
                   living_area_sqft AS subject_living_area_sqft, year_built,
                   year_built AS subject_year_built,
                   round((arv - 5000 * k) / living_area_sqft, 2) AS price_per_sqft,
                   1.0 AS time_adjustment_factor, 1.0 AS size_adjustment_factor,
                   round((arv - 5000 * k) / living_area_sqft, 2) AS adjusted_price_per_sqft
            FROM read_parquet('{folder / "leads.parquet"}'), range(1, 11) AS r(k)
            WHERE is_comp_subject""")
        per_market = parcels // len(MARKETS)
        rows["market_summary"] = _copy(conn, folder, "market_summary", f"""
            SELECT market_code, {per_market}::BIGINT AS scored_parcels,
                   count(*) FILTER (WHERE tier = 'A') AS tier_a,
                   count(*) FILTER (WHERE tier = 'B+') AS tier_b_plus,
                   count(*) FILTER (WHERE tier = 'B') AS tier_b,
                   {per_market} - count(*) AS tier_c, median(arv) AS median_arv,
                   count(*) FILTER (WHERE offer_max > 0) AS offers
            FROM read_parquet('{folder / "leads.parquet"}') GROUP BY ALL ORDER BY 1""")
        leads_seconds = time.perf_counter() - started

        _outreach_tables(conn, messages)
        conn.execute(f"CREATE TEMP TABLE conv AS {_conversations_sql()}")
        # Takeovers and states: the owners with an interested reply are handed off, a third
        # of them taken over by a person.
        conn.execute("""CREATE TEMP TABLE owner_state AS
            SELECT owner_id, CASE WHEN bool_or(intent = 'interested') THEN 'handed_off'
                                  WHEN bool_or(intent = 'opt_out') THEN 'stopped'
                                  ELSE 'open' END AS conversation_state,
                   bool_or(intent = 'interested') AND owner_id % 3 = 0 AS is_human_takeover
            FROM conv WHERE direction = 'inbound' GROUP BY owner_id""")
        rows["conversations"] = _copy(conn, folder, "conversations", """
            SELECT c.message_id, c.owner_id, c.market_code, c.campaign_name, c.parcel_id,
                   c.tier, c.direction, c.channel, c.purpose, c.touch_number, c.template,
                   c.status, c."at", CASE WHEN NOT c.is_body_purged THEN c.subject END AS subject,
                   CASE WHEN c.is_body_purged THEN NULL
                        WHEN c.direction = 'inbound' THEN c.inbound_text ELSE c.body END AS body,
                   c.is_body_purged, c.in_reply_to_id, c.intent, c.sentiment,
                   c.intent_confidence, c.is_opt_out, c.decision,
                   coalesce(s.is_human_takeover, false) AS is_human_takeover,
                   s.conversation_state, c.contact_hint
            FROM conv AS c LEFT JOIN owner_state AS s USING (owner_id)
            ORDER BY c."at"
            """)
        conn.execute("""CREATE TEMP TABLE touch_outcomes AS
            SELECT t.enrollment_id, t.owner_id, t.market_code, t.campaign_name, t.tier,
                   t.channel, t.touch_number, t.campaign_name || '_' || t.touch_number
                       AS template, t.sent_at, t.status,
                   count(r.reply_number) > 0 AS responded,
                   bool_or(r.intent = 'interested') AS interested,
                   bool_or(r.intent = 'opt_out') AS opted_out,
                   min(r.reply_at) AS first_reply_at,
                   arg_min(r.intent, r.reply_at) AS first_reply_intent,
                   bool_or(r.intent = 'interested' AND t.enrollment_id % 40 = 0) AS deal
            FROM touches AS t LEFT JOIN replies AS r
                 ON r.enrollment_id = t.enrollment_id AND r.touch_number = t.touch_number
            GROUP BY ALL""")
        rows["outreach_daily"] = _copy(conn, folder, "outreach_daily", """
            SELECT sent_at::DATE AS sent_on, market_code, campaign_name, tier, channel,
                   touch_number::INTEGER AS touch_number, template,
                   count(*) FILTER (WHERE status <> 'refused') AS sent,
                   count(*) FILTER (WHERE status = 'delivered') AS delivered,
                   count(*) FILTER (WHERE status = 'failed') AS failed,
                   count(*) FILTER (WHERE status = 'refused') AS refused,
                   count(*) FILTER (WHERE status <> 'refused' AND channel = 'sms') * 2
                       AS segments,
                   count(*) FILTER (WHERE responded) AS responses,
                   count(*) FILTER (WHERE interested) AS interested,
                   count(*) FILTER (WHERE opted_out) AS opt_outs,
                   count(*) FILTER (WHERE deal) AS deals,
                   count(*) FILTER (WHERE responded) / nullif(count(*), 0) AS response_rate,
                   count(*) FILTER (WHERE interested) / nullif(count(*), 0) AS interest_rate,
                   count(*) FILTER (WHERE opted_out) / nullif(count(*), 0) AS opt_out_rate,
                   count(*) FILTER (WHERE deal) / nullif(count(*), 0) AS conversion_rate,
                   sum(CASE WHEN channel = 'sms' AND status <> 'refused' THEN 0.0158
                            ELSE 0 END) AS cost_usd
            FROM touch_outcomes GROUP BY ALL""")
        rows["outreach_funnel"] = _copy(conn, folder, "outreach_funnel", """
            WITH per_enrollment AS (
                SELECT enrollment_id, market_code, campaign_name, tier,
                       arg_min(channel, sent_at) AS channel, bool_or(responded) AS responded,
                       bool_or(interested) AS interested, bool_or(deal) AS deal,
                       bool_or(opted_out) AS opted_out
                FROM touch_outcomes
                GROUP BY enrollment_id, market_code, campaign_name, tier),
            channels AS (SELECT *, channel AS grouping_channel FROM per_enrollment
                         UNION ALL SELECT *, 'all' FROM per_enrollment)
            SELECT market_code, campaign_name, tier, grouping_channel AS channel,
                   CASE WHEN grouping_channel = 'all' THEN count(*) ELSE 0 END AS enrolled,
                   count(*) AS contacted, count(*) FILTER (WHERE responded) AS responded,
                   count(*) FILTER (WHERE interested) AS interested,
                   count(*) FILTER (WHERE deal) AS under_contract,
                   count(*) FILTER (WHERE deal AND enrollment_id % 80 = 0) AS closed,
                   count(*) FILTER (WHERE opted_out) AS opted_out,
                   count(*) FILTER (WHERE responded) / count(*) AS response_rate,
                   count(*) FILTER (WHERE interested) / count(*) AS interest_rate,
                   count(*) FILTER (WHERE deal) / count(*) AS contract_rate,
                   count(*) FILTER (WHERE deal AND enrollment_id % 80 = 0) / count(*)
                       AS close_rate
            FROM channels GROUP BY market_code, campaign_name, tier, grouping_channel""")
        rows["campaign_touches"] = _copy(conn, folder, "campaign_touches", """
            WITH sizes AS (SELECT campaign_name, market_code, count(*) AS enrollments
                           FROM enrollments GROUP BY ALL)
            SELECT o.campaign_name, o.market_code, o.touch_number::INTEGER AS touch_number,
                   mode(o.channel) AS channel, mode(o.template) AS template,
                   any_value(s.enrollments) AS enrollments, count(*) AS reached,
                   count(*) / any_value(s.enrollments) AS completion_rate,
                   count(*) FILTER (WHERE status <> 'refused') AS sent,
                   count(*) FILTER (WHERE status = 'delivered') AS delivered,
                   count(*) FILTER (WHERE status = 'failed') AS failed,
                   count(*) FILTER (WHERE status = 'refused') AS refused,
                   count(*) FILTER (WHERE responded) AS responses,
                   count(*) FILTER (WHERE interested) AS interested,
                   count(*) FILTER (WHERE opted_out) AS opt_outs,
                   count(*) FILTER (WHERE responded) / count(*) AS response_rate,
                   count(*) FILTER (WHERE interested) / count(*) AS interest_rate,
                   sum(CASE WHEN o.channel = 'sms' THEN 0.0158 ELSE 0 END) AS cost_usd
            FROM touch_outcomes AS o JOIN sizes AS s USING (campaign_name, market_code)
            GROUP BY ALL""")
        rows["first_responses"] = _copy(conn, folder, "first_responses", """
            SELECT enrollment_id, owner_id, market_code, campaign_name, tier, channel,
                   template, touch_number::INTEGER AS touch_number, sent_at AS touch_sent_at,
                   first_reply_at, sent_at AS first_contact_at,
                   date_diff('minute', sent_at, first_reply_at) / 60.0 AS hours_to_first_response,
                   date_diff('minute', sent_at, first_reply_at) / 60.0 AS hours_from_first_contact,
                   first_reply_intent
            FROM touch_outcomes WHERE responded""")
        rows["handoff_queue"] = _copy(conn, folder, "handoff_queue", """
            SELECT row_number() OVER (ORDER BY first_reply_at) AS handoff_id, o.owner_id,
                   o.market_code, CASE WHEN o.owner_id % 3 = 0 THEN 'claimed'
                                       ELSE 'waiting' END AS status,
                   'interested reply' AS reason,
                   CASE WHEN o.owner_id % 3 = 0 THEN 'sam' END AS closer,
                   CASE WHEN o.owner_id % 3 = 0 THEN 'sam' END AS claimed_by,
                   o.first_reply_at + INTERVAL 1 MINUTE AS created_at,
                   CASE WHEN o.owner_id % 3 = 0
                        THEN o.first_reply_at + INTERVAL 3 HOUR END AS claimed_at,
                   date_diff('minute', o.first_reply_at, TIMESTAMP '2026-11-21 12:00') / 60.0
                       AS hours_waiting,
                   e.parcel_id, o.market_code || '-' || e.parcel_id AS property_id,
                   e.address AS situs_address, 'ORLANDO' AS situs_city,
                   'OWNER ' || e.first_name AS owner_name, o.tier, 45.0 AS score,
                   o.campaign_name, o.first_reply_at AS last_reply_at,
                   'Yes I might sell. What can you offer for ' || e.address || '?'
                       AS last_reply_body, 'interested' AS last_reply_intent,
                   0.55 AS last_reply_sentiment,
                   '(407) ***-**' || lpad((o.owner_id % 100)::VARCHAR, 2, '0') AS contact_hint,
                   o.owner_id % 3 = 0 AS is_human_takeover
            FROM touch_outcomes AS o JOIN enrollments AS e USING (enrollment_id)
            WHERE o.interested AND o.first_reply_at > TIMESTAMP '2026-08-01'
              AND NOT o.deal""")
        rows["deals"] = _copy(conn, folder, "deals", """
            SELECT enrollment_id AS deal_id, owner_id, market_code, e.parcel_id,
                   market_code || '-' || e.parcel_id AS property_id,
                   CASE WHEN enrollment_id % 80 = 0 THEN 'closed' ELSE 'under_contract' END
                       AS status,
                   150000.0 + enrollment_id % 50000 AS contract_price_usd,
                   8000.0 + enrollment_id % 7000 AS assignment_fee_usd,
                   CASE WHEN enrollment_id % 80 = 0 THEN 8000.0 + enrollment_id % 7000
                        ELSE 0 END AS revenue_usd,
                   (first_reply_at + INTERVAL 10 DAY)::DATE AS contracted_on,
                   CASE WHEN enrollment_id % 80 = 0
                        THEN (first_reply_at + INTERVAL 40 DAY)::DATE END AS closed_on,
                   enrollment_id % 80 = 0 AS is_closed, false AS is_cancelled,
                   'sam' AS recorded_by, campaign_name, channel, template,
                   touch_number::INTEGER AS touch_number,
                   first_reply_at + INTERVAL 10 DAY AS created_at,
                   first_reply_at + INTERVAL 40 DAY AS updated_at
            FROM touch_outcomes AS o JOIN enrollments AS e USING (enrollment_id, owner_id,
                                                                 market_code, campaign_name,
                                                                 tier)
            WHERE deal""")
        rows["deal_attribution"] = _copy(conn, folder, "deal_attribution", f"""
            SELECT deal_id, owner_id, market_code, status, 'first_reply' AS attribution_method,
                   deal_id * 10 + touch_number AS attributed_message_id,
                   deal_id AS enrollment_id, campaign_name, channel, template, touch_number,
                   created_at - INTERVAL 12 DAY AS touch_sent_at,
                   created_at - INTERVAL 10 DAY AS first_reply_at,
                   deal_id * 10 + 6 AS first_reply_message_id, revenue_usd
            FROM read_parquet('{folder / "deals.parquet"}')""")
        rows["costs"] = _copy(conn, folder, "costs", f"""
            WITH sms AS (
                SELECT date_trunc('month', sent_on)::DATE AS month, market_code,
                       'sms' AS cost_type, sum(segments)::DOUBLE AS units,
                       NULL::DOUBLE AS unit_cost_usd, sum(cost_usd) AS cost_usd,
                       'ledger cost_usd' AS note
                FROM read_parquet('{folder / "outreach_daily.parquet"}')
                WHERE channel = 'sms' GROUP BY ALL),
            email AS (
                SELECT date_trunc('month', sent_on)::DATE, market_code, 'email',
                       sum(sent)::DOUBLE, 0.0004, sum(sent) * 0.0004, 'per email'
                FROM read_parquet('{folder / "outreach_daily.parquet"}')
                WHERE channel = 'email' GROUP BY ALL),
            months AS (SELECT DISTINCT month, market_code FROM sms)
            SELECT * FROM sms UNION ALL SELECT * FROM email
            UNION ALL SELECT month, market_code, 'skip_trace', 5000.0, 0.12, 600.0,
                             'rows read x skip_trace_usd' FROM months
            UNION ALL SELECT month, market_code, 'phone_lookup', 4000.0, 0.008, 32.0,
                             'lookups' FROM months
            UNION ALL SELECT month, market_code, 'compute', 0.2, 150.0, 30.0,
                             'monthly figure split over markets' FROM months""")
        rows["roi"] = _copy(conn, folder, "roi", f"""
            WITH costs AS (
                SELECT month, market_code,
                       sum(cost_usd) FILTER (WHERE cost_type = 'sms') AS sms_cost_usd,
                       sum(cost_usd) FILTER (WHERE cost_type = 'email') AS email_cost_usd,
                       sum(cost_usd) FILTER (WHERE cost_type = 'skip_trace')
                           AS skip_trace_cost_usd,
                       sum(cost_usd) FILTER (WHERE cost_type = 'phone_lookup')
                           AS phone_lookup_cost_usd,
                       sum(cost_usd) FILTER (WHERE cost_type = 'compute') AS compute_cost_usd,
                       sum(cost_usd) AS cost_usd
                FROM read_parquet('{folder / "costs.parquet"}') GROUP BY ALL),
            contacted AS (
                SELECT date_trunc('month', sent_at)::DATE AS month, market_code,
                       count(DISTINCT enrollment_id) FILTER (WHERE touch_number = 1)
                           AS leads_contacted,
                       count(*) FILTER (WHERE responded) AS responses,
                       count(*) FILTER (WHERE interested) AS interested
                FROM touch_outcomes GROUP BY ALL),
            deals AS (
                SELECT date_trunc('month', closed_on)::DATE AS month, market_code,
                       count(*) AS deals_closed, sum(revenue_usd) AS revenue_usd,
                       avg(assignment_fee_usd) AS average_assignment_fee_usd
                FROM read_parquet('{folder / "deals.parquet"}') WHERE is_closed
                GROUP BY ALL),
            joined AS (
                SELECT c.month, c.market_code, coalesce(k.leads_contacted, 0)
                           AS leads_contacted, coalesce(k.responses, 0) AS responses,
                       coalesce(k.interested, 0) AS interested,
                       coalesce(d.deals_closed, 0) AS deals_under_contract,
                       coalesce(d.deals_closed, 0) AS deals_closed,
                       coalesce(d.revenue_usd, 0) AS revenue_usd,
                       c.sms_cost_usd, c.email_cost_usd, c.skip_trace_cost_usd,
                       c.phone_lookup_cost_usd, c.compute_cost_usd, c.cost_usd
                FROM costs AS c LEFT JOIN contacted AS k USING (month, market_code)
                     LEFT JOIN deals AS d USING (month, market_code))
            SELECT *, cost_usd / nullif(leads_contacted, 0) AS cost_per_lead_usd,
                   cost_usd / nullif(deals_closed, 0) AS cost_per_deal_usd,
                   (revenue_usd - cost_usd) / nullif(cost_usd, 0) AS roi,
                   11000.0 AS average_assignment_fee_usd,
                   ceil(cost_usd / 11000.0) AS break_even_deals,
                   sum(cost_usd) OVER w AS cumulative_cost_usd,
                   sum(revenue_usd) OVER w AS cumulative_revenue_usd,
                   (sum(revenue_usd) OVER w - sum(cost_usd) OVER w)
                       / nullif(sum(cost_usd) OVER w, 0) AS cumulative_roi
            FROM joined
            WINDOW w AS (PARTITION BY market_code ORDER BY month)""")
    (folder / "manifest.json").write_text(json.dumps(
        {"published_at": datetime.now(UTC).isoformat(), "rows": rows,
         "generated_by": "bench/dashboard_pages.py"}, indent=2))
    link = root / "published" / "current"
    temporary = root / "published" / f".current.{stamp}"
    temporary.symlink_to(Path("snapshots") / stamp)
    os.replace(temporary, link)
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"snapshot {folder}: {size / 2**20:,.0f} MiB, leads part {leads_seconds:.1f} s, "
          f"total {seconds:.1f} s")
    for table, count in rows.items():
        print(f"  {table:18} {count:>12,} rows  "
              f"{(folder / f'{table}.parquet').stat().st_size / 2**20:8,.1f} MiB")
    return {"seconds": seconds, "mib": size / 2**20}


# --- the browser --------------------------------------------------------------------------

RENDERED_JS = """([marker]) => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    if (document.querySelector('[data-stale="true"]')) return false;
    for (const chart of document.querySelectorAll('[data-testid="stVegaLiteChart"]'))
        if (!chart.querySelector('canvas, svg')) return false;
    for (const frame of document.querySelectorAll('[data-testid="stDataFrame"]'))
        if (!frame.querySelector('canvas')) return false;
    const text = document.body.innerText;
    return text.includes(marker) && text.includes('Snapshot published');
}"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, WHOLESALER_DATA_DIR=str(data_dir),
               WHOLESALER_DASHBOARD_PASSWORD=PASSWORD)
    env.pop("WHOLESALER_DASHBOARD_USERS", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboards" / "streamlit_app.py"),
         "--server.headless", "true", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return server
        except OSError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("streamlit did not start")


def _wait_rendered(page, marker: str, timeout_ms: float = 120_000) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(RENDERED_JS, arg=[marker], timeout=timeout_ms, polling=25)


def measure_once(data_dir: Path, shots: Path | None) -> dict[str, list[float]]:
    """One server start: sign in, pass 1 (cold) and pass 2 (warm) over every page."""
    from playwright.sync_api import sync_playwright

    from scrapers.appraiser.scraper import CHROMIUM_ARGS, chromium_path

    port = _free_port()
    server = _start_server(data_dir, port)
    timings: dict[str, list[float]] = {"sign-in form": []}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium_path()),
                                                 headless=True, args=list(CHROMIUM_ARGS))
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            started = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_label("Password", exact=True).wait_for()
            page.wait_for_function("""() => document.querySelector('[data-testid="stApp"]')
                ?.getAttribute('data-test-script-state') === 'notRunning'""", polling=25)
            timings["sign-in form"].append(time.perf_counter() - started)
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            for number in (1, 2):
                for title, marker in PAGES.items():
                    started = time.perf_counter()
                    if number == 1 and title == "Overview":
                        page.get_by_role("button", name="Sign in").click()
                    else:
                        page.get_by_role("link", name=title, exact=True).click()
                    _wait_rendered(page, marker)
                    seconds = time.perf_counter() - started
                    timings.setdefault(f"{title} {'cold' if number == 1 else 'warm'}",
                                       []).append(seconds)
                    print(f"    {title:14} pass {number}: {seconds:6.2f} s", flush=True)
                    if shots is not None and number == 2:
                        page.screenshot(path=str(shots / f"{title.lower()}.png"),
                                        full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=10_000_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="write the data here and keep it")
    parser.add_argument("--reuse", type=Path, help="a data folder a previous --keep wrote")
    parser.add_argument("--screenshots", type=Path, help="save each page (warm pass) here")
    arguments = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB, "
          f"Python {platform.python_version()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"load {os.getloadavg()[0]:.1f}")
    temporary = None
    if arguments.reuse:
        data_dir = arguments.reuse
    else:
        data_dir = arguments.keep or Path(temporary := tempfile.mkdtemp(prefix="dash-bench-"))
        data_dir.mkdir(parents=True, exist_ok=True)
        generate(data_dir, arguments.parcels, arguments.messages)
    if arguments.screenshots:
        arguments.screenshots.mkdir(parents=True, exist_ok=True)
    try:
        timings: dict[str, list[float]] = {}
        for repeat in range(1, arguments.repeats + 1):
            print(f"  repeat {repeat} (fresh server)", flush=True)
            for name, values in measure_once(data_dir, arguments.screenshots).items():
                timings.setdefault(name, []).extend(values)
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)
    print(f"\n| page | median s | max s | runs | under {TARGET_SECONDS:.0f} s |")
    print("|---|---|---|---|---|")
    for name, values in timings.items():
        verdict = ("(reference, not a page)" if name == "sign-in form"
                   else "yes" if max(values) < TARGET_SECONDS else "**no**")
        print(f"| {name} | {statistics.median(values):.2f} | {max(values):.2f} | "
              f"{len(values)} | {verdict} |")


if __name__ == "__main__":
    main()
