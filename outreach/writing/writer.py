"""Write a message with the LLM, check it, and fall back to the fixed template when anything
is wrong; record every call in `llm_calls`.

`write_message(kind, variables, channel=..., chat=..., fallback=...) -> WrittenMessage`:

1. Load the prompt `kind` (prompts/touches or prompts/llm_answers; `followup_2_v1`, or
   `followup_2` for the newest version) and render it with the trusted variables as one
   JSON object between markers and each untrusted variable (an owner's reply) in its own
   marked block.
2. Ask the model (`JsonChat`, outreach/replies/llm.py) for JSON matching
   prompts/written_message.schema.json, with the prompt's temperature and token limit.
3. Assemble the final message: the model writes only the body (and an email subject); the
   code appends the fixed footer: for SMS the sender's name when the body lacks it and
   "Reply STOP to opt out."; for email the agent and sender, the postal address, the
   advertisement notice and the unsubscribe URL, in the text and the HTML part.
4. Run the checks (outreach/writing/checks.py). Any failed check, no LLM, an unreachable, slow
   or HTTP-failing model, invalid JSON or JSON outside the schema: the `fallback` (the fixed
   template rendered by the caller) is used, and `WrittenMessage` says why.
5. Store one `LlmCall` row (prompt, raw response, parsed JSON, is_valid = the JSON matched the
   schema, failed_checks, error, used = model | fallback, latency, prompt name and version,
   owner and message ids) in the caller's session, or through `engine` in its own.

`write_message` = `draft_message` (prompt + model call; no ledger, no unsubscribe link needed,
so it can run outside a transaction) + `finish_message` (footer, checks, choice, LlmCall row).

`write_touch` is the entry point of the send path (outreach/sending.py): the campaign touch's
prompt, the configured LLM (reply settings, built once per configuration) and the caller's
session, so the row commits with the message.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns.templates import RenderedMessage
from outreach.replies.llm import GenerationOptions, JsonAnswer, JsonChat, LLMError
from outreach.writing.checks import SMS_STOP_LINE, CheckFailure, check_written
from outreach.writing.prompts import WritingPrompt, WritingPromptError, load_writing_prompt

log = logging.getLogger(__name__)

Used = Literal["model", "fallback"]
NO_LLM = "no LLM configured"
_WORD = re.compile(r"\b[a-z][a-z'\-]*\b")
_PLAIN_PUNCTUATION = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                                    "\u2013": "-", "\u2014": " - ", "\u2026": "...",
                                    "\u00a0": " "})


@dataclass(frozen=True)
class WrittenMessage:
    """The message to use and how it came about.

    used: ``model`` (the model's text passed every check) or ``fallback`` (the fixed
    template). reason: why the fallback (``no LLM configured``, ``timeout: …``,
    ``invalid_json: …``, ``checks failed: no_money, …``, ``prompt: …``); None when the model's
    text is used. failed_checks: the codes of the failed checks; check_details: what they
    found. llm_call_id: the stored `llm_calls` row, when one was stored.
    """

    message: RenderedMessage
    used: Used
    prompt: str
    reason: str | None = None
    failed_checks: tuple[str, ...] = ()
    check_details: tuple[str, ...] = ()
    error: str | None = None
    written_body: str | None = None
    written_subject: str | None = None
    raw_response: str | None = field(default=None, repr=False)
    parsed: dict[str, Any] | None = field(default=None, repr=False)
    latency_ms: float | None = None
    llm_call_id: int | None = None

    @property
    def body(self) -> str:
        return self.message.body

    @property
    def subject(self) -> str | None:
        return self.message.subject

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "used": self.used, "reason": self.reason, "prompt": self.prompt,
            "failed_checks": list(self.failed_checks),
            "check_details": list(self.check_details), "error": self.error,
            "channel": self.message.channel, "template": self.message.template,
            "subject": self.message.subject, "body": self.message.body,
            "model_body": self.written_body, "raw_response": self.raw_response,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "llm_call_id": self.llm_call_id}
        if self.message.channel == "sms":
            data["sms_segments"] = self.message.sms_segments
            data["sms_encoding"] = self.message.sms_encoding
        return data


def _required(values: Mapping[str, object], *names: str) -> list[str]:
    return [name for name in names if not str(values.get(name) or "").strip()]


def assemble(prompt: WritingPrompt, channel: str, body: str, subject: str | None,
             variables: Mapping[str, object], fallback: RenderedMessage) -> RenderedMessage:
    """The final message: the model's body with the fixed identity and opt-out footer."""
    sender = str(variables["sender_name"])
    template = f"llm:{prompt.label}"
    if channel == "sms":
        # Typographic punctuation is not GSM-7: one curly quote would make it UCS-2 and
        # double the segments. Plain equivalents keep the model's words.
        text = re.sub(r"\s+", " ", body.translate(_PLAIN_PUNCTUATION)).strip()
        if sender not in text:
            text = f"{text.rstrip()} - {sender}."
        return RenderedMessage(template, prompt.version, "sms", f"{text} {SMS_STOP_LINE}")
    agent = str(variables.get("agent_name") or "the team")
    postal = str(variables["postal_address"])
    url = str(variables["unsubscribe_url"])
    text = body.strip()
    paragraphs = [part.strip() for part in re.split(r"\n\s*\n", text) if part.strip()]
    footer = (f"{agent}, {sender}\n{postal}\n"
              f"This is an advertisement. To stop these emails: {url}")
    esc = html.escape
    html_body = "".join(f"<p>{esc(part).replace(chr(10), '<br>')}</p>\n" for part in paragraphs)
    html_body += (f'<p style="font-size:small">{esc(agent)}, {esc(sender)}<br>{esc(postal)}'
                  f'<br>\nThis is an advertisement. <a href="{esc(url)}">Unsubscribe</a></p>')
    final_subject = re.sub(r"\s+", " ", subject).strip() if subject else fallback.subject
    return RenderedMessage(template, prompt.version, "email", f"{text}\n\n{footer}",
                           final_subject, html_body)


