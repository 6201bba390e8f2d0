"""The checks a model-written message must pass before it is used (docs/writing.md lists them).

Each check returns `CheckFailure(code, detail)` entries; an empty list means the message may be
used. The content checks read only what the model wrote (body and subject); the presence checks
read the final message, after the code appended the fixed identity and opt-out footer.

Codes (the full list of phrases is in _PATTERNS below; docs/writing.md explains each):
``length`` (SMS over 2 segments by the project's counter, email body outside 200-300 words,
subject over 80 characters, empty body), ``no_money`` (currency signs, "dollars", "cash offer
of", 150k, "we'll pay", percentages, "market value" ...), ``no_promises`` ("guarantee",
"promise", "close in 7 days", "we will buy", "no fees" ...), ``no_legal_tax_advice`` (tax,
capital gains, attorney, legally, probate, foreclosure, lien ...), ``no_invented_facts``
(numbers, number words, capitalised names and links that are not in the facts or the
allow-list), ``no_prompt_leak`` (markers, braces, "as an AI", "JSON" ...), ``honest_subject``
(no "Re:" / "Fwd:" subject, CAN-SPAM), ``identity`` (the sender's name in the final text and
HTML), ``opt_out`` (SMS: "Reply STOP to opt out."; email: the unsubscribe URL and the postal
address verbatim in text and HTML).

Facts: the values of the trusted variables (owner first name, address, county, market context,
agent and sender names …). Untrusted variables (the text of an owner's reply) are never a
source of facts: a name or a number the model copies from a reply fails.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import smsutil

from outreach.writing.prompts import (
    EMAIL_MAX_WORDS,
    EMAIL_MIN_WORDS,
    SMS_MAX_SEGMENTS,
    SUBJECT_MAX_CHARS,
)

SMS_STOP_LINE = "Reply STOP to opt out."
CHECK_CODES = ("length", "no_money", "no_promises", "no_legal_tax_advice", "no_invented_facts",
               "no_prompt_leak", "honest_subject", "identity", "opt_out")

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Allowed as capitalised words anywhere: weekdays, the STOP keyword, the pronoun, greetings.
ALLOWED_CAPITALISED = frozenset({
    *WEEKDAYS, "stop", "i", "i'm", "i'd", "i'll", "i've", "ok", "okay", "hi", "hello", "hey",
    "dear", "thanks", "thank", "best", "regards", "sincerely", "warmly", "cheers", "greetings",
    "good", "morning", "afternoon", "evening", "mr", "mrs", "ms", "sms", "email", "county",
    "reply", "text", "re", "fw", "fwd",
})
NUMBER_WORDS = frozenset({
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    "hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion",
    "dozen", "dozens",
})

_NUMBER = r"(?:\d[\d,]*(?:\.\d+)?)"
_PATTERNS: dict[str, tuple[str, ...]] = {
    "no_money": (
        r"[$€£¥¢]", r"\bdollars?\b", r"\bbucks\b", r"\busd\b", r"\bcash offer of\b",
        r"\boffer (?:of|for|at) (?:about |around |roughly |up to |over )?" + _NUMBER,
        _NUMBER + r"\s*(?:k|m|mm|grand|thousand|million|billion)\b",
        r"\b(?:thousand|million|billion)s?\b",
        r"\b(?:we|i|they)(?:'ll|'d| will| would| can| could| might| shall)? pay\b",
        r"\bpay(?:ing)? you\b", _NUMBER + r"\s*%", r"\bper ?cent(?:age)?\b",
        r"\btop dollar\b", r"\bfull price\b", r"\basking price\b", r"\bmarket value\b",
        r"\babove market\b", r"\bover market\b", r"\b(?:best|highest|fair|great|good) price\b",
        r"\bappraised\b", r"\bappraisal\b", r"\bequity\b",
        r"\bworth\b(?! (?:a|the|your|my|our) (?:conversation|chat|call|talk|reply|look|"
        r"minute|moment|try|while|question)s?\b)", r"\bprice of\b",
        r"\bmortgage payoff\b",
    ),
    "no_promises": (
        r"\bguarant", r"\bpromis", r"\bwarrant", r"\bassur(?:e|ed|ance)\b",
        r"\bclos(?:e|ing) (?:in|within|by|on) (?:\d|a |an |one|two|three|four|five|six|seven|"
        r"ten|fourteen|thirty|days?|weeks?|your (?:date|timeline|schedule))",
        r"\b(?:can|will|'ll|could) close\b",
        r"\b(?:within|in|under) (?:\d+|a|an|one|two|three|four|five|six|seven|ten|fourteen|"
        r"twenty|thirty) (?:business )?(?:days?|weeks?|hours?)\b",
        r"\b100\s*%", r"\brisk[- ]free\b", r"\bno risk\b", r"\bno matter what\b",
        r"\b(?:we|i)(?:'ll| will| shall| are going to| am going to)\s+(?:\w+\s+)?"
        r"(?:buy|purchase|close|pay)\b",
        r"\bno (?:\w+ )?(?:fees?|commissions?|costs?|closing costs)\b",
        r"\bsame[- ]day\b", r"\bfor sure\b",
    ),
    "no_legal_tax_advice": (
        r"\btax(?:es|ed|ing|ation|able)?\b", r"\bcapital gains?\b", r"\birs\b", r"\b1031\b",
        r"\bdeduct", r"\bdepreciat", r"\bwrite[- ]offs?\b", r"\battorneys?\b", r"\blawyers?\b",
        r"\blegal(?:ly|ity)?\b", r"\blaws?\b", r"\blawsuits?\b", r"\bprobate\b",
        r"\bestate planning\b", r"\bforeclos", r"\bbankrupt", r"\bliens?\b",
        r"\bliab(?:le|ility|ilities)\b", r"\bexempt(?:ion|ions)?\b", r"\bhomestead\b",
        r"\binherit", r"\bheirs?\b", r"\bcourts?\b", r"\bjudg(?:e|ment|ement)s?\b",
        r"\bcontracts?\b", r"\bconsult", r"\b(?:my|our) advice\b", r"\bfinancial advi",
        r"\bcode violations?\b", r"\bevict", r"\bdivorce\b", r"\bcredit score\b",
        r"\bsue\b", r"\btitle (?:issues?|problems?|search)\b",
    ),
    "no_prompt_leak": (
        r"<<<", r">>>", r"[{}]", r"\bas an ai\b", r"\blanguage model\b", r"\bprompt\b",
        r"\bjson\b", r"\bignore (?:all |any |the )?(?:previous|prior|above)\b",
        r"\bsystem message\b", r"\binstructions?\b", r"\bfacts\b", r"\bmarkers?\b",
    ),
}
_COMPILED = {code: [re.compile(pattern) for pattern in patterns]
             for code, patterns in _PATTERNS.items()}
_LINK = re.compile(r"https?://\S+|\bwww\.\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|"
                   r"\b[\w-]+\.(?:com|net|org|io|co|us|biz|info|realty|homes)\b")
_DIGITS = re.compile(r"\d[\d,]*(?:\.\d+)?")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_CAPITALISED_RUN = re.compile(r"[A-Z][\w'-]*(?:[ \t]+[A-Z][\w'-]*)*")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_SENTENCE_END = ".!?:;\n"
_OPENERS = " \t\"'“‘([*-•–—"


@dataclass(frozen=True)
class CheckFailure:
    """One failed check: its code (CHECK_CODES) and what it found."""

    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


def normalise(text: str) -> str:
    """Lower case, NFKC (full-width and styled letters folded), curly quotes straightened,
    zero-width characters and soft hyphens removed, runs of spaces collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"[\u200b-\u200f\u2060\ufeff\u00ad]", "", text)
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"[ \t]+", " ", text).lower()


