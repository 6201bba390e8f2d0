"""Benchmark data: one year of outreach for the five markets (about 1 M messages) written
straight into a ledger with SQLAlchemy Core bulk inserts, then the ledger copy, the outreach
marts and the publish timed on it (docs/benchmarks.md, "Outreach analytics").

The ledger is consistent the way the send path leaves it: owners with a parcel, a phone and an
email (encrypted, with their lookup hashes and masked hints), one campaign record, enrollments
whose touches follow fl_cash_offer_v1 (day 0 SMS, 3 email, 7 SMS, 14 email, 21 SMS, sent
10:00-18:00 local), each touch with its status and billed cost at the market's prices,
replies (~8 % of enrollments; intents: interested ~20 % of replies, opt-out ~25 %, ...) that
stop the drip, auto-replies and opt-out confirmations, lead statuses, conversation states,
handoffs for interested sellers, a few dozen deals (most closed with an assignment fee),
suppressions, monthly skip-trace imports and line-type lookups.

    .venv/bin/python bench/generate_outreach.py --ledger /tmp/bench/outreach.db \\
        [--enrollments 220000] [--seed 7] [--time-pipeline --warehouse /tmp/bench/w.duckdb]

Figures printed beside a floor measured in the same run on the same data:
- ledger copy (pipelines/ledger_copy.py, full) vs a bare sqlite3 fetch of the same columns;
- outreach marts (`dbt build --select tag:outreach`, tests included) vs DuckDB copying
  `ledger.messages` once (CREATE TABLE AS);
- publish (pipelines/publish.py, every table) vs one COPY of `marts.conversations` to Parquet;
- an incremental copy right after (nothing changed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MARKETS = ("orange_fl", "seminole_fl", "osceola_fl", "lake_fl", "volusia_fl")
CAMPAIGN = "fl_cash_offer_v1"
TOUCHES = ((0, "sms", "sms_intro_v1"), (3, "email", "email_intro_v1"),
           (7, "sms", "sms_followup_v1"), (14, "email", "email_followup_v1"),
           (21, "sms", "sms_last_v1"))
START = date(2025, 11, 1)
DAYS = 365
REPLY_RATE = 0.08
INTENTS = (("interested", 0.20), ("not_interested", 0.33), ("question", 0.15),
           ("opt_out", 0.27), ("wrong_number", 0.05))
REPLY_TEXTS = {
    "interested": ["Yes I might sell, what can you offer?", "Call me, interested",
                   "Possibly. Whats your number? mine is 407-555-0100"],
    "not_interested": ["Not interested", "No thanks", "Not selling"],
    "question": ["Who is this?", "How did you get my number?", "What is the offer?"],
    "opt_out": ["STOP", "Stop texting me", "remove me"],
    "wrong_number": ["Wrong number", "You have the wrong person"],
}
SMS_BODY = ("Hi {name}, this is Sam with Sunshine Home Buyers. Would you consider a cash offer "
            "for your property at {street}? Reply STOP to opt out.")
EMAIL_BODY = ("Hello {name},\n\nWe buy houses as-is for cash in your area and would like to "
              "make an offer on {street}. No repairs, no fees.\n\nSunshine Home Buyers, "
              "100 Main St, Orlando FL 32801. Unsubscribe: https://example.com/u/{token}")
CHUNK = 50_000


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    roll, total = rng.random(), 0.0
    for value, weight in weighted:
        total += weight
        if roll < total:
            return value
    return weighted[-1][0]


class Writer:
    """Buffers rows per table and inserts them in chunks (Core executemany)."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        from outreach.ledger.models import Base

        self.engine = engine
        self.tables = Base.metadata.tables
        self.buffers: dict[str, list[dict]] = {}
        self.counts: dict[str, int] = {}

    def add(self, table: str, row: dict) -> None:
        buffer = self.buffers.setdefault(table, [])
        buffer.append(row)
        if len(buffer) >= CHUNK:
            self.flush(table)

    def flush(self, table: str | None = None) -> None:
        for name in [table] if table else list(self.buffers):
            rows = self.buffers.get(name) or []
            if not rows:
                continue
            keys = {key for row in rows for key in row}  # executemany: one key set per batch
            rows = [row if len(row) == len(keys) else {**dict.fromkeys(keys), **row}
                    for row in rows]
            with self.engine.begin() as connection:
                connection.execute(self.tables[name].insert(), rows)
            self.counts[name] = self.counts.get(name, 0) + len(rows)
            self.buffers[name] = []


