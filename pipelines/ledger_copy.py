"""The ledger copied into the warehouse (schema `ledger`), incrementally, for the outreach marts.

`copy_ledger(engine, conn) -> CopyReport` reads the ledger (SQLite or PostgreSQL) with
SQLAlchemy Core in chunks (values raw, as the driver gives them), turns each chunk into a
polars frame / Arrow table and upserts it into `ledger.<table>` in DuckDB, which casts the
values to the warehouse types. Only the columns named in `TABLES` are read: no phone number,
email, lookup hash or ciphertext ever reaches the warehouse (docs/analytics.md, "Personal
data"). Message bodies and subjects are copied for the Conversations page with phone numbers
and emails replaced by `[phone]` / `[email]`; a body the retention purge cleared stays NULL
(the purge moves `body_purged_at`, so the cleared row is copied again).

Incremental: each table's high-water marks are read back from the warehouse copy itself
(per change column its newest value, and the highest key). A run re-reads the ledger rows
changed after a mark minus `OVERLAP` (a transaction that committed late with an older
timestamp is still picked up; a row read twice is harmless, the copy upserts by key), and, for
append-only tables without a change timestamp, the keys above the highest key minus
`KEY_OVERLAP`.
Small tables whose rows change without any timestamp are copied whole. Upsert = delete the
chunk's keys, insert the chunk, all tables in one DuckDB transaction: a failed copy leaves the
previous copy in place. When a table's column list changes (a new version of this module),
the table is copied again from scratch.

`market_costs(markets)` writes `config.market_costs` (per market: SMS segment, email, skip
trace and lookup prices from markets/*.yaml) for the costs mart.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import Engine

from markets.schema import Market
from outreach.ledger.models import Base

SCHEMA = "ledger"
CHUNK_ROWS = 100_000
OVERLAP = timedelta(minutes=10)
KEY_OVERLAP = 1_000

# A phone number (US style, optional +1, separators) or an email address inside free text.
PHONE_PATTERN = r"(\+?1[\s.\-]?)?\(?\b\d{3}\)?[\s.\-]?\d{3}[\s.\-]?\d{4}\b"
EMAIL_PATTERN = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"


@dataclass(frozen=True)
class CopySpec:
    """One ledger table as the warehouse keeps it.

    `changed_by`: timestamp columns; a row is copied again when any of them is at or after
    the table's mark (minus OVERLAP). `append_only`: rows never change, new rows are found by
    key. Neither: the whole table is copied every run (small tables only). `redact`: text
    columns whose phone numbers and emails are masked. `json`: JSON columns read as text."""

    table: str
    key: str
    columns: tuple[str, ...]
    changed_by: tuple[str, ...] = ()
    append_only: bool = False
    redact: tuple[str, ...] = ()
    json: tuple[str, ...] = ()


TABLES: tuple[CopySpec, ...] = (
    CopySpec("owners", "owner_id", ("owner_id", "market_code", "created_at"),
             append_only=True),
    CopySpec("contacts", "contact_id",
             ("contact_id", "owner_id", "channel", "value_hint", "number_type", "line_type",
              "is_valid", "is_wrong_number", "created_at", "updated_at"),
             changed_by=("updated_at",)),
    CopySpec("campaigns", "campaign_id",
             ("campaign_id", "name", "is_paused", "paused_at", "created_at")),
    CopySpec("enrollments", "enrollment_id",
             ("enrollment_id", "campaign_id", "owner_id", "market_code", "parcel_id", "tier",
              "score", "status", "touches_sent", "enrolled_on", "last_sent_on", "stop_reason",
              "created_at", "updated_at"),
             changed_by=("updated_at",)),
    CopySpec("messages", "message_id",
             ("message_id", "direction", "channel", "enrollment_id", "touch_number", "owner_id",
              "contact_id", "template", "template_version", "subject", "body", "segments",
              "encoding", "provider", "status", "error_code", "cost_usd",
              "compliance_decision_id", "planned_at", "attempted_at", "sent_at",
              "body_purged_at", "purpose", "in_reply_to_id", "classification", "decision",
              "processed_at", "created_at", "updated_at"),
             changed_by=("updated_at", "body_purged_at", "processed_at"),
             redact=("subject", "body"), json=("classification",)),
    CopySpec("lead_status_changes", "lead_status_change_id",
             ("lead_status_change_id", "owner_id", "market_code", "status", "changed_by",
              "changed_at"),
             append_only=True),
    CopySpec("conversation_states", "owner_id",
             ("owner_id", "state", "is_human_takeover", "updated_at"),
             changed_by=("updated_at",)),
    CopySpec("handoffs", "handoff_id",
             ("handoff_id", "owner_id", "market_code", "trigger_message_id", "reason", "status",
              "closer", "claimed_by", "claimed_at", "closed_at", "created_at")),
    CopySpec("deals", "deal_id",
             ("deal_id", "owner_id", "market_code", "parcel_id", "status",
              "contract_price_usd", "assignment_fee_usd", "contracted_on", "closed_on",
              "recorded_by", "created_at", "updated_at"),
             changed_by=("updated_at",)),
    CopySpec("suppressions", "suppression_id",
             ("suppression_id", "owner_id", "channel", "reason", "message_id", "created_at",
              "lifted_at", "lifted_by_message_id")),
    CopySpec("contact_imports", "contact_import_id",
             ("contact_import_id", "source_name", "market_code", "rows_read", "imported",
              "rejected", "duplicates", "started_at", "finished_at")),
    CopySpec("phone_lookups", "phone_lookup_id",
             ("phone_lookup_id", "provider", "is_valid", "line_type", "cost_usd",
              "looked_up_at", "market_code"),
             append_only=True),
    CopySpec("compliance_decisions", "compliance_decision_id",
             ("compliance_decision_id", "decided_at", "planned_at", "channel", "owner_id",
              "market_code", "is_allowed", "refusal_codes", "rule_set_version"),
             append_only=True),
)
SPECS = {spec.table: spec for spec in TABLES}


@dataclass
class TableCopy:
    table: str
    rows_copied: int
    rows_total: int
    mode: str  # full | incremental


@dataclass
class CopyReport:
    tables: list[TableCopy] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_copied(self) -> dict[str, int]:
        return {t.table: t.rows_copied for t in self.tables}


def _kind(column: sa.Column) -> str:  # type: ignore[type-arg]
    """The warehouse type of a ledger column."""
    kind = column.type
    impl = getattr(kind, "impl", None)
    if isinstance(kind, sa.Boolean):
        return "BOOLEAN"
    if isinstance(kind, sa.Integer):
        return "BIGINT"
    if isinstance(kind, sa.Float):
        return "DOUBLE"
    if isinstance(kind, sa.DateTime) or isinstance(impl, sa.DateTime):
        return "TIMESTAMP"
    if isinstance(kind, sa.Date):
        return "DATE"
    return "VARCHAR"


# How each warehouse type travels from the driver: SQLite hands back timestamps and dates as
# the text SQLAlchemy stored and booleans as 0/1, PostgreSQL as Python values. Reading them
# raw (no SQLAlchemy result processing) and letting DuckDB CAST them is several times faster
# than converting row by row in Python.
SQLITE_WIRE = {"BOOLEAN": pl.Int64, "BIGINT": pl.Int64, "DOUBLE": pl.Float64,
               "TIMESTAMP": pl.String, "DATE": pl.String, "VARCHAR": pl.String}
OTHER_WIRE = {"BOOLEAN": pl.Boolean, "BIGINT": pl.Int64, "DOUBLE": pl.Float64,
              "TIMESTAMP": pl.Datetime("us"), "DATE": pl.Date, "VARCHAR": pl.String}


@dataclass(frozen=True)
class _Plan:
    query: sa.Select  # type: ignore[type-arg]
    types: dict[str, str]  # column -> warehouse type
    wire: list[tuple[str, Any]]  # column -> polars type of the driver's values


def _plan(spec: CopySpec, dialect: str) -> _Plan:
    """The Core select of a table's copied columns, read raw (timestamps without the UTC
    decorator, booleans and dates as the driver gives them, JSON as its text)."""
    table = Base.metadata.tables[spec.table]
    wire_types = SQLITE_WIRE if dialect == "sqlite" else OTHER_WIRE
    types: dict[str, str] = {}
    selected = []
    for name in spec.columns:
        if spec.table == "phone_lookups" and name == "market_code":
            # The lookup is keyed by the phone's hash; its market is that of the owners
            # holding the phone (the hash never leaves the ledger).
            contacts = Base.metadata.tables["contacts"]
            owners = Base.metadata.tables["owners"]
            market = (sa.select(sa.func.min(owners.c.market_code))
                      .select_from(contacts.join(owners,
                                                 owners.c.owner_id == contacts.c.owner_id))
                      .where(contacts.c.value_hash == table.c.phone_hash)
                      .scalar_subquery())
            selected.append(market.label("market_code"))
            types[name] = "VARCHAR"
            continue
        column = table.c[name]
        if name in spec.json:
            # CAST in SQL: PostgreSQL's driver would otherwise hand back parsed dicts.
            selected.append(sa.cast(column, sa.Text()).label(name))
            types[name] = "VARCHAR"
            continue
        types[name] = _kind(column)
        raw = {"TIMESTAMP": sa.DateTime(), "DATE": sa.Date(), "BOOLEAN": sa.Boolean(),
               "VARCHAR": sa.String()}.get(types[name])
        if dialect == "sqlite" and types[name] in ("TIMESTAMP", "DATE", "VARCHAR"):
            raw = sa.String()
        elif dialect == "sqlite" and types[name] == "BOOLEAN":
            raw = sa.Integer()
        selected.append(sa.type_coerce(column, raw).label(name) if raw is not None else column)
    wire = [(name, wire_types[kind]) for name, kind in types.items()]
    return _Plan(sa.select(*selected), types, wire)


def _chunk(rows: Sequence[sa.Row], plan: _Plan) -> pa.Table:  # type: ignore[type-arg]
    frame = pl.DataFrame(rows, schema=plan.wire, orient="row")
    for name, dtype in plan.wire:
        if dtype == pl.Datetime("us"):  # an aware value from a driver: UTC, without the zone
            frame = frame.with_columns(pl.col(name).dt.replace_time_zone(None))
    return frame.to_arrow()


def _existing_columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[str] | None:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = ? ORDER BY ordinal_position", [SCHEMA, table]).fetchall()
    return [r[0] for r in rows] or None


def _create(conn: duckdb.DuckDBPyConnection, spec: CopySpec, types: dict[str, str]) -> None:
    columns = ", ".join(f'"{name}" {kind}' for name, kind in types.items())
    conn.execute(f'DROP TABLE IF EXISTS {SCHEMA}."{spec.table}"')
    conn.execute(f'CREATE TABLE {SCHEMA}."{spec.table}" ({columns})')


def _marks(conn: duckdb.DuckDBPyConnection, spec: CopySpec) -> tuple[int | None,
                                                                      dict[str, datetime | None]]:
    """The copy's highest key and, per change column, its newest value (None when empty)."""
    parts = [f'max("{spec.key}")', *(f'max("{c}")' for c in spec.changed_by)]
    row = conn.execute(f'SELECT {", ".join(parts)} FROM {SCHEMA}."{spec.table}"').fetchall()[0]  # nosec B608 (names from TABLES)
    assert row is not None
    return row[0], dict(zip(spec.changed_by, row[1:], strict=True))


