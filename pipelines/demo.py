"""The demo run: sample data where a market's files are missing, every market materialized
through Dagster (one partition each, recorded in the local Dagster instance so the UI shows
the runs), the sample contacts imported, the leads enrolled into the campaigns and their due
touches sent to the outbox, then a per-market summary read from the marts."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path

import duckdb

from markets.loader import load_markets
from markets.schema import Market
from pipelines import settings
from scrapers.fl_dor.sample import SampleMarket, generate, sample_paths

DAGSTER_YAML = """\
# Local Dagster instance for wholesaler (SQLite storage under this folder).
# Warehouse writers share the `warehouse` pool: one at a time (DuckDB allows one writer).
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


# The demo prints its own progress; the full event log is in the Dagster UI.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class DemoError(Exception):
    """The demo cannot run (for example a market's roll file is missing and not sample)."""


def sample_markets(codes: Sequence[str] | None = None) -> list[SampleMarket]:
    """The configured markets (or the given codes) as sample-data targets."""
    markets = load_markets()
    if codes:
        known = {market.code: market for market in markets}
        unknown = [code for code in codes if code not in known]
        if unknown:
            raise KeyError(f"unknown market code(s): {', '.join(unknown)}")
        markets = [known[code] for code in codes]
    return [SampleMarket(m.code, m.dor_county_number, m.county_name) for m in markets]


def write_sample_stamp(market_dir: Path, parcels: int, seed: int) -> None:
    """Record how a market's sample files were generated, so the demo reuses them."""
    (market_dir / "sample.json").write_text(json.dumps({"parcels": parcels, "seed": seed}))


def prepare_dagster_home() -> Path:
    """Create the local Dagster instance folder (with its dagster.yaml) and point to it."""
    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _sample_target(market: Market) -> SampleMarket:
    return SampleMarket(market.code, market.dor_county_number, market.county_name)


def _configured_files(market: Market) -> list[str]:
    locations = market.parcel_locations
    return [market.resolve_location(market.roll.nal), market.resolve_location(market.roll.sdf),
            *(market.resolve_location(s.location) for s in market.distress_sources),
            *([market.resolve_location(locations.location)] if locations else [])]


SKIP_TRACE_FILE = "skip_trace.csv"


def write_sample_contacts(market_dir: Path, seed: int) -> None:
    """The sample skip-trace delivery for a market's sample NAL file (contacts/sample.py)."""
    from contacts.sample import generate_skip_trace

    nal = next(market_dir.glob("NAL*.csv"))
    generate_skip_trace(nal, market_dir / SKIP_TRACE_FILE, seed=seed)


def _sample_contact_files(market: Market, sample_root: Path) -> list[Path]:
    """The market's contact sources that are sample files (generated when missing)."""
    expected = sample_paths(sample_root, _sample_target(market)).nal.parent / SKIP_TRACE_FILE
    return [expected for source in market.contacts.sources
            if Path(market.resolve_location(source.location)) == expected]


def ensure_sample_data(markets: Sequence[Market], parcels: int, seed: int,
                       echo: Callable[[str], None], contacts: bool = True) -> None:
    """Generate sample files for markets that point at the sample folder and whose files are
    missing or were generated with other settings; other missing files are an error. With
    `contacts`, also the sample skip-trace files the markets' contact sources name."""
    sample_root = settings.data_dir() / "sample"
    to_generate = []
    for market in markets:
        target = _sample_target(market)
        expected = sample_paths(sample_root, target)
        sample_files = {str(p) for p in (expected.nal, expected.sdf, expected.code_violations,
                                         expected.lis_pendens, expected.tax_deed_applications,
                                         expected.parcel_locations)}
        configured = _configured_files(market)
        local = [f for f in configured if not f.startswith(("http://", "https://"))]
        if not all(f in sample_files for f in local):
            missing = [f for f in local if not Path(f).exists()]
            if missing:
                raise DemoError(f"{market.source_file}: file(s) not found: {', '.join(missing)}")
            continue
        stamp = expected.nal.parent / "sample.json"
        wanted = {"parcels": parcels, "seed": seed}
        current = json.loads(stamp.read_text()) if stamp.exists() else None
        if current != wanted or not all(Path(f).exists() for f in local):
            to_generate.append((target, stamp))
    regenerated = {target.code for target, _ in to_generate}
    if to_generate:
        echo(f"Generating sample data ({parcels:,} parcels per market, seed {seed}) for "
             f"{', '.join(t.code for t, _ in to_generate)} ...")
        started = time.perf_counter()
        generate(sample_root, [t for t, _ in to_generate], parcels=parcels, seed=seed)
        for _, stamp in to_generate:
            write_sample_stamp(stamp.parent, parcels, seed)
        echo(f"  done in {time.perf_counter() - started:.1f} s -> {sample_root}")
    if not contacts:
        return
    for market in markets:
        for contact_file in _sample_contact_files(market, sample_root):
            if market.code in regenerated or not contact_file.exists():
                write_sample_contacts(contact_file.parent, seed)