@cache
def common_words() -> frozenset[str]:
    path = Path(__file__).with_name("common_words.txt")
    words: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            words.update(line.split())
    return frozenset(words)


def _matches(code: str, text: str) -> list[str]:
    found = []
    for pattern in _COMPILED[code]:
        match = pattern.search(text)
        if match:
            found.append(match.group(0).strip())
    return found


def pattern_failures(text: str) -> list[CheckFailure]:
    """The phrase checks (money, promises, legal/tax advice, prompt leaks) on model text."""
    plain = normalise(text)
    failures = []
    for code in ("no_money", "no_promises", "no_legal_tax_advice", "no_prompt_leak"):
        found = _matches(code, plain)
        if found:
            failures.append(CheckFailure(code, ", ".join(repr(item) for item in found[:5])))
    return failures


def mask_facts(text: str, facts: Iterable[str]) -> str:
    """`text` with the facts' own words blanked out for the phrase checks: each fact value
    quoted whole (any case), and each run of capitalised words of the facts where the text
    writes it the same way. So "12 Oak Court" or "Guarantee Title Rd" in an address is no
    legal talk or promise, while "the court" or "I guarantee" still are."""
    values = [value for value in facts if value and value.strip()]
    for value in sorted(values, key=len, reverse=True):
        text = re.sub(re.escape(value), " ", text, flags=re.IGNORECASE)
    runs = {run for value in values for run in _CAPITALISED_RUN.findall(value)}
    for run in sorted(runs, key=len, reverse=True):
        text = re.sub(r"(?<![\w'])" + re.escape(run) + r"(?![\w'])", " ", text)
    return text


