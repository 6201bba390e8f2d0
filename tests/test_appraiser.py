"""Property-appraiser pages: the static (httpx + BeautifulSoup) and browser (Playwright on
Debian's Chromium) scrapers against fictional pages served from a loopback HTTP server: a
parcel page, a page rendered by JavaScript after a delay, not-found pages, a changed layout,
a CAPTCHA wall and a 403 challenge, plus robots.txt, pacing, the market schema block and the
`wholesaler scrape appraiser` command."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path

import pytest
from typer.testing import CliRunner

from markets.loader import validate_files
from markets.schema import AppraiserSite, ScrapingPolicy
from pipelines.cli import app
from scrapers.appraiser.extract import PageSnapshot, assess
from scrapers.appraiser.records import (
    BotWallError,
    FetchError,
    LayoutError,
    ParcelNotFound,
    ParcelRecord,
)
from scrapers.appraiser.scraper import (
    BrowserScraper,
    StaticHtmlScraper,
    chromium_path,
    open_scraper,
)
from scrapers.http import DisallowedByRobots

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "appraiser"
SHIPPED_MARKETS = Path(__file__).resolve().parent.parent / "markets"
KNOWN_PARCEL = "28-22-29-0000-00-001"
FAST = ScrapingPolicy(requests_per_second=50, timeout_seconds=10)
FIELDS = {
    "owner_names": "#owner-names li",
    "mailing_address": {"label": "Mailing Address"},
    "living_area_sqft": {"label": "Living Area"},
    "year_built": "td.year-built",
    "bedrooms": {"label": "Bedrooms"},
    "bathrooms": {"label": "bathrooms:"},
    "land_use": {"label": "Land Use"},
}

needs_chromium = pytest.mark.skipif(
    not chromium_path().exists(),
    reason=f"{chromium_path()} is absent: install Debian's Chromium (apt-get install chromium) "
           "to run the browser tests",
)


@dataclass
class LoggedRequest:
    path: str
    user_agent: str
    at: float


@dataclass
class AppraiserServer:
    """A fictional appraiser site on loopback; records every request it answers."""

    base_url: str
    requests: list[LoggedRequest] = field(default_factory=list)

    def paths(self, prefix: str = "/") -> list[str]:
        return [r.path for r in self.requests if r.path.startswith(prefix)]

    def site(self, route: str, kind: str = "static_html", **settings: object) -> AppraiserSite:
        return AppraiserSite.model_validate({
            "kind": kind, "parcel_url": f"{self.base_url}/{route}/{{parcel_id}}",
            "fields": FIELDS, **settings})


ROBOTS = "User-agent: *\nDisallow: /private/\n"


def _handler(server_state: AppraiserServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            server_state.requests.append(
                LoggedRequest(path, self.headers.get("User-Agent", ""), time.monotonic()))
            parts = path.strip("/").split("/")
            route, parcel = parts[0], urllib.parse.unquote(parts[-1])
            if path == "/robots.txt":
                self._send(200, ROBOTS, "text/plain")
            elif route in ("static", "private"):
                if parcel == KNOWN_PARCEL:
                    self._send(200, _fixture("static_parcel.html"))
                else:
                    self._send(200, _fixture("not_found.html"))
            elif route == "gone":
                self._send(404, "<html><body><h1>404</h1><p>Page missing.</p></body></html>")
            elif route == "changed":
                self._send(200, _fixture("changed_layout.html"))
            elif route == "captcha":
                self._send(200, _fixture("captcha.html"))
            elif route == "challenge":
                self._send(403, _fixture("challenge_403.html"),
                           headers={"cf-mitigated": "challenge"})
            elif route == "js":
                self._send(200, _fixture("js_parcel.html"))
            elif route == "js-stuck":
                self._send(200, _fixture("js_never_renders.html"))
            elif route == "api" and parcel == KNOWN_PARCEL:
                self._send(200, _fixture(f"parcel_{KNOWN_PARCEL}.json"), "application/json")
            else:
                self._send(404, '{"error": "not found"}', "application/json")

        def _send(self, status: int, body: str, content_type: str = "text/html",
                  headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def live_server() -> Iterator[AppraiserServer]:
    state = AppraiserServer(base_url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server(live_server: AppraiserServer) -> AppraiserServer:
    live_server.requests.clear()
    return live_server


def _assert_known_parcel(record: ParcelRecord, source_url: str, kind: str) -> None:
    assert record.parcel_id == KNOWN_PARCEL
    assert record.source_url == source_url
    assert record.site_kind == kind
    assert record.owner_names == ["DOE JOHN A", "DOE JANE B"]
    assert record.mailing_address.lines == ["C/O JOHN DOE", "1200 LAKE SHORE DR APT 4"]
    assert (record.mailing_address.city, record.mailing_address.state,
            record.mailing_address.zip) == ("ORLANDO", "FL", "32803-1234")
    assert record.building.living_area_sqft == 1842
    assert record.building.year_built == 1987
    assert record.building.bedrooms == 3
    assert record.building.bathrooms == 2.5
    assert record.building.land_use == "0100 - SINGLE FAMILY"
    assert record.missing_fields == []
    assert record.fetched_at.tzinfo is not None
    assert record.fetched_at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - record.fetched_at) < timedelta(minutes=1)


# -- static pages ----------------------------------------------------------------------------

def test_static_page_yields_owner_address_and_building_facts(server: AppraiserServer) -> None:
    with StaticHtmlScraper(server.site("static"), FAST) as scraper:
        record = scraper.scrape(KNOWN_PARCEL)
    assert isinstance(record, ParcelRecord)
    _assert_known_parcel(record, f"{server.base_url}/static/{KNOWN_PARCEL}", "static_html")
    assert server.paths() == ["/robots.txt", f"/static/{KNOWN_PARCEL}"]
    assert all(r.user_agent.startswith("wholesaler/") for r in server.requests)
    json.dumps(record.to_json_dict())  # serialisable as printed by the CLI


def test_not_found_message_and_http_404_give_not_found_results(server: AppraiserServer) -> None:
    with StaticHtmlScraper(server.site("static"), FAST) as scraper:
        message = scraper.scrape("99-99-99-9999-99-999")
    with StaticHtmlScraper(server.site("gone"), FAST) as scraper:
        missing = scraper.scrape("99-99-99-9999-99-999")
    assert isinstance(message, ParcelNotFound)
    assert message.reason == "page says 'no records found'"
    assert isinstance(missing, ParcelNotFound)
    assert missing.reason == "HTTP 404"


def test_changed_layout_names_the_missing_fields(server: AppraiserServer) -> None:
    with StaticHtmlScraper(server.site("changed"), FAST) as scraper, \
            pytest.raises(LayoutError) as caught:
        scraper.scrape(KNOWN_PARCEL)
    assert caught.value.missing_fields == [
        "owner_names", "mailing_address", "living_area_sqft", "bedrooms", "bathrooms",
        "land_use"]
    assert "owner_names" in str(caught.value) and "/changed/" in str(caught.value)


def test_captcha_page_is_a_bot_wall_reported_once_without_retry(server: AppraiserServer) -> None:
    with StaticHtmlScraper(server.site("captcha"), FAST) as scraper, \
            pytest.raises(BotWallError) as caught:
        scraper.scrape(KNOWN_PARCEL)
    assert caught.value.marker == "CAPTCHA prompt"
    assert caught.value.url == f"{server.base_url}/captcha/{KNOWN_PARCEL}"
    assert server.paths("/captcha/") == [f"/captcha/{KNOWN_PARCEL}"]


def test_403_challenge_is_a_bot_wall_naming_url_and_marker(server: AppraiserServer) -> None:
    with StaticHtmlScraper(server.site("challenge"), FAST) as scraper, \
            pytest.raises(BotWallError) as caught:
        scraper.scrape(KNOWN_PARCEL)
    assert caught.value.http_status == 403
    assert caught.value.marker == "Cloudflare challenge (cf-mitigated header)"
    assert f"/challenge/{KNOWN_PARCEL}" in str(caught.value)
    assert server.paths("/challenge/") == [f"/challenge/{KNOWN_PARCEL}"]


def test_javascript_page_cannot_be_read_without_a_browser(server: AppraiserServer) -> None:
    with StaticHtmlScraper(server.site("js"), FAST) as scraper, \
            pytest.raises(LayoutError) as caught:
        scraper.scrape(KNOWN_PARCEL)
    assert "owner_names" in caught.value.missing_fields
    assert server.paths("/api/") == []


def test_robots_txt_disallow_is_honoured_before_any_request(server: AppraiserServer) -> None:
    with StaticHtmlScraper(server.site("private"), FAST) as scraper, \
            pytest.raises(DisallowedByRobots):
        scraper.scrape(KNOWN_PARCEL)
    assert server.paths() == ["/robots.txt"]


def test_requests_to_one_host_are_spaced_by_the_market_rate(server: AppraiserServer) -> None:
    policy = ScrapingPolicy(requests_per_second=4)
    with StaticHtmlScraper(server.site("static"), policy) as scraper:
        for _ in range(3):
            scraper.scrape(KNOWN_PARCEL)
    starts = [r.at for r in server.requests]
    assert len(starts) == 4  # robots.txt once, then three pages
    assert all(later - earlier >= 0.22 for earlier, later in pairwise(starts))


@pytest.mark.parametrize(("html", "status", "marker"), [
    ('<div class="h-captcha" data-sitekey="x"></div>', 200, "hCaptcha widget"),
    ('<div class="cf-turnstile" data-sitekey="x"></div>', 200, "Cloudflare Turnstile widget"),
    ("<title>Just a moment...</title><p>Checking</p>", 503, "Cloudflare challenge page"),
    ("<h1>Access Denied</h1><p>You don't have permission to access this server. "
     "Reference #18.6a3b</p>", 403, "Akamai access denied page"),
    ("<p>Please verify you are human to continue.</p>", 200, '"verify you are human"'),
    ("<p>Too many requests.</p>", 429, "HTTP 429"),
    ("<p>Forbidden.</p>", 403, "HTTP 403"),
])
def test_bot_wall_markers(html: str, status: int, marker: str) -> None:
    site = AppraiserSite.model_validate({"kind": "static_html",
                                         "parcel_url": "http://pa.test/{parcel_id}",
                                         "fields": FIELDS})
    page = PageSnapshot("http://pa.test/1", status, {}, f"<html><body>{html}</body></html>",
                        datetime.now(UTC))
    with pytest.raises(BotWallError) as caught:
        assess(page, site, "1")
    assert caught.value.marker == marker


def test_captcha_widget_beside_the_data_is_not_a_wall() -> None:
    site = AppraiserSite.model_validate({"kind": "static_html",
                                         "parcel_url": "http://pa.test/{parcel_id}",
                                         "fields": FIELDS})
    html = _fixture("static_parcel.html").replace(
        "</main>", '<form><div class="g-recaptcha"></div></form></main>')
    page = PageSnapshot("http://pa.test/1", 200, {}, html, datetime.now(UTC))
    record = assess(page, site, KNOWN_PARCEL)
    assert isinstance(record, ParcelRecord) and record.owner_names == ["DOE JOHN A", "DOE JANE B"]
    bare = PageSnapshot("http://pa.test/1", 200, {}, _fixture("changed_layout.html").replace(
        "</main>", '<div class="g-recaptcha"></div></main>'), datetime.now(UTC))
    with pytest.raises(BotWallError):
        assess(bare, site, KNOWN_PARCEL)


def test_server_error_is_a_fetch_error_not_a_wall() -> None:
    site = AppraiserSite.model_validate({"kind": "static_html",
                                         "parcel_url": "http://pa.test/{parcel_id}",
                                         "fields": FIELDS})
    page = PageSnapshot("http://pa.test/1", 500, {}, "<p>Internal error</p>", datetime.now(UTC))
    with pytest.raises(FetchError, match="HTTP 500"):
        assess(page, site, "1")


# -- browser (JavaScript pages) --------------------------------------------------------------

@needs_chromium
def test_browser_reads_a_page_rendered_by_javascript_after_a_delay(
        server: AppraiserServer) -> None:
    site = server.site("js", kind="javascript", wait_timeout_seconds=15)
    with open_scraper(site, FAST) as scraper:
        assert isinstance(scraper, BrowserScraper)
        record = scraper.scrape(KNOWN_PARCEL)
        missing = scraper.scrape("99-99-99-9999-99-999")
    assert isinstance(record, ParcelRecord)
    _assert_known_parcel(record, f"{server.base_url}/js/{KNOWN_PARCEL}", "javascript")
    assert isinstance(missing, ParcelNotFound)
    assert missing.reason == "page says 'no records found'"
    api_requests = [r for r in server.requests if r.path.startswith("/api/")]
    assert [r.path for r in api_requests] == [f"/api/parcel/{KNOWN_PARCEL}",
                                              "/api/parcel/99-99-99-9999-99-999"]
    assert all(r.user_agent.startswith("wholesaler/") for r in server.requests)


@needs_chromium
@pytest.mark.parametrize(("route", "marker", "status"), [
    ("captcha", "CAPTCHA prompt", 200),
    ("challenge", "Cloudflare challenge (cf-mitigated header)", 403),
])
def test_browser_reports_bot_walls_without_waiting_or_retrying(
        server: AppraiserServer, route: str, marker: str, status: int) -> None:
    site = server.site(route, kind="javascript", wait_timeout_seconds=30)
    started = time.monotonic()
    with BrowserScraper(site, FAST) as scraper, pytest.raises(BotWallError) as caught:
        scraper.scrape(KNOWN_PARCEL)
    assert time.monotonic() - started < 20, "a wall must be reported at once, not waited out"
    assert (caught.value.marker, caught.value.http_status) == (marker, status)
    assert server.paths(f"/{route}/") == [f"/{route}/{KNOWN_PARCEL}"]


@needs_chromium
def test_browser_layout_error_after_the_wait_timeout(server: AppraiserServer) -> None:
    site = server.site("js-stuck", kind="javascript", wait_timeout_seconds=1.5)
    started = time.monotonic()
    with BrowserScraper(site, FAST) as scraper, pytest.raises(LayoutError) as caught:
        scraper.scrape(KNOWN_PARCEL)
    assert time.monotonic() - started >= 1.5
    assert caught.value.missing_fields[:2] == ["owner_names", "mailing_address"]


def test_browser_without_chromium_fails_clearly(server: AppraiserServer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHOLESALER_CHROMIUM", "/nonexistent/chromium")
    with BrowserScraper(server.site("js", kind="javascript"), FAST) as scraper, \
            pytest.raises(FetchError, match="apt-get install chromium"):
        scraper.scrape(KNOWN_PARCEL)


# -- market schema ---------------------------------------------------------------------------

def _market_with(tmp_path: Path, appraiser_yaml: str) -> Path:
    text = (SHIPPED_MARKETS / "orange_fl.yaml").read_text()
    target = tmp_path / "orange_fl.yaml"
    target.write_text(text + "\n" + appraiser_yaml)
    return target


def test_shipped_markets_are_valid_without_an_appraiser_block() -> None:
    markets, problems = validate_files(sorted(SHIPPED_MARKETS.glob("*.yaml")))
    assert problems == []
    assert len(markets) == 5


def test_appraiser_block_loads_from_yaml(tmp_path: Path) -> None:
    path = _market_with(tmp_path, (
        "appraiser:\n  kind: javascript\n"
        "  parcel_url: https://pa.example.test/parcel/{parcel_id}\n"
        "  fields:\n    owner_names: '#owner li'\n"
        "    mailing_address: {label: Mailing Address}\n"))
    markets, problems = validate_files([path])
    assert problems == []
    site = markets[0].appraiser
    assert site is not None and site.kind == "javascript"
    assert site.fields["owner_names"].css == "#owner li"
    assert site.fields["mailing_address"].label == "Mailing Address"


@pytest.mark.parametrize(("block", "field_path", "reason"), [
    ("  parcel_url: https://pa.example.test/parcel?id=1\n", "appraiser.parcel_url",
     "must contain {parcel_id}"),
    ("  parcel_url: https://pa.example.test/{parcel_id}/{year}\n", "appraiser.parcel_url",
     "only {parcel_id} may be a placeholder"),
    ("  parcel_url: ftp://pa.example.test/{parcel_id}\n", "appraiser.parcel_url",
     "http(s) URL"),
    ("  parcel_url: https://pa.example.test/{parcel_id}\n  fields:\n    owner: '#o'\n",
     "appraiser.fields.owner", "owner_names"),
    ("  parcel_url: https://pa.example.test/{parcel_id}\n  fields:\n    owner_names: '#o'\n",
     "appraiser", "required_fields ['mailing_address'] have no entry in fields"),
    ("  parcel_url: https://pa.example.test/{parcel_id}\n  fields:\n"
     "    owner_names: {css: '#o', label: Owner}\n    mailing_address: '#m'\n",
     "appraiser.fields.owner_names", "exactly one of css or label"),
])
def test_bad_appraiser_blocks_name_the_field(tmp_path: Path, block: str, field_path: str,
                                             reason: str) -> None:
    if "fields:" not in block:
        block += "  fields: {owner_names: '#o', mailing_address: '#m'}\n"
    path = _market_with(tmp_path, "appraiser:\n  kind: static_html\n" + block)
    _, problems = validate_files([path])
    assert problems, "the broken block must be refused"
    assert any(p.field.startswith(field_path) and reason in p.reason for p in problems), \
        [str(p) for p in problems]


# -- command line ----------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def markets_dir(tmp_path: Path, server: AppraiserServer,
                monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "markets"
    folder.mkdir()
    shutil.copy(SHIPPED_MARKETS / "lake_fl.yaml", folder / "lake_fl.yaml")
    _market_with(folder, (
        "scraping: {requests_per_second: 50}\n"
        "appraiser:\n  kind: static_html\n"
        f"  parcel_url: {server.base_url}/static/{{parcel_id}}\n"
        f"  fields: {json.dumps(FIELDS)}\n"))
    monkeypatch.setenv("WHOLESALER_MARKETS_DIR", str(folder))
    return folder


def test_cli_prints_one_json_object_per_parcel(markets_dir: Path) -> None:
    result = runner.invoke(app, ["scrape", "appraiser", "--market", "orange_fl",
                                 KNOWN_PARCEL, "00-NOPE"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["found", "not_found"]
    assert lines[0]["owner_names"] == ["DOE JOHN A", "DOE JANE B"]
    assert lines[0]["mailing_address"]["zip"] == "32803-1234"
    assert lines[0]["building"]["year_built"] == 1987
    assert lines[0]["fetched_at"].endswith("Z")


def test_cli_stops_at_a_bot_wall_with_a_non_zero_exit(markets_dir: Path,
                                                      server: AppraiserServer) -> None:
    result = runner.invoke(app, ["scrape", "appraiser", "--market", "orange_fl",
                                 "--url-pattern", f"{server.base_url}/challenge/{{parcel_id}}",
                                 KNOWN_PARCEL, "00-SECOND"])
    assert result.exit_code == 3, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 1
    assert lines[0]["status"] == "bot_wall" and lines[0]["http_status"] == 403
    assert "bot wall detected" in result.stderr
    assert server.paths("/challenge/") == [f"/challenge/{KNOWN_PARCEL}"]


def test_cli_overrides_try_a_site_without_editing_yaml(markets_dir: Path,
                                                       server: AppraiserServer) -> None:
    result = runner.invoke(app, [
        "scrape", "appraiser", "--market", "lake_fl", "--kind", "static_html",
        "--url-pattern", f"{server.base_url}/static/{{parcel_id}}",
        "--field", "owner_names=#owner-names li",
        "--field", "mailing_address=label:Mailing Address", KNOWN_PARCEL])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["owner_names"] == ["DOE JOHN A", "DOE JANE B"]
    assert record["building"]["year_built"] is None  # not configured here


def test_cli_layout_error_exits_1_and_config_errors_exit_2(markets_dir: Path,
                                                          server: AppraiserServer) -> None:
    changed = runner.invoke(app, ["scrape", "appraiser", "--market", "orange_fl",
                                  "--url-pattern", f"{server.base_url}/changed/{{parcel_id}}",
                                  KNOWN_PARCEL])
    assert changed.exit_code == 1
    assert json.loads(changed.stdout)["missing_fields"][:2] == ["owner_names", "mailing_address"]
    unconfigured = runner.invoke(app, ["scrape", "appraiser", "--market", "lake_fl", "1"])
    assert unconfigured.exit_code == 2
    assert "no `appraiser` block" in unconfigured.stderr
    bad_pattern = runner.invoke(app, ["scrape", "appraiser", "--market", "orange_fl",
                                      "--url-pattern", "https://pa.example.test/parcel", "1"])
    assert bad_pattern.exit_code == 2
    assert "appraiser.parcel_url" in bad_pattern.stderr
