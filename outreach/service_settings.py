"""Credentials and endpoints of the external services, in one place, read from the environment.

Every variable (all optional; a service whose credentials are missing is "not configured" and
the code that needs it says so, or falls back to the outbox / skips an optional step):

Twilio (SMS and Lookup)
- `TWILIO_ACCOUNT_SID`: the account SID (``AC`` + 32 hex digits).
- `TWILIO_AUTH_TOKEN`: the account's auth token (or an API key secret when
  `TWILIO_API_KEY_SID` is set).
- `TWILIO_API_KEY_SID`: optional API key SID (``SK…``) to authenticate with instead of the
  account SID; the account SID still names the account.
- `TWILIO_MESSAGING_SERVICE_SID`: the Messaging Service (``MG…``) that sends SMS.
- `WHOLESALER_TWILIO_BASE_URL`: send every Twilio request to this base URL instead of
  ``https://*.twilio.com`` (tests point it at tests/twilio_server.py). Unset in production.

Twilio Lookup (line type of phone contacts; `contacts.line_type`)
- `WHOLESALER_LINE_TYPE_LOOKUP`: ``1``/``true`` to allow paid lookups (default off; they also
  need the Twilio credentials above).
- `WHOLESALER_LINE_TYPE_MAX_AGE_DAYS`: reuse a stored lookup for this many days (default 180).

Skip-trace API (`contacts.providers.http_api`, shape in docs/contacts.md)
- `WHOLESALER_SKIP_TRACE_URL`: the provider's batch endpoint; unset means not configured.
- `WHOLESALER_SKIP_TRACE_API_KEY`: sent as ``Authorization: Bearer <key>``.
- `WHOLESALER_SKIP_TRACE_BATCH_SIZE` (default 100), `WHOLESALER_SKIP_TRACE_REQUESTS_PER_SECOND`
  (default 1).

SMTP (email; `wholesaler doctor` checks them with EHLO, STARTTLS and AUTH, never a send)
- `SMTP_HOST`: the provider's submission server; unset means email is not configured.
- `SMTP_PORT`: default 587.
- `SMTP_USERNAME`, `SMTP_PASSWORD`: AUTH credentials (unset: no AUTH, e.g. a local relay).
- `SMTP_STARTTLS`: ``true`` (default) upgrades the connection before AUTH.

Values are validated by pydantic; an error names the variable and the reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator


class ServiceSettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


class TwilioSettings(BaseModel):
    """Twilio credentials and where to reach it. Field names are the environment variables,
    lower-cased."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    twilio_account_sid: str | None = Field(default=None, pattern=r"^AC[0-9a-fA-F]{32}$")
    twilio_auth_token: SecretStr | None = None
    twilio_api_key_sid: str | None = Field(default=None, pattern=r"^SK[0-9a-fA-F]{32}$")
    twilio_messaging_service_sid: str | None = Field(default=None,
                                                     pattern=r"^MG[0-9a-fA-F]{32}$")
    wholesaler_twilio_base_url: str | None = Field(default=None, pattern=r"^https?://[^/]+")

    @field_validator("wholesaler_twilio_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @property
    def is_configured(self) -> bool:
        """True when there are credentials to call Twilio with."""
        return bool(self.twilio_account_sid and self.twilio_auth_token
                    and self.twilio_auth_token.get_secret_value())

    @property
    def username(self) -> str | None:
        return self.twilio_api_key_sid or self.twilio_account_sid


class LineTypeLookupSettings(BaseModel):
    """Whether paid Twilio line-type lookups may run, and how long a result is reused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wholesaler_line_type_lookup: bool = False
    wholesaler_line_type_max_age_days: int = Field(default=180, ge=0, le=3650)


class SmtpServerSettings(BaseModel):
    """The SMTP server email is handed to. Field names are the environment variables,
    lower-cased."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    smtp_host: str | None = Field(default=None, min_length=1)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True

    @property
    def is_configured(self) -> bool:
        """True when there is a server to hand email to."""
        return bool(self.smtp_host)


class SkipTraceApiSettings(BaseModel):
    """A paid skip-trace API. Field names are the environment variables, lower-cased."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wholesaler_skip_trace_url: str | None = Field(default=None, pattern=r"^https?://[^/]+")
    wholesaler_skip_trace_api_key: SecretStr | None = None
    wholesaler_skip_trace_batch_size: int = Field(default=100, ge=1, le=10_000)
    wholesaler_skip_trace_requests_per_second: float = Field(default=1.0, gt=0, le=100)

    @property
    def is_configured(self) -> bool:
        return bool(self.wholesaler_skip_trace_url and self.wholesaler_skip_trace_api_key)


def skip_trace_api_settings(environ: Mapping[str, str] | None = None) -> SkipTraceApiSettings:
    """Skip-trace API settings from `environ` (default: the process environment)."""
    result = _pick(SkipTraceApiSettings, os.environ if environ is None else environ)
    assert isinstance(result, SkipTraceApiSettings)
    return result


class ServiceSettings(BaseModel):
    """All external-service settings (see the module docstring for the variables)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    twilio: TwilioSettings = TwilioSettings()
    line_type_lookup: LineTypeLookupSettings = LineTypeLookupSettings()
    smtp: SmtpServerSettings = SmtpServerSettings()


def _pick(model: type[BaseModel], environ: Mapping[str, str]) -> BaseModel:
    values = {}
    for name in model.model_fields:
        raw = environ.get(name.upper())
        if raw is not None and raw.strip() != "":
            values[name] = raw.strip()
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{str(problem['loc'][0]).upper()}: {problem['msg']}" for problem in error.errors())
        raise ServiceSettingsError(f"environment: {problems}") from None


def twilio_settings(environ: Mapping[str, str] | None = None) -> TwilioSettings:
    """Twilio settings from `environ` (default: the process environment)."""
    result = _pick(TwilioSettings, os.environ if environ is None else environ)
    assert isinstance(result, TwilioSettings)
    return result


def line_type_lookup_settings(environ: Mapping[str, str] | None = None) -> LineTypeLookupSettings:
    result = _pick(LineTypeLookupSettings, os.environ if environ is None else environ)
    assert isinstance(result, LineTypeLookupSettings)
    return result


def smtp_server_settings(environ: Mapping[str, str] | None = None) -> SmtpServerSettings:
    """SMTP settings from `environ` (default: the process environment)."""
    result = _pick(SmtpServerSettings, os.environ if environ is None else environ)
    assert isinstance(result, SmtpServerSettings)
    return result


def service_settings(environ: Mapping[str, str] | None = None) -> ServiceSettings:
    """Every service's settings from `environ` (default: the process environment)."""
    return ServiceSettings(twilio=twilio_settings(environ),
                           line_type_lookup=line_type_lookup_settings(environ),
                           smtp=smtp_server_settings(environ))
