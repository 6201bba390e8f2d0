"""Opt-out, opt-in and HELP detection for inbound replies: deterministic, no model, always on.

`detect_opt_out(text, opt_out_type=None)` reads one inbound message (and Twilio's
`OptOutType` when the webhook has it) and returns an `OptOutResult`: `opt_out` (suppress the
person now), `opt_in` (START / UNSTOP), `help` (HELP / INFO: answer with identity and how to
stop) or `none`, with the words that matched and the name of the rule that fired. The rules
and every phrase list live in `opt_out_rules.yaml` beside this module (documented there and in
docs/replies.md); this module only applies them. There is no switch to turn it off.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rapidfuzz.distance import OSA

RULES_FILE = Path(__file__).with_name("opt_out_rules.yaml")

OptOutKind = Literal["opt_out", "opt_in", "help", "none"]

# Emoji that mean "stop" on their own.
_STOP_EMOJI = ("\U0001F6D1", "\u26D4", "\U0001F6AB")
_SENTENCE_BREAK = re.compile(r"[.!?;,:\n\r]+|\s-+\s|\s+/\s+")
_NOT_WORD = re.compile(r"[^\w']+")
_LONG_RUN = re.compile(r"([^\W\d_])\1{2,}")


@dataclass(frozen=True)
class OptOutResult:
    """What the opt-out path decided about one message.

    kind: `opt_out`, `opt_in`, `help` or `none`. matched: the words that fired the rule (as
    normalised text; empty for `none`). rule: the rule's name (`twilio_opt_out_type`,
    `keyword`, `misspelled_keyword`, `leading_command`, `trailing_command`, a phrase name
    from the rules file, `opt_in_keyword`, `help_keyword`, or `none`).
    """

    kind: OptOutKind
    matched: str = ""
    rule: str = "none"

    @property
    def is_opt_out(self) -> bool:
        return self.kind == "opt_out"

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "matched": self.matched, "rule": self.rule}


NO_MATCH = OptOutResult("none")


class OptOutRulesError(ValueError):
    """The rules file is invalid; the message names the file and the field."""


class _Keywords(BaseModel):
    model_config = ConfigDict(extra="forbid")
    opt_out: list[str] = Field(min_length=1)
    opt_out_other_languages: list[str] = Field(default_factory=list)
    opt_in: list[str] = Field(min_length=1)
    help: list[str] = Field(min_length=1)


class _Fuzzy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keyword: str
    min_length: int = Field(ge=4)
    max_distance: int = Field(ge=1, le=2)


class _Misspellings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    listed: list[str] = Field(default_factory=list)
    fuzzy: list[_Fuzzy] = Field(default_factory=list)
    not_misspellings: list[str] = Field(default_factory=list)


class _Phrase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    pattern: str
    unless: str | None = None
    examples: list[str] = Field(default_factory=list)


class OptOutRules(BaseModel):
    """The rules file (`opt_out_rules.yaml`), validated."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    keywords: _Keywords
    strong_keywords: list[str] = Field(min_length=1)
    fillers: list[str]
    misspellings: _Misspellings
    clause_openers: list[str]
    trailing_openers: list[str]
    vocabulary: dict[str, str]
    phrases: list[_Phrase] = Field(min_length=1)

    @field_validator("phrases")
    @classmethod
    def _unique_names(cls, phrases: list[_Phrase]) -> list[_Phrase]:
        names = [phrase.name for phrase in phrases]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate phrase names: {duplicates}")
        return phrases


@dataclass(frozen=True)
class _CompiledPhrase:
    name: str
    pattern: re.Pattern[str]
    unless: re.Pattern[str] | None


def normalise(text: str) -> str:
    """The text as the rules read it: NFKC, accents removed, lower case, ' for curly quotes,
    runs of 3+ equal letters shortened to one, words separated by single spaces."""
    for emoji in _STOP_EMOJI:
        text = text.replace(emoji, " stop ")
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    text = "".join(char for char in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(char))
    text = text.lower().replace("opt-out", "opt out").replace("opt_out", "opt out")
    text = _LONG_RUN.sub(r"\1", text)
    words = [word.strip("'_") for word in _NOT_WORD.split(text)]
    words = [word for word in words if word]
    if len(words) >= 3 and all(len(word) == 1 for word in words):  # "S T O P"
        words = ["".join(words)]
    return " ".join(words)


def _sentences(text: str) -> list[str]:
    parts = [normalise(part) for part in _SENTENCE_BREAK.split(text)]
    return [part for part in parts if part]


