"""What a batch of communications needs to be re-checked and written, loaded in a few
queries for the whole batch rather than a dozen per message.

The facts are read when the batch starts, so the re-check is as fresh as the batch is
short: a batch of 200 goes out in about a second. A fact the batch itself changes (an
address refused, a message sent to the same customer) is updated here as it happens.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from relance.accounts.models import Agent
from relance.dunning import instalments, owed
from relance.dunning.models import (
    CommPurpose,
    CommStatus,
    Communication,
    CommunicationItem,
    Instalment,
    PaymentPlan,
    Promise,
    StepChannel,
)
from relance.dunning.policy import hold_active
from relance.ledger.models import Attachment, AttachmentKind, Contact, Dispute, Hold
from relance.portal import links

THREAD_DEPTH = 10  # earlier messages named in References
# The messages that carry the link to the customer's portal.
WRITTEN = frozenset(
    {StepChannel.EMAIL, StepChannel.SMS, StepChannel.LETTER, StepChannel.REGISTERED_LETTER}
)


@dataclass
class Facts:
    items: dict[int, list[CommunicationItem]] = field(default_factory=dict)  # by communication
    disputed: set[int] = field(default_factory=set)  # invoice ids an open dispute suspends
    # The part not approved of the invoices the buyer approved in part (owed.open_disputes).
    unapproved: dict[int, Decimal] = field(default_factory=dict)
    promises: dict[int, list[tuple[int | None, date, int]]] = field(default_factory=dict)
    in_plan: set[int] = field(default_factory=set)  # invoice ids in an active plan
    active_plans: set[int] = field(default_factory=set)  # of the instalment reminders
    # The instalments of the instalment reminders, by id (``Communication.instalment``).
    instalments: dict[int, InstalmentDue] = field(default_factory=dict)
    # The plans of the plan confirmations, by communication (``PaymentPlan.confirmation``).
    plans: dict[int, PlanSchedule] = field(default_factory=dict)
    held: set[int] = field(default_factory=set)  # customer ids on hold today
    contacts: dict[int, list[Contact]] = field(default_factory=dict)  # by customer
    attachments: dict[int, list[Attachment]] = field(default_factory=dict)  # by invoice
    thread: dict[int, list[str]] = field(default_factory=dict)  # earlier Message-IDs, oldest first
    rate_tables: dict[str, Any] = field(default_factory=dict)
    # The agent writing for each organisation (white label), by organisation; None: itself.
    agents: dict[int, Any] = field(default_factory=dict)
    # The address of each customer's portal (relance.portal.links), by customer.
    portal_urls: dict[int, str] = field(default_factory=dict)

    def sent(self, customer_id: int, message_id: str) -> None:
        self.thread.setdefault(customer_id, []).append(message_id)

    def invalidated(self, customer_id: int, addresses: Sequence[str]) -> None:
        gone = {address.lower() for address in addresses}
        for contact in self.contacts.get(customer_id, []):
            if contact.email.lower() in gone:
                contact.email_valid = False


@dataclass(frozen=True)
class InstalmentDue:
    plan_id: int
    due_date: date
    amount: Decimal
    paid_when_owed: Decimal  # paid once the plan's invoices owe no more than this


@dataclass(frozen=True)
class PlanSchedule:
    """A plan as its confirmation states it."""

    status: str
    agreed_on: date
    instalments: tuple[tuple[date, Decimal], ...]  # (due date, amount), in order


def load(comms: Sequence[Communication], today: date) -> Facts:
    comm_ids = [comm.pk for comm in comms]
    customer_ids = sorted({comm.customer_id for comm in comms})
    facts = Facts()
    for item in (
        CommunicationItem.objects.filter(communication_id__in=comm_ids)
        .select_related("invoice")
        .order_by("communication_id", "invoice__due_date", "invoice__number", "pk")
    ):
        facts.items.setdefault(item.communication_id, []).append(item)
    invoice_ids = sorted({item.invoice_id for items in facts.items.values() for item in items})
    facts.disputed, facts.unapproved = owed.open_disputes(
        Dispute.objects.filter(invoice_id__in=invoice_ids)
    )
    promises: dict[int, list[tuple[int | None, date, int]]] = defaultdict(list)
    for customer_id, invoice_id, promised_on, grace in Promise.objects.filter(
        customer_id__in=customer_ids, status=Promise.Status.OPEN
    ).values_list("customer_id", "invoice_id", "promised_on", "grace_days"):
        promises[customer_id].append((invoice_id, promised_on, grace))
    facts.promises = dict(promises)
    facts.in_plan = set(
        PaymentPlan.invoices.through.objects.filter(
            invoice_id__in=invoice_ids, paymentplan__status=PaymentPlan.Status.ACTIVE
        ).values_list("invoice_id", flat=True)
    )
    reminded = [c.instalment_id for c in comms if c.purpose == CommPurpose.INSTALMENT]
    if reminded:
        load_instalments(facts, [pk for pk in reminded if pk is not None])
    confirmations = [c.pk for c in comms if c.purpose == CommPurpose.PLAN_CONFIRMATION]
    if confirmations:
        load_plans(facts, confirmations)
    facts.held = {
        customer_id
        for customer_id, start, end in Hold.objects.filter(
            customer_id__in=customer_ids, start_date__lte=today
        ).values_list("customer_id", "start_date", "end_date")
        if hold_active(start, end, today)
    }
    if any(comm.channel in (StepChannel.EMAIL, StepChannel.SMS) for comm in comms):
        load_email_facts(facts, customer_ids, invoice_ids)
    organisations = {comm.organisation_id for comm in comms}
    facts.agents = dict.fromkeys(organisations)
    facts.agents.update(
        (agent.organisation_id, agent)
        for agent in Agent.objects.filter(organisation_id__in=organisations, active=True)
    )
    return facts


def load_portal_urls(facts: Facts, comms: Sequence[Communication]) -> None:
    """The portal's address of each customer written to, its link made if missing (for the
    whole batch at once: ``links.urls_for_ids``), for what is sent and its previews."""
    written = {c.customer_id: c.organisation_id for c in comms if c.channel in WRITTEN}
    facts.portal_urls = links.urls_for_ids(written)


def load_instalments(facts: Facts, instalment_ids: list[int]) -> None:
    """The instalments reminded, with their plans' schedules (what pays each one)."""
    schedules: dict[int, list[instalments.InstalmentFacts]] = defaultdict(list)
    for plan_id, pk, due_date, amount in Instalment.objects.filter(
        plan__instalments__in=instalment_ids
    ).values_list("plan_id", "pk", "due_date", "amount"):
        schedules[plan_id].append(instalments.InstalmentFacts(pk, due_date, amount))
    wanted = set(instalment_ids)
    for plan_id, schedule in schedules.items():
        for one in schedule:
            if one.instalment_id in wanted:
                facts.instalments[one.instalment_id] = InstalmentDue(
                    plan_id, one.due_date, one.amount,
                    instalments.paid_when_owed(schedule, one.instalment_id),
                )  # fmt: skip
    facts.active_plans = set(
        PaymentPlan.objects.filter(pk__in=list(schedules), status=PaymentPlan.Status.ACTIVE)
        .values_list("pk", flat=True)
    )  # fmt: skip


