"""Analytics: the ledger copied into the warehouse (`ledger/*`, `config/market_costs`), then
the outreach marts built from it in one unpartitioned dbt run (`tag:outreach`): funnel, daily
rates, campaign touches, first responses, conversations, handoff queue, costs, deals, ROI and
deal attribution. Job `outreach_analytics`; the publish asset reads the marts."""
