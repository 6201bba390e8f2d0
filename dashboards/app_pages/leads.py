"""Leads: a filterable table of scored leads, a map of them when the published leads carry
coordinates, and one lead's score breakdown, ARV, offer and comps.

The map: the FDOR roll has no coordinates; each market's `parcel_locations` source (county
GIS parcel geometry, docs/scrapers.md "Parcel locations") gives `marts.properties` a centroid
per parcel, and the published `leads` carry `latitude` and `longitude` (WGS 84). The page
draws the shown leads with Altair's map projection, coloured by tier (no base-map tiles:
pydeck's map in Streamlit would fetch Carto tiles at run time). A snapshot without
coordinates says so instead of drawing a map.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data

TIER_COLOURS = {"A": "#c8102e", "B+": "#f08c00", "B": "#286ec8"}

st.header("Leads")
current = data.require_snapshot()
data.require_tables(current, "leads", "market_summary", message=data.NO_SNAPSHOT)

all_markets = data.markets(current)
if not all_markets:
    st.info("No scored leads in this snapshot yet: run `wholesaler demo` (or materialize a "
            "market and the `publish_dashboards` job), then reload this page.")
    data.footer(current)
    st.stop()
left, middle, right = st.columns(3)
chosen_markets = left.multiselect("Markets", all_markets, default=all_markets)
chosen_tiers = middle.multiselect("Tiers", ["A", "B+", "B"], default=["A", "B+"])
min_score = right.slider("Minimum score", 0, 100, 0)
if not chosen_markets or not chosen_tiers:
    st.info("Choose at least one market and one tier.")
    st.stop()

table = data.leads(current, tuple(chosen_markets), tuple(chosen_tiers), float(min_score))
st.caption(f"{len(table):,} leads shown (best 5,000 at most)")
st.dataframe(table, hide_index=True, width="stretch")

if {"latitude", "longitude"} <= set(data.table_columns(current, "leads")):
    points = data.lead_points(current, tuple(chosen_markets), tuple(chosen_tiers),
                              float(min_score))
    # Altair's projection rather than a tiled map: no base-map tiles to fetch at run time.
    st.altair_chart(alt.Chart(points, title="Leads shown").mark_circle(size=18).encode(
        longitude="longitude:Q", latitude="latitude:Q",
        color=alt.Color("tier:N", sort=list(TIER_COLOURS),
                        scale=alt.Scale(domain=list(TIER_COLOURS),
                                        range=list(TIER_COLOURS.values()))),
        tooltip=["market_code", "parcel_id", "tier", "score"],
    ).project("mercator"), width="stretch")
    st.caption(f"Map: {len(points):,} leads with coordinates.")
else:
    st.caption("No map: the published leads carry no coordinates. Configure the market's "
               "`parcel_locations` source (docs/scrapers.md, \"Parcel locations\"), then "
               "materialize the market and publish again.")

if not table.empty:
    options = [f"{row.market_code} {row.parcel_id}" for row in table.head(500).itertuples()]
    picked = st.selectbox("Lead", options)
    market_code, parcel_id = picked.split(" ", 1)
    detail = data.lead_detail(current, market_code, parcel_id).iloc[0]
    st.subheader(f"{data.plain(detail['situs_address']) or parcel_id} ({detail['tier']}, score "
                 f"{detail['score']:.1f})")
    st.write(detail["reasons"])
    points = {name.removesuffix("_points"): float(detail[name]) for name in detail.index
              if name.endswith("_points")}
    if points:
        st.bar_chart(points)
    if pd.notna(detail.get("arv")):
        a, b, c = st.columns(3)
        a.metric("ARV", f"${detail['arv']:,.0f}")
        b.metric("Offer range", f"${detail['offer_min']:,.0f} – ${detail['offer_max']:,.0f}")
        c.metric("Repairs", f"${detail['repair_estimate']:,.0f} ({detail['repair_tier']})")
        st.dataframe(data.lead_comps(current, detail["property_id"]), hide_index=True)
    else:
        st.caption("No valuation: comps are computed for leads that can reach B+.")
data.footer(current)
