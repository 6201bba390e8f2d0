"""Owner addresses with their sources: the roll's mailing address recorded when an owner first
lands in the ledger, the roll's fiduciary address as a source of its own (and not again when it
is the owner's address), and an appraiser page's address recorded with its URL and read
time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from contacts.dedupe import Fiduciary, ParcelOwner
from contacts.emails import DomainChecker
from contacts.local_dns import LocalDnsServer
from contacts.vendor_csv import MailingAddress
from markets.loader import load_market
from outreach.ledger import pii
from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
from outreach.ledger.models import OwnerAddress
from pipelines.contacts_import import (
    import_contact_files,
    record_appraiser_addresses,
    roll_owners,
)
from scrapers.appraiser.records import BuildingFacts, ParcelRecord
from scrapers.appraiser.records import MailingAddress as PageAddress

ROOT = Path(__file__).resolve().parent.parent
PARCELS = [ParcelOwner("282103126201001", "OWNER PAT",
                       MailingAddress("12 ELM ST", "", "ORLANDO", "FL", "32801")),
           ParcelOwner("282103126201002", "OTHER SAM",
                       MailingAddress("4 PINE RD", "", "TAMPA", "FL", "33601"))]


@pytest.fixture
def ledger(tmp_path, monkeypatch) -> Iterator:  # type: ignore[type-arg]
    monkeypatch.setenv(pii.KEYS_ENV, pii.new_fernet_key())
    monkeypatch.setenv(pii.HASH_KEY_ENV, "test-hash-key-" + "y" * 32)
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    pii.reset_keyring()
    engine = ledger_engine(f"sqlite:///{tmp_path / 'outreach.db'}")
    upgrade_ledger(engine)
    yield engine
    engine.dispose()
    pii.reset_keyring()


def _addresses(engine) -> list[tuple[str, str, str, str]]:  # type: ignore[no-untyped-def]
    with ledger_session(engine) as session:
        return [(row.source_name, row.source_kind, row.source_ref, row.line1)
                for row in session.scalars(select(OwnerAddress).order_by(
                    OwnerAddress.owner_address_id))]


def _import(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    vendor = tmp_path / "vendor.csv"
    vendor.write_text("Parcel ID,Owner Name,Phone1\n"
                      "282103126201001,Pat Owner,(407) 555-0111\n")
    market = load_market("orange_fl", ROOT / "markets")
    with LocalDnsServer() as server:
        import_contact_files(engine, market, [(vendor, "vendor_t")], PARCELS,
                             DomainChecker(server.resolver()))


def test_the_roll_address_is_recorded_once_as_the_owners_first_source(ledger, tmp_path):
    _import(ledger, tmp_path)
    assert _addresses(ledger) == [("fl_dor_roll", "roll_mailing_address",
                                   "orange_fl:282103126201001", "12 ELM ST")]
    _import(ledger, tmp_path)
    assert len(_addresses(ledger)) == 1


def _estate_parcels(tmp_path: Path) -> list[ParcelOwner]:
    """Through the warehouse as the pipeline reads it (`roll_owners` over marts.properties):
    an estate whose personal representative lives elsewhere, and a trust whose trustee's
    address is the trust's mailing address written differently."""
    import duckdb

    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as warehouse:
        warehouse.execute("CREATE SCHEMA marts")
        warehouse.execute(
            "CREATE TABLE marts.properties (market_code TEXT, parcel_id TEXT, owner_name TEXT, "
            "owner_address_line_1 TEXT, owner_address_line_2 TEXT, owner_city TEXT, "
            "owner_state TEXT, owner_zip TEXT, fiduciary_name TEXT, "
            "fiduciary_address_line_1 TEXT, fiduciary_address_line_2 TEXT, "
            "fiduciary_city TEXT, fiduciary_state TEXT, fiduciary_zip TEXT)")
        warehouse.execute(
            "INSERT INTO marts.properties VALUES "
            "('orange_fl', '282103126201003', 'ESTATE OF DOE JOHN', '7 OAK ST', NULL, "
            " 'ORLANDO', 'FL', '32803', 'ROE JANE', '88 BAY DR', 'APT 2', 'TAMPA', 'FL', "
            " '33602-1111'), "
            "('orange_fl', '282103126201004', 'POE FAMILY TRUST', '9 PALM AVE', NULL, "
            " 'ORLANDO', 'FL', '32804', 'POE ANN', '9 Palm Avenue', NULL, 'ORLANDO', 'FL', "
            " '32804'), "
            "('orange_fl', '282103126201001', 'OWNER PAT', '12 ELM ST', NULL, 'ORLANDO', "
            " 'FL', '32801', NULL, NULL, NULL, NULL, NULL, NULL)")
        return roll_owners(warehouse, "orange_fl")


