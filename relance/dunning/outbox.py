"""The outbox: from ``queued`` communications to messages sent, tasks for people, or a
clear record of why not.

At most once towards the debtor rests on three rules, each enforced by the database, not
by the queue or the code being careful:

1. **Claim, then send.** A communication is claimed by a compare-and-swap that moves it
   from ``queued`` to ``sending`` and records the Message-ID in the same statement
   (``UPDATE ... WHERE id = ? AND status = 'queued'``); nothing is sent unless exactly one
   row changed. Two workers, or a task delivered twice, send once. It works the same on
   SQLite and PostgreSQL.
2. **Record, then send.** The claim stores what is about to leave (Message-ID, recipients,
   subject) before the transport is called; the outcome is written after, guarded by that
   Message-ID, so that only the claimant records it.
3. **Never resend in doubt.** A communication still ``sending`` long after its claim
   belongs to a process that died: it may have left. It becomes ``ambiguous`` with a task
   for a person, and is never retried automatically. One message at a time is claimed, so
   a crash leaves at most one message per worker in doubt.

Just before the claim the invoices are re-read (``recheck``): paid, disputed, promised
items are dropped, and a message left with no item is cancelled.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from relance.channels import overrides, registry
from relance.channels.base import (
    Delivery,
    Held,
    NoRecipient,
    Outgoing,
    Transport,
    TransportError,
)
from relance.channels.context import line_of, totals_of
from relance.dunning import batch, bounces, levels, plans, task_titles, tasks
from relance.dunning.batch import Facts
from relance.dunning.models import (
    PERSON_CHANNELS,
    CommStatus,
    Communication,
    StepChannel,
)
from relance.dunning.recheck import Check, recheck
from relance.ledger import timeline
from relance.ledger.timeline import Text, label

log = logging.getLogger(__name__)

BATCH_SIZE = 200
# Waits after the 1st, 2nd, ... transient failure; one more failure after the last ends
# as ``failed`` with a task.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
# A claim older than this belongs to a dead process. Well above EMAIL_TIMEOUT: a live
# worker never holds one message that long.
STALE_AFTER = timedelta(minutes=10)
# How long a batch handed to a task queue keeps its communications from being handed out
# again (the task may not have started yet); the claim is what prevents double sending.
ENQUEUE_LEASE = timedelta(minutes=10)

# Channels a person carries out when no transport is registered for them (see
# ``channels.registry``): letters are, when the letter channels are not installed; texts
# while no SMS provider is configured (docs/sms.md).
HANDED_TO_PERSON = PERSON_CHANNELS | {
    StepChannel.LETTER,
    StepChannel.REGISTERED_LETTER,
    StepChannel.SMS,
}
# A channel's "no address" task when the customer has none on it (e-mail's otherwise).
_NO_POSTAL = gettext_noop("No postal address for %(customer)s: add one, or remind them another way")
NO_ADDRESS: dict[str, tuple[str, str]] = {
    StepChannel.LETTER: ("no_letter_address", _NO_POSTAL),
    StepChannel.REGISTERED_LETTER: ("no_registered_letter_address", _NO_POSTAL),
    StepChannel.SMS: (
        "no_mobile",
        gettext_noop("No mobile number to text %(customer)s (%(reason)s): remind them another way"),
    ),
}

# Timeline summaries, written in the organisation's language (see ``ledger.timeline``).
INTERRUPTED = Text(gettext_noop("Sending interrupted"))
DEFERRED = Text(gettext_noop("Sending deferred"))
FAILED = Text(gettext_noop("Sending failed"))
RETURNED = Text(gettext_noop("Back for approval: invoices changed since its wording was edited"))


@dataclass
class Report:
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, outcome: str) -> None:
        self.counts[outcome] += 1

    def merge(self, other: Report) -> None:
        self.counts.update(other.counts)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


def backoff() -> Sequence[timedelta]:
    seconds = getattr(settings, "RELANCE_SEND_BACKOFF", None)
    return BACKOFF if seconds is None else [timedelta(seconds=s) for s in seconds]


# -- finding what is due ------------------------------------------------------------------


def due(today: date, now: datetime) -> Q:
    """Queued, its day has come, not waiting for a retry: what a claim requires."""
    return Q(status=CommStatus.QUEUED, send_on__lte=today) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def due_ids(today: date, *, organisation_id: int | None = None, limit: int = 1000) -> list[int]:
    """Due and not recently handed to a task (whose lease is ``claimed_at`` while queued)."""
    now = timezone.now()
    condition = due(today, now) & (
        Q(claimed_at__isnull=True) | Q(claimed_at__lte=now - ENQUEUE_LEASE)
    )
    if organisation_id is not None:
        condition &= Q(organisation_id=organisation_id)
    return list(
        Communication.objects.filter(condition)
        .order_by("send_on", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def send_due(
    organisation_id: int | None = None,
    today: date | None = None,
    limit: int = 1000,
    *,
    batch_size: int = BATCH_SIZE,
    stale_after: timedelta | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Report:
    """Send what is due, up to ``limit`` communications, in batches over one connection
    each. Sweeps abandoned claims first."""
    today = today or timezone.localdate()
    report = Report()
    swept = sweep_stale(stale_after=stale_after)
    if swept:
        report.counts["ambiguous"] += swept
    ids = due_ids(today, organisation_id=organisation_id, limit=limit)
    for start in range(0, len(ids), batch_size):
        if should_stop():
            break
        report.merge(send_batch(ids[start : start + batch_size], today, should_stop=should_stop))
    return report


# -- one batch ----------------------------------------------------------------------------


class Session:
    """The transports of one batch, opened on first use and closed at the end. A
    transport that failed to open is not tried again in the batch: the rest of the batch
    is deferred at once rather than each waiting for a time-out."""

    def __init__(self) -> None:
        self.open: dict[str, Transport] = {}
        self.broken: dict[str, TransportError] = {}

    def transport(self, channel: str) -> Transport:
        if channel in self.broken:
            raise self.broken[channel]
        if channel not in self.open:
            registered = registry.get(channel)
            if registered is None:  # unregistered since the message was built
                raise TransportError(f"no transport for the {channel} channel")
            transport = registered.transport()
            try:
                transport.open()
            except TransportError as error:
                self.broken[channel] = error
                raise
            self.open[channel] = transport
        return self.open[channel]

    def send(self, channel: str, payload: Any) -> Delivery:
        return self.transport(channel).send(payload)

    def close(self) -> None:
        for transport in self.open.values():
            transport.close()
        self.open.clear()


@dataclass
class Ready:
    """A message built and re-checked, not yet claimed."""

    comm: Communication
    check: Check
    outgoing: Outgoing


@dataclass
class Flight:
    """A claimed message handed to the sending thread."""

    ready: Ready
    future: Future[Delivery]


def send_batch(
    communication_ids: Iterable[int],
    today: date | None = None,
    *,
    should_stop: Callable[[], bool] = lambda: False,
) -> Report:
    """Send the given communications that are still due; others are skipped (already
    sent by someone else, cancelled, approved later...).

    One thread talks to the server while this one prepares the next message: the SMTP
    dialogue of message k overlaps the rendering of k+1. Message k+1 is claimed only once
    the outcome of k is recorded, so a crash still leaves at most one message in doubt.
    """
    today = today or timezone.localdate()
    report = Report()
    comms = list(
        Communication.objects.filter(pk__in=list(communication_ids), status=CommStatus.QUEUED)
        .select_related("organisation", "customer")
        .order_by("send_on", "pk")
    )
    facts = batch.load(comms, today)
    batch.load_portal_urls(facts, comms)
    session = Session()
    flight: Flight | None = None
    with (
        overrides.snapshot({comm.organisation_id for comm in comms}),
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="relance-send") as sender,
    ):
        try:
            for comm in comms:
                if should_stop():  # between messages: never leaves one in doubt
                    break
                if flight and flight.ready.comm.customer_id == comm.customer_id:
                    # The same customer: thread under, and address after, what just left.
                    report.add(land(flight, today, facts))
                    flight = None
                step = prepare(comm, today, facts)
                if flight:
                    report.add(land(flight, today, facts))
                    flight = None
                if isinstance(step, str):
                    report.add(step)
                elif not claim(step.comm, step.outgoing, today, timezone.now()):
                    report.add("skipped")
                else:
                    save_drops(step.check)
                    future = sender.submit(session.send, comm.channel, step.outgoing.payload)
                    flight = Flight(step, future)
        finally:
            if flight:
                report.add(land(flight, today, facts))
            sender.submit(session.close).result()
    return report


def prepare(comm: Communication, today: date, facts: Facts) -> Ready | str:
    """Re-check and build; settles at once what needs no sending (returns its outcome)."""
    check = recheck(comm, today, facts)
    if not check.kept:
        return cancel(comm, check, today)
    if comm.edited_text and any(item.dropped for item in check.changed):
        return back_to_approval(comm, check)
    channel = registry.get(comm.channel)
    if channel is None:
        if comm.channel in HANDED_TO_PERSON:
            return hand_to_person(comm, check, today)
        return fail_unsent(comm, check, today, f"no transport for the {comm.channel} channel yet")
    try:
        return Ready(comm, check, channel.build(comm, check.kept, today, facts))
    except NoRecipient as error:
        return no_address(comm, check, today, str(error))
    except Held as error:
        return hold(comm, check, today, error)
    except Exception as error:  # a broken template must not stop the other messages
        log.exception("communication %s: the message could not be built", comm.pk)
        return fail_unsent(comm, check, today, f"the message could not be built: {error}")


def land(flight: Flight, today: date, facts: Facts) -> str:
    """Record the outcome of a message handed to the sending thread."""
    comm, check, outgoing = flight.ready.comm, flight.ready.check, flight.ready.outgoing
    try:
        delivery = flight.future.result()
    except TransportError as error:
        facts.invalidated(comm.customer_id, error.refused)
        return after_error(comm, outgoing, check, today, error)
    facts.sent(comm.customer_id, outgoing.message_id)
    facts.invalidated(comm.customer_id, delivery.refused)
    return mark_sent(comm, outgoing, check, today, delivery)


# -- the claim and the outcomes -----------------------------------------------------------


def claim(comm: Communication, outgoing: Outgoing, today: date, now: datetime) -> bool:
    """Compare-and-swap ``queued`` → ``sending``, recording what is about to leave.

    Written as SQL: it is the statement at-most-once rests on, it runs once per message,
    and the ORM took 25 times longer to build it than SQLite to run it.
    """
    recipient, subject = ", ".join(outgoing.recipients)[:254], outgoing.subject[:300]
    ops = connection.ops
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ops.quote_name(Communication._meta.db_table)}"
            " SET status = %s, claimed_at = %s, message_id = %s, recipient = %s, subject = %s,"
            " updated_at = %s"
            " WHERE id = %s AND status = %s AND send_on <= %s"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= %s)",
            [
                CommStatus.SENDING.value,
                ops.adapt_datetimefield_value(now),
                outgoing.message_id,
                recipient,
                subject,
                ops.adapt_datetimefield_value(now),
                comm.pk,
                CommStatus.QUEUED.value,
                ops.adapt_datefield_value(today),
                ops.adapt_datetimefield_value(now),
            ],
        )
        claimed = cursor.rowcount == 1
    if claimed:
        comm.status, comm.claimed_at, comm.message_id = CommStatus.SENDING, now, outgoing.message_id
        comm.recipient, comm.subject = recipient, subject
    return claimed


def _mine(comm: Communication, outgoing: Outgoing) -> Any:
    """The claim still held by this process: same Message-ID, not settled by anyone else.
    ``ambiguous`` is included: a sweep may have judged a slow send dead, and the claimant
    knows better."""
    return Communication.objects.filter(
        pk=comm.pk,
        message_id=outgoing.message_id,
        status__in=[CommStatus.SENDING, CommStatus.AMBIGUOUS],
    )


def mark_sent(
    comm: Communication, outgoing: Outgoing, check: Check, today: date, delivery: Delivery
) -> str:
    now = timezone.now()
    with transaction.atomic():
        if not _set_sent(comm, outgoing, now):
            # Judged dead by a sweep while sending slowly: we know better, it left.
            sent = {"status": CommStatus.SENT, "sent_at": now, "last_error": "",
                    "sent_text": outgoing.text, "sent_html": outgoing.html,
                    "updated_at": now}  # fmt: skip
            if not _mine(comm, outgoing).update(**sent):
                log.warning("communication %s sent but settled by someone else", comm.pk)
                return "sent"
            tasks.cancel(comm.organisation_id, f"ambiguous:{comm.pk}")
        if comm.last_error:  # held before: its reason went away
            tasks.cancel(comm.organisation_id, f"held:{comm.pk}")
        details = delivery.details
        if delivery.record is not None:
            details = {**details, **delivery.record()}
        refresh_items(check, today)
        levels.give_back(check.dropped, comm.run_date)
        plans.confirmed(comm, now)  # a payment plan's confirmation: when it left
        event(comm, now, "communication_sent", _sent_summary(comm, check), check, details)
        for address in delivery.refused:
            bounces.invalidate_address(comm, address, "refused when sending", today)
    return "sent"


def _set_sent(comm: Communication, outgoing: Outgoing, now: datetime) -> bool:
    """``sending`` → ``sent`` for our own claim (its Message-ID); SQL for the same reason
    as ``claim``."""
    ops = connection.ops
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ops.quote_name(Communication._meta.db_table)}"
            " SET status = %s, sent_at = %s, last_error = '', sent_text = %s, sent_html = %s,"
            " updated_at = %s"
            " WHERE id = %s AND message_id = %s AND status = %s",
            [
                CommStatus.SENT.value,
                ops.adapt_datetimefield_value(now),
                outgoing.text,
                outgoing.html,
                ops.adapt_datetimefield_value(now),
                comm.pk,
                outgoing.message_id,
                CommStatus.SENDING.value,
            ],
        )
        return cursor.rowcount == 1


def after_error(
    comm: Communication, outgoing: Outgoing, check: Check, today: date, error: TransportError
) -> str:
    now = timezone.now()
    reason = str(error)[:2000]
    with transaction.atomic():
        mine = _mine(comm, outgoing)
        if error.ambiguous:
            if mine.update(status=CommStatus.AMBIGUOUS, last_error=reason, updated_at=now):
                _ambiguous_task(comm, today, reason)
                event(comm, now, "communication_ambiguous", INTERRUPTED, check)
            return "ambiguous"
        attempts = comm.attempts + 1
        waits = backoff()
        if not error.permanent and attempts <= len(waits):
            if mine.update(
                status=CommStatus.QUEUED,
                attempts=attempts,
                next_attempt_at=now + waits[attempts - 1],
                claimed_at=None,
                message_id="",
                last_error=reason,
                updated_at=now,
            ):
                event(comm, now, "communication_deferred", DEFERRED, check)
            return "deferred"
        if mine.update(
            status=CommStatus.FAILED, attempts=attempts, last_error=reason, updated_at=now
        ):
            _failed_task(comm, today, reason)
            event(comm, now, "communication_failed", FAILED, check)
            for address in error.refused:
                bounces.invalidate_address(comm, address, reason, today)
    return "failed"


def fail_unsent(comm: Communication, check: Check, today: date, reason: str) -> str:
    """Fails a communication that cannot even be attempted (no address, no transport):
    compare-and-swap from ``queued`` straight to ``failed``, with a task."""
    now = timezone.now()
    with transaction.atomic():
        if not Communication.objects.filter(pk=comm.pk, status=CommStatus.QUEUED).update(
            status=CommStatus.FAILED, last_error=reason, updated_at=now
        ):
            return "skipped"
        save_drops(check)
        _failed_task(comm, today, reason)
        summary = Text(gettext_noop("Not sent: %(reason)s"), {"reason": reason})
        event(comm, now, "communication_failed", summary, check)
    return "failed"


def cancel(comm: Communication, check: Check, today: date) -> str:
    now = timezone.now()
    with transaction.atomic():
        if not Communication.objects.filter(pk=comm.pk, status=CommStatus.QUEUED).update(
            status=CommStatus.CANCELLED, updated_at=now
        ):
            return "skipped"
        save_drops(check)
        levels.give_back(check.dropped, comm.run_date)
        event(
            comm,
            now,
            "communication_cancelled",
            Text(gettext_noop("Cancelled before sending: nothing left to remind")),
            check,
        )
    return "cancelled"


def back_to_approval(comm: Communication, check: Check) -> str:
    """A person's wording was approved for invoices some of which must now be left out
    (paid, disputed, promised since it was approved): it would speak of them. The message
    waits for a person again rather than leave with words nobody approved for what is
    left; the invoices dropped keep their mark and their level is given back, as when
    sent."""
    now = timezone.now()
    with transaction.atomic():
        if not Communication.objects.filter(pk=comm.pk, status=CommStatus.QUEUED).update(
            status=CommStatus.AWAITING_APPROVAL, updated_at=now
        ):
            return "skipped"
        save_drops(check)
        levels.give_back(check.dropped, comm.run_date)
        event(comm, now, "communication_returned", RETURNED, check)
    return "returned"


def hand_to_person(comm: Communication, check: Check, today: date) -> str:
    """Calls, tasks, hand-overs and (for now) letters become a task for a person; the
    communication is then ``sent``: handed over."""
    now = timezone.now()
    with transaction.atomic():
        if not Communication.objects.filter(pk=comm.pk, status=CommStatus.QUEUED).update(
            status=CommStatus.SENT, claimed_at=now, sent_at=now, updated_at=now
        ):
            return "skipped"
        save_drops(check)
        refresh_items(check, today)
        levels.give_back(check.dropped, comm.run_date)
        lines = [line_of(item.invoice, today, check.owed(item)) for item in check.kept]
        title = _person_title(comm, lines)
        tasks.open_task(
            comm.organisation,
            key=task_titles.message_key(comm.pk),
            customer_id=comm.customer_id,
            kind=comm.channel,
            title=title,
            due_on=today,
            communication_id=comm.pk,
            data={"template": comm.template, "invoices": [ln.number for ln in lines]},
        )
        event(comm, now, "communication_sent", title, check, {"handed_to": "task"})
    return "handed_over"


# A held message is tried again this long after (a person may have fixed its cause).
HELD_RETRY = timedelta(hours=6)


def hold(comm: Communication, check: Check, today: date, error: Held) -> str:
    """Cannot leave yet (``Held``): stays queued, tried again after ``HELD_RETRY``; a
    person gets one task saying why, and the timeline says it once."""
    now = timezone.now()
    with transaction.atomic():
        if not Communication.objects.filter(pk=comm.pk, status=CommStatus.QUEUED).update(
            next_attempt_at=now + HELD_RETRY, last_error=error.reason[:2000], updated_at=now
        ):
            return "skipped"
        save_drops(check)
        title = Text(
            gettext_noop("The %(channel)s to %(customer)s is held: %(reason)s"),
            {"channel": label(StepChannel, comm.channel), "customer": comm.customer.legal_name,
             "reason": error.reason[:160]},
        )  # fmt: skip
        if tasks.open_task(
            comm.organisation, key=f"held:{comm.pk}", customer_id=comm.customer_id, kind="held",
            title=title, due_on=today, communication_id=comm.pk,
            data={"communication": comm.pk, "reason": error.reason, "cause": error.key},
        ):  # fmt: skip
            event(comm, now, "communication_held", title, check, {"reason": error.reason})
    return "held"


def no_address(comm: Communication, check: Check, today: date, reason: str) -> str:
    """No e-mail address to write to: not a failed send but work for a person, like a call.
    The communication is handed over (``sent``, its reason in ``last_error``); the
    customer's one open "no e-mail address" task (keyed by customer) lists it."""
    now = timezone.now()
    with transaction.atomic():
        if not Communication.objects.filter(pk=comm.pk, status=CommStatus.QUEUED).update(
            status=CommStatus.SENT, claimed_at=now, sent_at=now, last_error=reason, updated_at=now
        ):
            return "skipped"
        save_drops(check)
        refresh_items(check, today)
        kind, message = NO_ADDRESS.get(comm.channel) or (
            "no_email",
            gettext_noop("No e-mail address for %(customer)s: add one, or remind them another way"),
        )
        title = Text(message, {"customer": comm.customer.legal_name, "reason": reason})
        numbers = [item.invoice.number for item in check.kept]
        # The same task, open again if it was closed, listing this one too.
        tasks.open_or_extend(
            comm.organisation, key=f"{kind}:{comm.customer_id}", customer_id=comm.customer_id,
            kind=kind, title=title, due_on=today, communication_id=comm.pk,
            data={"communications": [comm.pk], "invoices": numbers},
            extend=lambda data: {
                "communications": [*data.get("communications", []), comm.pk],
                "invoices": sorted({*data.get("invoices", []), *numbers}),
            },
        )  # fmt: skip
        event(comm, now, "communication_handed_over", title, check, {"handed_to": "task"})
    return "no_address"


