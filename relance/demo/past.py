"""The demo's past: the last weeks of Relance at work, replayed day by day with the product's
own services, so that what the demo shows is what the product would have produced.

Each day, in order:

1. the day's ledger arrives: invoices issued and payments received that day, imported
   with ``apply_batch`` (the first day brings everything before it);
2. the day's run (``engine.run``), on business days and today (a run on a weekend or a
   holiday plans nothing);
3. a person approves what has awaited approval for a week (the latest formal notices stay
   awaiting);
4. the outbox sends what is due (``outbox.send_due``), to a mail backend that writes the
   messages to a file per day instead of sending them (``mailbox``, in ``mail_dir``);
5. people's work: calls and letters of earlier days closed with their outcome, disputes
   opened and resolved, promises, holds and a payment plan recorded through
   ``dunning.pauses``, a bounce recorded through ``channels.bounces``; promises paid are
   marked kept.

Rows written during a day are dated that day (at 09:00 in the organisation's time zone):
the timeline reads as it happened.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.test.utils import override_settings
from django.utils import timezone

from relance.accounts.models import Organisation
from relance.demo.generator import DemoData, DisputeSpec, HoldSpec, PlanSpec, PromiseSpec
from relance.dunning import approval, bounces, engine, outbox, pauses, tasklist
from relance.dunning.models import (
    CommStatus,
    Communication,
    Promise,
    StepChannel,
    Task,
)
from relance.ledger import balances, summaries
from relance.ledger.imports.apply import apply_batch
from relance.ledger.imports.records import LedgerBatch
from relance.ledger.models import (
    Allocation,
    Contact,
    Customer,
    Dispute,
    Hold,
    ImportRun,
    Invoice,
    Payment,
    TimelineEvent,
)

DAY = dt.timedelta(days=1)
HOUR = 9  # rows written during a simulated day are dated that day at this hour
APPROVAL_WAIT = 7  # days a communication awaits approval before the demo's person decides
MAIL_BACKEND = "relance.demo.mailbox.EmailBackend"

Progress = Callable[[str, int, int], None]

# What a person wrote when closing a task, by the task's kind.
OUTCOMES: dict[str, tuple[str, ...]] = {
    StepChannel.CALL: (
        "Joint la comptabilité fournisseurs : la facture est validée, paiement au prochain "
        "virement.",
        "Messagerie : message laissé avec les numéros de facture et les montants.",
        "La facture n'avait pas été reçue : renvoyée par e-mail au service comptable.",
        "Interlocutrice en congés ; rappel convenu la semaine prochaine.",
        "Facture bloquée en attente de la signature du directeur financier.",
    ),
    StepChannel.REGISTERED_LETTER: ("Posté en recommandé avec accusé de réception.",),
    StepChannel.LETTER: ("Courrier posté.",),
    StepChannel.TASK: ("Dossier examiné : créance certaine et exigible, pièces rassemblées.",),
    StepChannel.HANDOVER: ("Dossier transmis à l'assureur-crédit.",),
}
CLOSED_KINDS = tuple(OUTCOMES)
BOUNCE_REASON = "smtp; 550 5.1.1 <{address}>: Recipient address rejected: User unknown"


@dataclass
class Past:
    """What the replay did, for the command's summary."""

    start: dt.date
    end: dt.date
    runs: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    # The last business day's run (the day a person opening the demo looks at).
    last_business_day: dt.date | None = None
    last_run: engine.RunResult | None = None


