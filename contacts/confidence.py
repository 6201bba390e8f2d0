"""Confidence that a contact reaches the owner: a score from 0 to 1 with the reason spelled out.

The score combines four things, in this order:

1. Source quality, per sighting, from ``SOURCE_QUALITY``:

   ======================  =====  ======================================================
   source kind             base   why
   ======================  =====  ======================================================
   roll_mailing_address    0.90   the owner's address of record on the tax roll
   roll_fiduciary_address  0.85   the roll's trustee / personal representative address
   appraiser_page          0.60   the county appraiser's page (mailing / contact fields)
   paid_api                0.70   a paid skip-trace API match on name and address
   vendor_file             0.55   a bulk skip-trace file: matched in batch, often stale
   ======================  =====  ======================================================

   A vendor's later phones are weaker guesses than its first: each position after the first
   takes ``POSITION_STEP`` (0.05) off, down to at most ``POSITION_FLOOR`` (0.8) of the base.
   When the vendor's line type contradicts what numbering says (vendor "landline" for a number
   numbering calls mobile, or the reverse), the sighting is worth ``TYPE_CONFLICT`` (0.9)
   of itself.
2. Agreement between sources: each *distinct source* (by name) counts once with its best
   sighting, and independent sources combine as a noisy-or, 1 - Π(1 - q). Two vendor files
   that agree (0.55, 0.55) give 0.80; a vendor file and a paid API give 0.865.
3. Validation: phones by number type (``PHONE_TYPE_FACTOR``: mobile and fixed_line_or_mobile
   1.0, fixed_line 0.95, voip 0.85, anything else 0.8); emails by domain status
   (``EMAIL_STATUS_FACTOR``: mx 1.0, a_fallback 0.85, not_checked 0.9). Rejected values never
   reach scoring: they are rejects with a reason, not contacts with a low score.
4. Vendor DNC and litigator flags do not change the score: they say nothing about whether the
   number is the owner's. They are carried on the contact for the DNC scrub, which decides
   whether it may be *used*.

Scores are rounded to three decimals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SOURCE_QUALITY: dict[str, float] = {
    "roll_mailing_address": 0.90,
    "roll_fiduciary_address": 0.85,
    "appraiser_page": 0.60,
    "paid_api": 0.70,
    "vendor_file": 0.55,
}
POSITION_STEP = 0.05
POSITION_FLOOR = 0.80
TYPE_CONFLICT = 0.90
PHONE_TYPE_FACTOR: dict[str, float] = {
    "mobile": 1.0, "fixed_line_or_mobile": 1.0, "fixed_line": 0.95, "voip": 0.85,
}
OTHER_PHONE_TYPE_FACTOR = 0.80
EMAIL_STATUS_FACTOR: dict[str, float] = {"mx": 1.0, "a_fallback": 0.85, "not_checked": 0.90}

_MOBILE_BY_NUMBERING = frozenset({"mobile"})
_FIXED_BY_NUMBERING = frozenset({"fixed_line"})


@dataclass(frozen=True, slots=True)
class Evidence:
    """One sighting as scoring sees it."""

    source_kind: str
    source_name: str
    position: int = 1
    vendor_type: str | None = None


@dataclass(frozen=True, slots=True)
class Confidence:
    score: float
    reason: str


def sighting_quality(evidence: Evidence, number_type: str | None = None) -> tuple[float, str]:
    """The quality of one sighting and a short note of what changed it."""
    base = SOURCE_QUALITY[evidence.source_kind]
    quality = base
    notes = []
    if evidence.position > 1:
        factor = max(POSITION_FLOOR, 1.0 - POSITION_STEP * (evidence.position - 1))
        quality *= factor
        notes.append(f"position {evidence.position} x{factor:.2f}")
    if evidence.vendor_type and number_type and (
            (evidence.vendor_type == "landline" and number_type in _MOBILE_BY_NUMBERING)
            or (evidence.vendor_type == "mobile" and number_type in _FIXED_BY_NUMBERING)):
        quality *= TYPE_CONFLICT
        notes.append(f"vendor type {evidence.vendor_type} vs numbering {number_type} "
                     f"x{TYPE_CONFLICT:.2f}")
    return quality, "; ".join(notes)


def score(evidence: Iterable[Evidence], channel: str, number_type: str | None = None,
          domain_status: str | None = None) -> Confidence:
    """Score one contact from its sightings and its validation result (see module docs)."""
    best: dict[str, tuple[float, str, str]] = {}
    for item in evidence:
        quality, note = sighting_quality(item, number_type if channel == "phone" else None)
        if item.source_name not in best or quality > best[item.source_name][0]:
            best[item.source_name] = (quality, item.source_kind, note)
    if not best:
        return Confidence(0.0, "no sightings")
    missing = 1.0
    parts = []
    for name in sorted(best):
        quality, kind, note = best[name]
        missing *= 1.0 - quality
        parts.append(f"{name} ({kind} {quality:.2f}{'; ' + note if note else ''})")
    combined = 1.0 - missing
    reason = " + ".join(parts)
    if len(best) > 1:
        reason += f"; {len(best)} sources agree -> {combined:.3f}"
    if channel == "phone":
        factor = PHONE_TYPE_FACTOR.get(number_type or "", OTHER_PHONE_TYPE_FACTOR)
        reason += f"; type {number_type} x{factor:.2f}"
    elif channel == "email":
        factor = EMAIL_STATUS_FACTOR.get(domain_status or "", EMAIL_STATUS_FACTOR["not_checked"])
        reason += f"; domain {domain_status} x{factor:.2f}"
    else:
        factor = 1.0
    value = round(min(1.0, max(0.0, combined * factor)), 3)
    return Confidence(value, f"{value:.3f}: {reason}")
