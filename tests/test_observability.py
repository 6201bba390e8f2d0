"""Observability: JSON log lines with phones, emails and names redacted (CLI handler and the
runs' Dagster logger), the operator notifier (file, and email through a real SMTP server), the
run-failure and error-spike sensors, and the freshness checks on the assets feeding outreach."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

import dagster as dg
import pytest
from smtp_auth_server import SmtpAuthServer

from outreach.ledger import pii
from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
from outreach.ledger.models import ContactImport
from pipelines.defs.operations.run_logging import redacted_json_logger
from pipelines.defs.operations.sensors import (
    FRESHNESS_CHECK_KEYS,
    LEAD_SCORES,
    OWNER_CONTACTS,
    notify_operator_on_error_spike,
    notify_operator_on_run_failure,
)
from pipelines.logging_setup import redact_text, redacting_handler
from pipelines.notifier import OperatorNotifier
from pipelines.resources import LedgerResource

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def _log_line(message: str, *args: object, **extra: object) -> dict[str, object]:
    stream = io.StringIO()
    logger = logging.Logger("test.redaction", level=logging.DEBUG)
    logger.addHandler(redacting_handler(stream))
    logger.warning(message, *args, extra=extra)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


@pytest.mark.parametrize("phone", [
    "+14075550123", "+1 407 555 0123", "(407) 555-0123", "407-555-0123", "407.555.0123",
    "4075550123", "1-407-555-0123", "+44 20 7946 0958",
])
def test_phone_numbers_in_the_message_are_masked(phone):
    line = _log_line("texting %s now", phone)
    assert line["message"] == "texting [phone] now"
    assert line["level"] == "WARNING" and line["logger"] == "test.redaction" and line["time"]


def test_emails_names_and_nested_fields_are_masked():
    line = _log_line("reply from pat.owner@example.com", owner_name="PAT Q OWNER",
                     contact={"phone": "(321) 555-0188", "first_name": "Pat"},
                     recipients=["a@b.example", "+13865550100"], parcel_id="282229000000001",
                     attempts=3)
    text = json.dumps(line)
    for secret in ("pat.owner@example.com", "PAT Q OWNER", "555-0188", "Pat\"",
                   "a@b.example", "3865550100"):
        assert secret not in text
    assert line["message"] == "reply from [email]"
    assert line["owner_name"] == "[name]"
    assert line["contact"] == {"phone": "[phone]", "first_name": "[name]"}
    assert line["recipients"] == ["[email]", "[phone]"]
    # Ids and counts that only look like numbers stay readable.
    assert line["parcel_id"] == "282229000000001" and line["attempts"] == 3


def test_timestamps_and_amounts_are_not_mistaken_for_phones():
    assert redact_text("at 1767225600 offered $185000 for parcel 28-22-29-0000-00-001") == \
        "at 1767225600 offered $185000 for parcel 28-22-29-0000-00-001"


def test_tracebacks_are_redacted():
    stream = io.StringIO()
    logger = logging.Logger("test.traceback")
    logger.addHandler(redacting_handler(stream))
    try:
        raise ValueError("bad number +14075550123 for jo@example.com")
    except ValueError:
        logger.exception("send failed")
    line = json.loads(stream.getvalue())
    assert "+14075550123" not in line["exc_info"] and "jo@example.com" not in line["exc_info"]
    assert "ValueError: bad number [phone] for [email]" in line["exc_info"]


def test_the_runs_console_logger_writes_redacted_json(capfd):
    @dg.op
    def greet(context) -> None:  # untyped: this module uses postponed annotations
        context.log.info("owner at +14075550123 wrote from pat@example.com")

    @dg.job(logger_defs={"console": redacted_json_logger})
    def greeting_job() -> None:
        greet()

    # Dagster uses a job's loggers when the run config names them (the demo's runs do).
    assert greeting_job.execute_in_process(
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}}).success
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()
             if line.startswith("{")]
    messages = [line for line in lines if "owner at" in str(line["message"])]
    assert messages, lines
    assert "+14075550123" not in json.dumps(lines) and "pat@example.com" not in json.dumps(lines)
    assert "[phone]" in messages[0]["message"] and "[email]" in messages[0]["message"]
    assert messages[0]["job_name"] == "greeting_job" and messages[0]["run_id"]
    assert "dagster_meta" not in messages[0]


def test_the_cli_logs_json_to_stderr(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pipelines.cli import app

    monkeypatch.setenv("WHOLESALER_MARKETS_DIR", str(tmp_path))  # empty: markets list fails
    monkeypatch.setenv("WHOLESALER_LOG_LEVEL", "INFO")
    result = CliRunner().invoke(app, ["markets", "validate"])
    assert result.exit_code == 2
    root_handlers = [h for h in logging.getLogger().handlers if getattr(h, "_wholesaler", False)]
    assert len(root_handlers) == 1
    record = logging.LogRecord("pipelines.test", logging.INFO, __file__, 1, "call %s",
                               ("+14075550123",), None)
    record.owner_name = "X Y"
    root_handlers[0].filter(record)
    assert record.getMessage() == "call [phone]" and record.owner_name == "[name]"
    logging.getLogger().removeHandler(root_handlers[0])


# --- notifier ----------------------------------------------------------------------------


def test_notifier_writes_a_redacted_line(tmp_path):
    notifier = OperatorNotifier(outbox_path=str(tmp_path / "operator.jsonl"))
    notifier.notify("run_failure", "send to +14075550123 failed", "owner jo@example.com",
                    facts={"owner_name": "JO OWNER", "run_id": "abc"})
    entry = json.loads((tmp_path / "operator.jsonl").read_text())
    assert entry["subject"] == "send to [phone] failed" and entry["body"] == "owner [email]"
    assert entry["facts"] == {"owner_name": "[name]", "run_id": "abc"}
    assert "emailed_to" not in entry


def test_notifier_emails_the_operator_through_smtp(tmp_path, monkeypatch):
    with SmtpAuthServer() as smtp:
        for name, value in smtp.env().items():
            monkeypatch.setenv(name, value)
        notifier = OperatorNotifier(outbox_path=str(tmp_path / "operator.jsonl"),
                                    email_to="ops@wholesaler.example")
        entry = notifier.notify("error_spike", "contact_import_rejects: 90", "details")
    assert entry["email_error"] is None
    assert len(smtp.handler.messages) == 1
    assert b"contact_import_rejects: 90" in smtp.handler.messages[0]
    assert b"To: ops@wholesaler.example" in smtp.handler.messages[0]


def test_notifier_records_an_email_failure_without_raising(tmp_path, monkeypatch):
    with SmtpAuthServer() as smtp:
        for name, value in smtp.env(password="wrong").items():
            monkeypatch.setenv(name, value)
        entry = OperatorNotifier(outbox_path=str(tmp_path / "o.jsonl"),
                                 email_to="ops@wholesaler.example").notify("x", "s", "b")
    assert "SMTPAuthenticationError" in entry["email_error"]
    assert json.loads((tmp_path / "o.jsonl").read_text())["email_error"]


# --- sensors -----------------------------------------------------------------------------


def test_run_failure_sensor_notifies_with_job_partition_and_step(tmp_path):
    @dg.op
    def breaks() -> None:
        raise RuntimeError("lost connection while texting +14075550123")

    @dg.job
    def fragile_job() -> None:
        breaks()

    with dg.instance_for_test() as instance:
        result = fragile_job.execute_in_process(instance=instance, raise_on_error=False,
                                                tags={"dagster/partition": "orange_fl"})
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        failure = next(event for event in result.all_events
                       if event.event_type == dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name="notify_operator_on_run_failure", dagster_event=failure,
            dagster_instance=instance, dagster_run=run,
            resources={"operator_notifier": OperatorNotifier(
                outbox_path=str(tmp_path / "operator.jsonl"))},
        ).for_run_failure()
        notify_operator_on_run_failure(context)
    entry = json.loads((tmp_path / "operator.jsonl").read_text())
    assert entry["kind"] == "run_failure" and entry["severity"] == "error"
    assert entry["subject"] == "run of fragile_job for orange_fl failed"
    assert "breaks" in entry["body"] and "lost connection" in entry["body"]
    assert "+14075550123" not in json.dumps(entry)
    assert entry["facts"]["failed_steps"] == ["breaks"]


@pytest.fixture
def ledger_url(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv(pii.KEYS_ENV, pii.new_fernet_key())
    monkeypatch.setenv(pii.HASH_KEY_ENV, "observability-test-" + "h" * 32)
    pii.reset_keyring()
    url = f"sqlite:///{tmp_path / 'outreach.db'}"
    upgrade_ledger(ledger_engine(url))
    yield url
    pii.reset_keyring()


def _record_import(url: str, rows_read: int, rejected: int) -> None:
    with ledger_session(ledger_engine(url)) as session:
        session.add(ContactImport(source_name="vendor", market_code="orange_fl",
                                  file_name="skip_trace.csv", file_sha256="0" * 64,
                                  rows_read=rows_read, imported=rows_read - rejected,
                                  rejected=rejected, finished_at=datetime.now(UTC)))


def _spike_tick(instance: dg.DagsterInstance, url: str, outbox, cursor: str | None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={
        "ledger": LedgerResource(url=url),
        "operator_notifier": OperatorNotifier(outbox_path=str(outbox))})
    result = notify_operator_on_error_spike(context)
    return result, context.cursor


def test_error_spike_sensor_notifies_once_per_window(tmp_path, ledger_url):
    outbox = tmp_path / "operator.jsonl"
    with dg.instance_for_test() as instance:
        _record_import(ledger_url, rows_read=1000, rejected=40)  # normal: no spike
        result, cursor = _spike_tick(instance, ledger_url, outbox, None)
        assert isinstance(result, dg.SkipReason) and not outbox.exists()
        _record_import(ledger_url, rows_read=400, rejected=390)  # a broken vendor file
        result, cursor = _spike_tick(instance, ledger_url, outbox, cursor)
        assert "contact_import_rejects" in result.skip_message
        entries = [json.loads(line) for line in outbox.read_text().splitlines()]
        assert len(entries) == 1 and entries[0]["kind"] == "error_spike"
        assert entries[0]["facts"]["errors"] == 430 and entries[0]["facts"]["attempts"] == 1400
        _spike_tick(instance, ledger_url, outbox, cursor)  # still spiking: no repeat
        assert len(outbox.read_text().splitlines()) == 1


def test_error_spike_sensor_skips_an_unmigrated_ledger(tmp_path):
    with dg.instance_for_test() as instance:
        result, _ = _spike_tick(instance, f"sqlite:///{tmp_path / 'empty.db'}",
                                tmp_path / "o.jsonl", None)
    assert isinstance(result, dg.SkipReason) and not (tmp_path / "o.jsonl").exists()


def test_freshness_checks_cover_the_assets_that_feed_outreach(monkeypatch):
    from pathlib import Path

    from pipelines.definitions import defs

    monkeypatch.setenv("WHOLESALER_MARKETS_DIR",
                       str(Path(__file__).resolve().parents[1] / "markets"))
    definitions = defs()
    assert {key.asset_key for key in FRESHNESS_CHECK_KEYS} == {LEAD_SCORES, OWNER_CONTACTS}
    assert set(FRESHNESS_CHECK_KEYS) <= set(definitions.resolve_asset_graph().asset_check_keys)
    sensors = {sensor.name for sensor in definitions.sensors or []}
    assert {"freshness_checks_sensor", "notify_operator_on_run_failure",
            "notify_operator_on_error_spike"} <= sensors
    job = definitions.resolve_job_def("materialize_market")
    assert job.loggers["console"] is redacted_json_logger
