"""The whole backbone through Dagster on sample data: the demo materializes two markets, every
check passes, marts are filled, a re-run and a second run from the same seed give identical
marts, and materializing one market leaves the other untouched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKETS = ("orange_fl", "lake_fl")
PARCELS = 4000
SEED = 11
MARTS = ("properties", "lead_scores", "comps", "valuations", "offers")


def _project(root: Path) -> Path:
    (root / "markets").mkdir(parents=True)
    for code in MARKETS:
        shutil.copy(ROOT / "markets" / f"{code}.yaml", root / "markets" / f"{code}.yaml")
    return root


def _use(root: Path, monkeypatch) -> None:
    monkeypatch.setenv("WHOLESALER_MARKETS_DIR", str(root / "markets"))
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "data" / "dagster_home"))
    monkeypatch.delenv("WHOLESALER_WAREHOUSE_PATH", raising=False)


def mart_fingerprints(warehouse: Path) -> dict[str, str]:
    """A hash of each mart's rows in a fixed order: equal hashes, equal marts."""
    prints = {}
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        for mart in MARTS:
            rows = conn.execute(f"SELECT * FROM marts.{mart} ORDER BY ALL").fetchall()
            prints[mart] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return prints


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    root = _project(tmp_path_factory.mktemp("project"))
    _use(root, monkeypatch)
    from pipelines.demo import run_demo

    output: list[str] = []
    ok = run_demo(parcels=PARCELS, seed=SEED, echo=output.append)
    yield root, ok, output
    monkeypatch.undo()


def test_demo_materializes_every_market_and_passes_every_check(demo_run):
    root, ok, output = demo_run
    assert ok, "\n".join(output)
    text = "\n".join(output)
    for code in MARKETS:
        assert code in text
    assert "wholesaler ui" in text
    with duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True) as conn:
        for code in MARKETS:
            parcels = conn.execute("SELECT count(*) FROM marts.properties WHERE market_code = ?",
                                   [code]).fetchone()[0]
            assert parcels == PARCELS
            tiers = dict(conn.execute("SELECT tier, count(*) FROM marts.lead_scores "
                                      "WHERE market_code = ? GROUP BY tier", [code]).fetchall())
            assert tiers.get("A", 0) + tiers.get("B+", 0) > 0
            valued = conn.execute(
                "SELECT count(*), median(arv) FROM marts.valuations "
                "WHERE market_code = ? AND arv IS NOT NULL", [code]).fetchone()
            assert valued[0] > 0 and 50_000 < valued[1] < 2_000_000
            assert conn.execute("SELECT count(*) FROM marts.offers WHERE offer_max > arv"
                                ).fetchone()[0] == 0


def test_rerun_gives_identical_marts(demo_run, monkeypatch):
    root, _, _ = demo_run
    _use(root, monkeypatch)
    before = mart_fingerprints(root / "data" / "warehouse.duckdb")
    from pipelines.demo import run_demo

    assert run_demo(parcels=PARCELS, seed=SEED, echo=lambda _: None)
    assert mart_fingerprints(root / "data" / "warehouse.duckdb") == before


def test_same_seed_in_a_fresh_project_gives_identical_marts(demo_run, tmp_path, monkeypatch):
    root, _, _ = demo_run
    other = _project(tmp_path / "other")
    _use(other, monkeypatch)
    from pipelines.demo import run_demo

    assert run_demo(parcels=PARCELS, seed=SEED, echo=lambda _: None)
    assert mart_fingerprints(other / "data" / "warehouse.duckdb") == mart_fingerprints(
        root / "data" / "warehouse.duckdb")


def _mark_one_row(conn, market_code: str) -> str:
    property_id = conn.execute(
        "SELECT min(property_id) FROM marts.lead_scores WHERE market_code = ?", [market_code]
    ).fetchone()[0]
    conn.execute("UPDATE marts.lead_scores SET reasons = 'test marker' WHERE property_id = ?",
                 [property_id])
    return property_id


