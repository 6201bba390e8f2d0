"""Backup and restore of the embedded stores, and the retention purge: a backup restored into
a fresh data folder gives the same ledger (row counts, decrypted phones and emails with the
same keys), the same warehouse (every table's rows), the same Dagster history; a damaged
backup, an occupied target and a warehouse held by a writer are refused; the purge deletes
old contact rejects files, audits it, and leaves opt-outs, consent and DNC records alone."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
MARKET = "lake_fl"
PARCELS = 1000
SEED = 3
FERNET_KEY = "q0nK4Qe0m8sB8v8mRr8b7m6Hq1Zb0mH9m2yHq3qYbKk="
HASH_KEY = "backup-test-hash-key-0123456789abcdef"


def _use(root: Path, monkeypatch) -> None:
    monkeypatch.setenv("WHOLESALER_MARKETS_DIR", str(root / "markets"))
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("WHOLESALER_WAREHOUSE_PATH", str(root / "data" / "warehouse.duckdb"))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "data" / "dagster_home"))
    monkeypatch.delenv("WHOLESALER_LEDGER_URL", raising=False)
    monkeypatch.setenv("WHOLESALER_PII_KEYS", FERNET_KEY)
    monkeypatch.setenv("WHOLESALER_PII_HASH_KEY", HASH_KEY)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A project whose stores were filled by the demo for one small market."""
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("source")
    (root / "markets").mkdir()
    shutil.copy(ROOT / "markets" / f"{MARKET}.yaml", root / "markets" / f"{MARKET}.yaml")
    _use(root, monkeypatch)
    from pipelines.demo import run_demo

    output: list[str] = []
    assert run_demo(parcels=PARCELS, seed=SEED, market_codes=[MARKET], echo=output.append,
                    contacts=True), "\n".join(output)
    monkeypatch.undo()
    return root


def warehouse_fingerprints(warehouse: Path) -> dict[str, str]:
    """A hash of every table's and view's rows in a fixed order, per relation."""
    prints = {}
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        relations = conn.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() UNION ALL "
            "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal "
            "ORDER BY ALL").fetchall()
        for schema, name in relations:
            rows = conn.execute(f'SELECT * FROM "{schema}"."{name}" ORDER BY ALL').fetchall()
            prints[f"{schema}.{name}"] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return prints


