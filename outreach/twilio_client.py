"""The official `twilio` client, built from `outreach.service_settings`, optionally pointed at
another base URL.

Production and tests run the same client code: `twilio_rest_client()` returns a real
`twilio.rest.Client`. Only when `WHOLESALER_TWILIO_BASE_URL` is set (tests, or a recording
proxy) does its HTTP client, `BaseUrlHttpClient`, rewrite the scheme and host of every Twilio
URL (``https://api.twilio.com/…``, ``https://lookups.twilio.com/…``, regional and edge hosts)
to that base URL, keeping the path and query. Nothing else about the request changes: the
same auth, headers, form bodies and paging. Unset in production.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from outreach.service_settings import TwilioSettings, twilio_settings


class TwilioNotConfiguredError(RuntimeError):
    """Twilio credentials are missing (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)."""


def rewrite_twilio_url(url: str, base_url: str) -> str:
    """`url` with its scheme and host replaced by `base_url`'s when the host is Twilio's
    (``*.twilio.com``); any other URL is returned unchanged."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host != "twilio.com" and not host.endswith(".twilio.com"):
        return url
    base = urlsplit(base_url)
    return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path,
                       parts.query, parts.fragment))


class BaseUrlHttpClient(TwilioHttpClient):
    """`TwilioHttpClient` that sends Twilio's requests to `base_url` instead of twilio.com."""

    def __init__(self, base_url: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: object, **kwargs: object) -> Response:
        return super().request(method, rewrite_twilio_url(url, self.base_url),
                               *args, **kwargs)  # type: ignore[arg-type]


def twilio_rest_client(settings: TwilioSettings | None = None,
                       timeout_seconds: float = 30.0) -> Client:
    """A `twilio.rest.Client` for the configured account. Raises `TwilioNotConfiguredError`
    when the credentials are missing."""
    settings = settings or twilio_settings()
    if not settings.is_configured:
        raise TwilioNotConfiguredError(
            "Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    assert settings.twilio_auth_token is not None
    http_client = (BaseUrlHttpClient(settings.wholesaler_twilio_base_url,
                                     timeout=timeout_seconds)
                   if settings.wholesaler_twilio_base_url
                   else TwilioHttpClient(timeout=timeout_seconds))
    return Client(username=settings.username,
                  password=settings.twilio_auth_token.get_secret_value(),
                  account_sid=settings.twilio_account_sid, http_client=http_client)
