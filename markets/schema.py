"""Market configuration schema: what one `markets/<code>.yaml` may and must say.

A market is one county. Its YAML names the county, where its tax roll and distress lists come
from, how outreach must behave there (SMS policy, sender identity, postal address), what things
cost, and any underwriting or scoring parameter it overrides. Unknown keys are errors, so a typo
never silently falls back to a default. Defaults for the overridable parameters live in one
place, `dbt_project/dbt_project.yml` (`vars:`); a market states only what it changes.
"""

from __future__ import annotations

import re
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from scrapers.distress_layout import DISTRESS_LAYOUTS

MARKET_CODE_PATTERN = r"^[a-z][a-z0-9_]{1,39}$"
_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class StrictModel(BaseModel):
    """Base for every config block: unknown keys are rejected, values are not coerced loosely."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RollSource(StrictModel):
    """The county's Florida DOR tax-roll files: a local path (relative to the project root) or
    an http(s) URL; `.zip` archives holding one CSV are accepted."""

    nal: str = Field(min_length=1, description="NAL (name-address-legal) file: one row per parcel")
    sdf: str = Field(min_length=1, description="SDF (sale data) file: one row per sale")
    encoding: str = "latin-1"


class DistressSource(StrictModel):
    """One list of distress records (code violations, lis pendens, tax-deed applications)."""

    kind: Literal["code_violations", "lis_pendens", "tax_deed_applications"]
    format: Literal["csv", "arcgis"]
    location: str = Field(min_length=1, description="path, or URL of a CSV or an ArcGIS layer")
    field_map: dict[str, str] = Field(
        default_factory=dict,
        description="our column name -> the source's field name, where they differ",
    )
    where: str | None = Field(default=None, description="ArcGIS `where` filter")

    @model_validator(mode="after")
    def _field_map_names_our_columns(self) -> DistressSource:
        known = DISTRESS_LAYOUTS[self.kind]
        unknown = sorted(set(self.field_map) - set(known))
        if unknown:
            raise ValueError(
                f"field_map names unknown column(s) {unknown} for kind {self.kind!r}; "
                f"known: {sorted(known)}"
            )
        return self


class Bounds(StrictModel):
    """A WGS84 bounding box (degrees): west/east longitudes, south/north latitudes."""

    west: Annotated[float, Field(ge=-180, le=180)]
    south: Annotated[float, Field(ge=-90, le=90)]
    east: Annotated[float, Field(ge=-180, le=180)]
    north: Annotated[float, Field(ge=-90, le=90)]

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.west >= self.east:
            raise ValueError(f"west ({self.west}) must be less than east ({self.east})")
        if self.south >= self.north:
            raise ValueError(f"south ({self.south}) must be less than north ({self.north})")
        return self

    def contains(self, latitude: float, longitude: float) -> bool:
        return self.south <= latitude <= self.north and self.west <= longitude <= self.east


class ParcelLocationSource(StrictModel):
    """Where the county's parcel locations come from (docs/scrapers.md, "Parcel locations"):
    GeoJSON lines (one Feature per line, as `wholesaler scrape arcgis` writes them: the parcel
    id in a property, a Polygon, MultiPolygon or Point geometry in WGS84), an ArcGIS parcel
    layer (dumped to GeoJSON lines first), or a CSV of parcel_id, latitude, longitude."""

    format: Literal["geojsonl", "arcgis", "csv"]
    location: str = Field(min_length=1, description="path or URL of the file, or the layer URL")
    parcel_id_field: str = Field(
        default="PARCEL_ID", min_length=1, max_length=100,
        description="the feature property (or CSV column) holding the DOR parcel id")
    where: str | None = Field(default=None, description="ArcGIS `where` filter (arcgis only)")
    bounds: Bounds = Field(description="the county's bounding box: a location outside it is "
                                       "set aside (a wrong spatial reference shows up here)")

    @model_validator(mode="after")
    def _consistent(self) -> ParcelLocationSource:
        if self.where is not None and self.format != "arcgis":
            raise ValueError("where applies to format arcgis only")
        if self.format == "arcgis" and not re.match(r"^https?://", self.location):
            raise ValueError(f"format arcgis needs an http(s) layer URL, got {self.location!r}")
        return self


NonNegative = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, le=1)]
Months = Annotated[int, Field(ge=1, le=120)]


class Underwriting(StrictModel):
    """Overrides of the underwriting defaults in dbt_project.yml; each key is a dbt var."""

    arv_factor: Fraction | None = None
    offer_low_factor: Fraction | None = None
    wholesale_fee: NonNegative | None = None
    repair_light_per_sqft: NonNegative | None = None
    repair_medium_per_sqft: NonNegative | None = None
    repair_heavy_per_sqft: NonNegative | None = None
    repair_medium_min_age: Annotated[int, Field(ge=0, le=200)] | None = None
    repair_heavy_min_age: Annotated[int, Field(ge=0, le=200)] | None = None
    repair_low_quality_max: Annotated[int, Field(ge=0, le=6)] | None = None
    comp_months: Months | None = None
    comp_fallback_months: Months | None = None
    comp_sqft_tolerance: Fraction | None = None
    comp_year_built_tolerance: Annotated[int, Field(ge=0, le=100)] | None = None
    comp_min_count: Annotated[int, Field(ge=1, le=50)] | None = None
    comp_max_count: Annotated[int, Field(ge=1, le=100)] | None = None
    comps_min_score: Annotated[float, Field(ge=0, le=100)] | None = None
    comp_size_exponent: Annotated[float, Field(ge=0, le=1)] | None = None
    comp_trend_min_sales: Annotated[int, Field(ge=1)] | None = None
    comp_trend_max_monthly: Annotated[float, Field(ge=0, le=0.2)] | None = None
    confidence_market_area_factor: Fraction | None = None
    confidence_zip_factor: Fraction | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Underwriting:
        if (
            self.arv_factor is not None
            and self.offer_low_factor is not None
            and self.offer_low_factor > self.arv_factor
        ):
            raise ValueError("offer_low_factor must not exceed arv_factor")
        if (
            self.comp_min_count is not None
            and self.comp_max_count is not None
            and self.comp_min_count > self.comp_max_count
        ):
            raise ValueError("comp_min_count must not exceed comp_max_count")
        return self


Points = Annotated[float, Field(ge=0, le=100)]


class ScoreWeights(StrictModel):
    """Overrides of the distress-signal points; key `absentee` becomes dbt var `score_absentee`."""

    absentee: Points | None = None
    out_of_state: Points | None = None
    long_ownership: Points | None = None
    no_homestead: Points | None = None
    estate_trust: Points | None = None
    distressed_sale: Points | None = None
    code_violation: Points | None = None
    lis_pendens: Points | None = None
    tax_deed: Points | None = None
    vacancy: Points | None = None
    equity: Points | None = None


class SignalRules(StrictModel):
    """Overrides of when a signal fires; key `equity_ltv` becomes dbt var `signal_equity_ltv`."""

    long_ownership_full_years: Annotated[int, Field(ge=1, le=100)] | None = None
    long_ownership_half_years: Annotated[int, Field(ge=1, le=100)] | None = None
    distress_lookback_months: Months | None = None
    distressed_sale_max_years: Annotated[int, Field(ge=1, le=100)] | None = None
    equity_ltv: Fraction | None = None
    equity_loan_years: Annotated[int, Field(ge=1, le=50)] | None = None
    equity_rate: Annotated[float, Field(ge=0, le=0.5)] | None = None
    equity_full_min: Fraction | None = None
    equity_half_min: Fraction | None = None


class TierThresholds(StrictModel):
    """Overrides of the minimum score of each tier (defaults: A 43, B+ 38, B 30)."""

    a: Points | None = None
    b_plus: Points | None = None
    b: Points | None = None

    @model_validator(mode="after")
    def _ordered(self) -> TierThresholds:
        tiers = (("a", self.a), ("b_plus", self.b_plus), ("b", self.b))
        given = [(name, value) for name, value in tiers if value is not None]
        for (high_name, high), (low_name, low) in pairwise(given):
            if high <= low:
                raise ValueError(
                    f"tier {high_name} ({high}) must be above tier {low_name} ({low})")
        return self


class EmailIdentity(StrictModel):
    """Who the market's emails come from; CAN-SPAM needs true headers and a postal address."""

    sender_name: str = Field(min_length=1)
    agent_name: str | None = Field(
        default=None, min_length=1,
        description="the person the messages name ({{ agent_name }}); a real person who answers")
    from_address: str
    reply_to: str | None = None
    postal_address: str = Field(min_length=10, description="valid physical postal address")

    @field_validator("from_address", "reply_to")
    @classmethod
    def _looks_like_email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL_PATTERN.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value


