"""Distress-list layouts: the columns and types of the code-violation, lis-pendens and
tax-deed-application lists as they land in the warehouse's raw schema.

Every distress source (a county CSV export, an ArcGIS layer mapped by the market YAML, the
sample-data generator) is normalised to these columns, keyed by the DOR parcel id.
Dates are ISO ``YYYY-MM-DD``.
"""

from __future__ import annotations

DISTRESS_LAYOUTS: dict[str, dict[str, str]] = {
    "code_violations": {
        "parcel_id": "VARCHAR",
        "case_number": "VARCHAR",
        "violation_type": "VARCHAR",
        "opened_date": "DATE",
        "status": "VARCHAR",
        "closed_date": "DATE",
        "fine_amount": "DOUBLE",
    },
    "lis_pendens": {
        "parcel_id": "VARCHAR",
        "case_number": "VARCHAR",
        "document_type": "VARCHAR",
        "filed_date": "DATE",
        "plaintiff": "VARCHAR",
        "amount": "DOUBLE",
    },
    "tax_deed_applications": {
        "parcel_id": "VARCHAR",
        "application_number": "VARCHAR",
        "certificate_number": "VARCHAR",
        "certificate_year": "INTEGER",
        "application_date": "DATE",
        "opening_bid": "DOUBLE",
        "status": "VARCHAR",
    },
}

DISTRESS_KINDS: tuple[str, ...] = tuple(DISTRESS_LAYOUTS)