def _where(spec: CopySpec, max_key: int | None, newest: dict[str, datetime | None],
           overlap: timedelta, key_overlap: int):  # type: ignore[no-untyped-def]
    """Which ledger rows to read again; None: the whole table. Each change column has its own
    mark, so one odd timestamp (a purge run with a clock in the future) cannot hide the
    changes of the others."""
    table = Base.metadata.tables[spec.table]
    if max_key is None:
        return None
    if spec.changed_by:
        conditions = [table.c[spec.key] > max_key]
        for name, mark in newest.items():
            column = sa.type_coerce(table.c[name], sa.DateTime())
            conditions.append(column.is_not(None) if mark is None
                              else column > mark - overlap)
        return sa.or_(*conditions)
    if spec.append_only:
        return table.c[spec.key] > max_key - key_overlap
    return None


def _upsert(conn: duckdb.DuckDBPyConnection, spec: CopySpec, chunk: pa.Table,
            types: dict[str, str], replace_keys: bool) -> None:
    conn.register("ledger_chunk", chunk)
    try:
        if replace_keys:
            conn.execute(f'DELETE FROM {SCHEMA}."{spec.table}" WHERE "{spec.key}" IN '  # nosec B608 (names from TABLES)
                         f'(SELECT "{spec.key}" FROM ledger_chunk)').fetchall()
        selected = []
        for name, kind in types.items():
            value = f'CAST("{name}" AS {kind})'
            if name in spec.redact:
                value = (f"regexp_replace(regexp_replace({value}, '{EMAIL_PATTERN}', '[email]', "
                         f"'g'), '{PHONE_PATTERN}', '[phone]', 'g')")
            selected.append(f'{value} AS "{name}"')
        conn.execute(f'INSERT INTO {SCHEMA}."{spec.table}" BY NAME '  # nosec B608 (names from TABLES)
                     f'SELECT {", ".join(selected)} FROM ledger_chunk').fetchall()
    finally:
        conn.unregister("ledger_chunk")