def _number_token(raw: str) -> str:
    return raw.replace(",", "").rstrip(".")


def _fact_vocabulary(facts: Iterable[str]) -> tuple[set[str], set[str], str]:
    """Words (lower case, also the parts of hyphenated words and possessives) and numbers of
    the facts, and their joined lower-case text (for links)."""
    words: set[str] = set()
    numbers: set[str] = set()
    joined = normalise(" ".join(facts))
    for raw in _WORD.findall(joined):
        word = raw.strip("'-")
        words.add(word)
        words.update(part for part in re.split(r"[-']", word) if part)
    numbers.update(_number_token(raw) for raw in _DIGITS.findall(joined))
    return words, numbers, joined


def _is_sentence_start(text: str, start: int) -> bool:
    before = text[:start]
    stripped = before.rstrip(_OPENERS)
    if not stripped:
        return True
    return stripped[-1] in _SENTENCE_END or "\n" in before[len(stripped):]


def invented_facts(text: str, facts: Iterable[str],
                   known_words: Iterable[str] = ()) -> list[str]:
    """What in `text` does not come from `facts`: numbers, number words, capitalised words,
    links. `known_words`: lower-case words that may start a sentence besides common_words.txt
    (the prompt's own vocabulary)."""
    fact_words, fact_numbers, fact_text = _fact_vocabulary(facts)
    common = common_words() | set(known_words)
    text = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'")
    text = re.sub(r"[\u200b-\u200f\u2060\ufeff\u00ad]", "", text)
    lowered_words = {word.lower() for word in _WORD.findall(text) if word[0].islower()}
    invented: list[str] = []
    foreign = sorted({char for char in text if char.isalpha() and not _LATIN.match(char)})
    if foreign:  # look-alike letters (Cyrillic а, Greek ο) could hide any word from the checks
        invented.append(f"letters outside the Latin script {''.join(foreign[:10])!r}")
    for link in _LINK.findall(text):
        if link.lower().rstrip(".,;:!?)") not in fact_text:
            invented.append(f"link {link!r}")
    for raw in _DIGITS.findall(text):
        if _number_token(raw) not in fact_numbers:
            invented.append(f"number {raw!r}")
    for match in _WORD.finditer(text):
        raw = match.group(0).strip("'-")
        if not raw:
            continue
        word = raw.lower()
        if word.endswith("'s"):
            word = word[:-2]
        if word in NUMBER_WORDS and word not in fact_words:
            invented.append(f"number word {raw!r}")
            continue
        if not raw[0].isupper():
            continue
        parts = [part for part in re.split(r"[-]", word) if part]
        if all(part in fact_words or part in ALLOWED_CAPITALISED for part in parts):
            continue
        if word in fact_words or word in ALLOWED_CAPITALISED:
            continue
        if _is_sentence_start(text, match.start()) and (
                word in common or word in lowered_words
                or all(part in common for part in parts)):
            continue
        invented.append(f"name {raw!r}")
    return list(dict.fromkeys(invented))


