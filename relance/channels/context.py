"""What a message says: the values its templates receive, from the communication and the
invoices kept at send time. Shared by every channel (e-mail today, SMS and letters later).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings

from relance.accounts import agents
from relance.accounts.identity import bank_details
from relance.accounts.models import Organisation
from relance.channels.paying import CURRENCY as EPC_CURRENCY
from relance.channels.paying import payment_for
from relance.dunning import owed
from relance.dunning.batch import Facts
from relance.dunning.models import CommPurpose, Communication, CommunicationItem
from relance.dunning.penalties import Law, law_for_country, sum_penalties
from relance.dunning.penalty_service import penalties_of
from relance.ledger.models import Contact, Invoice

log = logging.getLogger(__name__)

# Templates that state the penalties accrued so far, not only the rule.
PENALTY_TEMPLATES = frozenset({"firm_reminder", "formal_notice", "registered_letter"})
# A formal notice gives a new deadline of at least 8 days (see docs on escalation).
FORMAL_NOTICE_DAYS = 8
# The law's code in the templates.
LAW_CODES = {Law.FR: "fr", Law.UK: "uk", Law.EU: "eu"}
# The first reminder asks for payment within five days (docs/scenarios.md).
FIRST_REMINDER_DAYS = 5


@dataclass(frozen=True)
class Line:
    number: str
    kind: str
    issue_date: date
    due_date: date
    amount: Decimal
    balance: Decimal
    currency: str
    days_overdue: int
    # The balance is what the buyer approved on the platform and still owes (206).
    partly_approved: bool = False

    @property
    def overdue(self) -> bool:
        return self.days_overdue > 0

    @property
    def upcoming(self) -> bool:
        """Not yet due: listed apart, never among the invoices that have fallen due."""
        return self.days_overdue < 0


@dataclass(frozen=True)
class Total:
    currency: str
    amount: Decimal


@dataclass(frozen=True)
class PenaltyTotal:
    currency: str
    interest: Decimal
    indemnity: Decimal
    total: Decimal


@dataclass(frozen=True)
class Penalties:
    """The late-payment rule of the organisation's country, and what it amounts to today
    when the rate tables allow (``totals`` empty otherwise: the templates state the rule)."""

    law: str | None  # "fr", "uk", "eu" or None when no rule is known
    rate: Decimal | None = None  # percent a year, in force today
    totals: tuple[PenaltyTotal, ...] = ()


def lines_of(
    items: Sequence[CommunicationItem],
    today: date,
    facts: Facts | None = None,
    min_balance: Decimal = Decimal("1.00"),
) -> list[Line]:
    """The invoices as of today: what each is dunned for (its current balance, or the
    approved part of a partly approved one: ``owed.asked``) and days overdue, not those
    planned."""
    if facts is None or not facts.unapproved:
        return [line_of(item.invoice, today) for item in items]
    return [
        line_of(item.invoice, today,
                owed.asked(item.invoice, facts.unapproved, min_balance)
                if item.invoice_id in facts.unapproved else None)
        for item in items
    ]  # fmt: skip


def line_of(invoice: Invoice, today: date, asked: Decimal | None = None) -> Line:
    """The invoice as a message lists it; ``asked``: what it is dunned for when that is not
    its balance (``owed.asked``)."""
    return Line(
        number=invoice.number,
        kind=invoice.kind,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        amount=invoice.amount,
        balance=invoice.balance if asked is None else asked,
        currency=invoice.currency,
        days_overdue=(today - invoice.due_date).days,
        partly_approved=asked is not None,
    )


def totals_of(lines: Sequence[Line], *, paid: bool = False) -> list[Total]:
    """One total per currency, never across currencies; sorted by currency."""
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        sums[line.currency] += line.amount if paid else line.balance
    return [Total(currency, sums[currency]) for currency in sorted(sums)]


def contact_name(contacts: Sequence[Contact]) -> str:
    """The dunning contact's name, for the greeting; "" when unknown."""
    named = sorted((c.name for c in contacts if c.is_primary and c.name), key=str.lower)
    return named[0] if named else ""