def replay(
    organisation: Organisation,
    data: DemoData,
    *,
    mail_dir: Path,
    user_id: int | None = None,
    progress: Progress | None = None,
) -> Past:
    """Replay ``data.start`` to ``data.today``; the organisation's ledger must be empty."""
    every_day = [data.start + n * DAY for n in range((data.today - data.start).days + 1)]
    business = [
        d
        for d in every_day
        if d.weekday() < 5 and engine.calendar_for(organisation, d).business_day
    ]
    # The runs of weekends and holidays plan nothing (they record steps passed over and
    # promises broken, which the next business day's run records as well): for speed the
    # replay runs business days only, and today whatever it is.
    runs = {*business, data.start, data.today}
    past = Past(data.start, data.today)
    story = Stories(organisation, data, user_id, business)
    clock = Clock(organisation)
    batches = daily_batches(data)
    mail_dir.mkdir(parents=True, exist_ok=True)
    with override_settings(EMAIL_BACKEND=MAIL_BACKEND):
        for n, day in enumerate(every_day):
            if progress:
                progress("days", n, len(every_day))
            clock.begin()
            batch = batches.get(day)
            if day == data.start:
                apply_batch(organisation, batches[day], as_of=day)
                story.describe_imported_disputes()
            elif batch is not None:
                arrive(organisation, batch)
            if day in runs:
                result = engine.run(organisation, day)
                past.runs += 1
                past.counts.update(result.counts)
                if result.business_day:
                    story.approve(day)
                    past.last_business_day, past.last_run = day, result
                with override_settings(EMAIL_FILE_PATH=str(mail_dir / f"{day}.eml")):
                    sent = outbox.send_due(organisation.pk, today=day, limit=1_000_000)
                past.counts.update({f"outbox_{k}": v for k, v in sent.counts.items()})
            story.play(day)
            if day not in runs:  # a run records the promises kept itself
                pauses.keep_promises(organisation, on=day)
            clock.stamp(day)
    if progress:
        progress("days", len(every_day), len(every_day))
    return past


def daily_batches(data: DemoData) -> dict[dt.date, LedgerBatch]:
    """The ledger as it arrived: everything up to the first day in one import (disputes
    known by then flagged), then each day's new invoices and payments."""
    batch, start = data.batch, data.start
    flagged = {d.invoice for d in data.disputes if d.opened_on <= start}
    batches: dict[dt.date, LedgerBatch] = defaultdict(
        lambda: LedgerBatch(file="demo", format=batch.format, source=batch.source,
                            sha256=batch.sha256)
    )  # fmt: skip
    first = batches[start]
    first.customers = dict(batch.customers)
    first.contacts = list(batch.contacts)
    for invoice in batch.invoices:
        day = max(invoice.issue_date, start)
        flag = True if invoice.number in flagged else None
        batches[day].invoices.append(replace(invoice, disputed=flag))
    for payment in batch.payments:
        batches[max(payment.date, start)].payments.append(payment)
    for allocation in batch.allocations:
        batches[max(allocation.date, start)].allocations.append(allocation)
    for day_batch in batches.values():
        day_batch.rows_read = len(day_batch.invoices) + len(day_batch.payments)
    return dict(batches)


def arrive(organisation: Organisation, batch: LedgerBatch) -> None:
    """A day's new invoices and payments, written as the import writes new rows (balances
    through ``balances.refresh``) without its comparison of the whole ledger: the first
    day's import set everything else, and nothing here changes an existing row."""
    org = organisation
    customers = dict(Customer.objects.filter(organisation=org).values_list("reference", "pk"))
    Invoice.objects.bulk_create(
        [
            Invoice(organisation=org, customer_id=customers[i.customer], number=i.number,
                    kind=i.kind, issue_date=i.issue_date, due_date=i.due_date or i.issue_date,
                    currency=i.currency, amount=i.amount, amount_excl_tax=i.amount_excl_tax,
                    tax_amount=i.tax_amount, po_reference=i.po_reference, balance=i.amount,
                    source=batch.source)
            for i in batch.invoices
        ]
    )  # fmt: skip
    Payment.objects.bulk_create(
        [
            Payment(organisation=org, customer_id=customers[p.customer], reference=p.reference,
                    kind=p.kind, date=p.date, currency=p.currency, amount=p.amount,
                    method=p.method, memo=p.memo, source=batch.source)
            for p in batch.payments
        ]
    )  # fmt: skip
    if not batch.allocations:
        summaries.customers_changed(org.pk, {customers[i.customer] for i in batch.invoices})
        return
    payments = dict(
        Payment.objects.filter(
            organisation=org, reference__in=[a.payment for a in batch.allocations]
        ).values_list("reference", "pk")
    )
    invoices = dict(
        Invoice.objects.filter(
            organisation=org, number__in=[a.invoice for a in batch.allocations]
        ).values_list("number", "pk")
    )
    Allocation.objects.bulk_create(
        [
            Allocation(organisation=org, payment_id=payments[a.payment],
                       invoice_id=invoices[a.invoice], amount=a.amount, date=a.date)
            for a in batch.allocations
        ]
    )  # fmt: skip
    balances.refresh(org.pk, invoices.values(), {customers[i.customer] for i in batch.invoices})


