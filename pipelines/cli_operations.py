"""Operator commands of the `wholesaler` CLI: `wholesaler doctor`, and the logging set-up every
command shares (structured JSON lines on stderr with personal data redacted; see
pipelines/logging_setup.py). Registered in pipelines/cli.py."""

from __future__ import annotations

from typing import Annotated

import typer


def configure_cli_logging() -> None:
    """Root callback: JSON log lines on stderr (`WHOLESALER_LOG_FORMAT=text` for plain lines,
    `WHOLESALER_LOG_LEVEL` for the level, default WARNING), phones, emails and names redacted."""
    from pipelines.logging_setup import configure_logging

    configure_logging(default_level="WARNING")


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    disk_warn_gb: Annotated[float | None, typer.Option(
        help="Warn below this many GB free for the data folder (default 10, or "
             "WHOLESALER_DOCTOR_DISK_WARN_GB).")] = None,
    disk_fail_gb: Annotated[float | None, typer.Option(
        help="Fail below this many GB free (default 1, or WHOLESALER_DOCTOR_DISK_FAIL_GB).")]
        = None,
    timeout: Annotated[float | None, typer.Option(
        help="Seconds per network check (default 10, or WHOLESALER_DOCTOR_TIMEOUT_SECONDS).")]
        = None,
) -> None:
    """Check configuration and connectivity without sending anything: market files,
    warehouse, ledger and its migrations, PII keys, do-not-call registry age, Twilio and SMTP
    credentials, LLM, sentiment model, disk. Prints pass / warn / fail with the fix for each
    problem; exits 1 when any check fails, 2 when the doctor's own options are invalid."""
    from pipelines.doctor import (
        DoctorOptions,
        DoctorOptionsError,
        has_failures,
        report_json,
        report_table,
        run_checks,
    )

    try:
        options = DoctorOptions.from_environment(disk_warn_gb=disk_warn_gb,
                                                 disk_fail_gb=disk_fail_gb,
                                                 timeout_seconds=timeout)
    except DoctorOptionsError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    results = run_checks(options)
    typer.echo(report_json(results) if as_json else report_table(results))
    if has_failures(results):
        raise typer.Exit(1)
