"""Warehouse ingest: loads one CSV file for one market into the DuckDB `raw` schema, losing
nothing.

How a file lands:

1. The header is compared with the expected layout (header drift): reordered or extra columns
   are reported and tolerated (columns are matched by name); a missing column stops the load
   with a clear error and leaves the market's previous data untouched.
2. DuckDB reads the file with the expected type of every column. Rows that do not parse
   (wrong column count, a value that does not convert to its type, bad encoding) are set
   aside by DuckDB's `store_rejects` with their line, byte offset, column and text.
3. Row rules (a required key, the county number, a unique key...) set further rows aside, each
   with its line number and a reason.
4. The good rows become the market's table `raw.<table>__<market>`, swapped in atomically with
   the market's rejects (table `raw.ingest_rejects` and a CSV file under the rejects folder);
   the view `raw.<table>` unions every market. Re-running a load replaces exactly that market.

Line numbers count CSV records, the header being line 1 (the same as the file's line number
unless a quoted value spans lines).
"""

from __future__ import annotations

import csv
import time
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

RAW_SCHEMA = "raw"
REJECTS_TABLE = "ingest_rejects"


@dataclass(frozen=True)
class RowRule:
    """A rule every row must pass: `bad_when` is a SQL predicate over the file's columns
    (lower-case names) that is true for a bad row; `reason` a SQL text expression."""

    bad_when: str
    reason: str


@dataclass(frozen=True)
class TableSpec:
    """The layout of one raw table: expected header (in canonical order) and types."""

    table: str
    columns: dict[str, str]
    encoding: str = "utf-8"
    unique_key: str | None = None
    rules: tuple[RowRule, ...] = ()
    source_names: dict[str, str] = field(default_factory=dict)  # our column -> file header name

    @property
    def column_names(self) -> list[str]:
        return [name.lower() for name in self.columns]

    def file_name_of(self, column: str) -> str:
        """The header name this column has in the file."""
        return self.source_names.get(column, column)

    @property
    def expected_header(self) -> dict[str, str]:
        """File header name -> type, in canonical order."""
        return {self.file_name_of(name): kind for name, kind in self.columns.items()}


@dataclass(frozen=True)
class HeaderDrift:
    """How a file's header differs from the expected layout."""

    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    reordered: bool = False

    @property
    def is_exact(self) -> bool:
        return not (self.missing or self.unexpected or self.reordered)

    def describe(self) -> str:
        if self.is_exact:
            return "header matches the reference layout"
        parts = []
        if self.missing:
            parts.append(f"missing columns: {', '.join(self.missing)}")
        if self.unexpected:
            parts.append(f"unexpected columns (ignored): {', '.join(self.unexpected)}")
        if self.reordered:
            parts.append("columns are in a different order (matched by name)")
        return "; ".join(parts)


class HeaderMismatchError(Exception):
    """The file cannot be loaded because its header lacks expected columns (or is unreadable)."""