class HandoffSettings(StrictModel):
    """Who gets the notice when a seller is interested (the human closer). Optional: without
    it the `WHOLESALER_CLOSER_NAME` / `_PHONE` / `_EMAIL` environment variables are used; with
    neither, the handoff is recorded and shown on the dashboard but nobody is notified."""

    closer_name: str = Field(min_length=1, max_length=100)
    closer_phone: str | None = Field(default=None, description="E.164, e.g. +14075550142")
    closer_email: str | None = None

    @field_validator("closer_phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\+1[2-9]\d{2}[2-9]\d{6}", value):
            raise ValueError(f"{value!r} is not an E.164 US number (+1 and ten digits)")
        return value

    @field_validator("closer_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL_PATTERN.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @model_validator(mode="after")
    def _reachable(self) -> HandoffSettings:
        if self.closer_phone is None and self.closer_email is None:
            raise ValueError("give closer_phone, closer_email or both")
        return self


class Costs(StrictModel):
    """What each unit of outreach costs in this market, in US dollars."""

    sms_segment_usd: NonNegative
    email_usd: NonNegative
    skip_trace_usd: NonNegative
    # Twilio Lookup v2 line type intelligence, per lookup (Twilio's list price, 2025: $0.008).
    lookup_usd: NonNegative = 0.008


class ScrapingPolicy(StrictModel):
    """How politely the scrapers treat this market's servers (ArcGIS layers, appraiser pages):
    per-host request rate and concurrency, timeouts and retries, and the contact in the
    User-Agent. Every key has a default, so a market without a `scraping` block is valid."""

    requests_per_second: Annotated[float, Field(gt=0, le=200)] = Field(
        default=2.0, description="most request starts per second to one host")
    max_concurrency: Annotated[int, Field(ge=1, le=16)] = Field(
        default=2, description="most requests in flight to one host at once")
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = Field(
        default=60.0, description="connect/read timeout of one request")
    max_attempts: Annotated[int, Field(ge=1, le=20)] = Field(
        default=5, description="attempts per request (5xx, 429, timeouts, broken bodies)")
    backoff_base_seconds: Annotated[float, Field(ge=0, le=60)] = Field(
        default=1.0, description="retry n waits a random time in [0, base * 2**n] (full jitter)")
    backoff_max_seconds: Annotated[float, Field(ge=0, le=3600)] = Field(
        default=60.0, description="cap of one retry wait (a server's Retry-After may be longer)")
    contact: str = Field(
        default="https://github.com/wholesaler/wholesaler", min_length=3, max_length=200,
        description="URL or email the server's operators can reach us at (in the User-Agent)")


AppraiserFieldName = Literal["owner_names", "mailing_address", "mailing_city", "mailing_state",
                             "mailing_zip", "living_area_sqft", "year_built", "bedrooms",
                             "bathrooms", "land_use"]
APPRAISER_FIELDS: tuple[str, ...] = get_args(AppraiserFieldName)


class AppraiserFieldLocator(StrictModel):
    """Where one field sits on a parcel page: a CSS selector, or the text of the label beside
    it (the value is the label's next sibling, or the rest of the label's parent)."""

    css: str | None = Field(default=None, min_length=1)
    label: str | None = Field(default=None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _plain_string_is_css(cls, value: object) -> object:
        return {"css": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> AppraiserFieldLocator:
        if (self.css is None) == (self.label is None):
            raise ValueError("give exactly one of css or label")
        return self


class AppraiserSite(StrictModel):
    """The county property appraiser's parcel pages (read by scrapers/appraiser, see
    docs/appraiser_pages.md). Optional: a market without it has no appraiser scraping."""

    kind: Literal["static_html", "javascript"] = Field(
        description="static_html: fetched and parsed; javascript: rendered in headless Chromium")
    parcel_url: str = Field(description="http(s) URL pattern containing {parcel_id}")
    fields: dict[AppraiserFieldName, AppraiserFieldLocator] = Field(
        description="field name -> CSS selector (a plain string) or {label: ...}")
    required_fields: list[AppraiserFieldName] = Field(
        default_factory=lambda: ["owner_names", "mailing_address"],
        description="fields whose absence means the page layout changed")
    not_found_text: list[str] = Field(
        default_factory=lambda: ["no records found", "no record found", "parcel not found",
                                 "no results found", "not a valid parcel"],
        description="phrases (any case) on the page that mean the parcel does not exist")
    not_found_selector: str | None = Field(default=None, min_length=1)
    wait_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = Field(
        default=20.0, description="javascript: how long to wait for the fields to render")

    @field_validator("parcel_url")
    @classmethod
    def _pattern_names_parcel_id(cls, pattern: str) -> str:
        if not re.match(r"^https?://[^/{}]+", pattern):
            raise ValueError(f"{pattern!r} must be an http(s) URL")
        if "{parcel_id}" not in pattern:
            raise ValueError(f"{pattern!r} must contain {{parcel_id}}")
        try:
            pattern.format(parcel_id="x")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"{pattern!r}: only {{parcel_id}} may be a placeholder "
                             f"({error!r})") from error
        return pattern

    @model_validator(mode="after")
    def _required_fields_are_configured(self) -> AppraiserSite:
        unconfigured = sorted(set(self.required_fields) - set(self.fields))
        if unconfigured:
            raise ValueError(f"required_fields {unconfigured} have no entry in fields")
        return self


class ContactSource(StrictModel):
    """A file of owner contacts the contacts assets import for this market (a skip-trace
    vendor's CSV delivery; see docs/contacts.md for the column shapes accepted)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$",
                      description="source name recorded on every contact it gives")
    kind: Literal["vendor_csv"] = "vendor_csv"
    location: str = Field(min_length=1, description="path (relative to the project root)")


class ContactSettings(StrictModel):
    """Where this market's contacts come from, and how they are validated."""

    sources: list[ContactSource] = Field(default_factory=list)
    sample_data: bool = Field(
        default=False,
        description="the sources are the fictional sample files: accept the 555-0100..0199 "
                    "range and resolve the reserved example domains with a local DNS zone; "
                    "refused on a live market")

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[ContactSource]) -> list[ContactSource]:
        names = [source.name for source in sources]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"contact source names repeat: {repeated}")
        return sources


