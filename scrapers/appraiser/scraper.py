"""Fetching parcel pages politely: `StaticHtmlScraper` (httpx) for server-rendered pages and
`BrowserScraper` (Playwright driving Debian's Chromium, never a downloaded browser) for pages
rendered by JavaScript. Both hand the HTML to `extract.assess`, so fields, bot walls and
not-found pages are read the same way.

Politeness: one request start per `1 / requests_per_second` per host (the market's
`scraping` block), robots.txt honoured, a User-Agent that says who we are, and no retries: a
bot wall, a layout change or a failed fetch is reported once and left for a person.
"""

from __future__ import annotations

import os
import time
import urllib.parse
import urllib.robotparser
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from markets.schema import AppraiserSite, ScrapingPolicy
from scrapers.appraiser.extract import PageSnapshot, assess, find_bot_wall, parse_page
from scrapers.appraiser.records import AppraiserResult, BotWallError, FetchError
from scrapers.http import DisallowedByRobots, user_agent

CHROMIUM_PATH_ENV = "WHOLESALER_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-default-apps", "--mute-audio",
)
POLL_SECONDS = 0.2
_SKIPPED_RESOURCES = frozenset({"image", "media", "font"})


def chromium_path() -> Path:
    """Debian's Chromium (`apt-get install chromium`), or `WHOLESALER_CHROMIUM`."""
    return Path(os.environ.get(CHROMIUM_PATH_ENV, DEFAULT_CHROMIUM))


def parcel_url(site: AppraiserSite, parcel_id: str) -> str:
    """The site's page for a parcel id (the id percent-encoded)."""
    return site.parcel_url.format(parcel_id=urllib.parse.quote(parcel_id.strip(), safe=""))


class HostPacer:
    """Spaces request starts to one host at least `interval` seconds apart."""

    def __init__(self, requests_per_second: float):
        self.interval = 1.0 / requests_per_second
        self._next_start: dict[str, float] = {}

    def wait(self, url: str) -> None:
        host = urllib.parse.urlsplit(url).netloc
        now = time.monotonic()
        start = max(now, self._next_start.get(host, 0.0))
        self._next_start[host] = start + self.interval
        if start > now:
            time.sleep(start - now)


class AppraiserScraper(ABC):
    """Reads parcels from one appraiser site. Use as a context manager; `scrape(parcel_id)`
    returns a `ParcelRecord` or `ParcelNotFound`, or raises `BotWallError`, `LayoutError`,
    `FetchError` or `DisallowedByRobots`."""

    def __init__(self, site: AppraiserSite, policy: ScrapingPolicy | None = None):
        self.site = site
        self.policy = policy or ScrapingPolicy()
        self.user_agent = user_agent(self.policy.contact)
        self.requests = 0
        self._pacer = HostPacer(self.policy.requests_per_second)
        self._http = httpx.Client(headers={"User-Agent": self.user_agent},
                                  timeout=httpx.Timeout(self.policy.timeout_seconds),
                                  follow_redirects=True)
        self._robots: dict[str, urllib.robotparser.RobotFileParser] = {}

    def __enter__(self) -> AppraiserScraper:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def scrape(self, parcel_id: str) -> AppraiserResult:
        url = parcel_url(self.site, parcel_id)
        self._ensure_allowed(url)
        self._pacer.wait(url)
        self.requests += 1
        return self._read(url, parcel_id)

    @abstractmethod
    def _read(self, url: str, parcel_id: str) -> AppraiserResult:
        """Fetch `url` (already paced and allowed) and assess it."""

    def _get(self, url: str) -> httpx.Response:
        try:
            return self._http.get(url)
        except httpx.HTTPError as error:
            raise FetchError(url, f"{type(error).__name__}: {error}") from error

    def _ensure_allowed(self, url: str) -> None:
        """robots.txt of the host, fetched once: 4xx means no rules, 401/403 without a wall
        means everything is disallowed, 5xx or no answer means we do not fetch (RFC 9309)."""
        parts = urllib.parse.urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        rules = self._robots.get(origin)
        if rules is None:
            robots_url = origin + "/robots.txt"
            self._pacer.wait(robots_url)
            self.requests += 1
            response = self._get(robots_url)
            rules = urllib.robotparser.RobotFileParser(robots_url)
            if response.status_code in (401, 403, 429):
                snapshot = _snapshot(robots_url, response)
                marker = find_bot_wall(snapshot, parse_page(snapshot.html, self.site))
                if marker or response.status_code == 429:
                    raise BotWallError(robots_url, marker or "HTTP 429", response.status_code)
                rules.disallow_all = True
            elif response.status_code >= 500:
                raise FetchError(robots_url, f"HTTP {response.status_code}; not fetching pages "
                                             "of a host whose robots.txt is unavailable")
            elif response.status_code >= 400:
                rules.allow_all = True
            else:
                rules.parse(response.text.splitlines())
            rules.modified()
            self._robots[origin] = rules
        if not rules.can_fetch(self.user_agent, url):
            raise DisallowedByRobots(f"{url}: disallowed by {origin}/robots.txt for "
                                     f"User-Agent {self.user_agent!r}; not fetching it")


