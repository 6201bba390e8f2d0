"""`wholesaler replies …`: classify a reply from the command line (registered in
pipelines/cli.py). Heavy imports (transformers, the LLM client) happen inside the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from outreach.campaigns.templates import RenderedMessage

replies_app = typer.Typer(help="Inbound replies: opt-out, sentiment and intent.",
                          no_args_is_help=True)


@replies_app.command("classify")
def classify_command(
    text: Annotated[str, typer.Argument(help="The reply's text.")],
    opt_out_type: Annotated[str | None, typer.Option(
        "--opt-out-type", help="Twilio's OptOutType for the message (STOP, START, HELP).")] = None,
    no_llm: Annotated[bool, typer.Option(
        "--no-llm", help="Use the deterministic rules even when an LLM is configured.")] = False,
) -> None:
    """Print JSON with intent, opt_out, sentiment, confidence and method (config: env, see
    docs/replies.md)."""
    from outreach.replies.classify import ReplyClassifier
    from outreach.replies.intent import IntentClassifier
    from outreach.replies.sentiment import SentimentModelError, sentiment_scorer
    from outreach.replies.settings import ReplySettingsError, reply_settings

    try:
        settings = reply_settings()
        intent = IntentClassifier() if no_llm else IntentClassifier.from_settings(settings)
        classifier = ReplyClassifier(intent, sentiment_scorer(settings))
    except (ReplySettingsError, SentimentModelError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    result = classifier.classify(text, opt_out_type)
    typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))


@replies_app.command("eval")
def eval_command(
    method: Annotated[str, typer.Option(
        "--method", help="rules, llm or all (llm: the configured model, env as for "
                         "classify; 'not measured' when none is reachable).")] = "all",
    split: Annotated[list[str] | None, typer.Option(
        "--split", help="Only these splits of tests/eval/intent.yaml (dev, holdout, "
                        "holdout2 to holdout5; repeatable; default all).")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Exit 1 when a target is missed (opt-out recall 100 %, no false "
                        "opt-out, rules accuracy >= 90 %).")] = False,
    intent_file: Annotated[Path | None, typer.Option(
        "--intent-file", help="Another labelled intent set (default tests/eval/intent.yaml)."
    )] = None,
    opt_out_file: Annotated[Path | None, typer.Option(
        "--opt-out-file", help="Another labelled opt-out set (default "
                               "tests/eval/opt_out.yaml).")] = None,
) -> None:
    """Print per-intent precision, recall and support, accuracy and the misses for each
    method on the eval sets (outreach/replies/evaluation.py, docs/replies.md)."""
    from outreach.replies.evaluation import (
        INTENT_EVAL,
        METHODS,
        OPT_OUT_EVAL,
        EvalSetError,
        run_eval,
    )
    from outreach.replies.settings import ReplySettingsError, reply_settings

    if method not in (*METHODS, "all"):
        typer.echo("error: --method must be rules, llm or all", err=True)
        raise typer.Exit(2)
    methods = [name for name in METHODS if method in (name, "all")]
    splits = [name for name in split or [] if name != "all"] or None

    def progress(done: int, total: int) -> None:
        if done % 50 == 0 or done == total:
            typer.echo(f"llm: {done}/{total}", err=True)

    try:
        run = run_eval(methods, reply_settings(), splits, intent_file or INTENT_EVAL,
                       opt_out_file or OPT_OUT_EVAL, progress=progress)
    except (ReplySettingsError, EvalSetError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(run.render())
    if check and run.failures:
        raise typer.Exit(1)


@replies_app.command("poll-imap")
def poll_imap_command(
    limit: Annotated[int | None, typer.Option(
        "--limit", help="At most this many new messages (default WHOLESALER_IMAP_POLL_LIMIT).",
        min=1)] = None,
    no_process: Annotated[bool, typer.Option(
        "--no-process", help="Store replies and bounces only; leave classification and "
                             "decisions to the sweep.")] = False,
) -> None:
    """Read the replies mailbox once (IMAP, WHOLESALER_IMAP_* variables; docs/replies.md) and
    print the poll report as JSON."""
    from outreach.ledger.db import ledger_engine, upgrade_ledger
    from outreach.replies.mailbox import ImapError, ImapSettingsError, imap_settings, poll_mailbox

    try:
        imap = imap_settings()
    except ImapSettingsError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if imap is None:
        typer.echo("error: no IMAP mailbox configured (set WHOLESALER_IMAP_HOST, _USER, "
                   "_PASSWORD)", err=True)
        raise typer.Exit(2)
    engine = ledger_engine()
    upgrade_ledger(engine)
    try:
        report = poll_mailbox(engine, imap, limit=limit, process=not no_process)
    except ImapError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2, default=str))


@replies_app.command("write")
def write_command(
    kind: Annotated[str, typer.Argument(help="A prompt in prompts/touches or prompts/"
                                        "llm_answers: followup_2_v1, or followup_2 (newest).")],
    owner_name: Annotated[str, typer.Option(
        "--owner-name", help="The owner's name as on the roll (SMITH PAT A) or a first name.")],
    address: Annotated[str, typer.Option("--address", help="The property's address.")],
    channel: Annotated[str, typer.Option("--channel", help="sms or email.")] = "sms",
    market: Annotated[str, typer.Option(
        "--market", help="Market code: sender, postal address, county, market context.")
    ] = "orange_fl",
    agent_name: Annotated[str | None, typer.Option(
        "--agent-name", help="The person named (default: the market's or WHOLESALER_AGENT_"
        "NAME).")] = None,
    reply_text: Annotated[str | None, typer.Option(
        "--reply-text", help="The owner's message, for an answer prompt.")] = None,
    fallback_template: Annotated[str | None, typer.Option(
        "--fallback-template", help="Fixed template (prompts/templates) used when the model's "
        "text fails; default: the prompt's own fallback for the channel.")] = None,
    no_llm: Annotated[bool, typer.Option(
        "--no-llm", help="Do not ask the model (shows the fallback).")] = False,
) -> None:
    """Write one message with the configured LLM, run the checks, and print JSON: the text,
    which was used (model or fallback), why, and the failed checks (docs/writing.md). Nothing
    is sent or stored."""
    from markets.loader import load_market
    from outreach.campaigns.templates import MessageTemplate, TemplateError, load_template, render
    from outreach.sending import PLACEHOLDER_UNSUBSCRIBE_BASE, owner_first_name, send_settings
    from outreach.writing.prompts import WritingPromptError, load_writing_prompt
    from outreach.writing.writer import configured_chat, write_message

    if channel not in ("sms", "email"):
        typer.echo("error: --channel must be sms or email", err=True)
        raise typer.Exit(2)
    try:
        prompt = load_writing_prompt(kind)
        area = load_market(market)
        agent = (agent_name or area.email.agent_name or send_settings().wholesaler_agent_name
                 or "the team")
        first = owner_first_name(owner_name) if " " in owner_name.strip() else owner_name
        context: dict[str, object] = {
            "owner_first_name": first, "agent_name": agent,
            "sender_name": area.email.sender_name, "county_name": area.county_name,
            "property_address": address, "market_context": area.market_context,
            "postal_address": area.email.postal_address,
            "unsubscribe_url": f"{PLACEHOLDER_UNSUBSCRIBE_BASE}/preview"}
        if reply_text is not None:
            context["reply_text"] = reply_text
        name = fallback_template or prompt.fallback.get(channel)
        fixed_answer = None if name else _fixed_answer(prompt.name, channel, context)
        if name:
            template = load_template(name)
        elif fixed_answer is not None:  # the fixed answer of the same name (prompts/answers)
            template = None
        else:  # an answer prompt without a fixed answer: a neutral holding reply
            holding = ("Thanks for your reply. {{ agent_name }} with {{ sender_name }} will "
                       "get back to you personally.")
            template = MessageTemplate(
                name="holding_answer", version=1, channel="sms",
                body=holding + " Reply STOP to opt out.") if channel == "sms" else (
                MessageTemplate(
                    name="holding_answer", version=1, channel="email",
                    subject="Your question to {{ sender_name }}",
                    body=holding + "\n\n{{ postal_address }}\nTo stop these emails: "
                                   "{{ unsubscribe_url }}",
                    html="<p>" + holding + "</p><p>{{ postal_address }}<br>"
                         "<a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></p>"))
        if template is not None and template.channel != channel:
            raise TemplateError(f"the fallback {template.name} is an {template.channel} "
                                f"template, not {channel}")
        fallback = render(template, context) if template is not None else fixed_answer
        assert fallback is not None
        chat, why = (None, "--no-llm") if no_llm else configured_chat()
    except (WritingPromptError, TemplateError, ValueError, OSError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    result = write_message(kind, context, channel=channel, chat=chat, fallback=fallback,
                           unavailable_reason=why)
    typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))


def _fixed_answer(name: str, channel: str,
                  context: dict[str, object]) -> RenderedMessage | None:
    """The fixed answer prompts/answers/<name>.yaml rendered as a RenderedMessage, or None."""
    from outreach.campaigns.templates import RenderedMessage
    from outreach.replies.answers import AnswerContext, AnswerError, load_answers, render_answer

    found = next((answer for answer in load_answers() if answer.name == name), None)
    if found is None:
        return None
    try:
        rendered = render_answer(found, AnswerContext(
            channel=channel, owner_first_name=str(context["owner_first_name"]),
            agent_name=str(context["agent_name"]), sender_name=str(context["sender_name"]),
            county_name=str(context["county_name"]),
            property_address=str(context["property_address"])))
    except AnswerError:
        return None
    return RenderedMessage(rendered.template, rendered.version, channel, rendered.body,
                           rendered.subject)


@replies_app.command("process")
def process_command(
    limit: Annotated[int, typer.Option(help="At most this many inbound messages.")] = 500,
    no_llm: Annotated[bool, typer.Option(
        "--no-llm", help="Use the deterministic rules even when an LLM is configured.")] = False,
) -> None:
    """Process every received, unprocessed inbound reply (classify, decide, act, reply), then
    retry replies deferred by quiet hours; prints one JSON line per message."""
    from outreach.ledger.db import ledger_engine, upgrade_ledger
    from outreach.replies.classify import ReplyClassifier
    from outreach.replies.inbound import process_pending
    from outreach.replies.intent import IntentClassifier
    from outreach.replies.sentiment import SentimentModelError, sentiment_scorer
    from outreach.replies.settings import ReplySettingsError, reply_settings

    try:
        settings = reply_settings()
        intent = IntentClassifier() if no_llm else IntentClassifier.from_settings(settings)
        classifier = ReplyClassifier(intent, sentiment_scorer(settings))
    except (ReplySettingsError, SentimentModelError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    engine = ledger_engine()
    upgrade_ledger(engine)
    for message_id, decision in process_pending(engine, classifier=classifier, limit=limit):
        typer.echo(json.dumps({"message_id": message_id, "decision": decision}))


@replies_app.command("handoffs")
def handoffs_command(
    status: Annotated[str, typer.Option(
        help="waiting, claimed, closed, or all.")] = "waiting",
) -> None:
    """List handoffs to the closer (default: the ones waiting), newest first, as JSON."""
    from outreach.ledger.db import ledger_engine, upgrade_ledger
    from outreach.replies.handoff import list_handoffs

    if status not in ("waiting", "claimed", "closed", "all"):
        typer.echo("error: --status must be waiting, claimed, closed or all", err=True)
        raise typer.Exit(2)
    engine = ledger_engine()
    upgrade_ledger(engine)
    rows = list_handoffs(engine, None if status == "all" else status)
    typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
