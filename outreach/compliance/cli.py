"""`wholesaler compliance …`: ask the compliance rules questions from the command line."""

from __future__ import annotations

import json
from typing import Annotated

import typer

compliance_app = typer.Typer(help="The compliance gate's rules (outreach/compliance).",
                             no_args_is_help=True)


@compliance_app.command("window")
def compliance_window(
    phone: Annotated[str, typer.Option(help="The recipient's number, E.164 (+18505550123).")],
    at: Annotated[str, typer.Option(
        help="The instant, ISO 8601 with a UTC offset (2026-11-21T19:30:00-05:00 or ...Z).")],
    state: Annotated[list[str] | None, typer.Option(
        help="A mailing or property address state (repeatable), e.g. --state GA.")] = None,
    zone: Annotated[list[str] | None, typer.Option(
        help="A further candidate IANA time zone (repeatable).")] = None,
) -> None:
    """May a text reach PHONE at AT? Prints the decision as JSON: allowed, the local time in
    every candidate zone and the rule applied (exit 0 either way). Exits 2, with a message, on
    an invalid number or instant."""
    from outreach.compliance.rules import RuleConfigError
    from outreach.compliance.window import InvalidPhoneError, parse_instant, window_decision

    try:
        instant = parse_instant(at)
        decision = window_decision(phone, instant, extra_states=state or (),
                                   extra_zones=zone or ())
    except InvalidPhoneError as error:
        typer.echo(f"error: invalid phone number: {error}", err=True)
        raise typer.Exit(2) from error
    except RuleConfigError as error:
        for problem in error.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from error
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(json.dumps(decision.as_dict(), indent=2, ensure_ascii=False))


@compliance_app.command("rules")
def compliance_rules() -> None:
    """Validate the rules files and print each jurisdiction's rules as JSON."""
    from outreach.compliance.rules import RuleConfigError, load_rule_set, rules_dir

    try:
        rule_set = load_rule_set(rules_dir())
    except RuleConfigError as error:
        for problem in error.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from error
    typer.echo(json.dumps({"version": rule_set.version, "directory": str(rule_set.directory),
                           "jurisdictions": [j.model_dump(mode="json")
                                             for j in rule_set.jurisdictions]}, indent=2))
