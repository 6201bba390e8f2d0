"""Reading one email from the replies mailbox: its ids, sender, date, threading references,
whether it is an automatic reply, and the new text a person wrote (quoted history, signatures
and client separators removed).

Pure functions over `email.message.EmailMessage` (parsed with `email.policy.default`); the
IMAP poller (`outreach.replies.mailbox`) and the bounce reader (`outreach.replies.bounces`)
call them, and the tests feed them the .eml files in tests/fixtures/email/.

- `parse_email(raw)`: bytes as fetched (BODY.PEEK[]) -> message; never raises on bad input
  (the `email` package records defects instead).
- `message_id_of(message, raw)`: the Message-ID in angle brackets as our outbound rows store
  it; a message without one gets a stable synthetic id (sha256 of its headers and body) so a
  re-read is recognised as the same message.
- `thread_references(message)`: In-Reply-To first, then References newest first, deduplicated.
- `references_chain(message)`: the thread the message continues, oldest first (References,
  else In-Reply-To), stored with an inbound email; `answer_threading(message_id, chain)`
  turns it into the In-Reply-To and References of our answer (RFC 5322 3.6.4).
- `auto_reply_reason(message)`: why the message is an automatic answer (RFC 3834
  `Auto-Submitted`, `X-Autoreply`, `Precedence: auto_reply / bulk / junk`, an "Out of Office"
  / "Automatic reply" subject), or None.
- `new_text(message)`: text/plain preferred, else the HTML part turned to text with
  BeautifulSoup (quoted blocks removed first); then `strip_quoted` cuts "On … wrote:" /
  "El … escribió:" headers, Outlook "-----Original Message-----" and "From: … Sent: …"
  blocks, Gmail's forwarded separator, lines starting with ">", the "-- " signature and
  "Sent from my …" lines.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import cast

SYNTHETIC_ID_DOMAIN = "synthetic.wholesaler.invalid"
MAX_HEADER_ID_LENGTH = 200  # messages.provider_message_id is String(200)
MAX_REFERENCES = 20  # the first id of a thread and the newest ones (long threads are trimmed)

_MSGID = re.compile(r"<[^<>\s]+>")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')

_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|respuesta)|auto:|out of (the )?office|"
    r"respuesta autom[aá]tica|fuera de la oficina|away from (the )?office|on vacation|"
    r"vacation reply|abwesenheit)", re.IGNORECASE)
_AUTO_PRECEDENCE = {"auto_reply", "bulk", "junk"}

# A line that opens the quoted history: everything from it down is dropped.
_QUOTE_HEADERS = [
    re.compile(r"^\s*On\b.{0,400}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*El\b.{0,400}\bescribi[oó]:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Le\b.{0,400}\ba [ée]crit\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*-{2,}\s*(Original Message|Mensaje original|Forwarded message|"
               r"Mensaje reenviado)\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*_{20,}\s*$"),  # Outlook's rule above the quoted header block
    re.compile(r"^\s*(-- ?|--)$"),  # the signature delimiter (RFC 3676 "-- ")
    re.compile(r"^\s*Sent from my \w+", re.IGNORECASE),
    re.compile(r"^\s*Get Outlook for (iOS|Android)", re.IGNORECASE),
    re.compile(r"^\s*Enviado desde mi \w+", re.IGNORECASE),
]
# Outlook without a rule: "From: …" followed within two lines by "Sent:" / "Date:".
_OUTLOOK_FROM = re.compile(r"^\s*\*?(From|De)\s*:\*?\s+\S", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(r"^\s*\*?(Sent|Date|To|Enviado|Fecha|Para)\s*:\*?\s", re.IGNORECASE)
_HTML_QUOTES = ("blockquote", "div.gmail_quote", "div.gmail_extra", "div.yahoo_quoted",
                "div.moz-cite-prefix", "div#mail-editor-reference-message-container")
_HTML_CUT_FROM = ("div#appendonsend", "div#divRplyFwdMsg")


def parse_email(raw: bytes) -> EmailMessage:
    """The message as the `email` package reads it with the modern policy."""
    # policy.default's message factory is EmailMessage
    return cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(raw))


def header_text(message: EmailMessage, name: str) -> str | None:
    """A header's decoded value, or None when absent or unreadable."""
    try:
        value = message.get(name)
    except (ValueError, TypeError, IndexError, LookupError):  # a header policy.default rejects
        raw = message.get_all(name, failobj=None)
        value = raw[0] if raw else None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _ids_in(value: str | None) -> list[str]:
    return [found for found in _MSGID.findall(value or "") if len(found) <= MAX_HEADER_ID_LENGTH]


