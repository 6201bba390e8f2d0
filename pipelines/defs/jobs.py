"""Jobs: materialize one market (raw files -> marts), and import its contacts into the ledger;
the demo and operators use them."""


import dagster as dg

from pipelines.partitions import market_partitions

CONTACTS = dg.AssetSelection.groups("contacts")

materialize_market = dg.define_asset_job(
    "materialize_market",
    selection=dg.AssetSelection.all() - CONTACTS,
    partitions_def=market_partitions,
    description="Load a market's roll and distress files and build its marts.",
)

import_market_contacts = dg.define_asset_job(
    "import_market_contacts",
    selection=CONTACTS,
    partitions_def=market_partitions,
    description="Import a market's contact files into the ledger and scrub its phones "
                "against the do-not-call lists.",
)