def ledger_contents(ledger_file: Path) -> tuple[dict[str, int], list[tuple[int, str, str]]]:
    """Row counts of every ledger table, and every contact decrypted with the current keys."""
    from outreach.ledger.db import ledger_engine, ledger_session
    from outreach.ledger.models import Contact

    engine = ledger_engine(f"sqlite:///{ledger_file}")
    try:
        with engine.connect() as connection:
            counts = {table: connection.execute(
                sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one()
                for table in sa.inspect(engine).get_table_names()}
        with ledger_session(engine) as session:
            contacts = [tuple(row) for row in session.execute(
                sa.select(Contact.contact_id, Contact.channel, Contact.value)
                .order_by(Contact.contact_id)).all()]
    finally:
        engine.dispose()
    return counts, contacts


def test_restore_into_a_fresh_folder_gives_the_same_ledger_marts_and_history(
        source, tmp_path, monkeypatch):
    from pipelines.cli import app

    _use(source, monkeypatch)
    runner = CliRunner()
    backup_dir = tmp_path / "backup"
    made = runner.invoke(app, ["backup", "--out", str(backup_dir)])
    assert made.exit_code == 0, made.output
    summary = json.loads(made.stdout)
    assert all(summary["included"].values()), summary
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["ledger"]["revision"] and manifest["ledger"]["rows"]["contacts"] > 0
    assert manifest["pii_keys"]["included"] is False
    every_byte = b"".join(path.read_bytes() for path in backup_dir.rglob("*") if path.is_file())
    assert FERNET_KEY.encode() not in every_byte and HASH_KEY.encode() not in every_byte

    fresh = tmp_path / "fresh"
    restored = runner.invoke(app, ["restore", "--from", str(backup_dir), "--data-dir",
                                   str(fresh / "data")])
    assert restored.exit_code == 0, restored.output
    report = json.loads(restored.stdout)
    assert report["ledger_revision"] == manifest["ledger"]["revision"]
    assert not [w for w in report["warnings"] if "PII" in w], report["warnings"]

    source_counts, source_contacts = ledger_contents(source / "data" / "outreach.db")
    restored_counts, restored_contacts = ledger_contents(fresh / "data" / "outreach.db")
    assert restored_counts == source_counts
    assert restored_contacts == source_contacts and len(source_contacts) > PARCELS // 2
    assert any(channel == "phone" and value.startswith("+1")
               for _, channel, value in restored_contacts)

    source_prints = warehouse_fingerprints(source / "data" / "warehouse.duckdb")
    assert {"marts.lead_scores", "marts.offers", "marts.properties"} <= set(source_prints)
    assert warehouse_fingerprints(fresh / "data" / "warehouse.duckdb") == source_prints

    assert sorted(path.name for path in (fresh / "data" / "markets").iterdir()) == [
        f"{MARKET}.yaml"]
    import dagster as dg

    with dg.DagsterInstance.from_config(str(source / "data" / "dagster_home")) as original, \
            dg.DagsterInstance.from_config(str(fresh / "data" / "dagster_home")) as copy:
        assert sorted(r.run_id for r in copy.get_runs()) == sorted(
            r.run_id for r in original.get_runs())
        assert copy.get_materialized_partitions(dg.AssetKey(["marts", "lead_scores"])) == {
            MARKET}

    again = runner.invoke(app, ["restore", "--from", str(backup_dir), "--data-dir",
                                str(fresh / "data")])
    assert again.exit_code == 1 and "already holds" in again.output
    assert "outreach.db" in again.output


def test_a_damaged_backup_is_refused_before_anything_is_written(source, tmp_path, monkeypatch):
    from pipelines.backup import RestoreError, StoreLocations, backup, restore

    _use(source, monkeypatch)
    backup_dir = tmp_path / "backup"
    backup(backup_dir)
    warehouse_copy = backup_dir / "warehouse" / "warehouse.duckdb"
    data = bytearray(warehouse_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    warehouse_copy.write_bytes(bytes(data))
    (backup_dir / "stray.txt").write_text("not from the backup")
    target = tmp_path / "fresh"
    with pytest.raises(RestoreError) as refused:
        restore(backup_dir, StoreLocations.under(target))
    assert "warehouse/warehouse.duckdb: checksum differs" in str(refused.value)
    assert "stray.txt: not listed" in str(refused.value)
    assert not target.exists()


def test_backup_refuses_while_a_writer_holds_the_warehouse(source, tmp_path, monkeypatch):
    from pipelines.backup import BackupError, backup

    _use(source, monkeypatch)
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, duckdb
            conn = duckdb.connect({str(source / 'data' / 'warehouse.duckdb')!r})
            print('holding', flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "holding"
        with pytest.raises(BackupError, match="held by a writing process"):
            backup(tmp_path / "backup")
        assert not (tmp_path / "backup").exists(), "a refused backup leaves nothing behind"
    finally:
        writer.stdin.close()
        writer.wait(timeout=30)


def test_retention_purges_old_rejects_files_and_keeps_opt_outs_and_consent(tmp_path,
                                                                            monkeypatch):
    from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
    from outreach.ledger.models import AuditEntry, ContactImport, DncList, DncNumber
    from pipelines.retention import RetentionSettingError, purge_expired, retention_days

    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WHOLESALER_PII_KEYS", FERNET_KEY)
    monkeypatch.setenv("WHOLESALER_PII_HASH_KEY", HASH_KEY)
    monkeypatch.delenv("WHOLESALER_LEDGER_URL", raising=False)
    now = datetime(2027, 6, 1, tzinfo=UTC)
    rejects = tmp_path / "data" / "rejects" / "contacts" / MARKET
    rejects.mkdir(parents=True)
    old_file, new_file, rewritten_file = (rejects / name for name in (
        "old__a.csv", "new__b.csv", "rewritten__c.csv"))
    for path in (old_file, new_file, rewritten_file):
        path.write_text("line,reason,raw\n3,bad phone,\"A OWNER,4075550111\"\n")
    for path, age in ((old_file, 100), (new_file, 5), (rewritten_file, 5)):
        stamp = (now - timedelta(days=age)).timestamp()
        os.utime(path, (stamp, stamp))
    engine = ledger_engine()
    upgrade_ledger(engine)
    with ledger_session(engine) as session:
        for name, path, age in (("old", old_file, 100), ("new", new_file, 5),
                                ("rewritten", rewritten_file, 100)):
            at = now - timedelta(days=age)
            session.add(ContactImport(source_name=name, market_code=MARKET, file_name=path.name,
                                      file_sha256="0" * 64, rejects_file=str(path),
                                      started_at=at, finished_at=at))
        dnc = DncList(kind="internal", source_file="opt-outs", file_sha256="1" * 64,
                      downloaded_on=(now - timedelta(days=900)).date(),
                      downloaded_on_basis="operator", loaded_at=now - timedelta(days=900))
        session.add(dnc)
        session.flush()
        session.add(DncNumber(list_key="internal", phone_hash="2" * 64,
                              dnc_list_id=dnc.dnc_list_id))
    kept_tables = ("dnc_lists", "dnc_numbers", "contact_imports", "suppressions", "consents")

    def counts() -> dict[str, int]:
        present = set(sa.inspect(engine).get_table_names())
        with engine.connect() as connection:
            return {table: connection.execute(sa.text(f"SELECT count(*) FROM {table}"))
                    .scalar_one() for table in kept_tables if table in present}

    before = counts()
    dry = purge_expired(engine, days=30, now=now, dry_run=True)
    assert [item.path for item in dry.purged] == [str(old_file)] and old_file.exists()

    report = purge_expired(engine, days=30, now=now)
    assert [item.path for item in report.purged] == [str(old_file)]
    assert not old_file.exists()
    assert new_file.exists(), "an import younger than the retention keeps its rejects"
    assert rewritten_file.exists(), "a file rewritten by a later import keeps its content"
    assert counts() == before
    with ledger_session(engine) as session:
        audit = session.scalars(sa.select(AuditEntry)).all()
    assert [(entry.action, entry.detail["file"]) for entry in audit] == [
        ("purge_rejects_file", str(old_file))]
    assert purge_expired(engine, days=30, now=now).purged == [], "a second purge finds nothing"
    engine.dispose()

    monkeypatch.setenv("WHOLESALER_RETENTION_DAYS", "90")
    assert retention_days() == 90
    monkeypatch.setenv("WHOLESALER_RETENTION_DAYS", "0")
    with pytest.raises(RetentionSettingError, match="WHOLESALER_RETENTION_DAYS"):
        retention_days()


def test_retention_clears_old_message_bodies_but_keeps_opt_out_evidence(tmp_path,
                                                                        monkeypatch):
    from outreach.ledger import models
    from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
    from pipelines.retention import purge_expired

    if not hasattr(models, "Message"):
        pytest.skip("the ledger has no messages table yet (outreach issue)")
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WHOLESALER_PII_KEYS", FERNET_KEY)
    monkeypatch.setenv("WHOLESALER_PII_HASH_KEY", HASH_KEY)
    monkeypatch.delenv("WHOLESALER_LEDGER_URL", raising=False)
    now = datetime(2027, 6, 1, tzinfo=UTC)
    engine = ledger_engine()
    upgrade_ledger(engine)
    with ledger_session(engine) as session:
        def message(direction: str, body: str, age: int) -> int:
            row = models.Message(direction=direction, channel="sms", body=body,
                                 subject=None, provider="outbox", status="delivered",
                                 created_at=now - timedelta(days=age))
            session.add(row)
            session.flush()
            return row.message_id

        old_offer = message("outbound", "Hi, would you sell 12 Elm St?", 400)
        old_stop = message("inbound", "STOP", 400)
        recent = message("inbound", "Maybe, call me", 10)
        session.add(models.Suppression(value_hash="3" * 64, channel="all", reason="opt_out",
                                       message_id=old_stop))
    assert purge_expired(engine, days=365, now=now, dry_run=True).message_bodies_purged == 1
    assert purge_expired(engine, days=365, now=now).message_bodies_purged == 1
    with ledger_session(engine) as session:
        bodies = {row.message_id: (row.body, row.body_purged_at)
                  for row in session.scalars(sa.select(models.Message))}
        suppressions = session.scalar(sa.select(sa.func.count()).select_from(models.Suppression))
    engine.dispose()
    assert bodies[old_offer] == (None, now)
    assert bodies[old_stop] == ("STOP", None), "the opt-out's evidence is kept"
    assert bodies[recent] == ("Maybe, call me", None)
    assert suppressions == 1

