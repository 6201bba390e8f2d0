"""`wholesaler doctor`: every check passes on a healthy set-up of real local peers (a Twilio-like
server, an aiosmtpd server with AUTH, an Ollama-like server, a migrated SQLite ledger, a DuckDB
file), and each check fails for its own reason; nothing is ever sent."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest
from smtp_auth_server import SmtpAuthServer
from twilio_server import TwilioServer
from typer.testing import CliRunner

from outreach.ledger import pii
from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
from outreach.ledger.dnc_store import DncListLoad, load_dnc_list
from outreach.ledger.models import Contact, Owner
from pipelines.cli import app
from pipelines.doctor import DoctorOptions, run_checks

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
PHONE = "+14075550123"
MESSAGING_SERVICE_SID = "MG" + "0123456789abcdef" * 2


class _OllamaTags(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/api/tags":
            self.send_error(404)
            return
        body = json.dumps({"models": [{"name": "llama3.1:8b"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def ollama() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OllamaTags)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def twilio() -> Iterator[TwilioServer]:
    with TwilioServer() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpAuthServer]:
    with SmtpAuthServer() as server:
        yield server


def _add_phone_contact(engine, market_code: str = "orange_fl") -> None:
    keyring = pii.current_keyring()
    with ledger_session(engine) as session:
        owner = Owner(market_code=market_code, owner_key="PAT OWNER|12 ELM ST|32801",
                      owner_name="PAT OWNER", mailing_address="12 ELM ST")
        session.add(owner)
        session.flush()
        session.add(Contact(owner_id=owner.owner_id, channel="phone", value=PHONE,
                            value_hash=keyring.lookup_hash("phone", PHONE),
                            value_hint=pii.mask_phone(PHONE), is_valid=True, confidence=0.8))


def _load_registry(engine, downloaded_on: date, area_code: str = "407") -> None:
    with ledger_session(engine) as session:
        load_dnc_list(session, DncListLoad(
            kind="national", source_file=f"national_{area_code}.txt", file_sha256="0" * 64,
            downloaded_on=downloaded_on, downloaded_on_basis="given",
            numbers_added=[f"+1{area_code}5550199"], area_code=area_code))


@pytest.fixture
def healthy(tmp_path, monkeypatch, twilio, smtp, ollama) -> dict[str, object]:
    """Everything configured and reachable; returns the handles tests change."""
    data = tmp_path / "data"
    markets = tmp_path / "markets"
    markets.mkdir()
    shutil.copy(PROJECT_ROOT / "markets" / "orange_fl.yaml", markets / "orange_fl.yaml")
    model = tmp_path / "sentiment_model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    environment = {
        "WHOLESALER_DATA_DIR": str(data), "WHOLESALER_MARKETS_DIR": str(markets),
        pii.KEYS_ENV: pii.new_fernet_key(), pii.HASH_KEY_ENV: "doctor-test-hash-key-" + "k" * 32,
        **twilio.settings_env(), "TWILIO_MESSAGING_SERVICE_SID": MESSAGING_SERVICE_SID,
        **smtp.env(), "WHOLESALER_OLLAMA_URL": ollama,
        "WHOLESALER_SENTIMENT_MODEL_DIR": str(model),
        "WHOLESALER_DOCTOR_DISK_WARN_GB": "0.002", "WHOLESALER_DOCTOR_DISK_FAIL_GB": "0.001",
        "WHOLESALER_DOCTOR_TIMEOUT_SECONDS": "5",
    }
    for name in ("WHOLESALER_LEDGER_URL", "WHOLESALER_WAREHOUSE_PATH", "DAGSTER_HOME",
                 "WHOLESALER_OLLAMA_MODEL", "TWILIO_API_KEY_SID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    pii.reset_keyring()
    data.mkdir()
    warehouse = duckdb.connect(str(data / "warehouse.duckdb"))
    warehouse.execute("create table marts_probe as select 1 as x")
    warehouse.close()
    engine = ledger_engine(f"sqlite:///{data / 'outreach.db'}")
    upgrade_ledger(engine)
    _add_phone_contact(engine)
    _load_registry(engine, date.today() - timedelta(days=3))
    yield {"data": data, "markets": markets, "engine": engine, "twilio": twilio,
           "smtp": smtp, "model": model}
    pii.reset_keyring()


def _by_check(options: DoctorOptions | None = None) -> dict[str, object]:
    return {result.check: result for result in run_checks(options)}


def _assert_nothing_sent(twilio: TwilioServer, smtp: SmtpAuthServer) -> None:
    assert not [r for r in twilio.requests if r.method == "POST"], "doctor must not POST"
    assert not twilio.requests_to("/Messages")
    assert smtp.handler.mail_from == [] and smtp.handler.messages == []


def test_every_check_passes_when_all_is_well_and_nothing_is_sent(healthy):
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    statuses = {check["check"]: check["status"] for check in report["checks"]}
    assert statuses == dict.fromkeys(
        ["markets", "warehouse", "ledger", "pii_keys", "dnc_registry", "twilio", "smtp", "llm",
         "sentiment_model", "disk"], "pass"), report
    assert report["ok"] is True
    twilio: TwilioServer = healthy["twilio"]  # type: ignore[assignment]
    assert [r.path for r in twilio.requests] == [
        f"/2010-04-01/Accounts/{twilio.account_sid}.json"]
    twilio.assert_spec_clean()
    _assert_nothing_sent(twilio, healthy["smtp"])  # type: ignore[arg-type]


def test_table_output_names_the_fix_and_exits_non_zero_on_a_failure(healthy):
    (healthy["markets"] / "orange_fl.yaml").write_text("code: orange_fl\nname: [unclosed\n")
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    failing = next(i for i, line in enumerate(lines) if line.startswith("FAIL   markets"))
    assert "malformed YAML" in lines[failing]
    assert "fix: " in lines[failing + 1] and "markets validate" in lines[failing + 1]
    assert lines[-1].endswith("1 fail")


def test_an_invalid_market_field_fails_the_markets_check(healthy):
    text = (healthy["markets"] / "orange_fl.yaml").read_text()
    (healthy["markets"] / "orange_fl.yaml").write_text(
        text.replace("sms_policy: consent_required", "sms_policy: whenever"))
    markets = _by_check()["markets"]
    assert markets.status == "fail" and "sms_policy" in markets.detail and markets.fix


def test_an_unmigrated_ledger_fails(healthy):
    (healthy["data"] / "outreach.db").unlink()
    empty = ledger_engine(f"sqlite:///{healthy['data'] / 'outreach.db'}")
    with empty.begin() as connection:
        connection.exec_driver_sql("create table unrelated (x integer)")
    checks = _by_check()
    assert checks["ledger"].status == "fail"
    assert "never migrated" in checks["ledger"].detail
    assert "wholesaler ledger upgrade" in checks["ledger"].fix
    assert checks["dnc_registry"].status == "warn"  # not checked without a ledger


def test_a_missing_ledger_file_fails_and_is_not_created(healthy):
    (healthy["data"] / "outreach.db").unlink()
    checks = _by_check()
    assert checks["ledger"].status == "fail" and "no ledger file" in checks["ledger"].detail
    assert not (healthy["data"] / "outreach.db").exists()


def test_a_stale_registry_copy_fails_naming_the_area_code(healthy):
    engine = healthy["engine"]
    with engine.begin() as connection:
        connection.exec_driver_sql("delete from dnc_numbers")
        connection.exec_driver_sql("delete from dnc_lists")
    _load_registry(engine, date.today() - timedelta(days=40))
    dnc = _by_check()["dnc_registry"]
    assert dnc.status == "fail"
    assert "area code 407" in dnc.detail and "40 days old" in dnc.detail
    assert "dnc load" in dnc.fix


def test_no_registry_copy_loaded_is_a_warning(healthy):
    with healthy["engine"].begin() as connection:
        connection.exec_driver_sql("delete from dnc_numbers")
        connection.exec_driver_sql("delete from dnc_lists")
    dnc = _by_check()["dnc_registry"]
    assert dnc.status == "warn" and "no national" in dnc.detail


def test_a_registry_copy_for_another_area_code_only_is_a_warning(healthy):
    with healthy["engine"].begin() as connection:
        connection.exec_driver_sql("delete from dnc_numbers")
        connection.exec_driver_sql("delete from dnc_lists")
    _load_registry(healthy["engine"], date.today(), area_code="352")
    dnc = _by_check()["dnc_registry"]
    assert dnc.status == "warn" and "orange_fl area code 407" in dnc.detail


def test_wrong_twilio_credentials_fail_with_the_401(healthy, monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "not-the-token")
    twilio_check = _by_check()["twilio"]
    assert twilio_check.status == "fail"
    assert "rejected the credentials" in twilio_check.detail and "401" in twilio_check.detail
    twilio: TwilioServer = healthy["twilio"]  # type: ignore[assignment]
    assert [r.status for r in twilio.requests] == [401]
    _assert_nothing_sent(twilio, healthy["smtp"])  # type: ignore[arg-type]


def test_wrong_smtp_password_fails_and_nothing_is_sent(healthy, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "wrong password")
    smtp_check = _by_check()["smtp"]
    assert smtp_check.status == "fail"
    assert "rejected the credentials" in smtp_check.detail and "535" in smtp_check.detail
    assert "SMTP_PASSWORD" in smtp_check.fix
    _assert_nothing_sent(healthy["twilio"], healthy["smtp"])  # type: ignore[arg-type]


def test_services_not_configured_warn_but_fail_when_a_market_is_live(healthy, monkeypatch):
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "SMTP_HOST"):
        monkeypatch.delenv(name)
    checks = _by_check()
    assert checks["twilio"].status == "warn" and checks["smtp"].status == "warn"
    path = healthy["markets"] / "orange_fl.yaml"
    path.write_text(path.read_text().replace("live: false", "live: true").replace(
        "sample_data: true", "sample_data: false"))
    checks = _by_check()
    assert checks["markets"].status == "pass" and "live: orange_fl" in checks["markets"].detail
    assert checks["twilio"].status == "fail" and "orange_fl" in checks["twilio"].detail
    assert checks["smtp"].status == "fail"


def test_an_unreachable_ollama_fails(healthy, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("WHOLESALER_OLLAMA_URL", f"http://127.0.0.1:{closed_port}")
    llm = _by_check()["llm"]
    assert llm.status == "fail" and "/api/tags" in llm.detail and llm.fix


def test_a_missing_ollama_model_fails_and_an_unset_url_warns(healthy, monkeypatch):
    monkeypatch.setenv("WHOLESALER_OLLAMA_MODEL", "qwen2.5:7b")
    assert _by_check()["llm"].status == "fail"
    monkeypatch.setenv("WHOLESALER_OLLAMA_MODEL", "llama3.1:8b")
    assert _by_check()["llm"].status == "pass"
    monkeypatch.delenv("WHOLESALER_OLLAMA_URL")
    assert _by_check()["llm"].status == "warn"


def test_sentiment_model_folder_without_config_fails_and_unset_warns(healthy, monkeypatch):
    (healthy["model"] / "config.json").unlink()
    assert _by_check()["sentiment_model"].status == "fail"
    monkeypatch.delenv("WHOLESALER_SENTIMENT_MODEL_DIR")
    check = _by_check()["sentiment_model"]
    assert check.status == "warn" and "VADER" in check.detail


def test_low_disk_space_warns_then_fails_by_the_configured_thresholds(healthy):
    free_gb = shutil.disk_usage(healthy["data"]).free / 1024**3
    warn = _by_check(DoctorOptions(disk_warn_gb=free_gb * 10, disk_fail_gb=free_gb / 10))
    assert warn["disk"].status == "warn"
    result = CliRunner().invoke(app, ["doctor", "--json", "--disk-warn-gb",
                                      str(free_gb * 100), "--disk-fail-gb", str(free_gb * 10)])
    assert result.exit_code == 1
    disk = next(c for c in json.loads(result.stdout)["checks"] if c["check"] == "disk")
    assert disk["status"] == "fail" and "fail under" in disk["detail"] and disk["fix"]


def test_malformed_or_wrong_pii_keys_fail(healthy, monkeypatch):
    monkeypatch.setenv(pii.KEYS_ENV, "not-a-fernet-key")
    check = _by_check()["pii_keys"]
    assert check.status == "fail" and "malformed" in check.detail
    monkeypatch.setenv(pii.KEYS_ENV, pii.new_fernet_key())
    check = _by_check()["pii_keys"]
    assert check.status == "fail" and "cannot be decrypted" in check.detail
    assert "rotate-keys" in check.fix


def test_a_changed_hash_key_fails(healthy, monkeypatch):
    monkeypatch.setenv(pii.HASH_KEY_ENV, "a-different-hash-key-" + "z" * 32)
    check = _by_check()["pii_keys"]
    assert check.status == "fail" and "lookup hash" in check.detail


def test_the_demo_keys_file_is_a_warning(healthy, monkeypatch):
    monkeypatch.delenv(pii.KEYS_ENV)
    monkeypatch.delenv(pii.HASH_KEY_ENV)
    keys_file = healthy["data"] / "secrets" / "pii_keys.json"
    assert _by_check()["pii_keys"].status == "warn"
    assert not keys_file.exists(), "the doctor must not generate keys"
    with healthy["engine"].begin() as connection:  # rows written under the environment's key
        connection.exec_driver_sql("delete from contacts")
    pii.reset_keyring()
    pii.current_keyring()  # what the demo does: generate the local keys file
    check = _by_check()["pii_keys"]
    assert check.status == "warn" and "pii_keys.json" in check.detail


def test_a_warehouse_locked_by_a_writer_is_a_warning_naming_the_lock(healthy):
    path = healthy["data"] / "warehouse.duckdb"
    writer = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time\n"
         f"c = duckdb.connect({str(path)!r})\nprint('ready', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        check = _by_check()["warehouse"]
    finally:
        writer.kill()
        writer.wait()
    assert check.status == "warn"
    assert "locked by a writer" in check.detail and f"PID {writer.pid}" in check.detail


def test_a_corrupt_warehouse_fails_and_a_missing_one_warns(healthy):
    path = healthy["data"] / "warehouse.duckdb"
    path.write_bytes(b"this is not a duckdb file" * 100)
    assert _by_check()["warehouse"].status == "fail"
    path.unlink()
    assert _by_check()["warehouse"].status == "warn"


def test_invalid_doctor_options_exit_2(healthy, monkeypatch):
    monkeypatch.setenv("WHOLESALER_DOCTOR_DISK_WARN_GB", "lots")
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 2
    assert "WHOLESALER_DOCTOR_DISK_WARN_GB" in result.output
