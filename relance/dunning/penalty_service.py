"""Late-payment penalties of invoices in the ledger, for e-mails, the console and the API.

Reads the invoice, its allocations and the organisation's country, then hands plain values
to ``relance.dunning.penalties``. How the ledger becomes payments:

- a payment, a settlement or a write-off lowers the base from the day after its
  allocation's date (money counts the day it is matched against the invoice);
- a credit note lowers the base from the start: it corrects the amount invoiced, and no
  penalty is claimed on what was not owed;
- only allocations dated on or before ``as_of`` count, as in the aged balance;
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

from relance.dunning.penalties import (
    SERIES_FOR_LAW,
    NoLaw,
    Payments,
    Penalty,
    PenaltyTotal,
    law_for_country,
    penalty_for,
    sum_penalties,
)
from relance.dunning.policy import hold_active
from relance.dunning.rates import RateTable, load_tables
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
    country = invoice.organisation.country
    return _penalty_of(
        invoice, as_of, country, _tables(country),
        _payments(invoice.organisation_id, [invoice], as_of)[invoice.pk], contractual_rate,
        _in_proceedings(invoice.organisation_id, invoice.customer_id, as_of),
    )  # fmt: skip


def customer_penalties(
    customer: Customer, as_of: date, *, contractual_rate: Decimal | None = None
) -> CustomerPenalties:
    """The penalties of every invoice of the customer that is late on ``as_of``, whether
    still open or paid late, and their totals per currency (a few queries)."""
    country = customer.organisation.country
    tables = _tables(country)
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
    payments = _payments(customer.organisation_id, invoices, as_of)
    proceedings = _in_proceedings(customer.organisation_id, customer.pk, as_of)
    results = []
    for invoice in invoices:
        penalty = _penalty_of(invoice, as_of, country, tables, payments[invoice.pk],
                              contractual_rate, proceedings)  # fmt: skip
        if penalty.is_late:
            results.append(InvoicePenalty(invoice.pk, invoice.number, penalty))
    totals = sum_penalties(result.penalty for result in results)
    return CustomerPenalties(customer.pk, as_of, tuple(results), totals)


def _penalty_of(
    invoice: Invoice,
    as_of: date,
    country: str,
    tables: dict[str, RateTable],
    payments: Payments,
    contractual_rate: Decimal | None,
    proceedings: bool,
) -> Penalty:
    return penalty_for(
        country, invoice.amount, invoice.currency, invoice.due_date, as_of, tables=tables,
        payments=payments, contractual_rate=contractual_rate,
        collective_proceedings=proceedings,
    )  # fmt: skip


def _tables(country: str) -> dict[str, RateTable]:
    law = law_for_country(country)
    if law is None:
        raise NoLaw(f"no late-payment rules for the organisation's country {country!r}")
    return load_tables(SERIES_FOR_LAW[law])


def _payments(
    organisation_id: int, invoices: Sequence[Invoice], as_of: date
) -> dict[int, Payments]:
    """(date, amount) per invoice, in one query; credit notes dated back to the start."""
    due = {invoice.pk: invoice.due_date for invoice in invoices}
    found: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
    rows: Iterable[tuple[int, date, Decimal, str]] = Allocation.objects.filter(
        organisation_id=organisation_id, invoice_id__in=list(due), date__lte=as_of
    ).values_list("invoice_id", "date", "amount", "payment__kind")
    for invoice_id, day, amount, kind in rows:
        if kind == PaymentKind.CREDIT_NOTE:
            day = min(day, due[invoice_id])
        found[invoice_id].append((day, amount))
    return {pk: tuple(sorted(found[pk])) for pk in due}


def _in_proceedings(organisation_id: int, customer_id: int, as_of: date) -> bool:
    holds = Hold.objects.filter(
        organisation_id=organisation_id, customer_id=customer_id, kind=HoldKind.INSOLVENCY,
        start_date__lte=as_of,
    ).values_list("start_date", "end_date")  # fmt: skip
    return any(hold_active(start, end, as_of) for start, end in holds)
