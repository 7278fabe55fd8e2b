"""Delivery receipts: what Vonage says became of a text message, on its timeline.

A receipt names our ``client-ref`` (the communication's message_id) and the number it
went to. Each outcome is recorded once per number (``SmsReceipt``, unique): a receipt sent
twice, or one per segment of a long text, changes nothing the second time. "delivered"
goes on the customer's timeline; a failure too, with a task for a person, as a bounced
e-mail: through ``bounces.invalidate_address`` (the number marked invalid) when the
network says the number itself cannot receive texts, else a task to remind another way.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from relance.audit import trail
from relance.channels.models import SmsReceipt
from relance.dunning import bounces, tasks
from relance.dunning.models import Communication, StepChannel
from relance.ledger import timeline
from relance.ledger.timeline import Text

log = logging.getLogger(__name__)

# The receipt's ``status`` to what it means for us.
OUTCOMES = {
    "delivered": "delivered",
    "failed": "failed",
    "rejected": "failed",
    "expired": "failed",
    "accepted": "pending",
    "buffered": "pending",
    "unknown": "pending",
}
# Receipt ``err-code`` values saying the number cannot receive texts (absent subscriber
# for good, illegal number): it is marked invalid. Others (busy, switched off, spam
# filter, network) leave the number alone.
NUMBER_GONE = frozenset({"3", "9"})
ERRORS = {
    "1": "unknown", "2": "absent subscriber (temporary)", "3": "absent subscriber (permanent)",
    "4": "call barred by user", "5": "portability error", "6": "anti-spam rejection",
    "7": "handset busy", "8": "network error", "9": "illegal number", "10": "illegal message",
    "11": "unroutable", "12": "destination unreachable", "13": "subscriber age restriction",
    "14": "number blocked by carrier", "15": "pre-paid insufficient funds",
    "99": "general error",
}  # fmt: skip


@dataclass(frozen=True)
class Result:
    communication_id: int | None
    outcome: str
    recorded: bool  # False: known already, or about nothing of ours


def record_receipt(params: Mapping[str, str], *, now: datetime | None = None) -> Result:
    now = now or timezone.now()
    ref = str(params.get("client-ref", ""))
    number = "+" + str(params.get("msisdn", "")).lstrip("+")
    status = str(params.get("status", "")).lower()
    outcome = OUTCOMES.get(status, "pending")
    code = str(params.get("err-code", ""))
    comm = (
        Communication.objects.select_related("organisation", "customer")
        .filter(message_id=ref, channel=StepChannel.SMS)
        .first()
        if ref
        else None
    )
    if comm is None or number not in comm.recipient.split(", "):
        log.info("receipt for an unknown text message %s to %s", ref, number)
        trail.record(None, "webhook.sms_receipt", actor="webhook:vonage", summary=number,
                     data={"client_ref": ref, "status": status, "matched": False})  # fmt: skip
        return Result(None, outcome, False)
    try:
        with transaction.atomic():
            SmsReceipt.objects.create(
                organisation_id=comm.organisation_id, communication=comm, number=number,
                outcome=outcome, status=status[:16], error_code=code[:8],
                provider_id=str(params.get("messageId", ""))[:64],
            )  # fmt: skip
            _act(comm, number, outcome, status, code, now)
            trail.record(
                comm.organisation, f"webhook.sms_{outcome}", actor="webhook:vonage",
                target=("communication", comm.pk), summary=number,
                data={"status": status, "err_code": code, "message_id": params.get("messageId")},
            )  # fmt: skip
    except IntegrityError:  # this outcome is known already: nothing more
        return Result(comm.pk, outcome, False)
    return Result(comm.pk, outcome, True)


def _act(
    comm: Communication, number: str, outcome: str, status: str, code: str, now: datetime
) -> None:
    data = {"communication": comm.pk, "number": number, "status": status, "err_code": code}
    if outcome == "delivered":
        summary = Text(gettext_noop("Text message to %(number)s delivered"), {"number": number})
        timeline.record(
            comm.organisation, comm.customer_id, "sms_delivered", summary, data=data, at=now
        )
        return
    if outcome != "failed":
        return
    reason = f"{status}: {ERRORS.get(code, code or 'no detail')}"
    Communication.objects.filter(pk=comm.pk).update(last_error=f"not delivered: {reason}"[:2000])
    summary = Text(
        gettext_noop("Text message to %(number)s not delivered (%(reason)s)"),
        {"number": number, "reason": reason},
    )
    timeline.record(comm.organisation, comm.customer_id, "sms_failed", summary, data=data, at=now)
    today = timezone.localdate(now)
    if code in NUMBER_GONE:
        bounces.invalidate_address(comm, number, reason, today)
        return
    tasks.open_task(
        comm.organisation,
        key=f"sms_failed:{comm.pk}:{number}",
        customer_id=comm.customer_id,
        kind="send_failed",
        title=Text(
            gettext_noop("The text message to %(customer)s (%(number)s) did not arrive:"
                         " remind them another way"),
            {"customer": comm.customer.legal_name, "number": number},
        ),
        due_on=today,
        communication_id=comm.pk,
        data={"communication": comm.pk, "number": number, "reason": reason},
    )  # fmt: skip
