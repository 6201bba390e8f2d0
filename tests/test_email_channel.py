"""SMTP email channel against a real SMTP server (aiosmtpd) on loopback: headers required by
CAN-SPAM and RFC 8058, both parts, AUTH, and how refusals are classified."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from smtp_mailbox import Mailbox, free_port, running_mailbox

from outreach.campaigns.templates import load_template, render
from outreach.channels.email import (
    EmailBuildError,
    OutgoingEmail,
    SmtpSender,
    SmtpSendError,
    SmtpSettings,
    build_email,
)

POSTAL = "100 Main St, Orlando, FL 32801"
UNSUBSCRIBE = "https://example.com/u/abc123"


def _authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"sender" \
        and auth_data.password == b"s3cret"
    return AuthResult(success=ok)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    with running_mailbox(_authenticator) as running:
        yield running


def _outgoing(to: str = "owner@example.com") -> OutgoingEmail:
    template = load_template("email_intro_v1")
    message = render(template, {
        "owner_first_name": "Pat", "agent_name": "Sam", "sender_name": "Sunshine Buyers",
        "property_address": "12 Elm St & Annex", "market_context": "We are local.",
        "postal_address": POSTAL, "unsubscribe_url": UNSUBSCRIBE})
    return OutgoingEmail(to_address=to, from_name="Sunshine Buyers",
                         from_address="offers@example.net", subject=message.subject or "",
                         text=message.body, html=message.html or "",
                         unsubscribe_url=UNSUBSCRIBE, postal_address=POSTAL,
                         reply_to="replies@example.net",
                         unsubscribe_mailto="unsubscribe@example.net")


def test_message_carries_true_headers_one_click_unsubscribe_and_both_parts():
    message = build_email(_outgoing())
    assert message["From"] == "Sunshine Buyers <offers@example.net>"
    assert message["Reply-To"] == "replies@example.net"
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>, <mailto:unsubscribe@example.net>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"].endswith("@example.net>")
    types = [part.get_content_type() for part in message.iter_parts()]
    assert types == ["text/plain", "text/html"]


def test_an_answer_carries_in_reply_to_and_references_and_refuses_a_forged_id():
    outgoing = _outgoing()
    assert build_email(outgoing)["In-Reply-To"] is None
    assert build_email(outgoing)["References"] is None
    answer = build_email(OutgoingEmail(**{
        **outgoing.__dict__, "in_reply_to": "<q-2@mail.example.org>",
        "references": ("<t-1@example.net>", "<q-1@mail.example.org>", "<q-2@mail.example.org>")}))
    assert answer["In-Reply-To"] == "<q-2@mail.example.org>"
    assert answer["References"].split() == ["<t-1@example.net>", "<q-1@mail.example.org>",
                                            "<q-2@mail.example.org>"]
    for forged in ("<a@b>\r\nBcc: victim@example.org", "no-brackets@example.org", "<a b@c>"):
        with pytest.raises(EmailBuildError, match="not a Message-ID"):
            build_email(OutgoingEmail(**{**outgoing.__dict__, "in_reply_to": forged}))
        with pytest.raises(EmailBuildError, match="not a Message-ID"):
            build_email(OutgoingEmail(**{**outgoing.__dict__, "references": (forged,)}))


def test_message_without_postal_address_or_unsubscribe_link_is_refused():
    outgoing = _outgoing()
    with pytest.raises(EmailBuildError, match="postal address"):
        build_email(OutgoingEmail(**{**outgoing.__dict__,
                                     "text": outgoing.text.replace(POSTAL, "")}))
    with pytest.raises(EmailBuildError, match="unsubscribe link"):
        build_email(OutgoingEmail(**{**outgoing.__dict__,
                                     "html": outgoing.html.replace(UNSUBSCRIBE, "#")}))


def test_delivered_through_smtp_with_auth(smtp_server):
    handler, port = smtp_server
    sender = SmtpSender(SmtpSettings("127.0.0.1", port, "sender", "s3cret", starttls=False))
    message_id = sender.send(build_email(_outgoing()))
    [received] = handler.messages
    assert received["Message-ID"] == message_id
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert POSTAL in received.get_body(("plain",)).get_content()


def test_refusals_are_classified(smtp_server):
    handler, port = smtp_server
    sender = SmtpSender(SmtpSettings("127.0.0.1", port, "sender", "s3cret", starttls=False))
    with pytest.raises(SmtpSendError) as bounce:
        sender.send(build_email(_outgoing("bounce@example.com")))
    assert bounce.value.permanent and bounce.value.code == 550
    with pytest.raises(SmtpSendError) as later:
        sender.send(build_email(_outgoing("later@example.com")))
    assert not later.value.permanent and not later.value.outcome_unknown
    nobody = SmtpSender(SmtpSettings("127.0.0.1", free_port(), starttls=False,
                                     timeout_seconds=2))
    with pytest.raises(SmtpSendError) as down:
        nobody.send(build_email(_outgoing()))
    assert down.value.outcome_unknown
    assert handler.messages == []
