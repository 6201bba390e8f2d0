"""Owner contacts per market: the vendor files a market's YAML names, validated, linked to the
roll's parcels, deduplicated and stored in the ledger (`contacts/owner_contacts`); the Tier A
and B+ leads still without a contact sent to the skip-trace API when one is configured
(`contacts/skip_trace`); then every phone scrubbed against the do-not-call lists
(`contacts/dnc_scrub`), and the leads' phones given a Twilio line type when lookups are
switched on (`contacts/line_type_lookup`). The two paid steps do nothing but say why when
they are not configured. Checks: every stored phone is E.164, no owner holds the same phone
twice, and the coverage of Tier A and B+ leads."""


import re
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field
from sqlalchemy import func, select

from outreach.ledger.db import ledger_session
from outreach.ledger.models import Contact, Owner
from outreach.service_settings import ServiceSettingsError
from pipelines.contacts_import import (
    ContactImportError,
    domain_checker_for,
    import_contact_files,
    lead_coverage,
    lead_parcel_ids,
    roll_owners,
    scrub_market,
)
from pipelines.contacts_lookup import (
    LineTypeLookupOff,
    configured_line_type_lookup,
    lookup_market_line_types,
)
from pipelines.partitions import market_partitions
from pipelines.resources import LedgerResource, MarketsResource
from pipelines.skip_trace import (
    SkipTraceOff,
    configured_skip_trace_provider,
    trace_with_provider,
    untraced_leads,
)

OWNER_CONTACTS = dg.AssetKey(["contacts", "owner_contacts"])
SKIP_TRACE = dg.AssetKey(["contacts", "skip_trace"])
DNC_SCRUB = dg.AssetKey(["contacts", "dnc_scrub"])
LINE_TYPE_LOOKUP = dg.AssetKey(["contacts", "line_type_lookup"])
LEAD_SCORES = dg.AssetKey(["marts", "lead_scores"])
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Below this share of Tier A/B+ leads with a sendable contact the check warns: outreach would
# miss too many of the leads it exists for (the seed target is more than 70 %).
MIN_LEAD_COVERAGE = 0.70


@dg.asset(
    key=OWNER_CONTACTS,
    deps=[dg.AssetKey(["marts", "properties"])],
    partitions_def=market_partitions,
    group_name="contacts",
    kinds={"sqlite", "python"},
    pool="warehouse",
    description="The market's vendor contact files validated, linked to parcels, deduplicated "
                "and stored in the ledger (phones and emails encrypted).",
)
def owner_contacts(context: dg.AssetExecutionContext, markets: MarketsResource,
                   warehouse: DuckDBResource, ledger: LedgerResource) -> dg.MaterializeResult:
    market = markets.get(context.partition_key)
    files = [(Path(market.resolve_location(source.location)), source.name)
             for source in market.contacts.sources]
    if not files:
        return dg.MaterializeResult(metadata={"files": 0, "note": "no contacts.sources"})
    try:
        with warehouse.get_connection() as conn:
            parcels = roll_owners(conn, market.code)
        with domain_checker_for(market) as checker:
            summaries = import_contact_files(ledger.engine(), market, files, parcels, checker)
    except ContactImportError as error:
        raise dg.Failure(f"{market.source_file}: contacts: {error}") from error
    return dg.MaterializeResult(metadata={
        "files": len(files),
        "imported_rows": sum(s.imported for s in summaries),
        "rejected_values_and_rows": sum(s.rejected for s in summaries),
        "duplicate_rows": sum(s.duplicates for s in summaries),
        "contacts_added": summaries[0].contacts_added,
        "rejects_files": dg.MetadataValue.json([s.rejects_file for s in summaries]),
    })


@dg.asset_check(asset=OWNER_CONTACTS, partitions_def=market_partitions, blocking=True,
                description="Every stored phone of the market is in E.164 form.")
def phones_are_e164(context: dg.AssetCheckExecutionContext,
                    ledger: LedgerResource) -> dg.AssetCheckResult:
    with ledger_session(ledger.engine()) as session:
        phones = session.scalars(select(Contact.value).join(
            Owner, Owner.owner_id == Contact.owner_id).where(
            Owner.market_code == context.partition_key, Contact.channel == "phone")).all()
    bad = sum(1 for phone in phones if not E164.match(phone))
    return dg.AssetCheckResult(passed=bad == 0, metadata={"phones": len(phones),
                                                          "not_e164": bad})


@dg.asset_check(asset=OWNER_CONTACTS, partitions_def=market_partitions, blocking=True,
                description="No owner holds the same phone (or email) twice.")
def no_duplicate_contact_per_owner(context: dg.AssetCheckExecutionContext,
                                   ledger: LedgerResource) -> dg.AssetCheckResult:
    with ledger_session(ledger.engine()) as session:
        repeated = session.execute(
            select(Contact.owner_id, Contact.channel, Contact.value_hash)
            .join(Owner, Owner.owner_id == Contact.owner_id)
            .where(Owner.market_code == context.partition_key)
            .group_by(Contact.owner_id, Contact.channel, Contact.value_hash)
            .having(func.count() > 1)).all()
    return dg.AssetCheckResult(passed=not repeated, metadata={"repeated": len(repeated)})


class SkipTraceConfig(dg.Config):
    limit: int | None = Field(
        default=None, ge=0, description="At most this many leads sent to the (paid) "
                                        "skip-trace API in this run, best score first.")


