"""The pure parts of the replies side: the decision table (outreach/replies/decisions.py), the
fixed answers (outreach/replies/answers.py, prompts/answers/*.yaml) and the compliance gate's
message purposes (outreach/compliance/gate.py PURPOSE_RULES)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from markets.loader import load_market
from markets.schema import HandoffSettings
from outreach.compliance.gate import (
    PURPOSE_RULES,
    ConsentFact,
    GateFacts,
    MarketPolicy,
    OutgoingMessage,
    PriorReply,
    ScrubFact,
    SendRequest,
    Solicitation,
    StateListFact,
    SuppressionFact,
    evaluate_send,
)
from outreach.replies.answers import (
    AnswerContext,
    AnswerError,
    answer_for,
    load_answers,
)
from outreach.replies.decisions import HANDOFF_SENTIMENT, DecisionFacts, decide
from outreach.replies.opt_out import normalise

# ------------------------------------------------------------------------------------------
# Decisions


def facts(**changes: object) -> DecisionFacts:
    base = DecisionFacts(intent="unknown", sentiment=0.0, opt_out_kind="none",
                         should_suppress=False)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(("given", "name", "send", "stop", "status"), [
    (facts(should_suppress=True, opt_out_kind="opt_out", intent="opt_out"), "opt_out",
     "opt_out_confirmation", "opt_out", "opted_out"),
    (facts(should_suppress=True, intent="opt_out"), "opt_out", "opt_out_confirmation",
     "opt_out", "opted_out"),  # the model recognised it, the rules did not
    (facts(should_suppress=True, opt_out_kind="opt_out", provider_answered=True), "opt_out",
     None, "opt_out", "opted_out"),
    (facts(should_suppress=True, opt_out_kind="opt_out", opt_out_recorded=False), "opt_out",
     None, "opt_out", "opted_out"),
    (facts(should_suppress=True, opt_out_kind="opt_out", has_owner=False), "opt_out", None,
     "opt_out", "opted_out"),
    (facts(should_suppress=True, opt_out_kind="opt_out", human_takeover=True,
           intent="interested", sentiment=0.9), "opt_out", "opt_out_confirmation",
     "opt_out", "opted_out"),  # an opt-out wins over everything
    (facts(opt_out_kind="opt_in"), "resubscribe", "resubscribe_confirmation", None, None),
    (facts(opt_out_kind="opt_in", provider_answered=True), "resubscribe", None, None, None),
    (facts(opt_out_kind="help"), "help", "help", None, None),
    (facts(opt_out_kind="help", provider_answered=True), "help", None, None, None),
    (facts(intent="interested", has_owner=False), "needs_review", None, None, None),
    (facts(intent="question", has_answer=True, human_takeover=True), "human_takeover", None,
     None, None),
    (facts(intent="interested"), "handoff", None, "handoff", "interested"),
    (facts(intent="question", sentiment=HANDOFF_SENTIMENT + 0.01, has_answer=True),
     "handoff", None, "handoff", "interested"),
    (facts(intent="unknown", sentiment=0.8), "handoff", None, "handoff", "interested"),
    (facts(intent="not_interested", sentiment=0.9), "not_interested", None,
     "not_interested", "dead"),
    (facts(intent="wrong_number", sentiment=0.9), "wrong_number", None, None, None),
    (facts(intent="question", has_answer=True), "auto_reply", "auto_reply", "reply",
     "replied"),
    (facts(intent="question", has_answer=True, opted_out=True), "needs_review", None, "reply",
     "replied"),
    (facts(intent="question"), "needs_review", None, "reply", "replied"),
    (facts(intent="unknown", sentiment=HANDOFF_SENTIMENT), "needs_review", None, "reply",
     "replied"),
])
def test_decision_table(given, name, send, stop, status):
    decision = decide(given)
    assert (decision.name, decision.send, decision.stop_reason, decision.lead_status) == (
        name, send, stop, status)
    assert decision.reason


def test_not_interested_marks_the_lead_cold():
    decision = decide(facts(intent="not_interested"))
    assert (decision.lead_note, decision.conversation) == ("cold", "cold")


# ------------------------------------------------------------------------------------------
# Fixed answers

CONTEXT = AnswerContext(channel="sms", owner_first_name="Pat", agent_name="Sam",
                        sender_name="Sunshine Porch Home Buyers", county_name="Orange",
                        property_address="your property (parcel P000001, Orange County, "
                                         "Florida)")


def test_every_shipped_answer_loads_and_renders_within_two_segments():
    answers = load_answers()
    assert {answer.name for answer in answers} >= {
        "how_did_you_get_my_number", "who_are_you", "what_is_your_offer", "how_does_it_work",
        "are_you_an_agent"}
    for answer in answers:
        for example in answer.spec.examples:
            assert answer.matches(normalise(example))
        text = answer_for(answer.spec.examples[0], CONTEXT)
        assert text is not None and "STOP" in text.body and "$" not in text.body
        email = answer_for(answer.spec.examples[0], replace(CONTEXT, channel="email"))
        assert email is not None and email.subject and "Sam" in email.body


@pytest.mark.parametrize(("question", "name"), [
    ("How did you get my number?", "how_did_you_get_my_number"),
    ("who is this??", "who_are_you"),
    ("What's your offer", "what_is_your_offer"),
    ("is this a scam", "are_you_an_agent"),
    ("Cómo consiguió mi número?", "how_did_you_get_my_number"),
    ("What time is it?", None),
])
def test_matcher(question, name):
    answer = answer_for(question, CONTEXT)
    assert (answer.name if answer else None) == name


def test_an_answer_file_with_an_amount_or_a_promise_is_refused(tmp_path: Path):
    bad = tmp_path / "price.yaml"
    bad.write_text("version: 1\ndescription: x\nmatch: ['price']\nexamples: ['price?']\n"
                   "sms: 'We pay $150,000 cash. Reply STOP to opt out.'\n"
                   "email_subject: s\nemail_body: b\n")
    with pytest.raises(AnswerError, match=r"price.yaml: sms: '\$1' is not allowed"):
        load_answers.__wrapped__(tmp_path)
    bad.write_text("version: 1\ndescription: x\nmatch: ['price']\nexamples: ['how much']\n"
                   "sms: 'Hi {{ owner_name }}. Reply STOP'\nemail_subject: s\nemail_body: b\n")
    with pytest.raises(AnswerError, match="unknown variable"):
        load_answers.__wrapped__(tmp_path)


# ------------------------------------------------------------------------------------------
# Markets: the handoff block


def test_market_handoff_block_is_validated():
    assert load_market("orange_fl").handoff.closer_phone == "+14075550142"
    with pytest.raises(ValueError, match=r"E\.164"):
        HandoffSettings(closer_name="x", closer_phone="407-555-0142")
    with pytest.raises(ValueError, match="closer_phone, closer_email or both"):
        HandoffSettings(closer_name="x")


# ------------------------------------------------------------------------------------------
# The gate's purposes

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 10:00 in Orlando
NIGHT = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # 23:00 in Orlando
POLICY = MarketPolicy(code="orange_fl", state="FL", sms_policy="consent_required",
                      time_zones=("America/New_York",),
                      email_postal_address="PO Box 4417, Orlando, FL 32802",
                      staff_addresses=("+14075550142", "closer@example.com"))


def gate_facts(**changes: object) -> GateFacts:
    base = GateFacts(
        owner_id=1, contact_id=2, loaded_at=NOW, contact_channel="phone",
        consents=(ConsentFact(1, "sms", "form", NOW - timedelta(days=9)),),
        latest_scrub=ScrubFact(NOW - timedelta(days=1), False, (), date(2026, 11, 20), None),
        state_lists=(StateListFact("state_fl", date(2026, 11, 20)),))
    return replace(base, **changes)  # type: ignore[arg-type]


def request(purpose: str, **changes: object) -> SendRequest:
    base = SendRequest(channel="sms", owner_id=1, contact_id=2, to_address="+14075550123",
                       market=POLICY, planned_at=NOW, mailing_state="FL",
                       property_state="FL", reference=f"reply:9:{purpose}",
                       purpose=purpose, in_reply_to_id=9,  # type: ignore[arg-type]
                       in_reply_to_at=NOW - timedelta(minutes=1))
    return replace(base, **changes)  # type: ignore[arg-type]


OPTED_OUT = (SuppressionFact(5, "person", "all", "opt_out", NOW - timedelta(minutes=1),
                             message_id=9),)


def codes(purpose: str, facts_: GateFacts, **changes: object) -> tuple[str, ...]:
    decision = evaluate_send(request(purpose, **changes), facts_)
    assert decision.allowed == (not decision.refusal_codes)
    return decision.refusal_codes


def test_every_purpose_has_a_rule_with_a_source():
    assert set(PURPOSE_RULES) == {"touch", "opt_out_confirmation", "resubscribe_confirmation",
                                  "help", "auto_reply", "staff_notice"}
    assert all(rule.source for rule in PURPOSE_RULES.values())


def test_opt_out_confirmation_once_within_five_minutes_even_at_night():
    suppressed = gate_facts(suppressions=OPTED_OUT, consents=())
    assert codes("opt_out_confirmation", suppressed) == ()
    assert codes("opt_out_confirmation", suppressed, planned_at=NIGHT,
                 in_reply_to_at=NIGHT - timedelta(minutes=2)) == ()
    assert codes("touch", suppressed) == ("suppressed", "no_consent")
    late = NOW + timedelta(minutes=5)
    assert codes("opt_out_confirmation", suppressed, planned_at=late) == ("reply_too_late",)
    sent = replace(suppressed, prior_replies=(
        PriorReply("opt_out_confirmation", 9, "reply:9:other", NOW),))
    assert codes("opt_out_confirmation", sent) == ("reply_already_sent",)
    # Another message's opt-out (a second STOP) is not confirmed again; nothing to confirm
    # without an opt-out in force.
    assert codes("opt_out_confirmation", suppressed, in_reply_to_id=10) == (
        "no_opt_out_to_confirm",)
    assert codes("opt_out_confirmation", gate_facts()) == ("no_opt_out_to_confirm",)
    assert codes("opt_out_confirmation", suppressed, in_reply_to_id=None) == (
        "no_opt_out_to_confirm", "no_inbound")


def test_help_goes_to_a_suppressed_person_and_resubscribe_needs_the_lift():
    suppressed = gate_facts(suppressions=OPTED_OUT)
    assert codes("help", suppressed, planned_at=NIGHT) == ()
    assert codes("resubscribe_confirmation", suppressed) == ("suppressed",)
    assert codes("resubscribe_confirmation", gate_facts(consents=()), planned_at=NIGHT) == ()


def test_auto_reply_respects_suppressions_hours_and_consent_but_not_the_caps():
    busy = gate_facts(recent_solicitations=tuple(
        Solicitation(NOW - timedelta(hours=n), 2, "sms", f"k{n}") for n in range(1, 4)))
    assert codes("touch", busy) == ("person_cap_24h", "contact_cap_day")
    assert codes("auto_reply", busy) == ()
    assert codes("auto_reply", gate_facts(), planned_at=NIGHT) == ("outside_hours",)
    assert codes("auto_reply", gate_facts(suppressions=OPTED_OUT)) == ("suppressed",)
    assert codes("auto_reply", gate_facts(consents=())) == ("no_consent",)
    email = gate_facts(contact_channel="email")
    assert codes("auto_reply", email, channel="email", to_address="pat@example.com") == (
        "email_no_postal_address", "email_no_unsubscribe_link")
    assert codes("auto_reply", email, channel="email", to_address="pat@example.com",
                 message=OutgoingMessage(True, True)) == ()


def test_staff_notice_only_to_the_configured_closer():
    assert codes("staff_notice", gate_facts(), to_address="+1 407 555 0142",
                 planned_at=NIGHT) == ()
    assert codes("staff_notice", gate_facts(), to_address="Closer@Example.com") == ()
    assert codes("staff_notice", gate_facts(), to_address="+14075550123") == (
        "not_staff_recipient",)
    assert codes("newsletter", gate_facts()) == ("unknown_purpose",)


def test_touch_is_unchanged_by_the_reply_fields():
    assert codes("touch", gate_facts(), in_reply_to_id=None, in_reply_to_at=None) == ()
    assert codes("touch", gate_facts(), planned_at=NIGHT) == ("outside_hours",)
