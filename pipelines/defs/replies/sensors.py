"""`imap_replies_sensor`: polls the replies mailbox every `WHOLESALER_IMAP_POLL_SECONDS`
(default 60) with `outreach.replies.mailbox.poll_mailbox`.

It skips, saying why, when `WHOLESALER_IMAP_HOST` is unset (no mailbox configured) or the
ledger is not created yet. Each tick reads at most `WHOLESALER_IMAP_POLL_LIMIT` new messages;
the counts (replies, duplicates, unknown senders, auto-replies, bounces, unreadable, failed,
decisions) go to the tick's log and skip message. A bad message never fails the tick (it is
logged with its UID, written to `audit_log` and skipped); a mailbox that cannot be read
(connection, login, a bad IMAP variable) fails the tick so it shows in the Dagster UI, and
the next tick tries again. The sensor starts RUNNING: unconfigured, it only skips.

`replies_sweep_sensor`: every 5 minutes, `outreach.replies.inbound.process_pending`: replies
stored but never processed (the webhook answers Twilio before processing; a crash or an
unreachable model in between leaves the row for this sweep), then the auto-replies that quiet
hours deferred.
"""

import json
import os

import dagster as dg

from pipelines.resources import LedgerResource

POLL_SECONDS_ENV = "WHOLESALER_IMAP_POLL_SECONDS"


def _poll_seconds() -> int:
    configured = os.environ.get(POLL_SECONDS_ENV, "").strip()
    try:
        seconds = int(configured) if configured else 60
    except ValueError as error:
        raise ValueError(f"{POLL_SECONDS_ENV}={configured!r}: expected whole seconds") from error
    if not 10 <= seconds <= 86_400:
        raise ValueError(f"{POLL_SECONDS_ENV}={seconds}: expected 10 to 86400 seconds")
    return seconds


@dg.sensor(
    name="imap_replies_sensor",
    minimum_interval_seconds=_poll_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Read email replies and bounces from the IMAP replies mailbox into the ledger "
                "(skips when WHOLESALER_IMAP_HOST is unset).",
)
def imap_replies_sensor(context: dg.SensorEvaluationContext,
                        ledger: LedgerResource) -> dg.SkipReason:
    from outreach.ledger.db import ledger_engine, ledger_revision
    from outreach.replies.mailbox import imap_settings, poll_mailbox
    from pipelines import settings

    imap = imap_settings()
    if imap is None:
        return dg.SkipReason("no IMAP mailbox configured (WHOLESALER_IMAP_HOST is unset)")
    engine = ledger_engine(ledger.url or settings.ledger_url())
    if ledger_revision(engine) is None:
        return dg.SkipReason("the ledger is not created yet")
    report = poll_mailbox(engine, imap)
    counts = {name: value for name, value in report.as_dict().items()
              if value and name not in ("account", "folder", "uid_validity", "last_uid")}
    summary = json.dumps(counts, sort_keys=True, default=str)
    if report.failed or report.stopped_early or report.process_errors:
        context.log.warning(f"IMAP {report.folder}: {summary}; failed UIDs "
                            f"{report.failed_uids}")
    else:
        context.log.info(f"IMAP {report.folder}: {summary}")
    return dg.SkipReason(f"IMAP {report.folder} up to UID {report.last_uid}: "
                         f"{summary if counts else 'nothing new'}")


SWEEP_SECONDS = 300


@dg.sensor(
    name="replies_sweep_sensor",
    minimum_interval_seconds=SWEEP_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Process stored replies that were not processed (a crash or a failure after "
                "the webhook or the IMAP poll stored them) and send the auto-replies that quiet "
                "hours deferred, once their time comes.",
)
def replies_sweep_sensor(context: dg.SensorEvaluationContext,
                         ledger: LedgerResource) -> dg.SkipReason:
    from outreach.ledger.db import ledger_engine, ledger_revision
    from outreach.replies.inbound import process_pending
    from pipelines import settings

    engine = ledger_engine(ledger.url or settings.ledger_url())
    if ledger_revision(engine) is None:
        return dg.SkipReason("the ledger is not created yet")
    processed = process_pending(engine)
    decisions: dict[str, int] = {}
    for _, decision in processed:
        decisions[decision] = decisions.get(decision, 0) + 1
    if processed:
        context.log.info(f"processed {len(processed)} pending replies: {decisions}")
    return dg.SkipReason(f"processed {len(processed)} pending replies"
                         + (f": {json.dumps(decisions, sort_keys=True)}" if decisions else ""))
