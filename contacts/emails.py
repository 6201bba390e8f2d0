"""Email addresses: syntax and normalisation, then a DNS check of the domain's mail routing.

Step 1, ``email-validator`` with deliverability off: syntax (RFC 5322 / 6531), internationalised
domains (IDNA), normalisation (domain lower-cased and IDNA-normalised; the local part kept as
written, since mailboxes may be case-sensitive). Its special-use domains (``test``, ``local``,
``invalid``, ...) are rejected; the reserved example domains (``example.com`` and friends) are
not, which is what the sample data uses.

Step 2, our own DNS check through ``dnspython`` (``DomainChecker``), cached per domain:

======================  =======  ==========================================================
domain status           sendable meaning
======================  =======  ==========================================================
``mx``                  yes      one or more MX hosts
``a_fallback``          yes      no MX records but an A or AAAA record (RFC 5321 §5.1)
``null_mx``             no       a single MX "." of preference 0 (RFC 7505): accepts no mail
``no_mail_records``     no       the name exists but has no MX, A or AAAA record
``nxdomain``            no       the domain does not exist
``timeout``             no       no answer in time (not cached: asked again next time)
``dns_error``           no       SERVFAIL, refused, or no nameserver answered
``not_checked``         yes      no DNS check was asked for (syntax only)
======================  =======  ==========================================================

Speed. ``check_email`` first asks ``plain_email``, a fast path for *plainly simple* addresses
(ASCII, at most 254 characters, a dot-atom local part of at most 64 characters before the first
``@``; or no ``@`` at all; or nothing before it). For those ``email-validator``'s verdict
depends only on the text after the ``@``, so that verdict (valid with its normalised domain, or
its error message) is asked of ``email-validator`` once per distinct domain text and reused;
the address is normalised as ``email-validator`` does it (the local part kept, the RFC 2142
role names such as ``info`` lower-cased). Anything else goes through ``email-validator`` in
full. Either way results and rejection messages are ``email-validator``'s own:
tests/test_contacts_emails.py compares both paths on many generated and tricky addresses.

The resolver is injectable: ``resolver_for("127.0.0.1", port)`` builds a ``dns.resolver
.Resolver`` that asks only that server (``contacts.local_dns`` runs one on loopback), so tests
and the demo never touch the internet.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

SENDABLE_STATUSES = frozenset({"mx", "a_fallback", "not_checked"})

REASONS: dict[str, str] = {
    "empty": "No email address was given.",
    "invalid_syntax": "The address is not a valid email address.",
    "null_mx": "The domain says it accepts no email (null MX, RFC 7505).",
    "no_mail_records": "The domain has no MX, A or AAAA record, so no server takes its mail.",
    "nxdomain": "The domain does not exist.",
    "timeout": "The DNS lookup of the domain timed out.",
    "dns_error": "The DNS lookup of the domain failed.",
}
"""Every rejection reason code and its human sentence."""


@dataclass(frozen=True, slots=True)
class DomainResult:
    """The mail routing of one domain: its status and, for ``mx``, the hosts by preference."""

    domain: str
    status: str
    mx_hosts: tuple[str, ...] = ()
    detail: str = ""

    @property
    def sendable(self) -> bool:
        return self.status in SENDABLE_STATUSES


@dataclass(frozen=True, slots=True)
class EmailCheck:
    """The outcome of checking one raw email string.

    ``ok``: syntax is valid and the domain status is sendable. ``normalized`` is set whenever
    the syntax is valid. ``reason_code`` / ``reason`` explain a rejection (``REASONS``).
    """

    raw: str
    ok: bool
    syntax_ok: bool
    normalized: str | None = None
    domain: str | None = None
    domain_status: str | None = None
    mx_hosts: tuple[str, ...] = ()
    reason_code: str | None = None
    reason: str | None = None


def resolver_for(nameserver: str, port: int = 53, timeout: float = 2.0) -> dns.resolver.Resolver:
    """A resolver that asks only ``nameserver:port`` (no /etc/resolv.conf), with a lifetime of
    ``timeout`` seconds per query."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [nameserver]
    resolver.port = port
    resolver.timeout = timeout
    resolver.lifetime = timeout
    resolver.retry_servfail = False
    return resolver


class DomainChecker:
    """Looks up each domain's mail routing once and caches it (thread-safe).

    ``resolver``: any ``dns.resolver.Resolver``; the default asks the system's resolvers.
    Timeouts are not cached, every other outcome is, for the life of the checker.
    """

    def __init__(self, resolver: dns.resolver.Resolver | None = None,
                 timeout: float = 3.0) -> None:
        if resolver is None:
            resolver = dns.resolver.Resolver()
            resolver.timeout = timeout
            resolver.lifetime = timeout
        self.resolver = resolver
        self._cache: dict[str, DomainResult] = {}
        self._lock = threading.Lock()
        self.lookups = 0

    def check(self, domain: str) -> DomainResult:
        key = domain.lower().rstrip(".")
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = self._lookup(key)
        if result.status != "timeout":
            with self._lock:
                self._cache[key] = result
        return result

    def _resolve(self, domain: str, rdtype: str) -> dns.resolver.Answer | None:
        """The answer, or None when the name exists without records of this type."""
        self.lookups += 1
        try:
            return self.resolver.resolve(domain, rdtype, search=False)
        except dns.resolver.NoAnswer:
            return None

    def _lookup(self, domain: str) -> DomainResult:
        try:
            answer = self._resolve(domain, "MX")
            if answer is not None:
                records = sorted(answer, key=lambda r: (r.preference, str(r.exchange)))
                hosts = [r for r in records if r.exchange != dns.name.root]
                if not hosts:  # only "." records: RFC 7505 null MX
                    return DomainResult(domain, "null_mx", detail="MX 0 .")
                return DomainResult(domain, "mx",
                                    tuple(str(r.exchange).rstrip(".") for r in hosts))
            for rdtype in ("A", "AAAA"):
                if self._resolve(domain, rdtype) is not None:
                    return DomainResult(domain, "a_fallback", detail=f"no MX; {rdtype} found")
            return DomainResult(domain, "no_mail_records")
        except dns.resolver.NXDOMAIN:
            return DomainResult(domain, "nxdomain")
        except dns.exception.Timeout as error:
            return DomainResult(domain, "timeout", detail=str(error))
        except (dns.resolver.NoNameservers, dns.exception.DNSException) as error:
            return DomainResult(domain, "dns_error", detail=str(error))


