"""A person's decision on a communication awaiting approval: send it, or skip it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.dunning import levels
from relance.dunning.labels import lazy_template_label
from relance.dunning.models import CommStatus, Communication, StepChannel
from relance.ledger import timeline
from relance.ledger.timeline import Event, Text, label


class NotAwaiting(Exception):
    pass


@transaction.atomic
def decide(
    organisation: Organisation,
    ids: Iterable[int],
    *,
    approve: bool,
    user_id: int | None = None,
    note: str = "",
) -> list[Communication]:
    """Approve (queue for sending) or skip (cancel) communications awaiting approval.

    The update is conditional on the status, so two people deciding at once cannot both
    win; every id must belong to the organisation and be awaiting approval, or nothing
    changes."""
    wanted = sorted(set(ids))
    comms = list(
        Communication.objects.select_for_update().filter(organisation=organisation, pk__in=wanted)
    )
    waiting = [c for c in comms if c.status == CommStatus.AWAITING_APPROVAL]
    if len(waiting) != len(wanted):
        found = {c.pk for c in waiting}
        missing = [pk for pk in wanted if pk not in found]
        raise NotAwaiting(f"not awaiting approval in {organisation.slug}: {missing}")
    status = CommStatus.QUEUED if approve else CommStatus.CANCELLED
    changed = Communication.objects.filter(
        pk__in=wanted, status=CommStatus.AWAITING_APPROVAL
    ).update(status=status, updated_at=timezone.now())
    if changed != len(wanted):  # someone else decided meanwhile
        raise NotAwaiting("another person decided on some of them first; nothing was changed")
    timeline.record_many(
        organisation,
        [Event(c.customer_id, "communication_approved" if approve else "communication_skipped",
               _decision_text(c, approve, note), {"communication": c.pk})
         for c in waiting],
        actor_id=user_id,
    )  # fmt: skip
    if not approve:  # a skipped step is not done: its items go back to their level before
        levels.give_back_all(waiting)
    if waiting:  # one event per decision, whatever the number of communications
        verb = "approved" if approve else "skipped"
        trail.record(organisation, f"communication.{verb}", user_id=user_id,
                     target=waiting[0] if len(waiting) == 1 else ("communication", ""),
                     summary=Text(gettext_noop("approved %(communications)s") if approve
                          else gettext_noop("skipped %(communications)s"),
                          {"communications": ", ".join(f"{c.template} #{c.pk}" for c in waiting)}),
                     data={"communications": wanted, "note": note})  # fmt: skip
    for c in waiting:
        c.status = status
    return waiting


EDITED = gettext_noop("%(template)s by %(channel)s: wording edited before approval")
REVERTED = gettext_noop("%(template)s by %(channel)s: back to the template's wording")


@transaction.atomic
def edit(
    organisation: Organisation,
    pk: int,
    *,
    subject: str,
    text: str,
    user_id: int | None = None,
) -> Communication:
    """A person's own wording for one communication awaiting approval: sent instead of
    the template's once approved (see ``channels.templates.with_edits``). An empty text
    goes back to the template's wording. Only while it awaits approval: what is approved
    is what was read."""
    text = text.replace("\r\n", "\n").strip()
    subject = " ".join(subject.split())[:300]
    comm = (
        Communication.objects.select_for_update().filter(organisation=organisation, pk=pk).first()
    )
    if comm is None or comm.status != CommStatus.AWAITING_APPROVAL:
        raise NotAwaiting(f"not awaiting approval in {organisation.slug}: [{pk}]")
    if not text and subject:
        raise ValueError("a subject of one's own needs a text of one's own")
    comm.edited_subject, comm.edited_text = subject if text else "", text
    comm.edited_by_id = user_id if text else None
    comm.save(update_fields=["edited_subject", "edited_text", "edited_by", "updated_at"])
    params = _named(comm)
    timeline.record(organisation, comm.customer_id,
                    "communication_edited" if text else "communication_reverted",
                    Text(EDITED if text else REVERTED, params),
                    data={"communication": comm.pk}, actor_id=user_id)  # fmt: skip
    trail.record(organisation, "communication.edited" if text else "communication.reverted",
                 user_id=user_id, target=comm,
                 summary=Text(gettext_noop("edited %(template)s #%(id)s") if text
                              else gettext_noop("reverted %(template)s #%(id)s"),
                              {"template": comm.template, "id": comm.pk}),
                 data={"subject": subject, "text": text})  # fmt: skip
    return comm


def _named(comm: Communication) -> dict[str, Any]:
    """The message's template and channel by their names, in the summary's language."""
    return {
        "template": lazy_template_label(comm.template),
        "channel": label(StepChannel, comm.channel),
    }


def _decision_text(comm: Communication, approve: bool, note: str) -> Text:
    params = {**_named(comm), "note": note}
    if approve:
        message = (gettext_noop("%(template)s by %(channel)s approved: %(note)s") if note
                   else gettext_noop("%(template)s by %(channel)s approved"))  # fmt: skip
    else:
        message = (gettext_noop("%(template)s by %(channel)s skipped: %(note)s") if note
                   else gettext_noop("%(template)s by %(channel)s skipped"))  # fmt: skip
    return Text(message, params)


def describe(comm: Communication) -> dict[str, Any]:
    return {
        "id": comm.pk, "customer": comm.customer.reference, "name": comm.customer.legal_name,
        "channel": comm.channel, "template": comm.template, "status": comm.status,
        "run_date": comm.run_date, "send_on": comm.send_on,
        "invoices": [i.invoice.number for i in comm.items.all()],
        "attempts": comm.attempts, "last_error": comm.last_error,  # why a send failed
    }  # fmt: skip
