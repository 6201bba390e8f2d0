"""Reading a parcel page: field extraction with BeautifulSoup (the same code for static and
browser-rendered HTML), bot-wall recognition and the decision found / not found / bot wall /
layout changed.

Bot-wall markers come in two strengths. A *challenge* marker (a Cloudflare or Akamai challenge
page, "verify you are human", "access denied", ...) means the page is a wall whatever else it
holds. A *widget* marker (a reCAPTCHA, hCaptcha or Turnstile widget) can also sit on a normal
page, for example beside a search form, so it makes the page a wall only when the parcel's
required fields are not on it. HTTP 403 and 429 are walls too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bs4 import BeautifulSoup, NavigableString, Tag

from markets.schema import AppraiserFieldLocator, AppraiserSite
from scrapers.appraiser.records import (
    BotWallError,
    BuildingFacts,
    FetchError,
    LayoutError,
    MailingAddress,
    ParcelNotFound,
    ParcelRecord,
)


@dataclass(frozen=True)
class BotWallMarker:
    """One sign of a bot wall: a regex searched in the raw HTML or in the visible text."""

    name: str
    strength: Literal["challenge", "widget"]
    where: Literal["html", "text"]
    pattern: re.Pattern[str]


def _marker(name: str, strength: Literal["challenge", "widget"], where: Literal["html", "text"],
            pattern: str) -> BotWallMarker:
    return BotWallMarker(name, strength, where, re.compile(pattern, re.IGNORECASE))


BOT_WALL_MARKERS: tuple[BotWallMarker, ...] = (
    _marker("Cloudflare challenge page", "challenge", "html",
            r"_cf_chl_opt|__cf_chl_|cf-chl-|/cdn-cgi/challenge-platform/|cf-browser-verification"),
    _marker("Cloudflare challenge page", "challenge", "text",
            r"checking your browser before accessing"),
    _marker("Cloudflare challenge page", "challenge", "html",
            r"<title>\s*(?:just a moment\.\.\.|attention required! \| cloudflare)"),
    _marker("Akamai access denied page", "challenge", "text",
            r"you don't have permission to access .{0,200}reference #"),
    _marker("Imperva / Incapsula challenge", "challenge", "html",
            r"_Incapsula_Resource|incapsula incident id"),
    _marker("PerimeterX challenge", "challenge", "html", r"px-captcha|_pxCaptcha"),
    _marker("DataDome challenge", "challenge", "html", r"captcha-delivery\.com"),
    _marker("AWS WAF challenge", "challenge", "html", r"awswaf|aws-waf-token"),
    _marker('"verify you are human"', "challenge", "text",
            r"verify (?:that )?you are (?:a )?human"),
    _marker('"are you a robot"', "challenge", "text", r"are you a robot"),
    _marker("CAPTCHA prompt", "challenge", "text",
            r"complete (?:the |this )?(?:security check|captcha)|solve (?:the |this )?captcha"
            r"|captcha (?:is )?required"),
    _marker('"unusual traffic"', "challenge", "text", r"unusual traffic from your"),
    _marker('"access denied"', "challenge", "text", r"\baccess denied\b"),
    _marker('"request blocked"', "challenge", "text", r"\brequest (?:was |has been )?blocked\b"),
    _marker("reCAPTCHA widget", "widget", "html",
            r"g-recaptcha|google\.com/recaptcha|recaptcha/api\.js|grecaptcha"),
    _marker("hCaptcha widget", "widget", "html", r"h-captcha|hcaptcha\.com"),
    _marker("Cloudflare Turnstile widget", "widget", "html",
            r"cf-turnstile|challenges\.cloudflare\.com/turnstile"),
)

WALL_STATUSES = frozenset({403, 429})
_BLOCK_TAGS = frozenset({
    "address", "article", "blockquote", "dd", "div", "dl", "dt", "footer", "form", "h1", "h2",
    "h3", "h4", "h5", "h6", "header", "li", "ol", "p", "section", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
})
_SKIPPED_TAGS = frozenset({"script", "style", "template", "noscript", "head"})
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_CITY_STATE_ZIP = re.compile(
    r"^(?P<city>[A-Za-z][A-Za-z .'-]*?),?\s+(?P<state>[A-Z]{2}),?\s+"
    r"(?P<zip>\d{5})(?:\s*-?\s*(?P<zip4>\d{4}))?$")
_ADDRESS_FIELDS = ("mailing_address", "mailing_city", "mailing_state", "mailing_zip")
_INT_FIELDS = ("living_area_sqft", "year_built", "bedrooms")


@dataclass(frozen=True)
class PageSnapshot:
    """A page as fetched: final URL, HTTP status, response headers (lower-case) and HTML."""

    url: str
    http_status: int
    headers: Mapping[str, str]
    html: str
    fetched_at: datetime


@dataclass(frozen=True)
class ParsedPage:
    """The soup of a page, its visible text (whitespace collapsed) and the located fields."""

    soup: BeautifulSoup
    text: str
    values: dict[str, list[str]]

    def missing(self, names: Iterable[str]) -> list[str]:
        return [name for name in names if not self.values.get(name)]


def parse_page(html: str, site: AppraiserSite) -> ParsedPage:
    """Locate every configured field; each value is the field's text as lines."""
    soup = BeautifulSoup(html, "html.parser")
    values = {name: locate(soup, locator) for name, locator in site.fields.items()}
    text = " ".join(" ".join(element_lines(soup)).split())
    return ParsedPage(soup, text, values)


