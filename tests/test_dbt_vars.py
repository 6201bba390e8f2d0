"""dbt arguments from a market: only overrides are passed, and every override the market
schema allows is a var the dbt project actually declares (one place for the defaults)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from markets.loader import load_markets
from markets.schema import ScoreWeights, SignalRules, TierThresholds, Underwriting
from pipelines.dbt_vars import TIER_VARS, dbt_build_args, dbt_vars_for_market

ROOT = Path(__file__).resolve().parent.parent


def _dbt_project_vars() -> dict:
    return yaml.safe_load((ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"]


def _orange():
    return next(m for m in load_markets(ROOT / "markets") if m.code == "orange_fl")


def test_market_without_overrides_passes_only_its_code():
    assert dbt_vars_for_market(_orange()) == {"market_code": "orange_fl"}


def test_overrides_become_dbt_vars():
    market = _orange().model_copy(update={
        "underwriting": Underwriting(arv_factor=0.65, comp_months=6),
        "score_weights": ScoreWeights(absentee=12),
        "tier_thresholds": TierThresholds(a=45),
    })
    assert dbt_vars_for_market(market) == {
        "market_code": "orange_fl", "arv_factor": 0.65, "comp_months": 6,
        "score_absentee": 12, "tier_a_min": 45,
    }
    args = dbt_build_args(market)
    assert args[0] == "build"
    assert args[args.index("--exclude-resource-type") + 1] == "unit_test"
    assert json.loads(args[args.index("--vars") + 1])["arv_factor"] == 0.65


NOT_MARKET_SETTINGS = {"market_code", "as_of_month", "engine_version"}


def test_market_schema_and_dbt_vars_name_the_same_parameters():
    declared = set(_dbt_project_vars()) - NOT_MARKET_SETTINGS
    allowed = (
        set(Underwriting.model_fields)
        | {f"score_{name}" for name in ScoreWeights.model_fields}
        | {f"signal_{name}" for name in SignalRules.model_fields}
        | set(TIER_VARS.values())
    )
    assert allowed - declared == set(), "market schema allows vars dbt does not declare"
    assert declared - allowed == set(), "dbt declares vars a market cannot override"
