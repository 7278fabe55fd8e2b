"""Payment plans beyond their agreement (``pauses.agree_plan``): proposing a schedule whose
instalments add up exactly, confirming the plan to the customer in writing through the
outbox, and where each instalment stands.

The proposal and the states are pure functions; ``confirm`` writes one communication.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from relance.audit import trail
from relance.dunning import instalments
from relance.dunning.models import (
    CommPurpose,
    CommStatus,
    Communication,
    CommunicationItem,
    PaymentPlan,
    StepChannel,
)
from relance.ledger import timeline
from relance.ledger.models import Invoice
from relance.ledger.timeline import Text
from relance.lib.dates import add_months

TEMPLATE = "plan_confirmation"
PURPOSE = CommPurpose.PLAN_CONFIRMATION
CENT = Decimal("0.01")
MAX_INSTALMENTS = 60

# How often instalments fall: the label people choose from.
PERIODS = {
    "month": _("Every month"),
    "fortnight": _("Every two weeks"),
    "week": _("Every week"),
}


class PlanError(ValueError):
    pass


# -- proposing a schedule -----------------------------------------------------------------


def split(total: Decimal, count: int) -> list[Decimal]:
    """``total`` in ``count`` instalments as equal as cents allow: the cents left over go
    one each to the first instalments, so that the sum is exactly ``total``."""
    if count < 1:
        raise PlanError("a plan has at least one instalment")
    if count > MAX_INSTALMENTS:
        raise PlanError(f"a plan has at most {MAX_INSTALMENTS} instalments")
    cents = int((total / CENT).to_integral_value())
    if cents <= 0:
        raise PlanError("there is nothing owed to schedule")
    if cents < count:
        raise PlanError(f"{total} cannot be paid in {count} instalments of at least 0.01")
    base, extra = divmod(cents, count)
    return [Decimal(base + (1 if k < extra else 0)) * CENT for k in range(count)]


def due_dates(first: dt.date, count: int, period: str) -> list[dt.date]:
    if period == "month":
        return [add_months(first, k) for k in range(count)]
    step = {"fortnight": 14, "week": 7}.get(period)
    if step is None:
        raise PlanError(f"unknown period {period!r}: one of {', '.join(PERIODS)}")
    return [first + dt.timedelta(days=step * k) for k in range(count)]


def propose(
    total: Decimal, count: int, first: dt.date, period: str
) -> list[tuple[dt.date, Decimal]]:
    """A schedule of ``count`` instalments from ``first``, one each ``period``, adding up
    exactly to ``total``."""
    return list(zip(due_dates(first, count, period), split(total, count), strict=True))


def shortfall(owed: Decimal, schedule: Sequence[tuple[dt.date, Decimal]]) -> Decimal:
    """What the schedule misses (negative: asks too much); zero when it adds up."""
    return owed - sum((amount for _, amount in schedule), Decimal(0))


# -- where each instalment stands -----------------------------------------------------------


class InstalmentState(NamedTuple):
    pk: int
    due_date: dt.date
    amount: Decimal
    state: str  # "paid", "late" or "due"
    paid_on: dt.date | None
    reminded_on: dt.date | None


def states(
    plan_status: str, schedule: Sequence[instalments.InstalmentFacts], owed: Decimal, day: dt.date
) -> list[InstalmentState]:
    """Each instalment paid, late or due on ``day``: paid once the run recorded it, or once
    what the invoices owe today covers it (the run's own rule, ``instalments.decide``)."""
    paid_now: set[int] = set()
    if plan_status == PaymentPlan.Status.ACTIVE:
        decision = instalments.decide(instalments.PlanFacts(0, 0, schedule, owed), day)
        paid_now = set(decision.newly_paid)
        if decision.outcome == "completed":
            paid_now |= {i.instalment_id for i in schedule}
    ordered = sorted(schedule, key=lambda i: (i.due_date, i.instalment_id))
    result = []
    for one in ordered:
        if one.paid_on is not None or one.instalment_id in paid_now:
            state = "paid"
        elif one.due_date < day:
            state = "late"
        else:
            state = "due"
        result.append(InstalmentState(one.instalment_id, one.due_date, one.amount, state,
                                      one.paid_on, one.reminded_on))  # fmt: skip
    return result


def follow(plan: PaymentPlan, day: dt.date) -> list[InstalmentState]:
    """``states`` of one plan, read in two queries."""
    schedule = [
        instalments.InstalmentFacts(*row)
        for row in plan.instalments.values_list(
            "pk", "due_date", "amount", "paid_on", "reminded_on"
        )
    ]
    owed = sum(
        Invoice.objects.filter(payment_plans=plan).values_list("balance", flat=True), Decimal(0)
    )
    return states(plan.status, schedule, Decimal(owed).quantize(CENT), day)


# -- the confirmation in writing ----------------------------------------------------------


@transaction.atomic
def confirm(plan: PaymentPlan, *, on: dt.date, user_id: int | None = None) -> Communication:
    """Queue the plan's confirmation to the customer by e-mail (template
    ``plan_confirmation``): the outbox sends it like any message, re-checked at send time
    (a plan cancelled meanwhile is not confirmed), and records ``confirmed_at`` once sent.

    One confirmation per customer and day (the outbox's key): a second plan of the same
    customer agreed the same day is confirmed the next day."""
    plan = PaymentPlan.objects.select_for_update().select_related("customer").get(pk=plan.pk)
    if plan.status != PaymentPlan.Status.ACTIVE:
        raise PlanError("only an active payment plan is confirmed to the customer")
    if plan.confirmation_id is not None:
        previous = Communication.objects.get(pk=plan.confirmation_id)
        if previous.status not in (CommStatus.FAILED, CommStatus.CANCELLED):
            raise PlanError("this payment plan's confirmation is already on its way or sent")
    customer = plan.customer
    taken = Communication.objects.filter(
        organisation_id=plan.organisation_id, customer=customer, channel=StepChannel.EMAIL,
        run_date=on, purpose=PURPOSE,
    ).first()  # fmt: skip
    if taken is not None:
        raise PlanError(
            f"a payment plan confirmation already went to {customer.legal_name} on {on}: "
            "confirm this one tomorrow"
        )
    schedule = list(plan.instalments.order_by("due_date", "pk").values_list("due_date", "amount"))
    comm = Communication.objects.create(
        organisation_id=plan.organisation_id, customer=customer, channel=StepChannel.EMAIL,
        run_date=on, send_on=on, purpose=PURPOSE, template=TEMPLATE,
        language=customer.language, status=CommStatus.QUEUED,
        explanation={
            "plan": plan.pk,
            "why": "payment plan confirmed to the customer in writing",
            "instalments": [{"due_date": d.isoformat(), "amount": str(a)} for d, a in schedule],
        },
    )  # fmt: skip
    CommunicationItem.objects.bulk_create(
        CommunicationItem(organisation_id=comm.organisation_id, communication=comm,
                          invoice_id=pk, step_position=0, days_overdue=(on - due).days,
                          balance=balance)
        for pk, due, balance in Invoice.objects.filter(payment_plans=plan)
        .order_by("due_date", "number")
        .values_list("pk", "due_date", "balance")
    )  # fmt: skip
    plan.confirmation = comm
    plan.save(update_fields=["confirmation"])
    timeline.record(
        customer.organisation, customer.pk, "communication_queued",
        Text(gettext_noop("Confirmation of the payment plan of %(count)s instalments planned"),
             {"count": len(schedule)}),
        data={"communication": comm.pk, "template": TEMPLATE, "plan": plan.pk},
        actor_id=user_id,
    )  # fmt: skip
    trail.record(customer.organisation_id, "plan.confirmation_queued", user_id=user_id,
                 target=plan, summary=Text(gettext_noop("confirmation of payment plan %(plan)s to "
                                           "%(customer)s queued"),
                                      {"plan": plan.pk, "customer": customer.reference}),
                 data={"communication": comm.pk,
                 "customer": customer.reference})  # fmt: skip
    return comm


def confirmed(comm: Communication, when: dt.datetime | None = None) -> None:
    """The outbox sent ``comm``: the plan it confirms records when."""
    if comm.purpose == PURPOSE:
        PaymentPlan.objects.filter(confirmation_id=comm.pk).update(
            confirmed_at=when or timezone.now()
        )
