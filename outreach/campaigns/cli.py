"""`wholesaler campaigns …`: list and validate the drip campaigns (campaigns/*.yaml)."""

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