def message_id_of(message: EmailMessage, raw: bytes) -> str:
    """The Message-ID (with angle brackets), or `<sha256@synthetic.wholesaler.invalid>` of the
    raw bytes when there is none (a re-read of the same bytes gives the same id)."""
    found = _ids_in(header_text(message, "Message-ID"))
    if found:
        return found[0]
    bare = (header_text(message, "Message-ID") or "").strip("<> ")
    if bare and " " not in bare and "@" in bare and len(bare) + 2 <= MAX_HEADER_ID_LENGTH:
        return f"<{bare}>"
    digest = hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()
    return f"<{digest}@{SYNTHETIC_ID_DOMAIN}>"


def thread_references(message: EmailMessage) -> tuple[str, ...]:
    """The ids this message answers: In-Reply-To first, then References newest first."""
    ordered: list[str] = []
    for found in _ids_in(header_text(message, "In-Reply-To")):
        if found not in ordered:
            ordered.append(found)
    for found in reversed(_ids_in(header_text(message, "References"))):
        if found not in ordered:
            ordered.append(found)
    return tuple(ordered)


def references_chain(message: EmailMessage) -> tuple[str, ...]:
    """The thread this message continues, oldest first: its References, else its In-Reply-To
    (a client that sets no References), deduplicated."""
    found = _ids_in(header_text(message, "References")) or \
        _ids_in(header_text(message, "In-Reply-To"))
    return tuple(dict.fromkeys(found))


def answer_threading(message_id: str | None,
                     chain: str | tuple[str, ...] | None) -> tuple[str | None, tuple[str, ...]]:
    """(In-Reply-To, References) of our answer to an email with `message_id` that continued
    `chain` (its `references_chain`, or that stored space-separated): In-Reply-To is its
    Message-ID, References the chain followed by it, trimmed to the thread's first id and
    the newest ones. A synthetic id (the message had none) is no id to answer."""
    parents = chain.split() if isinstance(chain, str) else list(chain or ())
    ids = [found for value in parents for found in _ids_in(value)]
    answered = _ids_in(message_id)
    reply_to = answered[0] if answered and not answered[0].endswith(
        f"@{SYNTHETIC_ID_DOMAIN}>") else None
    ids = [found for found in dict.fromkeys(ids) if found != reply_to]
    if reply_to is not None:
        ids.append(reply_to)
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1):]]
    return reply_to, tuple(ids)


def _first_address(message: EmailMessage, name: str) -> str | None:
    values = message.get_all(name, failobj=None)
    if not values:
        return None
    for _display, address in getaddresses([str(value) for value in values]):
        address = address.strip().lower()
        if "@" in address:
            return address
    return None


def sender_address(message: EmailMessage) -> str | None:
    """The From address, lower-cased (Sender, then Return-Path when From is unusable)."""
    return (_first_address(message, "From") or _first_address(message, "Sender")
            or _first_address(message, "Return-Path"))


def recipient_address(message: EmailMessage) -> str | None:
    """The first To (then Delivered-To) address, lower-cased."""
    return _first_address(message, "To") or _first_address(message, "Delivered-To")


