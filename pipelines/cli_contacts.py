"""`wholesaler contacts …` and `wholesaler dnc …`: import skip-trace files into the ledger,
load do-not-call lists, scrub a market's phones."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

contacts_app = typer.Typer(help="Owner contacts: vendor imports, validation, DNC scrub.",
                           no_args_is_help=True)
dnc_app = typer.Typer(help="Do-not-call lists (FTC registry, state, internal, litigator).",
                      no_args_is_help=True)

def _error(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _market_for_file(path: Path, code: str | None):  # type: ignore[no-untyped-def]
    """The market named by --market, else the one whose roll holds the file's parcel ids."""
    import duckdb

    from contacts.vendor_csv import read_vendor_csv
    from markets.loader import load_markets
    from pipelines import settings

    markets = {market.code: market for market in load_markets()}
    if code:
        if code not in markets:
            raise _error(f"unknown market {code!r}; configured: {', '.join(sorted(markets))}")
        return markets[code]
    if len(markets) == 1:
        return next(iter(markets.values()))
    ids = [row.parcel_id for row in read_vendor_csv(path).rows[:500] if row.parcel_id]
    if ids:
        with duckdb.connect(str(settings.warehouse_path()), read_only=True) as warehouse:
            found = warehouse.execute(
                "SELECT market_code, count(*) AS n FROM marts.properties "
                "WHERE parcel_id IN (SELECT unnest(?)) GROUP BY 1 ORDER BY n DESC LIMIT 1",
                [ids]).fetchone()
        if found:
            return markets[found[0]]
    raise _error(f"{path}: cannot tell the market from its parcel ids; pass --market CODE")


@contacts_app.command("import")
def contacts_import(
    file: Annotated[Path, typer.Argument(help="Vendor CSV file (skip-trace delivery).")],
    source: Annotated[str, typer.Option(help="Source name recorded on every contact.")],
    market: Annotated[str | None, typer.Option(
        help="Market code (default: found from the file's parcel ids).")] = None,
) -> None:
    """Validate, link, deduplicate and store a vendor file's contacts; print a JSON summary
    (imported, rejected, duplicates, rejects_file). Importing the same file again adds
    nothing."""
    import duckdb

    from outreach.ledger.db import ledger_engine, upgrade_ledger
    from pipelines import settings
    from pipelines.contacts_import import (
        ContactImportError,
        domain_checker_for,
        import_contact_files,
        roll_owners,
    )

    if not file.is_file():
        raise _error(f"{file}: no such file")
    chosen = _market_for_file(file, market)
    try:
        with duckdb.connect(str(settings.warehouse_path()), read_only=True) as warehouse:
            parcels = roll_owners(warehouse, chosen.code)
    except duckdb.IOException as error:
        raise _error(f"cannot read the warehouse {settings.warehouse_path()}: {error}") from None
    except ContactImportError as error:
        raise _error(str(error)) from None
    engine = ledger_engine()
    upgrade_ledger(engine)
    with domain_checker_for(chosen) as checker:
        summary = import_contact_files(engine, chosen, [(file, source)], parcels, checker)[0]
    typer.echo(json.dumps({"market": chosen.code, "source": summary.source,
                           "imported": summary.imported, "rejected": summary.rejected,
                           "duplicates": summary.duplicates,
                           "rejects_file": summary.rejects_file,
                           "contacts_added": summary.contacts_added}))


@contacts_app.command("scrub")
def contacts_scrub(
    market: Annotated[str, typer.Option(help="Market code.")],
) -> None:
    """Scrub every phone of a market against the loaded do-not-call lists."""
    from markets.loader import load_markets
    from outreach.ledger.db import ledger_engine, upgrade_ledger
    from pipelines.contacts_import import scrub_market

    markets = {m.code: m for m in load_markets()}
    if market not in markets:
        raise _error(f"unknown market {market!r}")
    engine = ledger_engine()
    upgrade_ledger(engine)
    report = scrub_market(engine, markets[market])
    typer.echo(json.dumps({"market": market, "phones": report.phones, "listed": report.listed,
                           "sms_blocked": report.sms_blocked,
                           "national_downloaded_on": str(report.national_downloaded_on)}))


