"""`wholesaler backup`, `wholesaler restore` and `wholesaler retention purge`: copies of the
embedded stores and the purge of personal data past its retention (pipelines/backup.py,
pipelines/retention.py; docs/operations.md is the runbook)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

retention_app = typer.Typer(help="Purge personal data past its retention "
                                 "(WHOLESALER_RETENTION_DAYS); opt-outs and consent stay.",
                            no_args_is_help=True)


def backup_command(
    out: Annotated[Path, typer.Option("--out", help="A new (or empty) folder for the backup.")],
) -> None:
    """Copy the embedded stores (SQLite ledger, DuckDB warehouse, SQLite Dagster instance,
    market files, rejects) into OUT with a manifest of checksums. The PII keys are NOT
    included: keep them apart. Exits 1 when a store cannot be copied consistently (a writer
    holds the warehouse)."""
    from pipelines.backup import BackupError, backup

    try:
        report = backup(out, echo=lambda line: typer.echo(f"copying {line}", err=True))
    except BackupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    manifest = report.manifest
    typer.echo(json.dumps({
        "backup": str(report.folder), "files": len(manifest["files"]),
        "bytes": sum(entry["bytes"] for entry in manifest["files"]),
        "ledger_revision": manifest["ledger"].get("revision"),
        "included": {store: manifest[store]["included"]
                     for store in ("ledger", "warehouse", "dagster", "markets", "rejects")},
        "notes": [*report.notes, manifest["pii_keys"]["note"]]}, indent=2))


def restore_command(
    source: Annotated[Path, typer.Option("--from", help="A folder written by `backup`.")],
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Restore into this data folder's default layout (outreach.db, "
                           "warehouse.duckdb, dagster_home/, rejects/, markets/) instead of "
                           "the locations the environment names.")] = None,
    markets_dir: Annotated[Path | None, typer.Option(
        "--markets-dir", help="Where the market files go (default: <data-dir>/markets with "
                              "--data-dir, else the markets folder in use).")] = None,
) -> None:
    """Verify every checksum of a backup, then restore it where no store exists yet. Exits 1
    when verification fails or a target file exists (nothing is overwritten)."""
    from pipelines.backup import RestoreError, StoreLocations, restore

    if data_dir is not None:
        locations = StoreLocations.under(data_dir, markets_dir)
    else:
        locations = StoreLocations.from_settings()
        if markets_dir is not None:
            locations = StoreLocations(locations.ledger_url, locations.warehouse,
                                       locations.dagster_home, markets_dir,
                                       locations.rejects_dir)
    try:
        report = restore(source, locations)
    except RestoreError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(json.dumps({"restored_files": len(report.restored),
                           "ledger_revision": report.ledger_revision,
                           "warnings": report.warnings}, indent=2))
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)


@retention_app.command("purge")
def retention_purge(
    days: Annotated[int | None, typer.Option(
        min=1, help="Retention in days (default: WHOLESALER_RETENTION_DAYS, else 365).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="List what would be purged; delete nothing.")] = False,
) -> None:
    """Delete personal data older than the retention (today: contact-import rejects files),
    writing each deletion to the audit log; opt-outs, consent and DNC records are kept."""
    from outreach.ledger.db import ledger_engine, upgrade_ledger
    from pipelines.retention import RetentionSettingError, purge_expired

    engine = ledger_engine()
    try:
        upgrade_ledger(engine)
        report = purge_expired(engine, days=days, dry_run=dry_run)
    except RetentionSettingError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    finally:
        engine.dispose()
    typer.echo(json.dumps(report.to_dict(), indent=2))
