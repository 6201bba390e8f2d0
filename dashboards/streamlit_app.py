"""The dashboards' entry point: sign-in, then navigation over the pages in app_pages/."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboards/streamlit_app.py` puts only this folder on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboards.access import require_password

st.set_page_config(page_title="wholesaler", layout="wide")

if require_password():
    pages = st.navigation([
        st.Page("app_pages/overview.py", title="Overview", default=True),
        st.Page("app_pages/leads.py", title="Leads"),
    ])
    pages.run()
