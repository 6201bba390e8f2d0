"""Backup and restore of the embedded stores (`wholesaler backup` / `wholesaler restore`).

A backup is a folder:

    manifest.json              what is inside, versions, ledger revision, a SHA-256 per file
    ledger/outreach.db         the SQLite ledger, through sqlite3's online backup API (a
                               consistent snapshot even while the webhook writes)
    warehouse/warehouse.duckdb the DuckDB warehouse, copied while a read lock keeps every
                               writer out; refused, with the reason, while a writer holds it
    dagster_home/...           the Dagster instance folder when its storage is SQLite (each
                               *.db through the online backup API, the rest copied)
    markets/*.yaml             the market files
    rejects/...                rejected input rows (the audit trail of every load)

Not in a backup: the PII keys (`WHOLESALER_PII_KEYS`, `WHOLESALER_PII_HASH_KEY`, or the
demo's `data/secrets/`). A backup is useless without them and harmless to whoever finds it
without them, so they are kept apart (a password manager or secret store); the manifest
records only key fingerprints, so a restore can tell whether the keys at hand are the right
ones. Also not in it: stores in PostgreSQL (ledger, Dagster storage in production), which
`pg_dump` backs up (docs/operations.md); sample and downloaded input files, which are
regenerated or fetched again; the published snapshot, which the next run writes again.

A restore verifies every checksum before it writes anything, refuses to overwrite an
existing store, and checks the restored files' checksums again.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path, PurePosixPath

import duckdb
import yaml
from sqlalchemy.engine import make_url

from pipelines import settings

BACKUP_FORMAT = 1
MANIFEST_NAME = "manifest.json"
LEDGER_FILE = "ledger/outreach.db"
WAREHOUSE_FILE = "warehouse/warehouse.duckdb"
DAGSTER_DIR = "dagster_home"
MARKETS_DIR = "markets"
REJECTS_DIR = "rejects"
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


class BackupError(RuntimeError):
    """A backup cannot be made consistent (or cannot be written); nothing partial is kept."""


class RestoreError(RuntimeError):
    """A backup cannot be restored: a checksum differs, a file is missing, or a store exists
    at the target; nothing has been written when this is raised before the copy."""


@dataclass(frozen=True)
class StoreLocations:
    """Where the embedded stores live on this host (or should be restored to)."""

    ledger_url: str
    warehouse: Path
    dagster_home: Path
    markets_dir: Path
    rejects_dir: Path

    @classmethod
    def from_settings(cls) -> StoreLocations:
        """The locations the environment names (the same ones every command uses)."""
        from markets.loader import markets_dir

        return cls(settings.ledger_url(), settings.warehouse_path(), settings.dagster_home(),
                   markets_dir(), settings.rejects_dir())

    @classmethod
    def under(cls, data_dir: Path, markets_dir: Path | None = None) -> StoreLocations:
        """The default layout inside one data folder (what `--data-dir` restores into)."""
        return cls(f"sqlite:///{data_dir / 'outreach.db'}", data_dir / "warehouse.duckdb",
                   data_dir / "dagster_home", markets_dir or data_dir / "markets",
                   data_dir / "rejects")

    @property
    def ledger_file(self) -> Path | None:
        """The SQLite ledger file, or None when the ledger is a server database."""
        url = make_url(self.ledger_url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return Path(url.database)


@dataclass
class BackupReport:
    """What `backup` wrote; `manifest` is the content of manifest.json."""

    folder: Path
    manifest: dict
    notes: list[str] = field(default_factory=list)


@dataclass
class RestoreReport:
    """What `restore` put where, and what the operator must still do."""

    restored: dict[str, str]
    ledger_revision: str | None
    warnings: list[str] = field(default_factory=list)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def key_fingerprint(secret: str) -> str:
    """A short public fingerprint of a key: tells keys apart, reveals nothing of them."""
    return hashlib.sha256(f"wholesaler-pii-key-id:{secret}".encode()).hexdigest()[:16]


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
                "duckdb": duckdb.__version__}
    for package in ("wholesaler", "dagster", "alembic", "SQLAlchemy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _current_key_fingerprints() -> dict[str, list[str] | str] | None:
    """Fingerprints of the PII keys in use, without creating keys where there are none."""
    from outreach.ledger import pii

    configured = os.environ.get(pii.KEYS_ENV) or os.environ.get(pii.HASH_KEY_ENV)
    if not configured and not (settings.secrets_dir() / "pii_keys.json").exists():
        return None
    keyring = pii.keyring_from_environment()
    return {"fernet_key_ids": [key_fingerprint(key) for key in keyring.fernet_keys],
            "hash_key_id": key_fingerprint(keyring.hash_key), "origin": keyring.origin}


def sqlite_online_copy(source: Path, target: Path, attempts: int = 20) -> None:
    """Copy a SQLite database with the online backup API: a consistent snapshot, taken while
    other connections keep reading and writing (each page step retries when busy)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    source_conn = sqlite3.connect(str(source), timeout=30)
    try:
        target_conn = sqlite3.connect(str(target))
        try:
            for attempt in range(attempts):
                try:
                    source_conn.backup(target_conn, pages=1024)
                    break
                except sqlite3.OperationalError as error:
                    if "locked" not in str(error) and "busy" not in str(error):
                        raise
                    if attempt == attempts - 1:
                        raise BackupError(f"{source}: stayed locked during the backup") from error
                    time.sleep(0.25)
            (check,) = target_conn.execute("PRAGMA integrity_check").fetchone()
            if check != "ok":
                raise BackupError(f"{source}: the copy fails SQLite's integrity check: {check}")
            # The copy is one file: no WAL beside it, whatever the source used.
            target_conn.execute("PRAGMA journal_mode=DELETE")
        finally:
            target_conn.close()
    finally:
        source_conn.close()


