"""Sentiment of inbound replies, scored from -1 (negative) to 1 (positive), in batches.

Two scorers share one interface (`SentimentScorer.score_many(texts) -> list[float]`):

- `TransformersSentiment`: a `transformers` text-classification pipeline on a local model
  folder (`WHOLESALER_SENTIMENT_MODEL_DIR`, the output of ``save_pretrained``; in production
  e.g. an SST-2 DistilBERT the operator fetched once). Loaded with ``local_files_only=True``,
  so it never reaches a model hub. Score = P(positive) - P(negative), with the labels read
  from the model's ``id2label`` (names containing "pos" / "neg"; ``LABEL_0``/``LABEL_1`` are
  read as negative/positive, and three ``LABEL_n`` as negative/neutral/positive).
- `VaderSentiment`: VADER's compound score (`vaderSentiment`, which ships its lexicon): the
  embedded default when no model folder is configured, or when torch / transformers (the
  optional ``ml`` extra) are not installed; the latter is logged as a warning.

`sentiment_scorer(settings)` picks one and caches it per model folder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from outreach.replies.settings import ReplySettings, reply_settings

log = logging.getLogger(__name__)
MODEL_DIR_VARIABLE = "WHOLESALER_SENTIMENT_MODEL_DIR"


class SentimentModelError(ValueError):
    """The configured model folder cannot be used; the message names the variable."""


class SentimentScorer(Protocol):
    """Scores texts from -1 (negative) to 1 (positive)."""

    method: str

    def score_many(self, texts: Sequence[str]) -> list[float]: ...


class VaderSentiment:
    """VADER's compound score: rule- and lexicon-based, no model, ~10 k texts/s."""

    method = "vader"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def score_many(self, texts: Sequence[str]) -> list[float]:
        return [float(self._analyzer.polarity_scores(text)["compound"]) for text in texts]


def _label_weights(id2label: dict[int, str]) -> dict[str, float]:
    """Each label's contribution to the score (+1 positive, -1 negative, 0 otherwise)."""
    weights: dict[str, float] = {}
    generic = all(label.upper().startswith("LABEL_") for label in id2label.values())
    for index, label in id2label.items():
        lowered = label.lower()
        if "pos" in lowered:
            weights[label] = 1.0
        elif "neg" in lowered:
            weights[label] = -1.0
        elif generic and len(id2label) == 2:
            weights[label] = -1.0 if int(index) == 0 else 1.0
        elif generic and len(id2label) == 3:
            weights[label] = {0: -1.0, 1: 0.0, 2: 1.0}[int(index)]
        else:
            weights[label] = 0.0
    if not any(weight > 0 for weight in weights.values()) or \
            not any(weight < 0 for weight in weights.values()):
        raise SentimentModelError(f"cannot tell positive from negative in the model's labels "
                                  f"{sorted(id2label.values())}")
    return weights


class TransformersSentiment:
    """A `transformers` text-classification pipeline on a local model folder (CPU)."""

    def __init__(self, model_dir: Path, batch_size: int = 32, max_length: int = 256) -> None:
        from transformers import (
            AutoModelForSequenceClassification,
            AutoTokenizer,
            pipeline,
        )
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

        if not (model_dir / "config.json").is_file():
            raise SentimentModelError(f"{MODEL_DIR_VARIABLE}: {model_dir} holds no config.json "
                                      "(save the model there with save_pretrained)")
        try:
            # A local folder with local_files_only=True: nothing is downloaded.
            model = AutoModelForSequenceClassification.from_pretrained(  # nosec B615
                model_dir, local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(  # nosec B615
                model_dir, local_files_only=True)
        except (OSError, ValueError) as error:
            raise SentimentModelError(f"{MODEL_DIR_VARIABLE}: cannot load {model_dir}: "
                                      f"{error}") from None
        model.eval()
        self.method = f"transformers:{model_dir.name}"
        self.batch_size = batch_size
        self.max_length = max_length
        self._weights = _label_weights(dict(model.config.id2label))
        self._pipeline: Any = pipeline("text-classification", model=model, tokenizer=tokenizer,
                                       device=-1, top_k=None)

    def score_many(self, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        outputs = self._pipeline(list(texts), batch_size=self.batch_size, truncation=True,
                                 max_length=self.max_length)
        scores = []
        for labels in outputs:
            score = sum(self._weights.get(item["label"], 0.0) * float(item["score"])
                        for item in labels)
            scores.append(max(-1.0, min(1.0, score)))
        return scores


def transformers_available() -> bool:
    """True when torch and transformers import (the optional ``ml`` extra)."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


@cache
def _cached_scorer(model_dir: Path | None) -> SentimentScorer:
    if model_dir is None:
        return VaderSentiment()
    if not model_dir.is_dir():
        raise SentimentModelError(f"{MODEL_DIR_VARIABLE}: {model_dir} is not a folder")
    if not transformers_available():
        log.warning("%s is set to %s but torch/transformers are not installed "
                    "(pip install -e '.[ml]'): scoring sentiment with VADER instead",
                    MODEL_DIR_VARIABLE, model_dir)
        return VaderSentiment()
    return TransformersSentiment(model_dir)


def sentiment_scorer(settings: ReplySettings | None = None) -> SentimentScorer:
    """The configured scorer (loaded once per model folder and process)."""
    settings = settings or reply_settings()
    folder = settings.wholesaler_sentiment_model_dir
    return _cached_scorer(folder.resolve() if folder else None)


def score_sentiment(texts: Sequence[str], settings: ReplySettings | None = None) -> list[float]:
    """Sentiment of each text from -1 to 1 with the configured scorer."""
    return sentiment_scorer(settings).score_many(texts)
