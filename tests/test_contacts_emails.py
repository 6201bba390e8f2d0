"""Email checks (contacts.emails) against the DNS server on loopback (contacts.local_dns):
syntax, normalisation, MX, null MX, A fallback, no records, NXDOMAIN, timeout, caching."""

import random

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from contacts.emails import REASONS, DomainChecker, EmailValidator, check_email, plain_email
from contacts.local_dns import LocalDnsServer, ZoneRecord


@pytest.fixture(scope="module")
def dns_server():
    with LocalDnsServer(slow_seconds=1.0) as server:
        yield server


@pytest.fixture
def checker(dns_server):
    return DomainChecker(dns_server.resolver(timeout=0.3))


def test_syntax_and_normalisation_without_dns():
    check = check_email("  Jane.Doe@EXAMPLE.com ")
    assert check.ok and check.syntax_ok
    assert check.normalized == "Jane.Doe@example.com"
    assert check.domain_status == "not_checked"
    for bad in ("jane at example.com", "jane@@example.com", "jane@example", "@example.com"):
        result = check_email(bad)
        assert not result.ok and not result.syntax_ok
        assert result.reason_code == "invalid_syntax"
        assert bad in result.reason
    assert check_email("").reason_code == "empty"
    assert check_email("jane@host.test").reason_code == "invalid_syntax"  # special-use domain


@pytest.mark.parametrize(("address", "status", "ok"), [
    ("a@example.com", "mx", True),
    ("a@example.net", "mx", True),
    ("a@example.org", "a_fallback", True),
    ("a@nomail.example.net", "null_mx", False),
    ("a@parked.example.org", "no_mail_records", False),
    ("a@gone.example.com", "nxdomain", False),
])
def test_domain_status_through_loopback_dns(checker, address, status, ok):
    check = check_email(address, checker)
    assert check.syntax_ok
    assert check.domain_status == status
    assert check.ok is ok
    if not ok:
        assert check.reason_code == status and address in check.reason


def test_mx_hosts_are_ordered_by_preference(checker):
    assert checker.check("example.com").mx_hosts == ("mx1.example.com", "mx2.example.com")


def test_timeout_is_reported_and_not_cached(checker, dns_server):
    check = check_email("a@slow.example.com", checker)
    assert not check.ok and check.domain_status == "timeout"
    before = checker.lookups
    checker.check("slow.example.com")
    assert checker.lookups > before  # asked again, not served from the cache


def test_results_are_cached_per_domain(checker, dns_server):
    validator = EmailValidator(checker)
    validator.check("a@example.net")
    queries = dns_server.queries
    for user in ("b", "c", "d"):
        assert validator.check(f"{user}@example.net").ok
    assert dns_server.queries == queries


def test_custom_zone_and_null_mx_among_others():
    zone = {"shop.example.com": (ZoneRecord("MX", "0 ."),),
            "v6.example.com": (ZoneRecord("AAAA", "2001:db8::1"),)}
    with LocalDnsServer(zone) as server:
        checker = DomainChecker(server.resolver(timeout=0.5))
        assert checker.check("shop.example.com").status == "null_mx"
        assert checker.check("v6.example.com").status == "a_fallback"
        assert checker.check("example.com").status == "nxdomain"  # outside this zone


# --------------------------------------------------------------------------------------------
# The fast path for plainly simple addresses gives email-validator's answers exactly.

_ATEXT_CHARS = "abcxyzABCXYZ0189_!#$%&'*+-/=?^`{|}~"
_TRICKY_CHARS = ' "(),:;<>@[\\]é\u00a0\u200bＡ\t'
_TRICKY_ADDRESSES = [
    "Jane.Doe@EXAMPLE.com", "INFO@example.com", "Info@Example.COM", "sales@x.org",
    "PostMaster@example.net", "infos@example.com", "www@example.com", "a@b.c", "a@b.c1",
    "a@1.2.3.4", "a@[1.2.3.4]", "a@example", "a@example.local", "a@foo.invalid", "a@home.arpa",
    "a@x.test", "a@test", "a@localhost", "a@x.onion", "a@-example.com", "a@example-.com",
    "a@ex--ample.com", "a@xn--bcher-kva.example", "a@XN--BCHER-KVA.com", "a@xn--abc.com",
    "a@xn--.com", "a@example..com", "a@.example.com", "a@example.com.", ".a@example.com",
    "a.@example.com", "a..b@example.com", "a@b@example.com", '"a b"@example.com',
    '"ab"@example.com', "a b@example.com", "a@exa mple.com", "Jane <jane@example.com>",
    "<jane@example.com>", "ä@example.com", "a@exämple.com", "a@EXAMPLE.COM",
    "#!$%&'*+-/=?^_`{|}~@example.com", "a{b}|c@example.com", "@example.com", "a@", "a",
    "x" * 64 + "@example.com", "x" * 65 + "@example.com",
    "a@" + "b" * 63 + ".com", "a@" + "b" * 64 + ".com",
    "a@" + ".".join(["c" * 61] * 4) + ".com", "x" * 60 + "@" + ".".join(["d" * 63] * 3) + ".co",
    "x" * 64 + "@" + ".".join(["d" * 60] * 3) + ".com",
    "a@example.com\u0301", "a\u0301@example.com", "a@ex_ample.com", "a@example.c-m",
    "A@example.com", "a@example.co-", "a@e.x.a.m.p.l.e.com",
    "jane at example.com", "jane@@example.com", "jane@example..com", "jane", "jane<x",
    'jane"x', "@", "@@", "@example", "jane@<x>", "jane@a@b.com", "jane@exa\nmple.com",
    "Jane Doe <jane@example.com>", "jane@" + "e" * 250 + ".com", "a@" + "b" * 252,
    "jane@example.com.", "jane@[IPv6:::1]", "jane@example.com>",
]


