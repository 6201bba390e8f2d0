"""Leads: a filterable table of scored leads, and one lead's score breakdown, ARV, offer and
comps."""

from __future__ import annotations

import streamlit as st

from dashboards import data

st.header("Leads")
current = data.snapshot()
if current is None:
    st.info("No published data yet. Run `wholesaler demo`, then reload this page.")
    st.stop()

all_markets = data.markets(current)
left, middle, right = st.columns(3)
chosen_markets = left.multiselect("Markets", all_markets, default=all_markets)
chosen_tiers = middle.multiselect("Tiers", ["A", "B+", "B"], default=["A", "B+"])
min_score = right.slider("Minimum score", 0, 100, 0)
if not chosen_markets or not chosen_tiers:
    st.info("Choose at least one market and one tier.")
    st.stop()

table = data.leads(current, tuple(chosen_markets), tuple(chosen_tiers), float(min_score))
st.caption(f"{len(table):,} leads shown (best 5,000 at most)")
st.dataframe(table, hide_index=True, use_container_width=True)

if not table.empty:
    options = [f"{row.market_code} {row.parcel_id}" for row in table.head(500).itertuples()]
    picked = st.selectbox("Lead", options)
    market_code, parcel_id = picked.split(" ", 1)
    detail = data.lead_detail(current, market_code, parcel_id).iloc[0]
    st.subheader(f"{detail['situs_address'] or parcel_id} ({detail['tier']}, score "
                 f"{detail['score']:.1f})")
    st.write(detail["reasons"])
    points = {name.removesuffix("_points"): float(detail[name]) for name in detail.index
              if name.endswith("_points")}
    if points:
        st.bar_chart(points)
    if detail.get("arv") is not None and detail["arv"] == detail["arv"]:
        a, b, c = st.columns(3)
        a.metric("ARV", f"${detail['arv']:,.0f}")
        b.metric("Offer range", f"${detail['offer_min']:,.0f} – ${detail['offer_max']:,.0f}")
        c.metric("Repairs", f"${detail['repair_estimate']:,.0f} ({detail['repair_tier']})")
        st.dataframe(data.lead_comps(current, detail["property_id"]), hide_index=True)
    else:
        st.caption("No valuation: comps are computed for leads that can reach B+.")
