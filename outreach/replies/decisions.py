"""What to do about one inbound reply: a pure function of the classification and the few
ledger facts that matter, so the policy can be read and tested in one place.

`decide(facts) -> Decision`. The order (the first rule that applies wins):

1. opt-out (the deterministic path fired, Twilio said STOP, or the intent is opt_out):
   `opt_out`. The suppression is already recorded by `receive_inbound`; one confirmation is
   sent unless Twilio's Messaging Service already answered the keyword (OptOutType present),
   the opt-out was already in force (a second STOP), or the sender is unknown.
2. START / UNSTOP: `resubscribe` (lift the SMS opt-outs of that number, confirm unless Twilio
   answered).
3. HELP / INFO: `help` (answer with identity and how to stop, unless Twilio answered).
4. Unknown sender (no owner matched): `needs_review`; nothing is sent to a stranger.
5. A human has taken over the conversation: `human_takeover`; nothing automated.
6. intent interested: `handoff`.
7. intent wrong_number: `wrong_number` (that contact only).
8. intent not_interested: `not_interested` (an explicit refusal wins over a positive
   sentiment: "no thanks, have a great day!" scores high).
9. sentiment above 0.5 (question or unknown intent): `handoff`.
10. intent question: `auto_reply` when a fixed answer matches and the person has no opt-out
    in force, else `needs_review`.
11. anything else: `needs_review`.

Every decision about a known owner stops the drip (a reply always stops it), except
`wrong_number` (the other numbers of the owner may still be right), `resubscribe` and
`help`; `opt_out` stops it in the receive transaction already.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DecisionName = Literal["opt_out", "resubscribe", "help", "needs_review", "human_takeover",
                       "handoff", "wrong_number", "not_interested", "auto_reply"]
SendPurpose = Literal["opt_out_confirmation", "resubscribe_confirmation", "help", "auto_reply"]

HANDOFF_SENTIMENT = 0.5
"""A reply scoring above this (−1..1) goes to a person even without an `interested` intent."""


@dataclass(frozen=True)
class DecisionFacts:
    """What the decision reads: the classification, and the ledger's view of the sender."""

    intent: str  # interested | not_interested | question | opt_out | wrong_number | unknown
    sentiment: float
    opt_out_kind: str  # opt_out | opt_in | help | none (the deterministic path)
    should_suppress: bool
    provider_answered: bool = False  # Twilio's OptOutType was present: it replied already
    has_owner: bool = True
    human_takeover: bool = False
    opt_out_recorded: bool = True  # receive_inbound recorded a new opt-out for this message
    has_answer: bool = False  # a fixed answer template matches the question
    opted_out: bool = False  # an opt-out of the person or the number is in force


@dataclass(frozen=True)
class Decision:
    """The decision and what it implies."""

    name: DecisionName
    send: SendPurpose | None = None  # the one reply to send (None: send nothing)
    stop_reason: str | None = None  # enrollment stop reason (None: leave the drips)
    lead_status: str | None = None
    lead_note: str = ""
    conversation: str | None = None  # the conversation state to set
    reason: str = ""


def decide(facts: DecisionFacts) -> Decision:
    """The decision for one reply (module docstring)."""
    if facts.should_suppress or facts.opt_out_kind == "opt_out":
        send: SendPurpose | None = "opt_out_confirmation"
        why = "opt-out recorded; one confirmation"
        if facts.provider_answered:
            send, why = None, "opt-out recorded; Twilio answered the keyword already"
        elif not facts.opt_out_recorded:
            send, why = None, "opt-out already in force; no second confirmation"
        elif not facts.has_owner:
            send, why = None, "opt-out recorded for an unknown sender; nothing sent"
        return Decision("opt_out", send=send, stop_reason="opt_out", lead_status="opted_out",
                        conversation="opted_out", reason=why)
    if facts.opt_out_kind == "opt_in":
        send = None if facts.provider_answered or not facts.has_owner else \
            "resubscribe_confirmation"
        return Decision("resubscribe", send=send, conversation="resubscribed",
                        reason="START/UNSTOP: opt-outs of the number lifted")
    if facts.opt_out_kind == "help":
        send = None if facts.provider_answered or not facts.has_owner else "help"
        return Decision("help", send=send, reason="HELP: identity and how to stop")
    if not facts.has_owner:
        return Decision("needs_review", reason="unknown sender: a person reads it")
    if facts.human_takeover:
        return Decision("human_takeover", reason="a person owns this conversation")
    if facts.intent == "interested":
        return _handoff("interested")
    if facts.intent == "wrong_number":
        return Decision("wrong_number", conversation="wrong_number",
                        reason="that number is marked wrong for this owner")
    if facts.intent == "not_interested":
        return Decision("not_interested", stop_reason="not_interested", lead_status="dead",
                        lead_note="cold", conversation="cold", reason="not interested")
    if facts.sentiment > HANDOFF_SENTIMENT:
        return _handoff(f"sentiment {facts.sentiment:.2f} above {HANDOFF_SENTIMENT}")
    if facts.intent == "question" and facts.has_answer and not facts.opted_out:
        return Decision("auto_reply", send="auto_reply", stop_reason="reply",
                        lead_status="replied", conversation="auto_replied",
                        reason="question with a fixed answer")
    why = "question without a fixed answer" if facts.intent == "question" else \
        f"intent {facts.intent}"
    if facts.intent == "question" and facts.has_answer:
        why = "question from a person who opted out (no automatic answer)"
    return Decision("needs_review", stop_reason="reply", lead_status="replied",
                    conversation="needs_review", reason=f"{why}: a person reads it")


def _handoff(why: str) -> Decision:
    return Decision("handoff", stop_reason="handoff", lead_status="interested",
                    conversation="handoff", reason=why)
