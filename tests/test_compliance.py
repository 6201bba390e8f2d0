"""The compliance gate: rules files, the recipient-local time rule (with property-based tests
across DST changes and zones), every check of `evaluate_send`, and its ledger side (facts
loaded, decisions recorded) on SQLite and, when TEST_POSTGRES_URL is set, PostgreSQL."""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dateutil import tz as dateutil_tz
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from outreach.compliance.gate import (
    REFUSAL_CODES,
    ConsentFact,
    GateFacts,
    MarketPolicy,
    OutgoingMessage,
    ScrubFact,
    SendRequest,
    Solicitation,
    StateListFact,
    SuppressionFact,
    evaluate_send,
)
from outreach.compliance.rules import RULES_DIR, RuleConfigError, load_rule_set
from outreach.compliance.store import (
    DecisionHistory,
    load_gate_facts,
    record_consent,
    record_decision,
    record_suppression,
)
from outreach.compliance.window import (
    InvalidPhoneError,
    evaluate_window,
    window_decision,
)
from outreach.ledger import pii
from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
from outreach.ledger.dnc_store import DncListLoad, load_dnc_list, scrub_contact
from outreach.ledger.models import ComplianceDecision, Contact, Owner

RULES = load_rule_set(RULES_DIR)
EASTERN = ZoneInfo("America/New_York")
CENTRAL = ZoneInfo("America/Chicago")
PANHANDLE = "+18505550123"  # 850: Florida, Eastern and Central
ORLANDO = "+14075550123"  # 407: Florida, Eastern
MANHATTAN = "+12125550123"  # 212: New York, Eastern


def at_local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


# ------------------------------------------------------------------------------------------
# Rules files


def test_shipped_rules_load_and_florida_is_the_strictest():
    assert {j.code for j in RULES.jurisdictions} >= {"US", "FL", "HOUSE"}
    florida = RULES.strictest("sms", ["FL"])
    assert (florida.window.start, florida.window.end) == (time(8), time(20))
    assert florida.per_person_per_24h == 3 and florida.per_contact_per_day == 1
    assert florida.national_registry_max_age_days == 31
    assert [s.key for s in florida.state_lists] == ["state_fl"]
    assert florida.sms_requires_consent
    new_york = RULES.strictest("sms", ["NY"])
    assert (new_york.window.start, new_york.window.end) == (time(8), time(21))
    assert new_york.per_person_per_24h is None and not new_york.sms_requires_consent
    assert RULES.version.startswith("rules-")


def _rules_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(RULES_DIR, folder)
    return folder


def test_a_broken_rules_file_is_reported_with_file_and_field(tmp_path):
    folder = _rules_copy(tmp_path)
    text = (folder / "fl.yaml").read_text()
    (folder / "fl.yaml").write_text(text.replace('end: "20:00"', 'end: "07:00"')
                                    .replace("per_person_per_24h: 3", "per_person_per_24h: 0"))
    (folder / "ga.yaml").write_text("code: GA\nname: Georgia\nkind: state\nhourz: {}\n"
                                    "sources: [{cite: x}]\n")
    with pytest.raises(RuleConfigError) as raised:
        load_rule_set(folder)
    problems = {(p.file.name, p.field) for p in raised.value.problems}
    assert ("fl.yaml", "hours") in problems
    assert ("fl.yaml", "caps.per_person_per_24h") in problems
    assert ("ga.yaml", "hourz") in problems
    assert "fl.yaml: hours: start 08:00:00 must be before end 07:00:00" in str(raised.value)


def test_a_state_file_must_be_named_after_its_code(tmp_path):
    folder = _rules_copy(tmp_path)
    shutil.copy(folder / "fl.yaml", folder / "ga.yaml")
    with pytest.raises(RuleConfigError, match=r"ga\.yaml: code: a state's file"):
        load_rule_set(folder)