@dataclass
class IngestReport:
    """What one load did."""

    table: str
    market_code: str
    source_file: str
    rows_loaded: int
    rows_rejected: int
    header_drift: HeaderDrift
    rejects_file: Path | None
    elapsed_seconds: float
    reject_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def rows_read(self) -> int:
        return self.rows_loaded + self.rows_rejected

    @property
    def reject_share(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0


def read_header(path: Path, encoding: str) -> list[str]:
    """The header row of a CSV file, names stripped (and a UTF-8 byte-order mark removed)."""
    try:
        with path.open(encoding=encoding, newline="") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise HeaderMismatchError(f"{path}: cannot read the header: {error}") from error
    if not header:
        raise HeaderMismatchError(f"{path}: the file is empty (no header row)")
    return [name.strip().lstrip("\ufeff") for name in header]


def compare_header(found: Sequence[str], expected: Sequence[str]) -> HeaderDrift:
    """Header drift of `found` against `expected`, names compared case-insensitively."""
    found_upper = [name.upper() for name in found]
    expected_upper = [name.upper() for name in expected]
    missing = tuple(name for name in expected_upper if name not in found_upper)
    unexpected = tuple(name for name in found_upper if name not in expected_upper)
    common_found = [name for name in found_upper if name in expected_upper]
    common_expected = [name for name in expected_upper if name in found_upper]
    return HeaderDrift(missing, unexpected, reordered=common_found != common_expected)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def market_table(table: str, market_code: str) -> str:
    """The physical table that holds one market's rows of a raw table."""
    return f"{table}__{market_code}"


def ensure_rejects_table(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{REJECTS_TABLE} (
            market_code VARCHAR, table_name VARCHAR, source_file VARCHAR, line BIGINT,
            byte_position BIGINT, column_name VARCHAR, error_type VARCHAR, reason VARCHAR,
            raw_record VARCHAR)"""
    )


def refresh_union_view(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    """(Re)create `raw.<table>` as the union of every market's table."""
    names = [
        row[0]
        for row in conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? "
            "AND starts_with(table_name, ?) ORDER BY table_name",
            [RAW_SCHEMA, f"{table}__"],
        ).fetchall()
    ]
    if not names:
        return
    union = " UNION ALL BY NAME ".join(
        f"SELECT * FROM {RAW_SCHEMA}.{_quote(name)}" for name in names  # nosec B608  # our identifiers
    )
    conn.execute(f"CREATE OR REPLACE VIEW {RAW_SCHEMA}.{_quote(table)} AS {union}")


def _lines_of_ordinals(ordinals: Sequence[int], rejected_lines: Sequence[int]) -> list[int]:
    """Map 0-based positions of loaded rows to file lines, skipping lines DuckDB rejected."""
    skipped = sorted(set(rejected_lines))
    lines = []
    for ordinal in ordinals:
        line = ordinal + 2
        # Each rejected line at or before the candidate pushes the row one line further down.
        while True:
            shift = bisect_right(skipped, line)
            candidate = ordinal + 2 + shift
            if candidate == line:
                break
            line = candidate
        lines.append(line)
    return lines


def _empty_table_sql(spec: TableSpec, market_code: str, source_file: str) -> str:
    columns = ", ".join(
        f"CAST(NULL AS {kind}) AS {_quote(name.lower())}" for name, kind in spec.columns.items()
    )
    return (f"SELECT {_literal(market_code)} AS market_code, {_literal(source_file)} AS "
            f"source_file, {columns} WHERE false")


def ingest_file(
    conn: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    market_code: str,
    path: Path,
    rejects_dir: Path,
    source_label: str | None = None,
    line_offset: int = 0,
) -> IngestReport:
    """Load `path` as market `market_code`'s rows of `raw.<spec.table>`; see the module doc.
    `source_label` is what rows and rejects record as their source (default: the path), e.g.
    the location as the market YAML names it. `line_offset` is added to every reject's line:
    -1 when `path` is a CSV made from a headerless source (line n + 1 = source line n)."""
    started = time.perf_counter()
    path = Path(path)
    header = read_header(path, spec.encoding)
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise HeaderMismatchError(f"{path}: duplicate column names in header: {duplicates}")
    drift = compare_header(header, list(spec.expected_header))
    if drift.missing:
        raise HeaderMismatchError(
            f"{path}: cannot load into raw.{spec.table}: {drift.describe()}. "
            f"The market's previous data is unchanged."
        )
    types_by_upper = {name.upper(): kind for name, kind in spec.expected_header.items()}
    file_columns = {
        name.lower(): types_by_upper.get(name.upper(), "VARCHAR") for name in header
    }
    source_file = source_label or str(path)
    loading = f"_loading__{market_table(spec.table, market_code)}"
    suffix = f"{spec.table}_{market_code}"
    columns_literal = "{" + ", ".join(
        f"{_literal(name)}: {_literal(kind)}" for name, kind in file_columns.items()
    ) + "}"
    select_columns = ", ".join(
        f"{_quote(spec.file_name_of(name).lower())} AS {_quote(name.lower())}"
        for name in spec.columns
    )

    ensure_rejects_table(conn)
    conn.execute("SET preserve_insertion_order = true")
    conn.execute(
        f"CREATE OR REPLACE TABLE {RAW_SCHEMA}.{_quote(loading)} AS "  # nosec B608  # our identifiers
        f"""SELECT {_literal(market_code)} AS market_code, {_literal(source_file)} AS source_file,
                   {select_columns}
            FROM read_csv({_literal(str(path))}, header = true, auto_detect = false,
                          delim = ',', quote = '"', escape = '"', columns = {columns_literal},
                          encoding = {_literal(spec.encoding)}, strict_mode = true,
                          store_rejects = true, rejects_table = 'rejects_{suffix}',
                          rejects_scan = 'rejects_scan_{suffix}')"""
    )
    parse_rejects = conn.execute(
        "SELECT line, byte_position, column_name, error_type::VARCHAR, error_message, csv_line "
        f"FROM rejects_{suffix} ORDER BY line, column_idx"  # nosec B608  # our identifiers
    ).fetchall()
    conn.execute(f"DROP TABLE IF EXISTS rejects_{suffix}")
    conn.execute(f"DROP TABLE IF EXISTS rejects_scan_{suffix}")

    reject_rows: list[tuple] = []
    seen_lines: set[int] = set()
    for line, byte_position, column_name, error_type, message, csv_line in parse_rejects:
        if line in seen_lines:  # one row per bad line; its first error explains it
            continue
        seen_lines.add(line)
        reject_rows.append((line, byte_position, column_name, error_type, message, csv_line))
    rejected_lines = sorted(seen_lines)

    rule_rejects = _apply_rules(conn, spec, loading, rejected_lines, line_offset)
    reject_rows.extend(rule_rejects)
    reject_rows.sort(key=lambda row: row[0])
    if line_offset:
        reject_rows = [(row[0] + line_offset, *row[1:]) for row in reject_rows]

    rows_loaded = conn.execute(
        f"SELECT count(*) FROM {RAW_SCHEMA}.{_quote(loading)}"  # nosec B608  # our identifiers
    ).fetchone()[0]
    final = market_table(spec.table, market_code)
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(f"DROP TABLE IF EXISTS {RAW_SCHEMA}.{_quote(final)}")
        conn.execute(f"ALTER TABLE {RAW_SCHEMA}.{_quote(loading)} RENAME TO {_quote(final)}")
        conn.execute(
            f"DELETE FROM {RAW_SCHEMA}.{REJECTS_TABLE} WHERE market_code = ? AND table_name = ?",  # nosec B608  # our identifiers
            [market_code, spec.table],
        )
        if reject_rows:
            conn.executemany(
                f"INSERT INTO {RAW_SCHEMA}.{REJECTS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # nosec B608  # our identifiers
                [(market_code, spec.table, source_file, *row) for row in reject_rows],
            )
        refresh_union_view(conn, spec.table)
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    rejects_file = _write_rejects_file(rejects_dir, spec.table, market_code, source_file,
                                       reject_rows)
    reasons: dict[str, int] = {}
    for row in reject_rows:
        reasons[row[3]] = reasons.get(row[3], 0) + 1
    return IngestReport(
        table=spec.table,
        market_code=market_code,
        source_file=source_file,
        rows_loaded=rows_loaded,
        rows_rejected=len(reject_rows),
        header_drift=drift,
        rejects_file=rejects_file,
        elapsed_seconds=time.perf_counter() - started,
        reject_reasons=reasons,
    )


def _apply_rules(
    conn: duckdb.DuckDBPyConnection, spec: TableSpec, loading: str, rejected_lines: list[int],
    line_offset: int = 0,
) -> list[tuple]:
    """Move rows that break a row rule out of the loading table; returns their reject rows."""
    relation = f"{RAW_SCHEMA}.{_quote(loading)}"
    checks = [f"CASE WHEN {rule.bad_when} THEN {rule.reason} END" for rule in spec.rules]
    selects = []
    if checks:
        selects.append(
            f"SELECT rowid AS ordinal, coalesce({', '.join(checks)}) AS reason, NULL AS first "  # nosec B608  # our identifiers
            f"FROM {relation} WHERE coalesce({', '.join(checks)}) IS NOT NULL"
        )
    if spec.unique_key:
        key = _quote(spec.unique_key)
        selects.append(
            f"SELECT ordinal, 'duplicate ' || {_literal(spec.unique_key.upper())} || ' ' "  # nosec B608  # our identifiers
            f"""|| {key} AS reason, first
                FROM (SELECT rowid AS ordinal, {key},
                             min(rowid) OVER (PARTITION BY {key}) AS first,
                             row_number() OVER (PARTITION BY {key} ORDER BY rowid) AS position
                      FROM {relation} WHERE {key} IS NOT NULL)
                WHERE position > 1"""
        )
    if not selects:
        return []
    bad = conn.execute(
        f"SELECT ordinal, min_by(reason, reason), min(first) FROM ({' UNION ALL '.join(selects)}) "  # nosec B608  # our identifiers
        f"GROUP BY ordinal ORDER BY ordinal"
    ).fetchall()
    if not bad:
        return []
    ordinals = [row[0] for row in bad]
    lines = _lines_of_ordinals(ordinals, rejected_lines)
    firsts = [row[2] for row in bad if row[2] is not None]
    first_lines = dict(zip(firsts, _lines_of_ordinals(firsts, rejected_lines), strict=True))
    conn.execute("CREATE OR REPLACE TEMP TABLE _bad_ordinals (ordinal BIGINT)")
    conn.executemany("INSERT INTO _bad_ordinals VALUES (?)", [(o,) for o in ordinals])
    records = {
        row[0]: row[1:]
        for row in conn.execute(
            f"SELECT rowid, * EXCLUDE (market_code, source_file) FROM {relation} "  # nosec B608  # our identifiers
            f"WHERE rowid IN (SELECT ordinal FROM _bad_ordinals)"
        ).fetchall()
    }
    conn.execute(f"DELETE FROM {relation} WHERE rowid IN (SELECT ordinal FROM _bad_ordinals)")  # nosec B608  # our identifiers
    conn.execute("DROP TABLE _bad_ordinals")
    rejects = []
    for (ordinal, reason, first), line in zip(bad, lines, strict=True):
        if first is not None:
            reason = f"{reason} (first seen on line {first_lines[first] + line_offset})"
        record = ",".join("" if value is None else str(value) for value in records[ordinal])
        rejects.append((line, None, None, "RULE", reason, record))
    return rejects


def _write_rejects_file(
    rejects_dir: Path, table: str, market_code: str, source_file: str, rows: list[tuple]
) -> Path | None:
    target = rejects_dir / market_code / f"{table}.csv"
    if not rows:
        target.unlink(missing_ok=True)
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source_file", "line", "byte_position", "column_name", "error_type",
                         "reason", "raw_record"])
        for line, byte_position, column_name, error_type, reason, raw_record in rows:
            writer.writerow([source_file, line, byte_position, column_name, error_type, reason,
                             raw_record])
    partial.replace(target)
    return target


def ingest_nothing(conn: duckdb.DuckDBPyConnection, spec: TableSpec, market_code: str,
                   note: str) -> IngestReport:
    """Replace a market's rows with none (e.g. no source configured), keeping the view valid."""
    started = time.perf_counter()
    ensure_rejects_table(conn)
    final = market_table(spec.table, market_code)
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            f"CREATE OR REPLACE TABLE {RAW_SCHEMA}.{_quote(final)} AS "
            f"{_empty_table_sql(spec, market_code, note)}"
        )
        conn.execute(
            f"DELETE FROM {RAW_SCHEMA}.{REJECTS_TABLE} WHERE market_code = ? AND table_name = ?",  # nosec B608  # our identifiers
            [market_code, spec.table],
        )
        refresh_union_view(conn, spec.table)
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return IngestReport(spec.table, market_code, note, 0, 0, HeaderDrift(), None,
                        time.perf_counter() - started)