def test_one_market_partition_leaves_the_other_untouched(demo_run, monkeypatch):
    root, _, _ = demo_run
    _use(root, monkeypatch)
    warehouse = root / "data" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as conn:
        lake_marked = _mark_one_row(conn, "lake_fl")
        orange_marked = _mark_one_row(conn, "orange_fl")
    import dagster as dg

    from pipelines.definitions import defs

    job = defs().resolve_job_def("materialize_market")
    result = job.execute_in_process(partition_key="orange_fl",
                                    instance=dg.DagsterInstance.ephemeral())
    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        reasons = dict(conn.execute(
            "SELECT property_id, reasons FROM marts.lead_scores WHERE property_id IN (?, ?)",
            [lake_marked, orange_marked]).fetchall())
    assert reasons[lake_marked] == "test marker", "an orange_fl run must not rebuild lake_fl"
    assert reasons[orange_marked] != "test marker", "the orange_fl run must rebuild orange_fl"


def test_bad_roll_rows_are_reported_and_good_rows_still_score(demo_run, monkeypatch):
    root, _, _ = demo_run
    _use(root, monkeypatch)
    nal = root / "data" / "sample" / "orange_fl" / "NAL58F2026.csv"
    lines = nal.read_text(encoding="latin-1").splitlines(keepends=True)
    broken = [*lines[:10], "58,BROKEN-ROW\n", *lines[10:]]
    nal.write_text("".join(broken), encoding="latin-1")
    try:
        import dagster as dg

        from pipelines.definitions import defs

        job = defs().resolve_job_def("materialize_market")
        result = job.execute_in_process(partition_key="orange_fl",
                                        instance=dg.DagsterInstance.ephemeral())
        assert result.success
        with duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True) as conn:
            assert conn.execute("SELECT line, error_type FROM raw.ingest_rejects "
                                "WHERE market_code = 'orange_fl' "
                                "AND table_name = 'nal_parcels'").fetchall() == [
                (11, "MISSING COLUMNS")]
            assert conn.execute("SELECT count(*) FROM marts.properties "
                                "WHERE market_code = 'orange_fl'").fetchone()[0] == PARCELS
        rejects_file = root / "data" / "rejects" / "orange_fl" / "nal_parcels.csv"
        assert "BROKEN-ROW" in rejects_file.read_text()
    finally:
        nal.write_text("".join(lines), encoding="latin-1")
        os.utime(nal)


def test_market_run_recorded_in_a_postgres_dagster_instance(demo_run, monkeypatch, tmp_path):
    """Production Dagster storage (dagster-postgres): a market partition runs and its run,
    partition and asset materializations are stored in PostgreSQL."""
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        pytest.skip("TEST_POSTGRES_URL is not set (CI sets it for the server on 127.0.0.1)")
    root, _, _ = demo_run
    _use(root, monkeypatch)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        f"storage:\n  postgres:\n    postgres_url: \"{url}\"\n"
        "concurrency:\n  pools:\n    default_limit: 1\n"
    )
    import dagster as dg

    from pipelines.definitions import defs

    with dg.DagsterInstance.from_config(str(home)) as instance:
        job = defs().resolve_job_def("materialize_market")
        result = job.execute_in_process(partition_key="lake_fl", instance=instance)
        assert result.success
        record = instance.get_run_record_by_id(result.run_id)
        assert record.dagster_run.tags["dagster/partition"] == "lake_fl"
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        materialization = instance.get_latest_materialization_event(
            dg.AssetKey(["marts", "lead_scores"]))
        assert materialization.run_id == result.run_id


