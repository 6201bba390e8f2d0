"""`wholesaler deals record|list`: record a deal (under contract, closed with its assignment fee,
or cancelled) in the ledger, and list deals (outreach/deals.py holds the rules)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

deals_app = typer.Typer(help="Deals: under contract, closed (assignment fee) or cancelled.",
                        no_args_is_help=True)


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError as error:
        raise typer.BadParameter(f"{text!r}: expected a date YYYY-MM-DD") from error


@deals_app.command("record")
def deals_record(
    status: Annotated[str, typer.Option("--status", help="under_contract | closed | cancelled")],
    by: Annotated[str, typer.Option("--by", help="Who records it (goes to the audit log).")],
    owner_id: Annotated[int | None, typer.Option("--owner-id", help="The ledger owner id.")] = None,
    parcel_id: Annotated[str | None, typer.Option("--parcel-id",
                                                  help="The parcel (with --market).")] = None,
    market: Annotated[str | None, typer.Option("--market",
                                               help="Market code, e.g. orange_fl.")] = None,
    assignment_fee: Annotated[float | None, typer.Option(
        "--assignment-fee", help="Assignment fee earned, dollars (needed to close).")] = None,
    contract_price: Annotated[float | None, typer.Option(
        "--contract-price", help="Price in the purchase contract, dollars.")] = None,
    on: Annotated[str | None, typer.Option("--on",
                                           help="Date YYYY-MM-DD (default today, UTC).")] = None,
    note: Annotated[str, typer.Option("--note", help="Free text kept with the deal.")] = "",
) -> None:
    """Record a deal: a new contract, its closing (with the assignment fee) or cancellation.
    Also moves the lead's status and writes the audit log."""
    from outreach.deals import DealError, DealInput, record_deal
    from outreach.ledger.db import ledger_engine, upgrade_ledger

    request = DealInput(status=status, recorded_by=by, owner_id=owner_id, parcel_id=parcel_id,
                        market_code=market, assignment_fee_usd=assignment_fee,
                        contract_price_usd=contract_price, on=_date(on), note=note)
    engine = ledger_engine()
    upgrade_ledger(engine)
    try:
        deal = record_deal(engine, request)
    except DealError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    finally:
        engine.dispose()
    verb = "recorded" if deal.created else "updated"
    fee = f", assignment fee ${deal.assignment_fee_usd:,.2f}" \
        if deal.assignment_fee_usd is not None else ""
    typer.echo(f"deal {deal.deal_id} {verb}: owner {deal.owner_id}, {deal.market_code} parcel "
               f"{deal.parcel_id}, {deal.status}{fee}")


@deals_app.command("list")
def deals_list(
    market: Annotated[str | None, typer.Option("--market", help="Only this market.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
) -> None:
    """List deals, newest first."""
    from outreach.deals import DealError, list_deals
    from outreach.ledger.db import ledger_engine, upgrade_ledger

    engine = ledger_engine()
    upgrade_ledger(engine)
    try:
        deals = list_deals(engine, market, status)
    except DealError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    finally:
        engine.dispose()
    if not deals:
        typer.echo("no deals recorded")
        return
    typer.echo(f"{'deal':>6}  {'owner':>7}  {'market':<12}{'parcel':<22}{'status':<16}"
               f"{'contract':>12}{'fee':>11}  {'contracted':<11} {'closed':<11} by")
    for deal in deals:
        price = f"${deal.contract_price_usd:,.0f}" if deal.contract_price_usd is not None else "-"
        fee = f"${deal.assignment_fee_usd:,.0f}" if deal.assignment_fee_usd is not None else "-"
        typer.echo(f"{deal.deal_id:>6}  {deal.owner_id:>7}  {deal.market_code:<12}"
                   f"{deal.parcel_id:<22}{deal.status:<16}{price:>12}{fee:>11}  "
                   f"{deal.contracted_on or '-'!s:<11} {deal.closed_on or '-'!s:<11} "
                   f"{deal.recorded_by}")
