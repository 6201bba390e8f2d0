"""Overview: per market, parcels scored, leads per tier, median ARV and offers."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboards import data

st.header("Overview")
current = data.snapshot()
if current is None:
    st.info("No published data yet. Run `wholesaler demo` (or materialize the markets and the "
            "`publish_dashboards` job in the Dagster UI), then reload this page.")
    st.stop()

summary = data.market_summary(current)
st.caption(f"Snapshot published {current.published_at}")
totals = summary[["scored_parcels", "tier_a", "tier_b_plus", "offers"]].sum()
columns = st.columns(4)
columns[0].metric("Scored parcels", f"{int(totals['scored_parcels']):,}")
columns[1].metric("Tier A leads", f"{int(totals['tier_a']):,}")
columns[2].metric("Tier B+ leads", f"{int(totals['tier_b_plus']):,}")
columns[3].metric("Offers", f"{int(totals['offers']):,}")

tiers = summary.melt(id_vars="market_code", value_vars=["tier_a", "tier_b_plus", "tier_b"],
                     var_name="tier", value_name="leads")
tiers["tier"] = tiers["tier"].map({"tier_a": "A", "tier_b_plus": "B+", "tier_b": "B"})
st.altair_chart(alt.Chart(tiers).mark_bar().encode(
    x=alt.X("market_code:N", title="market"), y=alt.Y("leads:Q", title="leads"),
    color=alt.Color("tier:N", sort=["A", "B+", "B"]), xOffset="tier:N",
), use_container_width=True)
st.dataframe(summary, hide_index=True, use_container_width=True)
st.caption("Outreach funnel, response and ROI appear here once campaigns send (issue 5).")
