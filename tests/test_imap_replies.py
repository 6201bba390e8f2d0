"""Email replies from an IMAP mailbox (issue 6, item 1, email half).

The parsing and bounce functions are checked on the .eml files in tests/fixtures/email/. The
poller is checked end to end: touches go out through the real email channel to an SMTP server
on loopback (aiosmtpd, so the Message-IDs are the ones `build_email` made), the answers
(replies with quoted history, a Postfix DSN, a delayed-delivery DSN, an out-of-office reply,
an unknown sender, a message with no sender, a duplicate, a message without Message-ID) are
APPENDed to a real IMAP server on loopback (pymap), and `poll_mailbox` reads them into the
ledger; then the folder is rebuilt (new UIDVALIDITY) and read again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import dagster as dg
import pytest
from imap_server import ImapServer, pymap_available, running_imap_server
from sending_fixtures import INSIDE_WINDOW, TODAY, add_lead, drip, orange
from smtp_mailbox import Mailbox, running_mailbox
from sqlalchemy import Engine, func, select

from outreach.channels.email import SmtpSender, SmtpSettings
from outreach.channels.outbox import OutboxChannel
from outreach.channels.smtp import SmtpEmailChannel
from outreach.ledger.db import ledger_engine, ledger_session, upgrade_ledger
from outreach.ledger.models import (
    AuditEntry,
    Contact,
    Enrollment,
    LeadStatusChange,
    MailboxCursor,
    Message,
    MessageEvent,
    Suppression,
)
from outreach.replies.bounces import read_bounce, read_complaint
from outreach.replies.email_parsing import (
    SYNTHETIC_ID_DOMAIN,
    answer_threading,
    auto_reply_reason,
    internaldate_of,
    message_id_of,
    new_text,
    parse_email,
    received_at_of,
    recipient_address,
    references_chain,
    sender_address,
    strip_quoted,
    thread_references,
)
from outreach.replies.mailbox import (
    AUTO_REPLY_DECISION,
    ImapError,
    ImapSettings,
    ImapSettingsError,
    imap_settings,
    poll_mailbox,
)
from outreach.sending import Channels, SendSettings, send_due

FIXTURES = Path(__file__).parent / "fixtures" / "email"
FOLDER = "Replies"
CONFIG = SendSettings(wholesaler_unsubscribe_base_url="https://example.com/u",
                      wholesaler_unsubscribe_secret="unsubscribe-secret-for-tests-" + "q" * 20,
                      wholesaler_sms_per_second=0, wholesaler_email_per_second=0,
                      wholesaler_agent_name="Sam")
DAY3 = INSIDE_WINDOW + timedelta(days=3)
POLL_AT = DAY3 + timedelta(days=1)

needs_pymap = pytest.mark.skipif(
    not pymap_available(),
    reason="no IMAP server to test against: pymap is not installed (pip install -e '.[dev]'); "
           "Debian's dovecot-imapd is the documented alternative")


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parsed(name: str) -> EmailMessage:
    return parse_email(fixture(name))


# ------------------------------------------------------------------------------------------
# Parsing


def test_gmail_reply_new_text_threading_and_sender():
    message = parsed("gmail_reply.eml")
    assert new_text(message) == ("Yes I might be interested in selling. What would you offer? "
                                 "Call me after 5.\n\nPat")
    assert thread_references(message) == ("<ORIGINAL-GMAIL@sunshineporch.example>",)
    assert sender_address(message) == "pat.smith@example.com"
    assert recipient_address(message) == "replies@sunshineporch.example"
    assert message_id_of(message, fixture("gmail_reply.eml")) == \
        "<CAF=reply-gmail-1@mail.gmail.com>"
    assert auto_reply_reason(message) is None and read_bounce(message) is None


def test_outlook_html_reply_loses_the_quoted_message_and_threads_by_references():
    message = parsed("outlook_html_reply.eml")
    assert new_text(message) == "No thanks, not selling. Please take me off your list."
    # No In-Reply-To: References, newest first.
    assert thread_references(message) == ("<ORIGINAL-OUTLOOK@sunshineporch.example>",
                                          "<ORIGINAL-OUTLOOK-OLD@sunshineporch.example>")


@pytest.mark.parametrize(("text", "expected"), [
    ("Sounds good\n\nOn Mon, Nov 23, 2026 at 10:05 AM Sam <offers@x.example>\nwrote:\n> hi",
     "Sounds good"),
    ("Call me.\n-----Original Message-----\nFrom: Sam\nSent: Monday\n\nWe buy houses",
     "Call me."),
    ("Maybe.\n\nFrom: Sunshine Porch <offers@x.example>\nSent: Monday, November 23, 2026\n"
     "To: Pat\nSubject: About your property\n\nWe buy houses", "Maybe."),
    ("How much?\n-- \nPat Smith\nRealtor", "How much?"),
    ("How much?\n\nSent from my iPhone", "How much?"),
    ("> you wrote this\nmy answer\n> and this\nsecond line", "my answer\nsecond line"),
    ("No gracias\n\nEl lun, 23 nov 2026 a las 10:05, Sam (<offers@x.example>) escribió:\n> hola",
     "No gracias"),
    ("Call me at 407-555-0101\r\n\r\n\r\n\r\nthanks", "Call me at 407-555-0101\n\nthanks"),
    ("> only quoted\n> text", ""),
])
def test_strip_quoted(text, expected):
    assert strip_quoted(text) == expected


def test_a_message_without_message_id_gets_a_stable_synthetic_id():
    raw = b"From: pat@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
    first = message_id_of(parse_email(raw), raw)
    assert first.endswith(f"@{SYNTHETIC_ID_DOMAIN}>") and first.startswith("<")
    assert message_id_of(parse_email(raw), raw) == first
    assert message_id_of(parse_email(raw.replace(b"\r\n", b"\n")), raw.replace(b"\r\n", b"\n")) \
        == first
    other = raw.replace(b"hello", b"hello again")
    assert message_id_of(parse_email(other), other) != first
    bare = b"From: pat@example.com\r\nMessage-ID: abc@host.example\r\n\r\nhi\r\n"
    assert message_id_of(parse_email(bare), bare) == "<abc@host.example>"


def test_received_at_prefers_a_sane_date_header_then_internaldate():
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    internal = internaldate_of(b'1 (UID 7 INTERNALDATE "24-Nov-2026 14:02:11 -0500" BODY[] {9}')
    assert internal == datetime(2026, 11, 24, 19, 2, 11, tzinfo=UTC)
    assert received_at_of(parsed("gmail_reply.eml"), internal, now) == \
        datetime(2026, 11, 24, 14, 12, 44, tzinfo=UTC)
    undated = parse_email(b"From: a@b.example\r\n\r\nx")
    assert received_at_of(undated, internal, now) == internal
    future = parse_email(b"From: a@b.example\r\nDate: Fri, 1 Jan 2027 00:00:00 +0000\r\n\r\nx")
    assert received_at_of(future, internal, now) == internal
    assert received_at_of(undated, None, now) == now
    naive = parse_email(b"From: a@b.example\r\nDate: Tue, 24 Nov 2026 08:00:00 -0000\r\n\r\nx")
    assert received_at_of(naive, None, now) == datetime(2026, 11, 24, 8, tzinfo=UTC)


@pytest.mark.parametrize(("headers", "expected"), [
    ("Auto-Submitted: auto-replied\r\nSubject: Re: hi", "Auto-Submitted: auto-replied"),
    ("Auto-Submitted: no\r\nSubject: Re: hi", None),
    ("X-Autoreply: yes\r\nSubject: Re: hi", "X-Autoreply header"),
    ("Precedence: bulk\r\nSubject: Newsletter", "Precedence: bulk"),
    ("Precedence: auto_reply\r\nSubject: Re: hi", "Precedence: auto_reply"),
    ("Subject: Out of Office: About your property", "subject 'Out of Office: About your "
                                                    "property'"),
    ("Subject: Automatic reply: About your property", "subject 'Automatic reply: About your "
                                                      "property'"),
    ("Subject: Re: out of office next week, call me then", None),
    ("Subject: Re: About your property", None),
])
def test_auto_reply_reason(headers, expected):
    raw = f"From: lee@example.com\r\n{headers}\r\n\r\nbody\r\n".encode()
    assert auto_reply_reason(parse_email(raw)) == expected


def test_out_of_office_fixture_is_an_auto_reply():
    assert auto_reply_reason(parsed("out_of_office.eml")) == "Auto-Submitted: auto-replied"


def test_postfix_dsn_permanent():
    bounce = read_bounce(parsed("postfix_dsn_permanent.eml"))
    assert bounce is not None and bounce.is_standard and bounce.is_permanent
    assert (bounce.kind, bounce.status, bounce.action, bounce.recipient) == \
        ("permanent", "5.1.1", "failed", "gone@example.com")
    assert bounce.original_message_id == "<ORIGINAL-PERMANENT@sunshineporch.example>"
    assert "User unknown" in bounce.diagnostic


def test_postfix_dsn_delayed_is_transient():
    bounce = read_bounce(parsed("postfix_dsn_delayed.eml"))
    assert bounce is not None and not bounce.is_permanent
    assert (bounce.kind, bounce.status, bounce.action, bounce.recipient) == \
        ("transient", "4.7.1", "delayed", "slow@example.org")
    assert bounce.original_message_id == "<ORIGINAL-TRANSIENT@sunshineporch.example>"


def test_qmail_failure_notice_is_a_non_standard_permanent_bounce():
    bounce = read_bounce(parsed("qmail_failure_notice.eml"))
    assert bounce is not None and not bounce.is_standard
    assert (bounce.kind, bounce.status, bounce.recipient) == \
        ("permanent", "5.1.1", "nobody@example.net")
    assert bounce.original_message_id == "<ORIGINAL-QMAIL@sunshineporch.example>"


def _attached_original(subject: str, sender: str, text: str) -> bytes:
    report = EmailMessage()
    report["From"] = sender
    report["To"] = "offers@sunshineporch.example"
    report["Subject"] = subject
    report["Message-ID"] = "<report-1@mx.google.example>"
    report.set_content(text)
    original = EmailMessage()
    original["From"] = "offers@sunshineporch.example"
    original["To"] = "pat@example.com"
    original["Message-ID"] = "<ORIGINAL-GOOGLE@sunshineporch.example>"
    original.set_content("We buy houses.")
    report.add_attachment(original)  # message/rfc822
    return report.as_bytes()


@pytest.mark.parametrize(("subject", "sender", "text", "kind", "status"), [
    ("Delivery Status Notification (Failure)", "Mail Delivery Subsystem <mailer-daemon@"
     "googlemail.com>", "Address not found\n\nThe response was:\n\n550 5.1.1 The email account "
     "that you tried to reach does not exist.", "permanent", "5.1.1"),
    ("Delivery Status Notification (Delay)", "Mail Delivery Subsystem <mailer-daemon@"
     "googlemail.com>", "Message not delivered yet\n\nThe response was:\n\n"
     "421 4.4.1 Connection timed out", "transient", "4.4.1"),
    ("Undeliverable: About your property", "postmaster@outlook.example",
     "Your message couldn't be delivered.", "permanent", None),
    ("Warning: could not send message for past 4 hours", "MAILER-DAEMON@old.example",
     "The original message was received at Mon, 23 Nov 2026", "transient", None),
])
def test_non_standard_bounces_with_the_original_attached(subject, sender, text, kind, status):
    bounce = read_bounce(parse_email(_attached_original(subject, sender, text)))
    assert bounce is not None and not bounce.is_standard
    assert (bounce.kind, bounce.status) == (kind, status)
    assert bounce.original_message_id == "<ORIGINAL-GOOGLE@sunshineporch.example>"


def test_a_delivered_dsn_is_a_notice_and_a_person_is_no_bounce():
    raw = fixture("postfix_dsn_permanent.eml").replace(b"Action: failed", b"Action: delivered")
    raw = raw.replace(b"Status: 5.1.1", b"Status: 2.0.0")
    bounce = read_bounce(parse_email(raw))
    assert bounce is not None and bounce.kind == "notice"
    person = b"From: Pat <pat@example.com>\r\nSubject: Re: undelivered package?\r\n\r\nhi"
    assert read_bounce(parse_email(person)) is None


def _feedback_report(feedback_type: str | None, *, original_id: str | None,
                     recipient: str = "redacted@yahoo.example",
                     headers_only: bool = False, report_id: str = "<arf-x@fbl.example>") -> bytes:
    """An ARF report (RFC 5965) built with the email package: the human part, the
    message/feedback-report fields, and the original (whole, or its headers only)."""
    from email.mime.base import MIMEBase
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    report = MIMEMultipart("report", report_type="feedback-report")
    report["From"] = "feedback@fbl.example"
    report["To"] = "fbl@sunshineporch.example"
    report["Subject"] = "Complaint about message from 198.51.100.7"
    report["Message-ID"] = report_id
    report.attach(MIMEText("A recipient marked a message as spam.\n"))
    fields = MIMEBase("message", "feedback-report")
    lines = [f"Feedback-Type: {feedback_type}"] if feedback_type else []
    lines += ["User-Agent: FBL/1.0", "Version: 1", f"Original-Rcpt-To: <{recipient}>",
              "Reporting-MTA: dns; fbl.example"]
    fields.set_payload("\n".join(lines) + "\n")
    report.attach(fields)
    original = ["From: offers@sunshineporch.example", f"To: {recipient}",
                "Subject: About your property"]
    if original_id:
        original.append(f"Message-ID: {original_id}")
    if headers_only:
        part = MIMEBase("text", "rfc822-headers")
        part.set_payload("\n".join(original) + "\n")
    else:
        part = MIMEBase("message", "rfc822")
        part.set_payload("\n".join(original) + "\n\nWe buy houses.\n")
    report.attach(part)
    return report.as_bytes()


def test_an_arf_report_is_a_complaint_about_the_original_message():
    complaint = read_complaint(parsed("arf_complaint.eml"))
    assert complaint is not None and complaint.is_complaint
    assert (complaint.feedback_type, complaint.recipient, complaint.reporter) == \
        ("abuse", "redacted@yahoo.example", "fbl.mail.yahoo.example")
    assert complaint.original_message_id == "<ORIGINAL-ARF@sunshineporch.example>"
    assert complaint.user_agent == "Yahoo!-Mail-Feedback/2.0"
    for name in ("gmail_reply.eml", "postfix_dsn_permanent.eml", "out_of_office.eml"):
        assert read_complaint(parsed(name)) is None


@pytest.mark.parametrize(("feedback_type", "headers_only", "kind", "is_complaint"), [
    ("abuse", False, "abuse", True),
    ("Fraud", True, "fraud", True),
    (None, False, "abuse", True),  # no Feedback-Type: taken as a complaint
    ("not-spam", False, "not-spam", False),
    ("auth-failure", True, "auth-failure", False),
])
def test_feedback_types_and_where_the_original_id_comes_from(feedback_type, headers_only, kind,
                                                             is_complaint):
    raw = _feedback_report(feedback_type, original_id="<touch-9@sunshineporch.example>",
                           headers_only=headers_only)
    complaint = read_complaint(parse_email(raw))
    assert complaint is not None
    assert (complaint.feedback_type, complaint.is_complaint) == (kind, is_complaint)
    assert complaint.original_message_id == "<touch-9@sunshineporch.example>"
    assert complaint.reporter == "fbl.example"


def test_the_thread_a_reply_continues_and_the_threading_of_our_answer():
    assert references_chain(parsed("gmail_reply.eml")) == \
        ("<ORIGINAL-GMAIL@sunshineporch.example>",)
    # Outlook: References oldest first (thread_references gives them newest first).
    assert references_chain(parsed("outlook_html_reply.eml")) == (
        "<ORIGINAL-OUTLOOK-OLD@sunshineporch.example>", "<ORIGINAL-OUTLOOK@sunshineporch.example>")
    only_in_reply_to = parse_email(b"From: a@b.example\r\nIn-Reply-To: <t-1@x.example>\r\n\r\nx")
    assert references_chain(only_in_reply_to) == ("<t-1@x.example>",)
    assert references_chain(parse_email(b"From: a@b.example\r\n\r\nx")) == ()

    assert answer_threading("<r-1@b.example>", "<t-1@x.example> <r-0@b.example>") == \
        ("<r-1@b.example>", ("<t-1@x.example>", "<r-0@b.example>", "<r-1@b.example>"))
    assert answer_threading("<r-1@b.example>", None) == ("<r-1@b.example>", ("<r-1@b.example>",))
    synthetic = f"<{'a' * 64}@{SYNTHETIC_ID_DOMAIN}>"  # the reply had no Message-ID
    assert answer_threading(synthetic, "<t-1@x.example>") == (None, ("<t-1@x.example>",))
    assert answer_threading(synthetic, None) == (None, ())
    long_thread = " ".join(f"<m-{n}@x.example>" for n in range(30))
    in_reply_to, references = answer_threading("<last@b.example>", long_thread)
    assert in_reply_to == "<last@b.example>"
    assert len(references) == 20 and references[0] == "<m-0@x.example>"
    assert references[-2:] == ("<m-29@x.example>", "<last@b.example>")


# ------------------------------------------------------------------------------------------
# Settings


def test_settings_from_the_environment():
    assert imap_settings({}) is None
    assert imap_settings({"WHOLESALER_IMAP_HOST": "  "}) is None
    settings = imap_settings({"WHOLESALER_IMAP_HOST": "imap.example.com",
                              "WHOLESALER_IMAP_USER": "replies@example.com",
                              "WHOLESALER_IMAP_PASSWORD": "s3cret"})
    assert settings is not None
    assert (settings.port, settings.wholesaler_imap_folder, settings.wholesaler_imap_ssl) == \
        (993, "INBOX", "ssl")
    assert "s3cret" not in repr(settings) and "s3cret" not in settings.account
    starttls = imap_settings({"WHOLESALER_IMAP_HOST": "imap.example.com",
                              "WHOLESALER_IMAP_USER": "u", "WHOLESALER_IMAP_PASSWORD": "p",
                              "WHOLESALER_IMAP_SSL": "starttls"})
    assert starttls is not None and starttls.port == 143
    with pytest.raises(ImapSettingsError, match="WHOLESALER_IMAP_PORT"):
        imap_settings({"WHOLESALER_IMAP_HOST": "h", "WHOLESALER_IMAP_USER": "u",
                       "WHOLESALER_IMAP_PASSWORD": "p", "WHOLESALER_IMAP_PORT": "99999"})
    with pytest.raises(ImapSettingsError, match="WHOLESALER_IMAP_PASSWORD"):
        imap_settings({"WHOLESALER_IMAP_HOST": "h", "WHOLESALER_IMAP_USER": "u"})
    with pytest.raises(ImapSettingsError, match="loopback"):
        imap_settings({"WHOLESALER_IMAP_HOST": "imap.example.com", "WHOLESALER_IMAP_USER": "u",
                       "WHOLESALER_IMAP_PASSWORD": "p", "WHOLESALER_IMAP_SSL": "plain"})


def test_unsigned_32_bit_uids_round_trip_through_the_cursor_table(tmp_path: Path,
                                                                   pii_keys: None) -> None:
    engine = ledger_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    upgrade_ledger(engine)
    with ledger_session(engine) as session:
        session.add(MailboxCursor(account="u@h", folder="INBOX", uid_validity=4_294_967_295,
                                  last_uid=2**31))
    with ledger_session(engine) as session:
        row = session.scalar(select(MailboxCursor))
        assert (row.uid_validity, row.last_uid) == (4_294_967_295, 2**31)


# ------------------------------------------------------------------------------------------
# The poller against a real IMAP server


# `env` and `engine`: tests/conftest.py (keys, data folder, no LLM variables, migrated
# SQLite ledger).


@pytest.fixture
def imap() -> Iterator[ImapServer]:
    if not pymap_available():
        pytest.skip("no IMAP server to test against: pymap is not installed")
    with running_imap_server() as server:
        server.create(FOLDER)
        yield server


def settings_for(server: ImapServer, **overrides) -> ImapSettings:
    values = {"wholesaler_imap_host": server.host, "wholesaler_imap_port": server.port,
              "wholesaler_imap_user": server.user, "wholesaler_imap_password": server.password,
              "wholesaler_imap_folder": FOLDER, "wholesaler_imap_ssl": "plain", **overrides}
    return ImapSettings(**values)


LEADS = {"pat": "pat.smith@example.com", "kim": "kim.doe@example.org",
         "gone": "gone@example.com", "slow": "slow@example.org", "lee": "lee.roe@example.com"}


def send_touches(engine: Engine, env: Path) -> tuple[dict[str, int], dict[str, str]]:
    """Day-3 email touches to every lead over SMTP; returns (name -> enrollment id,
    name -> the Message-ID the SMTP server received)."""
    kwargs = {"enrolled_on": TODAY, "touches_sent": 1, "last_sent_on": TODAY}
    enrollments = {name: add_lead(engine, emails=[address], owner_name=f"{name.upper()} LEE",
                                  score=10 - index, **kwargs).enrollment_id
                   for index, (name, address) in enumerate(LEADS.items())}
    market = orange()
    with running_mailbox() as (handler, port):
        mailbox: Mailbox = handler
        channels = _smtp_channels(env, port, market)
        report = send_due(engine, drip(), market, DAY3, channels=channels, workers=1,
                          config=CONFIG)
    assert report.sent == len(LEADS)
    by_address = {str(message["To"]): str(message["Message-ID"])
                  for message in mailbox.messages}
    return enrollments, {name: by_address[address] for name, address in LEADS.items()}


def answers(ids: dict[str, str]) -> list[tuple[str, bytes]]:
    """The mailbox's content, in APPEND order."""
    gmail = fixture("gmail_reply.eml").replace(
        b"<ORIGINAL-GMAIL@sunshineporch.example>", ids["pat"].encode())
    outlook = fixture("outlook_html_reply.eml").replace(
        b"<ORIGINAL-OUTLOOK@sunshineporch.example>", ids["kim"].encode())
    permanent = fixture("postfix_dsn_permanent.eml").replace(
        b"<ORIGINAL-PERMANENT@sunshineporch.example>", ids["gone"].encode())
    transient = fixture("postfix_dsn_delayed.eml").replace(
        b"<ORIGINAL-TRANSIENT@sunshineporch.example>", ids["slow"].encode())
    away = fixture("out_of_office.eml").replace(
        b"<ORIGINAL-OOO@sunshineporch.example>", ids["lee"].encode())
    stranger = EmailMessage()
    stranger["From"] = "Chris Stranger <chris@example.net>"
    stranger["To"] = "replies@sunshineporch.example"
    stranger["Subject"] = "Question"
    stranger["Date"] = format_datetime(DAY3 + timedelta(hours=5))
    stranger["Message-ID"] = "<stranger-1@example.net>"
    stranger.set_content("Are you the people buying houses on Elm St? Call me.")
    no_id = (b"From: slow@example.org\r\nTo: replies@sunshineporch.example\r\n"
             b"Subject: Re: About your property\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
             b"\r\nSorry, who is this?\r\n")
    malformed = b"\x00\xfe garbage that is no header\r\nnor this\r\n\r\n\xff\xfe"
    return [("pat", gmail), ("kim", outlook), ("gone", permanent), ("slow", transient),
            ("lee", away), ("stranger", stranger.as_bytes()), ("malformed", malformed),
            ("pat-again", gmail), ("slow-no-id", no_id)]


