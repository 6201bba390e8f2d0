"""The polite HTTP client every scraper shares.

One `PoliteClient` per run, shared by all threads. For each host it keeps:

- a request-rate limit (request starts spaced at least ``1 / requests_per_second`` apart) and a
  concurrency limit (at most ``max_concurrency`` requests in flight), both thread-safe;
- its robots.txt, fetched once; a missing robots.txt (4xx other than 401/403) allows
  everything; a disallowed URL raises `DisallowedByRobots` before any request is made.

Every request carries ``User-Agent: wholesaler/<version> (+<contact>)``. Failures that may pass
(5xx, 429, timeouts, connection errors, a body cut short, a body that is not the JSON asked for,
or whatever a caller's `check` marks as retryable) are retried with exponential backoff and
full jitter (a random wait in ``[0, min(max, base * 2**retry)]``); a 429 or 503 with a
``Retry-After`` waits at least that long. After the last attempt `RequestFailed` names the URL,
the attempts and the last error. Settings come from the market's `scraping` block
(`markets.schema.ScrapingPolicy`).
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
import urllib.parse
import urllib.robotparser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import httpx

from markets.schema import ScrapingPolicy

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
MAX_RETRY_AFTER_SECONDS = 3600.0


def user_agent(contact: str) -> str:
    """``wholesaler/<version> (+<contact>)``: who we are and how to reach us."""
    try:
        version = metadata.version("wholesaler")
    except metadata.PackageNotFoundError:
        version = "0.1.0"
    return f"wholesaler/{version} (+{contact})"


class ScrapeError(Exception):
    """Base of every error the scrapers raise on purpose."""


class DisallowedByRobots(ScrapeError):
    """The host's robots.txt disallows this URL for our User-Agent."""


class RequestFailed(ScrapeError):
    """A request failed for good: after its last attempt, or with a permanent error."""

    def __init__(self, url: str, attempts: int, last_error: str):
        self.url = url
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(f"{url}: failed after {attempts} attempt(s): {last_error}")


class Retryable(Exception):
    """Raised by a response `check` when the body says "try again" (e.g. a transient server
    error sent as HTTP 200)."""


class Permanent(Exception):
    """Raised by a response `check` when the body is an error retrying cannot fix."""


@dataclass
class _HostState:
    """Per-host politeness state: a rate gate, a concurrency gate, robots.txt."""

    slots: threading.BoundedSemaphore
    interval: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_start: float = 0.0
    robots: urllib.robotparser.RobotFileParser | None = None
    robots_lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for_turn(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_start)
            self.next_start = start + self.interval
        if start > now:
            time.sleep(start - now)


@dataclass
class ClientStats:
    """What a client did, for summaries and benchmarks (updated under a lock)."""

    requests: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, *, retry: bool) -> None:
        with self._lock:
            self.requests += 1
            if retry:
                self.retries += 1


