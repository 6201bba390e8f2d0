"""The outbox: where messages go whenever a send is not live (the campaign or the market is not
`live: true`, or the credentials are missing). Nothing leaves the machine.

Each message becomes one readable JSON line in `<data>/outbox/<UTC date>.jsonl`: when, the
ledger message id, the channel, the masked recipient (`outreach.ledger.pii.mask_phone` /
`mask_email`: the full address stays encrypted in the ledger), subject, body, campaign and
touch. The provider id is `outbox-<message_id>`, so a line and its ledger row point at each
other, and the reconcile step can tell whether a crash came before or after the line was
written by looking for it.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from outreach.channels.base import ChannelMessage, DeliveryResult, Outcome, SentRecordQuery
from outreach.ledger.pii import mask_email, mask_phone
from pipelines import settings


def outbox_dir() -> Path:
    """`<data>/outbox` (`WHOLESALER_DATA_DIR` moves it with the rest of the data)."""
    return settings.data_dir() / "outbox"


def outbox_provider_id(message_id: int) -> str:
    return f"outbox-{message_id}"


class OutboxChannel:
    """Writes messages to the outbox files instead of sending them."""

    provider = "outbox"

    def __init__(self, directory: Path | None = None, channel: str = "sms") -> None:
        self.directory = directory or outbox_dir()
        self.sender = f"outbox:{channel}"
        self._lock = threading.Lock()

    def _file_for(self, day: datetime) -> Path:
        return self.directory / f"{day.astimezone(UTC).date().isoformat()}.jsonl"

    def deliver(self, message: ChannelMessage) -> DeliveryResult:
        at = message.attempted_at or datetime.now(UTC)
        masked = (mask_phone(message.to_address) if message.channel == "sms"
                  else mask_email(message.to_address))
        line = {"at": at.astimezone(UTC).isoformat(), "message_id": message.message_id,
                "provider_message_id": outbox_provider_id(message.message_id),
                "channel": message.channel, "to": masked, "subject": message.subject,
                "body": message.body, "campaign": message.campaign,
                "touch": message.touch_number}
        path = self._file_for(at)
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        return DeliveryResult(Outcome.ACCEPTED, status="outboxed",
                              provider_message_id=outbox_provider_id(message.message_id))

    def find_sent(self, query: SentRecordQuery) -> DeliveryResult | None:
        """The outbox line of the message, if it was written (files of the attempt's day and
        the next, for a run that crossed midnight UTC)."""
        wanted = outbox_provider_id(query.message_id)
        for day in (query.attempted_at, query.attempted_at + timedelta(days=1)):
            path = self._file_for(day)
            if not path.is_file():
                continue
            with path.open(encoding="utf-8") as handle:
                for text in handle:
                    if wanted in text and json.loads(text).get("provider_message_id") == wanted:
                        return DeliveryResult(Outcome.ACCEPTED, status="outboxed",
                                              provider_message_id=wanted)
        return None


def read_outbox(directory: Path | None = None) -> list[dict[str, object]]:
    """Every line of every outbox file, oldest file first (for tests, the demo, a person)."""
    folder = directory or outbox_dir()
    lines: list[dict[str, object]] = []
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            lines.extend(json.loads(text) for text in handle if text.strip())
    return lines