def generate(ledger_url: str, enrollments: int, seed: int) -> dict[str, int]:
    """Write the ledger (see the module docstring); returns rows per table."""
    import sqlalchemy as sa

    from markets.loader import load_market
    from outreach.ledger import pii
    from outreach.ledger.db import ledger_engine, upgrade_ledger

    rng = random.Random(seed)
    migrated = ledger_engine(ledger_url)
    upgrade_ledger(migrated)
    migrated.dispose()
    # Buffers flush per table in any order (messages before their enrollments): the writes go
    # through a plain engine, without the ledger's foreign-key pragma; ids are consistent.
    engine = sa.create_engine(ledger_url)
    keyring = pii.current_keyring()
    prices = {code: load_market(code).costs for code in MARKETS}
    zone = ZoneInfo("America/New_York")
    out = Writer(engine)
    created = datetime(2025, 10, 1, tzinfo=UTC)
    out.add("campaigns", {"campaign_id": 1, "name": CAMPAIGN, "definition_sha256": "0" * 64,
                          "is_paused": False, "created_at": created})
    out.flush("campaigns")
    message_id = decision_id = status_id = 0
    interested_owners: list[tuple[int, str, str, date]] = []
    looked_up: list[str] = []
    per_market = enrollments // len(MARKETS)
    owner_id = 0
    for market in MARKETS:
        cost = prices[market]
        for _ in range(per_market):
            owner_id += 1
            parcel = f"{owner_id:010d}"
            enrolled_on = START + timedelta(days=rng.randrange(DAYS - 21))
            # the owner and contacts arrive with the skip trace a few days before enrollment
            seen_at = datetime.combine(enrolled_on, datetime.min.time(), UTC) - timedelta(
                days=3, minutes=rng.randrange(1440))
            out.add("owners", {"owner_id": owner_id, "market_code": market,
                               "owner_key": f"OWNER {owner_id}|1 MAIN ST", "owner_name":
                               f"OWNER {owner_id}", "created_at": seen_at})
            out.add("owner_parcels", {"owner_id": owner_id, "parcel_id": parcel,
                                      "market_code": market, "linked_by": "parcel_id",
                                      "created_at": seen_at})
            phone = f"+1407{rng.randrange(2000000, 9999999):07d}"
            email = f"owner{owner_id}@example.com"
            phone_contact, email_contact = 2 * owner_id - 1, 2 * owner_id
            if owner_id % 50 == 0:
                looked_up.append(keyring.lookup_hash("phone", phone))
            out.add("contacts", {
                "contact_id": phone_contact, "owner_id": owner_id, "channel": "phone",
                "value": phone, "value_hash": keyring.lookup_hash("phone", phone),
                "value_hint": pii.mask_phone(phone), "number_type": "mobile",
                "is_valid": True, "is_verified": False, "confidence": 0.9,
                "confidence_reason": "", "is_wrong_number": False, "created_at": seen_at,
                "updated_at": seen_at})
            out.add("contacts", {
                "contact_id": email_contact, "owner_id": owner_id, "channel": "email",
                "value": email, "value_hash": keyring.lookup_hash("email", email),
                "value_hint": pii.mask_email(email), "email_domain_status": "mx",
                "is_valid": True, "is_verified": False, "confidence": 0.7,
                "confidence_reason": "", "is_wrong_number": False, "created_at": seen_at,
                "updated_at": seen_at})
            tier = "A" if rng.random() < 0.45 else "B+"
            replies = rng.random() < REPLY_RATE
            # the touch a reply answers: mostly the first ones
            reply_after = min(int(rng.expovariate(0.9)), 4) if replies else None
            intent = _pick(rng, INTENTS) if replies else None
            touches_sent = 5 if reply_after is None else reply_after + 1
            status = "completed" if reply_after is None else (
                "stopped:opt_out" if intent == "opt_out" else "stopped:reply")
            last_touch_at = None
            last_touch_id = None
            status_id += 1
            for number, (day, channel, template) in enumerate(TOUCHES[:touches_sent], start=1):
                local = datetime.combine(enrolled_on + timedelta(days=day),
                                         datetime.min.time(), zone) + timedelta(
                    hours=10, minutes=rng.randrange(480))
                at = local.astimezone(UTC)
                message_id += 1
                decision_id += 1
                segments = 1 if rng.random() < 0.7 else 2
                if channel == "sms":
                    roll = rng.random()
                    status_ = ("delivered" if roll < 0.93 else "undelivered" if roll < 0.96
                               else "failed" if roll < 0.98 else "sent")
                    price = segments * cost.sms_segment_usd if status_ != "failed" else 0.0
                    body = SMS_BODY.format(name="Pat", street=f"{owner_id} ELM ST")
                else:
                    status_ = "sent" if rng.random() < 0.97 else "failed"
                    segments = None
                    price = cost.email_usd if status_ == "sent" else 0.0
                    body = EMAIL_BODY.format(name="Pat", street=f"{owner_id} ELM ST",
                                             token=f"{message_id}.x")
                out.add("compliance_decisions", {
                    "compliance_decision_id": decision_id, "decided_at": at, "planned_at": at,
                    "channel": channel, "contact_id": phone_contact if channel == "sms"
                    else email_contact, "owner_id": owner_id, "market_code": market,
                    "is_allowed": True, "reasons": [], "refusal_codes": "",
                    "rule_set_version": "bench"})
                out.add("messages", {
                    "message_id": message_id, "direction": "outbound", "channel": channel,
                    "idempotency_key": f"{owner_id}:{number}:{channel}",
                    "enrollment_id": owner_id, "touch_number": number, "owner_id": owner_id,
                    "contact_id": phone_contact if channel == "sms" else email_contact,
                    "counterpart_hash": None, "counterpart": None, "template": template,
                    "template_version": 1,
                    "subject": "A cash offer" if channel == "email" else None, "body": body,
                    "segments": segments, "encoding": "GSM-7" if channel == "sms" else None,
                    "provider": "twilio" if channel == "sms" else "smtp",
                    "provider_message_id": f"SM{message_id:032d}", "status": status_,
                    "error_code": "30003" if status_ == "undelivered" else None,
                    "cost_usd": price, "compliance_decision_id": decision_id,
                    "planned_at": at, "attempted_at": at, "sent_at": at, "purpose": "touch",
                    "created_at": at, "updated_at": at})
                last_touch_at, last_touch_id = at, message_id
            first_at = datetime.combine(enrolled_on, datetime.min.time(), UTC) + timedelta(
                hours=15)
            out.add("lead_status_changes", {
                "lead_status_change_id": status_id, "owner_id": owner_id, "market_code": market,
                "status": "contacted", "changed_by": "outreach.sending", "note": "",
                "changed_at": first_at})
            enrolled_at = datetime.combine(enrolled_on, datetime.min.time(), UTC)
            out.add("enrollments", {
                "enrollment_id": owner_id, "campaign_id": 1, "owner_id": owner_id,
                "market_code": market, "parcel_id": parcel, "tier": tier,
                "score": round(rng.uniform(38, 80), 1), "status": status,
                "touches_sent": touches_sent, "enrolled_on": enrolled_on,
                "last_sent_on": last_touch_at.date() if last_touch_at else None,
                "stop_reason": None if reply_after is None else status.split(":")[1],
                "created_at": enrolled_at, "updated_at": last_touch_at or enrolled_at})
            if intent is None:
                continue
            assert last_touch_at is not None
            replied_at = last_touch_at + timedelta(minutes=5 + rng.expovariate(1 / 180))
            channel = "sms" if TOUCHES[reply_after][1] == "sms" else "email"  # type: ignore[index]
            message_id += 1
            reply_id = message_id
            decision = {"interested": "handoff", "opt_out": "stop", "question": "auto_reply",
                        "wrong_number": "stop", "not_interested": "stop"}[intent]
            out.add("messages", {
                "message_id": reply_id, "direction": "inbound", "channel": channel,
                "idempotency_key": None, "enrollment_id": None, "touch_number": None,
                "owner_id": owner_id,
                "contact_id": phone_contact if channel == "sms" else email_contact,
                "counterpart_hash": None, "counterpart": None, "template": None,
                "template_version": None, "subject": None,
                "body": rng.choice(REPLY_TEXTS[intent]), "segments": None, "encoding": None,
                "provider": "twilio" if channel == "sms" else "imap",
                "provider_message_id": None, "status": "received", "error_code": None,
                "cost_usd": None, "compliance_decision_id": None, "planned_at": None,
                "attempted_at": None, "sent_at": None, "purpose": None,
                "in_reply_to_id": last_touch_id if rng.random() < 0.8 else None,
                "classification": {"intent": intent, "opt_out": intent == "opt_out",
                                   "sentiment": round(rng.uniform(-1, 1), 3),
                                   "confidence": 0.9, "method": "rules"},
                "decision": decision, "processed_at": replied_at, "created_at": replied_at,
                "updated_at": replied_at})
            status_id += 1
            out.add("lead_status_changes", {
                "lead_status_change_id": status_id, "owner_id": owner_id, "market_code": market,
                "status": {"interested": "interested", "opt_out": "opted_out"}.get(
                    intent, "replied"), "changed_by": "replies", "note": "",
                "changed_at": replied_at})
            out.add("conversation_states", {
                "owner_id": owner_id, "state": {"interested": "handed_off",
                                                "opt_out": "opted_out"}.get(intent, "replied"),
                "is_human_takeover": intent == "interested" and rng.random() < 0.5,
                "updated_at": replied_at})
            if intent in ("question", "opt_out"):
                message_id += 1
                out.add("messages", {
                    "message_id": message_id, "direction": "outbound", "channel": channel,
                    "idempotency_key": f"reply:{reply_id}", "enrollment_id": None,
                    "touch_number": None, "owner_id": owner_id,
                    "contact_id": phone_contact if channel == "sms" else email_contact,
                    "counterpart_hash": None, "counterpart": None, "template": None,
                    "template_version": None, "subject": None,
                    "body": "You are unsubscribed. No more messages." if intent == "opt_out"
                    else "Sam here with Sunshine Home Buyers; we make cash offers on houses.",
                    "segments": 1 if channel == "sms" else None, "encoding": None,
                    "provider": "twilio" if channel == "sms" else "smtp",
                    "provider_message_id": None, "status": "delivered" if channel == "sms"
                    else "sent", "error_code": None,
                    "cost_usd": cost.sms_segment_usd if channel == "sms" else cost.email_usd,
                    "compliance_decision_id": None, "planned_at": replied_at,
                    "attempted_at": replied_at, "sent_at": replied_at + timedelta(seconds=2),
                    "purpose": "opt_out_confirmation" if intent == "opt_out" else "auto_reply",
                    "in_reply_to_id": reply_id, "created_at": replied_at,
                    "updated_at": replied_at})
            if intent == "opt_out":
                out.add("suppressions", {
                    "owner_id": owner_id, "value_hash": keyring.lookup_hash("phone", phone),
                    "channel": "all", "reason": "opt_out", "detail": "", "message_id": reply_id,
                    "created_at": replied_at})
            if intent == "interested":
                out.add("handoffs", {
                    "owner_id": owner_id, "market_code": market,
                    "trigger_message_id": reply_id, "reason": "interested",
                    "status": rng.choice(("waiting", "claimed", "closed")), "closer": "closer",
                    "created_at": replied_at})
                interested_owners.append((owner_id, market, parcel, replied_at.date()))
        # a skip-trace delivery each month, and the line-type lookups of the new numbers
        for month in range(12):
            started = datetime(START.year + (START.month + month - 1) // 12,
                               (START.month + month - 1) % 12 + 1, 2, tzinfo=UTC)
            out.add("contact_imports", {
                "source_name": "vendor_skip_trace", "market_code": market,
                "file_name": f"skip_{market}_{month}.csv", "file_sha256": f"{month:064d}",
                "rows_read": per_market // 12, "imported": int(per_market / 12 * 0.9),
                "rejected": 0, "duplicates": 0, "started_at": started, "finished_at": started})
    for index, phone_hash in enumerate(looked_up):  # one lookup per 50 owners' phones
        out.add("phone_lookups", {"phone_hash": phone_hash, "provider": "twilio_lookup_v2",
                                  "is_valid": True, "line_type": "mobile", "cost_usd": 0.008,
                                  "looked_up_at": datetime(2025, 11, 1, tzinfo=UTC)
                                  + timedelta(hours=index)})
    deals = rng.sample(interested_owners, min(45, len(interested_owners)))
    for deal_id, (owner, market, parcel, replied_on) in enumerate(deals, start=1):
        contracted = replied_on + timedelta(days=rng.randrange(5, 30))
        closed = rng.random() < 0.65
        at = datetime.combine(contracted, datetime.min.time(), UTC)
        out.add("deals", {
            "deal_id": deal_id, "owner_id": owner, "market_code": market, "parcel_id": parcel,
            "status": "closed" if closed else "under_contract",
            "contract_price_usd": float(rng.randrange(90_000, 250_000, 1000)),
            "assignment_fee_usd": float(rng.randrange(5_000, 20_000, 500)) if closed else None,
            "contracted_on": contracted,
            "closed_on": contracted + timedelta(days=rng.randrange(14, 40)) if closed else None,
            "recorded_by": "bench", "note": "", "created_at": at, "updated_at": at})
    out.flush()
    engine.dispose()
    return out.counts


