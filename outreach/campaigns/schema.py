"""Campaign definitions (`campaigns/<name>.yaml`): which markets and tiers, which touches on
which days through which channel and template, the daily volume cap, and `live`.

Rules (errors name the file and field): 3 to 5 touches; the first on day 0, each later touch
on a later day, the last between day 14 and day 21; every template exists, is valid, and is
for the touch's channel; tiers among A, B+, B, C. A touch may ask for an LLM-written text
(`writer: llm` with `prompt: followup_2_v1`, a prompt in prompts/touches; docs/writing.md):
its template stays the checked fallback. `live: false` (the default) sends to the
outbox only; a real send needs `live: true` here AND on the market AND credentials.
"""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from markets.schema import MARKET_CODE_PATTERN
from outreach.campaigns.templates import TEMPLATES_DIR, TemplateError, load_template
from pipelines.settings import PROJECT_ROOT

CAMPAIGNS_DIR = PROJECT_ROOT / "campaigns"
MIN_TOUCHES, MAX_TOUCHES = 3, 5
MIN_LAST_DAY, MAX_LAST_DAY = 14, 21


class CampaignError(ValueError):
    """A campaign file is invalid; `problems` hold one line per file and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Touch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    day: int = Field(ge=0, le=MAX_LAST_DAY, description="days after enrollment")
    channel: Literal["sms", "email"]
    template: str = Field(pattern=r"^[a-z0-9_]+$")
    writer: Literal["fixed", "llm"] = "fixed"
    prompt: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$",
                               description="with writer: llm, e.g. followup_2_v1")

    @model_validator(mode="after")
    def _writer_prompt(self) -> Touch:
        if self.writer == "llm" and not self.prompt:
            raise ValueError("writer: llm needs a prompt (e.g. prompt: followup_2_v1)")
        if self.writer == "fixed" and self.prompt:
            raise ValueError("a prompt is only used with writer: llm")
        return self

    @model_serializer(mode="wrap")
    def _omit_fixed_writer(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        # A fixed touch serialises as before the writer field existed, so the definition
        # hash of existing campaigns (outreach/enrolling.py) does not change.
        data = handler(self)
        if self.writer == "fixed":
            data.pop("writer", None)
            data.pop("prompt", None)
        return data


class Campaign(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9_]{2,60}$")
    description: str = ""
    markets: list[str] = Field(min_length=1)
    target_tiers: list[Literal["A", "B+", "B", "C"]] = Field(default_factory=lambda: ["A", "B+"])
    daily_volume_cap: int = Field(ge=1, le=100_000)
    live: bool = False
    touches: list[Touch] = Field(min_length=MIN_TOUCHES, max_length=MAX_TOUCHES)

    @field_validator("markets")
    @classmethod
    def _market_codes(cls, markets: list[str]) -> list[str]:
        bad = [code for code in markets if not re.match(MARKET_CODE_PATTERN, code)]
        if bad:
            raise ValueError(f"not market codes: {bad}")
        return markets

    @field_validator("touches")
    @classmethod
    def _schedule(cls, touches: list[Touch]) -> list[Touch]:
        days = [touch.day for touch in touches]
        if days[0] != 0:
            raise ValueError("the first touch is on day 0")
        if any(later <= earlier for earlier, later in pairwise(days)):
            raise ValueError(f"each touch must come on a later day than the one before: {days}")
        if not MIN_LAST_DAY <= days[-1] <= MAX_LAST_DAY:
            raise ValueError(f"the last touch must be on day {MIN_LAST_DAY}-{MAX_LAST_DAY}, "
                             f"not {days[-1]}")
        return touches


def _problems(path: Path, error: ValidationError) -> list[str]:
    return [f"{path}: {'.'.join(str(p) for p in item['loc']) or '(file)'}: {item['msg']}"
            for item in error.errors()]


def load_campaign(path: Path, templates_dir: Path = TEMPLATES_DIR,
                  known_markets: set[str] | None = None) -> Campaign:
    """Read and validate one campaign file, its templates and (when given) its markets."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CampaignError([f"{path}: cannot read: {error}"]) from error
    if not isinstance(data, dict):
        raise CampaignError([f"{path}: expected a mapping"])
    try:
        campaign = Campaign(**data)
    except ValidationError as error:
        raise CampaignError(_problems(path, error)) from error
    problems = []
    if campaign.name != path.stem:
        problems.append(f"{path}: name: {campaign.name!r} must match the file name "
                        f"{path.stem!r}")
    for index, touch in enumerate(campaign.touches):
        try:
            template = load_template(touch.template, templates_dir)
        except TemplateError as error:
            problems.append(f"{path}: touches.{index}.template: {error}")
            continue
        if template.channel != touch.channel:
            problems.append(f"{path}: touches.{index}.template: {touch.template} is an "
                            f"{template.channel} template, the touch is {touch.channel}")
        if touch.writer == "llm" and touch.prompt:
            from outreach.writing.prompts import WritingPromptError, load_writing_prompt

            try:
                prompt = load_writing_prompt(touch.prompt)
            except WritingPromptError as error:
                problems.append(f"{path}: touches.{index}.prompt: {error}")
                continue
            if touch.channel not in prompt.channels or prompt.purpose != "touch":
                problems.append(f"{path}: touches.{index}.prompt: {touch.prompt} is not a "
                                f"{touch.channel} touch prompt")
    if known_markets is not None:
        unknown = sorted(set(campaign.markets) - known_markets)
        if unknown:
            problems.append(f"{path}: markets: unknown market(s) {unknown}")
    if problems:
        raise CampaignError(problems)
    return campaign


def load_campaigns(directory: Path = CAMPAIGNS_DIR,
                   known_markets: set[str] | None = None) -> list[Campaign]:
    campaigns, problems = [], []
    for path in sorted(directory.glob("*.yaml")):
        try:
            campaigns.append(load_campaign(path, known_markets=known_markets))
        except CampaignError as error:
            problems.extend(error.problems)
    if problems:
        raise CampaignError(problems)
    return campaigns
