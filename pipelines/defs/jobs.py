"""Jobs: materialize one market (raw files -> marts), and import its contacts into the ledger;
the demo and operators use them."""


import dagster as dg

from pipelines.partitions import market_partitions

CONTACTS = dg.AssetSelection.groups("contacts")
PUBLISHED = dg.AssetSelection.groups("published")
OUTREACH = dg.AssetSelection.groups("outreach")  # its own job: pipelines/defs/outreach
# the ledger copy and the outreach marts: every market in one run (pipelines/defs/analytics)
ANALYTICS = dg.AssetSelection.groups("analytics")

materialize_market = dg.define_asset_job(
    "materialize_market",
    selection=dg.AssetSelection.all() - CONTACTS - PUBLISHED - OUTREACH - ANALYTICS,
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

publish_dashboards = dg.define_asset_job(
    "publish_dashboards",
    selection=PUBLISHED,
    description="Write the dashboards' snapshot (every market) and swap it in atomically.",
)

outreach_analytics = dg.define_asset_job(
    "outreach_analytics",
    selection=ANALYTICS,
    description="Copy the ledger into the warehouse (incrementally) and build the outreach "
                "marts (funnel, daily rates, costs, deals, ROI, attribution) for every market.",
)