def preview(comm: Communication, today: date) -> tuple[Check, Outgoing | None]:
    """What the worker would send for ``comm`` today, written by the same re-check and
    builder, nothing saved but the customer's portal link: None when nothing would leave
    (every item dropped, or a channel a person carries out). Raises ``NoRecipient``."""
    return previews([comm], today, raising=True)[0].parts()


@dataclass
class Preview:
    comm: Communication
    check: Check
    outgoing: Outgoing | None
    problem: str = ""  # why it cannot be sent as it is (no address, a broken template)

    def parts(self) -> tuple[Check, Outgoing | None]:
        return self.check, self.outgoing


def previews(
    comms: Sequence[Communication], today: date, *, raising: bool = False
) -> list[Preview]:
    """``preview`` of several communications, their facts read once (a page of them).
    They carry the customer's portal link as the sent message will (made if missing):
    what a person reads or approves is what leaves."""
    facts = batch.load(comms, today)
    batch.load_portal_urls(facts, comms)
    shown = []
    with overrides.snapshot({comm.organisation_id for comm in comms}):
        for comm in comms:
            try:
                shown.append(Preview(comm, *_preview(comm, today, facts)))
            except NoRecipient as error:
                if raising:
                    raise
                shown.append(Preview(comm, recheck(comm, today, facts), None, str(error)))
            except Exception as error:  # as the worker: one broken template spoils one
                if raising:
                    raise
                log.exception("communication %s: the message could not be built", comm.pk)
                problem = f"the message could not be built: {error}"
                shown.append(Preview(comm, recheck(comm, today, facts), None, problem))
    return shown


