"""Source discovery: what an ArcGIS REST services directory offers (services, layers, fields,
record counts, capabilities), and a market YAML skeleton from it.

The skeleton maps a layer to a distress kind when its name says so (code enforcement,
lis pendens / foreclosure, tax deed / certificate) and fills `field_map` where a field's name
clearly matches one of our columns. Everything a person must decide (county number, SMS
policy, sender identity, costs, unmapped columns) is written as ``TODO`` so that
`wholesaler markets validate` names each one until it is filled in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from scrapers.arcgis import read_layer
from scrapers.distress_layout import DISTRESS_LAYOUTS
from scrapers.http import PoliteClient, ScrapeError

KIND_KEYWORDS = {
    "code_violations": ("code enforcement", "code violation", "code_enforcement", "violation",
                        "code case"),
    "lis_pendens": ("lis pendens", "lis_pendens", "lispendens", "foreclos"),
    "tax_deed_applications": ("tax deed", "tax_deed", "taxdeed", "tax certificate",
                              "tax_cert"),
}
# Our column -> field-name patterns (matched against the upper-cased name, first match wins).
COLUMN_PATTERNS = {
    "parcel_id": (r"^PARCEL_?ID$", r"^PARCEL$", r"^PARCELNO$", r"^PARCEL_?NUM", r"^PIN$",
                  r"^STRAP$", r"^FOLIO"),
    "case_number": (r"^CASE_?(NO|NUM|NUMBER|ID)$", r"^CASENUM"),
    "violation_type": (r"^VIOL(ATION)?_?(TYPE|DESC|CODE)?$", r"^CASE_?TYPE$"),
    "opened_date": (r"^(DATE_?)?OPEN(ED)?(_?(DATE|DT))?$", r"^CASE_?DATE$"),
    "status": (r"^(CASE_?)?STATUS$",),
    "closed_date": (r"^(DATE_?)?CLOSED?(_?(DATE|DT))?$",),
    "fine_amount": (r"^FINE(_?AMT|_?AMOUNT)?$",),
    "document_type": (r"^DOC(UMENT)?_?TYPE$",),
    "filed_date": (r"^(DATE_?)?FILED?(_?(DATE|DT))?$", r"^REC(ORDING|ORDED)?_?DATE$"),
    "plaintiff": (r"^PLAINTIFF", r"^GRANTOR$"),
    "amount": (r"^AMOUNT$", r"^(JUDGMENT|CLAIM)_?AMT$"),
    "application_number": (r"^APP(LICATION)?_?(NO|NUM|NUMBER)$",),
    "certificate_number": (r"^CERT(IFICATE)?_?(NO|NUM|NUMBER)$",),
    "certificate_year": (r"^CERT(IFICATE)?_?YE?A?R$", r"^TAX_?YEAR$"),
    "application_date": (r"^APP(LICATION)?_?DATE$",),
    "opening_bid": (r"^(OPENING|MIN(IMUM)?)_?BID$",),
}


@dataclass
class LayerFound:
    """One layer of a service, with what a market author needs to know."""

    url: str
    service: str
    name: str
    geometry_type: str | None
    fields: list[str]
    record_count: int | None
    max_record_count: int
    supports_pagination: bool
    supports_statistics: bool
    supports_geojson: bool
    kind: str | None = None
    field_map: dict[str, str] = field(default_factory=dict)


def discover(client: PoliteClient, server_url: str) -> list[LayerFound]:
    """Every layer and table of the FeatureServer/MapServer services under `server_url` (a
    services directory, e.g. https://host/arcgis/rest/services), folders included."""
    found: list[LayerFound] = []
    pending = [server_url.rstrip("/")]
    while pending:
        directory = pending.pop(0)
        listing = client.get_json(directory, {"f": "json"})
        root = server_url.rstrip("/")
        for folder in listing.get("folders") or []:
            pending.append(f"{root}/{folder}")
        for service in listing.get("services") or []:
            if service.get("type") not in ("FeatureServer", "MapServer"):
                continue
            service_url = f"{root}/{service['name']}/{service['type']}"
            detail = client.get_json(service_url, {"f": "json"})
            for layer in (detail.get("layers") or []) + (detail.get("tables") or []):
                found.append(_describe(client, service["name"], f"{service_url}/{layer['id']}"))
    return found


def _describe(client: PoliteClient, service: str, url: str) -> LayerFound:
    info = read_layer(client, url)
    try:
        count = client.get_json(f"{url}/query", {"where": "1=1", "returnCountOnly": "true",
                                                 "f": "json"}).get("count")
    except ScrapeError:
        count = None
    kind = guess_kind(f"{service} {info.name}")
    return LayerFound(url=url, service=service, name=info.name,
                      geometry_type=info.geometry_type, fields=list(info.fields),
                      record_count=count, max_record_count=info.max_record_count,
                      supports_pagination=info.supports_pagination,
                      supports_statistics=info.supports_statistics,
                      supports_geojson=info.supports_geojson, kind=kind,
                      field_map=guess_field_map(kind, info.fields) if kind else {})


def guess_kind(name: str) -> str | None:
    lowered = name.lower().replace("-", " ")
    for kind, words in KIND_KEYWORDS.items():
        if any(word in lowered for word in words):
            return kind
    return None


def guess_field_map(kind: str, fields: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Our column -> the layer's field, where exactly one clear match exists."""
    mapping: dict[str, str] = {}
    for column in DISTRESS_LAYOUTS[kind]:
        for pattern in COLUMN_PATTERNS.get(column, ()):
            matches = [name for name in fields if re.match(pattern, name.upper())]
            if len(matches) == 1:
                mapping[column] = matches[0]
                break
    return mapping


def market_skeleton(code: str, server_url: str, layers: list[LayerFound]) -> str:
    """A market YAML with the distress layers found; TODO where a person must decide."""
    sources: list[dict[str, Any]] = []
    unmapped_notes: list[str] = []
    for layer in layers:
        if layer.kind is None or any(s["kind"] == layer.kind for s in sources):
            continue
        field_map = {column: layer.field_map.get(column, f"TODO_{column.upper()}")
                     for column in DISTRESS_LAYOUTS[layer.kind]}
        missing = [column for column in DISTRESS_LAYOUTS[layer.kind]
                   if column not in layer.field_map]
        if missing:
            unmapped_notes.append(f"{layer.kind}: map {', '.join(missing)} (layer fields: "
                                  f"{', '.join(layer.fields)})")
        sources.append({"kind": layer.kind, "format": "arcgis", "location": layer.url,
                        "field_map": field_map})
    config = {
        "code": code, "name": "TODO County, Florida", "state": "FL", "county_name": "TODO",
        "dor_county_number": "TODO", "time_zones": ["America/New_York"],
        "roll": {"nal": "TODO path or URL of the DOR NAL file",
                 "sdf": "TODO path or URL of the DOR SDF file"},
        "distress_sources": sources,
        "sms_policy": "TODO",
        "email": {"sender_name": "TODO", "from_address": "TODO",
                  "postal_address": "TODO"},
        "market_context": "TODO",
        "costs": {"sms_segment_usd": "TODO", "email_usd": "TODO", "skip_trace_usd": "TODO"},
        "live": False,
    }
    header = [f"# Skeleton written by `wholesaler markets discover {server_url}`.",
              "# Replace every TODO; `wholesaler markets validate` names each one left.",
              "# sms_policy has no default: consent_required or dnc_scrubbed (see README).",
              *[f"# {note}" for note in unmapped_notes]]
    return "\n".join(header) + "\n" + yaml.safe_dump(config, sort_keys=False, width=100)