def _sqlite_floor(path: Path) -> float:
    """A bare sqlite3 fetch of every copied column of every copied table (no conversion, no
    DuckDB): what reading the ledger costs at the least."""
    from pipelines.ledger_copy import TABLES

    started = time.perf_counter()
    with sqlite3.connect(path) as connection:
        for spec in TABLES:
            columns = ", ".join(c if c != "market_code" or spec.table != "phone_lookups"
                                else "phone_hash" for c in spec.columns)
            cursor = connection.execute(f"SELECT {columns} FROM {spec.table}")
            while cursor.fetchmany(100_000):
                pass
    return time.perf_counter() - started


def time_pipeline(ledger_url: str, ledger_path: Path, warehouse: Path) -> dict[str, float]:
    import duckdb

    from markets.loader import load_markets
    from outreach.ledger.db import ledger_engine
    from pipelines.ledger_copy import copy_ledger, write_market_costs
    from pipelines.publish import publish

    figures: dict[str, float] = {}
    figures["copy_floor_s"] = _sqlite_floor(ledger_path)
    engine = ledger_engine(ledger_url)
    with duckdb.connect(str(warehouse)) as conn:
        started = time.perf_counter()
        report = copy_ledger(engine, conn, full_refresh=True)
        write_market_costs(conn, load_markets())
        figures["copy_s"] = time.perf_counter() - started
        started = time.perf_counter()
        again = copy_ledger(engine, conn)
        figures["incremental_copy_s"] = time.perf_counter() - started
        figures["incremental_rows"] = sum(t.rows_copied for t in again.tables
                                          if t.mode == "incremental")
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.execute("CREATE TABLE IF NOT EXISTS marts.properties (property_id VARCHAR, "
                     "market_code VARCHAR, situs_address VARCHAR, situs_city VARCHAR, "
                     "owner_name VARCHAR)")
        started = time.perf_counter()
        conn.execute("CREATE OR REPLACE TEMP TABLE floor_copy AS SELECT * FROM ledger.messages")
        figures["marts_floor_s"] = time.perf_counter() - started
    figures["messages"] = report.rows_copied["messages"]
    env = {**os.environ, "WHOLESALER_WAREHOUSE_PATH": str(warehouse)}
    started = time.perf_counter()
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "build", "--select", "tag:outreach",
         "--exclude-resource-type", "unit_test", "--profiles-dir", ".",
         "--target-path", str(warehouse.parent / "dbt_bench_target")],
        cwd=ROOT / "dbt_project", env=env, capture_output=True, text=True, check=False)
    figures["marts_s"] = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(completed.stdout[-3000:])
    with duckdb.connect(str(warehouse)) as conn:
        for table in ("lead_scores", "offers", "valuations", "comps"):
            present = conn.execute("SELECT count(*) FROM information_schema.tables WHERE "
                                   "table_schema = 'marts' AND table_name = ?",
                                   [table]).fetchall()[0][0]
            if not present:  # no roll in this warehouse: empty lead marts for the publish
                raise SystemExit(f"marts.{table} missing: run the roll bench into the same "
                                 "warehouse, or use --outreach-only-publish")
        started = time.perf_counter()
        conn.execute(f"COPY marts.conversations TO '{warehouse.parent / 'floor.parquet'}' "
                     "(FORMAT parquet, COMPRESSION zstd)")
        figures["publish_floor_s"] = time.perf_counter() - started
        started = time.perf_counter()
        folder = publish(conn, warehouse.parent / "published")
        figures["publish_s"] = time.perf_counter() - started
        figures["published_rows"] = sum(json.loads(
            (folder / "manifest.json").read_text())["rows"].values())
    return figures


