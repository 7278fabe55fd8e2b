"""Payment plans: while a plan is active its invoices are suspended and its instalments are
followed instead (docs/dunning.md, "Payment plans").

Whatever the customer pays on the plan's invoices after the agreement pays the instalments
in order: instalment k is paid once the invoices owe no more than the instalments after k.
Each day's run then, per active plan:

- records the instalments paid since (``paid_on``), and completes the plan once nothing is
  owed;
- reminds the customer, once, of the first unpaid instalment ``REMIND_AFTER`` days after its
  due date (a transfer may take a day or two);
- declares the plan defaulted when that instalment is still unpaid ``DEFAULT_AFTER`` days
  after its due date: its invoices return to their scenario at the level they had, and a
  person is asked to call the customer.

``decide`` is pure; ``run`` loads the plans of an organisation in a few queries and writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.channels.formatting import lazy_money, lazy_short_date
from relance.dunning import tasks
from relance.dunning.models import (
    CommPurpose,
    CommStatus,
    Communication,
    CommunicationItem,
    Instalment,
    PaymentPlan,
    StepChannel,
)
from relance.ledger import timeline
from relance.ledger.models import Customer, Invoice
from relance.ledger.timeline import Text

REMIND_AFTER = 2
DEFAULT_AFTER = 15
TEMPLATE = "instalment_reminder"
PURPOSE = CommPurpose.INSTALMENT
CENT = Decimal("0.01")


class InstalmentFacts(NamedTuple):
    instalment_id: int
    due_date: dt.date
    amount: Decimal
    paid_on: dt.date | None = None
    reminded_on: dt.date | None = None


class PlanFacts(NamedTuple):
    plan_id: int
    customer_id: int
    instalments: Sequence[InstalmentFacts]
    owed: Decimal  # what the plan's invoices owe today


class PlanDecision(NamedTuple):
    plan_id: int
    customer_id: int
    newly_paid: list[int]  # instalments paid since the last run
    remind: InstalmentFacts | None  # the instalment to remind of today
    outcome: str | None  # "completed", "defaulted" or None (still running)
    remaining: Decimal  # what is left to pay on the plan
    # The instalment reminded counts as paid once the invoices owe no more than this.
    paid_when_owed: Decimal = Decimal(0)


def decide(plan: PlanFacts, day: dt.date, business_day: bool = True) -> PlanDecision:
    """What the run does with one active plan on ``day``."""
    schedule = sorted(plan.instalments, key=lambda i: (i.due_date, i.instalment_id))
    scheduled = sum((i.amount for i in schedule), Decimal(0))
    paid_so_far = scheduled - plan.owed
    newly_paid: list[int] = []
    first_unpaid: InstalmentFacts | None = None
    cumulative = Decimal(0)
    for instalment in schedule:
        cumulative += instalment.amount
        if cumulative <= paid_so_far:
            if instalment.paid_on is None:
                newly_paid.append(instalment.instalment_id)
        elif first_unpaid is None:
            first_unpaid = instalment
    remaining = max(plan.owed, Decimal(0))
    if first_unpaid is None or plan.owed <= 0:
        return PlanDecision(plan.plan_id, plan.customer_id, newly_paid, None, "completed",
                            remaining)  # fmt: skip
    late = (day - first_unpaid.due_date).days
    if late >= DEFAULT_AFTER:
        return PlanDecision(plan.plan_id, plan.customer_id, newly_paid, None, "defaulted",
                            remaining)  # fmt: skip
    remind = (
        first_unpaid
        if business_day and late >= REMIND_AFTER and first_unpaid.reminded_on is None
        else None
    )
    return PlanDecision(plan.plan_id, plan.customer_id, newly_paid, remind, None, remaining,
                        paid_when_owed(schedule, first_unpaid.instalment_id))  # fmt: skip


def paid_when_owed(schedule: Sequence[InstalmentFacts], instalment_id: int) -> Decimal:
    """Instalment ``instalment_id`` is paid once the plan's invoices owe no more than this:
    the sum of the instalments after it. The run and the send-time re-check both ask here."""
    ordered = sorted(schedule, key=lambda i: (i.due_date, i.instalment_id))
    ids = [i.instalment_id for i in ordered]
    return sum((i.amount for i in ordered[ids.index(instalment_id) + 1 :]), Decimal(0))


def load(organisation: Organisation) -> list[PlanFacts]:
    """The organisation's active plans with their instalments and what their invoices owe."""
    plans = PaymentPlan.objects.filter(organisation=organisation, status=PaymentPlan.Status.ACTIVE)
    owed = dict(
        plans.values("pk").annotate(owed=Sum("invoices__balance")).values_list("pk", "owed")
    )
    schedule: dict[int, list[InstalmentFacts]] = {}
    for row in Instalment.objects.filter(plan__in=plans).values_list(
        "plan_id", "pk", "due_date", "amount", "paid_on", "reminded_on"
    ):
        schedule.setdefault(row[0], []).append(InstalmentFacts(*row[1:]))
    return [
        PlanFacts(pk, customer, schedule.get(pk, []), Decimal(owed.get(pk) or 0).quantize(CENT))
        for pk, customer in plans.order_by("pk").values_list("pk", "customer_id")
    ]


