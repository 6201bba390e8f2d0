"""dbt arguments built from a market: small pure functions, unit-tested.

A market YAML's `underwriting`, `score_weights`, `signal_rules` and `tier_thresholds` hold only
overrides; each key maps to one dbt var whose default lives in dbt_project/dbt_project.yml:
underwriting keys verbatim, `score_weights.x` -> `score_x`, `signal_rules.x` -> `signal_x`, tier
`a` / `b_plus` / `b` -> `tier_a_min` / `tier_b_plus_min` / `tier_b_min`.
"""

from __future__ import annotations

import json
from typing import Any

from markets.schema import Market

TIER_VARS = {"a": "tier_a_min", "b_plus": "tier_b_plus_min", "b": "tier_b_min"}


def dbt_vars_for_market(market: Market) -> dict[str, Any]:
    """The `--vars` of a dbt run for one market partition: its code plus its overrides."""
    dbt_vars: dict[str, Any] = {"market_code": market.code}
    dbt_vars.update(market.underwriting.model_dump(exclude_none=True))
    dbt_vars.update({
        f"score_{signal}": points
        for signal, points in market.score_weights.model_dump(exclude_none=True).items()
    })
    dbt_vars.update({
        f"signal_{rule}": value
        for rule, value in market.signal_rules.model_dump(exclude_none=True).items()
    })
    dbt_vars.update({
        TIER_VARS[tier]: minimum
        for tier, minimum in market.tier_thresholds.model_dump(exclude_none=True).items()
    })
    return dbt_vars


def dbt_build_args(market: Market) -> list[str]:
    """`dbt build` arguments for one market partition. dbt unit tests check the models' logic
    on hand-built rows, not the market's data, so partition builds leave them out; CI runs them
    once (tests/test_pipeline.py)."""
    return ["build", "--exclude-resource-type", "unit_test",
            "--vars", json.dumps(dbt_vars_for_market(market), sort_keys=True)]
