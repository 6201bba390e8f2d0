"""The outreach ledger: a transactional store (SQLite by default, PostgreSQL in production)
for contacts, do-not-call lists, and later every message, consent and opt-out."""
