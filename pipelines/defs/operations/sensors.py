"""Sensors that notify the operator (through the `operator_notifier` resource,
pipelines/notifier.py), and freshness checks on the assets that feed outreach.

- `notify_operator_on_run_failure`: every failed run of this code location, with its job,
  partition (market), failed steps and error.
- `notify_operator_on_error_spike`: every five minutes, counts the errors of the last hour in
  the ledger (`pipelines.error_counters.ERROR_COUNTERS`) and notifies once per hour per counter
  while one is spiking; it also reports freshness checks that failed since its last tick.
- Freshness: `marts/lead_scores` and `contacts/owner_contacts` must have been materialized within
  `WHOLESALER_LEAD_SCORES_MAX_AGE_HOURS` (default 192: a weekly refresh plus a day) and
  `WHOLESALER_OWNER_CONTACTS_MAX_AGE_HOURS` (default 840: five weeks). Enrollment reads both; a
  stale score or contact list means outreach works from old distress signals or numbers.
  These are Dagster freshness checks (asset checks, evaluated by
  `freshness_checks_sensor`); Dagster 1.13 also offers `FreshnessPolicy` on the asset
  definitions, which needs the freshness daemon enabled in dagster.yaml and gives a health
  state rather than a check result that the spike sensor can notify on.

The sensors start RUNNING, so any daemon (`dagster dev`, `wholesaler ui`, production) runs them.
"""

import json
import os
import warnings
from datetime import UTC, datetime, timedelta

import dagster as dg

from pipelines.error_counters import ERROR_COUNTERS
from pipelines.notifier import OperatorNotifier
from pipelines.resources import LedgerResource

LEAD_SCORES = dg.AssetKey(["marts", "lead_scores"])
OWNER_CONTACTS = dg.AssetKey(["contacts", "owner_contacts"])
SPIKE_WINDOW = timedelta(hours=1)
SPIKE_SENSOR_INTERVAL_SECONDS = 300


def _max_age(env: str, default_hours: float) -> timedelta:
    configured = os.environ.get(env)
    try:
        hours = float(configured) if configured else default_hours
    except ValueError as error:
        raise ValueError(f"{env}={configured!r}: expected a number of hours") from error
    return timedelta(hours=hours)


with warnings.catch_warnings():
    # Superseded by FreshnessPolicy in Dagster 1.11+, kept on purpose (module docstring).
    warnings.simplefilter("ignore", category=Warning)
    freshness_checks = [
        *dg.build_last_update_freshness_checks(
            assets=[LEAD_SCORES],
            lower_bound_delta=_max_age("WHOLESALER_LEAD_SCORES_MAX_AGE_HOURS", 192)),
        *dg.build_last_update_freshness_checks(
            assets=[OWNER_CONTACTS],
            lower_bound_delta=_max_age("WHOLESALER_OWNER_CONTACTS_MAX_AGE_HOURS", 840)),
    ]
    freshness_checks_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=freshness_checks, default_status=dg.DefaultSensorStatus.RUNNING)

FRESHNESS_CHECK_KEYS = [key for checks in freshness_checks for key in checks.check_keys]


@dg.run_failure_sensor(
    name="notify_operator_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Notify the operator of every failed run: job, market, failed steps, error.",
)
def notify_operator_on_run_failure(context: dg.RunFailureSensorContext,
                                   operator_notifier: OperatorNotifier) -> None:
    run = context.dagster_run
    partition = run.tags.get("dagster/partition")
    steps = []
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error if event.step_failure_data else None
        while error is not None and error.cause is not None:  # the user code's own error
            error = error.cause
        steps.append(f"{event.step_key}: {error.message.strip() if error else 'failed'}")
    subject = f"run of {run.job_name}" + (f" for {partition}" if partition else "") + " failed"
    body = "\n".join([context.failure_event.message or "the run failed", *steps])
    operator_notifier.notify("run_failure", subject, body, severity="error", facts={
        "run_id": run.run_id, "job_name": run.job_name, "partition": partition,
        "failed_steps": [event.step_key for event in context.get_step_failure_events()]})


def _failed_freshness_checks(instance: dg.DagsterInstance, after_storage_id: int
                             ) -> tuple[list[str], int]:
    """Freshness checks whose newest evaluation failed and is newer than `after_storage_id`."""
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        FRESHNESS_CHECK_KEYS)
    failed, newest = [], after_storage_id
    for key, record in latest.items():
        event = record.event
        evaluation = event.asset_check_evaluation if event and event.dagster_event else None
        if record.id <= after_storage_id or evaluation is None:
            continue
        newest = max(newest, record.id)
        if not evaluation.passed:
            failed.append(key.asset_key.to_user_string())
    return sorted(failed), newest


@dg.sensor(
    name="notify_operator_on_error_spike",
    minimum_interval_seconds=SPIKE_SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Count the last hour's errors in the ledger and notify the operator of a "
                "spike (at most once an hour per kind), and of failed freshness checks.",
)
def notify_operator_on_error_spike(context: dg.SensorEvaluationContext, ledger: LedgerResource,
                                   operator_notifier: OperatorNotifier) -> dg.SkipReason:
    from outreach.ledger.db import ledger_engine, ledger_revision, ledger_session
    from pipelines import settings

    now = datetime.now(UTC)
    cursor = json.loads(context.cursor) if context.cursor else {}
    notified: dict[str, str] = cursor.get("notified", {})
    findings = []
    engine = ledger_engine(ledger.url or settings.ledger_url())
    if ledger_revision(engine) is not None:
        with ledger_session(engine) as session:
            for counter in ERROR_COUNTERS:
                counted = counter.count(session, now - SPIKE_WINDOW)
                if not counter.is_spike(counted):
                    continue
                last = notified.get(counter.name)
                if last and now - datetime.fromisoformat(last) < SPIKE_WINDOW:
                    continue
                share = (f" of {counted.attempts} ({counted.errors / counted.attempts:.0%})"
                         if counted.attempts else "")
                operator_notifier.notify(
                    "error_spike", f"{counter.name}: {counted.errors}{share} in the last hour",
                    counter.description, severity="warning",
                    facts={"counter": counter.name, "errors": counted.errors,
                           "attempts": counted.attempts, "window_minutes": 60})
                notified[counter.name] = now.isoformat()
                findings.append(counter.name)
    stale, newest = _failed_freshness_checks(context.instance,
                                             int(cursor.get("freshness_storage_id", 0)))
    if stale:
        operator_notifier.notify(
            "stale_assets", f"stale: {', '.join(stale)}",
            "These assets feed outreach and were not refreshed within their freshness window; "
            "materialize the markets (job materialize_market / import_market_contacts).",
            severity="warning", facts={"assets": stale})
        findings.append("stale_assets")
    context.update_cursor(json.dumps({"notified": notified, "freshness_storage_id": newest}))
    return dg.SkipReason(f"notified: {', '.join(findings)}" if findings
                         else "no error spike, no failed freshness check")


@dg.definitions
def operations() -> dg.Definitions:
    return dg.Definitions(
        asset_checks=freshness_checks,
        sensors=[freshness_checks_sensor, notify_operator_on_run_failure,
                 notify_operator_on_error_spike],
        resources={"operator_notifier": OperatorNotifier.from_environment()},
    )
