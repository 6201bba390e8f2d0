"""Error counts the error-spike sensor watches (pipelines/defs/operations/sensors.py).

An `ErrorCounter` counts errors of one kind in the ledger since a moment, with the number of
attempts beside them when there is one; `is_spike` says when that is a spike worth telling
the operator about. `ERROR_COUNTERS` is the list the sensor reads. Today the ledger holds one
such count: rows rejected by contact imports. The send (issue 5) and reply/LLM (issue 6) work
adds counters here as their tables arrive: failed and unknown-outcome sends, LLM call errors
and invalid LLM answers, and the backlog of queued sends past their window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.ledger.models import ContactImport


@dataclass(frozen=True)
class ErrorCount:
    errors: int
    attempts: int | None = None


@dataclass(frozen=True)
class ErrorCounter:
    """One kind of error: how to count it since a moment, and what counts as a spike (at
    least `min_errors`, and at least `min_share` of the attempts when attempts are known)."""

    name: str
    description: str
    count: Callable[[Session, datetime], ErrorCount]
    min_errors: int
    min_share: float = 0.0

    def is_spike(self, counted: ErrorCount) -> bool:
        if counted.errors < self.min_errors:
            return False
        if counted.attempts:
            return counted.errors / counted.attempts >= self.min_share
        return True


def count_contact_import_rejects(session: Session, since: datetime) -> ErrorCount:
    """Rows rejected by contact imports that finished since `since`, of the rows read."""
    rejected, read = session.execute(
        select(func.coalesce(func.sum(ContactImport.rejected), 0),
               func.coalesce(func.sum(ContactImport.rows_read), 0))
        .where(ContactImport.finished_at >= since)).one()
    return ErrorCount(errors=int(rejected), attempts=int(read))


ERROR_COUNTERS: list[ErrorCounter] = [
    ErrorCounter(
        name="contact_import_rejects",
        description="rows rejected by contact imports (a vendor changed its file layout, or a "
                    "wrong file was named)",
        count=count_contact_import_rejects, min_errors=50, min_share=0.25),
]
