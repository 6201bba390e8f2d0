"""Streamlit dashboards (run with `wholesaler dashboard`): they read only the published
snapshot (pipelines/publish.py), never the warehouse."""
