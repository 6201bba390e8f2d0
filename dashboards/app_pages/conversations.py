"""Conversations: one thread per owner, chat-style, with each reply's intent and sentiment and
a mark where a person took over; filters by market, intent, takeover and date; CSV export of
the listed threads (always masked). A viewer sees free text redacted (dashboards/masking.py);
the published bodies already carry no phone or email."""

from __future__ import annotations

from functools import partial

import streamlit as st

from dashboards import data
from dashboards.access import current_role
from dashboards.masking import mask_frame, may_see_free_text

THREADS_SHOWN = 200

st.header("Conversations")
current = data.require_snapshot()
data.require_tables(current, "conversations")
dates = data.conversation_dates(current)
if dates is None:
    st.info(data.NO_OUTREACH)
    data.footer(current)
    st.stop()

role = current_role()
all_markets = data.outreach_markets(current, "conversations")
top = st.columns([2, 2, 1])
chosen_markets = top[0].multiselect("Markets", all_markets, default=all_markets)
intents = top[1].multiselect("Reply intent", data.INTENTS, default=[],
                             placeholder="any intent")
takeover_label = top[2].selectbox("Takeover", list(data.TAKEOVER))
below = st.columns([3, 1])
picked = below[0].date_input("Messages between", dates, min_value=dates[0],
                             max_value=dates[1])
replied_only = below[1].toggle("Only threads with a reply", value=True)
start, end = picked if isinstance(picked, tuple) and len(picked) == 2 else dates
if not chosen_markets:
    st.info("Choose at least one market.")
    st.stop()

arguments = (tuple(chosen_markets), tuple(intents), data.TAKEOVER[takeover_label], start, end,
             replied_only)
listed = data.threads(current, *arguments, limit=THREADS_SHOWN)
st.caption(f"{len(listed):,} threads (the {THREADS_SHOWN} most recent at most)")
if listed.empty:
    st.info("No conversation matches these filters.")
    data.footer(current)
    st.stop()

shown = mask_frame(listed, role)
shown.insert(0, "mark", ["🙋 taken over" if data.flag(value) else ""
                         for value in shown["taken_over"]])
st.dataframe(shown, hide_index=True, width="stretch", column_config={
    "sentiment": st.column_config.NumberColumn(format="%.2f"),
    "last_at": st.column_config.DatetimeColumn("last message (UTC)")})
st.download_button("Export these threads (CSV, masked)",
                   partial(data.conversations_csv, current, *arguments, limit=THREADS_SHOWN),
                   file_name="conversations.csv", mime="text/csv", on_click="ignore")

labels = {f"{row.market_code} · parcel {data.plain(row.parcel_id) or '–'} · owner {row.owner_id}":
          row.owner_id
          for row in listed.itertuples()}
owner_id = labels[st.selectbox("Thread", list(labels))]
messages = data.thread(current, int(owner_id))


data.show_thread(messages, may_see_free_text(role))
data.footer(current)