def internaldate_of(fetch_line: bytes) -> datetime | None:
    """INTERNALDATE from an IMAP FETCH response line, aware UTC."""
    found = _INTERNALDATE.search(fetch_line)
    if found is None:
        return None
    try:
        stamp = datetime.strptime(found.group(1).decode("ascii").strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None
    return stamp.astimezone(UTC)


def received_at_of(message: EmailMessage, internaldate: datetime | None,
                   now: datetime) -> datetime:
    """The Date header (aware UTC; a zone-less date is taken as UTC) unless it is missing,
    unreadable or more than a day in the future; then INTERNALDATE; then `now`."""
    text = header_text(message, "Date")
    if text:
        try:
            stamp = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            stamp = None
        if stamp is not None:
            stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
            if stamp <= now + timedelta(days=1):
                return stamp
    return internaldate or now


def auto_reply_reason(message: EmailMessage) -> str | None:
    """Why this is an automatic answer (vacation notice, autoresponder, bulk), or None."""
    submitted = (header_text(message, "Auto-Submitted") or "").lower()
    if submitted and submitted.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponse"):
        if header_text(message, name) is not None:
            return f"{name} header"
    precedence = (header_text(message, "Precedence") or "").lower().strip()
    if precedence in _AUTO_PRECEDENCE:
        return f"Precedence: {precedence}"
    suppress = (header_text(message, "X-Auto-Response-Suppress") or "").lower()
    if "oof" in suppress and (header_text(message, "X-MS-Exchange-Inbox-Rules-Loop")
                              is not None):
        return "Exchange inbox rule (OOF)"
    subject = header_text(message, "Subject") or ""
    if _AUTO_SUBJECT.search(subject):
        return f"subject {subject[:80]!r}"
    return None


def part_text(part: EmailMessage) -> str:
    """A text part's decoded content; a bad charset or transfer encoding is decoded as
    UTF-8 with replacement characters rather than failing."""
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except (LookupError, ValueError, KeyError, AssertionError):
        pass
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode(part.get_content_charset() or "utf-8", errors="replace") \
            if _known_charset(part.get_content_charset()) \
            else payload.decode("utf-8", errors="replace")
    return str(part.get_payload() or "")


def _known_charset(name: str | None) -> bool:
    if not name:
        return False
    try:
        "".encode(name)
    except LookupError:
        return False
    return True


def html_to_text(markup: str) -> str:
    """Visible text of an HTML body, quoted blocks (blockquote, Gmail/Outlook/Yahoo quote
    containers) removed, block elements on their own lines."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup(["script", "style", "head", "title"]):
        tag.decompose()
    # Outlook puts the quoted message after its header block, as siblings: cut from there.
    for selector in _HTML_CUT_FROM:
        for tag in soup.select(selector):
            for sibling in list(tag.next_siblings):
                sibling.extract()
            tag.decompose()
    for selector in _HTML_QUOTES:
        for tag in soup.select(selector):
            tag.decompose()
    for tag in soup.find_all("br"):
        tag.replace_with("\n")
    for tag in soup.find_all(["p", "div", "li", "tr", "h1", "h2", "h3", "h4", "table"]):
        tag.insert_before("\n")
        tag.insert_after("\n")
    text = soup.get_text()
    lines = [re.sub(r"[ \t\xa0]+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(lines)


def strip_quoted(text: str) -> str:
    """The new text of a reply: everything from the first quote header, separator or
    signature down is dropped, and so is every remaining line starting with ">"."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        joined = line if index + 1 >= len(lines) else f"{line} {lines[index + 1]}"
        if any(pattern.match(line) for pattern in _QUOTE_HEADERS):
            break
        # Gmail wraps a long "On …, Name <address> wrote:" over two lines.
        if (re.match(r"^\s*(On|El|Le)\b", line) and not line.rstrip().endswith(":")
                and any(pattern.match(joined) for pattern in _QUOTE_HEADERS[:3])):
            break
        if _OUTLOOK_FROM.match(line) and any(_OUTLOOK_NEXT.match(following)
                                             for following in lines[index + 1:index + 3]):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    body = "\n".join(kept).strip()
    return re.sub(r"\n{3,}", "\n\n", body)


def new_text(message: EmailMessage) -> str:
    """What the sender wrote in this message, without the quoted history (text/plain
    preferred, else HTML made text; a non-multipart message of another type gives "")."""
    try:
        body = message.get_body(preferencelist=("plain", "html"))
    except (KeyError, ValueError, AttributeError):
        body = None
    if body is None:
        if message.get_content_maintype() == "text" or not message.is_multipart():
            body = message
        else:
            return ""
    text = part_text(cast(EmailMessage, body))
    if body.get_content_subtype() == "html":
        text = html_to_text(text)
    return strip_quoted(text)
