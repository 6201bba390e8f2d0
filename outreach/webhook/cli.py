"""`wholesaler webhook serve`: the webhook receiver on uvicorn (registered in pipelines/cli.py).
Configuration comes from the environment (outreach/webhook/settings.py, docs/webhook.md)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

webhook_app = typer.Typer(help="The webhook receiver: Twilio inbound SMS and status callbacks, "
                               "email unsubscribe links.", no_args_is_help=True)
log = logging.getLogger(__name__)


def _drop_color_message(record: logging.LogRecord) -> bool:
    """uvicorn adds an ANSI-coloured copy of its message as an extra field; the JSON lines
    have no use for it."""
    record.__dict__.pop("color_message", None)
    return True


@webhook_app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(
        help="Address to listen on (default WHOLESALER_WEBHOOK_HOST or 127.0.0.1; keep "
             "loopback behind a TLS proxy).")] = None,
    port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="Port (default WHOLESALER_WEBHOOK_PORT or 8787).")] = None,
    insecure_dev: Annotated[bool, typer.Option(
        "--insecure-dev", help="Accept webhooks WITHOUT checking X-Twilio-Signature (local "
                               "development only; logged loudly).")] = False,
) -> None:
    """Serve POST /twilio/sms, POST /twilio/status, GET|POST /unsubscribe/{token} and GET
    /healthz. Migrates the ledger first. Refuses to start without a Twilio signing token
    (TWILIO_AUTH_TOKEN or WHOLESALER_WEBHOOK_TWILIO_AUTH_TOKEN) unless --insecure-dev."""
    import uvicorn

    from outreach.ledger.db import ledger_engine, upgrade_ledger
    from outreach.replies.classify import ReplyClassifier
    from outreach.replies.sentiment import SentimentModelError
    from outreach.replies.settings import ReplySettingsError
    from outreach.webhook.app import create_app
    from outreach.webhook.settings import WebhookSettingsError, load_webhook_config
    from pipelines.logging_setup import configure_logging

    configure_logging(default_level="INFO")
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).addFilter(_drop_color_message)
    try:
        settings, config = load_webhook_config(insecure_dev=insecure_dev)
    except WebhookSettingsError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    try:
        classifier = ReplyClassifier.from_settings()
    except (ReplySettingsError, SentimentModelError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    engine = ledger_engine()
    upgrade_ledger(engine)
    app = create_app(engine, config, classifier=classifier,
                     process_workers=settings.wholesaler_webhook_process_workers)
    bind_host = host or settings.wholesaler_webhook_host
    bind_port = port or settings.wholesaler_webhook_port
    log.info("webhook receiver on http://%s:%s (public URL %s, signature check %s)",
             bind_host, bind_port, config.public_url or "not set",
             "OFF (--insecure-dev)" if config.insecure_dev else "on")
    # uvicorn's own records go to the root logger (redacting JSON handler); its access log
    # is off because AccessLogMiddleware logs each request with the unsubscribe token masked.
    uvicorn.run(app, host=bind_host, port=bind_port, log_config=None, access_log=False,
                server_header=False, timeout_graceful_shutdown=20)