def element_lines(element: Tag) -> list[str]:
    """The visible text of an element as lines: <br> and block elements break lines, inline
    elements join with their neighbours; whitespace inside a line is collapsed."""
    parts: list[str] = []

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Tag):
                if child.name in _SKIPPED_TAGS:
                    continue
                if child.name == "br":
                    parts.append("\n")
                    continue
                block = child.name in _BLOCK_TAGS
                if block:
                    parts.append("\n")
                walk(child)
                if block:
                    parts.append("\n")
            elif isinstance(child, NavigableString) and type(child) is NavigableString:
                parts.append(str(child))

    walk(element)
    lines = (" ".join(line.split()) for line in "".join(parts).split("\n"))
    return [line for line in lines if line]


def locate(soup: BeautifulSoup, locator: AppraiserFieldLocator) -> list[str]:
    """The lines of the field: from every element the CSS selector matches, or from the value
    beside the label."""
    if locator.css is not None:
        return [line for element in soup.select(locator.css) for line in element_lines(element)]
    assert locator.label is not None
    label_element = _find_label(soup, locator.label)
    return [] if label_element is None else _value_beside(label_element)


def _normalise_label(text: str) -> str:
    return " ".join(text.split()).rstrip(":").strip().casefold()


def _find_label(soup: BeautifulSoup, label: str) -> Tag | None:
    """The innermost element whose whole text is the label (case and a trailing colon
    ignored)."""
    wanted = _normalise_label(label)
    for element in soup.find_all(True):
        if element.name in _SKIPPED_TAGS:
            continue
        if _normalise_label(element.get_text(" ")) != wanted:
            continue
        while (inner := element.find(
                lambda tag: _normalise_label(tag.get_text(" ")) == wanted)) is not None:
            element = inner
        return element
    return None


def _value_beside(label_element: Tag) -> list[str]:
    """The value that follows a label: text right after it within its parent (up to a line
    break), else the next sibling element; climbs to the parent when the label stands alone
    (e.g. a <span> alone inside a <th>)."""
    element: Tag | None = label_element
    for _ in range(3):
        if element is None:
            return []
        inline: list[str] = []
        for sibling in element.next_siblings:
            if isinstance(sibling, Tag):
                if sibling.name == "br" or sibling.name in _BLOCK_TAGS:
                    break
                if not inline and not sibling.get_text(strip=True):
                    continue
                if not inline:
                    return element_lines(sibling)
                inline.append(sibling.get_text(" "))
            elif type(sibling) is NavigableString and (sibling.strip() or inline):
                inline.append(str(sibling))
        value = " ".join(" ".join(inline).split()).lstrip(":").strip()
        if value:
            return [value]
        next_element = element.find_next_sibling()
        if next_element is not None:
            return element_lines(next_element)
        element = element.parent if isinstance(element.parent, Tag) else None
    return []


def find_bot_wall(snapshot: PageSnapshot, parsed: ParsedPage,
                  strengths: Iterable[str] = ("challenge", "widget")) -> str | None:
    """The name of the first bot-wall marker of the given strengths on the page, or None."""
    wanted = set(strengths)
    if "challenge" in wanted and snapshot.headers.get("cf-mitigated", "").lower() == "challenge":
        return "Cloudflare challenge (cf-mitigated header)"
    for marker in BOT_WALL_MARKERS:
        if marker.strength not in wanted:
            continue
        haystack = snapshot.html if marker.where == "html" else parsed.text
        if marker.pattern.search(haystack):
            return marker.name
    return None


