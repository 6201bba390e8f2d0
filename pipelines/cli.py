"""The `wholesaler` command line: markets, sample data, the demo run and the Dagster UI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from markets.loader import MarketConfigError, load_markets, market_files, validate_files
from outreach.campaigns.cli import campaigns_app
from outreach.cli import ledger_app
from outreach.compliance.cli import compliance_app
from outreach.deals_cli import deals_app
from outreach.replies.cli import replies_app
from outreach.webhook.cli import webhook_app
from pipelines.cli_backup import backup_command, restore_command, retention_app
from pipelines.cli_contacts import contacts_app, dnc_app
from pipelines.cli_operations import configure_cli_logging, doctor

app = typer.Typer(help="County-by-county wholesaling data pipeline.", no_args_is_help=True,
                  add_completion=False)
markets_app = typer.Typer(help="Market configuration (markets/*.yaml).", no_args_is_help=True)
app.add_typer(markets_app, name="markets")
scrape_app = typer.Typer(help="County scrapers: ArcGIS layers, property-appraiser pages.",
                         no_args_is_help=True)
app.add_typer(scrape_app, name="scrape")
app.add_typer(ledger_app, name="ledger")
app.add_typer(contacts_app, name="contacts")
app.add_typer(dnc_app, name="dnc")
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(compliance_app, name="compliance")
app.add_typer(replies_app, name="replies")
app.add_typer(deals_app, name="deals")
app.add_typer(webhook_app, name="webhook")
app.callback()(configure_cli_logging)
app.command("doctor")(doctor)
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.add_typer(retention_app, name="retention")


def _fail_with_problems(error: MarketConfigError) -> None:
    for problem in error.problems:
        typer.echo(f"error: {problem}", err=True)
    raise typer.Exit(2)


@markets_app.command("list")
def markets_list() -> None:
    """List the configured markets."""
    try:
        markets = load_markets()
    except MarketConfigError as error:
        _fail_with_problems(error)
    typer.echo(f"{'code':<14}{'name':<28}{'CO_NO':>6}  {'time zones':<20}{'sms policy':<18}"
               f"{'live':<6}roll (NAL)")
    for market in markets:
        nal = market.resolve_location(market.roll.nal)
        present = "" if nal.startswith(("http://", "https://")) or Path(nal).exists() \
            else "  (missing)"
        typer.echo(f"{market.code:<14}{market.name:<28}{market.dor_county_number:>6}  "
                   f"{','.join(market.time_zones):<20}{market.sms_policy:<18}"
                   f"{'yes' if market.live else 'no':<6}{market.roll.nal}{present}")


@markets_app.command("validate")
def markets_validate(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Market YAML files (default: every file in the markets folder).")] = None,
) -> None:
    """Validate market files; exits non-zero naming the file, the field and the reason."""
    paths = files or market_files()
    if not paths:
        typer.echo("error: no market files found", err=True)
        raise typer.Exit(2)
    markets, problems = validate_files(paths)
    for market in markets:
        if not any(problem.file == market.source_file for problem in problems):
            typer.echo(f"ok: {market.source_file} ({market.code})")
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    if problems:
        raise typer.Exit(1)


@markets_app.command("discover")
def markets_discover(
    server_url: Annotated[str, typer.Argument(
        help="ArcGIS REST services directory, e.g. https://host/arcgis/rest/services")],
    write: Annotated[Path | None, typer.Option(
        help="Write a market skeleton here (e.g. markets/<code>.yaml).")] = None,
    code: Annotated[str | None, typer.Option(
        help="Market code of the skeleton (default: the --write file's name).")] = None,
) -> None:
    """List the services, layers, fields, record counts and capabilities under an ArcGIS
    services directory; with --write, a market skeleton with distress layers mapped where the
    names make it clear and TODO where a person must decide."""
    from scrapers.discover import discover, market_skeleton
    from scrapers.http import PoliteClient, ScrapeError

    try:
        with PoliteClient() as client:
            layers = discover(client, server_url)
    except ScrapeError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    for layer in layers:
        capabilities = ", ".join(name for name, present in (
            ("pagination", layer.supports_pagination), ("statistics", layer.supports_statistics),
            ("geojson", layer.supports_geojson)) if present) or "none"
        typer.echo(f"{layer.url}\n  {layer.service} / {layer.name} ({layer.geometry_type}): "
                   f"{layer.record_count if layer.record_count is not None else '?'} records, "
                   f"maxRecordCount {layer.max_record_count}, {capabilities}\n"
                   f"  fields: {', '.join(layer.fields)}")
        if layer.kind:
            typer.echo(f"  looks like {layer.kind}; field_map guess: {layer.field_map}")
    if write is not None:
        if write.exists():
            typer.echo(f"error: {write} exists; not overwriting it", err=True)
            raise typer.Exit(2)
        write.write_text(market_skeleton(code or write.stem, server_url, layers))
        typer.echo(f"wrote {write}; fill in its TODOs, then: wholesaler markets validate {write}")


@app.command("sample-data")
def sample_data(
    out: Annotated[Path, typer.Option(help="Folder to write <market>/ files into.")],
    markets: Annotated[list[str] | None, typer.Option(
        "--markets", help="Market codes (default: all configured).")] = None,
    parcels: Annotated[int, typer.Option(min=1, help="Parcels per market.")] = 50_000,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 42,
) -> None:
    """Write fictional FL DOR NAL/SDF files and distress lists for the markets."""
    from pipelines.demo import sample_markets, write_sample_stamp
    from scrapers.fl_dor.sample import generate

    try:
        chosen = sample_markets(markets)
    except MarketConfigError as error:
        _fail_with_problems(error)
    except KeyError as error:
        typer.echo(f"error: {error.args[0]}", err=True)
        raise typer.Exit(2) from error
    for files in generate(out, chosen, parcels=parcels, seed=seed):
        write_sample_stamp(files.nal.parent, parcels, seed)
        typer.echo(f"{files.market_code}: {files.parcels} parcels -> {files.nal.parent}")


@app.command()
def demo(
    parcels: Annotated[int, typer.Option(min=100, help="Sample parcels per market.")] = 50_000,
    seed: Annotated[int, typer.Option(help="Sample-data seed.")] = 42,
    markets: Annotated[list[str] | None, typer.Option(
        "--markets", help="Market codes (default: all configured).")] = None,
    contacts: Annotated[bool, typer.Option(
        "--contacts/--no-contacts",
        help="Also import the sample contacts into the ledger and report lead coverage.")]
        = True,
    publish: Annotated[bool, typer.Option(
        "--publish/--no-publish", help="Write the dashboards' snapshot at the end.")] = True,
    outreach: Annotated[bool, typer.Option(
        "--outreach/--no-outreach",
        help="After the contacts, enroll leads and send the due touches to the outbox.")]
        = True,
) -> None:
    """Generate sample data when missing, materialize every market through Dagster, import
    the sample contacts, and print parcels, leads per tier, median ARV, offers and the share
    of A/B+ leads with a sendable contact per market."""
    from pipelines.demo import DemoError, run_demo

    try:
        ok = run_demo(parcels=parcels, seed=seed, market_codes=markets, echo=typer.echo,
                      contacts=contacts, publish=publish, outreach=outreach)
    except MarketConfigError as error:
        _fail_with_problems(error)
    except DemoError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    if not ok:
        raise typer.Exit(1)


@app.command()
def ui(port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000) -> None:
    """Open the Dagster UI (dagster dev) on the `pipelines` code location."""
    from pipelines import settings
    from pipelines.demo import prepare_dagster_home

    home = prepare_dagster_home()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    typer.echo(f"Dagster UI on http://127.0.0.1:{port} (DAGSTER_HOME={home})")
    command = [sys.executable, "-m", "dagster", "dev", "-w",
               str(settings.PROJECT_ROOT / "workspace.yaml"), "-p", str(port)]
    raise typer.Exit(subprocess.call(command, env=env, cwd=settings.PROJECT_ROOT))


@scrape_app.command("appraiser")
def scrape_appraiser(
    parcel_ids: Annotated[list[str], typer.Argument(help="Parcel ids to read.")],
    market: Annotated[str, typer.Option("--market", help="Market code (its `appraiser` block).")],
    url_pattern: Annotated[str | None, typer.Option(
        "--url-pattern", help="Override the parcel URL pattern (must contain {parcel_id}).")
    ] = None,
    kind: Annotated[str | None, typer.Option(
        "--kind", help="Override the site kind: static_html or javascript.")] = None,
    field: Annotated[list[str] | None, typer.Option(
        "--field", help="Override one field's locator: NAME=CSS or NAME=label:TEXT.")] = None,
    record: Annotated[bool, typer.Option(
        "--record", help="Store each owner mailing address read in the ledger, with the page "
                         "and time as its source.")] = False,
) -> None:
    """Read owner, mailing address and building facts from the property appraiser's pages;
    one JSON object per parcel. Exits 3 at the first bot wall (reported, never bypassed), 1
    when any parcel failed otherwise, 2 on configuration errors. With --record, the addresses
    found are stored on the ledger's owners of those parcels (a summary line follows)."""
    import json

    from markets.loader import load_market
    from scrapers.appraiser.records import AppraiserError, BotWallError, ParcelRecord
    from scrapers.appraiser.scraper import SiteConfigError, open_scraper, site_with_overrides
    from scrapers.http import DisallowedByRobots

    try:
        chosen = load_market(market)
        site = site_with_overrides(chosen.appraiser, kind=kind, url_pattern=url_pattern,
                                   fields=field)
    except MarketConfigError as error:
        _fail_with_problems(error)
    except KeyError as error:
        typer.echo(f"error: {error.args[0]}", err=True)
        raise typer.Exit(2) from error
    except SiteConfigError as error:
        for problem in error.problems:
            typer.echo(f"error: {market}: {problem}", err=True)
        raise typer.Exit(2) from error
    failed = False
    found: list[ParcelRecord] = []
    with open_scraper(site, chosen.scraping) as scraper:
        for parcel_id in parcel_ids:
            try:
                result = scraper.scrape(parcel_id)
                if isinstance(result, ParcelRecord):
                    found.append(result)
                output = result.to_json_dict()
            except BotWallError as error:
                typer.echo(json.dumps(error.to_json_dict(parcel_id)))
                typer.echo(f"error: {error}; stopping (remaining parcels not requested)",
                           err=True)
                raise typer.Exit(3) from error
            except AppraiserError as error:
                output, failed = error.to_json_dict(parcel_id), True
            except DisallowedByRobots as error:
                output = {"status": "disallowed_by_robots", "parcel_id": parcel_id,
                          "error": str(error)}
                failed = True
            typer.echo(json.dumps(output))
    if record:
        from outreach.ledger.db import ledger_engine, upgrade_ledger
        from pipelines.contacts_import import record_appraiser_addresses

        engine = ledger_engine()
        upgrade_ledger(engine)
        report = record_appraiser_addresses(engine, chosen.code, found)
        typer.echo(json.dumps({"recorded_addresses": report.addresses_added,
                               "unlinked_parcels": list(report.unlinked_parcels)}))
    if failed:
        raise typer.Exit(1)


