"""Handoffs: interested sellers waiting for a person, longest waiting first, each with the
property, the reply that triggered it and the whole conversation.

Everyone sees the published queue with contacts as hints. A `closer` (or `admin`) also sees,
for the one handoff opened, its current status read from the ledger, may reveal the seller's
full phone and email (decrypted from the ledger; each reveal is written to the audit log) and
may claim the handoff (handoffs.claimed_by / claimed_at, guarded so two closers cannot both
claim it; audited). Those are the dashboards' only ledger accesses (DESIGN.md, "Storage":
the dashboards may write the ledger for approval actions)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.access import current_role, current_user, may_see_contacts
from dashboards.masking import mask_frame, may_see_free_text

STATUSES = ("waiting", "claimed")


def waiting_for(hours: float) -> str:
    if pd.isna(hours):
        return "–"
    return f"{hours:,.1f} h" if hours < 48 else f"{hours / 24:,.1f} days"


def describe(state: data.HandoffState | None) -> str:
    if state is None:
        return "no longer in the ledger"
    by = f" by {state.claimed_by}" if state.claimed_by else ""
    at = f" at {state.claimed_at:%Y-%m-%d %H:%M} UTC" if state.claimed_at else ""
    return f"{state.status}{by}{at}"


st.header("Handoffs")
current = data.require_snapshot()
data.require_tables(current, "handoff_queue", "conversations")

role = current_role()
all_markets = data.outreach_markets(current, "handoff_queue")
if not all_markets:
    st.info("No seller is waiting for a person. Handoffs appear when a reply is classified "
            "as interested (run `wholesaler demo`, or the replies flow on live outreach).")
    data.footer(current)
    st.stop()

left, right = st.columns([3, 1])
chosen = left.multiselect("Markets", all_markets, default=all_markets)
statuses = right.multiselect("Status", STATUSES, default=list(STATUSES))
queue = data.handoff_queue(current, tuple(chosen), tuple(statuses))
waiting = int((queue["status"] == "waiting").sum())
st.caption(f"{len(queue):,} open handoffs, {waiting:,} waiting for a closer")
if queue.empty:
    st.info("No handoff matches these filters.")
    data.footer(current)
    st.stop()

st.dataframe(mask_frame(queue, role), hide_index=True, width="stretch",
             column_config={"hours_waiting": st.column_config.NumberColumn(format="%.1f h"),
                            "last_reply_sentiment": st.column_config.NumberColumn(
                                format="%.2f")})

plain = data.plain
labels = {f"#{row.handoff_id} · {row.market_code} · "
          f"{plain(row.situs_address) or plain(row.parcel_id)} ({row.status})": row
          for row in queue.itertuples()}
picked = labels[st.selectbox("Handoff", list(labels))]

st.subheader(f"{plain(picked.owner_name) or 'Owner'} · {plain(picked.situs_address)} "
             f"{plain(picked.situs_city)}")
facts = st.columns(3)
facts[0].metric("Tier / score", f"{plain(picked.tier) or '–'} / "
                f"{'–' if pd.isna(picked.score) else f'{picked.score:.1f}'}")
facts[1].metric("Waiting", waiting_for(picked.hours_waiting))
facts[2].metric("Contact", plain(picked.contact_hint) or "–")
st.caption(f"Campaign: {plain(picked.campaign_name) or '–'} · Reason: {plain(picked.reason)}")
handoff_id, owner_id = int(picked.handoff_id), int(picked.owner_id)

if may_see_contacts(role):
    # The ledger's modules load only for closers (a viewer never needs them).
    from sqlalchemy.exc import SQLAlchemyError

    from outreach.ledger.pii import PiiKeyError

    try:
        state = data.handoff_state(handoff_id)
        if state is None:
            st.warning("This handoff is not in the ledger (was the snapshot published from "
                       "another ledger?).")
        elif state.status == "waiting":
            if st.button("Claim this handoff", type="primary"):
                if data.claim_handoff(handoff_id, current_user()):
                    st.success(f"Claimed by {current_user()}.")
                else:
                    st.warning(f"Not claimed: {describe(data.handoff_state(handoff_id))}.")
        else:
            st.info(f"Ledger status: {describe(state)}.")
        if st.button("Show full phone and email"):
            contacts = data.reveal_contacts(owner_id, current_user())
            if contacts.is_opted_out:
                st.error("This owner has opted out: do not text or email them.")
            st.code(f"phone: {contacts.phone or '–'}\nemail: {contacts.email or '–'}",
                    language=None)
            st.caption("This reveal was written to the audit log.")
    except (SQLAlchemyError, PiiKeyError) as error:
        st.error(f"The ledger cannot be read, so contacts and claiming are unavailable: "
                 f"{type(error).__name__}: {str(error).splitlines()[0]}")
else:
    st.caption("Contacts are shown as hints. A closer sees the full phone and email here and "
               "can claim the handoff.")

st.subheader("Conversation")
data.show_thread(data.thread(current, owner_id), may_see_free_text(role))
data.footer(current)
