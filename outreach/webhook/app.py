"""The webhook receiver: a Starlette ASGI app for Twilio (inbound SMS, status callbacks) and the
email unsubscribe links, served by uvicorn (`wholesaler webhook serve`, docs/webhook.md).

Routes:

- ``POST /twilio/sms``: an inbound SMS. `X-Twilio-Signature` is checked with the `twilio`
  library's `RequestValidator` over the public URL (`WebhookConfig.public_url` + the request's
  path and query) and every form parameter received; a missing or wrong signature is 403 and
  nothing is written. The message is stored with `outreach.replies.inbound.receive_inbound`
  before the answer (idempotent on MessageSid: a replay answers 200 and changes nothing;
  Twilio's `OptOutType` is passed through, and an opt-out is suppressed inside that call, so
  it is recorded by the time Twilio gets its answer). Classification and the decision
  (`process_inbound`, which may call an LLM) run after the answer, in a Starlette
  `BackgroundTask` that hands the message to a small worker pool, so Twilio's 15 s timeout is
  never at risk. A crash there (or a restart with work queued) leaves the row with
  `processed_at` NULL, and `process_pending` (the replies sweep) picks it up. The answer is an
  empty TwiML ``<Response/>``: replies go out through the ledger and the compliance gate,
  never through TwiML.
- ``POST /twilio/status``: a status callback, signed the same way; applied with
  `outreach.sending.apply_status_callback` (the ``mid`` query parameter of our callback URL
  names the ledger message). An unknown MessageSid answers 200 with a warning in the log
  (Twilio would retry otherwise); a replay of a callback already applied changes nothing.
- ``GET /unsubscribe/{token}``: a confirmation page with a button; ``POST`` (the button, or a
  mail client's RFC 8058 one-click ``List-Unsubscribe=One-Click``) records the email opt-out:
  a suppression of the message's contact and owner, every active enrollment of the owner
  stopped, the lead `opted_out`. A GET never unsubscribes (link scanners fetch links). A
  forged or malformed token is 404. Idempotent.
- ``GET /healthz``: 200 when the ledger answers and is at the newest migration, else 503.

Logs go through the project's redacting logger; phone numbers, addresses and message bodies
are never logged, and the access log shows ``/unsubscribe/[token]`` instead of the token.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import Engine, inspect, select, text
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import ImmutableMultiDict
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from twilio.request_validator import RequestValidator, get_signature_algorithm

from outreach.compliance.store import record_suppression
from outreach.ledger.db import head_revision, ledger_session
from outreach.ledger.models import AuditEntry, Contact, Enrollment, MessageEvent, Owner, Suppression
from outreach.ledger.models import Message as LedgerMessage
from outreach.sending import (
    apply_status_callback,
    send_settings,
    set_lead_status,
    stop_enrollment,
    unsubscribe_secret,
    verify_unsubscribe_token,
)
from outreach.webhook.settings import WebhookConfig

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
TWIML_MEDIA_TYPE = "text/xml"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 500
UNSUBSCRIBE_ACTOR = "webhook:unsubscribe"
_UNSUBSCRIBE_PATH = re.compile(r"^(.*/unsubscribe/)[^/]+$")


class _Refusal(Exception):
    """A request refused before anything is written: its status code and a short reason."""

    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


# ------------------------------------------------------------------------------------------
# Access log without secrets or personal data


def loggable_path(path: str) -> str:
    """The request path for the log: an unsubscribe token (a capability) is masked."""
    return _UNSUBSCRIBE_PATH.sub(r"\1[token]", path)


class AccessLogMiddleware:
    """One log line per request: method, path (token masked, no query), status, duration.
    Replaces uvicorn's access log, which would print the unsubscribe tokens."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            path = loggable_path(scope.get("path", ""))
            log.info("%s %s %s", scope.get("method"), path, status,
                     extra={"http_method": scope.get("method"), "path": path,
                            "status": status,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 1)})


# ------------------------------------------------------------------------------------------
# Twilio's signature


