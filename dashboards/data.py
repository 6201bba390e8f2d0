"""The dashboards' one data-access module: every page reads through here.

It reads the published snapshot (`data/published/current`, see pipelines/publish.py) with an
in-memory DuckDB over the Parquet files, resolving `current` once per call so a page never
mixes two snapshots. Results are cached with `st.cache_data` keyed by the snapshot folder, so
a new publish shows up on the next load and an unchanged one costs nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from pipelines.publish import current_snapshot

CACHE_SECONDS = 300


@dataclass(frozen=True)
class Snapshot:
    folder: Path
    published_at: str
    rows: dict[str, int]


def snapshot() -> Snapshot | None:
    """The current snapshot, or None before the first publish."""
    folder = current_snapshot()
    if folder is None or not (folder / "manifest.json").exists():
        return None
    manifest = json.loads((folder / "manifest.json").read_text())
    return Snapshot(folder, manifest["published_at"], manifest["rows"])


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _query(folder: str, sql: str, parameters: tuple[object, ...] = ()) -> pd.DataFrame:
    with duckdb.connect() as conn:
        for table in published_tables(folder):
            path = Path(folder) / f"{table}.parquet"
            conn.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
        return conn.execute(sql, list(parameters)).df()


def published_tables(folder: str) -> tuple[str, ...]:
    """Every table the snapshot's manifest lists (each a Parquet file in the folder)."""
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    return tuple(table for table in manifest["rows"]
                 if table.isidentifier() and (Path(folder) / f"{table}.parquet").exists())


def market_summary(current: Snapshot) -> pd.DataFrame:
    return _query(str(current.folder), "SELECT * FROM market_summary ORDER BY market_code")


def markets(current: Snapshot) -> list[str]:
    return market_summary(current)["market_code"].tolist()


def leads(current: Snapshot, market_codes: tuple[str, ...], tiers: tuple[str, ...],
          min_score: float, limit: int = 5_000) -> pd.DataFrame:
    """Leads of the chosen markets and tiers at or above `min_score`, best first."""
    return _query(
        str(current.folder),
        """SELECT market_code, parcel_id, tier, score, situs_address, situs_city, owner_name,
                  owner_state, years_owned, arv, offer_min, offer_max, repair_tier, reasons
           FROM leads WHERE list_contains(?, market_code) AND list_contains(?, tier)
                AND score >= ? ORDER BY score DESC, market_code, parcel_id LIMIT ?""",
        (list(market_codes), list(tiers), min_score, limit))


def lead_detail(current: Snapshot, market_code: str, parcel_id: str) -> pd.DataFrame:
    return _query(str(current.folder),
                  "SELECT * FROM leads WHERE market_code = ? AND parcel_id = ?",
                  (market_code, parcel_id))


def lead_comps(current: Snapshot, property_id: str) -> pd.DataFrame:
    return _query(str(current.folder),
                  "SELECT * FROM comps WHERE subject_property_id = ? ORDER BY similarity_rank",
                  (property_id,))


# --- Page helpers and the outreach pages' reads (dashboard pages, issue 7) ---------------

NO_SNAPSHOT = ("No published data yet. Run `wholesaler demo` (or materialize the markets and "
               "the `publish_dashboards` job in the Dagster UI), then reload this page.")
NO_OUTREACH = ("No outreach in this snapshot yet: run `wholesaler demo` (it enrolls leads and "
               "sends to the outbox), or the `outreach_for_market` job and then "
               "`publish_dashboards` in the Dagster UI; then reload this page.")


def has_tables(current: Snapshot, *tables: str) -> bool:
    """Whether the snapshot holds every one of `tables` (its manifest lists what it holds)."""
    return all(table in current.rows and (current.folder / f"{table}.parquet").exists()
               for table in tables)


def require_snapshot() -> Snapshot:
    """The current snapshot; otherwise explain what to run and stop the page."""
    current = snapshot()
    if current is None:
        st.info(NO_SNAPSHOT)
        st.stop()
    return current


def require_tables(current: Snapshot, *tables: str, message: str = NO_OUTREACH) -> None:
    """Stop the page with `message` unless the snapshot holds `tables`."""
    if not has_tables(current, *tables):
        st.info(message)
        st.stop()


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _columns(folder: str, table: str) -> tuple[str, ...]:
    with duckdb.connect() as conn:
        relation = conn.read_parquet(str(Path(folder) / f"{table}.parquet"))
        return tuple(relation.columns)