def _preview(comm: Communication, today: date, facts: Facts) -> tuple[Check, Outgoing | None]:
    check = recheck(comm, today, facts)
    channel = registry.get(comm.channel)
    if not check.kept or channel is None:
        return check, None
    return check, channel.build(comm, check.kept, today, facts)


# -- abandoned claims ---------------------------------------------------------------------


def sweep_stale(now: datetime | None = None, stale_after: timedelta | None = None) -> int:
    """Claims older than ``stale_after`` belong to dead processes: their messages may have
    left. Each becomes ``ambiguous`` with a task; none is retried automatically."""
    now = now or timezone.now()
    cutoff = now - (stale_after if stale_after is not None else STALE_AFTER)
    swept = 0
    stale = Communication.objects.filter(
        status=CommStatus.SENDING, claimed_at__lt=cutoff
    ).select_related("organisation", "customer")
    for comm in stale:
        reason = "the sending process stopped while sending"
        with transaction.atomic():
            if Communication.objects.filter(
                pk=comm.pk, status=CommStatus.SENDING, claimed_at=comm.claimed_at
            ).update(status=CommStatus.AMBIGUOUS, last_error=reason, updated_at=now):
                swept += 1
                _ambiguous_task(comm, timezone.localdate(now), reason)
                event(comm, now, "communication_ambiguous", INTERRUPTED, None)
    return swept