def _reference(text: str) -> tuple:
    """email-validator alone, as check_email used it before the fast path."""
    text = text.strip()
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        return ("rejected", f"{text!r}: {REASONS['invalid_syntax']} {error}")
    return ("valid", valid.normalized, valid.ascii_domain)


def _ours(text: str) -> tuple:
    check = check_email(text)
    if check.ok:
        return ("valid", check.normalized, check.domain)
    return ("rejected", check.reason)


def _generated_addresses(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        if rng.random() < 0.4:  # a plausible address: the fast path's bread and butter
            words = ["".join(rng.choice(_ATEXT_CHARS) for _ in range(rng.randint(1, 9)))
                     for _ in range(rng.randint(1, 3))]
            host = ".".join("".join(rng.choice("abcdefXYZ0123-") for _ in range(rng.randint(1, 9)))
                            for _ in range(rng.randint(1, 3)))
            out.append(f"{'.'.join(words)}@{host}.{rng.choice(('com', 'ORG', 'net', 'io'))}")
            continue
        local_alphabet = _ATEXT_CHARS + ("." * 4) + (_TRICKY_CHARS if rng.random() < 0.2 else "")
        local = "".join(rng.choice(local_alphabet) for _ in range(rng.choice((1, 3, 8, 20, 70))))
        if rng.random() < 0.1:
            local = rng.choice(("info", "INFO", "Sales", "abuse", "NOC", "ftp")) + (
                "" if rng.random() < 0.7 else "1")
        labels = []
        for _ in range(rng.choice((1, 2, 2, 3, 4))):
            label_alphabet = "abcXYZ019-" + ("é_ " if rng.random() < 0.05 else "")
            labels.append("".join(rng.choice(label_alphabet)
                                  for _ in range(rng.choice((0, 1, 2, 5, 12, 64)))))
        if rng.random() < 0.2:
            labels[-1] = rng.choice(("com", "NET", "org", "local", "test", "invalid", "arpa",
                                     "123", "xn--bcher-kva", "onion", "example"))
        if rng.random() < 0.05:
            labels.insert(0, "xn--" + labels[0])
        out.append(f"{local}@{'.'.join(labels)}")
    return out


def _fast(text: str) -> tuple | None:
    """The fast path's answer in _reference's shape, or None when it leaves the address."""
    fast = plain_email(text.strip())
    if fast is None:
        return None
    if isinstance(fast, str):
        return ("rejected", f"{text.strip()!r}: {REASONS['invalid_syntax']} {fast}")
    return ("valid", *fast)


def test_fast_path_matches_email_validator_on_tricky_addresses():
    answered = {"valid": 0, "rejected": 0}
    for text in _TRICKY_ADDRESSES:
        expected = _reference(text)
        assert _ours(text) == expected, text
        fast = _fast(text)
        if fast is not None:
            answered[fast[0]] += 1
            assert fast == expected, text
    assert answered["valid"] >= 10 and answered["rejected"] >= 10  # it does answer both


def test_fast_path_matches_email_validator_on_generated_addresses():
    addresses = _generated_addresses(20_000)
    seen = {"valid": 0, "rejected": 0}
    answered = {"valid": 0, "rejected": 0}
    for text in addresses:
        expected = _reference(text)
        seen[expected[0]] += 1
        assert _ours(text) == expected, text
        fast = _fast(text)
        if fast is not None:
            answered[fast[0]] += 1
            assert fast == expected, text
    # both outcomes well represented, and the fast path answers most of each
    assert seen["valid"] > 2_000 and answered["valid"] > 0.9 * seen["valid"]
    assert seen["rejected"] > 2_000 and answered["rejected"] > 0.5 * seen["rejected"]


@settings(max_examples=1500, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9_!#$%&'*+/=?^`{|}~.\-\" é]{1,70}@[A-Za-z0-9.\-_é]{1,80}",
                     fullmatch=True))
def test_fast_path_matches_email_validator_property(text):
    assert _ours(text) == _reference(text)


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet="ab.-_@\"<> é[]()\\x", max_size=30))
def test_fast_path_matches_email_validator_on_any_text(text):
    if text.strip():
        assert _ours(text) == _reference(text)
