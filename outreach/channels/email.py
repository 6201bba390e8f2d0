"""SMTP email: building a CAN-SPAM-complete message and handing it to an SMTP server.

`build_email` makes a multipart/alternative message (plain text and HTML) with true headers:
From with the market's sender identity, Reply-To when set, a Message-ID on our own domain (the
reply threading in issue 6 keys on it), `In-Reply-To` and `References` when the message
answers one of the recipient's (so their mail client threads it), `List-Unsubscribe` (an
https URL, plus a mailto when given) and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`
(RFC 8058), which Gmail and Yahoo require of bulk senders. The body must already carry the
postal address and the unsubscribe link (the templates check that); the builder refuses a
message without them.

`SmtpSender` delivers through `smtplib` (STARTTLS and AUTH when configured) and sorts failures
into permanent (5xx: the address bounces, stop the enrollment), temporary (4xx: refused for
now, safe to retry) and unknown (the connection broke: never re-sent blindly).
"""

from __future__ import annotations

import html
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

MESSAGE_ID = re.compile(r"<[^<>\s]+>")


class EmailBuildError(ValueError):
    """The message lacks something the law or the receiving providers require, or carries a
    header value that is not what it claims (a threading id that is no Message-ID)."""


class SmtpSendError(RuntimeError):
    """The SMTP server did not accept the message, or we cannot tell. `permanent`: it never
    will (5xx: a bounce); `outcome_unknown`: the connection broke mid-transaction, so the
    message may have been accepted and must not be re-sent blindly (held for reconciliation);
    otherwise (4xx) the server refused it for now and a later retry is safe."""

    def __init__(self, message: str, *, permanent: bool, code: int | None = None,
                 outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.outcome_unknown = outcome_unknown


@dataclass(frozen=True)
class OutgoingEmail:
    to_address: str
    from_name: str
    from_address: str
    subject: str
    text: str
    html: str
    unsubscribe_url: str
    postal_address: str
    reply_to: str | None = None
    unsubscribe_mailto: str | None = None
    in_reply_to: str | None = None  # the Message-ID this email answers, "<…>"
    references: tuple[str, ...] = ()  # the thread, oldest first, ending with in_reply_to


def build_email(email: OutgoingEmail) -> EmailMessage:
    for part_name, part, escape in (("text", email.text, False), ("html", email.html, True)):
        def shown(value: str, escape: bool = escape) -> str:
            return html.escape(value, quote=True) if escape else value

        if shown(email.unsubscribe_url) not in part:
            raise EmailBuildError(f"the {part_name} part has no unsubscribe link")
        if shown(email.postal_address) not in part:
            raise EmailBuildError(f"the {part_name} part has no postal address")
    if not email.unsubscribe_url.startswith("https://"):
        raise EmailBuildError("the unsubscribe link must be an https URL (one-click, RFC 8058)")
    for value in (email.in_reply_to, *email.references):
        if value is not None and not MESSAGE_ID.fullmatch(value):
            raise EmailBuildError(f"not a Message-ID for threading: {value[:80]!r}")
    message = EmailMessage()
    message["From"] = Address(display_name=email.from_name, addr_spec=email.from_address)
    message["To"] = email.to_address
    if email.reply_to:
        message["Reply-To"] = email.reply_to
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=email.from_address.rpartition("@")[2])
    if email.in_reply_to:
        message["In-Reply-To"] = email.in_reply_to
    if email.references:
        message["References"] = " ".join(email.references)
    unsubscribe = f"<{email.unsubscribe_url}>"
    if email.unsubscribe_mailto:
        unsubscribe += f", <mailto:{email.unsubscribe_mailto}>"
    message["List-Unsubscribe"] = unsubscribe
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout_seconds: float = 30.0


class SmtpSender:
    """Sends built messages through one SMTP server, one connection per `send`."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(self, message: EmailMessage) -> str:
        """Deliver `message`; returns its Message-ID. Raises `SmtpSendError`."""
        settings = self.settings
        try:
            with smtplib.SMTP(settings.host, settings.port,
                              timeout=settings.timeout_seconds) as server:
                server.ehlo()
                if settings.starttls:
                    server.starttls(context=ssl.create_default_context())
                    server.ehlo()
                if settings.username:
                    server.login(settings.username, settings.password or "")
                refused = server.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            raise SmtpSendError(f"recipient refused: {code} {reply!r}",
                                permanent=500 <= code < 600, code=code) from error
        except smtplib.SMTPResponseException as error:
            raise SmtpSendError(f"SMTP {error.smtp_code}: {error.smtp_error!r}",
                                permanent=500 <= error.smtp_code < 600,
                                code=error.smtp_code) from error
        except (smtplib.SMTPException, OSError) as error:
            raise SmtpSendError(f"SMTP connection failed: {error}", permanent=False,
                                outcome_unknown=True) from error
        if refused:
            code, reply = next(iter(refused.values()))
            raise SmtpSendError(f"recipient refused: {code} {reply!r}",
                                permanent=500 <= code < 600, code=code)
        return str(message["Message-ID"])