def _known_words(prompt: WritingPrompt) -> frozenset[str]:
    """Lower-case words of the prompt: they may start a sentence of the message."""
    return frozenset(_WORD.findall(prompt.system)) | frozenset(_WORD.findall(prompt.user))


def _provider(chat: JsonChat | None) -> str:
    if chat is None:
        return "none"
    return {"llm_ollama": "ollama", "llm_openai": "openai"}.get(chat.method, chat.method)[:20]


@dataclass(frozen=True)
class Draft:
    """The model's answer (or why there is none) before the footer and the checks: the slow
    half of `write_message`, which needs no ledger and no unsubscribe link, so a caller can
    run it outside any transaction and `finish_message` inside."""

    kind: str
    channel: str
    prompt: WritingPrompt | None
    system: str = ""
    user: str = field(default="", repr=False)
    chat: JsonChat | None = field(default=None, repr=False)
    answer: JsonAnswer | None = field(default=None, repr=False)
    problem: str | None = None  # why no usable answer: prompt, no LLM, model error
    raw: str | None = field(default=None, repr=False)
    latency_ms: float | None = None


def draft_message(kind: str, variables: Mapping[str, object], *, channel: str,
                  chat: JsonChat | None, unavailable_reason: str | None = None) -> Draft:
    """Load and render the prompt `kind` and ask the model; never raises for a prompt or
    model problem (`Draft.problem` says what went wrong)."""
    started = time.perf_counter()
    try:
        prompt = load_writing_prompt(kind)
        system, user = prompt.render(variables, channel)
    except WritingPromptError as error:
        log.error("cannot write %s (%s): %s", kind, channel, error)
        return Draft(kind, channel, None, problem=f"prompt: {error}")
    if chat is None:
        return Draft(kind, channel, prompt, system, user, problem=unavailable_reason or NO_LLM)
    options = GenerationOptions(prompt.temperature, prompt.max_tokens[channel])
    try:
        answer = chat.complete_json(system, user, prompt.schema, "written_message", options)
    except LLMError as error:
        log.warning("writer LLM (%s) failed for %s, using the fixed template: %s",
                    chat.method, prompt.label, error)
        return Draft(kind, channel, prompt, system, user, chat, problem=str(error),
                     raw=error.raw, latency_ms=(time.perf_counter() - started) * 1000)
    except Exception as error:  # an adapter bug must not stop a send run: fall back
        log.exception("writer LLM (%s) raised for %s", chat.method, prompt.label)
        return Draft(kind, channel, prompt, system, user, chat,
                     problem=f"adapter_error: {type(error).__name__}: {error}",
                     latency_ms=(time.perf_counter() - started) * 1000)
    return Draft(kind, channel, prompt, system, user, chat, answer, raw=answer.raw,
                 latency_ms=(time.perf_counter() - started) * 1000)


