"""Skip-trace providers: the HTTP provider against a tiny provider-shaped server on loopback
(batches, auth, 429 with Retry-After, 5xx, malformed answers), the answers kept as a vendor
CSV that reads back the same, and the export of untraced leads for vendors that work by
file."""

from __future__ import annotations

import csv
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import Engine, select

sys.path.insert(0, str(Path(__file__).parent))

from contacts.providers import (
    HttpSkipTraceProvider,
    SkipTraceError,
    TraceSubject,
    write_trace_request_csv,
    write_vendor_rows_csv,
)
from contacts.providers.batch_file import REQUEST_COLUMNS
from contacts.vendor_csv import MailingAddress, read_vendor_csv
from outreach.ledger import pii
from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
from outreach.ledger.models import Contact, Owner, OwnerParcel
from pipelines.skip_trace import untraced_leads

API_KEY = "test-key-123"


class ProviderServer:
    """Answers POST /v1/trace like the documented shape: parcel ids ending in an even digit
    are hits with one phone and one email, the rest misses. `script` queues raw answers
    (status, body, headers) to give before the normal ones."""

    def __init__(self) -> None:
        self.batches: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.script: list[tuple[int, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.headers.append(dict(self.headers))
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    return self._send(401, '{"error": "bad key"}', {})
                if outer.script:
                    return self._send(*outer.script.pop(0))
                request = json.loads(body)
                outer.batches.append(request)
                results = []
                for record in request["records"]:
                    if int(record["parcel_id"][-1]) % 2 == 0:
                        digits = record["parcel_id"][-2:].rjust(2, "0")
                        results.append({"ref": record["ref"], "status": "hit", "phones": [
                            {"number": f"(407) 555-01{digits}", "type": "Wireless",
                             "dnc": False, "litigator": None}],
                            "emails": [{"address": f"owner{digits}@example.com"}]})
                    else:
                        results.append({"ref": record["ref"], "status": "miss",
                                        "phones": [], "emails": []})
                self._send(200, json.dumps({"results": results}), {})

            def _send(self, status: int, body: str, headers: dict[str, str]) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1/trace"


@pytest.fixture
def provider_server() -> Iterator[ProviderServer]:
    server = ProviderServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def subjects(count: int) -> list[TraceSubject]:
    return [TraceSubject(ref=f"P-{n:04d}", parcel_id=f"P-{n:04d}", owner_name=f"OWNER {n}",
                         mailing=MailingAddress(f"{n} MAIN ST", "", "ORLANDO", "FL", "32801"),
                         property_address=f"{n} ELM ST")
            for n in range(1, count + 1)]


def provider(server: ProviderServer, waits: list[float] | None = None,
             **options: Any) -> HttpSkipTraceProvider:
    return HttpSkipTraceProvider(server.url, API_KEY, name="acme_trace", cost_per_hit_usd=0.12,
                                 batch_size=3, requests_per_second=1000,
                                 sleep=(waits.append if waits is not None else lambda _: None),
                                 **options)


def test_batches_hits_misses_and_cost(provider_server):
    with provider(provider_server) as api:
        result = api.trace(subjects(7))
    assert [len(batch["records"]) for batch in provider_server.batches] == [3, 3, 1]
    first = provider_server.batches[0]["records"][0]
    assert first["mailing_address"] == {"street": "1 MAIN ST", "city": "ORLANDO",
                                        "state": "FL", "zip": "32801"}
    assert (result.hits, result.misses, result.rejects, result.requests) == (3, 4, [], 3)
    assert result.cost_usd == pytest.approx(3 * 0.12)
    assert [row.parcel_id for row in result.rows] == ["P-0002", "P-0004", "P-0006"]
    phone = result.rows[0].phones[0]
    assert (phone.raw, phone.vendor_type, phone.vendor_dnc) == ("(407) 555-0102", "mobile",
                                                                 False)
    keys = {headers["Idempotency-Key"] for headers in provider_server.headers}
    assert len(keys) == 3


def test_429_with_retry_after_and_5xx_are_retried_with_the_same_idempotency_key(
        provider_server):
    provider_server.script = [(429, '{"error": "slow down"}', {"Retry-After": "7"}),
                              (502, "bad gateway", {})]
    waits: list[float] = []
    with provider(provider_server, waits, backoff_base_seconds=0.01) as api:
        result = api.trace(subjects(2))
    assert result.hits == 1 and result.requests == 3
    assert waits[0] >= 7 and waits[1] <= 0.02
    assert len({headers["Idempotency-Key"] for headers in provider_server.headers}) == 1


def test_auth_failure_and_answers_that_never_get_well_fail_the_run(provider_server):
    with HttpSkipTraceProvider(provider_server.url, "wrong", sleep=lambda _: None) as api, \
            pytest.raises(SkipTraceError, match="HTTP 401"):
        api.trace(subjects(1))
    provider_server.script = [(200, "<html>maintenance</html>", {})] * 3
    with provider(provider_server, max_attempts=3) as api, \
            pytest.raises(SkipTraceError, match="not JSON"):
        api.trace(subjects(1))
    provider_server.script = [(200, '{"data": []}', {})]
    with provider(provider_server) as api, pytest.raises(SkipTraceError, match="results"):
        api.trace(subjects(1))


def test_a_malformed_record_rejects_only_its_subject(provider_server):
    provider_server.script = [(200, json.dumps({"results": [
        {"ref": "P-0001", "status": "hit", "phones": "4075550101", "emails": []},
        {"ref": "P-0002", "status": "hit", "phones": [{"number": "4075550102"}]},
        {"ref": "P-9999", "status": "miss"},
        {"status": "hit"}]}), {})]
    with provider(provider_server) as api:
        result = api.trace(subjects(3))
    assert [row.parcel_id for row in result.rows] == ["P-0002"]
    assert sorted(r.reason_code for r in result.rejects) == [
        "provider_malformed", "provider_malformed", "provider_no_result",
        "provider_unknown_ref"]


def test_answers_kept_as_vendor_csv_read_back_the_same(provider_server, tmp_path):
    with provider(provider_server) as api:
        result = api.trace(subjects(4))
    kept = read_vendor_csv(write_vendor_rows_csv(result.rows, tmp_path / "answers.csv"))
    assert kept.rejects == [] and len(kept.rows) == len(result.rows)
    for original, read_back in zip(result.rows, kept.rows, strict=True):
        assert (read_back.parcel_id, read_back.owner_name, read_back.mailing) == (
            original.parcel_id, original.owner_name, original.mailing)
        assert [(p.raw, p.vendor_type, p.vendor_dnc) for p in read_back.phones] == [
            (p.raw, p.vendor_type, p.vendor_dnc) for p in original.phones]
        assert [e.raw for e in read_back.emails] == [e.raw for e in original.emails]


# ---- by file -------------------------------------------------------------------------------

@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv(pii.KEYS_ENV, pii.new_fernet_key())
    monkeypatch.setenv(pii.HASH_KEY_ENV, "test-hash-key-" + "x" * 32)
    pii.reset_keyring()
    engine = ledger_engine(f"sqlite:///{tmp_path / 'outreach.db'}")
    upgrade_ledger(engine)
    yield engine
    pii.reset_keyring()


def test_export_lists_leads_without_contacts_in_the_vendor_upload_shape(tmp_path, ledger):
    warehouse = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    warehouse.execute("CREATE SCHEMA marts")
    warehouse.execute("CREATE TABLE marts.lead_scores (market_code TEXT, parcel_id TEXT, "
                      "score INT, tier TEXT)")
    warehouse.execute("INSERT INTO marts.lead_scores VALUES ('m', 'A1', 50, 'A'), "
                      "('m', 'B1', 40, 'B+'), ('m', 'B2', 39, 'B+'), ('m', 'C1', 10, 'C'), "
                      "('other', 'A9', 60, 'A')")
    warehouse.execute("CREATE TABLE marts.properties AS SELECT market_code, parcel_id, "
                      "'OWNER ' || parcel_id AS owner_name, '1 MAIN ST' AS owner_address_line_1,"
                      " NULL AS owner_address_line_2, 'ORLANDO' AS owner_city, 'FL' AS "
                      "owner_state, '32801-1234' AS owner_zip, '9 ELM ST' AS situs_address, "
                      "'ORLANDO' AS situs_city, '32803' AS situs_zip FROM marts.lead_scores")
    keyring = pii.current_keyring()
    with ledger_session(ledger) as session:
        owner = Owner(market_code="m", owner_key="OWNER B1", owner_name="OWNER B1")
        session.add(owner)
        session.flush()
        session.add(OwnerParcel(owner_id=owner.owner_id, parcel_id="B1", market_code="m",
                                linked_by="parcel_id"))
        session.add(Contact(owner_id=owner.owner_id, channel="phone", value="+14075550111",
                            value_hash=keyring.lookup_hash("phone", "+14075550111"),
                            value_hint="x", is_valid=True, confidence=0.9))
    leads = untraced_leads(warehouse, ledger, "m", ["A", "B+"])
    assert [lead.parcel_id for lead in leads] == ["A1", "B2"]
    out = tmp_path / "upload.csv"
    assert write_trace_request_csv(leads, out) == 2
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == REQUEST_COLUMNS
    assert rows[1] == ["A1", "OWNER A1", "1 MAIN ST", "ORLANDO", "FL", "32801",
                       "9 ELM ST, ORLANDO, 32803"]

    # the vendor returns the same rows with contact columns appended: the importer reads it
    returned = tmp_path / "returned.csv"
    with returned.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*rows[0], "Phone1", "Phone1 Type", "Phone1 DNC", "Email1"])
        writer.writerow([*rows[1], "407-555-0121", "Mobile", "N", "a1@example.com"])
        writer.writerow([*rows[2], "", "", "", ""])
    read = read_vendor_csv(returned)
    assert [row.parcel_id for row in read.rows] == ["A1"]
    assert read.rows[0].mailing == MailingAddress("1 MAIN ST", "", "ORLANDO", "FL", "32801")
    assert [reject.reason_code for reject in read.rejects] == ["no_contact"]


