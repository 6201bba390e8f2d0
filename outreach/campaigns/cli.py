"""`wholesaler campaigns …`: list and validate the drip campaigns (campaigns/*.yaml), pause and
resume them, show where one stands, and preview the messages due on a day without sending."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

campaigns_app = typer.Typer(help="Drip campaigns (campaigns/*.yaml) and their templates.",
                            no_args_is_help=True)


def _known_markets() -> set[str]:
    from markets.loader import load_markets

    return {market.code for market in load_markets()}


@campaigns_app.command("validate")
def campaigns_validate(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Campaign files (default: every file in campaigns/).")] = None,
) -> None:
    """Check campaigns and their templates; errors name the file and the field."""
    from outreach.campaigns.schema import CampaignError, load_campaign, load_campaigns

    try:
        if files:
            campaigns = [load_campaign(path, known_markets=_known_markets()) for path in files]
        else:
            campaigns = load_campaigns(known_markets=_known_markets())
    except CampaignError as error:
        for problem in error.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(1) from error
    for campaign in campaigns:
        typer.echo(f"ok: {campaign.name} ({len(campaign.touches)} touches over "
                   f"{campaign.touches[-1].day} days, {'LIVE' if campaign.live else 'outbox'})")


@campaigns_app.command("list")
def campaigns_list() -> None:
    """The campaigns with their markets, tiers, cap and touch plan."""
    from outreach.campaigns.schema import load_campaigns

    for campaign in load_campaigns(known_markets=_known_markets()):
        plan = ", ".join(f"day {t.day} {t.channel}:{t.template}" for t in campaign.touches)
        typer.echo(f"{campaign.name}: markets {','.join(campaign.markets)}; tiers "
                   f"{','.join(campaign.target_tiers)}; cap {campaign.daily_volume_cap}/day; "
                   f"{'LIVE' if campaign.live else 'outbox only'}\n  {plan}")


def _actor(by: str | None) -> str:
    import getpass

    return by or f"cli:{getpass.getuser()}"


def _campaign_named(name: str):  # type: ignore[no-untyped-def]
    from outreach.campaigns.schema import load_campaigns

    for campaign in load_campaigns(known_markets=_known_markets()):
        if campaign.name == name:
            return campaign
    typer.echo(f"error: no campaign {name!r} in campaigns/ (wholesaler campaigns list)", err=True)
    raise typer.Exit(1)


def _switch(name: str, by: str | None, reason: str, pause: bool) -> None:
    from outreach.enrolling import pause_campaign, resume_campaign, sync_campaigns
    from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger

    campaign = _campaign_named(name)
    engine = ledger_engine()
    upgrade_ledger(engine)
    switch = pause_campaign if pause else resume_campaign
    with ledger_session(engine) as session:
        sync_campaigns(session, [campaign])
        record = switch(session, name, actor=_actor(by), reason=reason)
        typer.echo(f"{name}: {'paused' if record.is_paused else 'running'}"
                   + (f" (by {record.paused_by} at {record.paused_at:%Y-%m-%d %H:%M:%S} UTC)"
                      if record.is_paused and record.paused_at else ""))


@campaigns_app.command("pause")
def campaigns_pause(
    name: Annotated[str, typer.Argument(help="Campaign name (campaigns/<name>.yaml).")],
    by: Annotated[str | None, typer.Option(help="Who pauses (default: cli:<user>).")] = None,
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "",
) -> None:
    """Pause a campaign: no send run and no enrollment touches it until `resume`."""
    _switch(name, by, reason, pause=True)


@campaigns_app.command("resume")
def campaigns_resume(
    name: Annotated[str, typer.Argument(help="Campaign name (campaigns/<name>.yaml).")],
    by: Annotated[str | None, typer.Option(help="Who resumes (default: cli:<user>).")] = None,
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "",
) -> None:
    """Resume a paused campaign."""
    _switch(name, by, reason, pause=False)


@campaigns_app.command("status")
def campaigns_status(
    name: Annotated[str, typer.Argument(help="Campaign name (campaigns/<name>.yaml).")],
) -> None:
    """Where a campaign stands, as JSON: paused or not, enrollments per state, its messages
    per status, and today's attempted sends against the daily cap."""
    import json

    from outreach.enrolling import campaign_status
    from outreach.ledger.db import ledger_engine, ledger_revision

    campaign = _campaign_named(name)
    engine = ledger_engine()
    if ledger_revision(engine) is None:
        typer.echo("error: the ledger is empty (run `wholesaler ledger upgrade` or the demo)",
                   err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(campaign_status(engine, campaign), indent=2, default=str))


@campaigns_app.command("preview")
def campaigns_preview(
    name: Annotated[str, typer.Argument(help="Campaign name (campaigns/<name>.yaml).")],
    market: Annotated[str | None, typer.Option(
        help="Only this market (default: every market of the campaign).")] = None,
    on: Annotated[str | None, typer.Option(
        "--date", help="The day to preview, YYYY-MM-DD (default: tomorrow).")] = None,
    at: Annotated[str, typer.Option(
        help="The planned local time of the sends (market time zone), HH:MM.")] = "10:00",
    limit: Annotated[int, typer.Option(help="Show at most this many messages.")] = 20,
) -> None:
    """Render the messages due on a day WITHOUT sending or writing anything: masked recipient,
    channel, template, text, and the compliance gate's decision for that planned time."""
    import json
    from datetime import date, time, timedelta

    from outreach.ledger.db import ledger_engine, ledger_revision
    from outreach.preview import preview_campaign

    campaign = _campaign_named(name)
    if market is not None and market not in campaign.markets:
        typer.echo(f"error: campaign {name} does not name market {market} "
                   f"(its markets: {', '.join(campaign.markets)})", err=True)
        raise typer.Exit(1)
    try:
        day = date.fromisoformat(on) if on else date.today() + timedelta(days=1)
        planned_time = time.fromisoformat(at)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    engine = ledger_engine()
    if ledger_revision(engine) is None:
        typer.echo("error: the ledger is empty (run `wholesaler ledger upgrade` or the demo)",
                   err=True)
        raise typer.Exit(1)
    preview = preview_campaign(engine, campaign, day, planned_time,
                               market_codes=[market] if market else None, limit=limit)
    typer.echo(json.dumps(preview.as_dict(), indent=2, ensure_ascii=False))
