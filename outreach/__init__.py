"""Outreach: the ledger of every person-facing fact, the compliance gate, channels, drips and
replies (see docs/architecture.md)."""
