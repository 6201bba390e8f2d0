"""The time rule: may a solicitation reach this phone number at this instant?

The recipient's whereabouts are not known for certain, so every place they may be counts:
the states and time zones of the number's area code (`contacts.phones.area_code_info`: 850
is Florida, in both America/Chicago and America/New_York), plus any mailing or property
address states and zones the caller knows. The rules of all those states apply (a Florida
area code brings Florida's 08:00–20:00), and the strictest window wins. The instant is
allowed only if it falls inside that window in EVERY candidate zone; with no known zone, or a
zone name the time-zone database does not know, it is refused.

`window_decision` returns a `WindowDecision`: allowed, the local time in each zone
considered, the window and the rules that set it, and the reasons.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contacts.phones import PhoneRules, area_code_info, area_code_of, check_phone
from outreach.compliance.rules import Channel, RuleSet, Window, default_rule_set

# The time rule only needs the area code: numbers in the fictional 555-01xx range (the demo's)
# are accepted here; whether a number may be stored or sent to is decided elsewhere.
_WINDOW_PHONE_RULES = PhoneRules(allow_fictional_555=True)


class InvalidPhoneError(ValueError):
    """The phone number cannot be placed: not a valid +1 number with an area code."""


@dataclass(frozen=True)
class LocalTime:
    """The instant as a clock in one candidate zone shows it, and whether the window allows
    it there."""

    zone: str
    local_time: str
    allowed: bool

    def as_dict(self) -> dict[str, Any]:
        return {"zone": self.zone, "local_time": self.local_time, "allowed": self.allowed}


@dataclass(frozen=True)
class WindowDecision:
    """Whether the instant is inside the strictest applicable send window in every
    candidate zone."""

    allowed: bool
    at: datetime
    phone: str | None
    area_code: str | None
    states: tuple[str, ...]
    zones: tuple[str, ...]
    local_times: tuple[LocalTime, ...]
    window: Window | None
    jurisdictions: tuple[str, ...]
    reasons: tuple[str, ...]
    rule_set_version: str
    unknown_zones: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        rule = None
        if self.window is not None:
            rule = {"start": self.window.start.strftime("%H:%M"),
                    "end": self.window.end.strftime("%H:%M"),
                    "set_by": list(self.window.jurisdictions),
                    "sources": list(self.window.sources)}
        return {
            "allowed": self.allowed,
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "phone": self.phone,
            "area_code": self.area_code,
            "states": list(self.states),
            "zones": list(self.zones),
            "local_times": [local.as_dict() for local in self.local_times],
            "rule": rule,
            "jurisdictions": list(self.jurisdictions),
            "reasons": list(self.reasons),
            "rule_set_version": self.rule_set_version,
        }


@lru_cache(maxsize=65_536)
def normalise_phone(phone: str) -> tuple[str, str]:
    """(E.164, area code) of a +1 number; raises InvalidPhoneError naming the problem."""
    check = check_phone(phone, _WINDOW_PHONE_RULES)
    if not check.ok or check.e164 is None:
        raise InvalidPhoneError(check.reason or f"{phone!r} is not a valid phone number")
    area_code = area_code_of(check.e164)
    if area_code is None:
        raise InvalidPhoneError(f"{phone!r}: not a NANP (+1) number with an area code")
    return check.e164, area_code


_Judged = tuple[RuleSet, WindowDecision]
_JUDGED: dict[tuple[int, datetime, tuple[str, ...], tuple[str, ...], str], _Judged] = {}
_JUDGED_MAX = 4096


def evaluate_window(at: datetime, states: Iterable[str], zones: Iterable[str],
                    rules: RuleSet, channel: Channel = "sms", phone: str | None = None,
                    area_code: str | None = None) -> WindowDecision:
    """The time rule for a recipient who may be in any of `states` and `zones`.

    The answer depends only on the instant, the places, the rules and the channel (a send run
    asks about one instant for thousands of numbers in a few places), so it is kept per
    (rules, instant, states, zones, channel) and only the phone fields are filled in per call.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("the instant must carry a UTC offset (an aware datetime)")
    state_set = tuple(sorted({s.upper() for s in states if s}))
    zone_names = tuple(sorted({z for z in zones if z}))
    # Keyed by the instant in UTC (aware datetimes in one zone compare by wall time, fold
    # ignored); the local times depend on the instant only, and `at` is returned as given.
    key = (id(rules), at.astimezone(UTC), state_set, zone_names, channel)
    found = _JUDGED.get(key)
    if found is None or found[0] is not rules:
        if len(_JUDGED) >= _JUDGED_MAX:
            _JUDGED.clear()
        found = _JUDGED[key] = (rules, _evaluate_window(at, state_set, zone_names, rules,
                                                        channel))
    d = found[1]
    if d.at is at and phone is None and area_code is None:
        return d
    return WindowDecision(d.allowed, at, phone, area_code, d.states, d.zones, d.local_times,
                          d.window, d.jurisdictions, d.reasons, d.rule_set_version,
                          d.unknown_zones)


