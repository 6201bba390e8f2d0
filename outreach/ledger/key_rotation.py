"""Re-encrypting the ledger's personal data under the newest PII key.

After a new Fernet key is put first in `WHOLESALER_PII_KEYS`, `rotate_ledger_keys` rewrites
every encrypted value under it (MultiFernet.rotate: decrypt with whichever key works, encrypt
with the first), in batches, inside the caller's transaction. Afterwards the old key can be
dropped from the environment. The lookup hashes do not change (they use the hash key).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from outreach.ledger.pii import current_keyring

# Every (table, key column, encrypted column) of the ledger; a new encrypted column is added
# here in the same change that adds it to the models (tests/test_ledger.py checks this list
# against the models).
ENCRYPTED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("contacts", "contact_id", "value"),
    ("messages", "message_id", "counterpart"),
)
_BATCH = 1_000


@dataclass(frozen=True)
class RotationReport:
    table: str
    column: str
    rows: int


def rotate_ledger_keys(session: Session) -> list[RotationReport]:
    keyring = current_keyring()
    reports = []
    for table, key_column, column in ENCRYPTED_COLUMNS:
        # Table and column names come from ENCRYPTED_COLUMNS above, never from input.
        rows = session.execute(text(
            f"SELECT {key_column}, {column} FROM {table} "  # nosec B608
            f"WHERE {column} IS NOT NULL")).all()
        for start in range(0, len(rows), _BATCH):
            session.execute(
                text(f"UPDATE {table} SET {column} = :token "  # nosec B608
                     f"WHERE {key_column} = :row_id"),
                [{"token": keyring.rotate(token), "row_id": row_id}
                 for row_id, token in rows[start:start + _BATCH]])
        reports.append(RotationReport(table, column, len(rows)))
    return reports
