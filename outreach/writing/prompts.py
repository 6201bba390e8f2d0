"""Versioned prompts for LLM-written messages: prompts/touches/<name>_v<N>.md (campaign
touches) and prompts/llm_answers/<name>_v<N>.md (answers to common questions), each with
front matter, a `## system` and a `## user` section, and the output schema
prompts/written_message.schema.json.

Front matter (validated; errors name the file and the field):

    name: followup_2            # must match the file name without _v<N>
    version: 1
    purpose: touch              # touch | auto_reply (stored in llm_calls.purpose)
    schema: ../written_message.schema.json
    variables: [owner_first_name, property_address, ...]   # what the prompt is given
    untrusted: [reply_text]     # text from outside (a reply): its own marked block, never a
                                # source of facts for the checks
    defaults: {contact_source: public property records}
    temperature: 0.6
    max_tokens: {sms: 160, email: 700}
    fallback: {sms: sms_followup_v1, email: email_followup_v1}   # fixed templates, optional

The user section holds `{channel_rules}` (the length and format rules of the channel, written
by the code), `{facts}` (the trusted variables as one JSON object inside <<<FACTS … FACTS>>>)
and `{<name>}` for each untrusted variable inside its own markers. Values cannot close a
marker block: every "<<<" and ">>>" in a value is broken up before it is inserted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipelines.settings import PROJECT_ROOT

PROMPTS_DIR = PROJECT_ROOT / "prompts"
TOUCH_PROMPTS_DIR = PROMPTS_DIR / "touches"
ANSWER_PROMPTS_DIR = PROMPTS_DIR / "llm_answers"
PROMPT_DIRS = (TOUCH_PROMPTS_DIR, ANSWER_PROMPTS_DIR)
PROMPT_REF = r"^[a-z][a-z0-9_]*?(?:_v[0-9]+)?$"
Channel = Literal["sms", "email"]

# Limits the checks enforce (outreach/writing/checks.py) and the prompt states.
SMS_MAX_SEGMENTS = 2
SMS_MODEL_MAX_CHARS = 240  # leaves room for the appended identity and STOP line
EMAIL_MIN_WORDS, EMAIL_MAX_WORDS = 200, 300
SUBJECT_MAX_CHARS = 80

CHANNEL_RULES: dict[str, str] = {
    "sms": (f"Channel: SMS. Write the text message in \"body\": at most {SMS_MODEL_MAX_CHARS} "
            "characters, plain text, one short paragraph, no emoji. Set \"subject\" to null."),
    "email": (f"Channel: email. Write the plain-text body in \"body\": {EMAIL_MIN_WORDS} to "
              f"{EMAIL_MAX_WORDS} words in short paragraphs, starting with a greeting to the "
              "owner by first name. Write an honest subject line in \"subject\" (at most 60 "
              "characters, not starting with Re: or Fwd:)."),
}


class WritingPromptError(ValueError):
    """A prompt file is missing or invalid; the message names the file and the field."""


class _FrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: int = Field(ge=1)
    purpose: Literal["touch", "auto_reply"]
    schema_file: str = Field(alias="schema", min_length=1)
    variables: list[str] = Field(min_length=1)
    untrusted: list[str] = Field(default_factory=list)
    defaults: dict[str, str] = Field(default_factory=dict)
    temperature: float = Field(ge=0, le=2)
    max_tokens: dict[Channel, int] = Field(min_length=1)
    fallback: dict[Channel, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> _FrontMatter:
        unknown = (set(self.untrusted) | set(self.defaults)) - set(self.variables)
        if unknown:
            raise ValueError(f"untrusted/defaults name variables not in `variables`: "
                             f"{sorted(unknown)}")
        if any(tokens < 16 or tokens > 4096 for tokens in self.max_tokens.values()):
            raise ValueError("max_tokens must be 16..4096 per channel")
        return self


def _neutralise(value: str) -> str:
    """A value can neither close nor open a marker block."""
    return value.replace("<<<", "< < <").replace(">>>", "> > >")


@dataclass(frozen=True)
class WritingPrompt:
    """One loaded prompt file."""

    name: str
    version: int
    purpose: str
    system: str
    user: str
    schema: dict[str, Any]
    variables: tuple[str, ...]
    untrusted: tuple[str, ...]
    defaults: Mapping[str, str]
    temperature: float
    max_tokens: Mapping[str, int]
    fallback: Mapping[str, str]
    path: Path

    @property
    def label(self) -> str:
        return f"{self.name}_v{self.version}"

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.max_tokens)

    def values(self, variables: Mapping[str, object]) -> dict[str, str]:
        """The prompt's variables from `variables` (defaults filled in); a missing one is an
        error naming it."""
        values: dict[str, str] = {}
        missing = []
        for name in self.variables:
            value = variables.get(name, self.defaults.get(name))
            if value is None:
                missing.append(name)
            else:
                values[name] = str(value)
        if missing:
            raise WritingPromptError(f"{self.path}: variables missing for {self.label}: "
                                     f"{', '.join(missing)}")
        return values

    def render(self, variables: Mapping[str, object], channel: str) -> tuple[str, str]:
        """(system, user) for one call on `channel`."""
        if channel not in self.max_tokens:
            raise WritingPromptError(f"{self.path}: max_tokens: no {channel} entry (the prompt "
                                     f"is for {', '.join(self.channels)})")
        values = self.values(variables)
        facts = {name: _neutralise(value) for name, value in values.items()
                 if name not in self.untrusted}
        user = self.user.replace("{channel_rules}", CHANNEL_RULES[channel])
        for name in self.untrusted:
            user = user.replace("{" + name + "}", _neutralise(values[name]))
        user = user.replace("{facts}", json.dumps(facts, ensure_ascii=False, indent=1))
        return self.system, user


def _find(ref: str, directories: tuple[Path, ...]) -> Path:
    """`followup_2_v1` names a version; `followup_2` the newest one."""
    if not re.match(PROMPT_REF, ref):
        raise WritingPromptError(f"{ref!r} is not a prompt name (name or name_vN)")
    exact = [directory / f"{ref}.md" for directory in directories
             if (directory / f"{ref}.md").is_file()]
    if re.search(r"_v[0-9]+$", ref) and exact:
        if len(exact) > 1:
            raise WritingPromptError(f"prompt {ref!r} exists in more than one folder: {exact}")
        return exact[0]
    versions: list[tuple[int, Path]] = []
    for directory in directories:
        for path in directory.glob(f"{ref}_v*.md"):
            match = re.fullmatch(re.escape(ref) + r"_v([0-9]+)", path.stem)
            if match:
                versions.append((int(match.group(1)), path))
    if not versions:
        where = ", ".join(str(directory) for directory in directories)
        raise WritingPromptError(f"no prompt {ref!r} in {where}")
    newest = max(version for version, _ in versions)
    paths = [path for version, path in versions if version == newest]
    if len(paths) > 1:
        raise WritingPromptError(f"prompt {ref!r} exists in more than one folder: {paths}")
    return paths[0]


def load_writing_prompt_file(path: Path) -> WritingPrompt:
    """Read and validate one prompt file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise WritingPromptError(f"{path}: cannot read: {error}") from None
    match = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.DOTALL)
    if not match:
        raise WritingPromptError(f"{path}: missing front matter (--- name/version/... ---)")
    try:
        meta = _FrontMatter.model_validate(yaml.safe_load(match.group(1)))
    except yaml.YAMLError as error:
        raise WritingPromptError(f"{path}: front matter is not YAML: {error}") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in item['loc']) or '(front matter)'}: "
                             f"{item['msg']}" for item in error.errors())
        raise WritingPromptError(f"{path}: {problems}") from None
    stem = f"{meta.name}_v{meta.version}"
    if path.stem != stem:
        raise WritingPromptError(f"{path}: name/version say {stem!r}, the file name "
                                 f"{path.stem!r}")
    sections = re.split(r"^## (system|user)\s*$", match.group(2), flags=re.MULTILINE)
    parts = dict(zip(sections[1::2], (body.strip() for body in sections[2::2]), strict=True))
    if set(parts) != {"system", "user"}:
        raise WritingPromptError(f"{path}: needs a '## system' and a '## user' section")
    needed = ["{channel_rules}", "{facts}", *("{" + name + "}" for name in meta.untrusted)]
    missing = [token for token in needed if token not in parts["user"]]
    if missing:
        raise WritingPromptError(f"{path}: the user section lacks {', '.join(missing)}")
    try:
        schema = json.loads((path.parent / meta.schema_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise WritingPromptError(f"{path}: schema: {meta.schema_file}: {error}") from None
    return WritingPrompt(meta.name, meta.version, meta.purpose, parts["system"], parts["user"],
                         schema, tuple(meta.variables), tuple(meta.untrusted),
                         dict(meta.defaults), meta.temperature, dict(meta.max_tokens),
                         dict(meta.fallback), path)


@cache
def load_writing_prompt(ref: str, directories: tuple[Path, ...] = PROMPT_DIRS) -> WritingPrompt:
    """The prompt `ref` (`followup_2_v1`, or `followup_2` for the newest version) from
    prompts/touches or prompts/llm_answers."""
    return load_writing_prompt_file(_find(ref, directories))


def available_prompts(directories: tuple[Path, ...] = PROMPT_DIRS) -> list[str]:
    """Every prompt label (name_vN) in the folders, sorted."""
    return sorted(path.stem for directory in directories for path in directory.glob("*_v*.md"))