def test_a_new_state_is_configuration(tmp_path):
    """A Georgia file with a narrower window changes decisions for a Georgia area code."""
    folder = _rules_copy(tmp_path)
    (folder / "ga.yaml").write_text(
        "code: GA\nname: Georgia (test)\nkind: state\n"
        "hours: {start: '09:00', end: '19:00', channels: [sms], source: test}\n"
        "sources: [{cite: test}]\n")
    with_georgia = load_rule_set(folder)
    atlanta = "+14045550123"
    instant = at_local(EASTERN, 2026, 6, 10, 8, 30)
    assert window_decision(atlanta, instant, rules=RULES).allowed
    decision = window_decision(atlanta, instant, rules=with_georgia)
    assert not decision.allowed and decision.window.jurisdictions == ("GA",)
    assert with_georgia.version != RULES.version


# ------------------------------------------------------------------------------------------
# The time rule


def test_850_fine_in_eastern_but_not_in_central_is_refused():
    decision = window_decision(PANHANDLE, at_local(EASTERN, 2026, 11, 23, 8, 30), rules=RULES)
    assert not decision.allowed
    by_zone = {local.zone: local for local in decision.local_times}
    assert by_zone["America/New_York"].allowed and by_zone["America/New_York"].local_time \
        == "2026-11-23T08:30-05:00"
    assert not by_zone["America/Chicago"].allowed
    assert by_zone["America/Chicago"].local_time == "2026-11-23T07:30-06:00"


def test_850_fine_in_central_but_not_in_eastern_is_refused():
    decision = window_decision(PANHANDLE, at_local(CENTRAL, 2026, 11, 23, 19, 30), rules=RULES)
    assert not decision.allowed
    assert [(t.zone, t.allowed) for t in decision.local_times] == [
        ("America/Chicago", True), ("America/New_York", False)]


def test_850_inside_the_window_in_both_zones_is_allowed():
    decision = window_decision(PANHANDLE, at_local(EASTERN, 2026, 11, 23, 12, 0), rules=RULES)
    assert decision.allowed and decision.states == ("FL",)
    assert decision.zones == ("America/Chicago", "America/New_York")


def test_florida_area_code_at_2030_is_refused_but_new_york_is_allowed():
    evening = at_local(EASTERN, 2026, 7, 15, 20, 30)
    florida = window_decision(ORLANDO, evening, rules=RULES)
    new_york = window_decision(MANHATTAN, evening, rules=RULES)
    assert not florida.allowed and (florida.window.start, florida.window.end) == (time(8),
                                                                                    time(20))
    assert "Fla. Stat. 501.616(6)(a)" in florida.window.sources
    assert new_york.allowed and new_york.window.end == time(21)


def test_a_florida_mailing_address_applies_florida_hours_to_any_number():
    evening = at_local(EASTERN, 2026, 7, 15, 20, 30)
    assert not window_decision(MANHATTAN, evening, extra_states=["FL"], rules=RULES).allowed


def test_unknown_time_zone_refuses():
    noon = at_local(EASTERN, 2026, 7, 15, 12, 0)
    unknown_name = window_decision(ORLANDO, noon, extra_zones=["Mars/Olympus_Mons"],
                                   rules=RULES)
    assert not unknown_name.allowed and unknown_name.unknown_zones == ("Mars/Olympus_Mons",)
    no_zone = evaluate_window(noon, ["FL"], [], RULES)
    assert not no_zone.allowed and "unknown" in " ".join(no_zone.reasons)


def test_window_end_is_exclusive_and_start_inclusive():
    assert not window_decision(ORLANDO, at_local(EASTERN, 2026, 7, 15, 20, 0), rules=RULES).allowed
    assert window_decision(ORLANDO, at_local(EASTERN, 2026, 7, 15, 8, 0), rules=RULES).allowed
    assert not window_decision(ORLANDO, at_local(EASTERN, 2026, 7, 15, 7, 59),
                               rules=RULES).allowed


