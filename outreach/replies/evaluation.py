"""The eval report of reply classification (issue 6): per-intent precision, recall and
support, overall accuracy and the list of misses, for each method, on the hand-labelled sets
tests/eval/intent.yaml and tests/eval/opt_out.yaml.

Methods:

- ``rules``: the production path without a model: the opt-out path first, then the
  deterministic rules (`IntentClassifier(llm=None)`).
- ``llm``: the production path with the configured model (settings from the environment,
  `WHOLESALER_OLLAMA_URL` / `WHOLESALER_OPENAI_BASE_URL`, see settings.py): the opt-out path
  first, then the model, and the rules when the model fails on a text. Measured only when a
  model answers a probe; otherwise reported as "not measured: no model reachable". The report
  says how many texts each path decided and the model's accuracy on the texts it decided.

The opt-out path alone is always measured: recall on the opt-outs of both sets, false
opt-outs, and opt-in / HELP exactness on tests/eval/opt_out.yaml.

`wholesaler replies eval [--method rules|llm|all] [--split dev|holdout|holdout2 … holdout5]
[--check]` prints `render_report(...)`; `--check` exits 1 when a target is missed (opt-out
recall 100 %, no false opt-out, rules accuracy >= 90 %). bench/classify_replies.py and the
tests use the same functions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from outreach.replies.intent import (
    INTENTS,
    Intent,
    IntentClassifier,
    IntentResult,
    intent_prompt,
    llm_from_settings,
)
from outreach.replies.llm import JsonChat, LLMError
from outreach.replies.opt_out import OptOutKind, detect_opt_out
from outreach.replies.settings import ReplySettings
from pipelines.settings import PROJECT_ROOT

INTENT_EVAL = PROJECT_ROOT / "tests" / "eval" / "intent.yaml"
OPT_OUT_EVAL = PROJECT_ROOT / "tests" / "eval" / "opt_out.yaml"

# The targets: every opt-out found by the deterministic path, none invented, and
# overall intent accuracy of the fallback (rules) path at least 90 %.
OPT_OUT_RECALL_TARGET = 1.0
RULES_ACCURACY_TARGET = 0.90

MethodName = Literal["rules", "llm"]
METHODS: tuple[MethodName, ...] = ("rules", "llm")


class EvalSetError(ValueError):
    """An eval file is missing or invalid; the message names the file and the field."""


class IntentCase(BaseModel):
    """One labelled reply of tests/eval/intent.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str = Field(min_length=1)
    label: Intent
    split: str = Field(pattern=r"^[a-z][a-z0-9_]*$")


