"""The published snapshot and the Streamlit dashboards (AppTest): every page with data and
with none, the password gate, and the atomic swap of snapshots."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from dashboard_fixtures import create_lead_marts
from streamlit.testing.v1 import AppTest

from pipelines.publish import current_snapshot, publish

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboards" / "streamlit_app.py"
PAGES = ROOT / "dashboards" / "app_pages"
PASSWORD = "correct horse battery"


def _marts(path: Path) -> duckdb.DuckDBPyConnection:
    """A tiny warehouse with the marts the snapshot reads: two markets, four leads."""
    conn = duckdb.connect(str(path))
    create_lead_marts(conn)
    return conn


@pytest.fixture
def published(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WHOLESALER_DASHBOARD_PASSWORD", PASSWORD)
    with _marts(tmp_path / "w.duckdb") as conn:
        return publish(conn)


@pytest.fixture
def empty(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WHOLESALER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WHOLESALER_DASHBOARD_PASSWORD", PASSWORD)


def _page(name: str) -> AppTest:
    app = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=30)
    app.run()
    assert not app.exception, app.exception
    return app


def test_snapshot_holds_leads_comps_and_summary(published):
    assert current_snapshot() == published
    with duckdb.connect() as conn:
        leads = conn.execute(f"SELECT parcel_id FROM '{published}/leads.parquet' "
                             "ORDER BY ALL").fetchall()
        summary = conn.execute(f"SELECT market_code, tier_a, offers FROM "
                               f"'{published}/market_summary.parquet' ORDER BY 1").fetchall()
    assert leads == [("1",), ("2",), ("9",)]  # tier C is not published
    assert summary == [("lake_fl", 1, 0), ("orange_fl", 1, 1)]


def test_a_new_publish_swaps_in_atomically_and_old_snapshots_are_pruned(published, tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        second = publish(conn)
        third = publish(conn)
    assert current_snapshot() == third != second
    snapshots = sorted(p.name for p in third.parent.iterdir())
    assert snapshots == [second.name, third.name] and not published.exists()
    assert (third.parent.parent / "current").is_symlink()


def test_overview_with_data(published):
    app = _page("overview")
    assert [m.value for m in app.metric] == ["4", "2", "1", "1"]


def test_leads_with_data_filters_and_shows_a_lead(published):
    app = _page("leads")
    table = app.dataframe[0].value
    assert set(table["parcel_id"]) == {"1", "2", "9"}
    app.slider[0].set_value(50).run()
    assert list(app.dataframe[0].value["parcel_id"]) == ["1"]
    assert any("$300,000" in m.value for m in app.metric)
    # A lead without a valuation says so (its ARV and offer are NULL in the snapshot).
    app.slider[0].set_value(0).run()
    app.selectbox[0].set_value("lake_fl 9").run()
    assert not app.exception, app.exception
    assert not app.metric and any("No valuation" in c.value for c in app.caption)


@pytest.mark.parametrize("page", ["overview", "campaigns", "conversations", "roi", "leads",
                                  "handoffs"])
def test_every_page_explains_what_to_run_without_data(empty, page):
    app = _page(page)
    assert any("wholesaler demo" in info.value for info in app.info)


def test_the_app_asks_for_the_password(published):
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    assert not app.metric
    app.text_input[0].input("wrong")
    app.button[0].click().run()
    assert app.error and not app.metric
    app.text_input[0].input(PASSWORD)
    app.button[0].click().run()
    assert not app.exception, app.exception
    assert [m.value for m in app.metric][:1] == ["4"]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_every_page_loads_in_headless_chromium_while_the_warehouse_is_being_written(
        published, tmp_path):
    """The real app in a real browser (Debian's Chromium through Playwright): sign in, open
    every page, save a screenshot of each; meanwhile a writer holds the warehouse, which the
    dashboards never open."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from scrapers.appraiser.scraper import CHROMIUM_ARGS, chromium_path

    if not chromium_path().exists():
        pytest.skip(f"{chromium_path()} is absent: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"],
        env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    writer = duckdb.connect(str(tmp_path / "w.duckdb"))  # a run writing the warehouse
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        writer.execute("CREATE TABLE marts.busy AS SELECT range AS n FROM range(1000)")
        shots = tmp_path / "screenshots"
        shots.mkdir()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium_path()),
                                                 headless=True, args=list(CHROMIUM_ARGS))
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
            page.get_by_label("Password", exact=True).first.fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text("Scored parcels").wait_for(timeout=30_000)
            page.locator("canvas, svg.marks").first.wait_for(timeout=30_000)  # the tier chart
            page.screenshot(path=str(shots / "overview.png"), full_page=True)
            page.get_by_role("link", name="Leads").click()
            page.get_by_text("leads shown").wait_for(timeout=30_000)
            page.get_by_text("Offer range").wait_for(timeout=30_000)  # the best lead's detail
            page.get_by_text("Minimum score").wait_for(timeout=30_000)
            page.screenshot(path=str(shots / "leads.png"), full_page=True)
            # This snapshot has no outreach: the other pages say what to run, no traceback.
            for title in ("Campaigns", "Conversations", "ROI", "Handoffs"):
                page.get_by_role("link", name=title, exact=True).click()
                page.get_by_role("heading", name=title, exact=True).wait_for(timeout=30_000)
                page.get_by_text("No outreach in this snapshot yet").wait_for(timeout=30_000)
                assert "Traceback" not in page.inner_text("body")
                page.screenshot(path=str(shots / f"{title.lower()}.png"), full_page=True)
            browser.close()
        assert sorted(p.name for p in shots.iterdir()) == [
            "campaigns.png", "conversations.png", "handoffs.png", "leads.png", "overview.png",
            "roi.png"]
        assert all(p.stat().st_size > 10_000 for p in shots.iterdir())
    finally:
        writer.close()
        server.terminate()
        server.wait(timeout=20)
