"""Market partitions: one partition per `markets/*.yaml`, keyed by the market code."""

from __future__ import annotations

import dagster as dg

from markets.loader import load_markets


def market_codes() -> list[str]:
    return [market.code for market in load_markets()]


market_partitions = dg.StaticPartitionsDefinition(market_codes())
