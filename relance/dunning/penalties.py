"""Late-payment interest and fixed recovery sums (see docs/penalties.md).

Pure functions: amounts, dates and rate tables in, a ``Penalty`` out; no database and no
clock (the caller says which day it is). Money is ``Decimal`` in the invoice's currency,
rounded to the cent (ROUND_HALF_UP) once per line, never in between.

Common rules of the three regimes:

- interest runs from the day after the due date to the day of payment, or to ``as_of``
  for what is still unpaid, both included: due 31 January, paid 10 February = 10 days;
- simple interest per day over 365 days, leap years included (French practice; also the
  UK Act and the directive's usual reading): 366 days of 2024 earn 366/365 of a year;
- a payment (date, amount) reduces the base from the day after it is made;
- a credit note is not a payment: it corrects the amount invoiced, so it reduces the base
  from the start, whatever its date (no interest on what was never owed);
- a line is a stretch of days with one base and one rate: the period is split at each
  half-year (1 January-30 June, 1 July-31 December) whose rate differs, and at each
  payment.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext_noop

from relance.dunning.rates import (
    RateRow,
    RateTable,
    half_year_end,
    half_year_label,
    half_year_start,
)
from relance.lib.sentences import Sentence

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
DAYS_PER_YEAR = 365

FR_POINTS = Decimal(10)  # L441-10 II: ECB rate + 10 points
FR_FLOOR_FACTOR = Decimal(3)  # L441-10 II: a contractual rate is at least 3 x the legal rate
# The default rate frozen on 1 January / 1 July: L441-6 as amended by loi 2012-387, from 2013.
FR_HALF_YEAR_RULE_SINCE = date(2013, 1, 1)
EU_POINTS = Decimal(8)  # directive 2011/7/EU art. 2(6): ECB rate + at least 8 points
UK_POINTS = Decimal(8)  # Late Payment Act 1998: Bank of England rate + 8 %
FR_INDEMNITY = Decimal("40.00")  # D441-5, in EUR
EU_INDEMNITY = Decimal("40.00")  # directive art. 6, in EUR
# Late Payment Act s. 5A: the fixed sum by size of the debt, in GBP.
UK_FIXED_SUMS = ((Decimal("10000"), Decimal("100.00")), (Decimal("1000"), Decimal("70.00")))
UK_SMALL_SUM = Decimal("40.00")

# ISO 3166 codes; Greece is also written EL in EU texts.
EU_MEMBERS = frozenset(
    {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "EL", "HU"}
    | {"IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"}
)

Payments = Sequence[tuple[date, Decimal]]


@dataclass(frozen=True)
class Settlements:
    """What was set against one invoice: money (counts from the day after it is paid) and
    credit notes (correct the amount invoiced, from the start), as (date, amount)."""

    payments: tuple[tuple[date, Decimal], ...] = ()
    credit_notes: tuple[tuple[date, Decimal], ...] = ()


class Law(enum.StrEnum):
    FR = "fr_l441_10"
    UK = "uk_late_payment_act_1998"
    EU = "eu_directive_2011_7"

    @property
    def label(self) -> str:
        return LAW_TITLES[self]


LAW_TITLES = {
    Law.FR: "France, Code de commerce L441-10 II and D441-5",
    Law.UK: "United Kingdom, Late Payment of Commercial Debts (Interest) Act 1998",
    Law.EU: "European Union, directive 2011/7/EU (minimum)",
}


@dataclass(frozen=True)
class PenaltyLine:
    start: date
    end: date
    days: int
    base: Decimal
    rate: Decimal  # percent a year
    amount: Decimal
    floor_applied: bool = False


@dataclass(frozen=True)
class Penalty:
    law: Law
    currency: str
    due_date: date
    as_of: date
    lines: tuple[PenaltyLine, ...]
    interest: Decimal
    indemnity: Decimal
    total: Decimal
    notes: tuple[str, ...] = ()

    @property
    def is_late(self) -> bool:
        return bool(self.lines)

    @property
    def days_late(self) -> int:
        return sum(line.days for line in self.lines)


@dataclass(frozen=True)
class PenaltyTotal:
    currency: str
    invoices: int = 0
    interest: Decimal = ZERO
    indemnity: Decimal = ZERO
    total: Decimal = ZERO


class NoLaw(ValueError):
    """No late-payment regime is known for the organisation's country. Its text is the
    ``sentence`` in English; a page shows the sentence in its reader's language."""

    def __init__(self, sentence: Sentence) -> None:
        super().__init__(str(sentence))
        self.sentence = sentence


NO_LAW = gettext_noop("no late-payment rules for the country %(country)s")


