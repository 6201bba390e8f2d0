"""Who may open the dashboards: a password from configuration (`WHOLESALER_DASHBOARD_PASSWORD`;
the embedded demo generates one into data/secrets/dashboard_password, which `wholesaler
dashboard` prints). Compared in constant time; remembered for the browser session only."""

from __future__ import annotations

import hmac
import os
import secrets

import streamlit as st

from pipelines import settings

PASSWORD_ENV = "WHOLESALER_DASHBOARD_PASSWORD"


def configured_password() -> str:
    value = os.environ.get(PASSWORD_ENV, "").strip()
    if value:
        return value
    path = settings.secrets_dir() / "dashboard_password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(12))
    return path.read_text().strip()


def require_password() -> bool:
    """Show the sign-in form until the right password is given; True once signed in."""
    if st.session_state.get("signed_in"):
        return True
    st.title("wholesaler")
    with st.form("sign_in"):
        given = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if hmac.compare_digest(given.encode(), configured_password().encode()):
            st.session_state["signed_in"] = True
            st.rerun()
        st.error("Wrong password.")
    return False
