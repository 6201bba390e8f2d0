"""One call that classifies inbound replies: opt-out first, then sentiment and intent.

`ReplyClassifier.classify(text, opt_out_type=None) -> ReplyClassification` (and
`classify_many` for batches, which scores sentiment in one batch). The webhook, the IMAP
sensor and the decisions use this; `wholesaler replies classify` prints its `as_dict()`.
`should_suppress` is true when the opt-out path fired or the intent is `opt_out` (an LLM may
recognise a revocation the rules did not): both must stop every touch at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from outreach.replies.intent import IntentClassifier, IntentResult
from outreach.replies.opt_out import OptOutResult, detect_opt_out
from outreach.replies.sentiment import SentimentScorer, sentiment_scorer
from outreach.replies.settings import ReplySettings, reply_settings


@dataclass(frozen=True)
class ReplyClassification:
    """Everything the decisions need about one reply."""

    opt_out: OptOutResult
    intent: IntentResult
    sentiment: float
    sentiment_method: str

    @property
    def should_suppress(self) -> bool:
        return self.opt_out.is_opt_out or self.intent.intent == "opt_out"

    def as_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent.intent,
            "opt_out": self.should_suppress,
            "opt_out_detail": self.opt_out.as_dict(),
            "sentiment": round(self.sentiment, 4),
            "confidence": round(self.intent.confidence, 3),
            "method": self.intent.method,
            "fallback_reason": self.intent.fallback_reason,
            "reason": self.intent.reason,
            "prompt_version": self.intent.prompt_version,
            "sentiment_method": self.sentiment_method,
        }


class ReplyClassifier:
    """Holds the configured sentiment scorer and intent classifier (build once, reuse)."""

    def __init__(self, intent: IntentClassifier, sentiment: SentimentScorer) -> None:
        self.intent = intent
        self.sentiment = sentiment

    @classmethod
    def from_settings(cls, settings: ReplySettings | None = None) -> ReplyClassifier:
        settings = settings or reply_settings()
        return cls(IntentClassifier.from_settings(settings), sentiment_scorer(settings))

    def classify(self, text: str, opt_out_type: str | None = None) -> ReplyClassification:
        return self.classify_many([text], [opt_out_type])[0]

    def classify_many(self, texts: Sequence[str],
                      opt_out_types: Sequence[str | None] | None = None,
                      ) -> list[ReplyClassification]:
        types = list(opt_out_types) if opt_out_types is not None else [None] * len(texts)
        if len(types) != len(texts):
            raise ValueError("opt_out_types must be as long as texts")
        scores = self.sentiment.score_many(texts)
        results = []
        for text, opt_out_type, score in zip(texts, types, scores, strict=True):
            opt_out = detect_opt_out(text, opt_out_type)
            intent = self.intent.classify(text, opt_out=opt_out)
            results.append(ReplyClassification(opt_out, intent, score, self.sentiment.method))
        return results