@dataclass
class MarketSummary:
    code: str
    parcels: int
    tiers: dict[str, int]
    median_arv: float | None
    offers: int
    seconds: float
    succeeded: bool
    coverage: tuple[int, int] | None = None
    """(Tier A/B+ leads, those with a sendable contact), when contacts were imported."""


def summarize(conn: duckdb.DuckDBPyConnection, code: str, seconds: float,
              succeeded: bool) -> MarketSummary:
    parcels = conn.execute("SELECT count(*) FROM marts.properties WHERE market_code = ?",
                           [code]).fetchone()[0]
    tiers = dict(conn.execute(
        "SELECT tier, count(*) FROM marts.lead_scores WHERE market_code = ? GROUP BY tier",
        [code]).fetchall())
    median_arv = conn.execute(
        "SELECT median(arv) FROM marts.valuations WHERE market_code = ? AND arv IS NOT NULL",
        [code]).fetchone()[0]
    offers = conn.execute(
        "SELECT count(*) FROM marts.offers WHERE market_code = ? AND offer_max > 0",
        [code]).fetchone()[0]
    return MarketSummary(code, parcels, tiers, median_arv, offers, seconds, succeeded)


def load_sample_registry(markets: Sequence[Market], seed: int) -> None:
    """Write the fictional FTC registry files and Florida list for the markets' area codes and
    load them into the ledger as copies downloaded today (fresh copies, as production needs)."""
    from datetime import date

    from contacts.sample_dnc import write_sample_florida_list, write_sample_registry
    from outreach.ledger.db import ledger_engine, upgrade_ledger
    from pipelines.contacts_import import load_dnc_file

    engine = ledger_engine()
    upgrade_ledger(engine)
    folder = settings.data_dir() / "sample" / "dnc"
    counties = [m.dor_county_number for m in markets]
    for path in write_sample_registry(folder, counties, seed):
        load_dnc_file(engine, path, "ftc_national", downloaded_on=date.today())
    load_dnc_file(engine, write_sample_florida_list(folder, counties, seed), "florida",
                  downloaded_on=date.today())


