"""The `wholesaler` command line: markets, sample data, the demo run and the Dagster UI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from markets.loader import MarketConfigError, load_markets, market_files, validate_files

app = typer.Typer(help="County-by-county wholesaling data pipeline.", no_args_is_help=True,
                  add_completion=False)
markets_app = typer.Typer(help="Market configuration (markets/*.yaml).", no_args_is_help=True)
app.add_typer(markets_app, name="markets")


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
) -> None:
    """Generate sample data when missing, materialize every market through Dagster, and print
    parcels, leads per tier, median ARV and offers per market."""
    from pipelines.demo import DemoError, run_demo

    try:
        ok = run_demo(parcels=parcels, seed=seed, market_codes=markets, echo=typer.echo)
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


if __name__ == "__main__":
    app()