def test_invalid_numbers_and_naive_times_are_errors():
    with pytest.raises(InvalidPhoneError):
        window_decision("+1555", datetime(2026, 7, 15, 12, tzinfo=UTC), rules=RULES)
    with pytest.raises(InvalidPhoneError):
        window_decision("+442071838750", datetime(2026, 7, 15, 12, tzinfo=UTC), rules=RULES)
    with pytest.raises(ValueError, match="offset"):
        window_decision(ORLANDO, datetime(2026, 7, 15, 12), rules=RULES)


def test_cli_prints_the_decision_and_rejects_an_invalid_number():
    from pipelines.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["compliance", "window", "--phone", PANHANDLE,
                                 "--at", "2026-11-23T08:30:00-05:00"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["allowed"] is False
    assert {t["zone"] for t in printed["local_times"]} == {"America/Chicago", "America/New_York"}
    assert printed["rule"]["start"] == "08:00" and printed["rule"]["end"] == "20:00"
    bad = runner.invoke(app, ["compliance", "window", "--phone", "+1 407 55",
                              "--at", "2026-11-23T08:30:00-05:00"])
    assert bad.exit_code != 0 and "invalid phone number" in bad.stderr


# Property-based tests. The oracle computes local clocks with dateutil's tz (its own reading
# of the system's tz database), independent of the zoneinfo the rule uses.

TRANSITIONS_UTC = [  # US DST starts / ends, 2026 and 2027, at 07:00 UTC (02:00 Eastern)
    datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC),
    datetime(2027, 3, 14, 7, tzinfo=UTC), datetime(2027, 11, 7, 6, tzinfo=UTC),
    datetime(2026, 3, 8, 8, tzinfo=UTC), datetime(2026, 11, 1, 7, tzinfo=UTC),
]
ANY_INSTANT = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31, 23),
                           timezones=st.just(UTC))
NEAR_TRANSITION = st.builds(lambda base, minutes: base + timedelta(minutes=minutes),
                            st.sampled_from(TRANSITIONS_UTC), st.integers(-60 * 36, 60 * 36))
INSTANTS = st.one_of(ANY_INSTANT, NEAR_TRANSITION)
PHONES = st.sampled_from([PANHANDLE, ORLANDO, MANHATTAN, "+18085550123", "+12085550123",
                          "+12705550123", "+19075550123", "+15415550123"])
EXTRA_ZONES = st.lists(st.sampled_from(["America/Phoenix", "America/Denver", "Pacific/Honolulu",
                                        "America/Puerto_Rico", "America/Indiana/Knox"]),
                       max_size=2)


def _oracle_local(instant: datetime, zone: str) -> time:
    return instant.astimezone(dateutil_tz.gettz(zone)).time().replace(tzinfo=None)


@settings(max_examples=400, deadline=None)
@given(instant=INSTANTS, phone=PHONES, extra_zones=EXTRA_ZONES,
       florida_address=st.booleans())
def test_allowed_iff_every_candidate_zone_is_inside_the_strictest_window(
        instant, phone, extra_zones, florida_address):
    from contacts.phones import area_code_info

    states = ["FL"] if florida_address else []
    decision = window_decision(phone, instant, extra_states=states, extra_zones=extra_zones,
                               rules=RULES)
    info = area_code_info(phone)
    zones = set(info.time_zones) | set(extra_zones)
    in_florida = "FL" in info.states or florida_address
    end = time(20) if in_florida else time(21)
    expected = all(time(8) <= _oracle_local(instant, zone) < end for zone in zones)
    assert decision.allowed == expected
    assert {local.zone for local in decision.local_times} == zones
    for local in decision.local_times:
        shown = datetime.fromisoformat(local.local_time)
        assert shown.time().replace(second=0, microsecond=0) == _oracle_local(
            instant, local.zone).replace(second=0, microsecond=0)


@settings(max_examples=300, deadline=None)
@given(day=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
       phone=st.sampled_from([PANHANDLE, ORLANDO, "+13055550123", "+19045550123"]),
       minute=st.integers(30, 59))