def test_dbt_unit_tests_pass(demo_run):
    """The dbt unit tests (tier boundaries, ARV, MAO, repair tiers) on their hand-built rows;
    partition builds leave them out, so they run here."""
    import json
    import subprocess
    import sys

    root, _, _ = demo_run
    project = ROOT / "dbt_project"
    target = root / "dbt_unit_target"
    env = {**os.environ, "WHOLESALER_WAREHOUSE_PATH": str(root / "data" / "warehouse.duckdb")}
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "test", "--select", "test_type:unit",
         "--profiles-dir", str(project), "--target-path", str(target)],
        cwd=project, env=env, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout[-3000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    unit_tests = {r["unique_id"].split(".")[-1]: r["status"] for r in results
                  if r["unique_id"].startswith("unit_test.")}
    roll_unit_tests = {"test_tier_boundaries", "test_offer_is_mao_formula",
                       "test_arv_is_median_comp_price_per_sqft_times_living_area",
                       "test_repair_tiers_from_age_quality_and_violations"}
    outreach_unit_tests = {"test_reply_attribution_prefers_the_thread_then_the_latest_touch",
                           "test_deal_attribution_to_the_first_reply_touch",
                           "test_daily_rates_divide_by_touches_sent",
                           "test_roi_cost_per_lead_break_even_and_running_totals"}
    assert roll_unit_tests | outreach_unit_tests <= unit_tests.keys()
    assert set(unit_tests.values()) == {"pass"}, unit_tests


def test_partition_scoped_dbt_tests_catch_an_orphan_in_their_own_market(demo_run):
    """dbt tests in a partition build read only that market (child and parent side), and still
    fail on a broken row of it."""
    import subprocess
    import sys

    root, _, _ = demo_run
    warehouse = root / "data" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("INSERT INTO marts.lead_scores BY NAME SELECT 'orange_fl-ORPHAN' AS "
                     "property_id, 'orange_fl' AS market_code")
    try:
        def run_relationship_test(market_code: str) -> int:
            return subprocess.run(
                [str(Path(sys.executable).parent / "dbt"), "test", "--profiles-dir", ".",
                 "--select", "relationships_lead_scores_property_id__property_id__ref_properties_",
                 "--vars", f'{{"market_code": "{market_code}"}}',
                 "--target-path", str(root / "dbt_orphan_target")],
                cwd=ROOT / "dbt_project", capture_output=True, check=False,
                env={**os.environ, "WHOLESALER_WAREHOUSE_PATH": str(warehouse)},
            ).returncode

        assert run_relationship_test("orange_fl") != 0
        assert run_relationship_test("lake_fl") == 0
    finally:
        with duckdb.connect(str(warehouse)) as conn:
            conn.execute("DELETE FROM marts.lead_scores WHERE property_id = 'orange_fl-ORPHAN'")


def test_partitioned_table_refuses_rows_when_its_columns_changed(demo_run):
    """A partition build never inserts rows whose columns differ from the table's (the other
    markets' rows would not match); it asks for a full rebuild instead."""
    import subprocess
    import sys

    root, _, _ = demo_run
    warehouse = root / "data" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("ALTER TABLE marts.offers ADD COLUMN legacy_note VARCHAR")
    try:
        completed = subprocess.run(
            [str(Path(sys.executable).parent / "dbt"), "run", "--profiles-dir", ".",
             "--select", "offers", "--vars", '{"market_code": "orange_fl"}',
             "--target-path", str(root / "dbt_schema_target")],
            cwd=ROOT / "dbt_project", capture_output=True, text=True, check=False,
            env={**os.environ, "WHOLESALER_WAREHOUSE_PATH": str(warehouse)},
        )
        assert completed.returncode != 0
        assert "columns of" in completed.stdout and "--full-refresh" in completed.stdout
    finally:
        with duckdb.connect(str(warehouse)) as conn:
            conn.execute("ALTER TABLE marts.offers DROP COLUMN legacy_note")


def _ledger_counts(root: Path) -> dict[str, int]:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{root / 'data' / 'outreach.db'}")
    with engine.connect() as connection:
        counts = {table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                  for table in ("owners", "contacts", "contact_sources", "owner_parcels",
                                "enrollments", "messages", "consents")}
    engine.dispose()
    return counts


def test_demo_imports_contacts_and_reports_lead_coverage(demo_run, monkeypatch):
    """The demo's contacts step: sample skip-trace files into the ledger, scrubbed against a
    fresh (fictional) registry copy; most A/B+ leads end up with a sendable contact, and the
    ledger file holds no phone or email in plain text."""
    root, ok, output = demo_run
    assert ok, "\n".join(output)
    text = "\n".join(output)
    assert "A/B+ reachable" in text and "Importing contacts for orange_fl" in text
    counts = _ledger_counts(root)
    assert counts["contacts"] > PARCELS and counts["owner_parcels"] > PARCELS
    import re

    shares = [int(share) for share in re.findall(r"\((\d+)%\)", text)]
    assert len(shares) == len(MARKETS) and all(share >= 60 for share in shares), text
    _use(root, monkeypatch)
    from outreach.ledger.db import ledger_engine, ledger_session
    from outreach.ledger.models import Contact

    engine = ledger_engine()
    with ledger_session(engine) as session:
        values = session.query(Contact.channel, Contact.value).all()
    engine.dispose()
    phones = {value.removeprefix("+1") for channel, value in values if channel == "phone"}
    emails = {value for channel, value in values if channel == "email"}
    assert phones and emails
    raw = b"".join(path.read_bytes() for path in (root / "data").glob("outreach.db*"))
    assert not [phone for phone in phones if phone.encode() in raw]
    assert not [email for email in emails if email.encode() in raw]


def test_demo_outboxes_only_what_the_gate_allowed_at_allowed_times(demo_run, monkeypatch):
    """The demo's outreach step: leads enrolled, touches sent to the outbox (nothing is live),
    and every outboxed message carries an allowed compliance decision for the same send (its
    idempotency key is the decision's reference) at a planned time inside the recipient's
    window; refusals are reported by reason."""
    root, ok, output = demo_run
    assert ok, "\n".join(output)
    text = "\n".join(output)
    for code in MARKETS:
        assert f"Outreach for {code}" in text
    assert "outboxed" in text and "no_consent" in text, text
    _use(root, monkeypatch)
    from sqlalchemy import func, select

    from outreach.compliance.window import window_decision
    from outreach.ledger import pii
    from outreach.ledger.db import ledger_engine, ledger_session
    from outreach.ledger.models import ComplianceDecision, Enrollment, Message

    pii.reset_keyring()
    engine = ledger_engine()
    try:
        with ledger_session(engine) as session:
            enrolled = dict(session.execute(
                select(Enrollment.market_code, func.count()).group_by(Enrollment.market_code))
                .tuples().all())
            outboxed = session.execute(
                select(Message, ComplianceDecision).outerjoin(
                    ComplianceDecision, ComplianceDecision.compliance_decision_id
                    == Message.compliance_decision_id)
                .where(Message.status == "outboxed")).all()
            assert set(enrolled) == set(MARKETS) and all(enrolled.values())
            assert outboxed, "the demo outbox is empty"
            for message, decision in outboxed:
                assert message.provider == "outbox" and message.direction == "outbound"
                assert decision is not None and decision.is_allowed, message.message_id
                assert decision.reference == message.idempotency_key
                assert decision.planned_at == message.planned_at
                assert decision.contact_id == message.contact_id
                if message.channel == "sms":
                    window = window_decision(message.counterpart, message.planned_at)
                    assert window.allowed, window.as_dict()
            refused = session.execute(
                select(Message.status, ComplianceDecision.is_allowed).join(
                    ComplianceDecision, ComplianceDecision.compliance_decision_id
                    == Message.compliance_decision_id)
                .where(Message.status.in_(("refused", "deferred")))).all()
            assert refused and not any(allowed for _, allowed in refused)
    finally:
        engine.dispose()
        pii.reset_keyring()
    lines = [json.loads(line) for path in (root / "data" / "outbox").glob("*.jsonl")
             for line in path.read_text().splitlines()]
    assert sorted(line["message_id"] for line in lines) == sorted(
        message.message_id for message, _ in outboxed)


def test_rerun_adds_no_contacts_enrollments_or_messages(demo_run, monkeypatch):
    root, _, _ = demo_run
    _use(root, monkeypatch)
    before = _ledger_counts(root)
    from pipelines.demo import run_demo

    assert run_demo(parcels=PARCELS, seed=SEED, echo=lambda _: None)
    assert _ledger_counts(root) == before


def test_contacts_import_cli_lands_good_rows_rejects_bad_ones_and_is_idempotent(
        demo_run, monkeypatch, tmp_path):
    import json

    from typer.testing import CliRunner

    from pipelines.cli import app

    root, _, _ = demo_run
    _use(root, monkeypatch)
    parcel_ids = [line.split(",")[1] for line in (
        root / "data" / "sample" / "orange_fl" / "NAL58F2026.csv").read_text(
        encoding="latin-1").splitlines()[1:4]]
    vendor = tmp_path / "vendor.csv"
    vendor.write_text(
        "Parcel ID,Owner Name,Phone1,Phone1_Type,Phone1_DNC,Phone2,Email1\n"
        f"{parcel_ids[0]},A OWNER,(407) 555-0111,Mobile,N,407.555.0112,a.owner@example.com\n"
        f"{parcel_ids[1]},B OWNER,555-0113,Mobile,N,,not-an-email\n"
        f"NO-SUCH-PARCEL,C OWNER,4075550114,Mobile,N,,\n"
        f"{parcel_ids[2]},D OWNER,+1 407-555-0115 x12,Landline,Y,,d@nomail.example.net\n")
    runner = CliRunner()
    first = runner.invoke(app, ["contacts", "import", str(vendor), "--source", "vendor_t",
                                "--market", "orange_fl"])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["imported"] == 2 and summary["rejected"] >= 4
    rejects = Path(summary["rejects_file"]).read_text()
    for line, reason in ((3, "missing_area_code"), (3, "invalid_syntax"),
                         (4, "unknown_parcel"), (5, "null_mx")):
        assert any(row.split(",")[1] == str(line) and reason in row
                   for row in rejects.splitlines()[1:]), (line, reason, rejects)
    second = runner.invoke(app, ["contacts", "import", str(vendor), "--source", "vendor_t"])
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout.strip().splitlines()[-1])
    assert again["market"] == "orange_fl" and again["imported"] == 0
    assert again["contacts_added"] == 0 and again["duplicates"] == 2