def table_columns(current: Snapshot, table: str) -> tuple[str, ...]:
    """The columns of one published table (from the Parquet footer, no data read)."""
    if not has_tables(current, table):
        return ()
    return _columns(str(current.folder), table)


def lead_points(current: Snapshot, market_codes: tuple[str, ...], tiers: tuple[str, ...],
                min_score: float, limit: int = 5_000) -> pd.DataFrame:
    """The same leads as `leads()`, with their coordinates (only when `leads` has them)."""
    return _query(
        str(current.folder),
        """SELECT market_code, parcel_id, tier, round(score, 1) AS score, latitude, longitude
           FROM leads WHERE list_contains(?, market_code) AND list_contains(?, tier)
                AND score >= ? AND latitude IS NOT NULL AND longitude IS NOT NULL
           ORDER BY score DESC, market_code, parcel_id LIMIT ?""",
        (list(market_codes), list(tiers), min_score, limit))


def footer(current: Snapshot) -> None:
    """The last element of every page (the benchmark waits for it): which snapshot is shown."""
    st.caption(f"Snapshot published {current.published_at} ({current.folder.name})")


CHANNELS = {"All": ("sms", "email"), "SMS": ("sms",), "Email": ("email",)}
FUNNEL_STAGES = ("contacted", "responded", "interested", "under_contract", "closed")


def _one(current: Snapshot, sql: str, parameters: tuple[object, ...] = ()) -> pd.Series:
    return _query(str(current.folder), sql, parameters).iloc[0]


def outreach_dates(current: Snapshot) -> tuple[date, date] | None:
    """The first send date in `outreach_daily` and the last send or deal-closing date (None
    when nothing was sent)."""
    last_closed = ("(SELECT max(closed_on) FROM deals)" if has_tables(current, "deals")
                   else "NULL::DATE")
    row = _one(current, f"""SELECT min(sent_on) AS first,
                                   greatest(max(sent_on), {last_closed}) AS last
                            FROM outreach_daily""")
    if pd.isna(row["first"]):
        return None
    return pd.Timestamp(row["first"]).date(), pd.Timestamp(row["last"]).date()


def outreach_cards(current: Snapshot, start: date, end: date,
                   channels: tuple[str, ...], every_channel: bool) -> pd.Series:
    """The Overview's cards in one query: touches sent between `start` and `end` (inclusive)
    on `channels` and what they drew; deals closed in the range and their revenue (with
    `every_channel`, every deal, else only deals attributed to a touch on `channels`); and the
    costs of the months the range overlaps (costs are monthly; every kind with
    `every_channel`, else only those channels' message costs)."""
    return _one(current, """
        WITH touches AS (
            SELECT coalesce(sum(sent), 0) AS sent, coalesce(sum(delivered), 0) AS delivered,
                   coalesce(sum(responses), 0) AS responses,
                   coalesce(sum(interested), 0) AS interested,
                   coalesce(sum(opt_outs), 0) AS opt_outs
            FROM outreach_daily
            WHERE sent_on BETWEEN ? AND ? AND list_contains(?, channel)),
        closed AS (
            SELECT count(*) AS closed, coalesce(sum(revenue_usd), 0) AS revenue_usd
            FROM deals
            WHERE is_closed AND closed_on BETWEEN ? AND ? AND (? OR list_contains(?, channel))),
        spent AS (
            SELECT coalesce(sum(cost_usd), 0) AS cost_usd FROM costs
            WHERE month BETWEEN date_trunc('month', ?::DATE) AND ?
                  AND (? OR list_contains(?, cost_type)))
        SELECT * FROM touches, closed, spent""",
        (start, end, list(channels), start, end, every_channel, list(channels), start, end,
         every_channel, list(channels)))


def funnel(current: Snapshot, channel: str) -> pd.DataFrame:
    """Enrollments at each funnel stage on `channel` (`all`, `sms` or `email`)."""
    row = _one(current, f"""
        SELECT {", ".join(f"coalesce(sum({stage}), 0) AS {stage}" for stage in FUNNEL_STAGES)}
        FROM outreach_funnel WHERE channel = ?""", (channel,))
    return pd.DataFrame({"stage": [stage.replace("_", " ") for stage in FUNNEL_STAGES],
                         "order": range(len(FUNNEL_STAGES)),
                         "enrollments": [int(row[stage]) for stage in FUNNEL_STAGES]})


