"""Overview: what the pipeline found (parcels scored, leads per tier per market), then what
outreach did and earned over a date range, SMS, email or both: touches sent, response rate,
interested replies, deals closed, revenue, cost and ROI, and the enrollment funnel."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboards import data

st.header("Overview")
current = data.require_snapshot()
data.require_tables(current, "market_summary", message=data.NO_SNAPSHOT)

summary = data.market_summary(current)
totals = summary[["scored_parcels", "tier_a", "tier_b_plus", "offers"]].sum()
columns = st.columns(4)
columns[0].metric("Scored parcels", f"{int(totals['scored_parcels']):,}")
columns[1].metric("Tier A leads", f"{int(totals['tier_a']):,}")
columns[2].metric("Tier B+ leads", f"{int(totals['tier_b_plus']):,}")
columns[3].metric("Offers", f"{int(totals['offers']):,}")

tiers = summary.melt(id_vars="market_code", value_vars=["tier_a", "tier_b_plus", "tier_b"],
                     var_name="tier", value_name="leads")
tiers["tier"] = tiers["tier"].map({"tier_a": "A", "tier_b_plus": "B+", "tier_b": "B"})
left, right = st.columns([3, 2])
left.altair_chart(alt.Chart(tiers).mark_bar().encode(
    x=alt.X("market_code:N", title="market"), y=alt.Y("leads:Q", title="leads"),
    color=alt.Color("tier:N", sort=["A", "B+", "B"]), xOffset="tier:N",
), width="stretch")
right.dataframe(summary, hide_index=True, width="stretch")

st.subheader("Outreach")
OUTREACH = ("outreach_daily", "outreach_funnel", "deals", "costs")
dates = data.outreach_dates(current) if data.has_tables(current, *OUTREACH) else None
if dates is None:
    st.info(data.NO_OUTREACH)
    data.footer(current)
    st.stop()

first, last = dates
filters = st.columns([2, 1])
picked = filters[0].date_input("Date range", (first, last), min_value=first,
                               max_value=last)
start, end = (picked if isinstance(picked, tuple) and len(picked) == 2 else (first, last))
channel = filters[1].segmented_control("Channel", list(data.CHANNELS), default="All") or "All"
channels = data.CHANNELS[channel]

sent = data.outreach_cards(current, start, end, channels, channel == "All")
revenue, cost = float(sent["revenue_usd"]), float(sent["cost_usd"])
response_rate = sent["responses"] / sent["sent"] if sent["sent"] else None
roi = (revenue - cost) / cost if cost else None

cards = st.columns(7)
cards[0].metric("Sent", f"{int(sent['sent']):,}",
                help="Touches that went out (queued, sent, delivered, undelivered, outboxed).")
cards[1].metric("Response rate", "–" if response_rate is None else f"{response_rate:.1%}",
                help=f"{int(sent['responses']):,} touches drew a reply.")
cards[2].metric("Interested", f"{int(sent['interested']):,}",
                help="Touches that drew a reply classified as interested.")
cards[3].metric("Deals", f"{int(sent['closed']):,}",
                help="Deals closed in the range (attributed to the channel when one is chosen).")
cards[4].metric("Revenue", data.money(revenue), help="Assignment fees of the deals closed.")
cards[5].metric("Cost", data.money(cost),
                help="Costs of the whole months the range touches (costs are kept per month); "
                     "with one channel, only that channel's message cost.")
cards[6].metric("ROI", "–" if roi is None else f"{roi:.0%}",
                help="(revenue − cost) ÷ cost")

funnel = data.funnel(current, "all" if channel == "All" else channels[0])
st.altair_chart(alt.Chart(funnel, title="Funnel (enrollments, every date)").mark_bar().encode(
    y=alt.Y("stage:N", sort=alt.SortField("order"), title=None),
    x=alt.X("enrollments:Q", title="enrollments"),
    tooltip=["stage", "enrollments"],
) + alt.Chart(funnel).mark_text(align="left", dx=4).encode(
    y=alt.Y("stage:N", sort=alt.SortField("order")), x="enrollments:Q",
    text=alt.Text("enrollments:Q", format=","),
), width="stretch")
data.footer(current)