def _stub_lead_marts(warehouse: Path) -> None:
    """Empty lead marts, so the publish runs on a warehouse that holds only outreach."""
    import duckdb

    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.execute("CREATE TABLE IF NOT EXISTS marts.lead_scores (property_id VARCHAR, "
                     "market_code VARCHAR, parcel_id VARCHAR, tier VARCHAR, score DOUBLE)")
        conn.execute("CREATE TABLE IF NOT EXISTS marts.offers (property_id VARCHAR, "
                     "market_code VARCHAR, arv DOUBLE, arv_low DOUBLE, arv_high DOUBLE, "
                     "comp_count INTEGER, confidence DOUBLE, repair_tier VARCHAR, "
                     "repair_estimate DOUBLE, offer_min DOUBLE, offer_max DOUBLE)")
        conn.execute("CREATE TABLE IF NOT EXISTS marts.valuations (property_id VARCHAR, "
                     "market_code VARCHAR, arv DOUBLE)")
        conn.execute("CREATE TABLE IF NOT EXISTS marts.comps (subject_property_id VARCHAR)")
        for column, kind in (("owner_city", "VARCHAR"), ("owner_state", "VARCHAR"),
                             ("is_absentee_owner", "BOOLEAN"),
                             ("is_out_of_state_owner", "BOOLEAN"), ("just_value", "DOUBLE")):
            conn.execute(f"ALTER TABLE marts.properties ADD COLUMN IF NOT EXISTS {column} {kind}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ledger", type=Path, required=True, help="SQLite file to create")
    parser.add_argument("--enrollments", type=int, default=220_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-pipeline", action="store_true")
    parser.add_argument("--warehouse", type=Path, help="DuckDB file (with --time-pipeline)")
    parser.add_argument("--outreach-only-publish", action="store_true",
                        help="create empty lead marts when the warehouse has no roll")
    arguments = parser.parse_args()
    from outreach.ledger import pii

    if not os.environ.get(pii.KEYS_ENV):
        os.environ[pii.KEYS_ENV] = pii.new_fernet_key()
        os.environ[pii.HASH_KEY_ENV] = "bench-hash-key-" + "b" * 32
    url = f"sqlite:///{arguments.ledger}"
    if arguments.ledger.exists():
        print(f"reusing {arguments.ledger}")
    else:
        arguments.ledger.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        counts = generate(url, arguments.enrollments, arguments.seed)
        print(json.dumps({"generated_s": round(time.perf_counter() - started, 1), **counts}))
    if arguments.time_pipeline:
        warehouse = arguments.warehouse or arguments.ledger.parent / "warehouse.duckdb"
        if arguments.outreach_only_publish:
            import duckdb

            with duckdb.connect(str(warehouse)) as conn:
                conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
                conn.execute("CREATE TABLE IF NOT EXISTS marts.properties (property_id "
                             "VARCHAR, market_code VARCHAR, situs_address VARCHAR, "
                             "situs_city VARCHAR, owner_name VARCHAR)")
            _stub_lead_marts(warehouse)
        figures = time_pipeline(url, arguments.ledger, warehouse)
        print(json.dumps({"machine": {"cores": os.cpu_count(), "platform": platform.platform(),
                                      "memory_gib": round(os.sysconf("SC_PAGE_SIZE")
                                                          * os.sysconf("SC_PHYS_PAGES")
                                                          / 2**30, 1)},
                          **{k: round(v, 2) for k, v in figures.items()}}, indent=2))


if __name__ == "__main__":
    main()
