"""What the dashboards may show of a person's phone numbers and email addresses.

The published snapshot carries only hints of contacts (the ledger's `value_hint`, e.g.
`•••-•••-4242`, `j•••@example.com`), never the values. Free text is another matter: a seller
may type "call me at 407 555 0142" into a reply, and message bodies are published for the
Conversations and Handoffs pages. So every body and every other free-text column shown to a
viewer goes through `redact_text`, which replaces anything that looks like a phone number or
an email address with a hint of the same shape. Only the `closer` and `admin` roles see
bodies as written (and, on the Handoffs page, one owner's full contacts read from the
ledger; see dashboards/app_pages/handoffs.py).

`mask_frame` applies this to a whole table before it is shown or exported, and drops any
column whose name says it holds a full contact value (defence in depth: no published table
should have one). `find_contacts` is what the tests use to prove nothing slipped through.
"""

from __future__ import annotations

import re

import pandas as pd

from outreach.ledger.pii import mask_email, mask_phone

# A North American number in the ways people type it: +1 407 555 0142, (407) 555-0142,
# 407.555.0142, 4075550142, 1-407-555-0142. Digit runs are bounded so that parcel ids and
# amounts (longer or shorter runs) are not mistaken for phones.
PHONE_PATTERN = re.compile(
    r"(?<![\w•*])(?:\+?1[\s.\-]?)?\(?([2-9]\d{2})\)?[\s.\-]?(\d{3})[\s.\-]?(\d{4})(?![\w•*])")
EMAIL_PATTERN = re.compile(r"(?<![\w.+\-])[\w.+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")

# Columns that would hold a full contact value; never shown, whatever the role.
FULL_VALUE_COLUMNS = frozenset({"phone", "email", "value", "counterpart", "phone_number",
                                "email_address", "to_number", "from_number", "to_address",
                                "from_address"})

# Roles allowed to see free text as written (the published hints stay hints for everyone).
UNMASKED_ROLES = frozenset({"closer", "admin"})


def redact_text(text: str) -> str:
    """`text` with every phone-like and email-like substring replaced by its hint."""
    text = EMAIL_PATTERN.sub(lambda match: mask_email(match.group(0)), text)
    return PHONE_PATTERN.sub(
        lambda match: mask_phone("".join(match.groups())), text)


def find_contacts(text: str) -> list[str]:
    """Every full phone number or email address in `text` (empty when all are masked)."""
    return ([match.group(0) for match in EMAIL_PATTERN.finditer(text)]
            + [match.group(0) for match in PHONE_PATTERN.finditer(text)])


def may_see_free_text(role: str) -> bool:
    return role in UNMASKED_ROLES


def mask_frame(frame: pd.DataFrame, role: str) -> pd.DataFrame:
    """The table as `role` may see it: full-value columns dropped; for a viewer, every text
    column redacted."""
    frame = frame.drop(columns=[c for c in frame.columns if c.lower() in FULL_VALUE_COLUMNS])
    if may_see_free_text(role):
        return frame
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(
                lambda value: redact_text(value) if isinstance(value, str) else value)
    return frame
