"""Late-payment penalties of invoices in the ledger: the one place that computes them for
e-mails, letters, the console, the API and the command line.

Reads the invoices' allocations and the organisation's country, then hands plain values
to ``relance.dunning.penalties``. How the ledger becomes payments (``load_payments``, the
one loader):

- a payment, a settlement or a write-off lowers the base from the day after its
  allocation's date (money counts the day it is matched against the invoice);
- a credit note is not a payment, late or not: it corrects the amount invoiced, so it
  lowers the base from the invoice's date and no penalty is claimed on what was never owed
  (see docs/penalties.md);
- only allocations dated on or before ``as_of`` count, as in the aged balance;
- an invoice the buyer approved only in part on the platform (status 206) bears penalties
  on the approved amount (``owed``);
- an insolvency hold of the customer in force on ``as_of`` means collective proceedings.

``RateUnknown`` propagates: a penalty is not shown rather than computed on a guessed rate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import F, Q

from relance.accounts.models import Organisation
from relance.dunning import owed
from relance.dunning.penalties import (
    SERIES_FOR_LAW,
    NoLaw,
    Penalty,
    PenaltyTotal,
    Settlements,
    penalty_for,
    required_law,
    sum_penalties,
)
from relance.dunning.policy import hold_active
from relance.dunning.rates import RateTable, RateUnknown, load_tables
from relance.ledger.models import Allocation, Customer, Hold, HoldKind, Invoice, PaymentKind


@dataclass(frozen=True)
class InvoicePenalty:
    invoice_id: int
    number: str
    penalty: Penalty


@dataclass(frozen=True)
class CustomerPenalties:
    customer_id: int
    as_of: date
    invoices: tuple[InvoicePenalty, ...]
    totals: dict[str, PenaltyTotal]


def invoice_penalty(
    invoice: Invoice, as_of: date, *, contractual_rate: Decimal | None = None
) -> Penalty:
    """The penalty of one invoice on ``as_of`` (a few queries)."""
    return penalties_of(invoice.organisation, [invoice], as_of, contractual_rate=contractual_rate)[
        invoice.pk
    ]


def customer_penalties(
    customer: Customer, as_of: date, *, contractual_rate: Decimal | None = None
) -> CustomerPenalties:
    """The penalties of every invoice of the customer that is late on ``as_of``, whether
    still open or paid late, and their totals per currency (a few queries)."""
    invoices = list(
        Invoice.objects.filter(
            organisation_id=customer.organisation_id,
            customer=customer,
            issue_date__lte=as_of,
            due_date__lt=as_of,
        )
        .filter(Q(balance__gt=0) | Q(settled_on__gt=F("due_date")))
        .order_by("due_date", "number")
    )
    found = penalties_of(customer.organisation, invoices, as_of, contractual_rate=contractual_rate)
    results = tuple(
        InvoicePenalty(invoice.pk, invoice.number, found[invoice.pk])
        for invoice in invoices
        if found[invoice.pk].is_late
    )
    totals = sum_penalties(result.penalty for result in results)
    return CustomerPenalties(customer.pk, as_of, results, totals)


def penalties_of(
    organisation: Organisation,
    invoices: Sequence[Invoice],
    as_of: date,
    *,
    contractual_rate: Decimal | None = None,
    tables: dict[str, RateTable] | None = None,
) -> dict[int, Penalty]:
    """The penalty of each invoice (of one organisation) on ``as_of``, by invoice id: the
    one computation behind every figure Relance shows. Four queries for any number of
    invoices: their payments, the customers in proceedings and the added rates (``tables``,
    a cache the caller may keep between calls, is filled with the series read), and the
    part not approved of partly approved invoices (``owed.unapproved_of``)."""
    country = organisation.country
    law = required_law(country)
    if tables is None:
        tables = {}
    missing = [series for series in SERIES_FOR_LAW[law] if series not in tables]
    if missing:
        tables.update(load_tables(missing))
    settlements = load_payments(organisation.pk, [invoice.pk for invoice in invoices], as_of)
    proceedings = _in_proceedings(
        organisation.pk, {invoice.customer_id for invoice in invoices}, as_of
    )
    # A partly approved invoice bears penalties on the approved amount only.
    unapproved = owed.unapproved_of(invoice.pk for invoice in invoices)
    found = {}
    for invoice in invoices:
        paid = settlements[invoice.pk]
        amount = max(invoice.amount - unapproved.get(invoice.pk, Decimal(0)), Decimal("0.00"))
        found[invoice.pk] = penalty_for(
            country, amount, invoice.currency, invoice.due_date, as_of, tables=tables,
            payments=paid.payments, credit_notes=paid.credit_notes,
            contractual_rate=contractual_rate,
            collective_proceedings=invoice.customer_id in proceedings,
        )  # fmt: skip
    return found


def missing_rate(
    organisation: Organisation,
    invoices: Sequence[Invoice],
    on: date,
    *,
    contractual_rate: Decimal | None = None,
) -> str | None:
    """Which rate (series and half-year, and how to add it) the penalties of ``invoices`` on
    ``on`` lack, in words; ``None`` when they can be computed (or no law applies: then there
    is no penalty, not a missing rate). For holding a letter rather than guessing a rate."""
    try:
        penalties_of(organisation, invoices, on, contractual_rate=contractual_rate)
    except RateUnknown as exc:
        return str(exc)
    except NoLaw:
        return None
    return None


def load_payments(
    organisation_id: int, invoice_ids: Iterable[int], as_of: date
) -> dict[int, Settlements]:
    """What was allocated to each invoice on or before ``as_of``, split into payments and
    credit notes, in one query. Every invoice asked for has an entry (empty if unpaid)."""
    wanted = sorted(set(invoice_ids))
    found: dict[int, tuple[list[tuple[date, Decimal]], list[tuple[date, Decimal]]]] = defaultdict(
        lambda: ([], [])
    )
    rows: Iterable[tuple[int, date, Decimal, str]] = Allocation.objects.filter(
        organisation_id=organisation_id, invoice_id__in=wanted, date__lte=as_of
    ).values_list("invoice_id", "date", "amount", "payment__kind")
    for invoice_id, day, amount, kind in rows:
        found[invoice_id][kind == PaymentKind.CREDIT_NOTE].append((day, amount))
    return {
        pk: Settlements(tuple(sorted(found[pk][0])), tuple(sorted(found[pk][1]))) for pk in wanted
    }


def _in_proceedings(organisation_id: int, customer_ids: Iterable[int], as_of: date) -> set[int]:
    """The customers, among ``customer_ids``, in collective proceedings on ``as_of``."""
    holds = Hold.objects.filter(
        organisation_id=organisation_id, customer_id__in=sorted(set(customer_ids)),
        kind=HoldKind.INSOLVENCY, start_date__lte=as_of,
    ).values_list("customer_id", "start_date", "end_date")  # fmt: skip
    return {customer for customer, start, end in holds if hold_active(start, end, as_of)}
