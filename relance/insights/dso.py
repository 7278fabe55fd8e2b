"""Days sales outstanding (DSO, *délai moyen de paiement clients*) at a date D, per currency.

Receivables at D are the open balances at D, exactly as in the aged balance (items issued
on or before D, amount minus allocations dated on or before D). Credit sales are the
amounts including tax of the invoices and debit notes issued in a period; credit notes are
not deducted (they are credits, not negative sales).

Standard (average) method, over ``days`` days (90 by default)::

    DSO = receivables at D / credit sales issued in (D - days, D] x days

Count-back method: walk back one month at a time from D, over calendar months ending at D:
(D - 1 month, D], then (D - 2 months, D - 1 month], ... Each month's credit sales are
taken from what remains of the receivables; while the remainder covers the month's sales,
the month's days are added in full; for the first month it does not cover, the fraction
remainder / that month's sales x that month's days is added, and the walk stops. "D - n
months" keeps the day of the month, clamped to the month's end (31 March - 1 month =
29 February); when D is a month's last day, every boundary is a month's last day, so the
months are whole calendar months. A month without sales is counted in full: the
receivables still open are older than it.

Both figures are in days, rounded to one decimal. When the credit sales are zero the
DSO is None, with a note saying why, rather than a division by zero. Receivables of zero
give a DSO of 0.
"""

from __future__ import annotations

import bisect
import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models.functions import Greatest

from relance.accounts.models import Organisation
from relance.insights.aging import ZERO
from relance.ledger.balances import from_cents, sum_cents
from relance.ledger.models import Allocation, Invoice

TENTH = Decimal("0.1")


@dataclass
class CountBackMonth:
    """One month of the count-back walk: (start, end], the start excluded."""

    start: date
    end: date
    days: int
    sales: Decimal
    days_counted: Decimal


@dataclass
class CurrencyDso:
    currency: str
    receivables: Decimal
    sales: Decimal
    standard: Decimal | None
    standard_note: str
    count_back: Decimal | None
    count_back_note: str
    count_back_months: list[CountBackMonth] = field(default_factory=list)


@dataclass
class DsoResult:
    organisation: str
    as_of: date
    days: int
    currencies: dict[str, CurrencyDso] = field(default_factory=dict)


def months_back(as_of: date, months: int) -> date:
    """``as_of`` moved back ``months`` calendar months, clamped to the month's end; from
    a month's last day, the last day of the earlier month."""
    year, month0 = divmod(as_of.year * 12 + as_of.month - 1 - months, 12)
    month = month0 + 1
    last = calendar.monthrange(year, month)[1]
    at_month_end = as_of.day == calendar.monthrange(as_of.year, as_of.month)[1]
    return date(year, month, last if at_month_end else min(as_of.day, last))


def round_days(value: Decimal) -> Decimal:
    return value.quantize(TENTH, rounding=ROUND_HALF_UP)


def standard_dso(
    receivable: Decimal, sales: Decimal, days: int, as_of: date
) -> tuple[Decimal | None, str]:
    if sales <= 0:
        note = f"no credit sales in the {days} days to {as_of.isoformat()}: no standard DSO"
        return None, note
    return round_days(receivable / sales * days), ""


def count_back_dso(
    receivable: Decimal, months: list[tuple[date, date, Decimal]]
) -> tuple[Decimal | None, str, list[CountBackMonth]]:
    """Walk ``months`` (start, end, sales), most recent first, until the receivables are
    used up."""
    remaining = receivable
    total = Decimal(0)
    walked: list[CountBackMonth] = []
    for start, end, sales in months:
        if remaining <= 0:
            break
        length = (end - start).days
        if remaining >= sales:
            counted = Decimal(length)
            remaining -= sales
        else:
            counted = remaining / sales * length
            remaining = ZERO
        walked.append(CountBackMonth(start, end, length, sales, round_days(counted)))
        total += counted
    if remaining > 0:
        # Cannot happen while every balance is at most its amount; say so rather than guess.
        return None, "the receivables exceed all the credit sales before the date", walked
    return round_days(total), "", walked


def dso(organisation: Organisation, as_of: date, days: int = 90) -> DsoResult:
    return dso_series(organisation, [as_of], days)[0]


# -- many dates at once ---------------------------------------------------------------


