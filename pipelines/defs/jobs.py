"""Jobs: materialize one market end to end (raw files -> marts); the demo and operators use it."""


import dagster as dg

from pipelines.partitions import market_partitions

materialize_market = dg.define_asset_job(
    "materialize_market",
    selection=dg.AssetSelection.all(),
    partitions_def=market_partitions,
    description="Load a market's roll and distress files and build its marts.",
)
