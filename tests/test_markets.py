"""Market YAMLs: the five shipped markets are valid, and every kind of broken file is refused
with its file, field and reason (through the real `wholesaler markets validate` command)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from markets.loader import MarketConfigError, load_markets, validate_files
from pipelines.cli import app

SHIPPED = Path(__file__).resolve().parent.parent / "markets"
runner = CliRunner()


def test_five_florida_markets_load_with_their_county_numbers():
    markets = {m.code: m for m in load_markets(SHIPPED)}
    assert {code: m.dor_county_number for code, m in markets.items()} == {
        "lake_fl": 45, "orange_fl": 58, "osceola_fl": 59, "seminole_fl": 69, "volusia_fl": 74,
    }
    for market in markets.values():
        assert market.state == "FL"
        assert market.sms_policy in {"consent_required", "dnc_scrubbed"}
        assert market.live is False, "shipped markets must never send for real"
        assert market.email.postal_address


def test_validate_command_accepts_shipped_markets():
    result = runner.invoke(app, ["markets", "validate", *map(str, sorted(SHIPPED.glob("*.yaml")))])
    assert result.exit_code == 0, result.output
    assert result.output.count("ok: ") == 5


def test_list_command_shows_every_market(monkeypatch):
    monkeypatch.setenv("WHOLESALER_MARKETS_DIR", str(SHIPPED))
    result = runner.invoke(app, ["markets", "list"])
    assert result.exit_code == 0, result.output
    for code in ("orange_fl", "seminole_fl", "osceola_fl", "lake_fl", "volusia_fl"):
        assert code in result.output


def _broken_copy(tmp_path: Path, old: str, new: str, name: str = "orange_fl.yaml") -> Path:
    text = (SHIPPED / "orange_fl.yaml").read_text()
    assert old in text, f"fixture text {old!r} not in orange_fl.yaml"
    target = tmp_path / name
    target.write_text(text.replace(old, new, 1))
    return target


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("sms_policy: consent_required\n", "", "sms_policy", "required field is missing"),
        ("live: false", "live: false\nlve: true", "lve", "unknown key"),
        ("email:\n", "email:\n  sendr_name: X\n", "email.sendr_name", "unknown key"),
        ("[America/New_York]", "[America/Orlando]", "time_zones", "unknown time zone"),
        ("sms_policy: consent_required", "sms_policy: whenever", "sms_policy", "consent_required"),
        ("dor_county_number: 58", "dor_county_number: fifty-eight", "dor_county_number",
         "integer"),
        ("  - {kind: lis_pendens", "  - {kind: lis_pendenz", "distress_sources[1].kind",
         "lis_pendens"),
        ("underwriting: {}", "underwriting: {arv_factor: 1.7}", "underwriting.arv_factor",
         "less than or equal to 1"),
        ("tier_thresholds: {}", "tier_thresholds: {a: 30, b_plus: 38}", "tier_thresholds",
         "must be above"),
        ("name: Orange County, Florida", "name: [unclosed", "line ", "malformed YAML"),
        ("state: FL", "state: FL\nstate: GA", "line ", "duplicate key 'state'"),
    ],
)
def test_broken_market_file_names_file_field_and_reason(tmp_path, old, new, field, reason):
    path = _broken_copy(tmp_path, old, new)
    result = runner.invoke(app, ["markets", "validate", str(path)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert errors, result.output
    assert any(str(path) in line and field in line and reason in line for line in errors), errors


def test_duplicate_market_code_across_files_is_refused(tmp_path):
    first = tmp_path / "orange_fl.yaml"
    shutil.copy(SHIPPED / "orange_fl.yaml", first)
    second = _broken_copy(tmp_path, "dor_county_number: 58", "dor_county_number: 58",
                          name="orange_copy.yaml")
    result = runner.invoke(app, ["markets", "validate", str(first), str(second)])
    assert result.exit_code == 1
    assert "duplicate market code 'orange_fl'" in result.output
    markets, problems = validate_files([first, second])
    assert [m.code for m in markets] == ["orange_fl"]
    assert [p.field for p in problems] == ["code"]


def test_loading_a_folder_with_a_broken_file_raises_every_problem(tmp_path):
    shutil.copy(SHIPPED / "lake_fl.yaml", tmp_path / "lake_fl.yaml")
    _broken_copy(tmp_path, "sms_policy: consent_required\n", "")
    with pytest.raises(MarketConfigError) as raised:
        load_markets(tmp_path)
    assert len(raised.value.problems) == 1
    assert raised.value.problems[0].field == "sms_policy"


def test_relative_locations_resolve_against_the_project_root(tmp_path):
    folder = tmp_path / "markets"
    folder.mkdir()
    shutil.copy(SHIPPED / "orange_fl.yaml", folder / "orange_fl.yaml")
    market = load_markets(folder)[0]
    assert market.resolve_location(market.roll.nal) == str(
        tmp_path / "data/sample/orange_fl/NAL58F2026.csv")
    assert market.resolve_location("https://example.org/x.zip") == "https://example.org/x.zip"


def test_every_market_carries_reference_endpoints_but_runs_on_sample_data():
    markets = load_markets(SHIPPED)
    assert len(markets) == 5
    for market in markets:
        endpoints = market.public_endpoints
        assert endpoints, f"{market.code} has no public_endpoints"
        for endpoint in endpoints:
            assert endpoint.url.startswith(("http://", "https://")), endpoint
            assert endpoint.found_in.strip(), endpoint
        kinds = {endpoint.kind for endpoint in endpoints}
        assert {"dor_roll_download", "statewide_parcels"} <= kinds, market.code
        roll_downloads = [e.url for e in endpoints if e.kind == "dor_roll_download"]
        assert any(f"%20{market.county_name}%20" in url or f"/{market.county_name}%20" in url
                   for url in roll_downloads), market.code
        # Reference only: the roll and the distress lists a run reads stay on local files.
        for location in (market.roll.nal, market.roll.sdf,
                         *(source.location for source in market.distress_sources)):
            assert not location.startswith(("http://", "https://")), location


def _market_document_with_endpoint_change(change) -> dict:
    document = yaml.safe_load((SHIPPED / "orange_fl.yaml").read_text())
    change(document["public_endpoints"][1])
    return document


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (lambda e: e.update(url="ftp://x"), "public_endpoints[1].url", "http(s) URL"),
        (lambda e: e.update(url="https://host/a b"), "public_endpoints[1].url", "without spaces"),
        (lambda e: e.pop("found_in"), "public_endpoints[1].found_in", "required field"),
        (lambda e: e.update(found_in="   "), "public_endpoints[1].found_in", "where"),
        (lambda e: e.update(kind="weather"), "public_endpoints[1].kind", "dor_roll_download"),
        (lambda e: e.update(confidence="guessed"), "public_endpoints[1].confidence", "seen"),
        (lambda e: e.update(checked_on="yesterday"), "public_endpoints[1].checked_on", "date"),
        (lambda e: e.update(source="x"), "public_endpoints[1].source", "unknown key"),
    ],
)
def test_bad_public_endpoint_is_refused_naming_the_field(tmp_path, change, field, reason):
    path = tmp_path / "orange_fl.yaml"
    path.write_text(yaml.safe_dump(_market_document_with_endpoint_change(change)))
    result = runner.invoke(app, ["markets", "validate", str(path)])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert any(str(path) in line and field in line and reason in line for line in errors), errors


def test_checked_on_date_is_accepted(tmp_path):
    path = tmp_path / "orange_fl.yaml"
    path.write_text(yaml.safe_dump(_market_document_with_endpoint_change(
        lambda e: e.update(checked_on="2026-11-21"))))
    market = load_markets(tmp_path)[0]
    assert str(market.public_endpoints[1].checked_on) == "2026-11-21"
