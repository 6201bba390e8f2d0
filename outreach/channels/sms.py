"""Twilio SMS through the official `twilio` client (`outreach.twilio_client.twilio_rest_client`).

`TwilioSmsChannel.deliver` calls ``messages.create`` with the Messaging Service SID, the
recipient, the body and a status-callback URL (the ledger message id rides along as
``?mid=<id>``, so a callback can close an attempt whose provider id a crash kept us from
storing). Segments are counted locally (`RenderedMessage.sms_segments`) and the count Twilio
answers is kept when it gives one.

Errors, by what Twilio guarantees:

- 21610 (the recipient replied STOP to this sender): `opted_out`; the send path records a
  suppression and stops the enrollment.
- 21211 (invalid 'To' number), 21614 ('To' is not a mobile number): `invalid_contact`; the
  contact is marked invalid and the touch skipped.
- HTTP 429 (too many requests): Twilio refused the request before creating anything, so it
  is retried after a pause (up to `max_attempts`), then `deferred` to a later run.
- HTTP 5xx: Twilio may or may not have created the message. Before any retry the message
  list is asked (To, newest first, same body, created since the attempt): a match is the
  message (accepted); no match means nothing was created and a retry is safe.
- No answer at all: a refused connection (nothing reached Twilio) is `deferred`; a read
  timeout or a broken connection after the request went out is `unknown` and left to
  `reconcile_unknown`, never retried blindly.
- Any other 4xx: `failed` (our request is wrong; a retry would not help).

Status callbacks later move the message on (sent, delivered, undelivered, failed with
30003-30007: `outreach.sending.apply_status_callback`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from outreach.channels.base import (
    ChannelMessage,
    DeliveryResult,
    Outcome,
    SentRecordQuery,
)

OPTED_OUT_CODES = frozenset({21610})
INVALID_CONTACT_CODES = frozenset({21211, 21614})
DELIVERY_ERROR_CODES: dict[str, str] = {
    "30003": "unreachable destination handset",
    "30004": "message blocked",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "message filtered by the carrier",
    "30008": "unknown error",
}
"""Twilio's delivery error codes reported by status callbacks (recorded on the message)."""

# Twilio's message states -> the ledger's (ours keep `sending` for "attempt written, provider
# not confirmed", so Twilio's own `sending` maps to `queued`).
TWILIO_STATUS_TO_LEDGER: dict[str, str] = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued", "sending": "queued",
    "sent": "sent", "delivered": "delivered", "read": "delivered",
    "undelivered": "undelivered", "failed": "failed", "canceled": "failed",
}
RECONCILE_CLOCK_SKEW = timedelta(minutes=5)