class StaticHtmlScraper(AppraiserScraper):
    """Server-rendered pages: one GET, parsed with BeautifulSoup."""

    def _read(self, url: str, parcel_id: str) -> AppraiserResult:
        snapshot = _snapshot(url, self._get(url))
        result = assess(snapshot, self.site, parcel_id)
        assert result is not None
        return result


class BrowserScraper(AppraiserScraper):
    """JavaScript pages: loaded in headless Debian Chromium through Playwright, then the DOM
    is read every 0.2 s until the required fields, a not-found message or a bot wall appear,
    or `wait_timeout_seconds` passes (then: layout error). The browser starts on first use and
    is shared by every parcel; images, media and fonts are not loaded."""

    def __init__(self, site: AppraiserSite, policy: ScrapingPolicy | None = None):
        super().__init__(site, policy)
        self._playwright: Any = None
        self._browser: Any = None
        self._context: Any = None

    def close(self) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
            if self._playwright is not None:
                self._playwright.stop()
        finally:
            self._browser = self._playwright = self._context = None
            super().close()

    def _start(self, url: str) -> Any:
        if self._context is not None:
            return self._context
        executable = chromium_path()
        if not executable.exists():
            raise FetchError(url, f"no Chromium at {executable}: install Debian's package "
                                  f"(apt-get install chromium) or set {CHROMIUM_PATH_ENV}")
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=list(CHROMIUM_ARGS))
        self._context = self._browser.new_context(user_agent=self.user_agent,
                                                  service_workers="block")
        self._context.route("**/*", _skip_heavy_resources)
        return self._context

    def _read(self, url: str, parcel_id: str) -> AppraiserResult:
        from playwright.sync_api import Error as PlaywrightError

        context = self._start(url)
        page = context.new_page()
        try:
            timeout_ms = self.policy.timeout_seconds * 1000
            try:
                response = page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
            except PlaywrightError as error:
                raise FetchError(url, f"browser could not load the page: "
                                      f"{str(error).splitlines()[0]}") from error
            status = response.status if response is not None else 200
            headers = response.headers if response is not None else {}
            deadline = time.monotonic() + self.site.wait_timeout_seconds
            while True:
                final = time.monotonic() >= deadline
                try:
                    html = page.content()
                except PlaywrightError:  # the page is navigating; read it again shortly
                    html = None
                if html is not None:
                    snapshot = PageSnapshot(page.url, status, headers, html, _now())
                    result = assess(snapshot, self.site, parcel_id, final=final)
                    if result is not None:
                        return result
                elif final:
                    raise FetchError(url, "page kept navigating until the wait timeout")
                page.wait_for_timeout(POLL_SECONDS * 1000)
        finally:
            page.close()


def _skip_heavy_resources(route: Any) -> None:
    if route.request.resource_type in _SKIPPED_RESOURCES:
        route.abort()
    else:
        route.continue_()


def _now() -> datetime:
    return datetime.now(UTC)


def _snapshot(url: str, response: httpx.Response) -> PageSnapshot:
    return PageSnapshot(str(response.url) or url, response.status_code,
                        {key.lower(): value for key, value in response.headers.items()},
                        response.text, _now())


def open_scraper(site: AppraiserSite, policy: ScrapingPolicy | None = None) -> AppraiserScraper:
    """The scraper for the site's kind."""
    if site.kind == "javascript":
        return BrowserScraper(site, policy)
    return StaticHtmlScraper(site, policy)


class SiteConfigError(ValueError):
    """The appraiser site is not configured, or an override does not validate; each problem
    names the field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def site_with_overrides(site: AppraiserSite | None, *, kind: str | None = None,
                        url_pattern: str | None = None,
                        fields: list[str] | None = None) -> AppraiserSite:
    """The market's site with command-line overrides applied: `kind`, `url_pattern` and
    `fields` as ``NAME=CSS`` or ``NAME=label:TEXT`` (each replaces that field's locator)."""
    from pydantic import ValidationError

    settings: dict[str, Any] = site.model_dump(exclude_none=True) if site is not None else {}
    if kind is not None:
        settings["kind"] = kind
    if url_pattern is not None:
        settings["parcel_url"] = url_pattern
    problems: list[str] = []
    for entry in fields or []:
        name, separator, locator = entry.partition("=")
        if not separator or not name.strip() or not locator.strip():
            problems.append(f"--field {entry!r}: expected NAME=CSS or NAME=label:TEXT")
            continue
        value = ({"label": locator.removeprefix("label:").strip()}
                 if locator.startswith("label:") else {"css": locator.strip()})
        settings.setdefault("fields", {})[name.strip()] = value
    if problems:
        raise SiteConfigError(problems)
    if site is None and not settings:
        raise SiteConfigError(["appraiser: the market has no `appraiser` block; add one or "
                               "give --kind, --url-pattern and --field"])
    try:
        return AppraiserSite.model_validate(settings)
    except ValidationError as error:
        raise SiteConfigError([
            f"appraiser.{'.'.join(str(part) for part in item['loc']) or '(block)'}: "
            f"{item['msg'].removeprefix('Value error, ')}"
            for item in error.errors()]) from error