class PoliteClient:
    """A thread-safe HTTP client with per-host rate and concurrency limits, robots.txt and
    retries; see the module docstring. Use as a context manager or call `close()`."""

    def __init__(self, policy: ScrapingPolicy | None = None, *,
                 sleep: Callable[[float], None] = time.sleep):
        self.policy = policy or ScrapingPolicy()
        self.user_agent = user_agent(self.policy.contact)
        self.stats = ClientStats()
        self._sleep = sleep
        self._hosts: dict[str, _HostState] = {}
        self._hosts_lock = threading.Lock()
        self._http = httpx.Client(
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(self.policy.timeout_seconds),
            limits=httpx.Limits(max_connections=max(self.policy.max_concurrency * 4, 10),
                                max_keepalive_connections=self.policy.max_concurrency * 2),
            follow_redirects=True,
        )

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- politeness -------------------------------------------------------------------------

    def _host(self, url: str) -> _HostState:
        origin = _origin(url)
        with self._hosts_lock:
            state = self._hosts.get(origin)
            if state is None:
                state = _HostState(
                    slots=threading.BoundedSemaphore(self.policy.max_concurrency),
                    interval=1.0 / self.policy.requests_per_second,
                )
                self._hosts[origin] = state
            return state

    @contextmanager
    def _turn(self, state: _HostState) -> Iterator[None]:
        with state.slots:
            state.wait_for_turn()
            yield

    def _robots(self, url: str, state: _HostState) -> urllib.robotparser.RobotFileParser:
        with state.robots_lock:  # fetched once per host, other threads wait for it
            if state.robots is None:
                state.robots = self._fetch_robots(url, state)
            return state.robots

    def _fetch_robots(self, url: str, state: _HostState) -> urllib.robotparser.RobotFileParser:
        robots_url = _origin(url) + "/robots.txt"
        parser = urllib.robotparser.RobotFileParser(robots_url)
        response, _ = self._send_with_retries(robots_url, None, state, expect_json=False,
                                              check=None, allow_client_errors=True)
        if response.status_code in (401, 403):
            parser.disallow_all = True
        elif response.status_code >= 400:
            parser.allow_all = True
        else:
            parser.parse(response.text.splitlines())
        parser.modified()  # mark as read so can_fetch answers
        return parser

    def ensure_allowed(self, url: str) -> None:
        """Raise `DisallowedByRobots` when the host's robots.txt forbids `url` to us."""
        state = self._host(url)
        if not self._robots(url, state).can_fetch(self.user_agent, url):
            raise DisallowedByRobots(
                f"{url}: disallowed by {_origin(url)}/robots.txt for User-Agent "
                f"{self.user_agent!r}; not fetching it")

    # -- requests ---------------------------------------------------------------------------

    def get_json(self, url: str, params: dict[str, Any] | None = None, *,
                 check: Callable[[Any], None] | None = None) -> Any:
        """GET `url` and return its JSON body, retrying per the policy; `check(body)` may raise
        `Retryable` or `Permanent`."""
        self.ensure_allowed(url)
        _, parsed = self._send_with_retries(url, params, self._host(url), expect_json=True,
                                            check=check)
        return parsed

    def get_text(self, url: str, params: dict[str, Any] | None = None) -> str:
        """GET `url` and return its text body, retrying per the policy."""
        self.ensure_allowed(url)
        response, _ = self._send_with_retries(url, params, self._host(url), expect_json=False,
                                              check=None)
        return response.text

    def _send_with_retries(self, url: str, params: dict[str, Any] | None, state: _HostState, *,
                           expect_json: bool, check: Callable[[Any], None] | None,
                           allow_client_errors: bool = False) -> tuple[httpx.Response, Any]:
        """The response (and its parsed JSON when `expect_json`), after retries."""
        attempts = self.policy.max_attempts
        last_error = ""
        for attempt in range(1, attempts + 1):
            retry_after: float | None = None
            try:
                with self._turn(state):
                    self.stats.count(retry=attempt > 1)
                    response = self._http.get(url, params=params)  # reads the whole body
                status = response.status_code
                if status in RETRY_STATUSES:
                    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                    raise Retryable(f"HTTP {status} {_snippet(response.text)}")
                if status >= 400 and not allow_client_errors:
                    raise Permanent(f"HTTP {status} {_snippet(response.text)}")
                parsed = None
                if expect_json:
                    try:
                        parsed = json.loads(response.content)
                    except ValueError as error:
                        raise Retryable(f"body is not JSON ({error}): "
                                        f"{_snippet(response.text)}") from error
                    if check is not None:
                        check(parsed)
                return response, parsed
            except Permanent as error:
                raise RequestFailed(_full_url(url, params), attempt, str(error)) from error
            except (Retryable, httpx.TransportError) as error:
                last_error = f"{type(error).__name__}: {error}"
            if attempt < attempts:
                self._sleep(self._backoff(attempt, retry_after))
        raise RequestFailed(_full_url(url, params), attempts, last_error)

    def _backoff(self, retry: int, retry_after: float | None) -> float:
        ceiling = min(self.policy.backoff_max_seconds,
                      self.policy.backoff_base_seconds * 2 ** (retry - 1))
        wait = random.uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER_SECONDS))
        return wait


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _full_url(url: str, params: dict[str, Any] | None) -> str:
    return str(httpx.URL(url, params=params)) if params else url


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
