"""A real SMTP server on loopback (aiosmtpd) that requires AUTH and records what it was asked:
every MAIL FROM and every DATA, so a test can assert that nothing was sent."""

from __future__ import annotations

import socket
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USERNAME = "operator@wholesaler.example"
PASSWORD = "correct horse battery staple"


class RecordingHandler:
    """Accepts mail and remembers the envelope senders and message bodies."""

    def __init__(self) -> None:
        self.mail_from: list[str] = []
        self.messages: list[bytes] = []

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        self.mail_from.append(address)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content
        self.messages.append(content if isinstance(content, bytes) else content.encode())
        return "250 Message accepted for delivery"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                  auth_data: Any) -> AuthResult:
    if isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USERNAME \
            and auth_data.password.decode() == PASSWORD:
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpAuthServer:
    """Context manager: an aiosmtpd server on 127.0.0.1 with AUTH PLAIN/LOGIN required
    (allowed without TLS, since it is loopback only)."""

    def __init__(self) -> None:
        self.handler = RecordingHandler()
        self.port = _free_port()
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                      authenticator=_authenticate, auth_required=True,
                                      auth_require_tls=False)

    def __enter__(self) -> SmtpAuthServer:
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._controller.stop()

    def env(self, password: str = PASSWORD) -> dict[str, str]:
        """The SMTP_* variables pointing at this server."""
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(self.port),
                "SMTP_USERNAME": USERNAME, "SMTP_PASSWORD": password, "SMTP_STARTTLS": "false"}
