"""Configuration of the webhook receiver (`wholesaler webhook serve`), read from the environment
and validated by pydantic; an error names the variable.

Variables (all optional; docs/webhook.md explains them, deploy/env/wholesaler.env.example
lists them):

- `WHOLESALER_WEBHOOK_PUBLIC_URL`: the receiver's base URL as Twilio sees it, e.g.
  ``https://hooks.example.com`` (or ``https://example.com/wholesaler`` when a proxy strips a
  path prefix). Twilio signs the exact URL it posted to; behind a TLS proxy the URL the app
  sees (``http://127.0.0.1:8787/...``) differs, so signatures are checked against this base
  plus the request's path and query. Unset: the request's own URL (only right when Twilio
  reaches the app directly).
- `WHOLESALER_WEBHOOK_HOST` (default ``127.0.0.1``), `WHOLESALER_WEBHOOK_PORT` (default
  ``8787``): where uvicorn listens (the CLI's ``--host``/``--port`` override them).
- `WHOLESALER_WEBHOOK_TWILIO_AUTH_TOKEN`: the token Twilio signs webhooks with, when it is
  not `TWILIO_AUTH_TOKEN`: with an API key (`TWILIO_API_KEY_SID`), `TWILIO_AUTH_TOKEN` holds
  the key's secret, but Twilio still signs with the account's auth token.
- `WHOLESALER_WEBHOOK_MAX_BODY_BYTES` (default 65536): larger request bodies get 413.
- `WHOLESALER_WEBHOOK_PROCESS_WORKERS` (default 2): replies classified at once after the
  answer to Twilio (each may wait on the LLM).

The signing token is `WHOLESALER_WEBHOOK_TWILIO_AUTH_TOKEN`, else `TWILIO_AUTH_TOKEN` when
no API key is configured (`outreach.service_settings.TwilioSettings`). Without one the
receiver refuses to start unless it is started with ``--insecure-dev`` (unsigned webhooks
could forge opt-ins and opt-outs). ``--insecure-dev`` turns the signature check off
altogether (even when a token is configured), and says so loudly in the log.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from outreach.service_settings import ServiceSettingsError, TwilioSettings, _pick, twilio_settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787


class WebhookSettingsError(ValueError):
    """The receiver cannot start with this configuration; the message names the variable."""


class WebhookSettings(BaseModel):
    """Field names are the environment variables, lower-cased."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wholesaler_webhook_public_url: str | None = Field(default=None,
                                                      pattern=r"^https?://[^/?#]+[^?#]*$")
    wholesaler_webhook_host: str = Field(default=DEFAULT_HOST, min_length=1)
    wholesaler_webhook_port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    wholesaler_webhook_twilio_auth_token: SecretStr | None = None
    wholesaler_webhook_max_body_bytes: int = Field(default=65536, ge=1024, le=10_000_000)
    wholesaler_webhook_process_workers: int = Field(default=2, ge=1, le=32)

    @field_validator("wholesaler_webhook_public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value


def webhook_settings(environ: Mapping[str, str] | None = None) -> WebhookSettings:
    """Webhook settings from `environ` (default: the process environment); empty means unset."""
    try:
        result = _pick(WebhookSettings, os.environ if environ is None else environ)
    except ServiceSettingsError as error:
        raise WebhookSettingsError(str(error)) from None
    assert isinstance(result, WebhookSettings)
    return result


@dataclass(frozen=True)
class WebhookConfig:
    """What the app needs at run time: the public base URL, the signing token (None only in
    insecure development mode) and the body size limit."""

    public_url: str | None
    auth_token: SecretStr | None
    insecure_dev: bool = False
    max_body_bytes: int = 65536

    def __post_init__(self) -> None:
        if self.auth_token is None and not self.insecure_dev:
            raise WebhookSettingsError("no Twilio signing token and not --insecure-dev")


def signing_token(settings: WebhookSettings, twilio: TwilioSettings) -> SecretStr | None:
    """The token Twilio signs webhooks with (see the module docstring), or None."""
    token = settings.wholesaler_webhook_twilio_auth_token
    if token is not None and token.get_secret_value():
        return token
    if twilio.twilio_api_key_sid is None and twilio.twilio_auth_token is not None \
            and twilio.twilio_auth_token.get_secret_value():
        return twilio.twilio_auth_token
    return None


def load_webhook_config(environ: Mapping[str, str] | None = None, *,
                        insecure_dev: bool = False) -> tuple[WebhookSettings, WebhookConfig]:
    """Settings and run-time config from the environment. Raises `WebhookSettingsError`
    (naming the variable) when a value is invalid or no signing token is configured and
    `insecure_dev` is false."""
    settings = webhook_settings(environ)
    try:
        twilio = twilio_settings(environ)
    except ServiceSettingsError as error:
        raise WebhookSettingsError(str(error)) from None
    token = signing_token(settings, twilio)
    if token is None and not insecure_dev:
        why = ("TWILIO_API_KEY_SID is set, so TWILIO_AUTH_TOKEN is the API key's secret, "
               "which Twilio does not sign webhooks with; set "
               "WHOLESALER_WEBHOOK_TWILIO_AUTH_TOKEN to the account's auth token"
               if twilio.twilio_api_key_sid else
               "set TWILIO_AUTH_TOKEN (or WHOLESALER_WEBHOOK_TWILIO_AUTH_TOKEN)")
        raise WebhookSettingsError(
            f"environment: no token to check X-Twilio-Signature with: {why}. Without it "
            "anyone could post forged opt-ins and opt-outs; --insecure-dev skips the check "
            "for local development only")
    config = WebhookConfig(public_url=settings.wholesaler_webhook_public_url,
                           auth_token=token, insecure_dev=insecure_dev,
                           max_body_bytes=settings.wholesaler_webhook_max_body_bytes)
    return settings, config