def finish_message(draft: Draft, variables: Mapping[str, object], *,
                   fallback: RenderedMessage, engine: Engine | None = None,
                   session: Session | None = None, owner_id: int | None = None,
                   message_id: int | None = None) -> WrittenMessage:
    """Append the fixed footer to the draft, run the checks, pick model or fallback, and
    store the LlmCall row (see `write_message`)."""
    prompt, channel = draft.prompt, draft.channel
    label = prompt.label if prompt else draft.kind

    def fallen(reason: str, **extra: Any) -> WrittenMessage:
        return WrittenMessage(fallback, "fallback", label, reason=reason,
                              error=extra.pop("error", reason), raw_response=draft.raw,
                              latency_ms=draft.latency_ms, **extra)

    def stored(result: WrittenMessage, is_valid: bool) -> WrittenMessage:
        return _store(result, prompt, draft.kind, draft.chat, draft.system, draft.user,
                      is_valid, engine, session, owner_id, message_id,
                      model=draft.answer.model if draft.answer else None)

    if draft.answer is None or prompt is None:
        return stored(fallen(draft.problem or NO_LLM), False)
    footer_needs = ("sender_name",) + (("postal_address", "unsubscribe_url")
                                       if channel == "email" else ())
    missing = _required(variables, *footer_needs)
    if missing:
        return stored(fallen(f"prompt: variables missing for the footer: "
                             f"{', '.join(missing)}"), True)
    data = draft.answer.data
    body = str(data["body"])
    subject = data.get("subject") if channel == "email" else None
    final = assemble(prompt, channel, body, subject, variables, fallback)
    values = prompt.values(variables)
    facts = {name: value for name, value in values.items() if name not in prompt.untrusted}
    failures: list[CheckFailure] = check_written(
        channel=channel, written_body=body, written_subject=subject, final_body=final.body,
        final_subject=final.subject, final_html=final.html, facts=facts,
        sender_name=str(variables["sender_name"]),
        postal_address=str(variables.get("postal_address") or "") or None,
        unsubscribe_url=str(variables.get("unsubscribe_url") or "") or None,
        known_words=_known_words(prompt))
    if failures:
        codes = tuple(dict.fromkeys(failure.code for failure in failures))
        details = tuple(str(failure) for failure in failures)
        log.info("written %s failed checks %s; using the fixed template", label, codes)
        return stored(fallen(f"checks failed: {', '.join(codes)}", failed_checks=codes,
                             check_details=details, error="; ".join(details),
                             written_body=body, written_subject=subject, parsed=data), True)
    return stored(WrittenMessage(final, "model", label, written_body=body,
                                 written_subject=subject, raw_response=draft.raw, parsed=data,
                                 latency_ms=draft.latency_ms), True)


