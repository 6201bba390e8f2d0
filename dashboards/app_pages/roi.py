"""ROI: over the chosen markets, what outreach cost (SMS, email, skip traces, phone lookups,
compute) and earned (assignment fees of closed deals), cost per lead contacted and per deal,
ROI, and the break-even: how many deals at the average fee pay for the costs so far."""

from __future__ import annotations

import math

import altair as alt
import streamlit as st

from dashboards import data

st.header("ROI")
current = data.require_snapshot()
data.require_tables(current, "roi", "costs", "deals")

markets = data.choose_outreach_markets(current, "roi")

monthly = data.roi_by_month(current, markets)
cost = float(monthly["cost_usd"].sum())
revenue = float(monthly["revenue_usd"].sum())
contacted = int(monthly["leads_contacted"].sum())
closed = int(monthly["deals_closed"].sum())
fee = data.average_fee(current, markets)
break_even = math.ceil(cost / fee) if fee and cost else None

cards = st.columns(6)
cards[0].metric("Cost", data.money(cost))
cards[1].metric("Revenue", data.money(revenue), help="Assignment fees of closed deals.")
cards[2].metric("ROI", f"{(revenue - cost) / cost:.0%}" if cost else "–",
                help="(revenue − cost) ÷ cost")
cards[3].metric("Cost per lead", f"${cost / contacted:,.2f}" if contacted else "–",
                help=f"{contacted:,} leads contacted")
cards[4].metric("Cost per deal", f"${cost / closed:,.0f}" if closed else "–",
                help=f"{closed:,} deals closed")
cards[5].metric("Break-even", "–" if break_even is None
                else f"{break_even:,} deal{'' if break_even == 1 else 's'}",
                help="–" if fee is None else f"cost ÷ average assignment fee (${fee:,.0f})")
if break_even is not None:
    if closed >= break_even:
        st.success(f"Past break-even: {closed:,} deals closed, {break_even:,} needed.")
    else:
        st.warning(f"{break_even - closed:,} more closed deals to break even "
                   f"({closed:,} of {break_even:,}).")

kinds = data.costs_by_kind(current, markets)
left, right = st.columns(2)
left.altair_chart(alt.Chart(kinds, title="Costs by kind per month").mark_bar().encode(
    x=alt.X("yearmonth(month):O", title=None), y=alt.Y("cost_usd:Q", title="USD"),
    color=alt.Color("cost_type:N", title="kind"),
    tooltip=["yearmonth(month):O", "cost_type", "units",
             alt.Tooltip("cost_usd:Q", format="$,.2f")],
), width="stretch")
running = monthly.melt(id_vars="month", value_vars=["cumulative_cost_usd",
                                                    "cumulative_revenue_usd"],
                       var_name="series", value_name="usd")
running["series"] = running["series"].map({"cumulative_cost_usd": "cost",
                                           "cumulative_revenue_usd": "revenue"})
right.altair_chart(alt.Chart(running, title="Cumulative cost and revenue").mark_line(
    point=True).encode(
    x=alt.X("month:T", title=None), y=alt.Y("usd:Q", title="USD"),
    color=alt.Color("series:N", scale=alt.Scale(domain=["cost", "revenue"],
                                                range=["#c8102e", "#2a9d4b"])),
    tooltip=["month:T", "series", alt.Tooltip("usd:Q", format="$,.0f")],
), width="stretch")

MONEY = st.column_config.NumberColumn(format="dollar")
st.dataframe(monthly, hide_index=True, width="stretch", column_config={
    "month": st.column_config.DateColumn(format="YYYY-MM"),
    **{name: MONEY for name in monthly.columns if name.endswith("_usd")},
    "roi": st.column_config.NumberColumn(format="percent")})
data.footer(current)