def find_not_found(snapshot: PageSnapshot, parsed: ParsedPage, site: AppraiserSite) -> str | None:
    """Why the page says the parcel does not exist, or None."""
    if snapshot.http_status in (404, 410):
        return f"HTTP {snapshot.http_status}"
    if site.not_found_selector and parsed.soup.select_one(site.not_found_selector) is not None:
        return f"page has {site.not_found_selector!r}"
    lowered = parsed.text.casefold()
    for phrase in site.not_found_text:
        if phrase.casefold() in lowered:
            return f"page says {phrase!r}"
    return None


def assess(snapshot: PageSnapshot, site: AppraiserSite, parcel_id: str, *,
           final: bool = True) -> ParcelRecord | ParcelNotFound | None:
    """Decide what the page is: a record, a not-found result, or raise `BotWallError`,
    `LayoutError` or `FetchError`. With `final=False` (a JavaScript page still rendering) it
    returns None where waiting longer could change the answer."""
    parsed = parse_page(snapshot.html, site)
    challenge = find_bot_wall(snapshot, parsed, ("challenge",))
    if challenge:
        raise BotWallError(snapshot.url, challenge, snapshot.http_status)
    if snapshot.http_status in WALL_STATUSES:
        marker = find_bot_wall(snapshot, parsed, ("widget",)) or f"HTTP {snapshot.http_status}"
        raise BotWallError(snapshot.url, marker, snapshot.http_status)
    missing_required = parsed.missing(site.required_fields)
    if not missing_required and snapshot.http_status < 400:
        return build_record(parsed, site, parcel_id, snapshot)
    not_found = find_not_found(snapshot, parsed, site)
    if not_found:
        return ParcelNotFound(parcel_id=parcel_id, source_url=snapshot.url,
                              fetched_at=snapshot.fetched_at, reason=not_found)
    if snapshot.http_status >= 400:
        raise FetchError(snapshot.url, f"HTTP {snapshot.http_status}")
    if not final:
        return None
    widget = find_bot_wall(snapshot, parsed, ("widget",))
    if widget:
        raise BotWallError(snapshot.url, widget, snapshot.http_status)
    raise LayoutError(snapshot.url, parsed.missing(site.fields), snapshot.http_status)


def build_record(parsed: ParsedPage, site: AppraiserSite, parcel_id: str,
                 snapshot: PageSnapshot) -> ParcelRecord:
    """Turn the located lines into a typed record; fields that do not parse count as missing."""
    values = parsed.values
    missing = set(parsed.missing(site.fields))
    numbers: dict[str, int | float | None] = {}
    for name in (*_INT_FIELDS, "bathrooms"):
        if name not in site.fields or name in missing:
            numbers[name] = None
            continue
        number = _first_number(values[name])
        if number is None:
            missing.add(name)
        numbers[name] = None if number is None else (
            number if name == "bathrooms" else int(number))
    land_use = " ".join(values.get("land_use") or []) or None
    building = BuildingFacts(land_use=land_use, **numbers)  # type: ignore[arg-type]
    return ParcelRecord(
        parcel_id=parcel_id, source_url=snapshot.url, fetched_at=snapshot.fetched_at,
        site_kind=site.kind, owner_names=list(dict.fromkeys(values.get("owner_names") or [])),
        mailing_address=_mailing_address(values), building=building,
        missing_fields=sorted(missing))


def _first_number(lines: list[str]) -> float | None:
    match = _NUMBER.search(" ".join(lines))
    return None if match is None else float(match.group().replace(",", ""))


def _mailing_address(values: dict[str, list[str]]) -> MailingAddress:
    lines = list(values.get("mailing_address") or [])
    city = state = zip_code = None
    if lines:
        match = _CITY_STATE_ZIP.match(lines[-1])
        if match:
            lines.pop()
            city, state = match["city"].strip(), match["state"]
            zip_code = match["zip"] + (f"-{match['zip4']}" if match["zip4"] else "")
    city = _joined(values.get("mailing_city")) or city
    state = _joined(values.get("mailing_state")) or state
    zip_code = _joined(values.get("mailing_zip")) or zip_code
    return MailingAddress(lines=lines, city=city, state=state, zip=zip_code)


def _joined(lines: list[str] | None) -> str | None:
    return " ".join(lines) if lines else None
