"""A real SMTP server on loopback (aiosmtpd) that accepts mail like a provider's would, with
two scripted refusals: `bounce@…` gets 550 (permanent) and `later@…` gets 451 (try later).
Received messages are parsed and kept for the test to read. Optional AUTH."""

from __future__ import annotations

import email
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import policy
from typing import Any

from aiosmtpd.controller import Controller


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.startswith("bounce@"):
            return "550 5.1.1 no such user"
        if address.startswith("later@"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_mailbox(authenticator: Callable[..., Any] | None = None,
                    ) -> Iterator[tuple[Mailbox, int]]:
    """Start the server; yields (mailbox, port)."""
    mailbox, port = Mailbox(), free_port()
    options: dict[str, Any] = {}
    if authenticator is not None:
        options = {"authenticator": authenticator, "auth_require_tls": False}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()