def public_request_url(request: Request, public_url: str | None) -> str:
    """The URL Twilio posted to and signed: `public_url` + the raw path and query (as
    received), or the request's own URL when no public URL is configured."""
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw_path.decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    base = public_url or f"{request.url.scheme}://{request.url.netloc}"
    return f"{base}{path}" + (f"?{query}" if query else "")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _Refusal(413, "body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Refusal(413, "body too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def signed_form(request: Request, config: WebhookConfig) -> ImmutableMultiDict[str, str]:
    """The form parameters of a Twilio webhook whose signature is valid (every parameter,
    repeated ones included, goes into the check). Raises `_Refusal` otherwise."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_MEDIA_TYPE:
        raise _Refusal(415, f"content type {media_type or 'missing'}, not {FORM_MEDIA_TYPE}")
    body = await _read_body(request, config.max_body_bytes)
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict",
                          max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError) as error:
        raise _Refusal(400, f"malformed form body: {type(error).__name__}") from None
    form: ImmutableMultiDict[str, str] = ImmutableMultiDict(pairs)
    if config.insecure_dev:
        return form
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        raise _Refusal(403, "missing X-Twilio-Signature")
    if config.auth_token is None:  # WebhookConfig refuses this; fail closed regardless
        raise _Refusal(403, "no signing token configured")
    validator = RequestValidator(config.auth_token.get_secret_value())
    algorithm = get_signature_algorithm(
        request.headers.get("x-twilio-webhooks-signature-settings"))
    url = public_request_url(request, config.public_url)
    if not validator.validate(url, form, signature, algorithm):
        raise _Refusal(403, "invalid X-Twilio-Signature")
    return form


def _refused(request: Request, refusal: _Refusal) -> Response:
    log.warning("refused %s %s: %s", request.method, loggable_path(request.url.path),
                refusal.reason, extra={"status": refusal.status_code})
    return Response(refusal.reason + "\n", status_code=refusal.status_code,
                    media_type="text/plain")


def _twiml(background: BackgroundTask | None = None) -> Response:
    return Response(EMPTY_TWIML, media_type=TWIML_MEDIA_TYPE, background=background)


# ------------------------------------------------------------------------------------------
# Status callbacks


def _callback_already_applied(engine: Engine, sid: str, status: str,
                              error_code: str | None) -> bool:
    """True when this exact callback (MessageSid, status, error code) was applied before, so a
    replay adds no second status event (`apply_status_callback` writes its event detail as
    ``twilio status <status>``)."""
    code = error_code if error_code not in (None, "", "0") else None
    with ledger_session(engine) as session:
        message_id = session.scalar(select(LedgerMessage.message_id).where(
            LedgerMessage.provider_message_id == sid))
        if message_id is None:
            return False
        details = session.scalars(select(MessageEvent.detail).where(
            MessageEvent.message_id == message_id, MessageEvent.source == "callback",
            MessageEvent.error_code.is_(None) if code is None
            else MessageEvent.error_code == code)).all()
    expected = f"twilio status {status}"
    return any(detail == expected or detail.startswith(expected + ",") for detail in details)


# ------------------------------------------------------------------------------------------
# Email unsubscribe


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.6rem 1.2rem}}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    response = HTMLResponse(_PAGE.format(title=html.escape(title), body=body),
                            status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _not_found() -> HTMLResponse:
    return _page("Link not recognised",
                 "<p>This unsubscribe link is not valid. If you keep receiving our emails, "
                 "reply to one of them with the word STOP.</p>", 404)


def _opt_out_active(session: Any, channel: str, owner_id: int | None,
                    value_hash: str | None) -> bool:
    query = select(Suppression.suppression_id).where(
        Suppression.reason == "opt_out", Suppression.channel.in_((channel, "all")),
        Suppression.lifted_at.is_(None))
    if owner_id is not None:
        query = query.where(Suppression.owner_id == owner_id)
    if value_hash is not None:
        query = query.where(Suppression.value_hash == value_hash)
    return session.scalar(query.limit(1)) is not None


def _channel_of(message: LedgerMessage) -> str:
    return message.channel if message.channel in ("sms", "email") else "email"


def unsubscribe_state(engine: Engine, token: str, secret: bytes) -> tuple[bool, str | None,
                                                                          bool]:
    """(token valid, masked address, already unsubscribed) for the confirmation page."""
    with ledger_session(engine) as session:
        message = verify_unsubscribe_token(session, token, secret)
        if message is None:
            return False, None, False
        contact = session.get(Contact, message.contact_id) if message.contact_id else None
        return (True, contact.value_hint if contact is not None else None,
                _opt_out_active(session, _channel_of(message), message.owner_id,
                                message.counterpart_hash))


def record_unsubscribe(engine: Engine, token: str, secret: bytes,
                       at: datetime | None = None) -> int | None:
    """Record the opt-out a valid unsubscribe token asks for (on the channel of the message
    the link was in: email, as only emails carry the link); returns the message id of the
    token, or None for a forged or malformed token. Idempotent: an opt-out already in force
    (not lifted) for that owner and address adds nothing."""
    at = at or datetime.now(UTC)
    with ledger_session(engine) as session:
        message = verify_unsubscribe_token(session, token, secret)
        if message is None:
            return None
        value_hash = message.counterpart_hash
        channel = _channel_of(message)
        if _opt_out_active(session, channel, message.owner_id, value_hash):
            return message.message_id
        detail = "unsubscribe link (RFC 8058 one-click or the confirmation page)"
        contact = session.get(Contact, message.contact_id) if message.contact_id else None
        record_suppression(session, channel, "opt_out", owner_id=message.owner_id,
                           contact_id=contact.contact_id if contact else None,
                           detail=detail, message_id=message.message_id, created_at=at,
                           value_hash=value_hash)
        if message.owner_id is not None:
            # Every drip of the owner, completed ones included (an opt-out outlives them).
            for enrollment in session.scalars(select(Enrollment).where(
                    Enrollment.owner_id == message.owner_id, Enrollment.status != "stopped")):
                stop_enrollment(enrollment, "opt_out")
            owner = session.get(Owner, message.owner_id)
            if owner is not None:
                set_lead_status(session, owner.owner_id, owner.market_code, "opted_out",
                                by=UNSUBSCRIBE_ACTOR, note=detail, at=at, only_from=None)
        session.add(AuditEntry(at=at, actor=UNSUBSCRIBE_ACTOR, action=f"{channel}_opt_out",
                               entity_type="message", entity_id=str(message.message_id),
                               detail={"owner_id": message.owner_id,
                                       "contact_id": message.contact_id}))
        return message.message_id


# ------------------------------------------------------------------------------------------
# Health


def ledger_revision_quietly(engine: Engine) -> str | None:
    """The ledger's migration (None: never migrated), read from Alembic's version table
    directly: `ledger_revision` logs two Alembic lines per call, every health check."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


# ------------------------------------------------------------------------------------------
# The app


def create_app(engine: Engine, config: WebhookConfig, *, classifier: Any = None,
               channels: Any = None, unsubscribe_key: bytes | None = None,
               process_workers: int = 2,
               clock: Callable[[], datetime] | None = None) -> Starlette:
    """The ASGI app on `engine` (migrated by the caller). `classifier` and `channels` go to
    `process_inbound` (None: its defaults). `unsubscribe_key`: the HMAC key of the
    unsubscribe tokens (default `WHOLESALER_UNSUBSCRIBE_SECRET`, as the send path uses).
    `process_workers`: replies classified at once after the answer."""
    from outreach.replies.inbound import (
        InboundError,
        InboundMessage,
        process_inbound,
        receive_inbound,
    )

    now = clock or (lambda: datetime.now(UTC))
    secret = unsubscribe_key or unsubscribe_secret(send_settings())
    workers = ThreadPoolExecutor(max_workers=max(1, process_workers),
                                 thread_name_prefix="webhook-process")
    if config.insecure_dev:
        log.error("INSECURE DEVELOPMENT MODE: X-Twilio-Signature is NOT checked; anyone who "
                  "can reach this receiver can forge inbound messages, opt-outs and status "
                  "callbacks. Never run this way where Twilio or the internet can reach it.")
    elif not config.public_url:
        log.warning("WHOLESALER_WEBHOOK_PUBLIC_URL is not set: signatures are checked against "
                    "the URL the app sees, which is wrong behind a proxy (every webhook then "
                    "gets 403)")

    def process(message_id: int) -> None:
        try:
            decision = process_inbound(engine, message_id, classifier=classifier,
                                       channels=channels)
        except Exception:
            log.exception("processing inbound message %s failed; it stays unprocessed and "
                          "process_pending (the replies sweep) picks it up", message_id)
        else:
            log.info("inbound message %s processed: %s", message_id, decision,
                     extra={"message_id": message_id, "decision": decision})

    def hand_off(message_id: int) -> None:
        try:
            workers.submit(process, message_id)
        except RuntimeError:  # shutting down: the sweep picks it up
            log.warning("inbound message %s left for process_pending (shutting down)",
                        message_id)

    async def inbound_sms(request: Request) -> Response:
        try:
            form = await signed_form(request, config)
        except _Refusal as refusal:
            return _refused(request, refusal)
        sid = form.get("MessageSid") or form.get("SmsSid")
        sender = form.get("From")
        if not sid or not sender:
            return _refused(request, _Refusal(400, "MessageSid and From are required"))
        message = InboundMessage(
            channel="sms", provider="twilio", provider_message_id=sid, from_address=sender,
            to_address=form.get("To") or None, body=form.get("Body") or "",
            received_at=now(), opt_out_type=(form.get("OptOutType") or None))
        try:
            receipt = await run_in_threadpool(receive_inbound, engine, message)
        except InboundError as error:
            return _refused(request, _Refusal(400, str(error)))
        except Exception:
            log.exception("storing inbound message %s failed", sid)
            return Response("could not store the message\n", status_code=500,
                            media_type="text/plain")
        log.info("inbound sms %s stored as message %s%s%s", sid, receipt.message_id,
                 " (duplicate)" if receipt.is_duplicate else "",
                 " (opted out)" if receipt.opted_out else "",
                 extra={"message_sid": sid, "message_id": receipt.message_id,
                        "is_duplicate": receipt.is_duplicate, "opted_out": receipt.opted_out,
                        "known_owner": receipt.owner_id is not None})
        if receipt.is_duplicate:
            return _twiml()
        return _twiml(BackgroundTask(hand_off, receipt.message_id))

    async def status_callback(request: Request) -> Response:
        try:
            form = await signed_form(request, config)
        except _Refusal as refusal:
            return _refused(request, refusal)
        sid = form.get("MessageSid") or form.get("SmsSid")
        status = form.get("MessageStatus") or form.get("SmsStatus")
        if not sid or not status:
            return _refused(request, _Refusal(400, "MessageSid and MessageStatus are required"))
        error_code = form.get("ErrorCode") or None
        mid = request.query_params.get("mid", "")
        message_id = int(mid) if mid.isdigit() and len(mid) < 19 else None
        if await run_in_threadpool(_callback_already_applied, engine, sid, status, error_code):
            log.info("status callback %s %s already applied", sid, status,
                     extra={"message_sid": sid, "twilio_status": status})
            return _twiml()
        applied = await run_in_threadpool(
            lambda: apply_status_callback(engine, sid, status, error_code, now(),
                                          message_id=message_id))
        if applied is None:
            log.warning("status callback for unknown MessageSid %s (status %s, mid %s): "
                        "ignored", sid, status, message_id,
                        extra={"message_sid": sid, "twilio_status": status})
        else:
            log.info("status callback %s: message %s %s%s", sid, applied, status,
                     f" error {error_code}" if error_code else "",
                     extra={"message_sid": sid, "message_id": applied,
                            "twilio_status": status, "error_code": error_code})
        return _twiml()

    async def unsubscribe(request: Request) -> Response:
        token = request.path_params["token"]
        if request.method == "POST":
            # RFC 8058: the body is List-Unsubscribe=One-Click (form-encoded or multipart);
            # the token alone is the authority, so the body is not needed.
            message_id = await run_in_threadpool(record_unsubscribe, engine, token, secret,
                                                 now())
            if message_id is None:
                log.warning("unsubscribe with an unknown or forged token")
                return _not_found()
            log.info("email unsubscribe recorded for message %s", message_id,
                     extra={"message_id": message_id})
            return _page("You are unsubscribed",
                         "<p>You will not receive any more emails from us. "
                         "Sorry to have bothered you.</p>")
        valid, hint, already = await run_in_threadpool(unsubscribe_state, engine, token,
                                                       secret)
        if not valid:
            return _not_found()
        if already:
            return _page("You are unsubscribed",
                         "<p>This address is already unsubscribed; you will not receive any "
                         "more emails from us.</p>")
        who = f" for <strong>{html.escape(hint)}</strong>" if hint else ""
        action = "./" + html.escape(token, quote=True)
        return _page("Unsubscribe",
                     f"<p>Stop all emails from us{who}?</p>"
                     f'<form method="post" action="{action}">'
                     '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
                     '<button type="submit">Unsubscribe</button></form>')

    head = head_revision()

    async def healthz(_request: Request) -> Response:
        def check() -> tuple[bool, dict[str, Any]]:
            try:
                current = ledger_revision_quietly(engine)
            except Exception as error:
                log.warning("healthz: ledger unreachable: %s", type(error).__name__)
                return False, {"status": "unavailable",
                               "reason": f"ledger unreachable ({type(error).__name__})"}
            if current != head:
                return False, {"status": "unavailable", "ledger_revision": current,
                               "head_revision": head, "reason": "ledger not migrated"}
            return True, {"status": "ok", "ledger_revision": current}

        ok, payload = await run_in_threadpool(check)
        return JSONResponse(payload, status_code=200 if ok else 503,
                            headers={"Cache-Control": "no-store"})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            # Replies still queued are left unprocessed for process_pending; the ones being
            # classified finish.
            workers.shutdown(wait=True, cancel_futures=True)

    routes = [
        Route("/twilio/sms", inbound_sms, methods=["POST"], name="twilio_sms"),
        Route("/twilio/status", status_callback, methods=["POST"], name="twilio_status"),
        Route("/unsubscribe/{token}", unsubscribe, methods=["GET", "POST"], name="unsubscribe"),
        Route("/healthz", healthz, methods=["GET"], name="healthz"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(AccessLogMiddleware)],
                     lifespan=lifespan)
