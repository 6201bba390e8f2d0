"""The demo run: sample data where a market's files are missing, every market materialized
through Dagster (one partition each, recorded in the local Dagster instance so the UI shows
the runs), then a per-market summary read from the marts."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    return [market.resolve_location(market.roll.nal), market.resolve_location(market.roll.sdf),
            *(market.resolve_location(s.location) for s in market.distress_sources)]


def ensure_sample_data(markets: Sequence[Market], parcels: int, seed: int,
                       echo: Callable[[str], None]) -> None:
    """Generate sample files for markets that point at the sample folder and whose files are
    missing or were generated with other settings; other missing files are an error."""
    sample_root = settings.data_dir() / "sample"
    to_generate = []
    for market in markets:
        target = _sample_target(market)
        expected = sample_paths(sample_root, target)
        sample_files = {str(p) for p in (expected.nal, expected.sdf, expected.code_violations,
                                         expected.lis_pendens, expected.tax_deed_applications)}
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
    if not to_generate:
        return
    echo(f"Generating sample data ({parcels:,} parcels per market, seed {seed}) for "
         f"{', '.join(t.code for t, _ in to_generate)} ...")
    started = time.perf_counter()
    generate(sample_root, [t for t, _ in to_generate], parcels=parcels, seed=seed)
    for _, stamp in to_generate:
        write_sample_stamp(stamp.parent, parcels, seed)
    echo(f"  done in {time.perf_counter() - started:.1f} s -> {sample_root}")


@dataclass
class MarketSummary:
    code: str
    parcels: int
    tiers: dict[str, int]
    median_arv: float | None
    offers: int
    seconds: float
    succeeded: bool


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


def run_demo(parcels: int = 50_000, seed: int = 42, market_codes: Sequence[str] | None = None,
             echo: Callable[[str], None] = print) -> bool:
    """Run the whole demo; returns True when every market materialized and passed its checks."""
    markets = load_markets()
    if market_codes:
        wanted = set(market_codes)
        unknown = wanted - {m.code for m in markets}
        if unknown:
            raise DemoError(f"unknown market code(s): {', '.join(sorted(unknown))}")
        markets = [m for m in markets if m.code in wanted]
    ensure_sample_data(markets, parcels, seed, echo)
    home = prepare_dagster_home()
    settings.export_for_subprocesses()

    import dagster as dg

    from pipelines.definitions import defs as load_definitions

    definitions = load_definitions()
    job = definitions.resolve_job_def("materialize_market")
    instance = dg.DagsterInstance.get()
    outcomes: list[tuple[str, float, bool, list[str]]] = []
    for market in markets:
        echo(f"Materializing {market.code} ...")
        started = time.perf_counter()
        log_file = settings.data_dir() / "logs" / f"demo_{market.code}.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("w") as log, contextlib.redirect_stdout(log):
            result = job.execute_in_process(partition_key=market.code, instance=instance,
                                            raise_on_error=False, run_config=QUIET_RUN_CONFIG)
        seconds = time.perf_counter() - started
        failed_checks = [
            f"{event.asset_check_evaluation_data.asset_key.to_user_string()}:"
            f"{event.asset_check_evaluation_data.check_name}"
            for event in result.all_events
            if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
            and not event.asset_check_evaluation_data.passed
        ]
        checks_run = sum(1 for event in result.all_events
                         if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        outcomes.append((market.code, seconds, result.success, failed_checks))
        status = "ok" if result.success and not failed_checks else "FAILED"
        echo(f"  {status} in {seconds:.1f} s, {checks_run} checks (run {result.run_id[:8]})")
        for check in failed_checks:
            echo(f"  failed check: {check}")
        if not result.success:
            failure = next((event for event in result.all_events
                            if event.event_type == dg.DagsterEventType.STEP_FAILURE), None)
            if failure is not None:
                echo(f"  step {failure.step_key} failed: "
                     f"{failure.step_failure_data.error.message.strip()}")
            echo(f"  dbt output: {log_file}")

    summaries = []
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
        for code, seconds, success, checks in outcomes:
            summaries.append(summarize(conn, code, seconds, success and not checks))
    _print_summary(summaries, echo)
    echo("")
    echo(f"Warehouse: {settings.warehouse_path()}   Dagster instance: {home}")
    echo("Open the Dagster UI (asset graph, one partition per market): wholesaler ui "
         "-> http://127.0.0.1:3000")
    return all(summary.succeeded for summary in summaries)


def _print_summary(summaries: Sequence[MarketSummary], echo: Callable[[str], None]) -> None:
    echo("")
    echo(f"{'market':<14}{'parcels':>12}{'A':>10}{'B+':>10}{'B':>10}{'C':>12}"
         f"{'median ARV':>13}{'offers':>10}{'time':>9}  status")
    for s in summaries:
        arv = f"${s.median_arv:,.0f}" if s.median_arv is not None else "-"
        echo(f"{s.code:<14}{s.parcels:>12,}{s.tiers.get('A', 0):>10,}"
             f"{s.tiers.get('B+', 0):>10,}{s.tiers.get('B', 0):>10,}{s.tiers.get('C', 0):>12,}"
             f"{arv:>13}{s.offers:>10,}{s.seconds:>8.1f}s  {'ok' if s.succeeded else 'FAILED'}")