class Clock:
    """Dates the rows written during a simulated day to that day."""

    STAMPED: tuple[tuple[Any, tuple[str, ...]], ...] = (
        (TimelineEvent, ("at",)),
        (Task, ("created_at",)),
        (Promise, ("created_at",)),
        (Hold, ("created_at",)),
        (ImportRun, ("started_at", "finished_at")),
        (Communication, ("created_at", "updated_at")),
    )
    # Set on rows written before the day too (a communication sent days after its run).
    TOUCHED = ("updated_at", "claimed_at", "sent_at")

    def __init__(self, organisation: Organisation) -> None:
        self.organisation = organisation
        self.zone = ZoneInfo(organisation.timezone or "Europe/Paris")
        self.marks: dict[Any, int] = {}
        self.since = timezone.now()

    def begin(self) -> None:
        self.since = timezone.now()
        for model, _ in self.STAMPED:
            top = model.objects.order_by("-pk").values_list("pk", flat=True).first()
            self.marks[model] = top or 0

    def stamp(self, day: dt.date) -> None:
        at = dt.datetime.combine(day, dt.time(HOUR), self.zone)
        until = timezone.now()
        for model, names in self.STAMPED:
            model.objects.filter(pk__gt=self.marks[model]).update(**dict.fromkeys(names, at))
        comms = Communication.objects.filter(organisation=self.organisation)
        for name in self.TOUCHED:
            comms.filter(**{f"{name}__range": (self.since, until)}).update(**{name: at})