def rows(engine: Engine, model, *where):  # type: ignore[no-untyped-def]
    with ledger_session(engine) as session:
        return list(session.scalars(select(model).where(*where)))


def count(engine: Engine, model) -> int:  # type: ignore[no-untyped-def]
    with ledger_session(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def outbound(engine: Engine, enrollment_id: int) -> Message:
    [row] = rows(engine, Message, Message.enrollment_id == enrollment_id,
                 Message.direction == "outbound", Message.channel == "email")
    return row


def inbound(engine: Engine, provider_message_id: str) -> Message:
    [row] = rows(engine, Message, Message.direction == "inbound",
                 Message.provider_message_id == provider_message_id)
    return row


def enrollment(engine: Engine, enrollment_id: int) -> Enrollment:
    [row] = rows(engine, Enrollment, Enrollment.enrollment_id == enrollment_id)
    return row


@needs_pymap
def test_poll_reads_replies_bounces_and_auto_replies_into_the_ledger(engine, env, imap):
    enrollments, ids = send_touches(engine, env)
    content = answers(ids)
    uids = [imap.append(FOLDER, raw, DAY3 + timedelta(hours=6)) for _, raw in content]
    settings = settings_for(imap)

    report = poll_mailbox(engine, settings, now=POLL_AT, process=False)

    assert (report.fetched, report.replies, report.duplicates, report.unknown_senders) == \
        (9, 4, 1, 1)
    assert (report.auto_replies, report.bounces_permanent, report.bounces_transient) == (1, 1, 1)
    assert (report.unreadable, report.failed, report.bounces_unmatched) == (1, 0, 0)
    assert report.last_uid == max(uids) and not report.uid_validity_changed
    assert not report.more_waiting and report.stopped_early is None

    # Replies, threaded to the touch they answer, with the quoted history gone.
    pat = inbound(engine, "<CAF=reply-gmail-1@mail.gmail.com>")
    pat_touch = outbound(engine, enrollments["pat"])
    assert pat.in_reply_to_id == pat_touch.message_id and pat.owner_id == pat_touch.owner_id
    assert pat.provider == "imap" and pat.channel == "email" and pat.status == "received"
    assert pat.body == ("Yes I might be interested in selling. What would you offer? Call me "
                        "after 5.\n\nPat")
    assert pat.subject == "Re: About your property on Elm St"
    assert pat.created_at == datetime(2026, 11, 24, 14, 12, 44, tzinfo=UTC)
    kim = inbound(engine, "<BN0PR11MB-outlook-1@BN0PR11MB.namprd11.prod.outlook.com>")
    assert kim.in_reply_to_id == outbound(engine, enrollments["kim"]).message_id  # References
    assert kim.body == "No thanks, not selling. Please take me off your list."
    # No Message-ID: a synthetic one; no In-Reply-To: our newest touch to that address.
    [slow_reply] = rows(engine, Message, Message.direction == "inbound",
                        Message.provider_message_id.like(f"%@{SYNTHETIC_ID_DOMAIN}>"))
    assert slow_reply.body == "Sorry, who is this?"
    assert slow_reply.in_reply_to_id == outbound(engine, enrollments["slow"]).message_id
    # The unknown sender is stored, with no owner.
    stranger = inbound(engine, "<stranger-1@example.net>")
    assert stranger.owner_id is None and stranger.in_reply_to_id is None
    assert stranger.body == "Are you the people buying houses on Elm St? Call me."

    # The out-of-office answer is stored but is no seller's reply: processed, no decision.
    away = inbound(engine, "<ooo-1@example.com>")
    assert away.in_reply_to_id == outbound(engine, enrollments["lee"]).message_id
    assert away.decision == AUTO_REPLY_DECISION and away.processed_at == POLL_AT
    assert away.classification == {"auto_reply": "Auto-Submitted: auto-replied"}
    assert enrollment(engine, enrollments["lee"]).status == "in_progress"

    # The permanent bounce: message bounced, address suppressed, drip stopped.
    gone = outbound(engine, enrollments["gone"])
    assert gone.status == "bounced" and gone.error_code == "dsn_5.1.1"
    [event] = rows(engine, MessageEvent, MessageEvent.message_id == gone.message_id,
                   MessageEvent.source == "imap")
    assert event.status == "bounced" and "5.1.1" in event.detail
    [contact] = rows(engine, Contact, Contact.contact_id == gone.contact_id)
    [suppression] = rows(engine, Suppression, Suppression.reason == "bounce")
    assert (suppression.channel, suppression.value_hash, suppression.message_id) == \
        ("email", contact.value_hash, gone.message_id)
    stopped = enrollment(engine, enrollments["gone"])
    assert (stopped.status, stopped.stop_reason) == ("stopped", "bounce")
    # The transient one: an event, nothing else.
    slow = outbound(engine, enrollments["slow"])
    assert slow.status == "sent"
    [delayed] = rows(engine, MessageEvent, MessageEvent.message_id == slow.message_id,
                     MessageEvent.source == "imap")
    assert delayed.status == "deferred" and delayed.error_code == "dsn_4.7.1"
    assert enrollment(engine, enrollments["slow"]).status == "in_progress"
    # Bounce reports are not stored as inbound messages.
    assert not rows(engine, Message, Message.provider_message_id.in_([
        "<20261123150512.A1B2C3D4E5@mail.sunshineporch.example>",
        "<20261123190512.B2C3D4E5F6@mail.sunshineporch.example>"]))
    assert len(rows(engine, Message, Message.direction == "inbound")) == 5  # pat, kim, lee …

    # The message with no sender is on record with its UID.
    [unreadable] = rows(engine, AuditEntry, AuditEntry.action == "imap_message_unreadable")
    assert unreadable.entity_id == f"{FOLDER}:{report.uid_validity}:{uids[6]}"
    [cursor] = rows(engine, MailboxCursor)
    assert (cursor.account, cursor.folder, cursor.last_uid) == \
        (settings.account, FOLDER, max(uids))
    assert cursor.uid_validity == imap.uid_validity(FOLDER)
    # Read-only SELECT and BODY.PEEK: the mailbox is unchanged, nothing flagged \Seen.
    assert not any("Seen" in flags for flags in imap.flags(FOLDER).values())

    # A second poll finds nothing new and changes nothing.
    counts = {model: count(engine, model) for model in (Message, MessageEvent, Suppression,
                                                         AuditEntry)}
    again = poll_mailbox(engine, settings, now=POLL_AT + timedelta(minutes=1), process=False)
    assert (again.fetched, again.last_uid) == (0, max(uids))
    assert {model: count(engine, model) for model in counts} == counts

    # A new message arrives: only it is read.
    follow_up = EmailMessage()
    follow_up["From"] = "pat.smith@example.com"
    follow_up["To"] = "replies@sunshineporch.example"
    follow_up["Subject"] = "Re: About your property on Elm St"
    follow_up["Message-ID"] = "<pat-follow-up@mail.gmail.com>"
    follow_up["In-Reply-To"] = "<CAF=reply-gmail-1@mail.gmail.com>"
    follow_up["References"] = f"{ids['pat']} <CAF=reply-gmail-1@mail.gmail.com>"
    follow_up.set_content("Also, the roof is new.")
    new_uid = imap.append(FOLDER, follow_up.as_bytes())
    third = poll_mailbox(engine, settings, now=POLL_AT + timedelta(minutes=2), process=False)
    assert (third.fetched, third.replies, third.last_uid) == (1, 1, new_uid)
    # In-Reply-To names Pat's reply (not ours): threaded by References to our touch.
    assert inbound(engine, "<pat-follow-up@mail.gmail.com>").in_reply_to_id == \
        pat_touch.message_id

    # The folder is rebuilt: new UIDVALIDITY, the cursor restarts, duplicates are caught.
    old_validity = report.uid_validity
    imap.delete(FOLDER)
    imap.create(FOLDER)
    for _, raw in content:
        imap.append(FOLDER, raw)
    imap.append(FOLDER, follow_up.as_bytes())
    counts = {model: count(engine, model) for model in (Message, MessageEvent, Suppression)}
    rebuilt = poll_mailbox(engine, settings_for(imap, wholesaler_imap_mark_seen=True),
                           now=POLL_AT + timedelta(hours=1), process=False)
    assert rebuilt.uid_validity_changed and rebuilt.uid_validity != old_validity
    assert (rebuilt.fetched, rebuilt.duplicates, rebuilt.unreadable, rebuilt.replies) == \
        (10, 9, 1, 0)
    assert (rebuilt.bounces_permanent, rebuilt.bounces_transient, rebuilt.auto_replies) == \
        (0, 0, 0)
    assert {model: count(engine, model) for model in counts} == counts
    [change] = rows(engine, AuditEntry, AuditEntry.action == "imap_uidvalidity_changed")
    assert change.detail["old"] == old_validity and change.detail["new"] == \
        rebuilt.uid_validity
    [cursor] = rows(engine, MailboxCursor)
    assert cursor.uid_validity == rebuilt.uid_validity and cursor.last_uid == rebuilt.last_uid
    # mark_seen: every message read is flagged \Seen (and none deleted).
    flags = imap.flags(FOLDER)
    assert len(flags) == 10 and all("Seen" in text for text in flags.values())


@needs_pymap
def test_replies_are_handed_to_processing_and_auto_replies_are_not(engine, env, imap):
    enrollments, ids = send_touches(engine, env)
    content = dict(answers(ids))
    for name in ("pat", "lee", "stranger", "pat-again"):
        imap.append(FOLDER, content[name])
    report = poll_mailbox(engine, settings_for(imap), now=POLL_AT)
    assert (report.replies, report.auto_replies, report.duplicates) == (2, 1, 1)
    assert (report.processed, report.process_errors) == (2, 0)
    assert sum(report.decisions.values()) == 2
    pat = inbound(engine, "<CAF=reply-gmail-1@mail.gmail.com>")
    stranger = inbound(engine, "<stranger-1@example.net>")
    for row in (pat, stranger):
        assert row.processed_at is not None and row.decision in report.decisions
        assert row.classification and "intent" in row.classification
    # A seller's reply stops the drip; the out-of-office answer does not.
    assert enrollment(engine, enrollments["pat"]).status == "stopped"
    assert enrollment(engine, enrollments["lee"]).status == "in_progress"
    assert inbound(engine, "<ooo-1@example.com>").decision == AUTO_REPLY_DECISION


@needs_pymap
def test_a_complaint_is_an_opt_out_of_that_email_address(engine, env, imap):
    """Feedback-loop reports in the mailbox: a complaint about Pat's touch (found by the
    original's Message-ID; the provider redacted the recipient) and one about Lee's (no
    Message-ID in the headers: found by the reported recipient) suppress those addresses
    for email with reason `complaint` through the opt-out path, cancel their pending emails
    (not their SMS) and leave an event; a `not-spam` report and a complaint about mail we
    never sent are noted in audit_log; a re-read report changes nothing."""
    from outreach.compliance.gate import MarketPolicy, OutgoingMessage, SendRequest, evaluate_send
    from outreach.compliance.store import load_gate_facts

    enrollments, ids = send_touches(engine, env)
    pat_touch = outbound(engine, enrollments["pat"])
    with ledger_session(engine) as session:  # pending messages of Pat's, never sent
        for channel in ("email", "sms"):
            session.add(Message(direction="outbound", channel=channel,
                                owner_id=pat_touch.owner_id,
                                enrollment_id=enrollments["pat"], touch_number=3,
                                idempotency_key=f"{enrollments['pat']}:3:{channel}",
                                provider="outbox", status="deferred", purpose="touch"))
    pat_report = fixture("arf_complaint.eml").replace(
        b"<ORIGINAL-ARF@sunshineporch.example>", ids["pat"].encode())
    reports = [pat_report,
               _feedback_report("abuse", original_id=None, recipient=LEADS["lee"],
                                headers_only=True, report_id="<arf-lee@fbl.example>"),
               _feedback_report("not-spam", original_id=ids["kim"],
                                report_id="<arf-kim@fbl.example>"),
               _feedback_report("abuse", original_id="<never-sent@sunshineporch.example>",
                                report_id="<arf-unknown@fbl.example>"),
               pat_report]  # the same report delivered twice
    for raw in reports:
        imap.append(FOLDER, raw)

    report = poll_mailbox(engine, settings_for(imap), now=POLL_AT, process=False)

    assert (report.complaints, report.complaints_unmatched, report.feedback_notices) == \
        (2, 1, 1)
    assert (report.duplicates, report.replies, report.failed) == (1, 0, 0)
    assert report.bounces_permanent == report.bounces_unmatched == 0
    suppressions = {row.message_id: row for row in rows(engine, Suppression)}
    lee_touch = outbound(engine, enrollments["lee"])
    assert set(suppressions) == {pat_touch.message_id, lee_touch.message_id}
    for touch in (pat_touch, lee_touch):
        suppression = suppressions[touch.message_id]
        [contact] = rows(engine, Contact, Contact.contact_id == touch.contact_id)
        assert (suppression.channel, suppression.reason) == ("email", "complaint")
        assert (suppression.owner_id, suppression.value_hash) == (touch.owner_id,
                                                                  contact.value_hash)
        assert suppression.lifted_at is None
    [event] = rows(engine, MessageEvent, MessageEvent.message_id == pat_touch.message_id,
                   MessageEvent.source == "imap")
    assert event.status == "complained"
    assert "feedback report <arf-20261125160209-8842@feedback.yahoo.example>" in event.detail
    pending = {row.channel: row.status for row in rows(
        engine, Message, Message.enrollment_id == enrollments["pat"], Message.touch_number == 3)}
    assert pending == {"email": "cancelled", "sms": "cancelled"}
    # As the email's unsubscribe link does: every drip stopped, the lead opted out.
    for name in ("pat", "lee"):
        [enrollment] = rows(engine, Enrollment, Enrollment.enrollment_id == enrollments[name])
        assert (enrollment.status, enrollment.stop_reason) == ("stopped", "opt_out")
    statuses = {row.owner_id: row.status for row in rows(engine, LeadStatusChange)
                if row.status == "opted_out"}
    assert set(statuses) == {pat_touch.owner_id, lee_touch.owner_id}
    [touch_now] = rows(engine, Message, Message.message_id == pat_touch.message_id)
    assert touch_now.status == "sent"  # it was delivered: a complaint is no bounce
    # Reports are not stored as inbound messages.
    assert not rows(engine, Message, Message.direction == "inbound")
    actions = sorted(entry.action for entry in rows(engine, AuditEntry))
    assert actions == ["imap_complaint_unmatched", "imap_feedback_report"]
    # The gate refuses email to Pat's address from now on.
    with ledger_session(engine) as session:
        when = POLL_AT + timedelta(days=1)
        facts = load_gate_facts(session, pat_touch.owner_id, pat_touch.contact_id, when)
        decision = evaluate_send(SendRequest(
            channel="email", owner_id=pat_touch.owner_id, contact_id=pat_touch.contact_id,
            to_address=LEADS["pat"], market=MarketPolicy.from_market(orange()),
            planned_at=when, mailing_state="FL", property_state="FL",
            message=OutgoingMessage(has_unsubscribe_link=True, has_postal_address=True)),
            facts)
    assert not decision.allowed and "suppressed" in decision.refusal_codes

    # Read again (the folder rebuilt): nothing new.
    counts = {model: count(engine, model) for model in (Suppression, MessageEvent)}
    imap.delete(FOLDER)
    imap.create(FOLDER)
    for raw in reports:
        imap.append(FOLDER, raw)
    again = poll_mailbox(engine, settings_for(imap), now=POLL_AT + timedelta(hours=1),
                         process=False)
    assert (again.complaints, again.duplicates) == (0, 3)
    assert {model: count(engine, model) for model in counts} == counts


def _smtp_channels(env: Path, port: int, market) -> Channels:  # type: ignore[no-untyped-def]
    """SMS to the outbox, email through the SMTP server on loopback at `port`."""
    return Channels(sms=OutboxChannel(env / "outbox", "sms"), email=SmtpEmailChannel(
        SmtpSender(SmtpSettings("127.0.0.1", port, starttls=False, timeout_seconds=5)),
        market.email.from_address))


def _question(sender: str, message_id: str | None, in_reply_to: str | None,
              references: str | None) -> bytes:
    question = EmailMessage()
    question["From"] = sender
    question["To"] = "replies@sunshineporch.example"
    question["Subject"] = "Re: About your property on Elm St"
    question["Date"] = format_datetime(POLL_AT - timedelta(minutes=10))
    if message_id:
        question["Message-ID"] = message_id
    if in_reply_to:
        question["In-Reply-To"] = in_reply_to
    if references:
        question["References"] = references
    question.set_content("Thanks for the letter. Who are you exactly?")
    return question.as_bytes()


@needs_pymap
def test_our_answer_to_an_email_is_threaded_in_the_sellers_mail_client(engine, env, imap):
    """A question read by the poller is answered over SMTP (aiosmtpd): the answer carries
    In-Reply-To (the question's Message-ID) and References (the question's References, then
    its id). A question without a Message-ID has no id to answer: only the thread it named."""
    from outreach.replies.classify import ReplyClassifier
    from outreach.replies.intent import IntentClassifier
    from outreach.replies.sentiment import VaderSentiment

    _, ids = send_touches(engine, env)
    imap.append(FOLDER, _question(LEADS["kim"], "<kim-q@mail.example.org>",
                                  "<kim-0@mail.example.org>",
                                  f"{ids['kim']} <kim-0@mail.example.org>"))
    imap.append(FOLDER, _question(LEADS["slow"], None, ids["slow"], None))
    market = orange()
    with running_mailbox() as (handler, port):
        mailbox: Mailbox = handler
        channels = _smtp_channels(env, port, market)
        report = poll_mailbox(engine, settings_for(imap), now=POLL_AT, channels=channels,
                              classifier=ReplyClassifier(IntentClassifier(), VaderSentiment()))
    assert report.decisions == {"auto_reply": 2}
    answers_by_address = {str(message["To"]): message for message in mailbox.messages}
    kim = answers_by_address[LEADS["kim"]]
    assert "a home buyer in Orange County" in kim.get_body(("plain",)).get_content()
    assert kim["In-Reply-To"] == "<kim-q@mail.example.org>"
    assert kim["References"].split() == [ids["kim"], "<kim-0@mail.example.org>",
                                         "<kim-q@mail.example.org>"]
    slow = answers_by_address[LEADS["slow"]]
    assert slow["In-Reply-To"] is None
    assert slow["References"].split() == [ids["slow"]]


@needs_pymap
def test_poll_limit_and_batches_keep_uid_order(engine, env, imap):
    for number in range(7):
        message = EmailMessage()
        message["From"] = f"person{number}@example.net"
        message["To"] = "replies@sunshineporch.example"
        message["Subject"] = f"note {number}"
        message["Message-ID"] = f"<note-{number}@example.net>"
        message.set_content(f"note number {number}")
        imap.append(FOLDER, message.as_bytes())
    settings = settings_for(imap, wholesaler_imap_batch_size=2)
    first = poll_mailbox(engine, settings, limit=5, now=POLL_AT, process=False)
    assert (first.fetched, first.unknown_senders, first.more_waiting) == (5, 5, True)
    second = poll_mailbox(engine, settings, limit=5, now=POLL_AT, process=False)
    assert (second.fetched, second.more_waiting) == (2, False)
    stored = rows(engine, Message, Message.direction == "inbound")
    assert sorted(row.body for row in stored) == [f"note number {n}" for n in range(7)]


@needs_pymap
def test_a_wrong_password_or_a_closed_port_is_an_imap_error(engine, imap):
    with pytest.raises(ImapError, match="login"):
        poll_mailbox(engine, settings_for(imap, wholesaler_imap_password="wrong"), process=False)
    from smtp_mailbox import free_port

    with pytest.raises(ImapError, match="cannot connect"):
        poll_mailbox(engine, settings_for(imap, wholesaler_imap_port=free_port(),
                                          wholesaler_imap_timeout_seconds=2), process=False)
    assert count(engine, MailboxCursor) == 0


# ------------------------------------------------------------------------------------------
# The Dagster sensor


def _sensor_tick(ledger_url: str):  # type: ignore[no-untyped-def]
    from pipelines.defs.replies.sensors import imap_replies_sensor
    from pipelines.resources import LedgerResource

    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance,
                                          resources={"ledger": LedgerResource(url=ledger_url)})
        return imap_replies_sensor(context)