def outreach_markets(current: Snapshot, table: str = "outreach_daily") -> list[str]:
    if table not in {"outreach_daily", "campaign_touches", "conversations", "handoff_queue",
                     "costs", "roi", "deals"}:
        raise ValueError(f"not an outreach table: {table}")
    return _query(str(current.folder), f"SELECT DISTINCT market_code FROM {table} "
                  "WHERE market_code IS NOT NULL ORDER BY 1")["market_code"].tolist()


def choose_outreach_markets(current: Snapshot, table: str) -> tuple[str, ...]:
    """The markets picker of an outreach page: every market of `table`, all chosen by
    default; with no outreach (or nothing chosen) the page explains and stops here."""
    all_markets = outreach_markets(current, table)
    if not all_markets:
        st.info(NO_OUTREACH)
        footer(current)
        st.stop()
    chosen = st.multiselect("Markets", all_markets, default=all_markets)
    if not chosen:
        st.info("Choose at least one market.")
        st.stop()
    return tuple(chosen)


def campaign_summary(current: Snapshot, market_codes: tuple[str, ...]) -> pd.DataFrame:
    """Per campaign over the chosen markets: enrollments, completion (share that passed the
    last touch), touches and what they drew, rates and cost."""
    return _query(str(current.folder), """
        WITH per_market AS (
            SELECT campaign_name, market_code, max(enrollments) AS enrollments,
                   arg_max(reached, touch_number) AS completed, max(touch_number) AS touches,
                   sum(sent) AS sent, sum(delivered) AS delivered, sum(failed) AS failed,
                   sum(refused) AS refused, sum(responses) AS responses,
                   sum(interested) AS interested, sum(opt_outs) AS opt_outs,
                   sum(cost_usd) AS cost_usd
            FROM campaign_touches WHERE list_contains(?, market_code)
            GROUP BY campaign_name, market_code)
        SELECT campaign_name AS campaign, max(touches) AS touches,
               sum(enrollments) AS enrollments, sum(completed) AS completed,
               sum(completed) / nullif(sum(enrollments), 0) AS completion_rate,
               sum(sent) AS sent, sum(delivered) AS delivered, sum(failed) AS failed,
               sum(refused) AS refused, sum(responses) AS responses,
               sum(responses) / nullif(sum(sent), 0) AS response_rate,
               sum(interested) AS interested,
               sum(interested) / nullif(sum(sent), 0) AS interest_rate,
               sum(opt_outs) AS opt_outs, sum(cost_usd) AS cost_usd,
               sum(cost_usd) / nullif(sum(sent), 0) AS cost_per_touch_usd
        FROM per_market GROUP BY campaign_name ORDER BY sent DESC, campaign""",
        (list(market_codes),))


def campaign_touch_table(current: Snapshot, market_codes: tuple[str, ...]) -> pd.DataFrame:
    """Per campaign and touch number over the chosen markets."""
    return _query(str(current.folder), """
        SELECT campaign_name AS campaign, touch_number AS touch,
               mode(channel) AS channel, mode(template) AS template,
               sum(reached) / nullif(sum(enrollments), 0) AS completion_rate,
               sum(sent) AS sent, sum(delivered) AS delivered, sum(responses) AS responses,
               sum(responses) / nullif(sum(sent), 0) AS response_rate,
               sum(interested) AS interested,
               sum(interested) / nullif(sum(sent), 0) AS interest_rate,
               sum(opt_outs) AS opt_outs, sum(cost_usd) AS cost_usd
        FROM campaign_touches WHERE list_contains(?, market_code)
        GROUP BY campaign_name, touch_number ORDER BY campaign, touch""",
        (list(market_codes),))


def campaign_weekly(current: Snapshot, market_codes: tuple[str, ...], start: date,
                    end: date) -> pd.DataFrame:
    """Touches sent and responses per ISO week and campaign (for the trend chart)."""
    return _query(str(current.folder), """
        SELECT date_trunc('week', sent_on)::DATE AS week, campaign_name AS campaign,
               sum(sent) AS sent, sum(responses) AS responses,
               sum(responses) / nullif(sum(sent), 0) AS response_rate
        FROM outreach_daily
        WHERE list_contains(?, market_code) AND sent_on BETWEEN ? AND ?
        GROUP BY ALL ORDER BY week, campaign""",
        (list(market_codes), start, end))


INTENTS = ("interested", "question", "not_interested", "wrong_number", "opt_out", "unknown")
TAKEOVER = {"Any": None, "Taken over": True, "Not taken over": False}