# --- Building blocks --------------------------------------------------------------------


def line_interest(base: Decimal, rate: Decimal, days: int) -> Decimal:
    """Simple interest, rounded once: base x rate % x days / 365."""
    exact = base * rate * days / (100 * DAYS_PER_YEAR)
    return exact.quantize(CENT, rounding=ROUND_HALF_UP)


def balance_periods(
    amount: Decimal, due_date: date, end: date, payments: Payments = ()
) -> list[tuple[date, date, Decimal]]:
    """The stretches (first day, last day, base) from the day after the due date to ``end``
    during which something is unpaid; a payment lowers the base from the day after it."""
    if amount < 0 or any(paid < 0 for _, paid in payments):
        raise ValueError("amounts and payments cannot be negative")
    start = due_date + timedelta(days=1)
    if end < start:
        return []
    # Payments up to the due date lower the base from the first day of lateness.
    base = amount - sum((paid for day, paid in payments if day < start), ZERO)
    changes: dict[date, Decimal] = {}
    for day, paid in payments:
        if start <= day < end:
            changes[day + timedelta(days=1)] = changes.get(day + timedelta(days=1), ZERO) + paid
    periods = []
    cursor = start
    for change in sorted(changes):
        if base > 0:
            periods.append((cursor, change - timedelta(days=1), base))
        base -= changes[change]
        cursor = change
    if base > 0:
        periods.append((cursor, end, base))
    return periods


def half_years(start: date, end: date) -> list[tuple[date, date]]:
    """``start`` to ``end`` cut at each 1 January and 1 July."""
    parts = []
    while start <= end:
        last = min(half_year_end(start), end)
        parts.append((start, last))
        start = last + timedelta(days=1)
    return parts


RateRule = Callable[[date], tuple[Decimal, bool]]  # first day of a part -> (rate, floor)


def interest_lines(
    periods: Iterable[tuple[date, date, Decimal]], rule: RateRule
) -> list[PenaltyLine]:
    """Lines of constant base and rate; consecutive half-years at one rate make one line."""
    pieces: list[tuple[date, date, Decimal, Decimal, bool]] = []
    for start, end, base in periods:
        for part_start, part_end in half_years(start, end):
            rate, floor = rule(part_start)
            last = pieces[-1] if pieces else None
            if last and last[2:] == (base, rate, floor) and follows(last[1], part_start):
                pieces[-1] = (last[0], part_end, base, rate, floor)
            else:
                pieces.append((part_start, part_end, base, rate, floor))
    return [_line(*piece) for piece in pieces]


def _line(start: date, end: date, base: Decimal, rate: Decimal, floor: bool) -> PenaltyLine:
    days = (end - start).days + 1
    return PenaltyLine(start, end, days, base, rate, line_interest(base, rate, days), floor)


def follows(day: date, following: date) -> bool:
    return day + timedelta(days=1) == following


def _penalty(
    law: Law,
    currency: str,
    due_date: date,
    as_of: date,
    lines: list[PenaltyLine],
    indemnity: Decimal,
    notes: list[str],
) -> Penalty:
    interest = sum((line.amount for line in lines), ZERO)
    if not lines:
        indemnity = ZERO
        notes = [f"Not late on {as_of}: nothing is due."]
    return Penalty(
        law=law,
        currency=currency,
        due_date=due_date,
        as_of=as_of,
        lines=tuple(lines),
        interest=interest,
        indemnity=indemnity,
        total=interest + indemnity,
        notes=tuple(notes),
    )


def _fixed_sum_in(currency: str, wanted: str, amount: Decimal, notes: list[str]) -> Decimal:
    """A fixed sum the law sets in one currency is only added to a total in that currency."""
    if currency == wanted:
        return amount
    notes.append(
        f"The fixed sum of {amount} {wanted} is due as well but is not added to a total in "
        f"{currency}: claim it separately."
    )
    return ZERO


def _percent(value: Decimal) -> str:
    return f"{value.normalize():f} %"


# --- France -----------------------------------------------------------------------------


def fr_default_rate(ecb_rates: RateTable, half_year: date) -> Decimal:
    """The ``fr_late_penalty_default`` rate of the half-year starting ``half_year``: the ECB
    rate in force on that day + 10 points (how the table's rows are made, shipped or
    fetched: `relance rates fetch`)."""
    return ecb_rates.rate_on(half_year_start(half_year)) + FR_POINTS


def fr_floor_rate(legal_professionals: Decimal) -> Decimal:
    """The ``fr_late_penalty_floor`` rate of a half-year: 3 x the professionals' legal rate."""
    return legal_professionals * FR_FLOOR_FACTOR


