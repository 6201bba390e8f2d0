"""Skip tracing a market's leads: which leads still lack a contact, the vendor upload file
for them, and a provider run whose answers are imported like a vendor file.

- `untraced_leads` reads `marts.lead_scores` and `marts.properties` (warehouse, read-only)
  for the market's leads in the given tiers and leaves out every parcel whose owner already
  has a valid contact in the ledger.
- `export_trace_request` writes them as the CSV batch vendors accept
  (`contacts.providers.batch_file`); the file the vendor returns goes through
  `wholesaler contacts import`.
- `trace_with_provider` sends them to a `SkipTraceProvider` (e.g. the HTTP API), keeps the
  answers as a vendor CSV under ``<data>/skip_trace/<market>/`` and imports that file with
  `pipelines.contacts_import.import_contact_files`, so validation, linking, deduplication and
  storage are the same as for a file import.
- `configured_skip_trace_provider` builds the HTTP provider from the environment
  (`outreach.service_settings.SkipTraceApiSettings`) and raises `SkipTraceOff` when it is not
  configured; the asset `contacts/skip_trace` runs it over the untraced Tier A/B+ leads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from sqlalchemy import Engine, select

from contacts.dedupe import ParcelOwner
from contacts.emails import DomainChecker
from contacts.providers import (
    HttpSkipTraceProvider,
    SkipTraceProvider,
    TraceSubject,
    write_trace_request_csv,
    write_vendor_rows_csv,
)
from contacts.vendor_csv import MailingAddress, write_rejects
from markets.schema import Market
from outreach.ledger.db import ledger_session
from outreach.ledger.models import Contact, Owner, OwnerParcel
from pipelines import settings
from pipelines.contacts_import import OUTREACH_TIERS, ImportSummary, import_contact_files

DEFAULT_TIERS = OUTREACH_TIERS
SKIP_TRACE_NOT_CONFIGURED = "WHOLESALER_SKIP_TRACE_URL / WHOLESALER_SKIP_TRACE_API_KEY not set"


class SkipTraceOff(RuntimeError):
    """No skip-trace API is configured; the message names the missing settings."""


def configured_skip_trace_provider(
        market: Market, environ: Mapping[str, str] | None = None) -> HttpSkipTraceProvider:
    """The HTTP skip-trace provider the settings configure, priced at the market's
    `costs.skip_trace_usd` per hit. Raises `SkipTraceOff` when the URL or key is missing and
    `ServiceSettingsError` when a setting is malformed. Close it after use."""
    from outreach.service_settings import skip_trace_api_settings

    configured = skip_trace_api_settings(environ)
    if not configured.is_configured or configured.wholesaler_skip_trace_api_key is None:
        raise SkipTraceOff(SKIP_TRACE_NOT_CONFIGURED)
    return HttpSkipTraceProvider(
        str(configured.wholesaler_skip_trace_url),
        configured.wholesaler_skip_trace_api_key.get_secret_value(),
        cost_per_hit_usd=market.costs.skip_trace_usd,
        batch_size=configured.wholesaler_skip_trace_batch_size,
        requests_per_second=configured.wholesaler_skip_trace_requests_per_second)


def traced_parcel_ids(engine: Engine, market_code: str) -> set[str]:
    """Parcels of the market whose owner has at least one valid contact in the ledger."""
    with ledger_session(engine) as session:
        return set(session.scalars(
            select(OwnerParcel.parcel_id).join(Owner, Owner.owner_id == OwnerParcel.owner_id)
            .join(Contact, Contact.owner_id == Owner.owner_id)
            .where(Owner.market_code == market_code, Contact.is_valid.is_(True)).distinct()))


def untraced_leads(warehouse: duckdb.DuckDBPyConnection, engine: Engine, market_code: str,
                   tiers: Sequence[str] = DEFAULT_TIERS) -> list[TraceSubject]:
    """The market's leads in `tiers` without a valid contact, best score first."""
    rows = warehouse.execute(
        "SELECT p.parcel_id, coalesce(p.owner_name, ''), coalesce(p.owner_address_line_1, ''),"
        " coalesce(p.owner_address_line_2, ''), coalesce(p.owner_city, ''),"
        " coalesce(p.owner_state, ''), coalesce(p.owner_zip, ''),"
        " concat_ws(', ', nullif(p.situs_address, ''), nullif(p.situs_city, ''),"
        "           nullif(p.situs_zip, ''))"
        " FROM marts.lead_scores AS l JOIN marts.properties AS p"
        "   ON p.market_code = l.market_code AND p.parcel_id = l.parcel_id"
        " WHERE l.market_code = ? AND l.tier IN (SELECT unnest(?))"
        " ORDER BY l.score DESC, p.parcel_id", [market_code, list(tiers)]).fetchall()
    done = traced_parcel_ids(engine, market_code)
    return [TraceSubject(ref=pid, parcel_id=pid, owner_name=name,
                         mailing=MailingAddress(line1, line2, city, state, zip_code[:5]),
                         property_address=situs)
            for pid, name, line1, line2, city, state, zip_code, situs in rows
            if pid not in done]


def export_trace_request(warehouse: duckdb.DuckDBPyConnection, engine: Engine,
                         market_code: str, tiers: Sequence[str], out: Path) -> int:
    """Write the vendor upload file of the market's untraced leads; returns the row count."""
    return write_trace_request_csv(untraced_leads(warehouse, engine, market_code, tiers), out)


@dataclass(frozen=True)
class TraceRun:
    """What a provider run did: the provider's counts, its cost, the kept answer file and the
    import of it."""

    subjects: int
    hits: int
    misses: int
    provider_rejects: int
    requests: int
    cost_usd: float
    answers_file: str | None
    provider_rejects_file: str | None
    imported: ImportSummary | None


def trace_with_provider(engine: Engine, market: Market, provider: SkipTraceProvider,
                        subjects: list[TraceSubject], parcels: Sequence[ParcelOwner],
                        checker: DomainChecker, now: datetime | None = None) -> TraceRun:
    """Trace `subjects`, keep the answers as a vendor CSV and import it (see module doc)."""
    now = now or datetime.now(UTC)
    result = provider.trace(subjects)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    folder = settings.data_dir() / "skip_trace" / market.code
    answers = rejects = None
    summary = None
    if result.rejects:
        rejects = write_rejects(folder / f"{provider.name}-{stamp}.rejects.csv", result.rejects)
    if result.rows:
        answers = write_vendor_rows_csv(result.rows, folder / f"{provider.name}-{stamp}.csv")
        summary = import_contact_files(engine, market, [(answers, provider.name)], parcels,
                                       checker)[0]
    return TraceRun(subjects=len(subjects), hits=result.hits, misses=result.misses,
                    provider_rejects=len(result.rejects), requests=result.requests,
                    cost_usd=round(result.cost_usd, 6),
                    answers_file=str(answers) if answers else None,
                    provider_rejects_file=str(rejects) if rejects else None, imported=summary)