def dso_series(organisation: Organisation, dates: list[date], days: int = 90) -> list[DsoResult]:
    """``dso(organisation, d, days)`` for each of ``dates``, in two queries whatever their
    number (the dashboard's twelve month-ends): the credit sales of each day, and the
    allocations by the day they start counting.

    Receivables at D are the sales issued on or before D less their allocations dated on or
    before D: the open balances ``dso`` sums, since no item is allocated beyond its amount.
    The count-back walk is ``count_back_dso``'s, over the months before D, as far back as
    there were sales (``dso`` stops at the oldest open item's month; the walk ends before
    either, when the receivables are used up)."""
    if days < 1:
        raise ValueError("the period must be at least one day")
    if not dates:
        return []
    wanted = sorted(set(dates))
    last = wanted[-1]
    sales = _daily_sales(organisation, last)
    allocated = _allocations_counted(organisation, last)
    by_date = {}
    for as_of in wanted:
        result = DsoResult(organisation=organisation.slug, as_of=as_of, days=days)
        for currency in sorted(sales):
            daily = sales[currency]
            issued = daily.up_to(as_of)
            paid = allocated[currency].up_to(as_of) if currency in allocated else ZERO
            receivable = issued - paid
            period = issued - daily.up_to(as_of - timedelta(days=days))
            if receivable <= 0 and period <= 0:
                continue
            standard, standard_note = standard_dso(receivable, period, days, as_of)
            count_back, count_back_note, walked = count_back_dso(
                receivable, daily.months_before(as_of)
            )
            result.currencies[currency] = CurrencyDso(
                currency=currency,
                receivables=receivable,
                sales=period,
                standard=standard,
                standard_note=standard_note,
                count_back=count_back,
                count_back_note=count_back_note,
                count_back_months=walked,
            )
        by_date[as_of] = result
    return [by_date[d] for d in dates]


@dataclass
class _DailySales:
    """One currency's credit sales per issue day, oldest first, with running totals."""

    days: list[date] = field(default_factory=list)
    running: list[Decimal] = field(default_factory=list)  # sales up to and including days[i]

    def up_to(self, day: date) -> Decimal:
        """Sales issued on or before ``day``."""
        index = bisect.bisect_right(self.days, day)
        return self.running[index - 1] if index else ZERO

    def months_before(self, as_of: date) -> list[tuple[date, date, Decimal]]:
        """(start, end, sales) of the months before ``as_of``, most recent first, back to
        the first month holding a sale."""
        months = []
        n = 0
        while self.days:
            end, start = months_back(as_of, n), months_back(as_of, n + 1)
            months.append((start, end, self.up_to(end) - self.up_to(start)))
            if start < self.days[0]:
                break
            n += 1
        return months


def _daily_sales(organisation: Organisation, last: date) -> dict[str, _DailySales]:
    rows = (
        Invoice.objects.filter(organisation=organisation, issue_date__lte=last)
        .order_by()
        .values("currency", "issue_date")
        .annotate(total=sum_cents("amount"))
    )
    return _running((r["currency"], r["issue_date"], r["total"]) for r in rows)


def _running(rows: Iterable[tuple[str, date, int]]) -> dict[str, _DailySales]:
    """(currency, day, cents) rows as running totals per currency."""
    found: dict[str, _DailySales] = {}
    for currency, day, cents in sorted(rows, key=lambda r: (r[0], r[1])):
        daily = found.setdefault(currency, _DailySales())
        previous = daily.running[-1] if daily.running else ZERO
        daily.days.append(day)
        daily.running.append(previous + from_cents(cents))
    return found


def _allocations_counted(organisation: Organisation, last: date) -> dict[str, _DailySales]:
    """Per currency, the allocations by the day they start counting in the receivables:
    an allocation dated d on an item issued on i counts at D when d <= D and i <= D, that
    is from max(d, i) on. One grouped query, a row per day."""
    counted_from = Greatest("date", "invoice__issue_date")
    rows = (
        Allocation.objects.filter(organisation=organisation, date__lte=last)
        .order_by()
        .annotate(counted_from=counted_from)
        .values("invoice__currency", "counted_from")
        .annotate(total=sum_cents("amount"))
    )
    return _running((r["invoice__currency"], _as_date(r["counted_from"]), r["total"]) for r in rows)


def _as_date(value: date | str) -> date:
    # SQLite answers an expression over dates as text.
    return value if isinstance(value, date) else date.fromisoformat(str(value))
