"""Phone validation rules (contacts.phones): formats, extensions, reasons, the fictional 555-01xx
range under production and demo rules, and area-code states and time zones."""

import pytest

from contacts.phones import (
    DEMO,
    REASONS,
    STRICT,
    PhoneValidator,
    area_code_info,
    area_code_of,
    check_phone,
    is_fictional_555,
)

REAL_LOOKING = "+1 407 234 5678"  # a valid Orlando number outside the fictional range


@pytest.mark.parametrize("raw", ["(407) 555-0123", "407.555.0123", "+1 407-555-0123",
                                 "4075550123", "1-407-555-0123", "407-555-0123"])
def test_formats_normalise_to_one_e164_under_demo_rules(raw):
    check = check_phone(raw, DEMO)
    assert check.ok, check.reason
    assert check.e164 == "+14075550123"
    assert check.fictional
    assert check.extension is None
    assert check.area_code == "407"


def test_extension_is_split_off_and_reported():
    check = check_phone("1-407-555-0123 x12", DEMO)
    assert check.ok and check.e164 == "+14075550123" and check.extension == "12"
    assert check_phone("407-555-0123 ext. 45", DEMO).extension == "45"


def test_fictional_range_is_valid_for_phonenumbers_but_rejected_in_production():
    # phonenumbers itself accepts it: our own rule decides.
    import phonenumbers
    number = phonenumbers.parse("+14075550123")
    assert phonenumbers.is_valid_number(number)
    strict = check_phone("(407) 555-0123", STRICT)
    assert not strict.ok
    assert strict.reason_code == "fictional_555"
    assert "fiction" in strict.reason
    assert strict.e164 == "+14075550123"  # still reported, for the rejects file


def test_fictional_range_edges():
    assert is_fictional_555("+14075550100") and is_fictional_555("+14075550199")
    assert not is_fictional_555("+14075550200") and not is_fictional_555("+14075550099")
    assert check_phone("407-555-0200", STRICT).ok  # outside 0100..0199: a normal number
    assert check_phone("407-555-0200", STRICT).reason_code is None


def test_real_looking_number_passes_both_rule_sets_with_a_type():
    for rules in (STRICT, DEMO):
        check = check_phone(REAL_LOOKING, rules)
        assert check.ok and check.e164 == "+14072345678" and not check.fictional
        assert check.number_type == "fixed_line_or_mobile"
        assert check.region == "US"


@pytest.mark.parametrize(("raw", "code"), [
    ("", "empty"),
    ("   ", "empty"),
    ("N/A", "not_a_number"),
    ("call the office", "not_a_number"),
    ("555-0123", "missing_area_code"),
    ("5550123", "missing_area_code"),
    ("407-555", "too_short"),
    ("40755501234567", "too_long"),
    ("123-456-7890", "invalid_number"),
    ("000-000-0000", "invalid_number"),
    ("+44 20 7946 0958", "region_not_allowed"),
    ("+1 800 234 5678", "not_a_personal_line"),
])
def test_rejections_have_a_code_and_a_sentence(raw, code):
    check = check_phone(raw, DEMO)
    assert not check.ok
    assert check.reason_code == code
    assert check.reason and REASONS[code] in check.reason


def test_validator_caches_each_distinct_string():
    validator = PhoneValidator(DEMO)
    first = validator.check("(407) 555-0123")
    assert validator.check("(407) 555-0123") is first
    validator.check("407.555.0123")
    assert validator.distinct_checked == 2


def test_area_code_helpers():
    assert area_code_of("+18505550100") == "850"
    assert area_code_of("+442079460958") is None
    info = area_code_info("850")
    assert info.states == ("FL",)
    assert set(info.time_zones) == {"America/Chicago", "America/New_York"}
    assert area_code_info("+14075550123").time_zones == ("America/New_York",)
    assert "Orlando, FL" in area_code_info("407").regions
    with pytest.raises(ValueError):
        area_code_info("123")