class OptOutDetector:
    """Applies one validated rules file; `detect` is cheap (compiled once)."""

    def __init__(self, rules: OptOutRules, source: str = "<rules>") -> None:
        self.rules = rules
        opt_out = rules.keywords.opt_out + rules.keywords.opt_out_other_languages
        self._opt_out_keywords = [tuple(normalise(word).split()) for word in opt_out]
        self._misspelled = [tuple(normalise(word).split()) for word in rules.misspellings.listed]
        self._strong = [tuple(normalise(word).split()) for word in rules.strong_keywords]
        self._opt_in = {normalise(word) for word in rules.keywords.opt_in}
        self._help = {normalise(word) for word in rules.keywords.help}
        self._fillers = {normalise(word) for word in rules.fillers}
        self._not_misspellings = {normalise(word) for word in rules.misspellings.not_misspellings}
        self._clause_openers = {normalise(word) for word in rules.clause_openers}
        self._trailing_openers = [normalise(word) for word in rules.trailing_openers]
        self._known_words = ({word for keyword in self._opt_out_keywords for word in keyword}
                             | self._fillers | self._opt_in | self._help)
        self._phrases = [self._compile(phrase, source) for phrase in rules.phrases]

    def _compile(self, phrase: _Phrase, source: str) -> _CompiledPhrase:
        def expand(pattern: str, field: str) -> re.Pattern[str]:
            try:
                expanded = re.sub(r"\{([a-z_]+)\}",
                                  lambda match: self.rules.vocabulary[match.group(1)], pattern)
                return re.compile(expanded)
            except KeyError as error:
                raise OptOutRulesError(f"{source}: phrases.{phrase.name}.{field}: unknown "
                                       f"vocabulary entry {error}") from None
            except re.error as error:
                raise OptOutRulesError(f"{source}: phrases.{phrase.name}.{field}: invalid "
                                       f"regular expression: {error}") from None

        compiled = _CompiledPhrase(phrase.name, expand(phrase.pattern, "pattern"),
                                   expand(phrase.unless, "unless") if phrase.unless else None)
        for example in phrase.examples:
            if not compiled.pattern.search(normalise(example)):
                raise OptOutRulesError(f"{source}: phrases.{phrase.name}.examples: "
                                       f"{example!r} does not match the pattern")
        return compiled

    # --- the rules, in order ------------------------------------------------------------

    def detect(self, text: str, opt_out_type: str | None = None) -> OptOutResult:
        """Classify one inbound message; `opt_out_type` is Twilio's `OptOutType` field."""
        twilio = (opt_out_type or "").strip().upper()
        if twilio == "STOP":
            return OptOutResult("opt_out", normalise(text) or "STOP", "twilio_opt_out_type")
        found = self._opt_out(text)
        if found:
            return found
        if twilio in ("START", "HELP"):
            kind: OptOutKind = "opt_in" if twilio == "START" else "help"
            return OptOutResult(kind, normalise(text) or twilio, "twilio_opt_out_type")
        whole = normalise(text)
        if whole in self._opt_in:
            return OptOutResult("opt_in", whole, "opt_in_keyword")
        if whole in self._help:
            return OptOutResult("help", whole, "help_keyword")
        return NO_MATCH

    def _opt_out(self, text: str) -> OptOutResult | None:
        whole = normalise(text)
        if not whole:
            return None
        for sentence in [whole, *_sentences(text)]:
            words = sentence.split()
            keyword = self._command(words, self._opt_out_keywords)
            if keyword:
                return OptOutResult("opt_out", keyword, "keyword")
            keyword = self._command(words, self._misspelled) or self._fuzzy_command(words)
            if keyword:
                return OptOutResult("opt_out", keyword, "misspelled_keyword")
        words = whole.split()
        for keyword in self._strong:
            size = len(keyword)
            if (len(words) > size and tuple(words[:size]) == keyword
                    and words[size] in self._clause_openers):
                return OptOutResult("opt_out", " ".join(words[:size + 1]), "leading_command")
            if len(words) > size and tuple(words[-size:]) == keyword:
                before = " ".join(words[:-size])
                for opener in self._trailing_openers:
                    if before == opener or before.endswith(" " + opener):
                        return OptOutResult("opt_out", f"{opener} {' '.join(keyword)}",
                                            "trailing_command")
        for phrase in self._phrases:
            match = phrase.pattern.search(whole)
            if match and not (phrase.unless and phrase.unless.search(whole)):
                return OptOutResult("opt_out", match.group(0).strip(), phrase.name)
        return None

    def _command(self, words: list[str], keywords: Iterable[tuple[str, ...]]) -> str | None:
        """The keyword when `words` are one keyword wrapped only in filler words."""
        for keyword in keywords:
            size = len(keyword)
            for start in range(len(words) - size + 1):
                if tuple(words[start:start + size]) == keyword:
                    rest = words[:start] + words[start + size:]
                    if all(word in self._fillers or (word,) in self._opt_out_keywords
                           for word in rest):
                        return " ".join(keyword)
        return None

    def _fuzzy_command(self, words: list[str]) -> str | None:
        """A word within the allowed edit distance of a keyword, the rest fillers."""
        for index, word in enumerate(words):
            if word in self._known_words or word in self._not_misspellings:
                continue
            rest = words[:index] + words[index + 1:]
            if not all(other in self._fillers for other in rest):
                continue
            for fuzzy in self.rules.misspellings.fuzzy:
                if (len(word) >= fuzzy.min_length
                        and OSA.distance(word, fuzzy.keyword) <= fuzzy.max_distance):
                    return word
        return None


def load_rules(path: Path = RULES_FILE) -> OptOutDetector:
    """Read and validate a rules file; errors name the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise OptOutRulesError(f"{path}: {error}") from None
    try:
        rules = OptOutRules.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(part) for part in problem['loc'])}: "
                             f"{problem['msg']}" for problem in error.errors())
        raise OptOutRulesError(f"{path}: {problems}") from None
    return OptOutDetector(rules, str(path))


@cache
def default_detector() -> OptOutDetector:
    """The detector of the shipped rules file (loaded once per process)."""
    return load_rules(RULES_FILE)


def detect_opt_out(text: str, opt_out_type: str | None = None) -> OptOutResult:
    """Opt-out / opt-in / HELP for one inbound message, with the shipped rules.

    `opt_out_type` is Twilio's `OptOutType` webhook field (`STOP`, `START`, `HELP`) when
    present: STOP always opts out; an opt-out found in the text wins over START and HELP.
    """
    return default_detector().detect(text, opt_out_type)