@scrape_app.command("arcgis")
def scrape_arcgis(
    layer_url: Annotated[str, typer.Argument(help="ArcGIS layer URL (.../FeatureServer/0).")],
    out: Annotated[Path, typer.Option(help="Output file: one GeoJSON Feature per line.")],
    where: Annotated[str, typer.Option(help="SQL filter of the layer's rows.")] = "1=1",
    fields: Annotated[str | None, typer.Option(
        help="Comma-separated fields (default: all; the object id is always added).")] = None,
    page_size: Annotated[int | None, typer.Option(
        min=1, help="Features per request (default and ceiling: the layer's maxRecordCount).")
    ] = None,
    method: Annotated[str | None, typer.Option(
        help="Force paging: offset, statistics or ids (default: the best the layer has).")
    ] = None,
    market: Annotated[str | None, typer.Option(
        help="Take politeness settings from this market's `scraping` block.")] = None,
    requests_per_second: Annotated[float | None, typer.Option(
        help="Most request starts per second to the host.")] = None,
    max_concurrency: Annotated[int | None, typer.Option(
        help="Most requests in flight to the host.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per request.")] = None,
    max_attempts: Annotated[int | None, typer.Option(help="Attempts per request.")] = None,
    contact: Annotated[str | None, typer.Option(
        help="URL or email for the User-Agent.")] = None,
) -> None:
    """Dump an ArcGIS REST layer to GeoJSON lines, resuming an interrupted dump of the same
    query; prints a JSON summary. Exits 1 when rows differ from the server's count or an object
    id repeats, 2 when the dump fails (the error names the URL, attempts and last error)."""
    import json

    from pydantic import ValidationError

    from markets.schema import ScrapingPolicy
    from scrapers.arcgis import dump_layer
    from scrapers.http import PoliteClient, ScrapeError

    base = ScrapingPolicy()
    if market is not None:
        try:
            chosen = [m for m in load_markets() if m.code == market]
        except MarketConfigError as error:
            _fail_with_problems(error)
        if not chosen:
            typer.echo(f"error: no market {market!r}", err=True)
            raise typer.Exit(2)
        base = chosen[0].scraping
    overrides = {key: value for key, value in {
        "requests_per_second": requests_per_second, "max_concurrency": max_concurrency,
        "timeout_seconds": timeout, "max_attempts": max_attempts, "contact": contact,
    }.items() if value is not None}
    try:
        policy = ScrapingPolicy(**{**base.model_dump(), **overrides})
    except ValidationError as error:
        for problem in error.errors():
            typer.echo(f"error: {problem['loc'][0]}: {problem['msg']}", err=True)
        raise typer.Exit(2) from error
    try:
        with PoliteClient(policy) as client:
            summary = dump_layer(client, layer_url, out, where=where,
                                 fields=fields.split(",") if fields else None,
                                 page_size=page_size, method=method)
    except ScrapeError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(json.dumps(summary.to_dict(), indent=2))
    typer.echo(summary.describe(), err=True)
    if not summary.verified:
        raise typer.Exit(1)


