"""Campaigns: per campaign and per touch, over the chosen markets: enrollments and completion,
touches sent, delivered, responses and interest with their rates, opt-outs and cost; and the
weekly trend of touches and responses."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboards import data

st.header("Campaigns")
current = data.require_snapshot()
data.require_tables(current, "campaign_touches", "outreach_daily")

markets = data.choose_outreach_markets(current, "campaign_touches")

RATE = st.column_config.NumberColumn(format="percent")
MONEY = st.column_config.NumberColumn(format="dollar")
summary = data.campaign_summary(current, markets)
st.subheader("Per campaign")
st.dataframe(summary, hide_index=True, width="stretch", column_config={
    "completion_rate": RATE, "response_rate": RATE, "interest_rate": RATE,
    "cost_usd": MONEY, "cost_per_touch_usd": MONEY})

touches = data.campaign_touch_table(current, markets)
st.subheader("Per touch")
left, right = st.columns(2)
left.altair_chart(alt.Chart(touches, title="Response rate by touch").mark_bar().encode(
    x=alt.X("touch:O", title="touch"), y=alt.Y("response_rate:Q", axis=alt.Axis(format="%"),
                                                title="response rate"),
    color="campaign:N", xOffset="campaign:N",
    tooltip=["campaign", "touch", "channel", "template", "sent",
             alt.Tooltip("response_rate:Q", format=".1%")],
), width="stretch")
right.altair_chart(alt.Chart(touches, title="Completion by touch").mark_line(point=True).encode(
    x=alt.X("touch:O", title="touch"),
    y=alt.Y("completion_rate:Q", axis=alt.Axis(format="%"), title="enrollments reaching it"),
    color="campaign:N",
), width="stretch")
st.dataframe(touches, hide_index=True, width="stretch", column_config={
    "completion_rate": RATE, "response_rate": RATE, "interest_rate": RATE, "cost_usd": MONEY})

dates = data.outreach_dates(current)
if dates is not None:
    weekly = data.campaign_weekly(current, markets, *dates)
    st.altair_chart(alt.Chart(weekly, title="Touches sent per week").mark_area().encode(
        x=alt.X("week:T", title=None), y=alt.Y("sent:Q", stack=True, title="touches"),
        color="campaign:N", tooltip=["week:T", "campaign", "sent", "responses"],
    ), width="stretch")
data.footer(current)
