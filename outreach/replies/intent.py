"""Intent of an inbound reply: interested, not_interested, question, opt_out, wrong_number or
unknown, with a confidence and the method that decided.

Order of decision (`IntentClassifier.classify`):

1. The opt-out path (outreach/replies/opt_out.py) runs first and wins: an opt-out is
   `opt_out` with confidence 1.0 and method ``opt_out``; no model is asked.
2. When an LLM is configured (`WHOLESALER_LLM_PROVIDER`, see settings.py), it is asked for
   JSON matching prompts/intent.schema.json with the prompt prompts/intent_v1.md (method
   ``llm_ollama`` or ``llm_openai``). The answer is validated against the schema.
3. Otherwise, or when the model is unreachable, slower than `WHOLESALER_LLM_TIMEOUT_SECONDS`,
   answers with an HTTP error, invalid JSON or JSON outside the schema, the deterministic
   `RulesIntentClassifier` decides (method ``rules``) and `fallback_reason` says why.

The rules (intent_rules.yaml beside this module) are documented in that file and in
docs/replies.md; tests/eval/intent.yaml measures them.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from outreach.replies.llm import JsonAnswer, JsonChat, LLMError, OllamaJsonChat, OpenAIJsonChat
from outreach.replies.opt_out import OptOutResult, detect_opt_out, normalise
from outreach.replies.settings import ReplySettings, reply_settings
from pipelines.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

Intent = Literal["interested", "not_interested", "question", "opt_out", "wrong_number",
                 "unknown"]
INTENTS: tuple[Intent, ...] = ("interested", "not_interested", "question", "opt_out",
                               "wrong_number", "unknown")
Method = Literal["opt_out", "llm_ollama", "llm_openai", "rules"]

PROMPTS_DIR = PROJECT_ROOT / "prompts"
INTENT_PROMPT = PROMPTS_DIR / "intent_v1.md"
INTENT_SCHEMA = PROMPTS_DIR / "intent.schema.json"
RULES_FILE = Path(__file__).with_name("intent_rules.yaml")


@dataclass(frozen=True)
class IntentResult:
    """The intent of one reply and how it was decided.

    method: ``opt_out`` (the opt-out path), ``llm_ollama``, ``llm_openai`` or ``rules``.
    fallback_reason: why the rules decided although an LLM was configured (``timeout: …``,
    ``unreachable: …``, ``invalid_json: …``, ``schema_violation: …``, ``http_error: …``), or
    ``no LLM configured``; None when the LLM or the opt-out path decided.
    reason: the model's one-line reason, or the rules that scored.
    llm_raw: the model's raw content when a model answered (also when it was invalid), so
    callers can store prompt and response.
    """

    intent: Intent
    confidence: float
    method: Method
    fallback_reason: str | None = None
    reason: str = ""
    prompt_version: str | None = None
    llm_raw: str | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"intent": self.intent, "confidence": round(self.confidence, 3),
                "method": self.method, "fallback_reason": self.fallback_reason,
                "reason": self.reason, "prompt_version": self.prompt_version}


# --- the deterministic classifier ---------------------------------------------------------

class IntentRulesError(ValueError):
    """The intent rules file is invalid; the message names the file and the field."""


class _WeightedPattern(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: float = Field(gt=0)
    pattern: str


class IntentRules(BaseModel):
    """intent_rules.yaml, validated."""

    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)
    priority: list[Literal["interested", "not_interested", "question", "wrong_number"]]
    # Intents that win only when no other intent scored (a question that also shows interest
    # or refusal is that interest or refusal).
    only_alone: list[Literal["interested", "not_interested", "question", "wrong_number"]] = (
        Field(default_factory=list))
    unknown_confidence: float = Field(ge=0, le=1)
    # Word families a pattern inserts with `{name}` (e.g. every spelling of "interested").
    vocabulary: dict[str, str] = Field(default_factory=dict)
    # Patterns of replies that address the classifier (prompt injection): always `unknown`.
    instructions: list[str] = Field(default_factory=list)
    intents: dict[Literal["interested", "not_interested", "question", "wrong_number"],
                  list[_WeightedPattern]]


class RulesIntentClassifier:
    """Weighted regular expressions per intent; the highest total wins (see the rules file)."""

    method: Method = "rules"

    def __init__(self, rules: IntentRules, source: str = "<rules>") -> None:
        self.rules = rules
        self._patterns: list[tuple[Intent, float, re.Pattern[str]]] = []
        for intent, patterns in rules.intents.items():
            for index, item in enumerate(patterns):
                self._patterns.append((intent, item.weight, self._compile(
                    item.pattern, f"{source}: intents.{intent}.{index}.pattern")))
        self._rank = {intent: position for position, intent in enumerate(rules.priority)}
        self._instructions = [self._compile(pattern, f"{source}: instructions.{index}")
                              for index, pattern in enumerate(rules.instructions)]

    def _compile(self, pattern: str, where: str) -> re.Pattern[str]:
        """The pattern with each `{name}` replaced by that vocabulary entry, compiled."""
        try:
            expanded = re.sub(r"\{([a-z_]+)\}",
                              lambda match: self.rules.vocabulary[match.group(1)], pattern)
            return re.compile(expanded)
        except KeyError as error:
            raise IntentRulesError(f"{where}: unknown vocabulary entry {error}") from None
        except re.error as error:
            raise IntentRulesError(f"{where}: {error}") from None

    def classify(self, text: str) -> IntentResult:
        normalised = normalise(text)
        if text.rstrip().endswith("?"):
            normalised += " ?"  # lets a pattern see a question mark at the end
        for pattern in self._instructions:
            found = pattern.search(normalised)
            if found:
                return IntentResult("unknown", self.rules.unknown_confidence, "rules",
                                    reason=f"instructions to the classifier: "
                                           f"{found.group(0).strip()!r}")
        scores: dict[Intent, float] = {}
        fired: list[str] = []
        for intent, weight, pattern in self._patterns:
            if pattern.search(normalised):
                scores[intent] = scores.get(intent, 0.0) + weight
                fired.append(intent)
        if not scores:
            return IntentResult("unknown", self.rules.unknown_confidence, "rules",
                                reason="no rule matched")
        if any(intent not in self.rules.only_alone for intent in scores):
            scores = {intent: score for intent, score in scores.items()
                      if intent not in self.rules.only_alone}
        ranked = sorted(scores.items(), key=lambda item: (-item[1], self._rank.get(item[0], 99)))
        best_intent, best = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        confidence = 0.5 + 0.45 * (best - second) / best
        detail = ", ".join(f"{intent} {score:g}" for intent, score in ranked)
        return IntentResult(best_intent, confidence, "rules", reason=f"rule scores: {detail}")


def load_intent_rules(path: Path = RULES_FILE) -> RulesIntentClassifier:
    """Read and validate an intent rules file; errors name the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        rules = IntentRules.model_validate(raw)
    except (OSError, yaml.YAMLError) as error:
        raise IntentRulesError(f"{path}: {error}") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(part) for part in problem['loc'])}: "
                             f"{problem['msg']}" for problem in error.errors())
        raise IntentRulesError(f"{path}: {problems}") from None
    return RulesIntentClassifier(rules, str(path))