def france_penalty(
    amount: Decimal,
    currency: str,
    due_date: date,
    as_of: date,
    *,
    default_rates: RateTable,
    floor_rates: RateTable,
    payments: Payments = (),
    contractual_rate: Decimal | None = None,
    collective_proceedings: bool = False,
) -> Penalty:
    """Code de commerce L441-10 II: penalties on the amount including VAT, and the 40 EUR
    indemnity of D441-5 per invoice paid late.

    Without a contractual rate: the ECB rate in force on 1 January / 1 July + 10 points
    (``fr_late_penalty_default``). With one: the contractual rate, but never less than
    3 x the professionals' legal rate of the half-year (``fr_late_penalty_floor``).
    """
    notes = [
        "Simple interest on the amount including VAT, days / 365 (Code de commerce L441-10 II)."
    ]
    floored: list[str] = []

    def rule(day: date) -> tuple[Decimal, bool]:
        if contractual_rate is None:
            return default_rates.rate_on(day), False
        floor = floor_rates.rate_on(day)
        if contractual_rate < floor:
            floored.append(half_year_label(day))
            return floor, True
        return contractual_rate, False

    periods = balance_periods(amount, due_date, as_of, payments)
    lines = interest_lines(periods, rule)
    if contractual_rate is None:
        notes.append("Default rate: ECB main refinancing rate on 1 January / 1 July + 10 points.")
    else:
        notes.append(f"Contractual rate {_percent(contractual_rate)}.")
    if floored:
        notes.append(
            f"Contractual rate below the legal minimum (3 x the legal interest rate) in "
            f"{', '.join(sorted(set(floored)))}: the minimum applies."
        )
    if collective_proceedings:
        indemnity = ZERO
        notes.append(
            "Customer in collective proceedings: the 40 EUR indemnity cannot be claimed "
            "(L441-10 II), and the opening judgment stops interest (L622-28): check the "
            "figure before declaring the claim."
        )
    else:
        notes.append("Fixed recovery indemnity: 40 EUR per invoice paid late, no VAT (D441-5).")
        indemnity = _fixed_sum_in(currency, "EUR", FR_INDEMNITY, notes)
    return _penalty(Law.FR, currency, due_date, as_of, lines, indemnity, notes)


# --- United Kingdom ---------------------------------------------------------------------


def uk_fixed_sum(debt: Decimal) -> Decimal:
    """Late Payment Act s. 5A: 40 GBP under 1,000; 70 GBP to 9,999.99; 100 GBP from 10,000."""
    for threshold, fixed in UK_FIXED_SUMS:
        if debt >= threshold:
            return fixed
    return UK_SMALL_SUM


def uk_penalty(
    amount: Decimal,
    currency: str,
    due_date: date,
    as_of: date,
    *,
    boe_rates: RateTable,
    payments: Payments = (),
    collective_proceedings: bool = False,
) -> Penalty:
    """Statutory interest: Bank of England rate on the reference date + 8 %, and a fixed sum
    by the size of the debt (what was unpaid when it fell late)."""
    used: set[RateRow] = set()

    def rule(day: date) -> tuple[Decimal, bool]:
        row = boe_rates.row_for(day)
        used.add(row)
        return row.percent + UK_POINTS, False

    periods = balance_periods(amount, due_date, as_of, payments)
    lines = interest_lines(periods, rule)
    notes = [
        "Statutory interest: Bank of England Bank Rate on 31 December (for January-June) or "
        "30 June (for July-December) + 8 %, simple, days / 365.",
        *(
            f"Bank Rate on {row.date}: {_percent(row.percent)}."
            for row in sorted(used, key=lambda row: row.date)
        ),
        "Not implied where the contract already gives a substantial remedy for late payment.",
    ]
    if collective_proceedings:
        notes.append("Customer in insolvency proceedings: claim through the office-holder.")
    # The size of the debt: what was unpaid on the first day it was late.
    debt = periods[0][2] if periods else ZERO
    indemnity = _fixed_sum_in(currency, "GBP", uk_fixed_sum(debt), notes)
    return _penalty(Law.UK, currency, due_date, as_of, lines, indemnity, notes)


# --- European Union ---------------------------------------------------------------------


