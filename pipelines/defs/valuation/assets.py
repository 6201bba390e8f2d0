"""Valuation and scoring: the dbt project (staging -> intermediate -> marts) as Dagster assets,
run once per market partition with that market's vars, plus asset checks on the marts."""


import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets, get_asset_key_for_model
from dagster_duckdb import DuckDBResource

from pipelines.dbt import OUTREACH_TAG, WholesalerDbtTranslator, dbt_project, ensure_manifest
from pipelines.dbt_vars import dbt_build_args
from pipelines.partitions import market_partitions
from pipelines.resources import MarketsResource

ensure_manifest()

# Tier shares a healthy county shows. Outside them, data or weights are broken: a distress list
# that failed to load gives almost no A/B+ leads; a missing column (say homestead) makes a
# large part of the county look distressed. Real Central-Florida rolls put a few percent of
# residential parcels in A/B+, far from both bounds.
MIN_LEAD_SHARE = 0.002
MAX_LEAD_SHARE = 0.25
MAX_TIER_A_SHARE = 0.10


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=f"tag:{OUTREACH_TAG}",  # the outreach marts: pipelines/defs/analytics
    partitions_def=market_partitions,
    dagster_dbt_translator=WholesalerDbtTranslator(),
    pool="warehouse",
)
def wholesaler_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                          markets: MarketsResource):
    market = markets.get(context.partition_key)
    yield from dbt.cli(dbt_build_args(market), context=context).stream()


LEAD_SCORES = get_asset_key_for_model([wholesaler_dbt_models], "lead_scores")
OFFERS = get_asset_key_for_model([wholesaler_dbt_models], "offers")


def _scalar(warehouse: DuckDBResource, sql: str, market_code: str):
    with warehouse.get_connection() as conn:
        return conn.execute(sql, [market_code]).fetchone()


@dg.asset_check(asset=LEAD_SCORES, partitions_def=market_partitions,
                pool="warehouse", blocking=True,
                description="Every scorable parcel of the market has exactly one score.")
def each_parcel_scored_once(context: dg.AssetCheckExecutionContext,
                            warehouse: DuckDBResource) -> dg.AssetCheckResult:
    scored, distinct_scored, scorable = _scalar(
        warehouse,
        """SELECT (SELECT count(*) FROM marts.lead_scores WHERE market_code = $1),
                  (SELECT count(DISTINCT property_id) FROM marts.lead_scores
                   WHERE market_code = $1),
                  (SELECT count(*) FROM marts.properties
                   WHERE market_code = $1 AND is_scored_residential)""",
        context.partition_key,
    )
    return dg.AssetCheckResult(
        passed=scored == distinct_scored == scorable,
        metadata={"scores": scored, "distinct_parcels": distinct_scored,
                  "scorable_parcels": scorable},
    )


@dg.asset_check(asset=OFFERS, partitions_def=market_partitions,
                pool="warehouse", blocking=True,
                description="No offer exceeds the ARV it was computed from.")
def no_offer_above_arv(context: dg.AssetCheckExecutionContext,
                       warehouse: DuckDBResource) -> dg.AssetCheckResult:
    offers, above = _scalar(
        warehouse,
        """SELECT count(*), count(*) FILTER (WHERE offer_max > arv OR offer_min > offer_max)
           FROM marts.offers WHERE market_code = $1""",
        context.partition_key,
    )
    return dg.AssetCheckResult(passed=above == 0,
                               metadata={"offers": offers, "offers_above_arv": above})


@dg.asset_check(asset=LEAD_SCORES, partitions_def=market_partitions,
                pool="warehouse",
                description=(f"A+B+ leads are {MIN_LEAD_SHARE:.1%}-{MAX_LEAD_SHARE:.0%} of scored "
                             f"parcels and tier A at most {MAX_TIER_A_SHARE:.0%}."))
def tier_shares_within_bounds(context: dg.AssetCheckExecutionContext,
                              warehouse: DuckDBResource) -> dg.AssetCheckResult:
    scored, tier_a, tier_b_plus = _scalar(
        warehouse,
        """SELECT count(*), count(*) FILTER (WHERE tier = 'A'),
                  count(*) FILTER (WHERE tier = 'B+')
           FROM marts.lead_scores WHERE market_code = $1""",
        context.partition_key,
    )
    lead_share = (tier_a + tier_b_plus) / scored if scored else 0.0
    a_share = tier_a / scored if scored else 0.0
    return dg.AssetCheckResult(
        passed=MIN_LEAD_SHARE <= lead_share <= MAX_LEAD_SHARE and a_share <= MAX_TIER_A_SHARE,
        metadata={"scored": scored, "tier_a": tier_a, "tier_b_plus": tier_b_plus,
                  "lead_share": dg.MetadataValue.float(round(lead_share, 5)),
                  "tier_a_share": dg.MetadataValue.float(round(a_share, 5))},
    )
