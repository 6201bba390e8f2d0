"""The error-rate brake: a sensor that pauses a campaign whose sends go wrong too often.

Every `ERROR_RATE_SENSOR_INTERVAL_SECONDS` it looks, per campaign, at the outbound messages
attempted in the last `window_hours`: errors are the attempts that failed (`failed`,
`undelivered`, `bounced`) or whose outcome is unknown (`unknown`, or still `sending` after the
run). When there were at least `min_attempts` and errors / attempts passes `max_error_rate`,
the campaign is paused (`outreach.enrolling.pause_campaign`, actor
`sensor:outreach_error_rate`, with an audit entry) and the operator is notified through the
`operator_notifier` resource (pipelines/notifier.py). A paused campaign is left alone; a
person resumes it (`wholesaler campaigns resume NAME`) after finding the cause.

The limits are the `outreach_error_limits` resource, read from the environment:
`WHOLESALER_OUTREACH_MAX_ERROR_RATE` (default 0.2), `WHOLESALER_OUTREACH_ERROR_WINDOW_HOURS`
(default 6) and `WHOLESALER_OUTREACH_ERROR_MIN_ATTEMPTS` (default 20); a bad value stops the
code location from loading with the variable's name in the error.
"""

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Engine, case, func, select

from pipelines.notifier import OperatorNotifier
from pipelines.resources import LedgerResource

ERROR_RATE_SENSOR_INTERVAL_SECONDS = 300
ERROR_STATUSES = ("failed", "undelivered", "bounced", "unknown", "sending")
SENSOR_ACTOR = "sensor:outreach_error_rate"
LIMIT_ENV = {
    "max_error_rate": "WHOLESALER_OUTREACH_MAX_ERROR_RATE",
    "window_hours": "WHOLESALER_OUTREACH_ERROR_WINDOW_HOURS",
    "min_attempts": "WHOLESALER_OUTREACH_ERROR_MIN_ATTEMPTS",
}


class _Limits(BaseModel):
    max_error_rate: float = Field(default=0.2, gt=0, le=1)
    window_hours: float = Field(default=6.0, gt=0, le=24 * 14)
    min_attempts: int = Field(default=20, ge=1)


class OutreachErrorLimits(dg.ConfigurableResource):
    """When the error-rate sensor pauses a campaign (module docstring)."""

    max_error_rate: float = 0.2
    window_hours: float = 6.0
    min_attempts: int = 20

    @classmethod
    def from_environment(cls) -> "OutreachErrorLimits":
        values = {field: os.environ[env] for field, env in LIMIT_ENV.items() if env in os.environ}
        try:
            limits = _Limits(**values)
        except ValidationError as error:
            problems = "; ".join(f"{LIMIT_ENV[str(item['loc'][0])]}: {item['msg']}"
                                 for item in error.errors())
            raise ValueError(f"outreach error limits: {problems}") from error
        return cls(**limits.model_dump())


@dataclass(frozen=True)
class CampaignErrors:
    campaign: str
    attempts: int
    errors: int
    is_paused: bool

    @property
    def rate(self) -> float:
        return self.errors / self.attempts if self.attempts else 0.0


def campaign_error_rates(engine: Engine, since: datetime) -> list[CampaignErrors]:
    """Attempts and errors of each registered campaign's outbound messages since `since`."""
    from outreach.ledger.db import ledger_session
    from outreach.ledger.models import CampaignRecord, Enrollment, Message

    with ledger_session(engine) as session:
        attempts = (select(Enrollment.campaign_id, func.count().label("attempts"),
                           func.sum(case((Message.status.in_(ERROR_STATUSES), 1), else_=0))
                           .label("errors"))
                    .join(Message, Message.enrollment_id == Enrollment.enrollment_id)
                    .where(Message.direction == "outbound", Message.attempted_at >= since)
                    .group_by(Enrollment.campaign_id).subquery())
        rows = session.execute(
            select(CampaignRecord.name, CampaignRecord.is_paused,
                   func.coalesce(attempts.c.attempts, 0), func.coalesce(attempts.c.errors, 0))
            .outerjoin(attempts, attempts.c.campaign_id == CampaignRecord.campaign_id)
            .order_by(CampaignRecord.name)).all()
    return [CampaignErrors(name, int(n), int(errors), bool(paused))
            for name, paused, n, errors in rows]


@dg.sensor(
    name="outreach_error_rate_brake",
    minimum_interval_seconds=ERROR_RATE_SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Pause a campaign (and notify the operator) when its failed + unknown sends "
                "pass the error-rate limit over the recent window.",
)
def outreach_error_rate_brake(context: dg.SensorEvaluationContext, ledger: LedgerResource,
                              operator_notifier: OperatorNotifier,
                              outreach_error_limits: OutreachErrorLimits) -> dg.SkipReason:
    from outreach.enrolling import pause_campaign
    from outreach.ledger.db import ledger_engine, ledger_revision, ledger_session
    from pipelines import settings

    engine = ledger_engine(ledger.url or settings.ledger_url())
    if ledger_revision(engine) is None:
        return dg.SkipReason("the ledger is not created yet")
    now = datetime.now(UTC)
    limits = outreach_error_limits
    paused = []
    for found in campaign_error_rates(engine, now - timedelta(hours=limits.window_hours)):
        if (found.is_paused or found.attempts < limits.min_attempts
                or found.rate <= limits.max_error_rate):
            continue
        reason = (f"{found.errors} of {found.attempts} sends failed or unknown "
                  f"({found.rate:.0%}) in the last {limits.window_hours:g} h; limit "
                  f"{limits.max_error_rate:.0%}")
        with ledger_session(engine) as session:
            pause_campaign(session, found.campaign, actor=SENSOR_ACTOR, reason=reason, now=now)
        context.log.warning(f"paused campaign {found.campaign}: {reason}")
        operator_notifier.notify(
            "campaign_paused", f"campaign {found.campaign} paused: error rate {found.rate:.0%}",
            f"{reason}. Find the cause (provider errors in the messages' error codes, "
            f"credentials, the sender number), then: wholesaler campaigns resume "
            f"{found.campaign}", severity="error",
            facts={"campaign": found.campaign, "attempts": found.attempts,
                   "errors": found.errors, "window_hours": limits.window_hours,
                   "max_error_rate": limits.max_error_rate})
        paused.append(found.campaign)
    return dg.SkipReason(f"paused: {', '.join(paused)}" if paused
                         else "every campaign is within its error-rate limit")
