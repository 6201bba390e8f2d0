"""The dashboards' entry point: sign-in (dashboards/access.py), then navigation over the pages
in app_pages/. Every page reads the published snapshot through dashboards/data.py."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboards/streamlit_app.py` puts only this folder on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# altair and dashboards.data are loaded here, while the sign-in form waits for a password,
# rather than on the first page (about 1 s together on a busy 2-core machine: DuckDB, pandas'
# Arrow bridge, Altair); a server process pays it once.
import altair  # noqa: F401

import dashboards.data  # noqa: F401
from dashboards.access import current_role, current_user, require_password, sign_out

st.set_page_config(page_title="wholesaler", layout="wide")

PAGES = (
    ("app_pages/overview.py", "Overview"),
    ("app_pages/campaigns.py", "Campaigns"),
    ("app_pages/conversations.py", "Conversations"),
    ("app_pages/roi.py", "ROI"),
    ("app_pages/leads.py", "Leads"),
    ("app_pages/handoffs.py", "Handoffs"),
)

if require_password():
    with st.sidebar:
        st.caption(f"Signed in as **{current_user()}** ({current_role()})")
        if st.button("Sign out"):
            sign_out()
            st.rerun()
    pages = st.navigation([st.Page(path, title=title, default=index == 0)
                           for index, (path, title) in enumerate(PAGES)])
    pages.run()