def run(
    organisation: Organisation, day: dt.date, *, business_day: bool, dry_run: bool = False
) -> list[PlanDecision]:
    """Decide for every active plan of the organisation and, unless ``dry_run``, write."""
    decisions = [decide(plan, day, business_day) for plan in load(organisation)]
    if not dry_run:
        for decision in decisions:
            _write(organisation, day, decision)
    return decisions


@transaction.atomic  # the reminder's mark and its message, or neither
def _write(organisation: Organisation, day: dt.date, decision: PlanDecision) -> None:
    now = timezone.now()
    if decision.newly_paid:
        Instalment.objects.filter(pk__in=decision.newly_paid, paid_on__isnull=True).update(
            paid_on=day
        )
    if decision.remind is not None:
        _plan_reminder(organisation, day, decision, now)
    if decision.outcome:
        _close(organisation, day, decision, now)


def _plan_reminder(
    organisation: Organisation, day: dt.date, decision: PlanDecision, now: dt.datetime
) -> None:
    instalment = decision.remind
    assert instalment is not None
    # Marked first and conditionally: a second run of the day finds it reminded.
    if not Instalment.objects.filter(pk=instalment.instalment_id, reminded_on__isnull=True).update(
        reminded_on=day
    ):
        return
    explanation = {
        "plan": decision.plan_id,
        "instalment": instalment.instalment_id,
        "instalment_due_date": instalment.due_date.isoformat(),
        "instalment_amount": str(instalment.amount),
        "days_overdue": (day - instalment.due_date).days,
        "remaining_on_plan": str(decision.remaining),
        # Checked again when the message leaves: paid meanwhile, it is not sent.
        "paid_when_owed": str(decision.paid_when_owed),
        "why": f"instalment unpaid {REMIND_AFTER} days or more after its due date",
    }
    comm, created = Communication.objects.get_or_create(
        organisation=organisation, customer_id=decision.customer_id,
        channel=StepChannel.EMAIL, run_date=day, purpose=PURPOSE,
        defaults={"send_on": day, "template": TEMPLATE, "language": _language(decision.customer_id),
                  "status": CommStatus.QUEUED, "explanation": explanation,
                  "instalment_id": instalment.instalment_id},
    )  # fmt: skip
    if created:
        # The plan's invoices, listed in the message as a reminder's are.
        CommunicationItem.objects.bulk_create(
            CommunicationItem(organisation=organisation, communication=comm, invoice_id=pk,
                              step_position=0, days_overdue=(day - due).days, balance=balance)
            for pk, due, balance in Invoice.objects.filter(
                payment_plans=decision.plan_id, balance__gt=0
            ).values_list("pk", "due_date", "balance")
        )  # fmt: skip
        timeline.record(
            organisation, decision.customer_id, "communication_queued",
            Text(gettext_noop("Reminder of the instalment due %(date)s planned"),
                 {"date": lazy_short_date(instalment.due_date)}),
            data={"communication": comm.pk, "template": TEMPLATE, "plan": decision.plan_id},
            at=now,
        )  # fmt: skip


def _language(customer_id: int) -> str:
    return str(Customer.objects.values_list("language", flat=True).get(pk=customer_id))


def _close(
    organisation: Organisation, day: dt.date, decision: PlanDecision, now: dt.datetime
) -> None:
    status = (
        PaymentPlan.Status.COMPLETED
        if decision.outcome == "completed"
        else PaymentPlan.Status.DEFAULTED
    )
    if not PaymentPlan.objects.filter(pk=decision.plan_id, status=PaymentPlan.Status.ACTIVE).update(
        status=status
    ):
        return
    if status == PaymentPlan.Status.COMPLETED:
        summary = Text(gettext_noop("Payment plan completed"))
    else:
        summary = Text(
            gettext_noop(
                "Payment plan defaulted: an instalment unpaid %(days)s days after its due date;"
                " %(remaining)s left, back to the dunning scenario"
            ),
            {"days": DEFAULT_AFTER, "remaining": lazy_money(decision.remaining,
                                                            organisation.currency)},
        )  # fmt: skip
        numbers = list(
            Invoice.objects.filter(payment_plans=decision.plan_id).values_list("number", flat=True)
        )
        tasks.open_task(
            organisation, key=f"plan-defaulted:{decision.plan_id}",
            customer_id=decision.customer_id, kind="call", due_on=day,
            title=Text(gettext_noop("Call about the defaulted payment plan (%(numbers)s)"),
                       {"numbers": ", ".join(numbers)}),
            data={"plan": decision.plan_id, "remaining": str(decision.remaining)},
        )  # fmt: skip
    timeline.record(
        organisation, decision.customer_id, f"plan_{decision.outcome}", summary,
        data={"plan": decision.plan_id, "run_date": day}, at=now,
    )  # fmt: skip


def describe(decision: PlanDecision) -> dict[str, Any]:
    return {
        "plan": decision.plan_id,
        "customer_id": decision.customer_id,
        "instalments_paid": decision.newly_paid,
        "remind": decision.remind._asdict() if decision.remind else None,
        "outcome": decision.outcome,
        "remaining": decision.remaining,
    }