@app.command()
def dashboard(
    port: Annotated[int, typer.Option(help="Port of the dashboards.")] = 8501,
    address: Annotated[str, typer.Option(
        help="Address to listen on (loopback unless a proxy in front needs otherwise).")]
        = "127.0.0.1",
) -> None:
    """Open the Streamlit dashboards on the published snapshot (users and roles from
    WHOLESALER_DASHBOARD_USERS or data/secrets/dashboard_users.yaml, else one viewer password
    from WHOLESALER_DASHBOARD_PASSWORD; the demo's is generated under data/secrets/)."""
    from dashboards.access import PASSWORD_ENV, configured_password, users_file_path
    from pipelines import settings

    users = users_file_path()
    if users is not None:
        where = f"users: {users}"
    else:
        configured_password()
        where = "password: " + (f"${PASSWORD_ENV}" if os.environ.get(PASSWORD_ENV)
                                else str(settings.secrets_dir() / "dashboard_password"))
    typer.echo(f"Dashboards on http://{address}:{port} ({where})")
    command = [sys.executable, "-m", "streamlit", "run",
               str(settings.PROJECT_ROOT / "dashboards" / "streamlit_app.py"),
               "--server.headless", "true", "--server.port", str(port),
               "--server.address", address,
               "--browser.gatherUsageStats", "false"]
    raise typer.Exit(subprocess.call(command, cwd=settings.PROJECT_ROOT))


if __name__ == "__main__":
    app()
