"""Fixed answers to common seller questions (prompts/answers/*.yaml), chosen by a simple
matcher and rendered with the conversation's variables.

`answer_for(question_text, context) -> RenderedAnswer | None`: the first answer file (in name
order) one of whose `match` regular expressions finds the question (normalised as the
opt-out rules read text: lower case, accents removed), rendered for the context's channel;
None when nothing matches (the reply then goes to a person). Another implementation (an LLM
writing the answer and checking it) can sit behind the same function later.

Each file: `version`, `description`, `match` (regexes), `examples` (each must match: checked
on load and in the tests), `sms` (one or two segments, must say how to stop: "STOP"),
`email_subject`, `email_body`. Checked on load: no dollar amounts or numbers with a currency,
no words that promise or offer ("guarantee", "promise", "cash offer", "we will buy"), and only
the known variables (`AnswerContext` fields). The reply-sending side adds the identity and
unsubscribe footer of emails.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import smsutil
import yaml
from jinja2 import StrictUndefined, UndefinedError, meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from outreach.replies.opt_out import normalise
from pipelines.settings import PROJECT_ROOT

ANSWERS_DIR = PROJECT_ROOT / "prompts" / "answers"
MAX_SMS_SEGMENTS = 2
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_FORBIDDEN = re.compile(
    r"\$\s*\d|\d\s*(k|usd|dollars)\b|\b(guarantee\w*|promise\w*|cash offer|we will buy|"
    r"we'll buy|highest price|best price|legal advice|tax advice)\b", re.IGNORECASE)


class AnswerError(ValueError):
    """An answer file is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class AnswerContext:
    """The variables an answer may use (all come from the ledger and the market file)."""

    channel: str  # sms | email
    owner_first_name: str
    agent_name: str
    sender_name: str
    county_name: str
    property_address: str


@dataclass(frozen=True)
class RenderedAnswer:
    name: str
    version: int
    channel: str
    body: str
    subject: str | None = None

    @property
    def template(self) -> str:
        return f"answer_{self.name}"


class AnswerFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    description: str = Field(min_length=1)
    match: list[str] = Field(min_length=1)
    examples: list[str] = Field(min_length=1)
    sms: str = Field(min_length=1)
    email_subject: str = Field(min_length=1)
    email_body: str = Field(min_length=1)

    @field_validator("match")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"{pattern!r} is not a regular expression: {error}") from error
        return patterns

    @field_validator("sms")
    @classmethod
    def _says_stop(cls, text: str) -> str:
        if not re.search(r"\bSTOP\b", text):
            raise ValueError("an SMS answer must say how to stop (Reply STOP)")
        return text


@dataclass(frozen=True)
class Answer:
    name: str
    spec: AnswerFile
    patterns: tuple[re.Pattern[str], ...]

    def matches(self, normalised_text: str) -> bool:
        return any(pattern.search(normalised_text) for pattern in self.patterns)


_KNOWN = frozenset(AnswerContext.__dataclass_fields__) - {"channel"}


def _load(path: Path) -> Answer:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec = AnswerFile.model_validate(raw)
    except (OSError, yaml.YAMLError) as error:
        raise AnswerError(f"{path}: {error}") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}"
                             for item in error.errors())
        raise AnswerError(f"{path}: {problems}") from None
    for field in ("sms", "email_subject", "email_body"):
        text = getattr(spec, field)
        used = meta.find_undeclared_variables(_ENV.parse(text))
        unknown = sorted(used - _KNOWN)
        if unknown:
            raise AnswerError(f"{path}: {field}: unknown variable(s) {unknown}; known: "
                              f"{sorted(_KNOWN)}")
        found = _FORBIDDEN.search(text)
        if found:
            raise AnswerError(f"{path}: {field}: {found.group(0)!r} is not allowed (no "
                              "amounts, offers, promises or advice in an automatic answer)")
    answer = Answer(path.stem, spec, tuple(re.compile(p) for p in spec.match))
    for example in spec.examples:
        if not answer.matches(normalise(example)):
            raise AnswerError(f"{path}: examples: {example!r} is matched by no pattern")
    return answer


@cache
def load_answers(directory: Path = ANSWERS_DIR) -> tuple[Answer, ...]:
    """Every answer file of the folder, validated (cached per process)."""
    return tuple(_load(path) for path in sorted(directory.glob("*.yaml")))


def match_answer(question_text: str, directory: Path = ANSWERS_DIR) -> Answer | None:
    text = normalise(question_text)
    return next((answer for answer in load_answers(directory) if answer.matches(text)), None)


def render_answer(answer: Answer, context: AnswerContext) -> RenderedAnswer:
    variables = {key: value for key, value in asdict(context).items() if key != "channel"}
    try:
        if context.channel == "sms":
            body = " ".join(_ENV.from_string(answer.spec.sms).render(variables).split())
            if len(smsutil.split(body).parts) > MAX_SMS_SEGMENTS:
                raise AnswerError(f"answer {answer.name}: the SMS is longer than "
                                  f"{MAX_SMS_SEGMENTS} segments for this context")
            return RenderedAnswer(answer.name, answer.spec.version, "sms", body)
        subject = _ENV.from_string(answer.spec.email_subject).render(variables).strip()
        body = _ENV.from_string(answer.spec.email_body).render(variables).strip()
    except UndefinedError as error:
        raise AnswerError(f"answer {answer.name}: {error}") from error
    return RenderedAnswer(answer.name, answer.spec.version, "email", body, subject)


def answer_for(question_text: str, context: AnswerContext,
               directory: Path = ANSWERS_DIR) -> RenderedAnswer | None:
    """The fixed answer to a question, rendered for `context.channel`; None: no answer
    matches (a person answers)."""
    answer = match_answer(question_text, directory)
    if answer is None:
        return None
    try:
        return render_answer(answer, context)
    except AnswerError:
        return None  # too long for this context: a person answers