# -- records ------------------------------------------------------------------------------


def save_drops(check: Check) -> None:
    update(check.changed, ["dropped"])


def refresh_items(check: Check, today: date) -> None:
    """The items say what the message said: the balance (what was asked) and delay of the
    day it left."""
    changed = []
    for item in check.kept:
        days = (today - item.invoice.due_date).days
        balance = check.owed(item)
        if (item.balance, item.days_overdue) != (balance, days):
            item.balance, item.days_overdue = balance, days
            changed.append(item)
    update(changed, ["balance", "days_overdue"])


def event(
    comm: Communication,
    now: datetime,
    kind: str,
    summary: Text | str,
    check: Check | None,
    extra: dict[str, Any] | None = None,
) -> None:
    data: dict[str, Any] = {
        "communication": comm.pk,
        "channel": comm.channel,
        "template": comm.template,
    }
    if comm.message_id:
        data["message_id"] = comm.message_id
    if check is not None:
        data["invoices"] = [item.invoice.number for item in check.kept]
        if check.dropped:
            data["dropped"] = check.reasons
    data.update(extra or {})
    timeline.record(comm.organisation, comm.customer_id, kind, summary, data=data, at=now)


def update(instances: Sequence[Any], names: Sequence[str]) -> None:
    """Save ``names`` of a few instances of one model by primary key: one prepared
    statement, where ``bulk_update`` built a CASE expression through the ORM each time (a
    third of the time spent recording a message sent)."""
    if not instances:
        return
    meta = instances[0]._meta
    fields = [meta.get_field(name) for name in names]
    ops = connection.ops
    # All or nothing, as bulk_update; no savepoint: inside a transaction it adds nothing.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {ops.quote_name(meta.db_table)}"
            f" SET {', '.join(f'{ops.quote_name(field.column)} = %s' for field in fields)}"
            f" WHERE {ops.quote_name(meta.pk.column)} = %s",
            [
                [
                    field.get_db_prep_save(getattr(obj, field.attname), connection)
                    for field in fields
                ]
                + [obj.pk]
                for obj in instances
            ],
        )


