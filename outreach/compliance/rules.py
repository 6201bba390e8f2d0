"""Compliance rules as data: one YAML per jurisdiction under `outreach/compliance/rules/`.

Each file describes one place (the federal rules, a state) or our own policy: its send window
in the recipient's local time, its solicitation caps, its do-not-call requirements, whether
SMS needs recorded consent there, and what an email must carry. A new state is a new file
(`<state code>.yaml`, e.g. `ga.yaml`), nothing else. Files are validated by pydantic; every
problem is reported with the file and the field (`RuleConfigError`).

Which rules apply to a send: every `federal` and `policy` file always; a `state` file when
the recipient may be in that state (area-code states, mailing or property address). Where
several apply, the strictest wins: the latest start and the earliest end of the send window,
the smallest cap, every DNC list any of them names (see `RuleSet.strictest`).

`RuleSet.version` is a digest of the files' contents, recorded with each gate decision, so a
decision can always be traced to the exact rules that made it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import time
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from markets.loader import load_yaml_strict

RULES_DIR = Path(__file__).resolve().parent / "rules"
RULES_DIR_ENV = "WHOLESALER_COMPLIANCE_RULES_DIR"

Channel = Literal["sms", "email"]
CHANNELS: tuple[Channel, ...] = ("sms", "email")
StateCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
PositiveInt = Annotated[int, Field(ge=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hours(_Strict):
    """The send window in the recipient's local time: sends at `start` <= t < `end`."""

    start: time
    end: time
    channels: list[Channel] = Field(min_length=1)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _start_before_end(self) -> Hours:
        if self.start >= self.end:
            raise ValueError(f"start {self.start} must be before end {self.end}")
        return self


class Caps(_Strict):
    """How many solicitations a person (owner, across all numbers) may receive in any 24 h,
    and a contact (one number or address) per calendar day."""

    per_person_per_24h: PositiveInt | None = None
    per_contact_per_day: PositiveInt | None = None
    channels: list[Channel] = Field(min_length=1)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _some_cap(self) -> Caps:
        if self.per_person_per_24h is None and self.per_contact_per_day is None:
            raise ValueError("caps must set per_person_per_24h or per_contact_per_day")
        return self


class StateList(_Strict):
    """A state do-not-call list: its key in the ledger (`dnc_numbers.list_key`)."""

    key: str = Field(pattern=r"^state_[a-z]{2}$")
    name: str = Field(min_length=1)
    required: bool = Field(default=True, description="a send needs a loaded copy of the list")
    max_age_days: PositiveInt | None = None


class DncRules(_Strict):
    national_registry_max_age_days: PositiveInt | None = None
    internal_list: bool = False
    state_list: StateList | None = None
    channels: list[Channel] = Field(min_length=1)
    source: str = Field(min_length=1)


class ConsentRules(_Strict):
    sms_requires_consent: bool = False
    source: str = Field(min_length=1)


class EmailRules(_Strict):
    postal_address_required: bool = True
    unsubscribe_link_required: bool = True
    source: str = Field(min_length=1)


class Source(_Strict):
    cite: str = Field(min_length=1)
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")


class Jurisdiction(_Strict):
    """One rules file."""

    code: str = Field(pattern=r"^[A-Z][A-Z_]{1,19}$", description="US, FL, HOUSE, ...")
    name: str = Field(min_length=1)
    kind: Literal["federal", "state", "policy"]
    hours: Hours | None = None
    caps: Caps | None = None
    dnc: DncRules | None = None
    consent: ConsentRules | None = None
    email: EmailRules | None = None
    sources: list[Source] = Field(min_length=1)

    @property
    def always_applies(self) -> bool:
        return self.kind in ("federal", "policy")


@dataclass(frozen=True)
class RuleProblem:
    """One reason a rules file is not usable."""

    file: Path
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