def _evaluate_window(at: datetime, state_set: tuple[str, ...], zone_names: tuple[str, ...],
                     rules: RuleSet, channel: Channel, phone: str | None = None,
                     area_code: str | None = None) -> WindowDecision:
    strictest = rules.strictest(channel, state_set)
    window = strictest.window
    reasons: list[str] = []
    no_rules = sorted(set(state_set) - rules.state_codes)
    if no_rules:
        reasons.append(f"no rules file for {', '.join(no_rules)}: only federal and house "
                       "rules apply there")
    if window is None:
        reasons.append(f"no send window applies to {channel}")
        return WindowDecision(True, at, phone, area_code, state_set, zone_names, (), None,
                              strictest.jurisdictions, tuple(reasons), rules.version)
    known: list[tuple[str, ZoneInfo]] = []
    unknown: list[str] = []
    for name in zone_names:
        try:
            known.append((name, ZoneInfo(name)))
        except (ZoneInfoNotFoundError, ValueError):
            unknown.append(name)
    local_times = []
    for name, zone in known:
        clock = at.astimezone(zone)
        inside = window.allows(clock.time().replace(tzinfo=None))
        local_times.append(LocalTime(name, clock.isoformat(timespec="minutes"), inside))
        if not inside:
            reasons.append(f"{clock.strftime('%H:%M')} in {name} is outside "
                           f"{window.start:%H:%M}–{window.end:%H:%M} "
                           f"({', '.join(window.sources)})")
    if unknown:
        reasons.append(f"unknown time zone {', '.join(unknown)}: refused")
    if not zone_names:
        reasons.append("the recipient's time zone is unknown: refused")
    allowed = bool(known) and not unknown and all(local.allowed for local in local_times)
    if allowed:
        reasons.append(f"inside {window.start:%H:%M}–{window.end:%H:%M} in every candidate "
                       f"zone ({', '.join(window.sources)})")
    return WindowDecision(allowed, at, phone, area_code, state_set, zone_names,
                          tuple(local_times), window, strictest.jurisdictions, tuple(reasons),
                          rules.version, tuple(unknown))


def candidate_places(phone_e164: str | None, extra_states: Iterable[str] = (),
                     extra_zones: Iterable[str] = ()) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(states, zones) the recipient may be in: the area code's, plus the extra ones."""
    extra = (tuple(extra_states), tuple(extra_zones))
    area_code = area_code_of(phone_e164) if phone_e164 else None
    if area_code is not None:  # the area code decides the phone's part (`area_code_info`)
        return _candidate_places(area_code, *extra)
    return _places(phone_e164, *extra)


@lru_cache(maxsize=4096)
def _candidate_places(area_code: str, extra_states: tuple[str, ...],
                      extra_zones: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return _places(area_code, extra_states, extra_zones)


def _places(area_code_or_e164: str | None, extra_states: tuple[str, ...],
            extra_zones: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    states = {s.upper() for s in extra_states if s}
    zones = {z for z in extra_zones if z}
    if area_code_or_e164:
        info = area_code_info(area_code_or_e164)
        states.update(info.states)
        zones.update(info.time_zones)
    return tuple(sorted(states)), tuple(sorted(zones))


def window_decision(phone_e164: str, at: datetime, extra_states: Iterable[str] = (),
                    extra_zones: Iterable[str] = (), rules: RuleSet | None = None,
                    channel: Channel = "sms") -> WindowDecision:
    """May a solicitation reach `phone_e164` at `at`? See the module docstring.

    `extra_states` / `extra_zones`: the mailing and property address states and any zones
    known for the recipient. Raises InvalidPhoneError for a number that cannot be placed and
    ValueError for a naive `at`.
    """
    e164, area_code = normalise_phone(phone_e164)
    states, zones = candidate_places(e164, extra_states, extra_zones)
    return evaluate_window(at, states, zones, rules or default_rule_set(), channel, e164,
                           area_code)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with an offset (`2026-11-21T19:30:00-05:00`, `...Z`)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise ValueError(f"{text!r} is not an ISO 8601 date and time") from error
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add one (e.g. Z or -05:00)")
    return value