class OptOutCase(BaseModel):
    """One labelled message of tests/eval/opt_out.yaml (`twilio`: Twilio's OptOutType)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str = Field(min_length=1)
    label: OptOutKind
    twilio: Literal["STOP", "START", "HELP"] | None = None


class _IntentFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cases: list[IntentCase] = Field(min_length=1)


class _OptOutFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cases: list[OptOutCase] = Field(min_length=1)


_File = TypeVar("_File", _IntentFile, _OptOutFile)


def _load(path: Path, model: type[_File]) -> _File:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return model.model_validate(raw)
    except (OSError, yaml.YAMLError) as error:
        raise EvalSetError(f"{path}: {error}") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(part) for part in problem['loc'])}: "
                             f"{problem['msg']}" for problem in error.errors()[:5])
        raise EvalSetError(f"{path}: {problems}") from None


def load_intent_cases(path: Path = INTENT_EVAL,
                      splits: Sequence[str] | None = None) -> list[IntentCase]:
    """The labelled replies of `path`, only those of `splits` when given (None: all)."""
    cases = _load(path, _IntentFile).cases
    if splits:
        known = {case.split for case in cases}
        unknown = sorted(set(splits) - known)
        if unknown:
            raise EvalSetError(f"{path}: no case has split {', '.join(unknown)} "
                               f"(splits: {', '.join(sorted(known))})")
        cases = [case for case in cases if case.split in splits]
    return cases


def load_opt_out_cases(path: Path = OPT_OUT_EVAL) -> list[OptOutCase]:
    return _load(path, _OptOutFile).cases


# --- scores -------------------------------------------------------------------------------

@dataclass(frozen=True)
class IntentScore:
    intent: Intent
    true_positives: int
    predicted: int
    support: int

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.true_positives / self.support if self.support else None


@dataclass(frozen=True)
class Prediction:
    case: IntentCase
    result: IntentResult

    @property
    def correct(self) -> bool:
        return self.result.intent == self.case.label

    @property
    def decided_by(self) -> str:
        """``opt_out`` (the opt-out path), ``model`` or ``rules``."""
        if self.result.method == "opt_out":
            return "opt_out"
        return "rules" if self.result.method == "rules" else "model"


@dataclass(frozen=True)
class MethodReport:
    """One method measured on a list of cases."""

    method: MethodName
    predictions: list[Prediction]
    detail: str = ""

    @property
    def accuracy(self) -> float:
        return sum(p.correct for p in self.predictions) / len(self.predictions)

    @property
    def correct(self) -> int:
        return sum(p.correct for p in self.predictions)

    def scores(self) -> dict[Intent, IntentScore]:
        return {intent: IntentScore(
            intent,
            sum(1 for p in self.predictions if p.result.intent == intent == p.case.label),
            sum(1 for p in self.predictions if p.result.intent == intent),
            sum(1 for p in self.predictions if p.case.label == intent))
            for intent in INTENTS}

    def by_split(self) -> dict[str, tuple[int, int]]:
        """split -> (correct, total), in the order the splits first appear."""
        result: dict[str, tuple[int, int]] = {}
        for p in self.predictions:
            correct, total = result.get(p.case.split, (0, 0))
            result[p.case.split] = (correct + p.correct, total + 1)
        return result

    def decided_by(self) -> Counter[str]:
        return Counter(p.decided_by for p in self.predictions)

    def fallback_reasons(self) -> Counter[str]:
        """Why the rules decided for texts a model was asked about (reason kind only)."""
        return Counter((p.result.fallback_reason or "").split(":")[0]
                       for p in self.predictions
                       if p.decided_by == "rules" and p.result.fallback_reason
                       and p.result.fallback_reason != "no LLM configured")

    def model_accuracy(self) -> tuple[int, int]:
        """(correct, total) on the texts the model itself decided."""
        decided = [p for p in self.predictions if p.decided_by == "model"]
        return sum(p.correct for p in decided), len(decided)

    def misses(self) -> list[Prediction]:
        return [p for p in self.predictions if not p.correct]


@dataclass(frozen=True)
class NotMeasured:
    method: MethodName
    reason: str


def measure(method: MethodName, cases: Sequence[IntentCase],
            classify: Callable[[str], IntentResult], detail: str = "",
            progress: Callable[[int, int], None] | None = None) -> MethodReport:
    """Classify every case with `classify` and keep the predictions."""
    predictions = []
    for index, case in enumerate(cases, 1):
        predictions.append(Prediction(case, classify(case.text)))
        if progress:
            progress(index, len(cases))
    return MethodReport(method, predictions, detail)


def evaluate_rules(cases: Sequence[IntentCase]) -> MethodReport:
    """The fallback path: opt-out first, then the deterministic rules."""
    classifier = IntentClassifier(llm=None)
    return measure("rules", cases, classifier.classify,
                   "opt-out path first, then the deterministic rules")


def probe_llm(llm: JsonChat) -> str | None:
    """None when the model answers a probe (even badly); otherwise why it is unreachable."""
    prompt = intent_prompt()
    try:
        llm.complete_json(prompt.system, prompt.render_user("yes"), prompt.schema,
                          "reply_intent")
    except LLMError as error:
        if error.reason in ("unreachable", "timeout", "http_error"):
            return str(error)
    return None


def evaluate_llm(cases: Sequence[IntentCase], settings: ReplySettings,
                 progress: Callable[[int, int], None] | None = None,
                 ) -> MethodReport | NotMeasured:
    """The model path as configured by `settings`, or why it could not be measured."""
    try:
        llm = llm_from_settings(settings)
    except ValueError as error:
        return NotMeasured("llm", f"no model reachable ({error})")
    if llm is None:
        return NotMeasured("llm", "no model reachable (no LLM configured: set "
                                  "WHOLESALER_OLLAMA_URL or WHOLESALER_OPENAI_BASE_URL)")
    problem = probe_llm(llm)
    if problem:
        return NotMeasured("llm", f"no model reachable ({problem})")
    where = getattr(llm, "url", None) or getattr(llm, "base_url", "")
    detail = (f"{llm.method} {getattr(llm, 'model', '')} at {where}, prompt "
              f"{intent_prompt().label}; opt-out path first, rules when the model fails")
    return measure("llm", cases, IntentClassifier(llm=llm).classify, detail, progress)


@dataclass(frozen=True)
class OptOutReport:
    """The opt-out path alone on both eval sets."""

    opt_out_cases: list[OptOutCase]
    missed: list[str] = field(default_factory=list)
    false_opt_outs: list[tuple[str, str]] = field(default_factory=list)
    kind_errors: list[tuple[str, str, str]] = field(default_factory=list)
    intent_opt_outs: int = 0
    intent_missed: list[str] = field(default_factory=list)
    intent_false: list[tuple[str, str]] = field(default_factory=list)

    @property
    def opt_outs(self) -> int:
        return sum(1 for case in self.opt_out_cases if case.label == "opt_out")

    @property
    def recall(self) -> float:
        total = self.opt_outs + self.intent_opt_outs
        found = total - len(self.missed) - len(self.intent_missed)
        return found / total if total else 1.0

    @property
    def targets_met(self) -> bool:
        return (self.recall >= OPT_OUT_RECALL_TARGET and not self.false_opt_outs
                and not self.intent_false and not self.kind_errors)


def evaluate_opt_out(opt_out_cases: Sequence[OptOutCase],
                     intent_cases: Sequence[IntentCase] = ()) -> OptOutReport:
    """Recall and false opt-outs of the deterministic opt-out path (no model)."""
    missed, false, kinds = [], [], []
    for case in opt_out_cases:
        result = detect_opt_out(case.text, case.twilio)
        if case.label == "opt_out" and not result.is_opt_out:
            missed.append(case.text)
        elif case.label != "opt_out" and result.is_opt_out:
            false.append((case.text, result.rule))
        elif case.label in ("opt_in", "help") and result.kind != case.label:
            kinds.append((case.text, case.label, result.kind))
    intent_missed, intent_false = [], []
    for intent_case in intent_cases:
        result = detect_opt_out(intent_case.text)
        if intent_case.label == "opt_out" and not result.is_opt_out:
            intent_missed.append(intent_case.text)
        elif intent_case.label != "opt_out" and result.is_opt_out:
            intent_false.append((intent_case.text, result.rule))
    return OptOutReport(list(opt_out_cases), missed, false, kinds,
                        sum(1 for case in intent_cases if case.label == "opt_out"),
                        intent_missed, intent_false)


# --- the report ---------------------------------------------------------------------------

def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def render_method(report: MethodReport | NotMeasured, misses: bool = True) -> str:
    """The method's section of the report (Markdown table, accuracy, misses)."""
    if isinstance(report, NotMeasured):
        return f"## intent: {report.method}\n\nnot measured: {report.reason}\n"
    lines = [f"## intent: {report.method}", "", report.detail, "",
             "| intent | precision | recall | support | predicted |", "|---|---|---|---|---|"]
    for score in report.scores().values():
        lines.append(f"| {score.intent} | {_pct(score.precision)} | {_pct(score.recall)} | "
                     f"{score.support} | {score.predicted} |")
    total = len(report.predictions)
    lines += ["", f"accuracy ({report.method}): {report.accuracy:.3f} "
                  f"({report.correct}/{total})"]
    splits = report.by_split()
    if len(splits) > 1:
        lines.append("by split: " + ", ".join(
            f"{split} {correct / count:.3f} ({correct}/{count})"
            for split, (correct, count) in splits.items()))
    decided = report.decided_by()
    lines.append("decided by: " + ", ".join(f"{name} {decided[name]}"
                                            for name in ("opt_out", "model", "rules")
                                            if decided[name]))
    if report.method == "llm":
        correct, count = report.model_accuracy()
        if count:
            lines.append(f"model alone, on the texts it decided: {correct / count:.3f} "
                         f"({correct}/{count})")
        reasons = report.fallback_reasons()
        if reasons:
            lines.append("rules after a model failure: " + ", ".join(
                f"{reason} {count}" for reason, count in reasons.most_common()))
    if not misses:
        return "\n".join(lines) + "\n"
    missed = report.misses()
    lines += ["", f"misses ({len(missed)}):"]
    pairs = Counter((p.case.label, p.result.intent) for p in missed)
    for (label, guess), count in sorted(pairs.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"  {label} -> {guess}: {count}")
    for p in missed:
        lines.append(f"  - [{p.case.split}] {p.case.label} -> {p.result.intent} "
                     f"({p.decided_by}): {p.case.text!r}")
    return "\n".join(lines) + "\n"