@contacts_app.command("lookup")
def contacts_lookup(
    market: Annotated[str, typer.Option(help="Market code.")],
    limit: Annotated[int | None, typer.Option(
        help="At most this many paid lookups in this run.", min=0)] = None,
) -> None:
    """Twilio Lookup line type of the market's phones not looked up recently (paid; off
    unless WHOLESALER_LINE_TYPE_LOOKUP=1 and Twilio is configured). Prints counts and cost."""
    from markets.loader import load_markets
    from outreach.ledger.db import ledger_engine, upgrade_ledger
    from outreach.service_settings import ServiceSettingsError
    from pipelines.contacts_lookup import (
        LineTypeLookupOff,
        configured_line_type_lookup,
        lookup_market_line_types,
    )

    markets = {m.code: m for m in load_markets()}
    if market not in markets:
        raise _error(f"unknown market {market!r}")
    try:
        lookup, max_age_days = configured_line_type_lookup()
    except ServiceSettingsError as error:
        raise _error(str(error)) from None
    except LineTypeLookupOff as error:
        raise _error(f"line-type lookups are off: {error} (set WHOLESALER_LINE_TYPE_LOOKUP=1 "
                     "and Twilio's TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN; each lookup is "
                     "paid; see docs/contacts.md)") from None
    engine = ledger_engine()
    upgrade_ledger(engine)
    report = lookup_market_line_types(engine, markets[market], lookup, max_age_days, limit)
    typer.echo(json.dumps(report.to_dict()))


@contacts_app.command("export")
def contacts_export(
    market: Annotated[str, typer.Option(help="Market code.")],
    out: Annotated[Path, typer.Option(help="CSV file to write (the vendor upload).")],
    tiers: Annotated[str, typer.Option(help="Comma-separated lead tiers.")] = "A,B+",
) -> None:
    """Write the market's leads without a contact as a skip-trace vendor upload (parcel id,
    owner name, mailing address); import the vendor's returned file with `contacts import`."""
    import duckdb

    from markets.loader import load_markets
    from outreach.ledger.db import ledger_engine, upgrade_ledger
    from pipelines import settings
    from pipelines.skip_trace import export_trace_request

    markets = {m.code: m for m in load_markets()}
    if market not in markets:
        raise _error(f"unknown market {market!r}")
    wanted = [tier.strip() for tier in tiers.split(",") if tier.strip()]
    unknown = sorted(set(wanted) - {"A", "B+", "B", "C"})
    if not wanted or unknown:
        raise _error(f"--tiers: unknown tier(s) {unknown}; use A, B+, B, C")
    engine = ledger_engine()
    upgrade_ledger(engine)
    try:
        with duckdb.connect(str(settings.warehouse_path()), read_only=True) as warehouse:
            rows = export_trace_request(warehouse, engine, market, wanted, out)
    except (duckdb.IOException, duckdb.CatalogException) as error:
        raise _error(f"cannot read the leads from {settings.warehouse_path()}: {error}") from None
    typer.echo(json.dumps({"market": market, "tiers": wanted, "rows": rows, "file": str(out)}))


@dnc_app.command("load")
def dnc_load(
    paths: Annotated[list[Path], typer.Argument(help="DNC files (one per area code for the "
                                                     "FTC registry).")],
    kind: Annotated[str, typer.Option(
        help="ftc_national, florida, internal or litigator.")] = "ftc_national",
    downloaded_on: Annotated[str | None, typer.Option(
        help="Download date YYYY-MM-DD (default: from the file name, else its mtime).")] = None,
    change_list: Annotated[bool | None, typer.Option(
        "--change-list/--full-list", help="Force how the file is read (default: detected).")]
        = None,
) -> None:
    """Load do-not-call files into the ledger; each records its download date. Numbers are
    stored only as keyed hashes. Bad lines are listed with file and line; the rest loads."""
    from outreach.ledger.db import ledger_engine, upgrade_ledger
    from pipelines.contacts_import import DNC_KINDS, load_dnc_file

    if kind not in DNC_KINDS:
        raise _error(f"--kind must be one of {', '.join(DNC_KINDS)}")
    try:
        on = date.fromisoformat(downloaded_on) if downloaded_on else None
    except ValueError:
        raise _error(f"--downloaded-on {downloaded_on!r} is not a YYYY-MM-DD date") from None
    engine = ledger_engine()
    upgrade_ledger(engine)
    failed = False
    for path in paths:
        if not path.is_file():
            typer.echo(f"error: {path}: no such file", err=True)
            failed = True
            continue
        loaded = load_dnc_file(engine, path, kind, on, change_list)
        for bad in loaded.bad_lines:
            typer.echo(f"warning: {bad.file}:{bad.line}: {bad.reason}: {bad.text!r}", err=True)
        typer.echo(json.dumps(loaded.summary()))
    if failed:
        raise typer.Exit(1)
