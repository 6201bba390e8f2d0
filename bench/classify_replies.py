"""Benchmark: reply classification throughput (texts per second) per method, on the texts of
the eval sets (tests/eval/opt_out.yaml and intent.yaml) repeated to `--texts`.

Methods: the opt-out path alone; intent by the rules (opt-out first, as in production);
VADER sentiment; a tiny DistilBERT through the transformers pipeline (skipped when torch /
transformers are not installed; it measures the pipeline's overhead, not a production model's
cost); intent through the Ollama and OpenAI adapters against tests/llm_server.py on loopback
(`--llm-texts`; measures the adapter and HTTP round trip, not a model). Also prints the rules'
per-intent precision and recall on the intent eval set.

    .venv/bin/python bench/classify_replies.py [--texts 10000] [--llm-texts 1000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from outreach.replies.evaluation import (  # noqa: E402
    evaluate_rules,
    load_intent_cases,
    render_method,
)
from outreach.replies.intent import IntentClassifier  # noqa: E402
from outreach.replies.llm import OllamaJsonChat, OpenAIJsonChat  # noqa: E402
from outreach.replies.opt_out import detect_opt_out  # noqa: E402
from outreach.replies.sentiment import VaderSentiment, transformers_available  # noqa: E402


def eval_texts() -> list[str]:
    opt_out = yaml.safe_load((ROOT / "tests/eval/opt_out.yaml").read_text())["cases"]
    intent = yaml.safe_load((ROOT / "tests/eval/intent.yaml").read_text())["cases"]
    return [case["text"] for case in opt_out + intent]


def timed(name: str, texts: Sequence[str], run: Callable[[Sequence[str]], object]) -> None:
    started = time.perf_counter()
    run(texts)
    seconds = time.perf_counter() - started
    print(f"| {name} | {len(texts):,} | {seconds:.2f} s | {len(texts) / seconds:,.0f} |")


def precision_recall() -> None:
    """The rules' per-intent precision and recall (outreach/replies/evaluation.py; the full
    report with the misses and the LLM column: `wholesaler replies eval`)."""
    print("\n" + render_method(evaluate_rules(load_intent_cases()), misses=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--llm-texts", type=int, default=1_000)
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    base = eval_texts()
    texts = (base * (args.texts // len(base) + 1))[:args.texts]
    llm_texts = texts[:args.llm_texts]
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{len(base)} distinct eval texts")
    print("\n| method | texts | wall time | texts/s |\n|---|---|---|---|")
    timed("opt-out path alone", texts, lambda batch: [detect_opt_out(text) for text in batch])
    rules = IntentClassifier(llm=None)
    timed("intent: rules (opt-out first)", texts,
          lambda batch: [rules.classify(text) for text in batch])
    vader = VaderSentiment()
    timed("sentiment: VADER", texts, vader.score_many)
    if transformers_available():
        sys.path.insert(0, str(ROOT / "tests"))
        from test_replies_sentiment import tiny_distilbert

        from outreach.replies.sentiment import TransformersSentiment

        with tempfile.TemporaryDirectory() as folder:
            model = TransformersSentiment(tiny_distilbert(
                Path(folder) / "tiny", {0: "NEGATIVE", 1: "POSITIVE"}))
            timed("sentiment: tiny DistilBERT, batch 32", texts, model.score_many)
    else:
        print("| sentiment: transformers | – | skipped: torch/transformers not installed | – |")
    from llm_server import LLMServer

    with LLMServer() as server:
        server.answer = {"intent": "unknown", "confidence": 0.5, "reason": "bench"}
        for name, llm in (("intent: Ollama adapter, local fake server",
                           OllamaJsonChat(server.url, "llama3.1:8b", 10)),
                          ("intent: OpenAI adapter, local fake server",
                           OpenAIJsonChat(server.url + "/v1", "local", 10))):
            classifier = IntentClassifier(llm=llm)
            non_opt_out = [text for text in llm_texts if not detect_opt_out(text).is_opt_out]
            timed(name, non_opt_out, lambda batch, c=classifier: [c.classify(t) for t in batch])
    precision_recall()


if __name__ == "__main__":
    main()