def copy_warehouse(source: Path, target: Path) -> int:
    """Copy the DuckDB file while holding a read-only connection: DuckDB's file lock then
    keeps every writing process out until the copy is done. Returns the number of tables.
    Raises BackupError when a writer holds the file (a Dagster run, most likely)."""
    try:
        holder = duckdb.connect(str(source), read_only=True)
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            raise BackupError(
                f"the warehouse {source} is held by a writing process (a Dagster run or another "
                "command), so no consistent copy can be made now; wait for the run to finish "
                "(or stop the daemon's queue) and run the backup again. DuckDB said: "
                f"{str(error).splitlines()[0]}") from error
        raise BackupError(f"the warehouse {source} cannot be opened: {error}") from error
    try:
        tables = holder.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchone()[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        wal = source.with_name(source.name + ".wal")
        if wal.exists():
            shutil.copyfile(wal, target.with_name(target.name + ".wal"))
    finally:
        holder.close()
    with duckdb.connect(str(target), read_only=True) as copy:
        copied = copy.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchone()[0]
    if copied != tables:
        raise BackupError(f"the warehouse copy holds {copied} tables, the source {tables}")
    return tables


def dagster_storage_kind(home: Path) -> str:
    """`sqlite` (the embedded default) or `postgres`, from the instance's dagster.yaml."""
    config_file = home / "dagster.yaml"
    if not config_file.exists():
        return "sqlite"
    config = yaml.safe_load(config_file.read_text()) or {}
    storage_keys = {key for section in ("storage", "run_storage", "event_log_storage",
                                        "schedule_storage")
                    for key in _keys_of(config.get(section))}
    modules = {str(section.get("module", "")) for section in config.values()
               if isinstance(section, dict)}
    if "postgres" in storage_keys or any("postgres" in module for module in modules):
        return "postgres"
    return "sqlite"


def _keys_of(section: object) -> list[str]:
    return list(section) if isinstance(section, dict) else []


def _copy_dagster_home(source: Path, target: Path) -> list[str]:
    """Each SQLite database through the online backup API, every other file as is."""
    copied = []
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.name.endswith(_SQLITE_SIDE_FILES):
            continue
        relative = path.relative_to(source)
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".db":
            sqlite_online_copy(path, destination)
        else:
            shutil.copyfile(path, destination)
        copied.append(relative.as_posix())
    return copied


def _files_under(folder: Path) -> Iterator[Path]:
    return (path for path in sorted(folder.rglob("*")) if path.is_file())


def backup(out: Path, locations: StoreLocations | None = None,
           echo: Callable[[str], None] = lambda _: None) -> BackupReport:
    """Write a consistent backup of the embedded stores into the new folder `out`."""
    locations = locations or StoreLocations.from_settings()
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty; a backup goes into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _write_backup(out, locations, echo)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise


def _write_backup(out: Path, locations: StoreLocations,
                  echo: Callable[[str], None]) -> BackupReport:
    manifest: dict = {"format": BACKUP_FORMAT, "created_at": datetime.now(UTC).isoformat(),
                      "host": platform.node(), "versions": _versions()}
    notes: list[str] = []

    # The warehouse first: it is the one store that can refuse (a writer holds it).
    if locations.warehouse.exists():
        echo(f"warehouse: {locations.warehouse}")
        tables = copy_warehouse(locations.warehouse, out / WAREHOUSE_FILE)
        manifest["warehouse"] = {"included": True, "source": str(locations.warehouse),
                                 "tables": tables, "method": "file copy under a read lock"}
    else:
        manifest["warehouse"] = {"included": False, "reason": "no warehouse file yet"}

    ledger_file = locations.ledger_file
    if ledger_file is None:
        reason = ("the ledger is a server database: back it up with pg_dump "
                  "(docs/operations.md)")
        manifest["ledger"] = {"included": False, "reason": reason}
        notes.append(reason)
    elif ledger_file.exists():
        echo(f"ledger: {ledger_file}")
        sqlite_online_copy(ledger_file, out / LEDGER_FILE)
        manifest["ledger"] = {"included": True, "source": str(ledger_file),
                              **_ledger_facts(out / LEDGER_FILE)}
    else:
        manifest["ledger"] = {"included": False, "reason": "no ledger file yet"}

    home = locations.dagster_home
    if dagster_storage_kind(home) == "postgres":
        reason = ("the Dagster instance keeps its runs in PostgreSQL: back that database up "
                  "with pg_dump; only dagster.yaml is copied")
        if (home / "dagster.yaml").exists():
            (out / DAGSTER_DIR).mkdir()
            shutil.copyfile(home / "dagster.yaml", out / DAGSTER_DIR / "dagster.yaml")
        manifest["dagster"] = {"included": False, "storage": "postgres", "reason": reason}
        notes.append(reason)
    elif home.exists():
        echo(f"dagster instance: {home}")
        copied = _copy_dagster_home(home, out / DAGSTER_DIR)
        manifest["dagster"] = {"included": True, "storage": "sqlite", "source": str(home),
                               "databases": sum(name.endswith(".db") for name in copied)}
    else:
        manifest["dagster"] = {"included": False, "reason": "no Dagster instance folder yet"}

    from markets.loader import market_files

    markets = market_files(locations.markets_dir)
    for market_file in markets:
        (out / MARKETS_DIR).mkdir(exist_ok=True)
        shutil.copyfile(market_file, out / MARKETS_DIR / market_file.name)
    manifest["markets"] = {"included": bool(markets), "source": str(locations.markets_dir),
                           "files": [path.name for path in markets]}

    if locations.rejects_dir.exists():
        shutil.copytree(locations.rejects_dir, out / REJECTS_DIR, dirs_exist_ok=True)
    manifest["rejects"] = {"included": locations.rejects_dir.exists(),
                           "source": str(locations.rejects_dir)}

    manifest["pii_keys"] = {
        "included": False,
        "note": "The PII keys are not in the backup. Keep WHOLESALER_PII_KEYS and "
                "WHOLESALER_PII_HASH_KEY (or the demo's data/secrets/pii_keys.json) in a "
                "secret store; without them the ledger's phones and emails cannot be read.",
        "fingerprints": _current_key_fingerprints()}
    manifest["files"] = [
        {"path": path.relative_to(out).as_posix(), "bytes": path.stat().st_size,
         "sha256": sha256_of(path)}
        for path in _files_under(out)]
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
    return BackupReport(out, manifest, notes)


def _ledger_facts(ledger_copy: Path) -> dict:
    """The copy's migration revision and row count per table."""
    from sqlalchemy import create_engine, inspect, text

    from outreach.ledger.db import ledger_revision

    engine = create_engine(f"sqlite:///{ledger_copy}")
    try:
        revision = ledger_revision(engine)
        with engine.connect() as connection:
            # Table names come from the database's own catalogue, quoted.
            rows = {table: connection.execute(
                        text(f'SELECT count(*) FROM "{table}"')).scalar_one()  # nosec B608
                    for table in sorted(inspect(engine).get_table_names())
                    if table != "alembic_version"}
    finally:
        engine.dispose()
    return {"revision": revision, "rows": rows}


def read_manifest(source: Path) -> dict:
    manifest_file = source / MANIFEST_NAME
    if not manifest_file.exists():
        raise RestoreError(f"{source}: no {MANIFEST_NAME}; not a wholesaler backup folder")
    try:
        manifest = json.loads(manifest_file.read_text())
    except json.JSONDecodeError as error:
        raise RestoreError(f"{manifest_file}: not valid JSON: {error}") from error
    if manifest.get("format") != BACKUP_FORMAT:
        raise RestoreError(f"{manifest_file}: backup format {manifest.get('format')!r}; this "
                           f"version restores format {BACKUP_FORMAT}")
    return manifest


def verify_backup(source: Path, manifest: dict) -> list[str]:
    """Every problem with the backup's files: missing, changed, unexpected or unsafe paths."""
    problems = []
    listed = set()
    for entry in manifest.get("files", []):
        relative = PurePosixPath(entry["path"])
        if relative.is_absolute() or ".." in relative.parts:
            problems.append(f"{entry['path']}: unsafe path in the manifest")
            continue
        listed.add(relative.as_posix())
        path = source / relative
        if not path.is_file():
            problems.append(f"{entry['path']}: missing")
        elif path.stat().st_size != entry["bytes"] or sha256_of(path) != entry["sha256"]:
            problems.append(f"{entry['path']}: checksum differs from the manifest "
                            "(the file changed or is damaged)")
    for path in _files_under(source):
        relative = path.relative_to(source).as_posix()
        if relative != MANIFEST_NAME and relative not in listed:
            problems.append(f"{relative}: not listed in the manifest")
    return problems


def _target_of(relative: str, locations: StoreLocations) -> Path | None:
    """Where one backup file goes."""
    path = PurePosixPath(relative)
    head, rest = path.parts[0], PurePosixPath(*path.parts[1:]) if len(path.parts) > 1 else None
    if relative == LEDGER_FILE:
        return locations.ledger_file
    if relative == WAREHOUSE_FILE:
        return locations.warehouse
    if relative == WAREHOUSE_FILE + ".wal":
        return locations.warehouse.with_name(locations.warehouse.name + ".wal")
    if rest is None:
        return None
    roots = {DAGSTER_DIR: locations.dagster_home, MARKETS_DIR: locations.markets_dir,
             REJECTS_DIR: locations.rejects_dir}
    return roots[head] / rest if head in roots else None


def restore(source: Path, locations: StoreLocations) -> RestoreReport:
    """Verify the backup in `source`, then copy it into `locations`, which must not hold
    those stores already (identical market files are fine)."""
    manifest = read_manifest(source)
    problems = verify_backup(source, manifest)
    if problems:
        raise RestoreError("the backup failed verification; nothing was restored:\n  "
                           + "\n  ".join(problems))
    if manifest.get("ledger", {}).get("included") and locations.ledger_file is None:
        raise RestoreError("the backup holds a SQLite ledger but the target ledger is a server "
                           "database (WHOLESALER_LEDGER_URL); restore into a data folder "
                           "(--data-dir) and load it from there")
    plan: list[tuple[Path, Path, str]] = []
    conflicts = []
    for entry in manifest["files"]:
        target = _target_of(entry["path"], locations)
        if target is None:
            raise RestoreError(f"{entry['path']}: the manifest names a file this version "
                               "does not know where to restore")
        if target.exists():
            same = target.is_file() and sha256_of(target) == entry["sha256"]
            if entry["path"].startswith(MARKETS_DIR + "/") and same:
                continue
            conflicts.append(str(target))
            continue
        plan.append((source / entry["path"], target, entry["sha256"]))
    for database in (locations.ledger_file, locations.warehouse):
        if database is not None:
            conflicts += [str(side) for side in (database.with_name(database.name + suffix)
                                                 for suffix in (".wal", "-wal", "-shm"))
                          if side.exists()]
    if conflicts:
        raise RestoreError("the target already holds these files; restore into a fresh data "
                           "folder (--data-dir) or move them away first:\n  "
                           + "\n  ".join(sorted(set(conflicts))))

    restored: dict[str, str] = {}
    for origin, target, digest in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".restoring")
        shutil.copyfile(origin, partial)
        if sha256_of(partial) != digest:
            partial.unlink()
            raise RestoreError(f"{target}: the copy's checksum differs; the disk may be "
                               "failing. Files restored so far: " + ", ".join(restored))
        partial.replace(target)
        restored[origin.relative_to(source).as_posix()] = str(target)
    return RestoreReport(restored, _restored_ledger_revision(manifest, locations),
                         _restore_warnings(manifest, locations))