def _sent_summary(comm: Communication, check: Check) -> Text:
    numbers = ", ".join(item.invoice.number for item in check.kept[:5])
    more = "…" if len(check.kept) > 5 else ""
    return Text(
        gettext_noop("%(channel)s “%(subject)s” sent for %(numbers)s"),
        {"channel": label(StepChannel, comm.channel), "subject": comm.subject,
         "numbers": numbers + more},
    )  # fmt: skip


def _person_title(comm: Communication, lines: Sequence[Any]) -> Text:
    totals = [(t.amount, t.currency) for t in totals_of(lines)]
    return task_titles.handed_over(
        comm.channel, comm.template, comm.customer.legal_name, len(lines), totals
    )


def _open_task(
    comm: Communication, key: str, kind: str, title: Text, today: date, **data: Any
) -> None:
    tasks.open_task(
        comm.organisation,
        key=key,
        customer_id=comm.customer_id,
        kind=kind,
        title=title,
        due_on=today,
        communication_id=comm.pk,
        data={"communication": comm.pk, **data},
    )


def _ambiguous_task(comm: Communication, today: date, reason: str) -> None:
    title = Text(
        gettext_noop("Check whether the %(channel)s to %(customer)s was received before resending"),
        {"channel": label(StepChannel, comm.channel), "customer": comm.customer.legal_name},
    )
    _open_task(
        comm,
        f"ambiguous:{comm.pk}",
        "check_send",
        title,
        today,
        message_id=comm.message_id,
        reason=reason,
    )


def _failed_task(comm: Communication, today: date, reason: str) -> None:
    title = Text(
        gettext_noop("Send the %(channel)s to %(customer)s another way: %(reason)s"),
        {"channel": label(StepChannel, comm.channel), "customer": comm.customer.legal_name,
         "reason": reason[:120]},
    )  # fmt: skip
    _open_task(comm, f"send_failed:{comm.pk}", "send_failed", title, today, reason=reason)
