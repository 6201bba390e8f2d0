"""What one appraiser scrape returns (a parcel record or a not-found result) and the typed
errors it raises (bot wall, changed layout, failed fetch)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from scrapers.http import ScrapeError


class MailingAddress(BaseModel):
    """The owner's mailing address: street lines, and city / state / ZIP when recognised."""

    model_config = ConfigDict(frozen=True)

    lines: list[str] = Field(default_factory=list, description="lines before city/state/ZIP")
    city: str | None = None
    state: str | None = None
    zip: str | None = None


class BuildingFacts(BaseModel):
    """Building facts as the appraiser shows them; None where the page does not say."""

    model_config = ConfigDict(frozen=True)

    living_area_sqft: int | None = None
    year_built: int | None = None
    bedrooms: int | None = None
    bathrooms: float | None = None
    land_use: str | None = None


class ParcelRecord(BaseModel):
    """One parcel as read from the appraiser's page."""

    model_config = ConfigDict(frozen=True)

    status: Literal["found"] = "found"
    parcel_id: str
    source_url: str
    fetched_at: datetime = Field(description="UTC time the page was read")
    site_kind: Literal["static_html", "javascript"]
    owner_names: list[str]
    mailing_address: MailingAddress
    building: BuildingFacts
    missing_fields: list[str] = Field(
        default_factory=list, description="configured optional fields the page did not show")

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class ParcelNotFound(BaseModel):
    """The appraiser says there is no such parcel (HTTP 404 or a not-found message)."""

    model_config = ConfigDict(frozen=True)

    status: Literal["not_found"] = "not_found"
    parcel_id: str
    source_url: str
    fetched_at: datetime
    reason: str

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


AppraiserResult = ParcelRecord | ParcelNotFound


class AppraiserError(ScrapeError):
    """Base of the appraiser scraper's errors; `status` names the kind in JSON output."""

    status = "error"

    def __init__(self, url: str, message: str):
        self.url = url
        super().__init__(f"{url}: {message}")

    def to_json_dict(self, parcel_id: str) -> dict[str, Any]:
        return {"status": self.status, "parcel_id": parcel_id, "source_url": self.url,
                "error": str(self)}


class BotWallError(AppraiserError):
    """The site answered with a CAPTCHA or bot-challenge page. It is reported, never bypassed
    and never retried: a person has to look at the site (and its terms) first."""

    status = "bot_wall"

    def __init__(self, url: str, marker: str, http_status: int):
        self.marker = marker
        self.http_status = http_status
        super().__init__(url, f"bot wall detected ({marker}; HTTP {http_status}); not bypassed, "
                              "not retried")

    def to_json_dict(self, parcel_id: str) -> dict[str, Any]:
        return {**super().to_json_dict(parcel_id), "marker": self.marker,
                "http_status": self.http_status}


class LayoutError(AppraiserError):
    """The page exists but the configured selectors no longer find the required fields: the
    site's layout changed and the market's `appraiser.fields` need updating."""

    status = "layout_error"

    def __init__(self, url: str, missing_fields: list[str], http_status: int):
        self.missing_fields = missing_fields
        self.http_status = http_status
        super().__init__(url, f"page layout does not match the configured selectors; missing "
                              f"fields: {', '.join(missing_fields)} (HTTP {http_status})")

    def to_json_dict(self, parcel_id: str) -> dict[str, Any]:
        return {**super().to_json_dict(parcel_id), "missing_fields": self.missing_fields}


class FetchError(AppraiserError):
    """The page could not be read (network error, timeout, HTTP 5xx, no browser)."""

    status = "fetch_error"