def load_plans(facts: Facts, communication_ids: list[int]) -> None:
    """The plans these communications confirm (each plan names its confirmation), with
    their schedules, in two queries."""
    confirmed = {
        pk: (comm, status, agreed_on)
        for pk, comm, status, agreed_on in PaymentPlan.objects.filter(
            confirmation_id__in=communication_ids
        ).values_list("pk", "confirmation_id", "status", "agreed_on")
    }
    schedules: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
    for plan_id, due_date, amount in (
        Instalment.objects.filter(plan_id__in=list(confirmed))
        .order_by("plan_id", "due_date", "pk")
        .values_list("plan_id", "due_date", "amount")
    ):
        schedules[plan_id].append((due_date, amount))
    for pk, (comm, status, agreed_on) in confirmed.items():
        facts.plans[comm] = PlanSchedule(status, agreed_on, tuple(schedules.get(pk, [])))


def load_email_facts(facts: Facts, customer_ids: list[int], invoice_ids: list[int]) -> None:
    for contact in Contact.objects.filter(customer_id__in=customer_ids).order_by(
        "-is_primary", "name", "pk"
    ):
        facts.contacts.setdefault(contact.customer_id, []).append(contact)
    for attachment in Attachment.objects.filter(
        invoice_id__in=invoice_ids, kind=AttachmentKind.INVOICE_PDF
    ).order_by("pk"):
        facts.attachments.setdefault(attachment.invoice_id, []).append(attachment)
    thread: dict[int, list[str]] = defaultdict(list)
    for customer_id, message_id in (
        Communication.objects.filter(
            customer_id__in=customer_ids, channel=StepChannel.EMAIL, status=CommStatus.SENT
        )
        .exclude(message_id="")
        .order_by("customer_id", "sent_at", "pk")
        .values_list("customer_id", "message_id")
    ):
        thread[customer_id].append(message_id)
    facts.thread = {customer: ids[-THREAD_DEPTH:] for customer, ids in thread.items()}