def write_message(kind: str, variables: Mapping[str, object], *, channel: str,
                  chat: JsonChat | None, fallback: RenderedMessage,
                  engine: Engine | None = None, session: Session | None = None,
                  owner_id: int | None = None, message_id: int | None = None,
                  unavailable_reason: str | None = None) -> WrittenMessage:
    """A written message for `kind` on `channel`, or `fallback` (see the module docstring):
    `draft_message` then `finish_message`.

    `variables`: the prompt's variables plus, for the footer, ``sender_name``,
    ``agent_name`` and for email ``postal_address`` and ``unsubscribe_url``. The LlmCall row
    goes into `session` when given (it commits with the caller's work), else through
    `engine`, else nowhere. `unavailable_reason`: why `chat` is None, when not simply
    unconfigured. Never raises for a model or prompt problem: those fall back."""
    draft = draft_message(kind, variables, channel=channel, chat=chat,
                          unavailable_reason=unavailable_reason)
    return finish_message(draft, variables, fallback=fallback, engine=engine, session=session,
                          owner_id=owner_id, message_id=message_id)


def _store(result: WrittenMessage, prompt: WritingPrompt | None, kind: str,
           chat: JsonChat | None, system: str, user: str, is_valid: bool,
           engine: Engine | None, session: Session | None, owner_id: int | None,
           message_id: int | None, model: str | None = None) -> WrittenMessage:
    """Add the LlmCall row (caller's session, or its own through `engine`); the result with
    the row's id."""
    if session is None and engine is None:
        return result
    from outreach.ledger.models import LlmCall

    row = LlmCall(
        purpose=prompt.purpose if prompt else "touch", provider=_provider(chat),
        model=(model or getattr(chat, "model", None)) if chat is not None else None,
        prompt_name=(prompt.name if prompt else kind)[:100],
        prompt_version=str(prompt.version) if prompt else "?", owner_id=owner_id,
        message_id=message_id,
        prompt=f"## system\n{system}\n\n## user\n{user}" if system or user else None,
        raw_response=result.raw_response, parsed=result.parsed, is_valid=is_valid,
        failed_checks=list(result.failed_checks), error=result.error, used=result.used,
        latency_ms=result.latency_ms)
    if session is not None:
        session.add(row)
        session.flush()
        call_id = row.llm_call_id
    else:
        from outreach.ledger.db import ledger_session

        assert engine is not None
        with ledger_session(engine) as own:
            own.add(row)
            own.flush()
            call_id = row.llm_call_id
    return WrittenMessage(**{**result.__dict__, "llm_call_id": call_id})


# ------------------------------------------------------------------------------------------
# The send path's entry point

_CHATS: dict[Any, tuple[JsonChat | None, str | None]] = {}
_CHATS_LOCK = threading.Lock()


def configured_chat() -> tuple[JsonChat | None, str | None]:
    """The LLM adapter of the reply settings (environment), built once per configuration,
    and why there is none (None when simply not configured or when there is one)."""
    from outreach.replies.intent import llm_from_settings
    from outreach.replies.settings import ReplySettingsError, reply_settings

    try:
        settings = reply_settings()
    except ReplySettingsError as error:
        return None, f"{NO_LLM} (settings error: {error})"
    secret = settings.wholesaler_openai_api_key
    key = (settings.model_dump_json(), secret.get_secret_value() if secret else None)
    with _CHATS_LOCK:
        if key not in _CHATS:
            try:
                _CHATS[key] = (llm_from_settings(settings), None)
            except ValueError as error:
                _CHATS[key] = (None, f"{NO_LLM} (settings error: {error})")
        return _CHATS[key]


def write_touch(prompt: str, channel: str, context: Mapping[str, object],
                fallback: RenderedMessage, *, session: Session, owner_id: int | None,
                message_id: int | None) -> RenderedMessage:
    """The text of a campaign touch whose writer is `llm`: written and checked, else the
    fixed `fallback`; the LlmCall row goes into `session` (the send transaction)."""
    chat, why = configured_chat()
    return write_message(prompt, context, channel=channel, chat=chat, fallback=fallback,
                         session=session, owner_id=owner_id, message_id=message_id,
                         unavailable_reason=why).message