def message_context(
    comm: Communication, items: Sequence[CommunicationItem], today: date, facts: Facts
) -> dict[str, Any]:
    org = comm.organisation
    lines = lines_of(items, today, facts, org.min_balance)
    due_lines = [line for line in lines if not line.upcoming]
    upcoming_lines = [line for line in lines if line.upcoming]
    lines = due_lines + upcoming_lines
    notice_days = max(FORMAL_NOTICE_DAYS, getattr(settings, "RELANCE_FORMAL_NOTICE_DAYS", 0))
    with_amounts = comm.template in PENALTY_TEMPLATES
    instalment = instalment_of(comm, lines, facts)
    plan = plan_of(comm, lines, facts)
    due_totals = totals_of(due_lines)
    asked = to_pay(comm.purpose, due_totals or totals_of(lines), instalment, plan, today)
    return {
        "organisation": org,
        "customer": comm.customer,
        "contact_name": contact_name(facts.contacts.get(comm.customer_id, [])),
        "lines": lines,
        "single": len(lines) == 1,
        "totals": totals_of(lines, paid=comm.purpose == CommPurpose.THANKS),
        "today": today,
        "notice_days": notice_days,
        "deadline": today + timedelta(days=notice_days),
        "penalties": penalties_for(
            org, [item.invoice for item in items], today, facts if with_amounts else None
        ),
        "template": comm.template,
        "purpose": comm.purpose,
        "instalment": instalment,
        "plan": plan,
        # What has fallen due, and what has not (under its own heading, from this index).
        "due_lines": due_lines,
        "single_due": len(due_lines) == 1,
        "due_totals": due_totals,
        "upcoming_lines": upcoming_lines,
        "upcoming_from": len(due_lines) if due_lines and upcoming_lines else None,
        "pay_within": FIRST_REMINDER_DAYS,
        "pay_by": today + timedelta(days=FIRST_REMINDER_DAYS),
        # White label: who writes for the organisation, and what the law asks it to say.
        "agent": agents.mentions(org, facts.agents.get(org.pk)),
        # How to pay: only from bank details the organisation gave; the EPC QR code for
        # what the message asks, in euros.
        "payment": payment_for(
            bank_details(org, comm.customer),
            asked.amount if asked else None,
            asked.currency if asked else "",
        ),
        # The customer's own page: what is owed, how to pay, and its answers (docs/portal.md).
        "portal_url": facts.portal_urls.get(comm.customer_id, ""),
    }


def to_pay(
    purpose: str,
    totals: Sequence[Total],
    instalment: dict[str, Any] | None,
    plan: dict[str, Any] | None,
    today: date,
) -> Total | None:
    """What a message asks the customer to pay by transfer, in euros (the one currency of
    the EPC QR code; per currency, only the euro total): the instalment of an instalment
    reminder; the next instalment of a plan's confirmation; nothing in a thank-you; else
    the total of what has fallen due (or, in a courtesy reminder where nothing has yet, of
    what it lists). None when that is not in euros."""
    if purpose == CommPurpose.THANKS:
        return None
    if instalment is not None:
        asked = Total(instalment["currency"], instalment["amount"])
    elif plan is not None:
        upcoming = [i for i in plan["instalments"] if i["due_date"] >= today]
        if not upcoming:
            return None
        asked = Total(plan["currency"], upcoming[0]["amount"])
    else:
        asked = next((t for t in totals if t.currency == EPC_CURRENCY), Total("", Decimal(0)))
    return asked if asked.currency == EPC_CURRENCY else None


def instalment_of(
    comm: Communication, lines: Sequence[Line], facts: Facts
) -> dict[str, Any] | None:
    """For an instalment reminder: its instalment (``Communication.instalment``) and what
    the plan's invoices owe today."""
    if comm.purpose != CommPurpose.INSTALMENT:
        return None
    due = facts.instalments.get(comm.instalment_id) if comm.instalment_id else None
    if due is None:
        raise ValueError("an instalment reminder without its instalment")
    return {
        "due_date": due.due_date,
        "amount": due.amount,
        "remaining": sum((line.balance for line in lines), Decimal(0)),
        "currency": lines[0].currency if lines else comm.organisation.currency,
    }


def plan_of(comm: Communication, lines: Sequence[Line], facts: Facts) -> dict[str, Any] | None:
    """For a payment plan's confirmation: its schedule (date and amount of each instalment),
    the total it settles and when it was agreed."""
    if comm.purpose != CommPurpose.PLAN_CONFIRMATION:
        return None
    plan = facts.plans.get(comm.pk)
    if plan is None:
        raise ValueError("a payment plan confirmation without its plan")
    currency = lines[0].currency if lines else comm.organisation.currency
    return {
        "agreed_on": plan.agreed_on,
        "instalments": [{"due_date": d, "amount": a} for d, a in plan.instalments],
        "count": len(plan.instalments),
        "total": sum((a for _, a in plan.instalments), Decimal(0)),
        "currency": currency,
    }


def penalties_for(
    org: Organisation, invoices: Sequence[Invoice], today: date, facts: Facts | None
) -> Penalties:
    """The rule; and with ``facts`` (its rate tables are kept between messages), the
    amounts of the penalty service, the one that computes them everywhere, when its tables
    cover today."""
    law = law_for_country(org.country)
    if law is None:
        return Penalties(law=None)
    code = LAW_CODES[law]
    late = [invoice for invoice in invoices if invoice.due_date < today]
    if facts is None or not late:
        return Penalties(law=code)
    try:
        results = list(penalties_of(org, late, today, tables=facts.rate_tables).values())
    except (LookupError, ValueError) as error:
        # A rate the tables do not know yet: say the rule, never guess a figure.
        log.info("penalties not computed for %s: %s", org.slug, error)
        return Penalties(law=code)
    rate = next((p.lines[-1].rate for p in results if p.lines and p.lines[-1].end == today), None)
    totals = tuple(
        PenaltyTotal(t.currency, t.interest, t.indemnity, t.total)
        for t in sum_penalties(results).values()
    )
    return Penalties(law=code, rate=rate, totals=totals)
