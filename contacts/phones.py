"""Phone numbers: normalise to E.164 and decide whether a number may be stored as a contact.

Built on ``phonenumbers`` (Google's libphonenumber metadata). ``check_phone`` parses formatted
and unformatted input (``(407) 555-0123``, ``407.555.0123``, ``+1 407-555-0123``,
``4075550123``, ``1-407-555-0123 x12``), splits an extension off and reports it, and returns a
:class:`PhoneCheck`: the E.164 form, the number type where numbering tells it, and for a
rejection a short machine reason code plus a human sentence (codes in ``REASONS``).

The fictional range. NANPA reserves NXX-555-0100 through NXX-555-0199 for fiction, and the
sample data uses only that range. ``phonenumbers`` does *not* know this: with metadata 9.0.43
``+1 407 555 0123`` is valid and possible, type FIXED_LINE_OR_MOBILE, geocoded to Florida.
So this module adds its own rule: by default (production) such a number is rejected with
``fictional_555``; ``PhoneRules(allow_fictional_555=True)`` (what the demo sets) accepts it
and marks ``PhoneCheck.fictional``. Other 555 numbers (555-1212 directory assistance and the
rest of the 555 exchange) are left to ``phonenumbers``.

Area codes. ``area_code_info("+18505550100")`` gives the area code, the US states and the time
zones ``phonenumbers``' geocoder and timezone modules associate with any exchange in it
(850 -> FL, America/Chicago and America/New_York), which the compliance gate needs when the
recipient's zone is not certain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    NumberParseException,
    PhoneNumberFormat,
    PhoneNumberType,
    country_code_for_valid_region,
)
from phonenumbers import ValidationResult as _Possible
from phonenumbers import geocoder as _geocoder
from phonenumbers import timezone as _timezone
from phonenumbers.phonemetadata import REGION_CODE_FOR_NON_GEO_ENTITY, PhoneMetadata
from phonenumbers.phonenumberutil import _number_type_helper
from phonenumbers.re_util import re_compile

REASONS: dict[str, str] = {
    "empty": "No phone number was given.",
    "not_a_number": "The text does not look like a phone number.",
    "missing_area_code": "The number has 7 digits: the area code is missing.",
    "too_short": "The number has too few digits for its country.",
    "too_long": "The number has too many digits for its country.",
    "invalid_length": "The number's length does not match any number of its country.",
    "invalid_country_code": "The country calling code does not exist.",
    "invalid_number": "The number is not assigned in its country's numbering plan.",
    "region_not_allowed": "The number belongs to a country outside the allowed regions.",
    "fictional_555": "The number is in 555-0100..0199, reserved for fiction (not a real line).",
    "not_a_personal_line": "The number is toll-free, premium-rate or shared-cost, not an "
                           "owner's line.",
}
"""Every rejection reason code and its human sentence (docs/contacts.md lists them too)."""

_TYPE_NAMES: dict[int, str] = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}
_NOT_PERSONAL = frozenset({"toll_free", "premium_rate", "shared_cost", "uan"})

_POSSIBLE_REASONS: dict[int, str] = {
    _Possible.IS_POSSIBLE_LOCAL_ONLY: "missing_area_code",
    _Possible.INVALID_COUNTRY_CODE: "invalid_country_code",
    _Possible.TOO_SHORT: "too_short",
    _Possible.TOO_LONG: "too_long",
    _Possible.INVALID_LENGTH: "invalid_length",
}

_HAS_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class PhoneRules:
    """How strict validation is.

    default_region: region used for numbers written without a ``+`` country code.
    allowed_regions: regions a number may belong to (ISO 3166 codes); empty means any.
    allow_fictional_555: accept NXX-555-0100..0199 (the demo and sample data set this; never
        production, where those numbers cannot belong to anyone).
    """

    default_region: str = "US"
    allowed_regions: frozenset[str] = field(default_factory=lambda: frozenset({"US"}))
    allow_fictional_555: bool = False


STRICT = PhoneRules()
"""Production rules: US numbers only, the fictional range rejected."""
DEMO = PhoneRules(allow_fictional_555=True)
"""Demo and sample-data rules: as STRICT, but 555-0100..0199 accepted (and marked fictional)."""


@dataclass(frozen=True, slots=True)
class PhoneCheck:
    """The outcome of checking one raw phone string.

    ``ok`` means the number may be stored as a contact: ``e164`` is then set, and
    ``number_type`` is one of the names in ``_TYPE_NAMES`` ("mobile", "fixed_line",
    "fixed_line_or_mobile", "voip", ... or "unknown"). ``extension`` is the extension split off
    the input, reported whether or not the number is accepted (an SMS cannot reach one).
    When rejected, ``reason_code`` is a key of ``REASONS`` and ``reason`` a sentence naming
    the input.
    """

    raw: str
    ok: bool
    e164: str | None = None
    extension: str | None = None
    number_type: str | None = None
    region: str | None = None
    fictional: bool = False
    reason_code: str | None = None
    reason: str | None = None

    @property
    def area_code(self) -> str | None:
        """The NANP area code of an accepted +1 number, else None."""
        return area_code_of(self.e164) if self.e164 else None


def _reject(raw: str, code: str, extension: str | None = None, e164: str | None = None,
            detail: str = "") -> PhoneCheck:
    sentence = REASONS[code] + (f" {detail}" if detail else "")
    return PhoneCheck(raw=raw, ok=False, e164=e164, extension=extension, reason_code=code,
                      reason=f"{raw!r}: {sentence}")


def is_fictional_555(e164: str) -> bool:
    """True for +1 NPA-555-0100..0199, the NANP range reserved for fiction."""
    return (len(e164) == 12 and e164.startswith("+1") and e164[5:8] == "555"
            and e164[8:10] == "01")


_CANONICAL_NANP = re.compile(r"\+1[2-9]\d{9}")


def _parse(text: str, default_region: str) -> phonenumbers.PhoneNumber:
    """`phonenumbers.parse`, except that a canonical +1 E.164 string (what the ledger stores)
    becomes the same `PhoneNumber` directly: country code 1, the ten digits as the national
    number, nothing else set (no extension, no leading zero, no national prefix to strip)."""
    if _CANONICAL_NANP.fullmatch(text):
        return phonenumbers.PhoneNumber(country_code=1, national_number=int(text[2:]))
    return phonenumbers.parse(text, default_region)


class _Numbering:
    """`region_code_for_number`, `is_valid_number_for_region` and `number_type` of one number,
    step for step as ``phonenumbers`` takes them, except that the number's type under one
    region's metadata (`_number_type_helper`, a dozen pattern matches, which each of the three
    works out again) is worked out once per metadata object and reused."""

    def __init__(self, number: phonenumbers.PhoneNumber) -> None:
        self.number = number
        self.nsn = phonenumbers.national_significant_number(number)
        self._types: dict[int, int] = {}

    def type_under(self, metadata: PhoneMetadata) -> int:
        found = self._types.get(id(metadata))  # the metadata objects live for the process
        if found is None:
            found = self._types[id(metadata)] = _number_type_helper(self.nsn, metadata)
        return found

    def region(self) -> str | None:
        regions = COUNTRY_CODE_TO_REGION_CODE.get(self.number.country_code, None)
        if regions is None:
            return None
        if len(regions) == 1:
            return regions[0]
        for region_code in regions:  # `_region_code_for_number_from_list`
            metadata = PhoneMetadata.metadata_for_region(region_code.upper(), None)
            if metadata is None:
                continue
            if metadata.leading_digits is not None:
                if re_compile(metadata.leading_digits).match(self.nsn):
                    return region_code
            elif self.type_under(metadata) != PhoneNumberType.UNKNOWN:
                return region_code
        return None

    def is_valid_for(self, region_code: str | None) -> bool:
        country_code = self.number.country_code
        if region_code is None:
            return False
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code,
                                                                     region_code.upper())
        if (metadata is None or (region_code != REGION_CODE_FOR_NON_GEO_ENTITY
                                 and country_code != country_code_for_valid_region(region_code))):
            return False
        return self.type_under(metadata) != PhoneNumberType.UNKNOWN

    def number_type(self, region_code: str | None) -> int:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(self.number.country_code,
                                                                     region_code)
        if metadata is None:
            return PhoneNumberType.UNKNOWN
        return self.type_under(metadata)


def check_phone(raw: str | None, rules: PhoneRules = STRICT) -> PhoneCheck:
    """Check one raw phone string under ``rules`` (no cache; see :class:`PhoneValidator`)."""
    text = (raw or "").strip()
    if not text:
        return _reject(raw or "", "empty")
    if not _HAS_DIGIT.search(text):
        return _reject(text, "not_a_number")
    try:
        number = _parse(text, rules.default_region)
    except NumberParseException as error:
        code = {
            NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
            NumberParseException.TOO_SHORT_NSN: "too_short",
            NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
            NumberParseException.TOO_LONG: "too_long",
        }.get(error.error_type, "not_a_number")
        return _reject(text, code)
    extension = number.extension or None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != _Possible.IS_POSSIBLE:
        return _reject(text, _POSSIBLE_REASONS.get(possible, "invalid_length"), extension)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    # `is_valid_number` (= `is_valid_number_for_region` of `region_code_for_number`), the
    # region and `number_type`, done as ``phonenumbers`` does them (`_Numbering`), with the
    # region looked up once and the number's type under each region's metadata found once.
    numbering = _Numbering(number)
    region = numbering.region()
    if not numbering.is_valid_for(region):
        return _reject(text, "invalid_number", extension, e164)
    if rules.allowed_regions and region not in rules.allowed_regions:
        return _reject(text, "region_not_allowed", extension, e164,
                       f"Region {region}; allowed: {', '.join(sorted(rules.allowed_regions))}.")
    fictional = is_fictional_555(e164)
    if fictional and not rules.allow_fictional_555:
        return _reject(text, "fictional_555", extension, e164)
    type_name = _TYPE_NAMES.get(numbering.number_type(region), "unknown")
    if type_name in _NOT_PERSONAL:
        return _reject(text, "not_a_personal_line", extension, e164, f"Type: {type_name}.")
    return PhoneCheck(raw=text, ok=True, e164=e164, extension=extension, number_type=type_name,
                      region=region, fictional=fictional)


class PhoneValidator:
    """``check_phone`` with a per-instance cache: each distinct raw string is parsed once.

    Vendor files repeat the same strings many times (one owner's phones on every parcel row),
    so a bulk import calls ``validator.check(raw)`` and pays for ``phonenumbers`` once per
    distinct string. ``max_entries`` bounds memory; the cache is cleared when it is reached.
    """

    def __init__(self, rules: PhoneRules = STRICT, max_entries: int = 2_000_000) -> None:
        self.rules = rules
        self.max_entries = max_entries
        self._cache: dict[str, PhoneCheck] = {}

    def check(self, raw: str | None) -> PhoneCheck:
        key = raw or ""
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
            found = self._cache[key] = check_phone(key, self.rules)
        return found

    @property
    def distinct_checked(self) -> int:
        return len(self._cache)


# --------------------------------------------------------------------------------------------
# Area codes


_US_STATES: dict[str, str] = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Washington D.C.": "DC", "Washington DC": "DC", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH",
    "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN",
    "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY", "Puerto Rico": "PR",
    "Guam": "GU", "American Samoa": "AS", "U.S. Virgin Islands": "VI",
    "Northern Mariana Islands": "MP",
}
_STATE_CODES = frozenset(_US_STATES.values())
_AREA_CODE = re.compile(r"[2-9]\d\d")


@dataclass(frozen=True)
class AreaCodeInfo:
    """What numbering data says about a NANP area code.

    regions: the geocoder's English descriptions seen for the area code ("Florida",
        "Tallahassee, FL", ...). states: the US state codes they name. time_zones: every IANA
        zone ``phonenumbers`` gives for any exchange of the area code, sorted; a recipient
        whose exchange is unknown may be in any of them.
    """

    area_code: str
    regions: tuple[str, ...]
    states: tuple[str, ...]
    time_zones: tuple[str, ...]


def area_code_of(e164: str) -> str | None:
    """The area code of a +1 E.164 number (``"+14075550123"`` -> ``"407"``), else None."""
    if len(e164) == 12 and e164.startswith("+1") and _AREA_CODE.fullmatch(e164[2:5]):
        return e164[2:5]
    return None


def _state_of(description: str) -> str | None:
    if description in _US_STATES:
        return _US_STATES[description]
    tail = description.rsplit(", ", 1)[-1].strip()
    return tail if tail in _STATE_CODES else None


def area_code_info(area_code_or_e164: str) -> AreaCodeInfo:
    """States and time zones for an area code (``"850"``) or a +1 number in it.

    Asks ``phonenumbers.geocoder`` and ``phonenumbers.timezone`` about one number in every
    exchange 200..999 of the area code (their data is keyed by up to 7 digits, 1+NPA+NXX), and
    unions the answers (cached per area code, not per number). Raises ValueError for something
    that is not a NANP area code.
    """
    text = area_code_or_e164.strip()
    area_code = area_code_of(text) if text.startswith("+") else text
    if area_code is None or not _AREA_CODE.fullmatch(area_code):
        raise ValueError(f"not a NANP area code or +1 number: {area_code_or_e164!r}")
    return _area_code_info(area_code)


@lru_cache(maxsize=1024)
def _area_code_info(area_code: str) -> AreaCodeInfo:
    regions: set[str] = set()
    zones: set[str] = set()
    for exchange in range(200, 1000):
        number = phonenumbers.PhoneNumber(country_code=1,
                                          national_number=int(f"{area_code}{exchange}0100"))
        description = _geocoder.description_for_number(number, "en")
        if description and description != "United States":
            regions.add(description)
        zones.update(z for z in _timezone.time_zones_for_number(number)
                     if z != _timezone.UNKNOWN_TIMEZONE)
    states = {s for s in (_state_of(r) for r in regions) if s}
    return AreaCodeInfo(area_code, tuple(sorted(regions)), tuple(sorted(states)),
                        tuple(sorted(zones)))