def test_never_allowed_after_2000_florida_local(day, phone, minute):
    """20:30-20:59 on the clock of any zone of a Florida number is refused, on every day of
    2026-2027 including the DST change days."""
    from contacts.phones import area_code_info

    for zone in area_code_info(phone).time_zones:
        instant = datetime.combine(day, time(20, minute), tzinfo=ZoneInfo(zone))
        assert not window_decision(phone, instant, rules=RULES).allowed


@settings(max_examples=200, deadline=None)
@given(day=st.sampled_from([date(2026, 3, 8), date(2026, 11, 1), date(2027, 3, 14),
                            date(2027, 11, 7)]),
       minutes_after_midnight_utc=st.integers(0, 48 * 60))
def test_dst_change_days_shift_the_window_with_the_clock(day, minutes_after_midnight_utc):
    """Around a DST change the allowed UTC span moves by an hour: the decision follows the
    local clock, never a fixed UTC offset."""
    instant = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(
        minutes=minutes_after_midnight_utc)
    decision = window_decision(ORLANDO, instant, rules=RULES)
    local = instant.astimezone(EASTERN)
    assert decision.allowed == (time(8) <= local.time() < time(20))


# ------------------------------------------------------------------------------------------
# The gate (pure)

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 10:00 Eastern, 09:00 Central
ORANGE = MarketPolicy(code="orange_fl", state="FL", sms_policy="consent_required",
                      time_zones=("America/New_York",),
                      email_postal_address="PO Box 4417, Orlando, FL 32802",
                      email_from_address="offers@sunshineporch.example")
COLD = replace(ORANGE, code="cold_ny", state="NY", sms_policy="dnc_scrubbed")
FRESH_SCRUB = ScrubFact(NOW - timedelta(days=1), False, (), date(2026, 11, 10),
                        date(2026, 10, 1))
FL_LIST = (StateListFact("state_fl", date(2026, 10, 1)),)
CONSENT = ConsentFact(1, "sms", "web form", NOW - timedelta(days=10))


def sms_request(phone: str = ORLANDO, market: MarketPolicy = ORANGE, **changes) -> SendRequest:
    request = SendRequest(channel="sms", owner_id=1, contact_id=10, to_address=phone,
                          market=market, planned_at=NOW)
    return replace(request, **changes)


def sms_facts(**changes) -> GateFacts:
    facts = GateFacts(owner_id=1, contact_id=10, loaded_at=NOW, contact_channel="phone",
                      consents=(CONSENT,), latest_scrub=FRESH_SCRUB, state_lists=FL_LIST)
    return replace(facts, **changes)


def email_request(**changes) -> SendRequest:
    request = SendRequest(channel="email", owner_id=1, contact_id=11,
                          to_address="pat@example.com", market=ORANGE, planned_at=NOW,
                          message=OutgoingMessage(has_unsubscribe_link=True,
                                                  has_postal_address=True))
    return replace(request, **changes)


def email_facts(**changes) -> GateFacts:
    return replace(GateFacts(owner_id=1, contact_id=11, loaded_at=NOW, contact_channel="email"),
                   **changes)


def test_a_compliant_sms_is_allowed_with_every_check_passed():
    decision = evaluate_send(sms_request(), sms_facts(), RULES)
    assert decision.allowed, decision.reasons
    codes = {check.code for check in decision.checks}
    assert {"hours", "person_cap_24h", "contact_cap_day", "dnc_listed", "dnc_registry_fresh",
            "dnc_state_list", "consent", "suppressed"} <= codes
    assert decision.rule_set_version == RULES.version
    assert decision.jurisdictions == ("US", "FL", "HOUSE")


def test_outside_hours_refuses_and_850_uses_both_zones():
    early = NOW.replace(hour=13, minute=30)  # 08:30 Eastern, 07:30 Central
    assert evaluate_send(sms_request(planned_at=early), sms_facts(), RULES).allowed
    refused = evaluate_send(sms_request(PANHANDLE, planned_at=early), sms_facts(), RULES)
    assert refused.refusal_codes == ("outside_hours",)
    assert "America/Chicago" in refused.reasons[0].detail