# ---- the Dagster asset ---------------------------------------------------------------------

def test_asset_traces_untraced_tier_a_and_b_plus_leads_only_when_configured(
        tmp_path, ledger, provider_server, monkeypatch):
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from pipelines.defs.contacts.assets import skip_trace
    from pipelines.resources import LedgerResource, MarketsResource

    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    for name in ("WHOLESALER_SKIP_TRACE_URL", "WHOLESALER_SKIP_TRACE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    warehouse_path = tmp_path / "asset_warehouse.duckdb"
    with duckdb.connect(str(warehouse_path)) as warehouse:
        warehouse.execute("CREATE SCHEMA marts")
        warehouse.execute("CREATE TABLE marts.lead_scores (market_code TEXT, parcel_id TEXT, "
                          "score INT, tier TEXT)")
        # P0002 (even: a hit) and P0003 (odd: a miss) are sent; P0004 is Tier C and P0006
        # already has a phone in the ledger.
        warehouse.execute("INSERT INTO marts.lead_scores VALUES "
                          "('orange_fl', 'P0002', 50, 'A'), ('orange_fl', 'P0003', 45, 'B+'), "
                          "('orange_fl', 'P0004', 10, 'C'), ('orange_fl', 'P0006', 60, 'A')")
        warehouse.execute(
            "CREATE TABLE marts.properties AS SELECT market_code, parcel_id, "
            "'OWNER ' || parcel_id AS owner_name, right(parcel_id, 1) || ' MAIN ST' AS "
            "owner_address_line_1, NULL AS owner_address_line_2, 'ORLANDO' AS owner_city, "
            "'FL' AS owner_state, '32801' AS owner_zip, NULL AS fiduciary_name, "
            "NULL AS fiduciary_address_line_1, NULL AS fiduciary_address_line_2, "
            "NULL AS fiduciary_city, NULL AS fiduciary_state, NULL AS fiduciary_zip, "
            "'9 ELM ST' AS situs_address, 'ORLANDO' AS situs_city, '32803' AS situs_zip "
            "FROM marts.lead_scores")
    keyring = pii.current_keyring()
    with ledger_session(ledger) as session:
        owner = Owner(market_code="orange_fl", owner_key="OWNER P0006", owner_name="OWNER P0006")
        session.add(owner)
        session.flush()
        session.add(OwnerParcel(owner_id=owner.owner_id, parcel_id="P0006",
                                market_code="orange_fl", linked_by="parcel_id"))
        session.add(Contact(owner_id=owner.owner_id, channel="phone", value="+14075550111",
                            value_hash=keyring.lookup_hash("phone", "+14075550111"),
                            value_hint="x", is_valid=True, confidence=0.9))
    resources = {"markets": MarketsResource(directory=str(Path(__file__).parents[1] / "markets")),
                 "warehouse": DuckDBResource(database=str(warehouse_path)),
                 "ledger": LedgerResource(url=str(ledger.url))}

    def materialize() -> dict[str, object]:
        result = dg.materialize([skip_trace], partition_key="orange_fl", resources=resources,
                                instance=dg.DagsterInstance.ephemeral())
        assert result.success
        materialization = result.asset_materializations_for_node("contacts__skip_trace")[0]
        return {key: value.value for key, value in materialization.metadata.items()}

    assert materialize() == {
        "skipped": "WHOLESALER_SKIP_TRACE_URL / WHOLESALER_SKIP_TRACE_API_KEY not set"}
    assert provider_server.headers == []

    monkeypatch.setenv("WHOLESALER_SKIP_TRACE_URL", provider_server.url)
    monkeypatch.setenv("WHOLESALER_SKIP_TRACE_API_KEY", API_KEY)
    monkeypatch.setenv("WHOLESALER_SKIP_TRACE_REQUESTS_PER_SECOND", "100")
    first = materialize()
    assert [record["parcel_id"] for batch in provider_server.batches
            for record in batch["records"]] == ["P0002", "P0003"]
    assert (first["untraced_leads"], first["hits"], first["misses"], first["cost_usd"],
            first["contacts_added"]) == (2, 1, 1, 0.12, 2)
    with ledger_session(ledger) as session:
        traced = session.scalars(select(OwnerParcel.parcel_id).join(
            Contact, Contact.owner_id == OwnerParcel.owner_id)).all()
    assert sorted(set(traced)) == ["P0002", "P0006"]
    again = materialize()  # P0002 has a contact now; the miss is asked again
    assert (again["untraced_leads"], again["hits"], again["cost_usd"]) == (1, 0, 0.0)
