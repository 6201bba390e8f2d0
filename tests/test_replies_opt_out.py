"""The opt-out path (outreach/replies/opt_out.py) against the labelled eval set
tests/eval/opt_out.yaml: every opt-out found, no false opt-out on the negatives, opt-in and
HELP exact; plus Twilio's OptOutType, the rules file's validation and its examples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from outreach.replies.opt_out import (
    RULES_FILE,
    OptOutRulesError,
    detect_opt_out,
    load_rules,
    normalise,
)

EVAL_FILE = Path(__file__).parent / "eval" / "opt_out.yaml"
CASES = yaml.safe_load(EVAL_FILE.read_text(encoding="utf-8"))["cases"]


def test_the_eval_set_is_large_and_mixed():
    labels = [case["label"] for case in CASES]
    assert len(CASES) > 300
    assert labels.count("opt_out") >= 200 and labels.count("none") >= 100
    assert {"opt_in", "help"} <= set(labels)


def test_every_opt_out_in_the_eval_set_is_found():
    missed = [case["text"] for case in CASES if case["label"] == "opt_out"
              and not detect_opt_out(case["text"], case.get("twilio")).is_opt_out]
    assert not missed, f"opt-outs missed (recall must be 100 %): {missed}"


def test_no_false_opt_out_on_the_negatives():
    fired = [(case["text"], detect_opt_out(case["text"], case.get("twilio")).rule)
             for case in CASES if case["label"] != "opt_out"
             and detect_opt_out(case["text"], case.get("twilio")).is_opt_out]
    assert not fired, f"ordinary text read as an opt-out: {fired}"


def test_opt_in_and_help_are_exact():
    wrong = [(case["text"], case["label"], detect_opt_out(case["text"], case.get("twilio")).kind)
             for case in CASES
             if detect_opt_out(case["text"], case.get("twilio")).kind != case["label"]]
    assert not wrong


@pytest.mark.parametrize(("text", "rule", "matched"), [
    ("STOP", "keyword", "stop"),
    ("  Unsubscribe!!! ", "keyword", "unsubscribe"),
    ("stpo", "misspelled_keyword", "stpo"),
    ("sttop", "misspelled_keyword", "sttop"),
    ("STOP I'm not selling", "leading_command", "stop i'm"),
    ("not interested stop", "trailing_command", "interested stop"),
    ("Lose my number", "lose_my_number", "lose my number"),
    ("No me escribas", "es_no_me_escribas", "no me escribas"),
])
def test_the_result_names_rule_and_words(text, rule, matched):
    result = detect_opt_out(text)
    assert (result.kind, result.rule, result.matched) == ("opt_out", rule, matched)


def test_twilio_opt_out_type_is_honoured_and_opt_out_wins():
    assert detect_opt_out("Arrêt", "STOP").rule == "twilio_opt_out_type"
    assert detect_opt_out("Arrêt", "stop").is_opt_out  # any case
    assert detect_opt_out("YES", "START").kind == "opt_in"
    assert detect_opt_out("YES").kind == "none"  # YES is not an opt-in keyword of ours
    assert detect_opt_out("what", "HELP").kind == "help"
    assert detect_opt_out("STOP texting me", "START").kind == "opt_out"
    assert detect_opt_out("STOP", "HELP").kind == "opt_out"


def test_normalise_folds_case_accents_quotes_and_elongation():
    assert normalise("  No MÁS!!! ") == "no mas"
    assert normalise("Don\u2019t  txt   me") == "don't txt me"
    assert normalise("Stoooop 🛑") == "stop stop"
    assert normalise("$180,000") == "180 000"  # digits are never shortened


def test_every_phrase_example_matches(tmp_path):
    # load_rules checks each phrase's examples; a broken example names file and field.
    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    assert load_rules(RULES_FILE).rules.version == rules["version"]
    rules["phrases"][0]["examples"].append("a sentence that means nothing of the kind")
    broken = tmp_path / "rules.yaml"
    broken.write_text(yaml.safe_dump(rules), encoding="utf-8")
    with pytest.raises(OptOutRulesError, match=r"rules\.yaml: phrases\.lose_my_number\."
                                               r"examples"):
        load_rules(broken)


def test_an_invalid_rules_file_names_file_and_field(tmp_path):
    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    rules["fillers"].append(True)  # what YAML makes of an unquoted "yes"
    broken = tmp_path / "rules.yaml"
    broken.write_text(yaml.safe_dump(rules), encoding="utf-8")
    with pytest.raises(OptOutRulesError, match=r"rules\.yaml: fillers\.\d+"):
        load_rules(broken)
    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    rules["phrases"][0]["pattern"] = "{nowhere} number"
    broken.write_text(yaml.safe_dump(rules), encoding="utf-8")
    with pytest.raises(OptOutRulesError, match="unknown vocabulary entry 'nowhere'"):
        load_rules(broken)