class Stories:
    """People's work in the demo, each on its day."""

    def __init__(
        self, org: Organisation, data: DemoData, user_id: int | None, business: list[dt.date]
    ) -> None:
        self.org, self.data, self.user_id = org, data, user_id
        self.business = business
        self.seed = data.batch.sha256
        self.by_day: dict[dt.date, list[Any]] = defaultdict(list)
        for hold in data.holds:
            # Learnt, for collective proceedings, from the official publication.
            self.by_day[max(hold.published_on or hold.start_date, data.start)].append(hold)
        for dispute in data.disputes:
            if dispute.opened_on > data.start:
                self.by_day[dispute.opened_on].append(dispute)
            if dispute.resolved_on:
                self.by_day[dispute.resolved_on].append(("resolve", dispute))
        for promise in data.promises:
            self.by_day[promise.recorded_on].append(promise)
        for plan in data.plans:
            self.by_day[plan.agreed_on].append(plan)
        # A customer's dunning contact bounces about two weeks before today.
        self.bounce_on = business[max(0, len(business) - 10)] if business else data.start

    def play(self, day: dt.date) -> None:
        if day in self.business:
            self.close_tasks(day)
        for what in self.by_day.get(day, []):
            if isinstance(what, HoldSpec):
                self.hold(what)
            elif isinstance(what, DisputeSpec):
                self.open_dispute(what)
            elif isinstance(what, PromiseSpec):
                self.promise(what)
            elif isinstance(what, PlanSpec):
                self.plan(what)
            else:
                self.resolve(what[1])
        if day == self.bounce_on:
            self.bounce(day)

    # -- the ledger's pauses --------------------------------------------------------------

    def customer(self, reference: str) -> Customer:
        return Customer.objects.get(organisation=self.org, reference=reference)

    def invoice(self, number: str) -> Invoice:
        return Invoice.objects.select_related("customer").get(organisation=self.org,
                                                              number=number)  # fmt: skip

    def describe_imported_disputes(self) -> None:
        """The first import opens a bare dispute per flagged invoice; give each its story."""
        specs = {d.invoice: d for d in self.data.disputes if d.opened_on <= self.data.start}
        disputes = list(
            Dispute.objects.filter(organisation=self.org, invoice__number__in=list(specs))
            .select_related("invoice")
        )  # fmt: skip
        for dispute in disputes:
            spec = specs[dispute.invoice.number]
            dispute.reason, dispute.opened_on = spec.reason, spec.opened_on
            dispute.note, dispute.amount = spec.note, spec.amount
        Dispute.objects.bulk_update(disputes, ["reason", "opened_on", "note", "amount"])

    def hold(self, spec: HoldSpec) -> None:
        hold = pauses.place_hold(
            self.customer(spec.customer), kind=spec.kind, start=spec.start_date,
            reason=spec.reason, published_on=spec.published_on, user_id=self.user_id,
        )  # fmt: skip
        if spec.end_date:  # agreed with the customer: the hold ends by itself
            Hold.objects.filter(pk=hold.pk).update(end_date=spec.end_date)

    def open_dispute(self, spec: DisputeSpec) -> None:
        pauses.open_dispute(
            self.invoice(spec.invoice), reason=spec.reason, on=spec.opened_on,
            amount=spec.amount, note=spec.note, user_id=self.user_id,
        )  # fmt: skip

    def resolve(self, spec: DisputeSpec) -> None:
        dispute = Dispute.objects.select_related("invoice__customer").get(
            organisation=self.org, invoice__number=spec.invoice, resolved_on__isnull=True
        )
        assert spec.resolved_on is not None
        pauses.resolve_dispute(
            dispute, on=spec.resolved_on, resolution=spec.resolution, user_id=self.user_id
        )

    def promise(self, spec: PromiseSpec) -> None:
        pauses.record_promise(
            self.customer(spec.customer), promised_on=spec.promised_on,
            invoice=self.invoice(spec.invoice), note=spec.note, user_id=self.user_id,
        )  # fmt: skip

    def plan(self, spec: PlanSpec) -> None:
        invoices = [self.invoice(number) for number in spec.invoices]
        pauses.agree_plan(
            self.customer(spec.customer), invoices, list(spec.instalments),
            on=spec.agreed_on, note=spec.note, user_id=self.user_id,
        )  # fmt: skip

    # -- people's daily work ---------------------------------------------------------------

    def approve(self, day: dt.date) -> None:
        """Formal notices and hand-overs are approved after a week's thought; the latest
        stay awaiting approval."""
        ids = list(
            Communication.objects.filter(
                organisation=self.org, status=CommStatus.AWAITING_APPROVAL,
                run_date__lte=day - APPROVAL_WAIT * DAY,
            ).values_list("pk", flat=True)
        )  # fmt: skip
        if ids:
            approval.decide(self.org, ids, approve=True, user_id=self.user_id)

    def close_tasks(self, day: dt.date) -> None:
        """Calls, letters and reviews are done the next business day but one; a person
        writes down the outcome. The last two business days' tasks are still open."""
        n = self.business.index(day)
        if n < 1:
            return
        before = self.business[n - 1]
        tasks = list(
            Task.objects.filter(
                organisation=self.org, status=Task.Status.OPEN, kind__in=CLOSED_KINDS,
                due_on__lt=before,
            ).select_related("customer")
        )  # fmt: skip
        outcomes = {}
        for task in tasks:
            pick = random.Random(f"{self.seed}:{task.customer.reference}:{task.due_on}")
            outcomes[task.pk] = pick.choice(OUTCOMES[task.kind])
        if outcomes:
            tasklist.close_each(self.org, outcomes, user_id=self.user_id, today=day)

    def bounce(self, day: dt.date) -> None:
        """The first e-mail of the day to a customer's dunning contact comes back: the
        address no longer exists."""
        sent = (
            Communication.objects.filter(
                organisation=self.org, channel=StepChannel.EMAIL, status=CommStatus.SENT,
                send_on=day,
            )
            .exclude(message_id="")
            .order_by("customer__reference")
            .values_list("message_id", "customer_id")
        )  # fmt: skip
        primary = dict(
            Contact.objects.filter(organisation=self.org, is_primary=True, email_valid=True)
            .exclude(email="")
            .values_list("customer_id", "email")
        )  # fmt: skip
        for message_id, customer_id in sent:
            if customer_id in primary:
                address = primary[customer_id]
                bounces.record_bounce(
                    message_id=message_id, recipient=address, permanent=True,
                    reason=BOUNCE_REASON.format(address=address),
                )  # fmt: skip
                # The bounce's task is due the day it came back, not the day of the replay.
                Task.objects.filter(
                    organisation=self.org, kind="invalid_email", customer_id=customer_id,
                    status=Task.Status.OPEN,
                ).update(due_on=day)  # fmt: skip
                return