PublicEndpointKind = Literal[
    # statewide: Florida DOR roll files and statewide parcel layers
    "dor_roll_download", "statewide_parcels",
    # county GIS servers and their parcel layers
    "arcgis_services", "parcels_layer",
    # property appraiser: parcel pages, the JSON API behind them, bulk downloads
    "appraiser_parcel_page", "appraiser_api", "appraiser_bulk",
    # distress: code cases, official records (lis pendens), court dockets, sales and auctions
    "code_violations", "lis_pendens", "court_records", "foreclosure_layer",
    "foreclosure_auctions", "tax_deed_applications", "tax_deed_auctions", "tax_deed_results",
    # tax collector portals
    "tax_collector",
]


class PublicEndpoint(StrictModel):
    """A real public endpoint for this county, found in public sources. Reference only:
    nothing in a run reads it; an operator uses it to point a source at the live data."""

    name: str = Field(min_length=1)
    kind: PublicEndpointKind
    url: str = Field(description="http(s) URL; {PID}-style placeholders mark URL templates")
    found_in: str = Field(min_length=1, description="where the URL was seen (page, repo/path)")
    notes: str | None = None
    confidence: Literal["seen", "inferred"] = Field(
        description="seen: the URL is written in the source; inferred: derived from a pattern")
    checked_on: date | None = Field(
        default=None, description="the day the URL was last checked live, if ever")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not re.match(r"^https?://[^/\s]+", url) or re.search(r"\s", url):
            raise ValueError(f"{url!r} must be an http(s) URL without spaces")
        return url

    @field_validator("found_in")
    @classmethod
    def _found_in_not_blank(cls, found_in: str) -> str:
        if not found_in.strip():
            raise ValueError("found_in must say where the endpoint was seen")
        return found_in