def conversation_dates(current: Snapshot) -> tuple[date, date] | None:
    row = _one(current, 'SELECT min("at")::DATE AS first, max("at")::DATE AS last '
                        "FROM conversations")
    if pd.isna(row["first"]):
        return None
    return pd.Timestamp(row["first"]).date(), pd.Timestamp(row["last"]).date()


_THREAD_FILTER = """
    SELECT owner_id FROM conversations
    WHERE list_contains(?, market_code) AND "at" >= ? AND "at" < ? + INTERVAL 1 DAY
    GROUP BY owner_id
    HAVING (? OR bool_or(list_contains(?, intent)))
       AND (? IS NULL OR bool_or(coalesce(is_human_takeover, false)) = ?)
       AND (NOT ? OR bool_or(direction = 'inbound'))"""


def _thread_parameters(market_codes: tuple[str, ...], intents: tuple[str, ...],
                       takeover: bool | None, start: date, end: date,
                       replied_only: bool) -> tuple[object, ...]:
    return (list(market_codes), start, end, not intents, list(intents), takeover, takeover,
            replied_only)


def threads(current: Snapshot, market_codes: tuple[str, ...], intents: tuple[str, ...],
            takeover: bool | None, start: date, end: date, replied_only: bool = False,
            limit: int = 200) -> pd.DataFrame:
    """One row per owner whose messages in the range match the filters (`intents` empty: any;
    `takeover` None: either; `replied_only`: the owner wrote back), most recent first, at most
    `limit`."""
    return _query(str(current.folder), f"""
        WITH chosen AS ({_THREAD_FILTER} ORDER BY max("at") DESC LIMIT ?)
        SELECT c.owner_id, any_value(c.market_code) AS market_code,
               arg_max(c.parcel_id, c."at") AS parcel_id, arg_max(c.tier, c."at") AS tier,
               arg_max(c.campaign_name, c."at") AS campaign, max(c."at") AS last_at,
               count(*) AS messages,
               count(*) FILTER (WHERE c.direction = 'inbound') AS replies,
               arg_max(c.intent, c."at") FILTER (WHERE c.direction = 'inbound') AS last_intent,
               avg(c.sentiment) FILTER (WHERE c.direction = 'inbound') AS sentiment,
               bool_or(coalesce(c.is_human_takeover, false)) AS taken_over,
               arg_max(c.conversation_state, c."at") AS state,
               arg_max(c.contact_hint, c."at") AS contact_hint
        FROM conversations AS c JOIN chosen USING (owner_id)
        GROUP BY c.owner_id ORDER BY last_at DESC""",
        (*_thread_parameters(market_codes, intents, takeover, start, end, replied_only),
         limit))


def thread(current: Snapshot, owner_id: int) -> pd.DataFrame:
    """Every published message of one owner, oldest first."""
    return _query(str(current.folder), """
        SELECT message_id, "at", direction, channel, purpose, campaign_name, touch_number,
               template, status, subject, body, is_body_purged, intent, sentiment,
               intent_confidence, is_opt_out, decision, is_human_takeover, contact_hint
        FROM conversations WHERE owner_id = ? ORDER BY "at", message_id""", (owner_id,))


EXPORT_COLUMNS = ("owner_id", "market_code", "campaign_name", "parcel_id", "tier", '"at"',
                  "direction", "channel", "purpose", "touch_number", "template", "status",
                  "subject", "body", "intent", "sentiment", "decision", "is_human_takeover",
                  "conversation_state", "contact_hint")


def conversations_csv(current: Snapshot, market_codes: tuple[str, ...],
                      intents: tuple[str, ...], takeover: bool | None, start: date, end: date,
                      replied_only: bool = False, limit: int = 200) -> bytes:
    """The messages of the threads `threads()` lists, as CSV, masked as for a viewer
    (whoever exports: an export leaves the dashboards' access control behind)."""
    from dashboards.masking import mask_frame

    frame = _query(str(current.folder), f"""
        WITH chosen AS ({_THREAD_FILTER} ORDER BY max("at") DESC LIMIT ?)
        SELECT {", ".join(EXPORT_COLUMNS)} FROM conversations JOIN chosen USING (owner_id)
        ORDER BY owner_id, "at", message_id""",
        (*_thread_parameters(market_codes, intents, takeover, start, end, replied_only),
         limit))
    return mask_frame(frame, "viewer").to_csv(index=False).encode()