def test_the_roll_fiduciary_address_is_its_own_source_unless_it_is_the_owners(ledger,
                                                                             tmp_path):
    parcels = _estate_parcels(tmp_path)
    assert parcels[0].fiduciary == Fiduciary(
        "ROE JANE", MailingAddress("88 BAY DR", "APT 2", "TAMPA", "FL", "33602"))
    assert parcels[2].fiduciary is None
    vendor = tmp_path / "estates.csv"
    vendor.write_text("Parcel ID,Owner Name,Phone1\n"
                      "282103126201003,Estate of John Doe,(407) 555-0113\n"
                      "282103126201004,Poe Family Trust,(407) 555-0114\n")
    market = load_market("orange_fl", ROOT / "markets")

    def run_import() -> None:
        with LocalDnsServer() as server:
            import_contact_files(ledger, market, [(vendor, "vendor_t")], parcels,
                                 DomainChecker(server.resolver()))

    run_import()
    with ledger_session(ledger) as session:
        rows = [(row.kind, row.source_name, row.source_kind, row.source_ref, row.line1,
                 row.line2, row.zip, row.addressee)
                for row in session.scalars(select(OwnerAddress).order_by(
                    OwnerAddress.source_ref, OwnerAddress.owner_address_id))]
    assert rows == [
        ("mailing", "fl_dor_roll", "roll_mailing_address", "orange_fl:282103126201003",
         "7 OAK ST", None, "32803", None),
        ("fiduciary", "fl_dor_roll_fiduciary", "roll_fiduciary_address",
         "orange_fl:282103126201003", "88 BAY DR", "APT 2", "33602", "ROE JANE"),
        # the trustee's "9 Palm Avenue" is the trust's "9 PALM AVE": one address, not two
        ("mailing", "fl_dor_roll", "roll_mailing_address", "orange_fl:282103126201004",
         "9 PALM AVE", None, "32804", None)]
    run_import()
    assert len(_addresses(ledger)) == 3


def test_an_appraiser_page_address_is_recorded_with_its_url_and_time(ledger, tmp_path):
    _import(ledger, tmp_path)
    read_at = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    page = ParcelRecord(parcel_id="282103126201001", source_url="https://pa.example/p/1",
                        fetched_at=read_at, site_kind="static_html", owner_names=["OWNER PAT"],
                        mailing_address=PageAddress(lines=["PO BOX 77"], city="WINTER PARK",
                                                    state="FL", zip="32790"),
                        building=BuildingFacts())
    not_ours = page.model_copy(update={"parcel_id": "999"})
    report = record_appraiser_addresses(ledger, "orange_fl", [page, not_ours])
    assert (report.addresses_added, report.unlinked_parcels) == (1, ("999",))
    assert _addresses(ledger)[-1] == ("appraiser:orange_fl", "appraiser_page",
                                      "https://pa.example/p/1", "PO BOX 77")
    with ledger_session(ledger) as session:
        stored = session.scalars(select(OwnerAddress).where(
            OwnerAddress.source_kind == "appraiser_page")).one()
        assert stored.seen_at == read_at and stored.zip == "32790"
    again = record_appraiser_addresses(ledger, "orange_fl", [page])
    assert again.addresses_added == 0