def test_the_window_must_allow_the_latest_instant_a_send_may_go():
    closing = NOW.replace(hour=0, minute=59) + timedelta(days=1)  # 19:59 in Orlando (EST)
    assert evaluate_send(sms_request(planned_at=closing), sms_facts(), RULES).allowed
    in_time = sms_request(planned_at=closing, send_by=closing + timedelta(seconds=50))
    assert evaluate_send(in_time, sms_facts(), RULES).allowed
    late = evaluate_send(sms_request(planned_at=closing, send_by=closing + timedelta(minutes=2)),
                         sms_facts(), RULES)
    assert late.refusal_codes == ("outside_hours",)
    assert late.reasons[0].detail.startswith("the send may go out as late as 01:01:00 UTC")
    assert late.window is not None and not late.window.allowed
    # a `send_by` before the planned instant changes nothing
    earlier = sms_request(planned_at=closing, send_by=closing - timedelta(hours=12))
    assert evaluate_send(earlier, sms_facts(), RULES).allowed


def test_unknown_zone_refuses_the_send():
    decision = evaluate_send(sms_request(extra_zones=("Nowhere/Atlantis",)), sms_facts(), RULES)
    assert "unknown_time_zone" in decision.refusal_codes


def test_three_solicitations_per_person_in_24h_across_numbers():
    other_numbers = [Solicitation(NOW - timedelta(hours=h), contact_id=20 + h, channel="sms")
                     for h in (1, 5, 23)]
    decision = evaluate_send(sms_request(), sms_facts(recent_solicitations=tuple(other_numbers)),
                             RULES)
    assert decision.refusal_codes == ("person_cap_24h",)
    older = [*other_numbers[:2], Solicitation(NOW - timedelta(hours=25), 30, "sms")]
    assert evaluate_send(sms_request(), sms_facts(recent_solicitations=tuple(older)),
                         RULES).allowed
    # New York has no per-person cap: three texts to other numbers do not block a fourth.
    cold = evaluate_send(sms_request(MANHATTAN, market=COLD, planned_at=NOW),
                         sms_facts(recent_solicitations=tuple(other_numbers)), RULES)
    assert "person_cap_24h" not in cold.refusal_codes and cold.allowed


def test_one_message_per_contact_per_day():
    earlier_today = Solicitation(NOW - timedelta(hours=3), contact_id=10, channel="sms")
    refused = evaluate_send(sms_request(), sms_facts(recent_solicitations=(earlier_today,)),
                            RULES)
    assert refused.refusal_codes == ("contact_cap_day",)
    yesterday = Solicitation(NOW - timedelta(hours=20), contact_id=10, channel="sms")
    assert evaluate_send(sms_request(), sms_facts(recent_solicitations=(yesterday,)),
                         RULES).allowed
    later_today = Solicitation(NOW + timedelta(hours=2), contact_id=10, channel="sms")
    assert evaluate_send(sms_request(), sms_facts(recent_solicitations=(later_today,)),
                         RULES).refusal_codes == ("contact_cap_day",)
    # Asking again for the same send (same reference) is not a second message.
    same_send = replace(earlier_today, reference="enr-1:touch-2:sms")
    assert evaluate_send(sms_request(reference="enr-1:touch-2:sms"),
                         sms_facts(recent_solicitations=(same_send,)), RULES).allowed


@pytest.mark.parametrize(("facts_change", "code"), [
    ({"latest_scrub": replace(FRESH_SCRUB, is_listed=True, listed_on=("national",))},
     "dnc_listed"),
    ({"listed_on_now": ("internal",)}, "dnc_listed"),
    ({"listed_on_now": ("state_fl",)}, "dnc_listed"),
    ({"latest_scrub": None}, "dnc_not_scrubbed"),
    ({"latest_scrub": replace(FRESH_SCRUB, national_downloaded_on=None)},
     "dnc_registry_missing"),
    ({"latest_scrub": replace(FRESH_SCRUB, national_downloaded_on=date(2026, 10, 22))},
     "dnc_registry_stale"),
    ({"state_lists": (StateListFact("state_fl", None),)}, "dnc_state_list_missing"),
    ({"state_lists": (StateListFact("state_fl", date(2026, 6, 1)),)}, "dnc_state_list_stale"),
])
def test_do_not_call_refusals(facts_change, code):
    decision = evaluate_send(sms_request(), sms_facts(**facts_change), RULES)
    assert code in decision.refusal_codes and not decision.allowed