@dg.asset(
    key=SKIP_TRACE,
    deps=[OWNER_CONTACTS, LEAD_SCORES],
    partitions_def=market_partitions,
    group_name="contacts",
    kinds={"sqlite", "python"},
    pool="warehouse",
    description="The market's Tier A and B+ leads without a valid contact sent to the paid "
                "skip-trace API (off unless WHOLESALER_SKIP_TRACE_URL and _API_KEY are set); "
                "the answers imported like a vendor file.",
)
def skip_trace(context: dg.AssetExecutionContext, config: SkipTraceConfig,
               markets: MarketsResource, warehouse: DuckDBResource,
               ledger: LedgerResource) -> dg.MaterializeResult:
    market = markets.get(context.partition_key)
    try:
        provider = configured_skip_trace_provider(market)
    except SkipTraceOff as off:
        return dg.MaterializeResult(metadata={"skipped": str(off)})
    except ServiceSettingsError as error:
        raise dg.Failure(f"skip-trace settings: {error}") from error
    with provider:
        try:
            with warehouse.get_connection() as conn:
                subjects = untraced_leads(conn, ledger.engine(), market.code)
                parcels = roll_owners(conn, market.code) if subjects else []
        except ContactImportError as error:
            raise dg.Failure(f"{market.source_file}: skip trace: {error}") from error
        if config.limit is not None:
            subjects = subjects[:config.limit]
        if not subjects:
            return dg.MaterializeResult(metadata={"untraced_leads": 0, "hits": 0,
                                                  "cost_usd": 0.0})
        with domain_checker_for(market) as checker:
            run = trace_with_provider(ledger.engine(), market, provider, subjects, parcels,
                                      checker)
    return dg.MaterializeResult(metadata={
        "untraced_leads": run.subjects, "hits": run.hits, "misses": run.misses,
        "provider_rejects": run.provider_rejects, "requests": run.requests,
        "cost_usd": run.cost_usd,
        "contacts_added": run.imported.contacts_added if run.imported else 0,
        "answers_file": run.answers_file or "none"})


@dg.asset(
    key=DNC_SCRUB,
    deps=[OWNER_CONTACTS, SKIP_TRACE],
    partitions_def=market_partitions,
    group_name="contacts",
    kinds={"sqlite", "python"},
    description="Every phone of the market checked against the do-not-call lists loaded in "
                "the ledger (`wholesaler dnc load`), with the copies' download dates.",
)
def dnc_scrub(context: dg.AssetExecutionContext, markets: MarketsResource,
              ledger: LedgerResource) -> dg.MaterializeResult:
    market = markets.get(context.partition_key)
    report = scrub_market(ledger.engine(), market)
    return dg.MaterializeResult(metadata={
        "phones": report.phones, "listed": report.listed, "sms_blocked": report.sms_blocked,
        "oldest_registry_copy": str(report.national_downloaded_on or "none loaded"),
    })


@dg.asset_check(asset=DNC_SCRUB, partitions_def=market_partitions, pool="warehouse",
                additional_deps=[dg.AssetKey(["marts", "lead_scores"])],
                description="Share of Tier A and B+ leads with at least one sendable contact "
                            f"(warns below {MIN_LEAD_COVERAGE:.0%}).")
def lead_contact_coverage(context: dg.AssetCheckExecutionContext, markets: MarketsResource,
                          warehouse: DuckDBResource,
                          ledger: LedgerResource) -> dg.AssetCheckResult:
    market = markets.get(context.partition_key)
    with warehouse.get_connection() as conn:
        coverage = lead_coverage(conn, ledger.engine(), market)
    return dg.AssetCheckResult(
        passed=coverage.share >= MIN_LEAD_COVERAGE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"tier_a_b_plus_leads": coverage.leads, "with_sendable_contact":
                  coverage.covered, "coverage": round(coverage.share, 4)})


class LineTypeLookupConfig(dg.Config):
    limit: int | None = Field(
        default=None, ge=0, description="At most this many paid lookups in this run (the "
                                        "rest wait for the next run).")


@dg.asset(
    key=LINE_TYPE_LOOKUP,
    deps=[SKIP_TRACE, LEAD_SCORES],
    partitions_def=market_partitions,
    group_name="contacts",
    kinds={"sqlite", "python"},
    pool="warehouse",
    description="Twilio Lookup line type of the Tier A and B+ leads' phones not looked up "
                "recently (paid; off unless WHOLESALER_LINE_TYPE_LOOKUP=1 and Twilio is "
                "configured): cached in the ledger, counted and priced.",
)
def line_type_lookup(context: dg.AssetExecutionContext, config: LineTypeLookupConfig,
                     markets: MarketsResource, warehouse: DuckDBResource,
                     ledger: LedgerResource) -> dg.MaterializeResult:
    market = markets.get(context.partition_key)
    try:
        lookup, max_age_days = configured_line_type_lookup()
    except LineTypeLookupOff as off:
        return dg.MaterializeResult(metadata={"skipped": str(off)})
    except ServiceSettingsError as error:
        raise dg.Failure(f"line-type lookup settings: {error}") from error
    with warehouse.get_connection() as conn:
        leads = lead_parcel_ids(conn, market.code)
    report = lookup_market_line_types(ledger.engine(), market, lookup, max_age_days,
                                      limit=config.limit, parcel_ids=leads)
    return dg.MaterializeResult(metadata={
        "tier_a_b_plus_leads": len(leads), "phones": report.phones,
        "looked_up": report.looked_up, "cached": report.cached, "failed": report.failed,
        "left_for_later": report.left_for_later, "contacts_updated": report.contacts_updated,
        "cost_usd": round(report.cost_usd, 6),
        "line_types": dg.MetadataValue.json(report.line_types),
        "errors": dg.MetadataValue.json(report.errors[:20])})
