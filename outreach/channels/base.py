"""What every channel adapter (Twilio SMS, SMTP email, the outbox) takes and answers, and the
per-sender throttle.

- `ChannelMessage`: one rendered message, already allowed by the compliance gate and already
  written to the ledger (its `message_id`), ready to hand to a provider.
- `DeliveryResult`: what came of it, as one `Outcome`:
  `accepted` (the provider took it: `status` is `queued`, `sent` or `outboxed`),
  `opted_out` (the provider says the recipient opted out, Twilio 21610),
  `invalid_contact` (the address can never receive it, Twilio 21211 / 21614),
  `bounced` (an SMTP 5xx: the address bounces),
  `failed` (refused for another reason that a retry will not fix),
  `deferred` (refused for now and NOTHING was sent: safe to try again on a later run),
  `unknown` (we cannot tell whether it went out: never re-sent blindly, reconciled).
- `ChannelAdapter`: the protocol the send path calls (`deliver`) and the reconcile step asks
  (`find_sent`: did a message for this ledger row reach the provider? `None` when the
  provider has no record, `CANNOT_TELL` when the channel has no way of knowing).
- `Throttle`: a token bucket per sender (messaging service, from address), shared by the
  worker threads of a run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    OPTED_OUT = "opted_out"
    INVALID_CONTACT = "invalid_contact"
    BOUNCED = "bounced"
    FAILED = "failed"
    DEFERRED = "deferred"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ChannelMessage:
    """One message to deliver. `to_address` is the E.164 number or the email address;
    `attempted_at` the wall-clock time of the attempt (compared with the provider's clock when
    looking for the message afterwards)."""

    message_id: int
    channel: str  # sms | email
    to_address: str
    body: str
    campaign: str
    touch_number: int
    subject: str | None = None
    html: str | None = None
    from_name: str | None = None
    from_address: str | None = None
    reply_to: str | None = None
    unsubscribe_url: str | None = None
    postal_address: str | None = None
    status_callback_url: str | None = None
    attempted_at: datetime | None = None
    # Email threading (an answer to a seller's email): the Message-ID answered, and the
    # References chain ending with it (RFC 5322 3.6.4).
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    status: str | None = None  # the ledger status on acceptance: queued | sent | outboxed
    provider_message_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    segments: int | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED


class _CannotTell:
    def __repr__(self) -> str:
        return "CANNOT_TELL"


CANNOT_TELL: Final = _CannotTell()
"""`find_sent` answer of a channel that has no record to ask (SMTP has no message list)."""


@dataclass(frozen=True)
class SentRecordQuery:
    """What the reconcile step knows of an attempt whose outcome is unknown."""

    message_id: int
    channel: str
    to_address: str
    body: str
    attempted_at: datetime


class ChannelAdapter(Protocol):
    """A channel the send path can hand a message to."""

    provider: str  # twilio | smtp | outbox (stored in messages.provider)
    sender: str  # the throttle key: messaging service SID, from address, "outbox"

    def deliver(self, message: ChannelMessage) -> DeliveryResult: ...

    def find_sent(self, query: SentRecordQuery) -> DeliveryResult | _CannotTell | None: ...


class Throttle:
    """At most `per_second` sends per sender key (0 or less: no limit), with a burst of one
    second's worth. Thread-safe; `acquire` sleeps until a token is free."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # sender -> (tokens, updated)

    def acquire(self, sender: str) -> float:
        """Take one token for `sender`; returns the seconds waited."""
        if self.per_second <= 0:
            return 0.0
        capacity = max(1.0, self.per_second)
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                tokens, updated = self._buckets.get(sender, (capacity, now))
                tokens = min(capacity, tokens + (now - updated) * self.per_second)
                if tokens >= 1.0:
                    self._buckets[sender] = (tokens - 1.0, now)
                    return waited
                self._buckets[sender] = (tokens, now)
                pause = (1.0 - tokens) / self.per_second
            time.sleep(pause)
            waited += pause
