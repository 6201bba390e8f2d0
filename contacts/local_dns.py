"""A small static DNS server on loopback, for tests and the demo (built on ``dnslib``'s server).

``LocalDnsServer(zone)`` answers UDP queries on 127.0.0.1 at a free port from a static zone and
NXDOMAIN for every name outside it; use it as a context manager and point a resolver at it:

    with LocalDnsServer() as server:
        checker = DomainChecker(server.resolver())

``SAMPLE_ZONE`` (the default) covers the reserved example domains the sample data uses:

=========================  ================================  ===============================
name                       records                           email domain status
=========================  ================================  ===============================
example.com                MX 10 mx1, MX 20 mx2 (+ their A)  mx
example.net                MX 10 mail.example.net            mx
mail.example.com           MX 10 mx1.example.com             mx
example.org                A 192.0.2.10 only                 a_fallback
nomail.example.net         MX 0 "." (RFC 7505 null MX)       null_mx
parked.example.org         TXT only                          no_mail_records
slow.example.com           answers after ``slow_seconds``    timeout (with a short timeout)
anything else              NXDOMAIN                          nxdomain
=========================  ================================  ===============================

Addresses are from TEST-NET-1 (192.0.2.0/24) and 2001:db8::/32, reserved for documentation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

import dns.resolver
from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from contacts.emails import resolver_for


@dataclass(frozen=True)
class ZoneRecord:
    """One record: type ("A", "AAAA", "MX", "TXT", "CNAME") and its text as in a zone file
    ("192.0.2.10", "10 mx1.example.com.", "0 .", "v=spf1 -all")."""

    rtype: str
    value: str
    ttl: int = 300


Zone = Mapping[str, Sequence[ZoneRecord]]
"""Name (without the trailing dot, lower case) -> its records."""

SAMPLE_ZONE: Zone = {
    "example.com": (ZoneRecord("MX", "10 mx1.example.com."),
                    ZoneRecord("MX", "20 mx2.example.com."), ZoneRecord("A", "192.0.2.1")),
    "mx1.example.com": (ZoneRecord("A", "192.0.2.25"),),
    "mx2.example.com": (ZoneRecord("A", "192.0.2.26"),),
    "mail.example.com": (ZoneRecord("MX", "10 mx1.example.com."),),
    "example.net": (ZoneRecord("MX", "10 mail.example.net."),),
    "mail.example.net": (ZoneRecord("A", "192.0.2.30"), ZoneRecord("AAAA", "2001:db8::30")),
    "example.org": (ZoneRecord("A", "192.0.2.10"),),
    "nomail.example.net": (ZoneRecord("MX", "0 ."),),
    "parked.example.org": (ZoneRecord("TXT", "v=spf1 -all"),),
    "slow.example.com": (ZoneRecord("MX", "10 mx1.example.com."),),
}

SLOW_NAMES = frozenset({"slow.example.com"})
"""Names the server answers only after ``slow_seconds`` (to exercise client timeouts)."""


class _StaticResolver(BaseResolver):
    def __init__(self, zone: Zone, slow_names: frozenset[str], slow_seconds: float) -> None:
        self.records: dict[str, list[RR]] = {}
        for name, records in zone.items():
            key = name.lower().rstrip(".")
            text = "\n".join(f"{key}. {r.ttl} IN {r.rtype} {r.value}" for r in records)
            self.records[key] = RR.fromZone(text) if text else []
        self.slow_names = slow_names
        self.slow_seconds = slow_seconds
        self.queries = 0

    def resolve(self, request, handler):  # type: ignore[no-untyped-def]  # dnslib's interface
        self.queries += 1
        reply = request.reply()
        qname = str(request.q.qname).lower().rstrip(".")
        qtype = QTYPE[request.q.qtype]
        if qname in self.slow_names:
            time.sleep(self.slow_seconds)
        records = self.records.get(qname)
        if records is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for record in records:
            if qtype in ("ANY", QTYPE[record.rtype]):
                reply.add_answer(record)
        return reply


class LocalDnsServer:
    """A threaded UDP DNS server on ``host`` (loopback) at a free port, serving ``zone``."""

    def __init__(self, zone: Zone | None = None, host: str = "127.0.0.1",
                 slow_names: frozenset[str] = SLOW_NAMES, slow_seconds: float = 2.0) -> None:
        self.zone = SAMPLE_ZONE if zone is None else zone
        self.host = host
        self._resolver = _StaticResolver(self.zone, slow_names, slow_seconds)
        self._server: DNSServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def queries(self) -> int:
        """How many queries the server has answered (tests use it to see the cache work)."""
        return self._resolver.queries

    def start(self) -> LocalDnsServer:
        server = DNSServer(self._resolver, address=self.host, port=0,
                           logger=DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,"
                                                "-data", prefix=False))
        # join handler threads on close, so a slow answer never writes to a closed socket
        server.server.daemon_threads = False
        server.server.block_on_close = True
        self.port = server.server.server_address[1]
        self._thread = threading.Thread(target=server.server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"local-dns-{self.port}", daemon=True)
        self._thread.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.server.shutdown()
            self._server.server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def resolver(self, timeout: float = 2.0) -> dns.resolver.Resolver:
        """A ``dns.resolver.Resolver`` that asks this server only."""
        if self._server is None:
            raise RuntimeError("the local DNS server is not running; call start() first")
        return resolver_for(self.host, self.port, timeout)

    def __enter__(self) -> LocalDnsServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
