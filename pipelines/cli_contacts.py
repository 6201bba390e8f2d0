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
