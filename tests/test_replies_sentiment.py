"""Reply sentiment (outreach/replies/sentiment.py): VADER as the embedded default, and a TINY
DistilBERT built here, saved with save_pretrained into tmp_path and loaded through the same
code path as a production model folder (WHOLESALER_SENTIMENT_MODEL_DIR; no download:
HF_HUB_OFFLINE=1). The transformers tests skip when torch / transformers (the optional `ml`
extra) are not installed."""

from __future__ import annotations

import logging

import pytest

from outreach.replies.sentiment import (
    SentimentModelError,
    TransformersSentiment,
    VaderSentiment,
    _cached_scorer,
    score_sentiment,
    sentiment_scorer,
    transformers_available,
)
from outreach.replies.settings import reply_settings

needs_ml = pytest.mark.skipif(not transformers_available(),
                              reason="torch/transformers not installed (pip install -e '.[ml]')")
WORDS = "i am not interested in selling love the offer great hate you stop yes no house call me"
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS.split(), "what", "would", "pay"]


def tiny_distilbert(folder, id2label, positive_bias: float = 4.0):
    """A 1-layer, 16-dim DistilBERT sequence classifier whose classifier bias favours the
    label named POSITIVE, saved with its tokenizer into `folder`."""
    import torch
    from transformers import (
        DistilBertConfig,
        DistilBertForSequenceClassification,
        DistilBertTokenizer,
    )

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = DistilBertTokenizer(vocab_file=str(folder / "vocab.txt"))
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=len(VOCAB), dim=16, n_layers=1, n_heads=2,
                              hidden_dim=32, max_position_embeddings=64,
                              num_labels=len(id2label), id2label=id2label,
                              label2id={label: index for index, label in id2label.items()})
    model = DistilBertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.mul_(0.01)
        for index, label in id2label.items():
            model.classifier.bias[index] = positive_bias if label == "POSITIVE" else 0.0
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    _cached_scorer.cache_clear()
    yield
    _cached_scorer.cache_clear()


def test_vader_is_the_default_and_scores_from_minus_one_to_one():
    scorer = sentiment_scorer(reply_settings({}))
    assert isinstance(scorer, VaderSentiment) and scorer.method == "vader"
    good, bad, flat = scorer.score_many(["I love it, great offer!", "You are awful, I hate "
                                         "this", "The house is on Pine Street"])
    assert good > 0.5 and bad < -0.5 and flat == 0.0


@needs_ml
def test_a_model_folder_is_loaded_through_the_configured_path(tmp_path):
    folder = tiny_distilbert(tmp_path / "sst2-tiny", {0: "NEGATIVE", 1: "POSITIVE"})
    settings = reply_settings({"WHOLESALER_SENTIMENT_MODEL_DIR": str(folder)})
    scorer = sentiment_scorer(settings)
    assert isinstance(scorer, TransformersSentiment) and scorer.method == "transformers:sst2-tiny"
    assert sentiment_scorer(settings) is scorer  # loaded once
    texts = ["i love the offer", "i hate you stop", "what would you pay", "no"] * 10
    scores = score_sentiment(texts, settings)
    assert len(scores) == 40 and all(-1.0 <= score <= 1.0 for score in scores)
    assert all(score > 0.9 for score in scores)  # the bias favours POSITIVE

    # The same numbers as the model itself gives: P(POSITIVE) - P(NEGATIVE), one at a time.
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    for text, score in zip(texts[:4], scores[:4], strict=True):
        with torch.no_grad():
            probabilities = model(**tokenizer(text, return_tensors="pt")).logits.softmax(-1)[0]
        assert score == pytest.approx(float(probabilities[1] - probabilities[0]), abs=1e-4)


@needs_ml
def test_labels_are_read_by_name_not_by_position(tmp_path):
    flipped = tiny_distilbert(tmp_path / "flipped", {0: "POSITIVE", 1: "NEGATIVE"},
                              positive_bias=-4.0)
    scorer = TransformersSentiment(flipped)
    assert all(score < -0.9 for score in scorer.score_many(["i love the offer", "yes"]))
    unnamed = tiny_distilbert(tmp_path / "unnamed", {0: "happy", 1: "sad"})
    with pytest.raises(SentimentModelError, match="cannot tell positive from negative"):
        TransformersSentiment(unnamed)


@needs_ml
def test_a_bad_folder_is_reported_with_the_variable(tmp_path):
    with pytest.raises(SentimentModelError, match=r"WHOLESALER_SENTIMENT_MODEL_DIR.*not a folder"):
        sentiment_scorer(reply_settings({"WHOLESALER_SENTIMENT_MODEL_DIR":
                                         str(tmp_path / "missing")}))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SentimentModelError, match=r"holds no config\.json"):
        sentiment_scorer(reply_settings({"WHOLESALER_SENTIMENT_MODEL_DIR":
                                         str(tmp_path / "empty")}))


def test_without_transformers_a_configured_folder_falls_back_to_vader(tmp_path, monkeypatch,
                                                                       caplog):
    import builtins

    real_import = builtins.__import__

    def no_ml(name, *args, **kwargs):
        if name.split(".")[0] in ("torch", "transformers"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ml)
    (tmp_path / "model").mkdir()
    with caplog.at_level(logging.WARNING, logger="outreach.replies.sentiment"):
        scorer = sentiment_scorer(reply_settings({"WHOLESALER_SENTIMENT_MODEL_DIR":
                                                  str(tmp_path / "model")}))
    assert isinstance(scorer, VaderSentiment)
    assert "torch/transformers are not installed" in caplog.text