def test_registry_copy_of_exactly_31_days_is_fresh_and_32_is_stale():
    on_day = date(2026, 11, 23)
    fresh = replace(FRESH_SCRUB, national_downloaded_on=on_day - timedelta(days=31))
    stale = replace(FRESH_SCRUB, national_downloaded_on=on_day - timedelta(days=32))
    assert evaluate_send(sms_request(), sms_facts(latest_scrub=fresh), RULES).allowed
    assert evaluate_send(sms_request(), sms_facts(latest_scrub=stale),
                         RULES).refusal_codes == ("dnc_registry_stale",)


def test_consent_required_without_consent_refuses():
    decision = evaluate_send(sms_request(), sms_facts(consents=()), RULES)
    assert decision.refusal_codes == ("no_consent",)
    revoked = replace(CONSENT, revoked_at=NOW - timedelta(days=1))
    assert evaluate_send(sms_request(), sms_facts(consents=(revoked,)),
                         RULES).refusal_codes == ("no_consent",)
    email_only = replace(CONSENT, channel="email")
    assert not evaluate_send(sms_request(), sms_facts(consents=(email_only,)), RULES).allowed


def test_dnc_scrubbed_market_texts_cold_only_outside_florida_and_with_a_clean_scrub():
    assert evaluate_send(sms_request(MANHATTAN, market=COLD), sms_facts(consents=()),
                         RULES).allowed
    assert evaluate_send(sms_request(MANHATTAN, market=COLD),
                         sms_facts(consents=(), latest_scrub=None),
                         RULES).refusal_codes == ("dnc_not_scrubbed",)
    # A Florida number brings the FTSA's consent rule, whatever the market's policy.
    florida = evaluate_send(sms_request(ORLANDO, market=COLD), sms_facts(consents=()), RULES)
    assert florida.refusal_codes == ("no_consent",)


def test_an_opt_out_refuses_even_with_consent():
    opt_out = SuppressionFact(7, "person", "all", "opt_out", NOW - timedelta(minutes=5))
    decision = evaluate_send(sms_request(), sms_facts(suppressions=(opt_out,)), RULES)
    assert decision.refusal_codes == ("suppressed",)
    later = replace(opt_out, created_at=NOW + timedelta(hours=1))
    assert not evaluate_send(sms_request(), sms_facts(suppressions=(later,)), RULES).allowed
    email_only = replace(opt_out, channel="email")
    assert evaluate_send(sms_request(), sms_facts(suppressions=(email_only,)), RULES).allowed


def test_email_needs_postal_address_and_unsubscribe_link():
    assert evaluate_send(email_request(), email_facts(), RULES).allowed
    no_market_address = replace(ORANGE, email_postal_address=None)
    assert evaluate_send(email_request(market=no_market_address), email_facts(),
                         RULES).refusal_codes == ("email_no_postal_address",)
    bare = email_request(message=OutgoingMessage())
    assert set(evaluate_send(bare, email_facts(), RULES).refusal_codes) == {
        "email_no_postal_address", "email_no_unsubscribe_link"}


def test_every_failing_rule_is_a_reason_and_every_code_is_documented():
    facts = sms_facts(consents=(), latest_scrub=None,
                      suppressions=(SuppressionFact(1, "contact", "sms", "opt_out", NOW),))
    decision = evaluate_send(sms_request(PANHANDLE, planned_at=NOW.replace(hour=2)), facts,
                             RULES)
    assert set(decision.refusal_codes) == {"suppressed", "outside_hours", "dnc_not_scrubbed",
                                           "no_consent"}
    assert set(decision.refusal_codes) <= set(REFUSAL_CODES)