def callback_url_for(base_url: str | None, message_id: int) -> str | None:
    """The status-callback URL of one message: `base_url` with ``mid=<message id>`` added."""
    if not base_url:
        return None
    parts = urlsplit(base_url)
    query = "&".join(q for q in (parts.query, urlencode({"mid": message_id})) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class TwilioSmsChannel:
    """Sends SMS through one Messaging Service. `client_factory` makes a `twilio.rest.Client`
    (one per worker thread, since each holds a `requests` session)."""

    provider = "twilio"

    def __init__(self, client_factory: Callable[[], Client], messaging_service_sid: str, *,
                 max_attempts: int = 3, retry_pause_seconds: float = 1.0,
                 list_page_size: int = 50) -> None:
        self.client_factory = client_factory
        self.messaging_service_sid = messaging_service_sid
        self.sender = messaging_service_sid
        self.max_attempts = max(1, max_attempts)
        self.retry_pause_seconds = retry_pause_seconds
        self.list_page_size = list_page_size
        self._local = threading.local()

    @property
    def client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self.client_factory()
        return client

    # ---- sending ---------------------------------------------------------------------------
    def deliver(self, message: ChannelMessage) -> DeliveryResult:
        last_error = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                kwargs: dict[str, object] = {
                    "to": message.to_address, "body": message.body,
                    "messaging_service_sid": self.messaging_service_sid}
                if message.status_callback_url:
                    kwargs["status_callback"] = message.status_callback_url
                created = self.client.messages.create(**kwargs)  # type: ignore[arg-type]
            except TwilioRestException as error:
                code = error.code
                last_error = f"HTTP {error.status} Twilio {code}: {error.msg}"
                if code in OPTED_OUT_CODES:
                    return DeliveryResult(Outcome.OPTED_OUT, error_code=str(code),
                                          error_message=error.msg)
                if code in INVALID_CONTACT_CODES:
                    return DeliveryResult(Outcome.INVALID_CONTACT, error_code=str(code),
                                          error_message=error.msg)
                if error.status == 429:
                    pass  # refused before anything was created: retry after a pause
                elif error.status >= 500:
                    try:
                        found = self._find(message.to_address, message.body,
                                           message.attempted_at)
                    except (TwilioRestException, requests.RequestException) as list_error:
                        return DeliveryResult(
                            Outcome.UNKNOWN, error_code=str(code or error.status),
                            error_message=f"{last_error}; the message list could not be "
                                          f"read to check: {list_error}")
                    if found is not None:
                        return found
                else:
                    return DeliveryResult(Outcome.FAILED, error_code=str(code or error.status),
                                          error_message=error.msg)
                if attempt < self.max_attempts:
                    time.sleep(self.retry_pause_seconds * 2 ** (attempt - 1))
                    continue
                return DeliveryResult(Outcome.DEFERRED, error_code=str(code or error.status),
                                      error_message=f"{last_error} (after {attempt} attempts; "
                                                    "nothing was created)")
            except requests.exceptions.ConnectTimeout as error:
                return DeliveryResult(Outcome.DEFERRED, error_code="connect_timeout",
                                      error_message=str(error))
            except requests.exceptions.ConnectionError as error:
                if _never_connected(error):
                    return DeliveryResult(Outcome.DEFERRED, error_code="connect_failed",
                                          error_message=str(error))
                return DeliveryResult(Outcome.UNKNOWN, error_code="no_answer",
                                      error_message=str(error))
            except requests.RequestException as error:
                return DeliveryResult(Outcome.UNKNOWN, error_code="no_answer",
                                      error_message=str(error))
            return _accepted(created.sid, created.status, created.num_segments)
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- reconciling -----------------------------------------------------------------------
    def _find(self, to_address: str, body: str, since: object) -> DeliveryResult | None:
        """The newest message to `to_address` with this body, created since the attempt
        (allowing for clock skew), or None. `DateSent` is not used as a filter: a message
        still queued has no send date yet."""
        for instance in self.client.messages.list(to=to_address, limit=self.list_page_size,
                                                  page_size=self.list_page_size):
            if instance.body != body:
                continue
            if (since is not None and instance.date_created is not None
                    and instance.date_created < since - RECONCILE_CLOCK_SKEW):  # type: ignore[operator]
                continue
            if instance.messaging_service_sid not in (None, self.messaging_service_sid):
                continue
            return _accepted(instance.sid, instance.status, instance.num_segments)
        return None

    def find_sent(self, query: SentRecordQuery) -> DeliveryResult | None:
        return self._find(query.to_address, query.body, query.attempted_at)


def _accepted(sid: str | None, twilio_status: object, num_segments: object) -> DeliveryResult:
    status = TWILIO_STATUS_TO_LEDGER.get(str(twilio_status), "queued")
    if status in ("failed", "undelivered"):
        status = "queued"  # the callback will tell; creation itself succeeded
    try:
        segments = int(str(num_segments)) if num_segments is not None else None
    except ValueError:
        segments = None
    return DeliveryResult(Outcome.ACCEPTED, status=status, provider_message_id=sid,
                          segments=segments)


def _never_connected(error: requests.exceptions.ConnectionError) -> bool:
    """True when the TCP connection was never made (refused, DNS failure), so no request
    reached Twilio."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    seen: BaseException | None = error
    depth = 0
    while seen is not None and depth < 6:
        if isinstance(seen, NewConnectionError | NameResolutionError):
            return True
        reason = getattr(seen, "reason", None)
        seen = reason if isinstance(reason, BaseException) else (seen.__cause__
                                                                 or seen.__context__)
        depth += 1
    for arg in error.args:
        inner = getattr(arg, "reason", None)
        if isinstance(inner, NewConnectionError | NameResolutionError):
            return True
    return False