def test_dnc_load_cli_accepts_both_line_formats_and_listed_numbers_block_sms(
        demo_run, monkeypatch, tmp_path):
    """`dnc load` reads `6895550101` and `689,5550102` lines alike; after a scrub every phone
    on the list is blocked for SMS with the list named. (Staleness: tests/test_ledger.py.)"""
    import json

    from sqlalchemy import select
    from typer.testing import CliRunner

    from outreach.ledger.db import ledger_engine, ledger_session
    from outreach.ledger.dnc_store import latest_scrubs, lists_holding
    from outreach.ledger.models import Contact
    from pipelines.cli import app

    root, _, _ = demo_run
    _use(root, monkeypatch)
    registry = tmp_path / "ftc_689.txt"
    registry.write_text("6895550101\n689,5550102\n")
    runner = CliRunner()
    loaded = runner.invoke(app, ["dnc", "load", str(registry), "--downloaded-on", "2026-11-20"])
    assert loaded.exit_code == 0, loaded.output
    report = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert report["added"] == 2 and report["area_codes"] == ["689"]
    assert report["downloaded_on"] == "2026-11-20" and report["downloaded_on_from"] == "argument"
    scrubbed = runner.invoke(app, ["contacts", "scrub", "--market", "orange_fl"])
    assert scrubbed.exit_code == 0, scrubbed.output
    engine = ledger_engine()
    with ledger_session(engine) as session:
        assert lists_holding(session, "+16895550101") == ["national"]
        assert lists_holding(session, "+16895550102") == ["national"]
        phones = list(session.scalars(select(Contact).where(Contact.channel == "phone")))
        scrubs = latest_scrubs(session, [c.contact_id for c in phones])
        listed = [c for c in phones if c.value in ("+16895550101", "+16895550102")]
        assert listed and all(scrubs[c.contact_id].is_sms_blocked
                              and "national" in scrubs[c.contact_id].reason for c in listed)
    engine.dispose()
