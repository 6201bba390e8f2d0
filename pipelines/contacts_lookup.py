"""Line-type lookups for a market's phone contacts: cached in the ledger, counted and priced.

`lookup_market_line_types` walks the market's valid phone contacts, one lookup per distinct
phone (its keyed lookup hash; the same phone of two owners is looked up once), and:

- reuses the newest `phone_lookups` row of the phone when it is younger than `max_age_days`
  (no request, no cost; a row from another market counts too, the phone is the same);
- otherwise, while fewer than `limit` paid lookups were made, asks the `LineTypeLookup`
  (Twilio Lookup v2), stores one `phone_lookups` row with the market's `costs.lookup_usd`,
  and sets `contacts.line_type` on every contact with that phone;
- a lookup that fails (`LineTypeLookupError`) stores nothing and is retried next run.

`parcel_ids` narrows the walk to the phones of owners of those parcels (the asset
`contacts/line_type_lookup` passes the market's Tier A and B+ leads). `configured_line_type_lookup`
is the one place that decides whether lookups are switched on and builds the Twilio client;
`wholesaler contacts lookup` and the asset both use it.

See docs/contacts.md ("Line type lookup") for when to switch it on and what it costs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select, update

from contacts.line_type import LineTypeLookup, LineTypeLookupError, LineTypeResult
from markets.schema import Market
from outreach.ledger.db import ledger_session
from outreach.ledger.models import Contact, Owner, OwnerParcel, PhoneLookup

LOOKUP_SWITCHED_OFF = "WHOLESALER_LINE_TYPE_LOOKUP not set"
MISSING_TWILIO_CREDENTIALS_MESSAGE = "TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN not set"


class LineTypeLookupOff(RuntimeError):
    """Line-type lookups are not switched on; the message says which setting is missing."""


def configured_line_type_lookup(
        environ: Mapping[str, str] | None = None) -> tuple[LineTypeLookup, int]:
    """The Twilio lookup and the cache age (days) the settings switch on. Raises
    `LineTypeLookupOff` when `WHOLESALER_LINE_TYPE_LOOKUP` is not set or Twilio's credentials
    are missing, and `ServiceSettingsError` when a setting is malformed."""
    from contacts.line_type import TwilioLineTypeLookup
    from outreach.service_settings import line_type_lookup_settings, twilio_settings
    from outreach.twilio_client import twilio_rest_client

    switch = line_type_lookup_settings(environ)
    if not switch.wholesaler_line_type_lookup:
        raise LineTypeLookupOff(LOOKUP_SWITCHED_OFF)
    twilio = twilio_settings(environ)
    if not twilio.is_configured:
        raise LineTypeLookupOff(MISSING_TWILIO_CREDENTIALS_MESSAGE)
    return (TwilioLineTypeLookup(twilio_rest_client(twilio)),
            switch.wholesaler_line_type_max_age_days)


@dataclass
class LookupReport:
    """What one run did (printed as JSON by `wholesaler contacts lookup`)."""

    market: str
    phones: int = 0
    cached: int = 0
    looked_up: int = 0
    failed: int = 0
    left_for_later: int = 0
    contacts_updated: int = 0
    cost_usd: float = 0.0
    line_types: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        result = asdict(self)
        result["cost_usd"] = round(self.cost_usd, 6)
        result["errors"] = self.errors[:20]
        return result


def _market_phones(engine: Engine, market_code: str,
                   parcel_ids: Collection[str] | None = None) -> dict[str, str]:
    """phone hash -> E.164 of every valid phone contact of the market (decrypted here only);
    with `parcel_ids`, only the phones of owners of those parcels."""
    query = (select(Contact.contact_id, Contact.value_hash, Contact.value)
             .join(Owner, Owner.owner_id == Contact.owner_id)
             .where(Owner.market_code == market_code, Contact.channel == "phone",
                    Contact.is_valid.is_(True)))
    with ledger_session(engine) as session:
        if parcel_ids is None:
            rows = session.execute(query).tuples().all()
        else:
            wanted = sorted(parcel_ids)
            found: dict[int, tuple[int, str, str]] = {}
            for start in range(0, len(wanted), 500):
                owners = select(OwnerParcel.owner_id).where(
                    OwnerParcel.market_code == market_code,
                    OwnerParcel.parcel_id.in_(wanted[start:start + 500]))
                for row in session.execute(query.where(Contact.owner_id.in_(owners))).tuples():
                    found[row[0]] = row
            rows = list(found.values())
    phones: dict[str, str] = {}
    for _, value_hash, value in sorted(rows):
        phones.setdefault(value_hash, value)
    return phones


def _newest_lookups(engine: Engine, hashes: list[str]) -> dict[str, PhoneLookup]:
    newest: dict[str, PhoneLookup] = {}
    with ledger_session(engine) as session:
        for start in range(0, len(hashes), 500):
            chunk = hashes[start:start + 500]
            latest = (select(PhoneLookup.phone_hash,
                             func.max(PhoneLookup.looked_up_at).label("at"))
                      .where(PhoneLookup.phone_hash.in_(chunk))
                      .group_by(PhoneLookup.phone_hash).subquery())
            for row in session.scalars(select(PhoneLookup).join(
                    latest, (PhoneLookup.phone_hash == latest.c.phone_hash)
                    & (PhoneLookup.looked_up_at == latest.c.at))):
                newest[row.phone_hash] = row
    return newest


def _apply(engine: Engine, market_code: str, line_types: dict[str, str | None]) -> int:
    """Set `line_type` on the market's phone contacts (phone hash -> line type); returns how
    many contacts changed."""
    by_type: dict[str | None, list[str]] = {}
    for phone_hash, line_type in line_types.items():
        by_type.setdefault(line_type, []).append(phone_hash)
    changed = 0
    with ledger_session(engine) as session:
        owners = select(Owner.owner_id).where(Owner.market_code == market_code)
        for line_type, hashes in by_type.items():
            for start in range(0, len(hashes), 500):
                result = session.execute(
                    update(Contact).where(
                        Contact.value_hash.in_(hashes[start:start + 500]),
                        Contact.channel == "phone", Contact.owner_id.in_(owners),
                        Contact.line_type.is_distinct_from(line_type))
                    .values(line_type=line_type, updated_at=datetime.now(UTC))
                    .execution_options(synchronize_session=False))
                changed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return changed


def _store(engine: Engine, phone_hash: str, provider: str, result: LineTypeResult,
           cost_usd: float, now: datetime) -> None:
    with ledger_session(engine) as session:
        session.add(PhoneLookup(phone_hash=phone_hash, provider=provider,
                                is_valid=result.is_valid, line_type=result.line_type,
                                carrier_name=result.carrier_name, error_code=result.error_code,
                                cost_usd=cost_usd, looked_up_at=now))


def lookup_market_line_types(
    engine: Engine,
    market: Market,
    lookup: LineTypeLookup,
    max_age_days: int,
    limit: int | None = None,
    now: datetime | None = None,
    parcel_ids: Collection[str] | None = None,
) -> LookupReport:
    """Look up the line type of the market's phones (or only those of the owners of
    `parcel_ids`) not looked up in the last `max_age_days` (at most `limit` paid lookups),
    and set `contacts.line_type` from fresh and cached results alike."""
    now = now or datetime.now(UTC)
    fresh_after = now - timedelta(days=max_age_days)
    report = LookupReport(market=market.code)
    phones = _market_phones(engine, market.code, parcel_ids)
    report.phones = len(phones)
    newest = _newest_lookups(engine, sorted(phones))
    learned: dict[str, str | None] = {}
    for phone_hash, e164 in phones.items():
        known = newest.get(phone_hash)
        if known is not None and known.looked_up_at >= fresh_after:
            report.cached += 1
            line_type = known.line_type
        elif limit is not None and report.looked_up + report.failed >= limit:
            report.left_for_later += 1
            continue
        else:
            try:
                result = lookup.look_up(e164)
            except LineTypeLookupError as error:
                report.failed += 1
                report.errors.append(f"{e164[:-4]}••••: {error}")
                continue
            _store(engine, phone_hash, lookup.provider, result, market.costs.lookup_usd, now)
            report.looked_up += 1
            report.cost_usd += market.costs.lookup_usd
            line_type = result.line_type
        learned[phone_hash] = line_type
    report.contacts_updated = _apply(engine, market.code, learned)
    report.line_types = dict(sorted(Counter(t or "none" for t in learned.values()).items()))
    return report


def lookup_cost_so_far(engine: Engine, since: datetime | None = None) -> tuple[int, float]:
    """How many lookups the ledger records (since a moment) and what they cost in USD."""
    with ledger_session(engine) as session:
        query = select(func.count(), func.coalesce(func.sum(PhoneLookup.cost_usd), 0.0))
        if since is not None:
            query = query.where(PhoneLookup.looked_up_at >= since)
        count, total = session.execute(query).one()
    return int(count), float(total)
