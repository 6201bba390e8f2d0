"""The state machine of one enrollment in a campaign, as pure functions on a small value.

    not_started -> touch_1_sent -> … -> touch_N_sent -> completed
          \\______________ any of them ______________/
                 -> stopped (reply, opt_out, handoff, bounce, not_interested, wrong_number)
                 -> paused -> (resume) -> where it was

A touch is due on the later of (enrollment day + its day offset) and (the day the previous
touch was sent + the planned gap between the two), so a touch held back by quiet hours or a
daily cap never bunches up with the next one. Stopping is final; a pause is not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from outreach.campaigns.schema import Campaign, Touch


class Status(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    STOPPED = "stopped"
    PAUSED = "paused"


STOP_REASONS = frozenset({"reply", "opt_out", "handoff", "bounce", "not_interested",
                          "wrong_number"})


class TransitionError(ValueError):
    """A transition the state machine does not allow (e.g. sending after a stop)."""


@dataclass(frozen=True)
class Enrollment:
    """Where one lead stands in one campaign."""

    enrolled_on: date
    status: Status = Status.NOT_STARTED
    touches_sent: int = 0
    last_sent_on: date | None = None
    stop_reason: str | None = None
    paused_status: Status | None = None

    @property
    def state(self) -> str:
        """The state's name as the ledger and the UI show it: `touch_2_sent`, `stopped:reply`."""
        if self.status is Status.IN_PROGRESS:
            return f"touch_{self.touches_sent}_sent"
        if self.status is Status.STOPPED:
            return f"stopped:{self.stop_reason}"
        return self.status.value


def next_touch(enrollment: Enrollment, campaign: Campaign) -> tuple[int, Touch] | None:
    """The next touch (1-based number, touch) of an active enrollment, or None."""
    if enrollment.status not in (Status.NOT_STARTED, Status.IN_PROGRESS):
        return None
    if enrollment.touches_sent >= len(campaign.touches):
        return None
    index = enrollment.touches_sent
    return index + 1, campaign.touches[index]


def due_on(enrollment: Enrollment, campaign: Campaign) -> date | None:
    """The day the next touch is due, or None when nothing is left to send."""
    upcoming = next_touch(enrollment, campaign)
    if upcoming is None:
        return None
    number, touch = upcoming
    planned = enrollment.enrolled_on + timedelta(days=touch.day)
    if number > 1 and enrollment.last_sent_on is not None:
        gap = touch.day - campaign.touches[number - 2].day
        planned = max(planned, enrollment.last_sent_on + timedelta(days=gap))
    return planned


def is_due(enrollment: Enrollment, campaign: Campaign, today: date) -> bool:
    day = due_on(enrollment, campaign)
    return day is not None and day <= today


def touch_sent(enrollment: Enrollment, campaign: Campaign, on: date) -> Enrollment:
    """The enrollment after its next touch was sent (or accepted by the outbox) on `on`."""
    if next_touch(enrollment, campaign) is None:
        raise TransitionError(f"no touch to send in state {enrollment.state}")
    sent = enrollment.touches_sent + 1
    status = Status.COMPLETED if sent == len(campaign.touches) else Status.IN_PROGRESS
    return replace(enrollment, status=status, touches_sent=sent, last_sent_on=on)


def stop(enrollment: Enrollment, reason: str) -> Enrollment:
    """Stop for good (a reply, an opt-out, a handoff, a bounce …); stopping twice keeps the
    first reason; a completed enrollment can still be stopped (e.g. an opt-out after it)."""
    if reason not in STOP_REASONS:
        raise TransitionError(f"unknown stop reason {reason!r}; known: {sorted(STOP_REASONS)}")
    if enrollment.status is Status.STOPPED:
        return enrollment
    return replace(enrollment, status=Status.STOPPED, stop_reason=reason, paused_status=None)


def pause(enrollment: Enrollment) -> Enrollment:
    if enrollment.status not in (Status.NOT_STARTED, Status.IN_PROGRESS):
        return enrollment
    return replace(enrollment, status=Status.PAUSED, paused_status=enrollment.status)


def resume(enrollment: Enrollment) -> Enrollment:
    if enrollment.status is not Status.PAUSED:
        return enrollment
    return replace(enrollment, status=enrollment.paused_status or Status.NOT_STARTED,
                   paused_status=None)