def copy_table(engine: Engine, conn: duckdb.DuckDBPyConnection, spec: CopySpec, *,
               full_refresh: bool = False, chunk_rows: int = CHUNK_ROWS,
               overlap: timedelta = OVERLAP, key_overlap: int = KEY_OVERLAP) -> TableCopy:
    """Copy one table (inside the caller's DuckDB transaction)."""
    plan = _plan(spec, engine.dialect.name)
    query = plan.query
    existing = _existing_columns(conn, spec.table)
    fresh = full_refresh or existing != list(plan.types)
    if fresh:
        _create(conn, spec, plan.types)
    where = None if fresh else _where(spec, *_marks(conn, spec), overlap, key_overlap)
    whole_table = where is None
    if whole_table and not fresh:
        conn.execute(f'DELETE FROM {SCHEMA}."{spec.table}"').fetchall()  # nosec B608 (names from TABLES)
    if where is not None:
        query = query.where(where)
    copied = 0
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True,
                                              yield_per=chunk_rows).execute(query)
        for rows in result.partitions(chunk_rows):
            chunk = _chunk(rows, plan)
            _upsert(conn, spec, chunk, plan.types, replace_keys=not whole_table)
            copied += chunk.num_rows
    total = conn.execute(f'SELECT count(*) FROM {SCHEMA}."{spec.table}"').fetchall()[0]  # nosec B608 (names from TABLES)
    assert total is not None
    return TableCopy(spec.table, copied, int(total[0]), "full" if whole_table else "incremental")