# RFC 5322 dot-atom over the ASCII atext set (what email-validator's DOT_ATOM_TEXT accepts),
# then the first "@" and whatever follows it.
_ATEXT = r"A-Za-z0-9_!#$%&'*+\-/=?^`{|}~"
_PLAIN_LOCAL = re.compile(rf"([{_ATEXT}]+(?:\.[{_ATEXT}]+)*)@(.*)", re.DOTALL)
_ROLE_MAILBOXES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
_MAX_LOCAL = 64  # email-validator checks this only in strict mode: never reach it here
_MAX_ADDRESS = 254
_NO_AT_SIGN = "An email address must have an @-sign."
_NOTHING_BEFORE_AT = "There must be something before the @-sign."


@lru_cache(maxsize=65536)
def _domain_verdict(domain: str) -> tuple[str, str] | str | None:
    """What ``email-validator`` says about an address with a plain local part and this text
    after its first ``@``, asked once through a minimal address: (normalised domain, ASCII
    domain) when valid, else its error message, or None for a length error (those depend on
    the whole address)."""
    try:
        valid = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError as error:
        message = str(error)
        return None if message.startswith("The email address is too long") else message
    return valid.domain, valid.ascii_domain


def plain_email(text: str) -> tuple[str, str] | str | None:
    """``email-validator``'s verdict on a plainly simple address without running it in full:
    (normalised address, ASCII domain) when valid, the message of the error it raises when not,
    or None when the address is not plainly simple (the caller then runs ``email-validator``).

    Plainly simple: ASCII, at most 254 characters, and either no ``@``, ``"`` or ``<`` at all,
    or starting with ``@``, or a dot-atom local part of at most 64 characters before the first
    ``@``. With such a local part ``email-validator`` accepts the local part and then judges
    the rest alone (its length checks aside), so its verdict on the rest is asked once and
    reused (``_domain_verdict``). ``text`` is already stripped."""
    if len(text) > _MAX_ADDRESS or not text.isascii():
        return None
    match = _PLAIN_LOCAL.fullmatch(text)
    if match is None:
        if "@" not in text:
            return _NO_AT_SIGN if '"' not in text and "<" not in text else None
        return _NOTHING_BEFORE_AT if text.startswith("@") else None
    local, domain = match.groups()
    if len(local) > _MAX_LOCAL:
        return None
    verdict = _domain_verdict(domain)
    if verdict is None or isinstance(verdict, str):
        return verdict
    normalized_domain, ascii_domain = verdict
    if normalized_domain != ascii_domain or len(local) + 1 + len(ascii_domain) > _MAX_ADDRESS:
        return None  # an IDNA domain or a longer normal form: leave it to email-validator
    if local.lower() in _ROLE_MAILBOXES:
        local = local.lower()
    return f"{local}@{ascii_domain}", ascii_domain


def check_email(raw: str | None, checker: DomainChecker | None = None) -> EmailCheck:
    """Check one raw email string: syntax always, the domain too when a checker is given."""
    text = (raw or "").strip()
    if not text:
        return EmailCheck(raw=raw or "", ok=False, syntax_ok=False, reason_code="empty",
                          reason=REASONS["empty"])
    plain = plain_email(text)
    if plain is None:
        try:
            valid = validate_email(text, check_deliverability=False)
        except EmailNotValidError as error:
            plain = str(error)
        else:
            plain = valid.normalized, valid.ascii_domain
    if isinstance(plain, str):
        return EmailCheck(raw=text, ok=False, syntax_ok=False, reason_code="invalid_syntax",
                          reason=f"{text!r}: {REASONS['invalid_syntax']} {plain}")
    normalized, domain = plain
    if checker is None:
        return EmailCheck(raw=text, ok=True, syntax_ok=True, normalized=normalized,
                          domain=domain, domain_status="not_checked")
    result = checker.check(domain)
    if result.sendable:
        return EmailCheck(raw=text, ok=True, syntax_ok=True, normalized=normalized,
                          domain=domain, domain_status=result.status, mx_hosts=result.mx_hosts)
    return EmailCheck(raw=text, ok=False, syntax_ok=True, normalized=normalized,
                      domain=domain, domain_status=result.status, reason_code=result.status,
                      reason=f"{text!r}: {REASONS[result.status]}")


class EmailValidator:
    """``check_email`` with a cache per distinct raw string (and the checker's per domain)."""

    def __init__(self, checker: DomainChecker | None = None) -> None:
        self.checker = checker
        self._cache: dict[str, EmailCheck] = {}

    def check(self, raw: str | None) -> EmailCheck:
        key = raw or ""
        found = self._cache.get(key)
        if found is None:
            found = check_email(key, self.checker)
            if found.domain_status != "timeout":
                self._cache[key] = found
        return found