def roi_by_month(current: Snapshot, market_codes: tuple[str, ...]) -> pd.DataFrame:
    """Per month over the chosen markets: leads contacted, deals, revenue, each cost, cost per
    lead and per deal, ROI, and the running totals."""
    return _query(str(current.folder), """
        WITH monthly AS (
            SELECT month, sum(leads_contacted) AS leads_contacted,
                   sum(responses) AS responses, sum(interested) AS interested,
                   sum(deals_under_contract) AS deals_under_contract,
                   sum(deals_closed) AS deals_closed, sum(revenue_usd) AS revenue_usd,
                   sum(cost_usd) AS cost_usd
            FROM roi WHERE list_contains(?, market_code) GROUP BY month)
        SELECT *, cost_usd / nullif(leads_contacted, 0) AS cost_per_lead_usd,
               cost_usd / nullif(deals_closed, 0) AS cost_per_deal_usd,
               (revenue_usd - cost_usd) / nullif(cost_usd, 0) AS roi,
               sum(cost_usd) OVER (ORDER BY month) AS cumulative_cost_usd,
               sum(revenue_usd) OVER (ORDER BY month) AS cumulative_revenue_usd
        FROM monthly ORDER BY month""", (list(market_codes),))


def average_fee(current: Snapshot, market_codes: tuple[str, ...]) -> float | None:
    """Mean assignment fee the break-even uses: the chosen markets' closed deals, else the
    marts' figure (which falls back to every market, then the configured fee)."""
    row = _one(current, """
        SELECT (SELECT avg(assignment_fee_usd) FROM deals
                WHERE is_closed AND list_contains(?, market_code)) AS own,
               (SELECT avg(average_assignment_fee_usd) FROM roi
                WHERE list_contains(?, market_code)) AS marts""",
        (list(market_codes), list(market_codes)))
    for value in (row["own"], row["marts"]):
        if not pd.isna(value) and value > 0:
            return float(value)
    return None


def costs_by_kind(current: Snapshot, market_codes: tuple[str, ...]) -> pd.DataFrame:
    return _query(str(current.folder), """
        SELECT month, cost_type, sum(units) AS units, sum(cost_usd) AS cost_usd
        FROM costs WHERE list_contains(?, market_code) GROUP BY ALL ORDER BY month, cost_type""",
        (list(market_codes),))


def handoff_queue(current: Snapshot, market_codes: tuple[str, ...],
                  statuses: tuple[str, ...]) -> pd.DataFrame:
    """Open handoffs of the chosen markets and statuses, longest waiting first."""
    return _query(str(current.folder), """
        SELECT handoff_id, owner_id, market_code, status, reason, created_at, hours_waiting,
               closer, claimed_by, claimed_at, owner_name, situs_address, situs_city,
               parcel_id, tier, score, campaign_name, last_reply_at, last_reply_intent,
               last_reply_sentiment, last_reply_body, contact_hint, is_human_takeover
        FROM handoff_queue WHERE list_contains(?, market_code) AND list_contains(?, status)
        ORDER BY created_at, handoff_id""", (list(market_codes), list(statuses)))


# --- The ledger, for the Handoffs page's closer actions only ----------------------------
# DESIGN.md ("Storage") lets the dashboards write the ledger for approval actions. Here that
# is: reading ONE owner's contacts (decrypted) for a closer, and claiming a handoff; both
# write an audit entry. Nothing else in the dashboards opens the ledger.


@dataclass(frozen=True)
class OwnerContacts:
    phone: str | None
    email: str | None
    is_opted_out: bool


@st.cache_resource(show_spinner=False)
def _ledger_engine(url: str):  # type: ignore[no-untyped-def]
    from outreach.ledger.db import ledger_engine

    return ledger_engine(url)


def _ledger():  # type: ignore[no-untyped-def]
    from pipelines import settings

    return _ledger_engine(settings.ledger_url())


def reveal_contacts(owner_id: int, user: str) -> OwnerContacts:
    """The phone and email this owner's conversation used (the contacts of their latest
    message on each channel), decrypted, and whether an opt-out is in force; audited."""
    from sqlalchemy import select

    from outreach.ledger.db import ledger_session
    from outreach.ledger.models import AuditEntry, Contact, Message, Suppression

    found: dict[str, str | None] = {}
    with ledger_session(_ledger()) as session:
        for channel in ("sms", "email"):
            found[channel] = session.scalar(
                select(Contact.value).join(Message, Message.contact_id == Contact.contact_id)
                .where(Message.owner_id == owner_id, Message.channel == channel)
                .order_by(Message.created_at.desc(), Message.message_id.desc()).limit(1))
        opted_out = session.scalar(
            select(Suppression.suppression_id).where(Suppression.owner_id == owner_id,
                                                     Suppression.lifted_at.is_(None)).limit(1))
        session.add(AuditEntry(actor=f"dashboard:{user}", action="contacts_revealed",
                               entity_type="owner", entity_id=str(owner_id),
                               detail={"channels": [c for c, v in found.items() if v]}))
    return OwnerContacts(found["sms"], found["email"], opted_out is not None)


