"""The compliance gate (issue 5): rules as data per jurisdiction (`rules/*.yaml`, read by
`rules.py`), the recipient-local time rule (`window.py`), the one gate every send goes
through (`gate.py`: `evaluate_send`), and its ledger side (`store.py`: facts in, decisions
recorded). docs/compliance.md describes the rules, their sources and how channels call it."""