def copy_ledger(engine: Engine, conn: duckdb.DuckDBPyConnection, *,
                tables: Iterable[CopySpec] = TABLES, full_refresh: bool = False,
                chunk_rows: int = CHUNK_ROWS, overlap: timedelta = OVERLAP,
                key_overlap: int = KEY_OVERLAP) -> CopyReport:
    """Copy every table of `tables` into `ledger.*`, in one DuckDB transaction. `overlap` and
    `key_overlap`: how far behind the marks rows are read again (module docstring)."""
    started = time.perf_counter()
    report = CopyReport()
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute("BEGIN TRANSACTION")
    try:
        for spec in tables:
            report.tables.append(copy_table(engine, conn, spec, full_refresh=full_refresh,
                                            chunk_rows=chunk_rows, overlap=overlap,
                                            key_overlap=key_overlap))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    report.seconds = time.perf_counter() - started
    return report


def write_market_costs(conn: duckdb.DuckDBPyConnection, markets: Sequence[Market]) -> int:
    """`config.market_costs`: each configured market's prices (markets/*.yaml `costs`)."""
    table = pa.table({
        "market_code": pa.array([m.code for m in markets], pa.string()),
        "sms_segment_usd": pa.array([m.costs.sms_segment_usd for m in markets], pa.float64()),
        "email_usd": pa.array([m.costs.email_usd for m in markets], pa.float64()),
        "skip_trace_usd": pa.array([m.costs.skip_trace_usd for m in markets], pa.float64()),
        "lookup_usd": pa.array([m.costs.lookup_usd for m in markets], pa.float64()),
    })
    conn.execute("CREATE SCHEMA IF NOT EXISTS config")
    conn.register("market_costs_rows", table)
    try:
        conn.execute("CREATE OR REPLACE TABLE config.market_costs AS "
                     "SELECT * FROM market_costs_rows")
    finally:
        conn.unregister("market_costs_rows")
    return len(markets)