class Market(StrictModel):
    """One county market, as written in `markets/<code>.yaml`."""

    code: str = Field(pattern=MARKET_CODE_PATTERN, description="e.g. orange_fl")
    name: str = Field(min_length=1)
    state: str = Field(pattern=r"^[A-Z]{2}$")
    dor_county_number: Annotated[int, Field(ge=1, le=99)] = Field(
        description="Florida DOR county number (CO_NO) as written inside the roll files"
    )
    county_name: str = Field(min_length=1, description="county name without 'County'")
    time_zones: list[str] = Field(min_length=1)
    roll: RollSource
    distress_sources: list[DistressSource] = Field(default_factory=list)
    parcel_locations: ParcelLocationSource | None = Field(
        default=None, description="parcel geometry (centroids feed the Leads map)")
    underwriting: Underwriting = Field(default_factory=Underwriting)
    score_weights: ScoreWeights = Field(default_factory=ScoreWeights)
    signal_rules: SignalRules = Field(default_factory=SignalRules)
    tier_thresholds: TierThresholds = Field(default_factory=TierThresholds)
    sms_policy: Literal["consent_required", "dnc_scrubbed"]
    email: EmailIdentity
    market_context: str = Field(min_length=1, max_length=600)
    costs: Costs
    live: bool = Field(default=False, description="real sends only when true AND credentials set")
    contacts: ContactSettings = Field(default_factory=ContactSettings)
    scraping: ScrapingPolicy = Field(
        default_factory=ScrapingPolicy,
        description="politeness of the scrapers towards this county's servers")
    appraiser: AppraiserSite | None = Field(
        default=None, description="the property appraiser's parcel pages, when scraped")
    public_endpoints: list[PublicEndpoint] = Field(
        default_factory=list,
        description="reference only: real public endpoints found in public sources; "
                    "nothing in a run reads them")
    requires_assignment_disclosure: bool = Field(
        default=False,
        description="state law requires disclosing in writing that a contract may be assigned",
    )
    handoff: HandoffSettings | None = Field(
        default=None, description="the closer notified when a seller is interested")

    _source_file: Path | None = PrivateAttr(default=None)

    @field_validator("time_zones")
    @classmethod
    def _known_time_zones(cls, zones: list[str]) -> list[str]:
        for zone in zones:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError) as error:
                raise ValueError(f"unknown time zone {zone!r} (use an IANA name such as "
                                 f"'America/New_York')") from error
        return zones

    @model_validator(mode="after")
    def _sample_contacts_never_live(self) -> Market:
        if self.live and self.contacts.sample_data:
            raise ValueError("contacts.sample_data is true on a live market: fictional sample "
                             "contacts must never reach a live send")
        return self

    @field_validator("distress_sources")
    @classmethod
    def _one_source_per_kind(cls, sources: list[DistressSource]) -> list[DistressSource]:
        kinds = [source.kind for source in sources]
        repeated = sorted({kind for kind in kinds if kinds.count(kind) > 1})
        if repeated:
            raise ValueError(f"more than one source for {repeated}; one source per kind")
        return sources

    @property
    def source_file(self) -> Path | None:
        """The YAML file this market was read from, when it was read from one."""
        return self._source_file

    @property
    def project_root(self) -> Path:
        """Relative locations resolve against the folder above the YAML's folder."""
        if self._source_file is None:
            return Path.cwd()
        return self._source_file.resolve().parent.parent

    def resolve_location(self, location: str) -> str:
        """A URL unchanged, or a path made absolute against the project root."""
        if re.match(r"^[a-z][a-z0-9+.-]*://", location):
            return location
        path = Path(location).expanduser()
        return str(path if path.is_absolute() else self.project_root / path)
