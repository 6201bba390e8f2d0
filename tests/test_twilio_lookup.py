"""Twilio through the official client against tests/twilio_server.py (every request checked
against Twilio's OpenAPI specs when ../shared/specs is present), and the line-type lookup of
phone contacts: optional, cached in the ledger, counted and priced; and the Dagster asset
that runs it over a market's Tier A/B+ leads."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from twilio.base.exceptions import TwilioRestException
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from twilio_server import LineType, TwilioServer

from contacts.line_type import (
    LineTypeLookupError,
    TwilioLineTypeLookup,
    parse_lookup,
    snake_line_type,
)
from markets.loader import load_markets
from outreach.ledger import pii
from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
from outreach.ledger.models import Contact, Owner, OwnerParcel, PhoneLookup
from outreach.service_settings import ServiceSettingsError, twilio_settings
from outreach.twilio_client import (
    BaseUrlHttpClient,
    TwilioNotConfiguredError,
    rewrite_twilio_url,
    twilio_rest_client,
)
from pipelines.contacts_lookup import lookup_cost_so_far, lookup_market_line_types

ROOT = Path(__file__).resolve().parent.parent
MOBILE, LANDLINE, VOIP, SHARED = "+14075550101", "+14075550102", "+14075550103", "+14075550104"
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


@pytest.fixture
def twilio() -> Iterator[TwilioServer]:
    with TwilioServer(line_types={
            LANDLINE: LineType("landline", "Fictional Telco"),
            VOIP: LineType("nonFixedVoip", "Fictional VoIP"),
            SHARED: LineType(error_code=60600)}) as server:
        yield server


@pytest.fixture
def client(twilio: TwilioServer):  # type: ignore[no-untyped-def]
    return twilio_rest_client(twilio_settings(twilio.settings_env()))


@pytest.fixture
def ledger(tmp_path: Path, pii_keys: None) -> Engine:
    engine = ledger_engine(f"sqlite:///{tmp_path / 'outreach.db'}")
    upgrade_ledger(engine)
    return engine


@pytest.fixture(scope="module")
def market():  # type: ignore[no-untyped-def]
    return next(m for m in load_markets() if m.code == "orange_fl")


def _add_phones(engine: Engine, market_code: str = "orange_fl") -> None:
    """Three owners: the first two share SHARED; one phone per line type."""
    keyring = pii.current_keyring()
    with ledger_session(engine) as session:
        for n, phones in enumerate([(MOBILE, SHARED), (LANDLINE, SHARED), (VOIP,)]):
            owner = Owner(market_code=market_code, owner_key=f"OWNER {n}|{market_code}",
                          owner_name=f"OWNER {n}")
            session.add(owner)
            session.flush()
            for phone in phones:
                session.add(Contact(owner_id=owner.owner_id, channel="phone", value=phone,
                                    value_hash=keyring.lookup_hash("phone", phone),
                                    value_hint=pii.mask_phone(phone), is_valid=True,
                                    confidence=0.8))


def _line_types(engine: Engine) -> dict[str, str | None]:
    with ledger_session(engine) as session:
        return {value: line_type for value, line_type in session.execute(
            select(Contact.value, Contact.line_type))}


def _no_sleep(_: float) -> None:
    pass


# ---- the local Twilio and the client adapter -----------------------------------------------

def test_rewrite_only_touches_twilio_hosts():
    base = "http://127.0.0.1:8123"
    assert rewrite_twilio_url("https://lookups.twilio.com/v2/PhoneNumbers/+1407?Fields=x",
                              base) == "http://127.0.0.1:8123/v2/PhoneNumbers/+1407?Fields=x"
    assert rewrite_twilio_url("https://api.sydney.au1.twilio.com/2010-04-01/Accounts.json",
                              base + "/") == "http://127.0.0.1:8123/2010-04-01/Accounts.json"
    assert rewrite_twilio_url("https://example.com/twilio.com/x", base) == \
        "https://example.com/twilio.com/x"
    assert rewrite_twilio_url("https://eviltwilio.com/x", base) == "https://eviltwilio.com/x"


def test_settings_name_the_variable_and_production_uses_the_stock_client(twilio):
    with pytest.raises(ServiceSettingsError, match="TWILIO_ACCOUNT_SID"):
        twilio_settings({"TWILIO_ACCOUNT_SID": "not-a-sid"})
    with pytest.raises(TwilioNotConfiguredError):
        twilio_rest_client(twilio_settings({}))
    production = twilio_rest_client(twilio_settings({
        "TWILIO_ACCOUNT_SID": twilio.account_sid, "TWILIO_AUTH_TOKEN": "x"}))
    assert type(production.http_client).__name__ == "TwilioHttpClient"
    assert isinstance(twilio_rest_client(twilio_settings(twilio.settings_env())).http_client,
                      BaseUrlHttpClient)


def test_the_real_client_talks_to_the_local_twilio_within_its_spec(twilio, client):
    account = client.api.v2010.accounts(twilio.account_sid).fetch()
    assert account.status == "active"
    answer = client.lookups.v2.phone_numbers(LANDLINE).fetch(fields="line_type_intelligence")
    assert answer.valid is True
    assert answer.line_type_intelligence["type"] == "landline"
    sent = [client.messages.create(to=MOBILE, body=f"hello {n}",
                                   messaging_service_sid="MG" + "ab" * 16) for n in range(3)]
    assert client.messages(sent[0].sid).fetch().body == "hello 0"
    listed = client.messages.list(to=MOBILE, page_size=2)  # two pages, followed by the client
    assert sorted(m.sid for m in listed) == sorted(m.sid for m in sent)
    assert [seen.username for seen in twilio.requests] == [twilio.account_sid] * len(
        twilio.requests)
    twilio.assert_spec_clean()
    assert len(twilio.requests_to("/Messages.json")) == 5  # 3 posts, 2 pages


def test_bad_credentials_get_401_and_bad_requests_are_caught_by_the_spec(twilio, client):
    wrong = twilio_rest_client(twilio_settings({**twilio.settings_env(),
                                                "TWILIO_AUTH_TOKEN": "wrong"}))
    with pytest.raises(TwilioRestException) as refused:
        wrong.api.v2010.accounts(twilio.account_sid).fetch()
    assert (refused.value.status, refused.value.code) == (401, 20003)
    with pytest.raises(TwilioRestException) as missing_body:
        client.messages.create(to=MOBILE, messaging_service_sid="MG" + "ab" * 16)
    assert missing_body.value.code == 21602
    if not twilio.spec_checked:
        pytest.skip("../shared/specs/twilio is absent: the OpenAPI checks cannot run")
    with pytest.raises(TwilioRestException) as bad_sid:
        client.api.v2010.accounts("AC-too-short").fetch()
    assert bad_sid.value.status == 400
    assert any("AC-too-short" in error or "Sid" in error
               for error in twilio.violations()[-1].spec_errors)
    with pytest.raises(TwilioRestException):
        client.messages.create(to=MOBILE, body="x", messaging_service_sid="MGnot-a-sid")
    assert len(twilio.violations()) == 2


# ---- line types ----------------------------------------------------------------------------

def test_twilio_types_are_snake_cased_and_bad_answers_refused():
    assert snake_line_type("nonFixedVoip") == "non_fixed_voip"
    assert snake_line_type("tollFree") == "toll_free"
    assert parse_lookup(MOBILE, False, None).is_valid is False
    assert parse_lookup(MOBILE, True, {"type": "mobile"}).is_sms_capable
    for valid, intelligence in [(True, None), ("yes", {"type": "mobile"}), (True, []),
                                (True, {"type": 7}), (True, {"carrier_name": "x"})]:
        with pytest.raises(LineTypeLookupError):
            parse_lookup(MOBILE, valid, intelligence)


def test_lookups_are_stored_counted_priced_and_reused(twilio, client, ledger, market):
    _add_phones(ledger)
    lookup = TwilioLineTypeLookup(client, sleep=_no_sleep)
    report = lookup_market_line_types(ledger, market, lookup, max_age_days=30, now=NOW)
    assert (report.phones, report.looked_up, report.cached, report.failed) == (4, 4, 0, 0)
    assert report.cost_usd == pytest.approx(4 * market.costs.lookup_usd)
    assert report.line_types == {"landline": 1, "mobile": 1, "non_fixed_voip": 1, "none": 1}
    assert _line_types(ledger) == {MOBILE: "mobile", LANDLINE: "landline",
                                   VOIP: "non_fixed_voip", SHARED: None}
    assert len(twilio.requests_to("/v2/PhoneNumbers/")) == 4  # the shared phone once
    with ledger_session(ledger) as session:
        stored = {row.error_code for row in session.scalars(select(PhoneLookup))}
        assert 60600 in stored
        assert MOBILE not in json.dumps([r.phone_hash for r in session.scalars(
            select(PhoneLookup))])
    assert lookup_cost_so_far(ledger) == (4, pytest.approx(4 * market.costs.lookup_usd))

    again = lookup_market_line_types(ledger, market, lookup, max_age_days=30,
                                     now=NOW + timedelta(days=29))
    assert (again.cached, again.looked_up, again.cost_usd) == (4, 0, 0.0)
    assert len(twilio.requests_to("/v2/PhoneNumbers/")) == 4

    twilio.line_types[MOBILE] = LineType("landline", "Ported Telco")
    stale = lookup_market_line_types(ledger, market, lookup, max_age_days=30,
                                     now=NOW + timedelta(days=31), limit=1)
    assert (stale.looked_up, stale.left_for_later, stale.cached) == (1, 3, 0)
    assert lookup_cost_so_far(ledger)[0] == 5
    twilio.assert_spec_clean()


def test_429_is_retried_and_a_lookup_that_keeps_failing_is_not_stored(twilio, client, ledger,
                                                                      market):
    _add_phones(ledger)
    waits: list[float] = []
    lookup = TwilioLineTypeLookup(client, attempts=3, backoff_seconds=0.5, sleep=waits.append)
    twilio.fail_next(429, path_contains=MOBILE, count=1)
    twilio.fail_next(503, path_contains=VOIP, count=3)
    report = lookup_market_line_types(ledger, market, lookup, max_age_days=30, now=NOW)
    assert (report.looked_up, report.failed) == (3, 1)
    assert "HTTP 503" in report.errors[0] and VOIP not in report.errors[0]
    assert waits == [0.5, 0.5, 1.0]
    assert _line_types(ledger)[MOBILE] == "mobile"
    assert _line_types(ledger)[VOIP] is None
    retry = lookup_market_line_types(ledger, market, lookup, max_age_days=30, now=NOW)
    assert (retry.looked_up, retry.cached) == (1, 3)
    assert _line_types(ledger)[VOIP] == "non_fixed_voip"


def test_cli_lookup_is_off_unless_switched_on(twilio, tmp_path, pii_keys, monkeypatch):
    from pipelines.cli import app

    ledger_url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("WHOLESALER_LEDGER_URL", ledger_url)
    for name, value in twilio.settings_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WHOLESALER_LINE_TYPE_LOOKUP", raising=False)
    off = CliRunner().invoke(app, ["contacts", "lookup", "--market", "orange_fl"])
    assert off.exit_code == 2 and "WHOLESALER_LINE_TYPE_LOOKUP" in off.output
    assert twilio.requests == []

    engine = ledger_engine(ledger_url)
    upgrade_ledger(engine)
    _add_phones(engine)
    monkeypatch.setenv("WHOLESALER_LINE_TYPE_LOOKUP", "1")
    ran = CliRunner().invoke(app, ["contacts", "lookup", "--market", "orange_fl",
                                   "--limit", "2"])
    assert ran.exit_code == 0, ran.output
    summary = json.loads(ran.output.strip().splitlines()[-1])
    assert (summary["looked_up"], summary["left_for_later"]) == (2, 2)
    assert summary["cost_usd"] > 0


def _link_leads(engine: Engine, warehouse_path: Path) -> None:
    """Owners 0, 1, 2 of `_add_phones` own parcels P0 (Tier A), P1 (B+) and P2 (C)."""
    import duckdb

    with ledger_session(engine) as session:
        for n, owner_id in enumerate(session.scalars(select(Owner.owner_id).order_by(
                Owner.owner_id))):
            session.add(OwnerParcel(owner_id=owner_id, parcel_id=f"P{n}",
                                    market_code="orange_fl", linked_by="roll_owner"))
    with duckdb.connect(str(warehouse_path)) as conn:
        conn.execute("CREATE SCHEMA marts")
        conn.execute("CREATE TABLE marts.lead_scores (market_code TEXT, parcel_id TEXT, "
                     "tier TEXT, score DOUBLE)")
        conn.execute("INSERT INTO marts.lead_scores VALUES ('orange_fl', 'P0', 'A', 60), "
                     "('orange_fl', 'P1', 'B+', 40), ('orange_fl', 'P2', 'C', 10)")


def test_asset_looks_up_tier_a_and_b_plus_lead_phones_only_when_switched_on(
        twilio, tmp_path, pii_keys, monkeypatch, market):
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from pipelines.defs.contacts.assets import line_type_lookup
    from pipelines.resources import LedgerResource, MarketsResource

    ledger_url = f"sqlite:///{tmp_path / 'asset.db'}"
    engine = ledger_engine(ledger_url)
    upgrade_ledger(engine)
    _add_phones(engine)
    warehouse_path = tmp_path / "warehouse.duckdb"
    _link_leads(engine, warehouse_path)
    resources = {"markets": MarketsResource(directory=str(ROOT / "markets")),
                 "warehouse": DuckDBResource(database=str(warehouse_path)),
                 "ledger": LedgerResource(url=ledger_url)}

    def materialize() -> dict[str, object]:
        result = dg.materialize([line_type_lookup], partition_key="orange_fl",
                                resources=resources, instance=dg.DagsterInstance.ephemeral())
        assert result.success
        metadata = result.asset_materializations_for_node("contacts__line_type_lookup")[0]
        return {key: value.value for key, value in metadata.metadata.items()}

    for name, value in twilio.settings_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WHOLESALER_LINE_TYPE_LOOKUP", raising=False)
    assert materialize() == {"skipped": "WHOLESALER_LINE_TYPE_LOOKUP not set"}
    monkeypatch.setenv("WHOLESALER_LINE_TYPE_LOOKUP", "1")
    monkeypatch.delenv("TWILIO_AUTH_TOKEN")
    assert materialize() == {"skipped": "TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN not set"}
    assert twilio.requests == []

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", twilio.settings_env()["TWILIO_AUTH_TOKEN"])
    first = materialize()
    # P0 and P1 hold MOBILE, LANDLINE and SHARED (once); VOIP belongs to the Tier C parcel
    assert (first["tier_a_b_plus_leads"], first["phones"], first["looked_up"], first["cached"],
            first["failed"]) == (2, 3, 3, 0, 0)
    assert first["cost_usd"] == pytest.approx(3 * market.costs.lookup_usd)
    assert _line_types(engine)[VOIP] is None and _line_types(engine)[LANDLINE] == "landline"
    again = materialize()
    assert (again["looked_up"], again["cached"], again["cost_usd"]) == (0, 3, 0.0)
    assert len(twilio.requests_to("/v2/PhoneNumbers/")) == 3
    twilio.assert_spec_clean()


@pytest.mark.postgres
def test_lookup_cache_on_postgresql(twilio, client, pii_keys, market, postgres_ledger):
    _add_phones(postgres_ledger)
    lookup = TwilioLineTypeLookup(client, sleep=_no_sleep)
    first = lookup_market_line_types(postgres_ledger, market, lookup, max_age_days=30, now=NOW)
    second = lookup_market_line_types(postgres_ledger, market, lookup, max_age_days=30, now=NOW)
    assert (first.looked_up, second.cached, second.looked_up) == (4, 4, 0)
    assert _line_types(postgres_ledger)[LANDLINE] == "landline"


def test_without_the_specs_only_the_spec_check_is_skipped(tmp_path):
    with TwilioServer(specs_dir=tmp_path / "no-specs") as server:
        assert server.spec_checked is False
        client = twilio_rest_client(twilio_settings(server.settings_env()))
        assert client.lookups.v2.phone_numbers(MOBILE).fetch(
            fields="line_type_intelligence").line_type_intelligence["type"] == "mobile"
        wrong = twilio_rest_client(twilio_settings({**server.settings_env(),
                                                    "TWILIO_AUTH_TOKEN": "wrong"}))
        with pytest.raises(TwilioRestException):
            wrong.api.v2010.accounts(server.account_sid).fetch()
        assert [seen.status for seen in server.requests] == [200, 401]