def render_opt_out(report: OptOutReport) -> str:
    total = report.opt_outs + report.intent_opt_outs
    found = total - len(report.missed) - len(report.intent_missed)
    others = len(report.opt_out_cases) - report.opt_outs
    lines = ["## opt-out path alone (deterministic, no model)", "",
             f"recall: {report.recall:.3f} ({found}/{total}: {report.opt_outs} in "
             f"opt_out.yaml, {report.intent_opt_outs} in intent.yaml); target "
             f"{OPT_OUT_RECALL_TARGET:.0%}",
             f"false opt-outs: {len(report.false_opt_outs)} of {others} other texts in "
             f"opt_out.yaml, {len(report.intent_false)} in intent.yaml; target 0",
             f"opt-in / HELP mistaken: {len(report.kind_errors)}"]
    for text in report.missed + report.intent_missed:
        lines.append(f"  - missed opt-out: {text!r}")
    for text, rule in report.false_opt_outs + report.intent_false:
        lines.append(f"  - false opt-out ({rule}): {text!r}")
    for text, label, kind in report.kind_errors:
        lines.append(f"  - {label} read as {kind}: {text!r}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class EvalRun:
    """Everything one `wholesaler replies eval` run measured."""

    splits: list[str]
    cases: int
    opt_out: OptOutReport
    methods: list[MethodReport | NotMeasured]

    @property
    def failures(self) -> list[str]:
        """The targets missed (empty when all are met)."""
        failed = []
        if self.opt_out.recall < OPT_OUT_RECALL_TARGET:
            failed.append(f"opt-out recall {self.opt_out.recall:.3f} < "
                          f"{OPT_OUT_RECALL_TARGET:.0%}")
        if self.opt_out.false_opt_outs or self.opt_out.intent_false:
            failed.append("false opt-outs: "
                          f"{len(self.opt_out.false_opt_outs) + len(self.opt_out.intent_false)}")
        if self.opt_out.kind_errors:
            failed.append(f"opt-in / HELP mistaken: {len(self.opt_out.kind_errors)}")
        for report in self.methods:
            if (isinstance(report, MethodReport) and report.method == "rules"
                    and report.accuracy < RULES_ACCURACY_TARGET):
                failed.append(f"rules accuracy {report.accuracy:.3f} < "
                              f"{RULES_ACCURACY_TARGET:.0%}")
        return failed

    def render(self) -> str:
        header = (f"# reply classification eval: {self.cases} intent texts "
                  f"(splits: {', '.join(self.splits)})\n")
        parts = [header, render_opt_out(self.opt_out),
                 *(render_method(report) for report in self.methods)]
        failures = self.failures
        parts.append("targets: " + ("met" if not failures else
                                    "MISSED: " + "; ".join(failures)) + "\n")
        return "\n".join(parts)


def run_eval(methods: Sequence[MethodName], settings: ReplySettings,
             splits: Sequence[str] | None = None, intent_file: Path = INTENT_EVAL,
             opt_out_file: Path = OPT_OUT_EVAL,
             progress: Callable[[int, int], None] | None = None) -> EvalRun:
    """Measure `methods` on the intent set (only `splits` when given) and the opt-out path."""
    cases = load_intent_cases(intent_file, splits)
    opt_out = evaluate_opt_out(load_opt_out_cases(opt_out_file), cases)
    reports: list[MethodReport | NotMeasured] = []
    for method in methods:
        if method == "rules":
            reports.append(evaluate_rules(cases))
        else:
            reports.append(evaluate_llm(cases, settings, progress))
    shown = list(splits) if splits else list(dict.fromkeys(case.split for case in cases))
    return EvalRun(shown, len(cases), opt_out, reports)