def test_mismatched_facts_or_channel_refuse():
    assert "facts_mismatch" in evaluate_send(sms_request(), sms_facts(contact_id=99),
                                             RULES).refusal_codes
    assert "channel_mismatch" in evaluate_send(sms_request(), email_facts(contact_id=10),
                                               RULES).refusal_codes
    assert "channel_mismatch" in evaluate_send(sms_request(channel="voice"), sms_facts(),
                                               RULES).refusal_codes
    assert "contact_unusable" in evaluate_send(
        sms_request(), sms_facts(contact_is_wrong_number=True), RULES).refusal_codes


# ------------------------------------------------------------------------------------------
# The ledger side


@pytest.fixture
def sqlite_ledger(tmp_path, pii_keys) -> Engine:
    engine = ledger_engine(f"sqlite:///{tmp_path / 'outreach.db'}")
    upgrade_ledger(engine)
    return engine


def _owner_with_phones(engine: Engine, phones: list[str]) -> tuple[int, list[int]]:
    keyring = pii.current_keyring()
    with ledger_session(engine) as session:
        owner = Owner(market_code="orange_fl", owner_key=f"PAT|{uuid.uuid4().hex}",
                      owner_name="PAT OWNER")
        session.add(owner)
        session.flush()
        contacts = [Contact(owner_id=owner.owner_id, channel="phone", value=phone,
                            value_hash=keyring.lookup_hash("phone", phone),
                            value_hint=pii.mask_phone(phone), is_valid=True, confidence=0.9)
                    for phone in phones]
        session.add_all(contacts)
        session.flush()
        return owner.owner_id, [contact.contact_id for contact in contacts]


def _load_lists(engine: Engine, listed: list[str], today: date) -> None:
    with ledger_session(engine) as session:
        load_dnc_list(session, DncListLoad(kind="national", source_file="national.txt",
                                           file_sha256="a" * 64, downloaded_on=today,
                                           downloaded_on_basis="argument",
                                           numbers_added=listed))
        load_dnc_list(session, DncListLoad(kind="state", state="FL", source_file="fl.txt",
                                           file_sha256="b" * 64, downloaded_on=today,
                                           downloaded_on_basis="argument", numbers_added=[]))


def _gate_round(engine: Engine, owner_id: int, contact_id: int, phone: str, at: datetime,
                reference: str | None = None) -> bool:
    with ledger_session(engine) as session:
        facts = load_gate_facts(session, owner_id, contact_id, at, rules=RULES)
        request = SendRequest(channel="sms", owner_id=owner_id, contact_id=contact_id,
                              to_address=phone, market=ORANGE, planned_at=at,
                              reference=reference)
        decision = evaluate_send(request, facts, RULES)
        record_decision(session, request, decision)
        return decision.allowed


