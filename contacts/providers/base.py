"""The provider interface and the types it speaks (see `contacts.providers`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from contacts.vendor_csv import MailingAddress, RowReject, VendorRow


@dataclass(frozen=True)
class TraceSubject:
    """One owner to trace: `ref` names it in the request and the answer (the parcel id)."""

    ref: str
    parcel_id: str
    owner_name: str
    mailing: MailingAddress
    property_address: str = ""


@dataclass
class TraceResult:
    """What a provider returned for a list of subjects."""

    provider: str
    rows: list[VendorRow] = field(default_factory=list)
    rejects: list[RowReject] = field(default_factory=list)
    hits: int = 0
    misses: int = 0
    requests: int = 0
    cost_usd: float = 0.0


class SkipTraceProvider(Protocol):
    """A paid skip-trace source. `trace` may make several requests (batches); it raises
    `SkipTraceError` when the provider cannot be used at all."""

    name: str

    def trace(self, subjects: list[TraceSubject]) -> TraceResult: ...


class SkipTraceError(RuntimeError):
    """A provider refused or failed a batch for good (auth, retries used up, bad answer)."""