class RuleConfigError(Exception):
    """One or more rules files are invalid; carries every problem found."""

    def __init__(self, problems: Sequence[RuleProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(frozen=True)
class Window:
    """The strictest send window of several rules, and the rules it came from."""

    start: time
    end: time
    jurisdictions: tuple[str, ...]
    sources: tuple[str, ...]

    def allows(self, local: time) -> bool:
        return self.start <= local < self.end


@dataclass(frozen=True)
class StrictestRules:
    """What the applicable rules demand of one send on one channel, strictest first."""

    channel: Channel
    jurisdictions: tuple[str, ...]
    window: Window | None
    per_person_per_24h: int | None
    per_contact_per_day: int | None
    cap_sources: tuple[str, ...]
    national_registry_max_age_days: int | None
    internal_list: bool
    state_lists: tuple[StateList, ...]
    dnc_sources: tuple[str, ...]
    sms_requires_consent: bool
    consent_sources: tuple[str, ...]
    email_postal_address_required: bool
    email_unsubscribe_link_required: bool
    email_sources: tuple[str, ...]


def _min_optional(values: Iterable[int | None]) -> int | None:
    present = [value for value in values if value is not None]
    return min(present) if present else None


@dataclass(frozen=True)
class RuleSet:
    """Every jurisdiction's rules, and a digest of the files they came from."""

    jurisdictions: tuple[Jurisdiction, ...]
    version: str
    directory: Path | None = None
    # `strictest` answers by (channel, upper-cased states): the rules never change after
    # loading and `StrictestRules` is frozen, so one answer is shared by every caller.
    _strictest: dict[tuple[str, frozenset[str]], StrictestRules] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def by_code(self, code: str) -> Jurisdiction | None:
        return next((j for j in self.jurisdictions if j.code == code), None)

    @cached_property
    def state_codes(self) -> frozenset[str]:
        return frozenset(j.code for j in self.jurisdictions if j.kind == "state")

    def applicable(self, states: Iterable[str]) -> tuple[Jurisdiction, ...]:
        """The rules for a recipient who may be in any of `states`: federal and policy files
        always, plus the file of each state that has one."""
        wanted = {state.upper() for state in states}
        return tuple(j for j in self.jurisdictions
                     if j.always_applies or (j.kind == "state" and j.code in wanted))

    def strictest(self, channel: Channel, states: Iterable[str]) -> StrictestRules:
        """What the rules applicable to `states` demand on `channel` (memoised per
        (channel, states); see `_strictest_of`)."""
        key = (channel, frozenset(state.upper() for state in states))
        found = self._strictest.get(key)
        if found is None:
            found = self._strictest[key] = self._strictest_of(channel, key[1])
        return found

    def _strictest_of(self, channel: Channel, states: Iterable[str]) -> StrictestRules:
        rules = self.applicable(states)
        hours = [j for j in rules if j.hours and channel in j.hours.channels]
        window = None
        if hours:
            start = max(j.hours.start for j in hours if j.hours)
            end = min(j.hours.end for j in hours if j.hours)
            # The strictest of the windows decides; name the rules that set its bounds.
            setting = tuple(j for j in hours if j.hours and (j.hours.start == start
                                                             or j.hours.end == end))
            window = Window(start, end, tuple(j.code for j in setting),
                            tuple(j.hours.source for j in setting if j.hours))
        caps = [j.caps for j in rules if j.caps and channel in j.caps.channels]
        dnc = [j.dnc for j in rules if j.dnc and channel in j.dnc.channels]
        consent = [j.consent for j in rules if j.consent and j.consent.sms_requires_consent]
        email = [j.email for j in rules if j.email]
        return StrictestRules(
            channel=channel,
            jurisdictions=tuple(j.code for j in rules),
            window=window,
            per_person_per_24h=_min_optional(c.per_person_per_24h for c in caps),
            per_contact_per_day=_min_optional(c.per_contact_per_day for c in caps),
            cap_sources=tuple(c.source for c in caps),
            national_registry_max_age_days=_min_optional(
                d.national_registry_max_age_days for d in dnc),
            internal_list=any(d.internal_list for d in dnc),
            state_lists=tuple(d.state_list for d in dnc if d.state_list),
            dnc_sources=tuple(d.source for d in dnc),
            sms_requires_consent=channel == "sms" and bool(consent),
            consent_sources=tuple(c.source for c in consent),
            email_postal_address_required=any(e.postal_address_required for e in email),
            email_unsubscribe_link_required=any(e.unsubscribe_link_required for e in email),
            email_sources=tuple(e.source for e in email),
        )


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _reason(item: dict) -> str:
    if item["type"] == "extra_forbidden":
        return "unknown key (check its spelling against outreach/compliance/rules.py)"
    if item["type"] == "missing":
        return "required field is missing"
    return str(item["msg"]).removeprefix("Value error, ")


def parse_rules_file(path: Path) -> tuple[Jurisdiction | None, list[RuleProblem]]:
    """Read and validate one rules file; returns it or the problems found."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        return None, [RuleProblem(path, "(file)", f"cannot read: {error.strerror or error}")]
    try:
        document = load_yaml_strict(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        return None, [RuleProblem(path, where,
                                  f"malformed YAML: {getattr(error, 'problem', None) or error}")]
    if not isinstance(document, dict):
        return None, [RuleProblem(path, "(top level)", "expected a mapping of rules")]
    try:
        jurisdiction = Jurisdiction.model_validate(document)
    except ValidationError as error:
        return None, [RuleProblem(path, _field_path(tuple(item["loc"])), _reason(item))
                      for item in error.errors()]
    if jurisdiction.kind == "state" and jurisdiction.code != path.stem.upper():
        return None, [RuleProblem(path, "code", f"a state's file is named after it: "
                                                f"{jurisdiction.code!r} belongs in "
                                                f"{jurisdiction.code.lower()}.yaml")]
    return jurisdiction, []


def rules_dir() -> Path:
    """`WHOLESALER_COMPLIANCE_RULES_DIR`, else the rules shipped with this package."""
    configured = os.environ.get(RULES_DIR_ENV)
    return Path(configured) if configured else RULES_DIR


def load_rule_set(directory: Path | None = None) -> RuleSet:
    """Read every `*.yaml` of `directory`; raises RuleConfigError listing every problem
    (including a code used by two files, and no federal file)."""
    folder = Path(directory) if directory is not None else rules_dir()
    paths = sorted(folder.glob("*.yaml"))
    problems: list[RuleProblem] = []
    jurisdictions: list[Jurisdiction] = []
    first_file: dict[str, Path] = {}
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0")
        with contextlib.suppress(OSError):  # an unreadable file is reported below
            digest.update(path.read_bytes() + b"\0")
        jurisdiction, found = parse_rules_file(path)
        problems.extend(found)
        if jurisdiction is None:
            continue
        if jurisdiction.code in first_file:
            problems.append(RuleProblem(path, "code", f"{jurisdiction.code!r} is also the "
                                                      f"code of {first_file[jurisdiction.code]}"))
            continue
        first_file[jurisdiction.code] = path
        jurisdictions.append(jurisdiction)
    if not paths:
        problems.append(RuleProblem(folder, "(folder)", "no rules files (*.yaml) found"))
    elif not any(j.kind == "federal" for j in jurisdictions) and not problems:
        problems.append(RuleProblem(folder, "kind", "no file of kind 'federal'"))
    if problems:
        raise RuleConfigError(problems)
    return RuleSet(tuple(jurisdictions), f"rules-{digest.hexdigest()[:12]}", folder)


@lru_cache(maxsize=8)
def _cached_rule_set(folder: str) -> RuleSet:
    return load_rule_set(Path(folder))


def default_rule_set() -> RuleSet:
    """The rules of `rules_dir()`, read once per process."""
    return _cached_rule_set(str(rules_dir().resolve()))
