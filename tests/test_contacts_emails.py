"""Email checks (contacts.emails) against the DNS server on loopback (contacts.local_dns):
syntax, normalisation, MX, null MX, A fallback, no records, NXDOMAIN, timeout, caching."""

import pytest

from contacts.emails import DomainChecker, EmailValidator, check_email
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