def test_sensor_skips_without_a_mailbox(engine, monkeypatch):
    monkeypatch.delenv("WHOLESALER_IMAP_HOST", raising=False)
    result = _sensor_tick(str(engine.url))
    assert "no IMAP mailbox configured" in result.skip_message


@needs_pymap
def test_sensor_polls_and_reports_counts(engine, imap, monkeypatch):
    for name, value in {"WHOLESALER_IMAP_HOST": imap.host, "WHOLESALER_IMAP_PORT": imap.port,
                        "WHOLESALER_IMAP_USER": imap.user,
                        "WHOLESALER_IMAP_PASSWORD": imap.password,
                        "WHOLESALER_IMAP_FOLDER": FOLDER, "WHOLESALER_IMAP_SSL": "plain"}.items():
        monkeypatch.setenv(name, str(value))
    stranger = EmailMessage()
    stranger["From"] = "chris@example.net"
    stranger["To"] = "replies@sunshineporch.example"
    stranger["Subject"] = "Question"
    stranger["Message-ID"] = "<sensor-1@example.net>"
    stranger.set_content("Do you buy mobile homes?")
    imap.append(FOLDER, stranger.as_bytes())
    imap.append(FOLDER, b"no sender at all\r\n")
    result = _sensor_tick(str(engine.url))
    assert f"IMAP {FOLDER} up to UID" in result.skip_message
    assert '"unknown_senders": 1' in result.skip_message
    assert '"unreadable": 1' in result.skip_message
    assert inbound(engine, "<sensor-1@example.net>").owner_id is None
    assert "nothing new" in _sensor_tick(str(engine.url)).skip_message


def test_sweep_sensor_processes_a_stored_reply_left_unprocessed(engine, monkeypatch):
    from outreach.replies.inbound import InboundMessage, receive_inbound
    from pipelines.defs.replies.sensors import replies_sweep_sensor
    from pipelines.resources import LedgerResource

    monkeypatch.setenv("WHOLESALER_LLM_PROVIDER", "none")
    receipt = receive_inbound(engine, InboundMessage(
        channel="email", provider="imap", provider_message_id="<left-over@example.net>",
        from_address="pat@example.net", to_address=None, body="Who is this?",
        received_at=datetime(2026, 11, 23, 15, 0, tzinfo=UTC)))
    with ledger_session(engine) as session:
        assert session.get(Message, receipt.message_id).processed_at is None
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, resources={"ledger": LedgerResource(url=str(engine.url))})
        first = replies_sweep_sensor(context)
        second = replies_sweep_sensor(context)
    assert "processed 1 pending replies" in first.skip_message
    assert "processed 0 pending replies" in second.skip_message
    with ledger_session(engine) as session:
        row = session.get(Message, receipt.message_id)
        assert row.processed_at is not None and row.decision
