"""Structured logs with personal data redacted: one JSON object per line, for the CLI and for
Dagster runs.

`PiiRedactingFilter` rewrites a log record before any formatter sees it:

- phone numbers in the message, the traceback and every string field: E.164 (``+14075550123``)
  and the common US spellings (``(407) 555-0123``, ``407-555-0123``, ``407.555.0123``,
  ``1 407 555 0123``, a bare ten-digit NANP number) become ``[phone]``;
- email addresses become ``[email]``;
- the value of a structured name field (``owner_name``, ``recipient_name``, ``first_name`` …;
  `NAME_FIELDS`) becomes ``[name]``. A name inside free text cannot be recognised reliably:
  log names only as structured fields (``log.info("matched", extra={"owner_name": n})``).

`configure_logging()` installs one stderr handler on the root logger with that filter and
the JSON formatter from `python-json-logger` (``WHOLESALER_LOG_FORMAT=text`` for plain lines,
``WHOLESALER_LOG_LEVEL`` for the level). `pipelines/defs/operations/logging.py` makes the same
handler the Dagster runs' ``console`` logger, so run output on the daemon's and the run
worker's stderr is JSON and redacted too. `dagster_handler_config()` gives the
`python_logs.dagster_handler_config` block for a `dagster.yaml` that wants the same handler.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

LOG_FORMAT_ENV = "WHOLESALER_LOG_FORMAT"
LOG_LEVEL_ENV = "WHOLESALER_LOG_LEVEL"
PHONE_MASK = "[phone]"
EMAIL_MASK = "[email]"
NAME_MASK = "[name]"

NAME_FIELDS = frozenset({
    "owner_name", "owner", "name_of_owner", "recipient_name", "contact_name", "full_name",
    "first_name", "last_name", "sender_name_of_reply", "closer_name", "person_name",
})
"""Structured log fields whose value is a person's name and is always masked."""

_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# E.164: + and 8-15 digits, optionally grouped by spaces, dots or dashes.
_E164 = re.compile(r"(?<![\w+])\+[1-9](?:[ .-]?\d){7,14}(?!\d)")
# North American numbers: area code and exchange start with 2-9 (so Unix timestamps, which
# start with 1, and longer ids such as parcel numbers are left alone).
_NANP = re.compile(
    r"(?<![\w])(?:1[ .-]?)?(?:\([2-9]\d{2}\)[ .-]?|[2-9]\d{2}[ .-]?)[2-9]\d{2}[ .-]?\d{4}(?![\w])")
# Attributes every LogRecord has; the others came from `extra=` or from Dagster.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName"}
_DAGSTER_META = "dagster_meta"
_DAGSTER_EVENT = "dagster_event"


def redact_text(text: str) -> str:
    """`text` with every email address and phone number masked."""
    text = _EMAIL.sub(EMAIL_MASK, text)
    text = _E164.sub(PHONE_MASK, text)
    return _NANP.sub(PHONE_MASK, text)


def redact_value(value: Any, field_name: str | None = None) -> Any:
    """A log field's value with personal data masked; containers are walked, name fields
    (`NAME_FIELDS`) masked whole, other scalars passed through."""
    if field_name is not None and field_name.lower() in NAME_FIELDS and value not in (None, ""):
        return NAME_MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: redact_value(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item) for item in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact_text(str(value))


def _flatten_dagster_meta(record: logging.LogRecord) -> None:
    """Keep the identifying fields of a Dagster record (run, job, step, event type) and drop
    the event object, whose metadata could carry anything."""
    meta = getattr(record, _DAGSTER_META, None)
    event = getattr(record, _DAGSTER_EVENT, None)
    if isinstance(meta, Mapping):
        for key in ("run_id", "job_name", "step_key", "op_name"):
            if meta.get(key):
                setattr(record, key, meta[key])
        event = event or meta.get(_DAGSTER_EVENT)
        delattr(record, _DAGSTER_META)
    if event is not None:
        event_type = getattr(event, "event_type_value", None)
        if event_type:
            record.dagster_event_type = event_type
    if hasattr(record, _DAGSTER_EVENT):
        delattr(record, _DAGSTER_EVENT)


class PiiRedactingFilter(logging.Filter):
    """Masks phones, emails and name fields in a record (message, arguments, traceback and
    every extra field). Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        _flatten_dagster_meta(record)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact_text(message), ()
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = redact_text(formatter.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        for key in list(vars(record)):
            if key not in _STANDARD_ATTRIBUTES:
                setattr(record, key, redact_value(getattr(record, key), key))
        return True


def json_formatter() -> JsonFormatter:
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, extra fields."""
    return JsonFormatter(
        "{asctime}{levelname}{name}{message}", style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z", json_default=str)


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of each record (test runners and
    daemons swap it), not the stream that was current when the handler was made."""

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass


def redacting_handler(stream: IO[str] | None = None, json_lines: bool = True) -> logging.Handler:
    """A stream handler (default: the current stderr) with the redaction filter and the JSON
    formatter (or a plain one-line format when `json_lines` is false)."""
    handler = logging.StreamHandler(stream) if stream is not None else _CurrentStderrHandler()
    handler.addFilter(PiiRedactingFilter())
    handler.setFormatter(json_formatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def configure_logging(default_level: str = "INFO", stream: IO[str] | None = None) -> None:
    """Root logging for a process: one redacting handler on stderr, replacing any earlier one
    installed here. `WHOLESALER_LOG_FORMAT` (json | text) and `WHOLESALER_LOG_LEVEL` override."""
    log_format = (os.environ.get(LOG_FORMAT_ENV) or "json").strip().lower()
    level = (os.environ.get(LOG_LEVEL_ENV) or default_level).strip().upper()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_wholesaler", False):
            root.removeHandler(handler)
    if level not in logging.getLevelNamesMapping():
        level = default_level.upper()
    handler = redacting_handler(stream, json_lines=log_format != "text")
    handler._wholesaler = True  # type: ignore[attr-defined]
    # The handler's own level too: records of child loggers with a lower level of their own
    # (Dagster's, for one) propagate to the root's handlers whatever the root's level is.
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(level)


def dagster_handler_config(level: str = "INFO") -> dict[str, Any]:
    """`python_logs.dagster_handler_config` for a dagster.yaml: Dagster's own log records
    through the same redaction filter and JSON formatter, on stderr."""
    return {
        "handlers": {"redactedJson": {
            "class": "logging.StreamHandler", "level": level, "stream": "ext://sys.stderr",
            "filters": ["redactPii"], "formatter": "json"}},
        "filters": {"redactPii": {"()": "pipelines.logging_setup.PiiRedactingFilter"}},
        "formatters": {"json": {"()": "pipelines.logging_setup.json_formatter"}},
    }