def directive_penalty(
    amount: Decimal,
    currency: str,
    due_date: date,
    as_of: date,
    *,
    ecb_rates: RateTable,
    payments: Payments = (),
    collective_proceedings: bool = False,
) -> Penalty:
    """Directive 2011/7/EU: ECB rate on 1 January / 1 July + 8 points, and 40 EUR."""
    used: set[RateRow] = set()

    def rule(day: date) -> tuple[Decimal, bool]:
        row = ecb_rates.row_for(half_year_start(day))
        used.add(row)
        return row.percent + EU_POINTS, False

    periods = balance_periods(amount, due_date, as_of, payments)
    lines = interest_lines(periods, rule)
    notes = [
        "Directive 2011/7/EU minimum: ECB main refinancing rate on 1 January / 1 July "
        "+ 8 points, simple, days / 365; national law may set a higher rate or another "
        "reference rate."
    ]
    if currency != "EUR":
        notes.append(
            f"Invoice in {currency}: outside the euro area the reference rate is the national "
            "central bank's; Relance used the ECB rate."
        )
    if ecb_rates.last in used:
        last = ecb_rates.last
        assert last is not None
        notes.append(
            f"The ECB rate {_percent(last.percent)} in force since {last.date} is the latest "
            "Relance knows: add any later ECB decision with `relance rates add ecb_mro`."
        )
    indemnity = _fixed_sum_in(currency, "EUR", EU_INDEMNITY, notes)
    if collective_proceedings:
        notes.append("Customer in collective proceedings: national insolvency law decides.")
    return _penalty(Law.EU, currency, due_date, as_of, lines, indemnity, notes)


# --- Choosing the regime, summing per customer ------------------------------------------


def law_for_country(country: str) -> Law | None:
    """The creditor's country decides: France, the United Kingdom, or the directive."""
    code = country.strip().upper()
    if code == "FR":
        return Law.FR
    if code in {"GB", "UK"}:
        return Law.UK
    if code in EU_MEMBERS:
        return Law.EU
    return None


def required_law(country: str) -> Law:
    """``law_for_country``, or NoLaw when penalties are asked where no regime is known."""
    law = law_for_country(country)
    if law is None:
        raise NoLaw(Sentence(NO_LAW, {"country": repr(country)}))
    return law


SERIES_FOR_LAW = {
    Law.FR: ("fr_late_penalty_default", "fr_late_penalty_floor"),
    Law.UK: ("uk_boe_reference",),
    Law.EU: ("ecb_mro",),
}


def penalty_for(
    country: str,
    amount: Decimal,
    currency: str,
    due_date: date,
    as_of: date,
    *,
    tables: Mapping[str, RateTable],
    payments: Payments = (),
    credit_notes: Payments = (),
    contractual_rate: Decimal | None = None,
    collective_proceedings: bool = False,
) -> Penalty:
    """The penalty under the law of the organisation's country (``SERIES_FOR_LAW`` says
    which tables it needs). ``credit_notes`` lower the amount itself: a credit note is not
    a late payment."""
    law = required_law(country)
    if any(credited < 0 for _, credited in credit_notes):
        raise ValueError("credit notes cannot be negative")
    amount = max(amount - sum((credited for _, credited in credit_notes), ZERO), ZERO)
    if law is Law.FR:
        return france_penalty(
            amount,
            currency,
            due_date,
            as_of,
            default_rates=tables["fr_late_penalty_default"],
            floor_rates=tables["fr_late_penalty_floor"],
            payments=payments,
            contractual_rate=contractual_rate,
            collective_proceedings=collective_proceedings,
        )
    if law is Law.UK:
        penalty = uk_penalty(
            amount,
            currency,
            due_date,
            as_of,
            boe_rates=tables["uk_boe_reference"],
            payments=payments,
            collective_proceedings=collective_proceedings,
        )
    else:
        penalty = directive_penalty(
            amount,
            currency,
            due_date,
            as_of,
            ecb_rates=tables["ecb_mro"],
            payments=payments,
            collective_proceedings=collective_proceedings,
        )
    if contractual_rate is not None and penalty.is_late:
        note = "The contractual rate is not applied outside France: the statutory one is."
        penalty = replace(penalty, notes=(*penalty.notes, note))
    return penalty


def sum_penalties(penalties: Iterable[Penalty]) -> dict[str, PenaltyTotal]:
    """One total per currency, over the invoices that are late; never across currencies."""
    totals: dict[str, PenaltyTotal] = {}
    for penalty in penalties:
        if not penalty.is_late:
            continue
        current = totals.get(penalty.currency, PenaltyTotal(penalty.currency))
        totals[penalty.currency] = PenaltyTotal(
            currency=penalty.currency,
            invoices=current.invoices + 1,
            interest=current.interest + penalty.interest,
            indemnity=current.indemnity + penalty.indemnity,
            total=current.total + penalty.total,
        )
    return dict(sorted(totals.items()))