def _run_job(job, market: Market, instance, label: str,  # type: ignore[no-untyped-def]
             echo: Callable[[str], None]) -> tuple[float, bool, list[str]]:
    import dagster as dg

    echo(f"{label} {market.code} ...")
    started = time.perf_counter()
    log_file = settings.data_dir() / "logs" / f"demo_{market.code}_{job.name}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as log, contextlib.redirect_stdout(log):
        result = job.execute_in_process(partition_key=market.code, instance=instance,
                                        raise_on_error=False, run_config=QUIET_RUN_CONFIG)
    seconds = time.perf_counter() - started
    evaluations = [event.asset_check_evaluation_data for event in result.all_events
                   if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    failed_checks = [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations
                     if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
    warnings = [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations
                if not e.passed and e.severity == dg.AssetCheckSeverity.WARN]
    status = "ok" if result.success and not failed_checks else "FAILED"
    echo(f"  {status} in {seconds:.1f} s, {len(evaluations)} checks (run {result.run_id[:8]})")
    for check in failed_checks:
        echo(f"  failed check: {check}")
    for check in warnings:
        echo(f"  warning: check {check} did not pass")
    if not result.success:
        failure = next((event for event in result.all_events
                        if event.event_type == dg.DagsterEventType.STEP_FAILURE), None)
        if failure is not None:
            echo(f"  step {failure.step_key} failed: "
                 f"{failure.step_failure_data.error.message.strip()}")
        echo(f"  run output: {log_file}")
    return seconds, result.success, failed_checks


# The demo's send run is planned at this local time of the demo day, inside every window, so
# a re-run on the same day plans the same sends (and adds none: the idempotency keys match).
DEMO_SEND_TIME = dt_time(10, 0)
DEMO_SEND_ZONE = "America/New_York"
# Share of a sample market's phones that get a fictional web-form SMS consent (see
# record_sample_consents): without any, a `consent_required` market texts no one.
SAMPLE_CONSENT_SHARE = 0.2
SAMPLE_CONSENT_SOURCE = "sample_web_form (fictional demo data)"
SAMPLE_CONSENT_WORDING = ("Yes, text me about selling my property. Msg & data rates may apply. "
                          "Reply STOP to opt out. (Fictional consent, demo data only.)")


@dataclass
class OutreachSummary:
    code: str
    enrolled: int
    outboxed: int
    sent: int
    refused: dict[str, int]
    deferred: dict[str, int]
    consents_added: int
    succeeded: bool


def record_sample_consents(engine, market: Market, seed: int,  # type: ignore[no-untyped-def]
                           granted_at: datetime) -> int:
    """Fictional SMS consents for a sample market: a fixed share (by seed and number) of its
    phones, as if their owners had filled in a "sell my house" web form. Only for markets whose
    contacts are `sample_data`; each contact gets it once. Returns how many were added. The
    gate is untouched: consented numbers must still be clear of every DNC list, inside the
    window and under the caps."""
    import hashlib

    from sqlalchemy import select

    from outreach.compliance.store import record_consent
    from outreach.ledger.db import ledger_session
    from outreach.ledger.models import Consent, Contact, Owner

    if not market.contacts.sample_data:
        return 0
    added = 0
    with ledger_session(engine) as session:
        consented = set(session.scalars(select(Consent.contact_id).where(
            Consent.source == SAMPLE_CONSENT_SOURCE)))
        phones = session.execute(
            select(Contact.contact_id, Contact.value)
            .join(Owner, Owner.owner_id == Contact.owner_id)
            .where(Owner.market_code == market.code, Contact.channel == "phone")).all()
        for contact_id, phone in phones:
            if contact_id in consented:
                continue
            digest = hashlib.sha256(f"{seed}:{phone}".encode()).digest()
            if int.from_bytes(digest[:4], "big") / 2**32 >= SAMPLE_CONSENT_SHARE:
                continue
            record_consent(session, contact_id, "sms", SAMPLE_CONSENT_SOURCE,
                           SAMPLE_CONSENT_WORDING, granted_at)
            added += 1
    return added


def _materializations(result) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    found = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            found[materialization.asset_key.to_user_string()] = {
                key: value.value for key, value in materialization.metadata.items()}
    return found


def run_outreach(job, market: Market, instance, seed: int,  # type: ignore[no-untyped-def]
                 echo: Callable[[str], None]) -> OutreachSummary:
    """The demo's outreach for one market: fictional consents for sample contacts, then the
    job `outreach_for_market` (enroll today's leads, reconcile, send what is due) at today
    10:00 New York time; nothing leaves the machine (the campaigns and markets are not live,
    so every allowed message goes to the outbox)."""
    from zoneinfo import ZoneInfo

    from outreach.ledger.db import ledger_engine, upgrade_ledger

    planned = datetime.combine(date.today(), DEMO_SEND_TIME, ZoneInfo(DEMO_SEND_ZONE))
    engine = ledger_engine()
    upgrade_ledger(engine)
    consents = record_sample_consents(engine, market, seed,
                                      planned.astimezone(UTC) - timedelta(days=30))
    engine.dispose()
    echo(f"Outreach for {market.code} (sends planned at {planned:%Y-%m-%d %H:%M %Z}) ...")
    send_config = {"config": {"now": planned.isoformat()}}
    run_config = {**QUIET_RUN_CONFIG, "ops": {
        "outreach__enrollments": {"config": {"today": planned.date().isoformat()}},
        "outreach__reconciliation": send_config, "outreach__sends": send_config}}
    started = time.perf_counter()
    log_file = settings.data_dir() / "logs" / f"demo_{market.code}_{job.name}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as log, contextlib.redirect_stdout(log):
        result = job.execute_in_process(partition_key=market.code, instance=instance,
                                        raise_on_error=False, run_config=run_config)
    found = _materializations(result)
    enrolled = found.get("outreach/enrollments", {})
    sent = found.get("outreach/sends", {})
    summary = OutreachSummary(
        code=market.code, enrolled=int(enrolled.get("enrolled", 0)),  # type: ignore[call-overload]
        outboxed=int(sent.get("outboxed", 0)), sent=int(sent.get("sent", 0)),  # type: ignore[call-overload]
        refused=dict(sent.get("refused_by_reason", {})),  # type: ignore[call-overload]
        deferred={reason: count for by_campaign in dict(
            sent.get("by_campaign", {})).values()  # type: ignore[call-overload]
            for reason, count in by_campaign.get("deferred_by_reason", {}).items()},
        consents_added=consents, succeeded=result.success)
    status = "ok" if result.success else "FAILED"
    echo(f"  {status} in {time.perf_counter() - started:.1f} s (run {result.run_id[:8]}): "
         f"enrolled {summary.enrolled}, outboxed {summary.outboxed}, refused "
         f"{sum(summary.refused.values())}{_by_reason(summary.refused)}"
         + (f", deferred {sum(summary.deferred.values())}{_by_reason(summary.deferred)}"
            if summary.deferred else ""))
    if not result.success:
        echo(f"  run output: {log_file}")
    return summary


def _by_reason(counts: dict[str, int]) -> str:
    if not counts:
        return ""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return " (" + ", ".join(f"{reason} {count}" for reason, count in ordered) + ")"


def run_demo(parcels: int = 50_000, seed: int = 42, market_codes: Sequence[str] | None = None,
             echo: Callable[[str], None] = print, contacts: bool = True,
             publish: bool = True, outreach: bool = True) -> bool:
    """Run the whole demo; returns True when every market materialized and passed its checks.
    With `contacts`, each market's sample contacts are then imported into the ledger and
    scrubbed against a fictional registry copy, and the lead coverage is reported. With
    `outreach` (and contacts), each market with contacts then enrolls its leads into the
    campaigns naming it and sends the due touches at today 10:00 New York time, to the
    outbox. With `publish`, the dashboards' snapshot is written last."""
    markets = load_markets()
    if market_codes:
        wanted = set(market_codes)
        unknown = wanted - {m.code for m in markets}
        if unknown:
            raise DemoError(f"unknown market code(s): {', '.join(sorted(unknown))}")
        markets = [m for m in markets if m.code in wanted]
    ensure_sample_data(markets, parcels, seed, echo, contacts=contacts)
    home = prepare_dagster_home()
    settings.export_for_subprocesses()

    import dagster as dg

    from pipelines.definitions import defs as load_definitions

    definitions = load_definitions()
    job = definitions.resolve_job_def("materialize_market")
    contacts_job = definitions.resolve_job_def("import_market_contacts")
    instance = dg.DagsterInstance.get()
    outcomes: list[tuple[str, float, bool, list[str]]] = []
    for market in markets:
        seconds, success, failed_checks = _run_job(job, market, instance, "Materializing", echo)
        outcomes.append((market.code, seconds, success, failed_checks))
    with_contacts = [m for m in markets if contacts and m.contacts.sources]
    if with_contacts:
        load_sample_registry(with_contacts, seed)
    contact_outcomes: dict[str, bool] = {}
    for market in with_contacts:
        seconds, success, failed_checks = _run_job(contacts_job, market, instance,
                                                   "Importing contacts for", echo)
        contact_outcomes[market.code] = success and not failed_checks

    outreach_outcomes: dict[str, bool] = {}
    if outreach and with_contacts:
        outreach_job = definitions.resolve_job_def("outreach_for_market")
        for market in with_contacts:
            if not contact_outcomes.get(market.code):
                continue
            summary = run_outreach(outreach_job, market, instance, seed, echo)
            outreach_outcomes[market.code] = summary.succeeded
        echo("Outreach: nothing is live, so every message the compliance gate allowed went "
             f"to the outbox ({settings.data_dir() / 'outbox'}); sample owners get a "
             "fictional SMS consent for a fixed share of their numbers.")

    published = True
    if publish:
        # the ledger (every market) into the warehouse, then the outreach marts, so the
        # snapshot carries the funnel, costs and ROI pages' tables too
        started = time.perf_counter()
        log_file = settings.data_dir() / "logs" / "demo_outreach_analytics.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("w") as log, contextlib.redirect_stdout(log):
            result = definitions.resolve_job_def("outreach_analytics").execute_in_process(
                instance=instance, raise_on_error=False, run_config=QUIET_RUN_CONFIG)
        published = result.success
        echo(f"Copying the ledger and building the outreach marts ... "
             f"{'ok' if published else 'FAILED'} in {time.perf_counter() - started:.1f} s")
        if not published:
            echo(f"  run output: {log_file}")
        started = time.perf_counter()
        result = definitions.resolve_job_def("publish_dashboards").execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET_RUN_CONFIG)
        published = published and result.success
        echo(f"Publishing the dashboards' snapshot ... "
             f"{'ok' if published else 'FAILED'} in {time.perf_counter() - started:.1f} s")

    summaries = []
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
        for code, seconds, success, checks in outcomes:
            summary = summarize(conn, code, seconds,
                                success and not checks and contact_outcomes.get(code, True)
                                and outreach_outcomes.get(code, True))
            if code in contact_outcomes:
                summary.coverage = _coverage(conn, next(m for m in markets if m.code == code))
            summaries.append(summary)
    _print_summary(summaries, echo)
    echo("")
    echo(f"Warehouse: {settings.warehouse_path()}   Dagster instance: {home}")
    echo("Open the Dagster UI (asset graph, one partition per market): wholesaler ui "
         "-> http://127.0.0.1:3000")
    return published and all(summary.succeeded for summary in summaries)


def _coverage(conn: duckdb.DuckDBPyConnection, market: Market) -> tuple[int, int]:
    from outreach.ledger.db import ledger_engine
    from pipelines.contacts_import import lead_coverage

    coverage = lead_coverage(conn, ledger_engine(), market)
    return coverage.leads, coverage.covered


def _print_summary(summaries: Sequence[MarketSummary], echo: Callable[[str], None]) -> None:
    echo("")
    echo(f"{'market':<14}{'parcels':>10}{'A':>8}{'B+':>8}{'B':>9}{'C':>10}"
         f"{'median ARV':>12}{'offers':>8}{'A/B+ reachable':>18}{'time':>8}  status")
    for s in summaries:
        arv = f"${s.median_arv:,.0f}" if s.median_arv is not None else "-"
        reach = "-"
        if s.coverage is not None:
            leads, covered = s.coverage
            reach = f"{covered:,} ({covered / leads:.0%})" if leads else "0"
        echo(f"{s.code:<14}{s.parcels:>10,}{s.tiers.get('A', 0):>8,}"
             f"{s.tiers.get('B+', 0):>8,}{s.tiers.get('B', 0):>9,}{s.tiers.get('C', 0):>10,}"
             f"{arv:>12}{s.offers:>8,}{reach:>18}{s.seconds:>7.1f}s  "
             f"{'ok' if s.succeeded else 'FAILED'}")
    if any(s.coverage is not None for s in summaries):
        echo("A/B+ reachable: Tier A and B+ leads whose owner has at least one sendable contact "
             "(a valid phone clear of every do-not-call list, or an email whose domain takes "
             "mail).")
