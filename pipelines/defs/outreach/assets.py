"""Outreach assets, one partition per market, and the job and schedules that run them.

- `outreach/enrollments` (after `marts/lead_scores` and `contacts/dnc_scrub`): for every
  campaign naming the market, enroll the day's new leads (outreach/enrolling.py). Reads the
  warehouse, so it runs in the `warehouse` pool.
- `outreach/reconciliation`: attempts whose outcome is unknown (a crash between writing the
  attempt and recording the provider's answer) are resolved from the provider before any new
  send (`outreach.sending.reconcile_unknown`); never re-sent blindly.
- `outreach/sends` (after both): for every campaign naming the market, send the touches due
  now (`outreach.sending.send_due`; in the `warehouse` pool, because it reads the parcels'
  situs addresses for the templates from `marts.properties`): each through the compliance
  gate, to the provider or, unless the campaign AND the market are live and credentials
  exist, to the outbox. Metadata: sent, outboxed, refused by reason, deferred, failed,
  unknown.

Job `outreach_for_market` holds all three. Schedules (America/New_York): enrollment daily at
07:30, sends hourly 09:00-19:00. The hours are a convenience that keeps runs where sends can
happen; the gate decides per recipient and per message anyway (recipient-local windows, caps,
consent, DNC). Both schedules start stopped: an operator turns them on.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from time import monotonic
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from markets.schema import Market
from outreach.campaigns.schema import CAMPAIGNS_DIR, Campaign, CampaignError, load_campaigns
from pipelines.partitions import market_partitions
from pipelines.resources import LedgerResource, MarketsResource

ENROLLMENTS = dg.AssetKey(["outreach", "enrollments"])
RECONCILIATION = dg.AssetKey(["outreach", "reconciliation"])
SENDS = dg.AssetKey(["outreach", "sends"])
SCHEDULE_ZONE = "America/New_York"


class CampaignsResource(dg.ConfigurableResource):
    """The campaigns folder (campaigns/*.yaml)."""

    directory: str = str(CAMPAIGNS_DIR)

    def for_market(self, market_code: str) -> list[Campaign]:
        """The campaigns naming the market (a campaign may name markets not configured here;
        `wholesaler campaigns validate` checks them against the market folder)."""
        from pathlib import Path

        try:
            campaigns = load_campaigns(Path(self.directory))
        except CampaignError as error:
            raise dg.Failure(f"campaigns: {error}") from error
        return [campaign for campaign in campaigns if market_code in campaign.markets]


class EnrollmentConfig(dg.Config):
    today: str | None = Field(
        default=None, description="The enrollment day, YYYY-MM-DD (default: today in the "
                                  "market's first time zone).")


class ReconcileConfig(dg.Config):
    now: str | None = Field(
        default=None, description="The reconcile time, ISO 8601 with an offset (default: the "
                                  "run's clock).")


class SendConfig(dg.Config):
    now: str | None = Field(
        default=None, description="The send time, ISO 8601 with an offset (default: the run's "
                                  "clock). The gate judges every message at this time.")
    limit: int | None = Field(default=None, ge=1,
                              description="At most this many messages per campaign.")


def market_today(market: Market) -> date:
    return datetime.now(ZoneInfo(market.time_zones[0])).date()


def parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    value = datetime.fromisoformat(text)
    if value.tzinfo is None or value.utcoffset() is None:
        raise dg.Failure(f"config now={text!r}: needs a UTC offset (e.g. 2026-11-23T10:00-05:00)")
    return value


@contextmanager
def warehouse_connection(warehouse: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """`warehouse.get_connection()`, closed on an error too: dagster-duckdb 0.29 closes it only
    when the block succeeds, and a connection kept alive by a failure's traceback makes the
    next open of the same file in this process fail ("different configuration")."""
    with warehouse.get_connection() as conn:
        try:
            yield conn
        finally:
            conn.close()


@dg.asset(
    key=ENROLLMENTS,
    deps=[dg.AssetKey(["marts", "lead_scores"]), dg.AssetKey(["contacts", "dnc_scrub"])],
    partitions_def=market_partitions,
    group_name="outreach",
    kinds={"sqlite", "python"},
    pool="warehouse",
    description="The day's new enrollments of the market's Tier A/B+ leads (the campaigns' "
                "target tiers) with a sendable contact, never enrolled before, not suppressed; "
                "one per owner; capped per day.",
)
def enrollments(context: dg.AssetExecutionContext, config: EnrollmentConfig,
                markets: MarketsResource, campaigns: CampaignsResource,
                warehouse: DuckDBResource, ledger: LedgerResource) -> dg.MaterializeResult:
    from outreach.enrolling import EnrollmentError, enroll

    market = markets.get(context.partition_key)
    today = date.fromisoformat(config.today) if config.today else market_today(market)
    engine = ledger.engine()
    reports = []
    with warehouse_connection(warehouse) as conn:
        for campaign in campaigns.for_market(market.code):
            try:
                report = enroll(engine, conn, campaign, market, today)
            except EnrollmentError as error:
                raise dg.Failure(f"{campaign.name} / {market.code}: {error}") from error
            context.log.info(f"{campaign.name}: enrolled {report.enrolled} "
                             f"(eligible {report.eligible}, waiting for the cap "
                             f"{report.waiting_for_cap}, paused {report.paused})")
            reports.append(report)
    return dg.MaterializeResult(metadata={
        "enrolled_on": today.isoformat(),
        "campaigns": len(reports),
        "enrolled": sum(r.enrolled for r in reports),
        "eligible": sum(r.eligible for r in reports),
        "waiting_for_cap": sum(r.waiting_for_cap for r in reports),
        "without_sendable_contact": sum(r.without_sendable_contact for r in reports),
        "suppressed": sum(r.suppressed for r in reports),
        "paused_campaigns": dg.MetadataValue.json([r.campaign for r in reports if r.paused]),
        "by_campaign": dg.MetadataValue.json({r.campaign: r.as_metadata() for r in reports}),
    })


@dg.asset(
    key=RECONCILIATION,
    partitions_def=market_partitions,
    group_name="outreach",
    kinds={"sqlite", "python"},
    description="Attempts of the market's campaigns whose outcome is unknown, resolved from the "
                "provider (Twilio's message list, the outbox file) or held for a person; never "
                "re-sent blindly.",
)
def reconciliation(context: dg.AssetExecutionContext, config: ReconcileConfig,
                   markets: MarketsResource, campaigns: CampaignsResource,
                   ledger: LedgerResource) -> dg.MaterializeResult:
    from outreach.sending import Channels, reconcile_unknown

    market = markets.get(context.partition_key)
    now = parse_now(config.now)
    engine = ledger.engine()
    totals: dict[str, int] = {}
    by_channels: dict[str, dict[str, object]] = {}
    # One pass per set of channels (usually one per market): each open attempt of the
    # market's campaigns is looked at once, with the adapters its campaign sends through.
    groups: dict[tuple[str, str], tuple[Channels, list[str]]] = {}
    for campaign in campaigns.for_market(market.code):
        channels = Channels.for_market(market, campaign)
        key = (channels.sms.provider, channels.email.provider)
        groups.setdefault(key, (channels, []))[1].append(campaign.name)
    for (sms, email), (channels, names) in sorted(groups.items()):
        report = reconcile_unknown(engine, now, channels, market_code=market.code,
                                   campaign_names=names)
        metadata = _plain(report)
        by_channels[f"sms={sms},email={email}"] = {**metadata, "campaigns": names}
        for key, value in metadata.items():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    return dg.MaterializeResult(metadata={**totals,
                                          "by_channels": dg.MetadataValue.json(by_channels)})


def situs_addresses(engine, conn, market_code: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Situs address ("123 MAIN ST, ORLANDO") of the parcels of the market's active
    enrollments, for the templates' `property_address` (the ledger holds no address)."""
    from sqlalchemy import select

    from outreach.ledger.db import ledger_session
    from outreach.ledger.models import Enrollment

    with ledger_session(engine) as session:
        parcel_ids = sorted(set(session.scalars(select(Enrollment.parcel_id).where(
            Enrollment.market_code == market_code,
            Enrollment.status.in_(("not_started", "in_progress"))))))
    if not parcel_ids:
        return {}
    rows = conn.execute(
        "SELECT parcel_id, situs_address, situs_city FROM marts.properties "
        "WHERE market_code = ? AND list_contains(?, parcel_id) AND situs_address IS NOT NULL "
        "AND trim(situs_address) <> ''", [market_code, parcel_ids]).fetchall()
    return {parcel_id: ", ".join(part.strip() for part in (address, city) if part and part.strip())
            for parcel_id, address, city in rows}


@dg.asset(
    key=SENDS,
    deps=[ENROLLMENTS, RECONCILIATION],
    partitions_def=market_partitions,
    group_name="outreach",
    kinds={"sqlite", "python"},
    pool="warehouse",
    description="The touches due now for the market's campaigns, each through the compliance "
                "gate, to the provider or the outbox (not live / no credentials). Metadata: "
                "sent, outboxed, refused by reason, deferred, failed, unknown.",
)
def sends(context: dg.AssetExecutionContext, config: SendConfig, markets: MarketsResource,
          campaigns: CampaignsResource, warehouse: DuckDBResource,
          ledger: LedgerResource) -> dg.MaterializeResult:
    from outreach.sending import send_due

    market = markets.get(context.partition_key)
    now = parse_now(config.now)
    engine = ledger.engine()
    with warehouse_connection(warehouse) as conn:
        addresses = situs_addresses(engine, conn, market.code)
    totals = {"sent": 0, "outboxed": 0, "deferred": 0, "failed": 0, "unknown": 0}
    refused: dict[str, int] = {}
    by_campaign = {}
    started = monotonic()
    for campaign in campaigns.for_market(market.code):
        # Each campaign's run starts at the asset's clock (`now` plus the time since), not at
        # `now` again: the campaigns run one after another and each is judged when it sends.
        at = now + timedelta(seconds=monotonic() - started)
        report = send_due(engine, campaign, market, at, limit=config.limit,
                          addresses=addresses)
        for key in totals:
            totals[key] += int(getattr(report, key))
        for code, count in report.refused.items():
            refused[code] = refused.get(code, 0) + count
        by_campaign[campaign.name] = report.as_metadata()
        context.log.info(f"{campaign.name}: {report.as_metadata()}")
    return dg.MaterializeResult(metadata={
        "planned_at": now.isoformat(), **totals, "refused": sum(refused.values()),
        "refused_by_reason": dg.MetadataValue.json(dict(sorted(refused.items()))),
        "by_campaign": dg.MetadataValue.json(by_campaign),
    })


def _plain(report: object) -> dict[str, object]:
    """A report's metadata as a plain dict (its `as_metadata()` when it has one)."""
    as_metadata = getattr(report, "as_metadata", None)
    if callable(as_metadata):
        return dict(as_metadata())
    return {key: value for key, value in vars(report).items() if not key.startswith("_")}


outreach_for_market = dg.define_asset_job(
    "outreach_for_market",
    selection=dg.AssetSelection.assets(ENROLLMENTS, RECONCILIATION, SENDS),
    description="Enroll a market's new leads, reconcile unknown attempts, and send the touches "
                "that are due (the schedules run parts of it).",
)


@dg.schedule(
    name="outreach_daily_enrollment",
    job=outreach_for_market,
    cron_schedule="30 7 * * *",
    execution_timezone=SCHEDULE_ZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every morning at 07:30 New York time: enroll each market's new leads.",
)
def outreach_daily_enrollment(context: dg.ScheduleEvaluationContext):
    stamp = context.scheduled_execution_time.strftime("%Y-%m-%d")
    for code in market_partitions.get_partition_keys():
        yield dg.RunRequest(run_key=f"enroll:{code}:{stamp}", partition_key=code,
                            asset_selection=[ENROLLMENTS])


@dg.schedule(
    name="outreach_hourly_sends",
    job=outreach_for_market,
    cron_schedule="0 9-19 * * *",
    execution_timezone=SCHEDULE_ZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Hourly 09:00-19:00 New York time: reconcile, then send each market's due "
                "touches (a convenience window; the gate decides per recipient).",
)
def outreach_hourly_sends(context: dg.ScheduleEvaluationContext):
    stamp = context.scheduled_execution_time.strftime("%Y-%m-%dT%H")
    for code in market_partitions.get_partition_keys():
        yield dg.RunRequest(run_key=f"send:{code}:{stamp}", partition_key=code,
                            asset_selection=[RECONCILIATION, SENDS])
