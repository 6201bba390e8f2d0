"""Line type of a phone number through Twilio Lookup v2 (`line_type_intelligence`).

Numbering (`contacts.phones`) tells mobile from landline only where the numbering plan does;
in North America it answers "fixed line or mobile" for almost every number. Twilio's carrier
data tells mobile, landline, fixed and non-fixed VoIP, toll-free and others. Each lookup is
paid, so callers keep a cache (`pipelines.contacts_lookup`, ledger table `phone_lookups`) and
run this only when it is switched on (`WHOLESALER_LINE_TYPE_LOOKUP`, see
`outreach.service_settings`).

`TwilioLineTypeLookup.look_up(e164)` calls the official `twilio` client (built by
`outreach.twilio_client`, so tests reach a local server the same way), retries a 429 or 5xx a
few times with backoff, and returns a `LineTypeResult` whose `line_type` is Twilio's type in
snake case (``mobile``, ``landline``, ``fixed_voip``, ``non_fixed_voip``, ``toll_free``,
``personal``, ``premium``, ``shared_cost``, ``uan``, ``voicemail``, ``pager``, ``unknown``).
A failure it cannot recover from (credentials, a malformed answer, retries used up) raises
`LineTypeLookupError`: nothing is billed-and-stored for it and the phone is tried next run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

LOOKUP_FIELDS = "line_type_intelligence"
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
# Twilio line types that take SMS (docs/contacts.md): mobile phones and non-fixed VoIP.
SMS_CAPABLE_LINE_TYPES = frozenset({"mobile", "non_fixed_voip"})
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


class LineTypeLookupError(RuntimeError):
    """A lookup failed and nothing was learned (not cached; retried on the next run)."""


@dataclass(frozen=True)
class LineTypeResult:
    """What Twilio said about one number."""

    e164: str
    is_valid: bool
    line_type: str | None
    carrier_name: str | None
    error_code: int | None

    @property
    def is_sms_capable(self) -> bool:
        return self.line_type in SMS_CAPABLE_LINE_TYPES


class LineTypeLookup(Protocol):
    """Anything that can tell a number's line type (Twilio here; another vendor later)."""

    provider: str

    def look_up(self, e164: str) -> LineTypeResult: ...


def snake_line_type(twilio_type: str | None) -> str | None:
    """``nonFixedVoip`` -> ``non_fixed_voip``."""
    if not twilio_type:
        return None
    return _CAMEL.sub("_", twilio_type.strip()).lower()


def parse_lookup(e164: str, valid: Any, intelligence: Any) -> LineTypeResult:
    """Read Lookup v2's ``valid`` and ``line_type_intelligence`` fields; raise
    `LineTypeLookupError` when they do not have the documented shape."""
    if not isinstance(valid, bool):
        raise LineTypeLookupError(f"Lookup answer for {e164[:-4]}…: 'valid' is {valid!r}, "
                                  "not a boolean")
    if intelligence is None:
        if valid:
            raise LineTypeLookupError(f"Lookup answer for {e164[:-4]}…: a valid number without "
                                      "line_type_intelligence")
        return LineTypeResult(e164, False, None, None, None)
    if not isinstance(intelligence, dict):
        raise LineTypeLookupError(f"Lookup answer for {e164[:-4]}…: line_type_intelligence is "
                                  f"{type(intelligence).__name__}, not an object")
    line_type, carrier, error_code = (intelligence.get("type"), intelligence.get("carrier_name"),
                                      intelligence.get("error_code"))
    if line_type is not None and not isinstance(line_type, str):
        raise LineTypeLookupError(f"Lookup answer: type is {line_type!r}")
    if error_code is not None and not isinstance(error_code, int):
        raise LineTypeLookupError(f"Lookup answer: error_code is {error_code!r}")
    if error_code is None and line_type is None:
        raise LineTypeLookupError("Lookup answer: neither a type nor an error_code")
    return LineTypeResult(e164, valid, snake_line_type(line_type),
                          carrier if isinstance(carrier, str) else None, error_code)


class TwilioLineTypeLookup:
    """Line type through Twilio Lookup v2 with the official client."""

    provider = "twilio_lookup_v2"

    def __init__(self, client: Client, attempts: int = 4, backoff_seconds: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        self.requests_made = 0

    def look_up(self, e164: str) -> LineTypeResult:
        for attempt in range(1, self.attempts + 1):
            self.requests_made += 1
            try:
                answer = self.client.lookups.v2.phone_numbers(e164).fetch(fields=LOOKUP_FIELDS)
            except TwilioRestException as error:
                if error.status in RETRIED_STATUSES and attempt < self.attempts:
                    self.sleep(self.backoff_seconds * 2 ** (attempt - 1))
                    continue
                raise LineTypeLookupError(
                    f"Twilio Lookup answered HTTP {error.status} (error {error.code}): "
                    f"{error.msg}") from None
            except (TwilioException, ValueError, KeyError, TypeError) as error:
                # the client raises these for bodies that are not JSON or not an object
                raise LineTypeLookupError(f"Twilio Lookup answer unreadable: {error}") from None
            return parse_lookup(e164, answer.valid, answer.line_type_intelligence)
        raise AssertionError("unreachable")  # pragma: no cover