def _restored_ledger_revision(manifest: dict, locations: StoreLocations) -> str | None:
    if not manifest.get("ledger", {}).get("included") or locations.ledger_file is None:
        return None
    from outreach.ledger.db import ledger_engine, ledger_revision

    engine = ledger_engine(f"sqlite:///{locations.ledger_file}")
    try:
        return ledger_revision(engine)
    finally:
        engine.dispose()


def _restore_warnings(manifest: dict, locations: StoreLocations) -> list[str]:
    warnings = [f"{store}: {facts['reason']}" for store, facts in manifest.items()
                if isinstance(facts, dict) and not facts.get("included", True)
                and facts.get("reason") and store != "pii_keys"]
    from outreach.ledger.db import head_revision

    revision = manifest.get("ledger", {}).get("revision")
    if revision and revision != head_revision():
        warnings.append(f"the ledger is at revision {revision}, this version's newest is "
                        f"{head_revision()}: `wholesaler ledger upgrade` (every writer also "
                        "upgrades on start)")
    expected = (manifest.get("pii_keys") or {}).get("fingerprints")
    if expected:
        current = _current_key_fingerprints()
        if current is None:
            warnings.append("no PII keys are configured here: set WHOLESALER_PII_KEYS and "
                            "WHOLESALER_PII_HASH_KEY to the keys of the backed-up ledger "
                            f"(fingerprints {expected['fernet_key_ids']}, hash "
                            f"{expected['hash_key_id']})")
        else:
            if not set(expected["fernet_key_ids"]) & set(current["fernet_key_ids"]):
                warnings.append("none of the configured WHOLESALER_PII_KEYS is a key of the "
                                "backed-up ledger: its phones and emails cannot be decrypted")
            if expected["hash_key_id"] != current["hash_key_id"]:
                warnings.append("WHOLESALER_PII_HASH_KEY differs from the backed-up ledger's: "
                                "lookups by phone or email will not match")
    from markets.loader import markets_dir

    if manifest.get("markets", {}).get("included") and locations.markets_dir != markets_dir():
        warnings.append(f"market files restored to {locations.markets_dir}; point "
                        "WHOLESALER_MARKETS_DIR there if that is not the markets folder in use")
    return warnings