@dataclass(frozen=True)
class HandoffState:
    status: str
    claimed_by: str | None
    claimed_at: datetime | None


def handoff_state(handoff_id: int) -> HandoffState | None:
    """Where a handoff stands in the ledger now (the snapshot may be older)."""
    from outreach.ledger.db import ledger_session
    from outreach.ledger.models import Handoff

    with ledger_session(_ledger()) as session:
        row = session.get(Handoff, handoff_id)
        return None if row is None else HandoffState(row.status, row.claimed_by, row.claimed_at)


def claim_handoff(handoff_id: int, user: str) -> bool:
    """Claim a waiting handoff for `user` (one UPDATE guarded by the status, so two closers
    cannot both claim it); audited. False when it was no longer waiting."""
    from sqlalchemy import update

    from outreach.ledger.db import ledger_session
    from outreach.ledger.models import AuditEntry, Handoff

    now = datetime.now(UTC)
    with ledger_session(_ledger()) as session:
        claimed = session.execute(
            update(Handoff).where(Handoff.handoff_id == handoff_id,
                                  Handoff.status == "waiting")
            .values(status="claimed", claimed_by=user, claimed_at=now)).rowcount
        if claimed:
            session.add(AuditEntry(actor=f"dashboard:{user}", action="handoff_claimed",
                                   entity_type="handoff", entity_id=str(handoff_id),
                                   detail={"claimed_at": now.isoformat()}))
    return bool(claimed)


def plain(value: object) -> str:
    """A cell as text: "" for None and missing values (pandas' NaN/NA/NaT are truthy)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def money(value: float) -> str:
    """Dollars for a metric card: whole dollars below a million, else millions."""
    return f"${value / 1e6:,.2f} M" if abs(value) >= 1e6 else f"${value:,.0f}"


def flag(value: object) -> bool:
    """A boolean cell; missing is False."""
    return False if value is None or pd.isna(value) else bool(value)


INTENT_MARKS = {"interested": "🟢", "question": "🟡", "not_interested": "⚪",
                "wrong_number": "🟤", "opt_out": "🔴", "unknown": "⚫"}


def show_thread(messages: pd.DataFrame, as_written: bool) -> None:
    """One conversation, chat-style: the seller's replies with intent, sentiment and the
    decision taken, our messages with campaign, touch and status; free text redacted unless
    `as_written` (closer, admin)."""
    from dashboards.masking import redact_text

    def text(value: object) -> str:
        return plain(value) if as_written else redact_text(plain(value))

    if messages.empty:
        st.caption("No published messages for this owner.")
        return
    if any(flag(value) for value in messages["is_human_takeover"]):
        st.warning("🙋 A person has taken over this conversation: automated replies are off.")
    with st.container(border=True):
        for message in messages.itertuples():
            inbound = message.direction == "inbound"
            with st.chat_message("user" if inbound else "assistant",
                                 avatar=":material/home:" if inbound else ":material/send:"):
                when = pd.Timestamp(message.at).strftime("%Y-%m-%d %H:%M UTC")
                if inbound:
                    intent = plain(message.intent) or "unknown"
                    sentiment = ("" if pd.isna(message.sentiment)
                                 else f" · sentiment {message.sentiment:+.2f}")
                    st.caption(f"{when} · {message.channel} · {INTENT_MARKS.get(intent, '⚫')} "
                               f"{intent}{sentiment} · decision {text(message.decision) or '–'}")
                else:
                    what = (f"touch {int(message.touch_number)}"
                            if not pd.isna(message.touch_number)
                            else text(message.purpose) or "message")
                    st.caption(f"{when} · {message.channel} · {text(message.campaign_name)} "
                               f"{what} · {message.status}")
                if text(message.subject):
                    st.text(f"Subject: {text(message.subject)}")
                if flag(message.is_body_purged):
                    st.caption("(body purged by retention)")
                else:
                    st.text(text(message.body))
