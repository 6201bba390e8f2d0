"""A skip-trace provider over HTTP + JSON, in the shape documented in docs/contacts.md.

Request (one per batch of at most `batch_size` subjects)::

    POST <endpoint>
    Authorization: Bearer <api key>
    Content-Type: application/json
    Idempotency-Key: <sha256 of the body>   (a retried batch is not billed twice)

    {"records": [{"ref": "R-0001", "parcel_id": "R-0001", "owner_name": "PAT OWNER",
                  "mailing_address": {"street": "1 MAIN ST", "city": "ORLANDO",
                                      "state": "FL", "zip": "32801"},
                  "property_address": "9 ELM ST"}]}

Answer 200::

    {"results": [{"ref": "R-0001", "status": "hit",
                  "phones": [{"number": "4075550123", "type": "mobile", "dnc": false,
                              "litigator": false}],
                  "emails": [{"address": "pat@example.com"}]},
                 {"ref": "R-0002", "status": "miss", "phones": [], "emails": []}]}

A 429 or 5xx (and a body that is not JSON) is retried with exponential backoff and full
jitter, at least as long as a ``Retry-After`` says; other 4xx fail the run at once
(`SkipTraceError`). Within a good answer, a result that is not the documented shape, names a
`ref` we did not send, or is missing, becomes a `RowReject` of that subject only. Requests
start at most `requests_per_second` apart. Cost: each ``hit`` × `cost_per_hit_usd`.

`scrapers.http.PoliteClient` is not used: it is GET-only and asks robots.txt, which an
authenticated API does not serve; this client keeps its retry and backoff rules.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from contacts.providers.base import SkipTraceError, TraceResult, TraceSubject
from contacts.vendor_csv import MailingAddress, RowReject, VendorEmail, VendorPhone, VendorRow

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_PHONE_TYPES = {"mobile": "mobile", "wireless": "mobile", "cell": "mobile",
                "landline": "landline", "voip": "voip"}


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


class HttpSkipTraceProvider:
    """`SkipTraceProvider` over the documented JSON API."""

    def __init__(self, endpoint: str, api_key: str, *, name: str = "skip_trace_api",
                 cost_per_hit_usd: float = 0.0, batch_size: int = 100,
                 requests_per_second: float = 1.0, max_attempts: int = 5,
                 backoff_base_seconds: float = 1.0, backoff_max_seconds: float = 60.0,
                 timeout_seconds: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                 user_agent: str = "wholesaler skip-trace client") -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.name = name
        self.endpoint = endpoint
        self.cost_per_hit_usd = cost_per_hit_usd
        self.batch_size = batch_size
        self.interval = 1.0 / requests_per_second
        self.max_attempts = max_attempts
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self._sleep = sleep
        self._last_start = 0.0
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_seconds), headers={
            "Authorization": f"Bearer {api_key}", "Accept": "application/json",
            "User-Agent": user_agent})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpSkipTraceProvider:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- requests ---------------------------------------------------------------------------
    def _wait_for_turn(self) -> None:
        with self._lock:
            wait = self._last_start + self.interval - time.monotonic()
            if wait > 0:
                self._sleep(wait)
            self._last_start = time.monotonic()

    def _post(self, body: bytes, result: TraceResult) -> dict[str, Any]:
        headers = {"Content-Type": "application/json",
                   "Idempotency-Key": hashlib.sha256(body).hexdigest()}
        last_error = ""
        for attempt in range(1, self.max_attempts + 1):
            retry_after = None
            self._wait_for_turn()
            result.requests += 1
            try:
                response = self._http.post(self.endpoint, content=body, headers=headers)
            except httpx.TransportError as error:
                last_error = f"{type(error).__name__}: {error}"
            else:
                status = response.status_code
                if status in RETRY_STATUSES:
                    retry_after = _retry_after(response.headers.get("Retry-After"))
                    last_error = f"HTTP {status}: {response.text[:200]}"
                elif status >= 400:
                    raise SkipTraceError(f"{self.name}: {self.endpoint} answered HTTP {status}: "
                                         f"{response.text[:200]}")
                else:
                    try:
                        parsed = response.json()
                    except ValueError as error:
                        last_error = f"answer is not JSON ({error}): {response.text[:200]}"
                    else:
                        if isinstance(parsed, dict) and isinstance(parsed.get("results"), list):
                            return parsed
                        raise SkipTraceError(f"{self.name}: answer has no 'results' list: "
                                             f"{response.text[:200]}")
            if attempt < self.max_attempts:
                ceiling = min(self.backoff_max_seconds,
                              self.backoff_base_seconds * 2 ** (attempt - 1))
                wait = random.uniform(0, ceiling)
                self._sleep(max(wait, retry_after) if retry_after is not None else wait)
        raise SkipTraceError(f"{self.name}: {self.endpoint} failed after {self.max_attempts} "
                             f"attempts; last: {last_error}")

    # -- the batch --------------------------------------------------------------------------
    @staticmethod
    def request_record(subject: TraceSubject) -> dict[str, Any]:
        mailing = subject.mailing
        return {"ref": subject.ref, "parcel_id": subject.parcel_id,
                "owner_name": subject.owner_name,
                "mailing_address": {"street": " ".join(p for p in (mailing.line1, mailing.line2)
                                                       if p),
                                    "city": mailing.city, "state": mailing.state,
                                    "zip": mailing.zip},
                "property_address": subject.property_address}

    def trace(self, subjects: list[TraceSubject]) -> TraceResult:
        result = TraceResult(provider=self.name)
        line = 0
        for start in range(0, len(subjects), self.batch_size):
            batch = subjects[start:start + self.batch_size]
            body = json.dumps({"records": [self.request_record(s) for s in batch]},
                              separators=(",", ":")).encode()
            answer = self._post(body, result)
            by_ref = {subject.ref: subject for subject in batch}
            answered: set[str] = set()
            for item in answer["results"]:
                line += 1
                row = self._row(item, by_ref, answered, line)
                if isinstance(row, RowReject):
                    result.rejects.append(row)
                elif row is None:
                    result.misses += 1
                else:
                    result.hits += 1
                    result.rows.append(row)
            for ref in by_ref.keys() - answered:
                line += 1
                result.rejects.append(RowReject(self.name, line, "provider_no_result",
                                                f"no result for ref {ref!r}", text=ref))
        result.cost_usd = result.hits * self.cost_per_hit_usd
        return result

    def _row(self, item: Any, by_ref: dict[str, TraceSubject], answered: set[str],
             line: int) -> VendorRow | RowReject | None:
        def reject(code: str, reason: str) -> RowReject:
            return RowReject(self.name, line, code, reason, text=json.dumps(item)[:300])

        if not isinstance(item, dict) or not isinstance(item.get("ref"), str):
            return reject("provider_malformed", "result is not an object with a string 'ref'")
        ref = item["ref"]
        subject = by_ref.get(ref)
        if subject is None or ref in answered:
            return reject("provider_unknown_ref", f"ref {ref!r} was not asked in this batch "
                          "or answered twice")
        answered.add(ref)
        status, phones, emails = item.get("status"), item.get("phones", []), item.get("emails",
                                                                                       [])
        if status not in ("hit", "miss") or not isinstance(phones, list) or not isinstance(
                emails, list):
            return reject("provider_malformed", "'status' must be hit or miss and 'phones', "
                          "'emails' lists")
        if status == "miss":
            return None
        vendor_phones = []
        for position, phone in enumerate(phones, start=1):
            if not isinstance(phone, dict) or not isinstance(phone.get("number"), str):
                return reject("provider_malformed", f"phone {position} has no string 'number'")
            flags = [phone.get(k) for k in ("dnc", "litigator")]
            if any(flag is not None and not isinstance(flag, bool) for flag in flags):
                return reject("provider_malformed", f"phone {position}: dnc/litigator must be "
                              "true, false or null")
            kind = phone.get("type")
            vendor_phones.append(VendorPhone(
                phone["number"], position, f"phone{position}",
                _PHONE_TYPES.get(str(kind).lower(), "other") if kind else None,
                flags[0], flags[1]))
        vendor_emails = []
        for position, address in enumerate(emails, start=1):
            if not isinstance(address, dict) or not isinstance(address.get("address"), str):
                return reject("provider_malformed", f"email {position} has no string 'address'")
            vendor_emails.append(VendorEmail(address["address"], position, f"email{position}"))
        if not vendor_phones and not vendor_emails:
            return reject("no_contact", "a hit without a phone or an email")
        litigator = any(p.litigator for p in vendor_phones) or item.get("litigator") is True
        return VendorRow(self.name, line, subject.parcel_id, subject.owner_name,
                         MailingAddress(subject.mailing.line1, subject.mailing.line2,
                                        subject.mailing.city, subject.mailing.state,
                                        subject.mailing.zip),
                         tuple(vendor_phones), tuple(vendor_emails), bool(litigator))
