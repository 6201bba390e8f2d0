"""Retention: personal data that is only needed for a while is purged after N days; the
records that prove what a person asked for are kept forever.

The setting is `WHOLESALER_RETENTION_DAYS` (default 365, at least 1). `wholesaler retention
purge` applies it (schedule it daily, or let a Dagster schedule call `purge_expired`).

Purged: the rejects files of contact imports (`data/rejects/contacts/…`), which hold
vendor rows as delivered, phones and emails in plain text. A file goes when its import
finished more than N days ago and the file itself is that old (a later import of the same
file name rewrites it, and that newer content stays). The import's row stays, and the purge
is written to the audit log (file, size, SHA-256, age), so the trail says what was deleted
and why.

Kept forever, never touched here: opt-outs and other suppressions, consent records,
do-not-call lists and numbers, the audit log, and the imports' counts.

Message bodies (the `messages` table, where the ledger has it): the subject and body of a
message created more than N days ago are cleared and `body_purged_at` set; the message's
metadata (when, which channel, delivery status, the compliance decision) stays. A message
that caused a suppression (an inbound STOP, say) keeps its text: it is the evidence of the
opt-out. One audit entry records each purge's count.

LLM calls (`llm_calls`, outreach/writing and the intent path): the prompt, the raw response and
the parsed JSON of a call made more than N days ago are cleared and `purged_at` set (they hold
owner names, addresses and reply texts); which prompt, model, checks and outcome stay. One
audit entry records the count.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Engine, func, inspect, null, select, update
from sqlalchemy.orm import Session

RETENTION_DAYS_ENV = "WHOLESALER_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 365
KEPT_FOREVER = ("suppressions", "consents", "dnc_lists", "dnc_numbers", "audit_log",
                "contact_imports", "messages (metadata; bodies purged)")


class RetentionSettingError(ValueError):
    """`WHOLESALER_RETENTION_DAYS` holds a value that cannot be used."""


class RetentionSettings(BaseModel):
    retention_days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=1)


def retention_days() -> int:
    """The configured retention in days (`WHOLESALER_RETENTION_DAYS`, default 365)."""
    raw = os.environ.get(RETENTION_DAYS_ENV, "").strip()
    try:
        return RetentionSettings(**({"retention_days": raw} if raw else {})).retention_days
    except ValidationError as error:
        reason = error.errors()[0]["msg"]
        raise RetentionSettingError(f"{RETENTION_DAYS_ENV}={raw!r}: {reason}") from error


@dataclass
class PurgedFile:
    contact_import_id: int
    path: str
    bytes: int
    sha256: str


@dataclass
class PurgeReport:
    """What a purge deleted (or, in a dry run, would delete)."""

    cutoff: datetime
    retention_days: int
    dry_run: bool
    purged: list[PurgedFile] = field(default_factory=list)
    message_bodies_purged: int = 0
    llm_calls_purged: int = 0
    kept_forever: tuple[str, ...] = KEPT_FOREVER

    def to_dict(self) -> dict:
        return {"cutoff": self.cutoff.isoformat(), "retention_days": self.retention_days,
                "dry_run": self.dry_run, "kept_forever": list(self.kept_forever),
                "rejects_files_purged": [vars(item) for item in self.purged],
                "message_bodies_purged": self.message_bodies_purged,
                "llm_calls_purged": self.llm_calls_purged,
                "bytes_freed": sum(item.bytes for item in self.purged)}


def purge_expired(engine: Engine, days: int | None = None, now: datetime | None = None,
                  dry_run: bool = False) -> PurgeReport:
    """Delete the personal data older than the retention, audit each deletion."""
    from outreach.ledger.db import ledger_session
    from outreach.ledger.models import AuditEntry, ContactImport

    days = days if days is not None else retention_days()
    if days < 1:
        raise RetentionSettingError(f"retention must be at least 1 day, got {days}")
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=days)
    report = PurgeReport(cutoff, days, dry_run)
    with ledger_session(engine) as session:
        imports = session.scalars(
            select(ContactImport).where(ContactImport.rejects_file.is_not(None),
                                        ContactImport.started_at < cutoff)
            .order_by(ContactImport.contact_import_id)).all()
        for record in imports:
            finished = record.finished_at or record.started_at
            path = Path(record.rejects_file or "")
            if finished >= cutoff or not path.is_file():
                continue
            if datetime.fromtimestamp(path.stat().st_mtime, UTC) >= cutoff:
                continue  # rewritten by a later import of the same file name
            content = path.read_bytes()
            purged = PurgedFile(record.contact_import_id, str(path), len(content),
                                hashlib.sha256(content).hexdigest())
            report.purged.append(purged)
            if dry_run:
                continue
            path.unlink()
            session.add(AuditEntry(
                actor="retention", action="purge_rejects_file", entity_type="contact_import",
                entity_id=str(record.contact_import_id),
                detail={"file": purged.path, "bytes": purged.bytes, "sha256": purged.sha256,
                        "import_finished_at": finished.isoformat(), "retention_days": days}))
        report.message_bodies_purged = _purge_message_bodies(session, cutoff, now, dry_run)
        if report.message_bodies_purged and not dry_run:
            session.add(AuditEntry(
                actor="retention", action="purge_message_bodies", entity_type="message",
                detail={"messages": report.message_bodies_purged, "retention_days": days,
                        "created_before": cutoff.isoformat()}))
        report.llm_calls_purged = _purge_llm_calls(session, cutoff, now, dry_run)
        if report.llm_calls_purged and not dry_run:
            session.add(AuditEntry(
                actor="retention", action="purge_llm_calls", entity_type="llm_call",
                detail={"llm_calls": report.llm_calls_purged, "retention_days": days,
                        "created_before": cutoff.isoformat()}))
    return report


def _purge_message_bodies(session: Session, cutoff: datetime, now: datetime,
                          dry_run: bool) -> int:
    """Clear subject and body of messages older than the cutoff, except the messages that
    caused a suppression; returns how many (would be) purged."""
    from outreach.ledger import models

    message = getattr(models, "Message", None)
    suppression = getattr(models, "Suppression", None)
    if message is None or "messages" not in inspect(session.connection()).get_table_names():
        return 0
    expired = [message.created_at < cutoff, message.body_purged_at.is_(None)]
    if suppression is not None:
        evidence = select(suppression.message_id).where(suppression.message_id.is_not(None))
        expired.append(message.message_id.not_in(evidence))
    if dry_run:
        return session.scalar(select(func.count()).select_from(message).where(*expired)) or 0
    result = session.execute(update(message).where(*expired).values(
        body=None, subject=None, body_purged_at=now))
    return result.rowcount or 0


def _purge_llm_calls(session: Session, cutoff: datetime, now: datetime, dry_run: bool) -> int:
    """Clear prompt, raw response and parsed JSON of LLM calls older than the cutoff; returns
    how many (would be) purged."""
    from outreach.ledger import models

    llm_call = getattr(models, "LlmCall", None)
    if llm_call is None or "llm_calls" not in inspect(session.connection()).get_table_names():
        return 0
    expired = [llm_call.created_at < cutoff, llm_call.purged_at.is_(None)]
    if dry_run:
        return session.scalar(select(func.count()).select_from(llm_call).where(*expired)) or 0
    result = session.execute(update(llm_call).where(*expired).values(
        prompt=None, raw_response=None, parsed=null(), purged_at=now))
    return result.rowcount or 0