def _exercise_ledger(engine: Engine) -> None:
    phones = ["+14075550101", "+14075550102", "+14075550103", "+14075550104"]
    owner_id, contact_ids = _owner_with_phones(engine, phones)
    morning = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 09:00 Eastern
    _load_lists(engine, listed=[phones[3]], today=morning.date() - timedelta(days=3))
    with ledger_session(engine) as session:
        for contact_id in contact_ids:
            scrub_contact(session, session.get(Contact, contact_id), morning.date())
        for contact_id in contact_ids[:3]:
            record_consent(session, contact_id, "sms", "web form /sell", "Yes, text me offers",
                           morning - timedelta(days=2))

    # Not yet consented number is refused; the listed one too; nothing counted for them.
    assert _gate_round(engine, owner_id, contact_ids[0], phones[0], morning, "e1:t1:sms")
    # Same send asked again: not a second solicitation.
    assert _gate_round(engine, owner_id, contact_ids[0], phones[0],
                       morning + timedelta(minutes=1), "e1:t1:sms")
    assert not _gate_round(engine, owner_id, contact_ids[0], phones[0],
                           morning + timedelta(hours=1), "e1:t2:sms")  # 1 per contact per day
    assert _gate_round(engine, owner_id, contact_ids[1], phones[1], morning + timedelta(hours=2))
    assert _gate_round(engine, owner_id, contact_ids[2], phones[2], morning + timedelta(hours=3))
    with ledger_session(engine) as session:
        facts = load_gate_facts(session, owner_id, contact_ids[3], morning, rules=RULES)
        assert facts.listed_on_now == ("national",) and facts.latest_scrub.is_listed
        assert facts.state_lists[0].downloaded_on is not None
    # A fourth number of the same person within 24 h: refused by Florida's cap (and DNC).
    with ledger_session(engine) as session:
        facts = load_gate_facts(session, owner_id, contact_ids[3],
                                morning + timedelta(hours=4), rules=RULES)
        request = SendRequest(channel="sms", owner_id=owner_id, contact_id=contact_ids[3],
                              to_address=phones[3], market=ORANGE,
                              planned_at=morning + timedelta(hours=4))
        decision = evaluate_send(request, facts, RULES)
        assert {"person_cap_24h", "dnc_listed", "no_consent"} <= set(decision.refusal_codes)
        record_decision(session, request, decision)
    # The next day the first number may be texted again, until the person opts out.
    next_day = morning + timedelta(days=1, hours=4)
    with ledger_session(engine) as session:
        facts = load_gate_facts(session, owner_id, contact_ids[0], next_day, rules=RULES)
        assert len(facts.recent_solicitations) == 3  # e1:t1 once, contacts 2 and 3
    assert _gate_round(engine, owner_id, contact_ids[0], phones[0], next_day)
    with ledger_session(engine) as session:
        record_suppression(session, "all", "opt_out", owner_id=owner_id,
                           contact_id=contact_ids[1], detail="STOP")
    for contact_id, phone in zip(contact_ids[:3], phones[:3], strict=True):
        assert not _gate_round(engine, owner_id, contact_id, phone,
                               next_day + timedelta(days=2))
    with ledger_session(engine) as session:
        facts = load_gate_facts(session, owner_id, contact_ids[1], next_day, rules=RULES)
        assert all(consent.revoked_at is not None for consent in facts.consents)
        rows = list(session.scalars(select(ComplianceDecision)
                                    .order_by(ComplianceDecision.compliance_decision_id)))
    assert [row.is_allowed for row in rows] == [True, True, False, True, True, False, True,
                                                False, False, False]
    assert rows[2].refusal_codes == "contact_cap_day"
    assert all(row.rule_set_version == RULES.version for row in rows)
    assert rows[-1].refusal_codes == "suppressed"
    assert {reason["code"] for reason in rows[0].reasons} >= {"hours", "consent"}
    assert rows[0].planned_at == morning and rows[0].market_code == "orange_fl"


def test_facts_from_the_ledger_and_decisions_recorded_on_sqlite(sqlite_ledger):
    _exercise_ledger(sqlite_ledger)


def test_a_number_suppressed_under_one_owner_is_suppressed_under_another(sqlite_ledger):
    first_owner, (first_contact,) = _owner_with_phones(sqlite_ledger, [ORLANDO])
    second_owner, (second_contact,) = _owner_with_phones(sqlite_ledger, [ORLANDO])
    with ledger_session(sqlite_ledger) as session:
        record_suppression(session, "sms", "opt_out", contact_id=first_contact, detail="STOP")
        facts = load_gate_facts(session, second_owner, second_contact, NOW, rules=RULES)
    assert [(s.scope, s.reason) for s in facts.suppressions] == [("contact", "opt_out")]
    assert evaluate_send(sms_request(owner_id=second_owner, contact_id=second_contact),
                         facts, RULES).refusal_codes[0] == "suppressed"
    with ledger_session(sqlite_ledger) as session:
        history = DecisionHistory().solicitations(session, first_owner, NOW - timedelta(days=1),
                                                  NOW)
    assert history == []


@pytest.mark.postgres
def test_facts_from_the_ledger_and_decisions_recorded_on_postgresql(pii_keys, postgres_ledger):
    _exercise_ledger(postgres_ledger)
