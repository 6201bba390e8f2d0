"""The email channel adapter: builds the CAN-SPAM-complete message
(`outreach.channels.email.build_email`) and hands it to `SmtpSender`.

Outcomes: accepted (status `sent`: the SMTP server took it; the provider id is the
Message-ID), `bounced` (5xx: the address bounces; a suppression with reason bounce follows
and the enrollment stops), `deferred` (4xx: refused for now, nothing sent, retried on a later
run), `unknown` (the connection broke mid-transaction: the server may have taken it). SMTP has
no message list to ask afterwards, so the reconcile step cannot resolve an unknown email: it
is held for a person (`find_sent` answers `CANNOT_TELL`).
"""

from __future__ import annotations

from outreach.channels.base import (
    CANNOT_TELL,
    ChannelMessage,
    DeliveryResult,
    Outcome,
    SentRecordQuery,
    _CannotTell,
)
from outreach.channels.email import (
    EmailBuildError,
    OutgoingEmail,
    SmtpSender,
    SmtpSendError,
    build_email,
)


class SmtpEmailChannel:
    provider = "smtp"

    def __init__(self, sender: SmtpSender, from_address: str) -> None:
        self.smtp = sender
        self.sender = from_address

    def deliver(self, message: ChannelMessage) -> DeliveryResult:
        try:
            built = build_email(OutgoingEmail(
                to_address=message.to_address, from_name=message.from_name or "",
                from_address=message.from_address or self.sender,
                subject=message.subject or "", text=message.body, html=message.html or "",
                unsubscribe_url=message.unsubscribe_url or "",
                postal_address=message.postal_address or "", reply_to=message.reply_to,
                in_reply_to=message.in_reply_to, references=message.references))
        except EmailBuildError as error:
            return DeliveryResult(Outcome.FAILED, error_code="email_build",
                                  error_message=str(error))
        try:
            message_id = self.smtp.send(built)
        except SmtpSendError as error:
            code = f"smtp_{error.code}" if error.code else "smtp_connection"
            if error.outcome_unknown:
                return DeliveryResult(Outcome.UNKNOWN, error_code=code, error_message=str(error))
            if error.permanent:
                return DeliveryResult(Outcome.BOUNCED, error_code=code, error_message=str(error))
            return DeliveryResult(Outcome.DEFERRED, error_code=code, error_message=str(error))
        return DeliveryResult(Outcome.ACCEPTED, status="sent", provider_message_id=message_id)

    def find_sent(self, query: SentRecordQuery) -> _CannotTell:
        return CANNOT_TELL