@cache
def default_rules_classifier() -> RulesIntentClassifier:
    return load_intent_rules(RULES_FILE)


# --- the prompt ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PromptTemplate:
    """A versioned prompt file: front matter, `## system` and `## user` (with {message})."""

    name: str
    version: int
    system: str
    user: str
    schema: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.name}_v{self.version}"

    def render_user(self, message: str) -> str:
        # The reply cannot close the marker block it sits in.
        safe = message.replace("REPLY>>>", "REPLY> > >").replace("<<<REPLY", "< < <REPLY")
        return self.user.replace("{message}", safe)


def load_prompt(path: Path = INTENT_PROMPT) -> PromptTemplate:
    text = path.read_text(encoding="utf-8")
    match = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.DOTALL)
    if not match:
        raise ValueError(f"{path}: missing front matter (--- name/version/schema ---)")
    meta = yaml.safe_load(match.group(1))
    sections = re.split(r"^## (system|user)\s*$", match.group(2), flags=re.MULTILINE)
    parts = dict(zip(sections[1::2], (body.strip() for body in sections[2::2]), strict=True))
    if set(parts) != {"system", "user"} or "{message}" not in parts["user"]:
        raise ValueError(f"{path}: needs '## system' and '## user' sections, the user one "
                         "with {message}")
    schema = json.loads((path.parent / meta["schema"]).read_text(encoding="utf-8"))
    return PromptTemplate(str(meta["name"]), int(meta["version"]), parts["system"],
                          parts["user"], schema)


