"""`wholesaler replies …`: classify a reply from the command line (registered in
pipelines/cli.py). Heavy imports (transformers, the LLM client) happen inside the command."""

from __future__ import annotations

import json
from typing import Annotated

import typer

replies_app = typer.Typer(help="Inbound replies: opt-out, sentiment and intent.",
                          no_args_is_help=True)


@replies_app.command("classify")
def classify_command(
    text: Annotated[str, typer.Argument(help="The reply's text.")],
    opt_out_type: Annotated[str | None, typer.Option(
        "--opt-out-type", help="Twilio's OptOutType for the message (STOP, START, HELP).")] = None,
    no_llm: Annotated[bool, typer.Option(
        "--no-llm", help="Use the deterministic rules even when an LLM is configured.")] = False,
) -> None:
    """Print JSON with intent, opt_out, sentiment, confidence and method (config: env, see
    docs/replies.md)."""
    from outreach.replies.classify import ReplyClassifier
    from outreach.replies.intent import IntentClassifier
    from outreach.replies.sentiment import SentimentModelError, sentiment_scorer
    from outreach.replies.settings import ReplySettingsError, reply_settings

    try:
        settings = reply_settings()
        intent = IntentClassifier() if no_llm else IntentClassifier.from_settings(settings)
        classifier = ReplyClassifier(intent, sentiment_scorer(settings))
    except (ReplySettingsError, SentimentModelError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    result = classifier.classify(text, opt_out_type)
    typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