def word_count(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9][A-Za-z0-9'’\-]*", text))


def sms_segments(text: str) -> int:
    """Segments Twilio bills for this SMS (the same counter as RenderedMessage)."""
    return len(smsutil.split(text).parts)


def check_written(*, channel: str, written_body: str, written_subject: str | None,
                  final_body: str, final_subject: str | None, final_html: str | None,
                  facts: Mapping[str, str], sender_name: str, postal_address: str | None = None,
                  unsubscribe_url: str | None = None,
                  known_words: Iterable[str] = ()) -> list[CheckFailure]:
    """Every check on one written message (see the module docstring); [] means usable.

    `written_*`: what the model wrote; `final_*`: the message as it would be sent, with the
    fixed footer; `facts`: the trusted variables' values."""
    failures: list[CheckFailure] = []
    model_text = written_body + ("\n" + written_subject if written_subject else "")
    if not written_body.strip():
        failures.append(CheckFailure("length", "the body is empty"))
    elif channel == "sms":
        segments = sms_segments(final_body)
        if segments > SMS_MAX_SEGMENTS:
            failures.append(CheckFailure("length", f"{segments} SMS segments "
                                         f"(at most {SMS_MAX_SEGMENTS}; {len(final_body)} chars)"))
    else:
        words = word_count(written_body)
        if not EMAIL_MIN_WORDS <= words <= EMAIL_MAX_WORDS:
            failures.append(CheckFailure("length", f"{words} words in the email body "
                                         f"({EMAIL_MIN_WORDS}-{EMAIL_MAX_WORDS})"))
    if channel == "email" and final_subject and len(final_subject) > SUBJECT_MAX_CHARS:
        failures.append(CheckFailure("length", f"subject of {len(final_subject)} characters "
                                     f"(at most {SUBJECT_MAX_CHARS})"))
    failures.extend(pattern_failures(mask_facts(model_text, facts.values())))
    invented = invented_facts(model_text, facts.values(), known_words)
    if invented:
        failures.append(CheckFailure("no_invented_facts", ", ".join(invented[:8])))
    if channel == "email" and written_subject and re.match(r"^\s*(?:re|fwd?|fw)\s*:",
                                                           written_subject, re.IGNORECASE):
        failures.append(CheckFailure("honest_subject", f"subject {written_subject!r}"))
    parts = [("text", final_body)] + ([("html", final_html)] if channel == "email" else [])
    for part_name, part in parts:
        if not part or sender_name not in part:
            failures.append(CheckFailure("identity", f"{sender_name!r} missing from the "
                                         f"{part_name}"))
    if channel == "sms":
        if SMS_STOP_LINE not in final_body:
            failures.append(CheckFailure("opt_out", f"{SMS_STOP_LINE!r} missing"))
    else:
        for part_name, part in parts:
            for label, needed in (("unsubscribe URL", unsubscribe_url),
                                  ("postal address", postal_address)):
                if not needed or not part or needed not in part:
                    failures.append(CheckFailure("opt_out", f"the {label} is missing from "
                                                 f"the {part_name}"))
    return failures