@cache
def intent_prompt() -> PromptTemplate:
    return load_prompt(INTENT_PROMPT)


# --- the classifier -----------------------------------------------------------------------

def llm_from_settings(settings: ReplySettings) -> JsonChat | None:
    """The configured LLM adapter, or None when no LLM is configured."""
    provider = settings.llm_provider
    timeout = settings.wholesaler_llm_timeout_seconds
    if provider == "ollama":
        if not settings.wholesaler_ollama_url:
            raise ValueError("WHOLESALER_LLM_PROVIDER=ollama needs WHOLESALER_OLLAMA_URL")
        return OllamaJsonChat(settings.wholesaler_ollama_url, settings.wholesaler_ollama_model,
                              timeout)
    if provider == "openai":
        if not settings.wholesaler_openai_base_url:
            raise ValueError("WHOLESALER_LLM_PROVIDER=openai needs WHOLESALER_OPENAI_BASE_URL")
        key = settings.wholesaler_openai_api_key
        return OpenAIJsonChat(settings.wholesaler_openai_base_url,
                              settings.wholesaler_openai_model, timeout,
                              key.get_secret_value() if key else None)
    return None


class IntentClassifier:
    """Opt-out first, then the LLM (when configured), then the rules."""

    def __init__(self, llm: JsonChat | None = None,
                 rules: RulesIntentClassifier | None = None,
                 prompt: PromptTemplate | None = None) -> None:
        self.llm = llm
        self.rules = rules or default_rules_classifier()
        self.prompt = prompt or intent_prompt()

    @classmethod
    def from_settings(cls, settings: ReplySettings | None = None) -> IntentClassifier:
        return cls(llm=llm_from_settings(settings or reply_settings()))

    def classify(self, text: str, opt_out: OptOutResult | None = None,
                 opt_out_type: str | None = None) -> IntentResult:
        """The intent of `text`; `opt_out` is the opt-out result if the caller has it
        (otherwise it is computed here, with Twilio's `opt_out_type` when given)."""
        opt_out = opt_out or detect_opt_out(text, opt_out_type)
        if opt_out.is_opt_out:
            return IntentResult("opt_out", 1.0, "opt_out",
                                reason=f"opt-out rule {opt_out.rule}: {opt_out.matched!r}")
        if self.llm is None:
            return self._rules(text, "no LLM configured")
        try:
            answer = self.llm.complete_json(self.prompt.system, self.prompt.render_user(text),
                                            self.prompt.schema, "reply_intent")
        except LLMError as error:
            log.warning("intent LLM (%s) failed, using the rules: %s", self.llm.method, error)
            result = self._rules(text, str(error))
            return IntentResult(result.intent, result.confidence, result.method,
                                result.fallback_reason, result.reason, None, error.raw)
        return self._from_answer(answer)

    def _rules(self, text: str, why: str) -> IntentResult:
        result = self.rules.classify(text)
        return IntentResult(result.intent, result.confidence, "rules", why, result.reason)

    def _from_answer(self, answer: JsonAnswer) -> IntentResult:
        method: Method = "llm_openai" if answer.method == "llm_openai" else "llm_ollama"
        return IntentResult(answer.data["intent"], float(answer.data["confidence"]), method,
                            None, str(answer.data.get("reason", "")), self.prompt.label,
                            answer.raw)


def classify_intent(text: str, settings: ReplySettings | None = None,
                    opt_out_type: str | None = None) -> IntentResult:
    """One reply's intent with the configured LLM (if any) and the rules as fallback."""
    return IntentClassifier.from_settings(settings).classify(text, opt_out_type=opt_out_type)
