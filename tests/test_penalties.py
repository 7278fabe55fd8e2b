"""Late-payment penalties, pure: hand-worked figures on the shipped rate tables, the legal
edges (floor, fixed sums, collective proceedings, leap years, unknown rates) and
invariants with hypothesis. No database.

Every figure is worked by hand in a comment: base x rate % x days / 365, rounded half up
to the cent once per line.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relance.dunning.penalties import (
    Law,
    NoLaw,
    directive_penalty,
    france_penalty,
    law_for_country,
    line_interest,
    penalty_for,
    sum_penalties,
    uk_fixed_sum,
    uk_penalty,
)
from relance.dunning.rates import RateRow, RateTable, RateUnknown, shipped_table

ECB = shipped_table("ecb_mro")
DEFAULT = shipped_table("fr_late_penalty_default")
FLOOR = shipped_table("fr_late_penalty_floor")
LEGAL = shipped_table("fr_legal_professionals")
BOE = shipped_table("uk_boe_reference")


def fr(amount, due, as_of, **kw):
    return france_penalty(
        Decimal(amount), "EUR", due, as_of, default_rates=DEFAULT, floor_rates=FLOOR, **kw
    )


def figures(penalty):
    return [(line.start, line.end, line.days, line.rate, line.amount) for line in penalty.lines]


# --- France -----------------------------------------------------------------------------


def test_it_splits_an_invoice_overdue_across_a_change_of_half_year():
    # Due 31 May 2025, paid 15 August 2025. Default rate = ECB on 1 January / 1 July + 10:
    #   2025-H1: ECB 3.15 (since 2024-12-18) + 10 = 13.15 %; 2025-H2: 2.15 + 10 = 12.15 %.
    # 1-30 June: 30 days, 10,000 x 13.15 % x 30 / 365 = 39,450 / 365 = 108.0821... = 108.08
    # 1 July-15 August: 31 + 15 = 46 days, 10,000 x 12.15 % x 46 / 365 = 55,890 / 365
    #   = 153.1232... = 153.12
    # Interest 108.08 + 153.12 = 261.20; + 40 EUR indemnity = 301.20.
    penalty = fr("10000.00", date(2025, 5, 31), date(2025, 8, 15))
    assert figures(penalty) == [
        (date(2025, 6, 1), date(2025, 6, 30), 30, Decimal("13.15"), Decimal("108.08")),
        (date(2025, 7, 1), date(2025, 8, 15), 46, Decimal("12.15"), Decimal("153.12")),
    ]
    assert (penalty.interest, penalty.indemnity, penalty.total) == (
        Decimal("261.20"),
        Decimal("40.00"),
        Decimal("301.20"),
    )
    assert penalty.law is Law.FR and penalty.currency == "EUR" and penalty.days_late == 76
    assert not any(line.floor_applied for line in penalty.lines)


def test_it_applies_the_floor_of_three_times_the_legal_rate_to_a_low_contractual_rate():
    # 2026-H1: legal rate (professionals) 2.62 %, floor 3 x 2.62 = 7.86 % > contract 5 %.
    # Due 31 January 2026, computed on 2 March 2026: 28 days of February + 2 = 30 days.
    # 1,000 x 7.86 % x 30 / 365 = 2,358 / 365 = 6.4602... = 6.46
    penalty = fr("1000.00", date(2026, 1, 31), date(2026, 3, 2), contractual_rate=Decimal(5))
    assert figures(penalty) == [
        (date(2026, 2, 1), date(2026, 3, 2), 30, Decimal("7.86"), Decimal("6.46"))
    ]
    assert penalty.lines[0].floor_applied
    assert any("minimum applies" in note and "2026-H1" in note for note in penalty.notes)
    assert penalty.total == Decimal("46.46")


def test_it_keeps_a_contractual_rate_above_the_floor():
    # 9 % > 7.86 %: 1,000 x 9 % x 30 / 365 = 2,700 / 365 = 7.3972... = 7.40
    penalty = fr("1000.00", date(2026, 1, 31), date(2026, 3, 2), contractual_rate=Decimal(9))
    assert figures(penalty) == [
        (date(2026, 2, 1), date(2026, 3, 2), 30, Decimal(9), Decimal("7.40"))
    ]
    assert not penalty.lines[0].floor_applied
    assert not any("minimum applies" in note for note in penalty.notes)


def test_it_applies_the_floor_half_year_by_half_year():
    # Contract 10 %. Floor 2025-H1 = 3 x 3.71 = 11.13 % (applies), 2025-H2 = 3 x 2.76 = 8.28 %
    # (does not). Due 20 June 2025, computed on 10 July 2025:
    # 21-30 June: 10 days, 1,000 x 11.13 % x 10 / 365 = 1,113 / 365 = 3.0493... = 3.05
    # 1-10 July: 10 days, 1,000 x 10 % x 10 / 365 = 1,000 / 365 = 2.7397... = 2.74
    penalty = fr("1000.00", date(2025, 6, 20), date(2025, 7, 10), contractual_rate=Decimal(10))
    assert figures(penalty) == [
        (date(2025, 6, 21), date(2025, 6, 30), 10, Decimal("11.13"), Decimal("3.05")),
        (date(2025, 7, 1), date(2025, 7, 10), 10, Decimal(10), Decimal("2.74")),
    ]
    assert [line.floor_applied for line in penalty.lines] == [True, False]
    assert penalty.interest == Decimal("5.79")


def test_it_reduces_the_base_from_the_day_after_a_partial_payment():
    # 1,000 due 31 January 2026, 400 paid on 10 February, computed on 2 March; 12.15 %.
    # 1-10 February (the day of payment still on the full base): 10 days,
    #   1,000 x 12.15 % x 10 / 365 = 1,215 / 365 = 3.3287... = 3.33
    # 11 February-2 March: 18 + 2 = 20 days, 600 x 12.15 % x 20 / 365 = 1,458 / 365
    #   = 3.9945... = 3.99
    # Interest 7.32; + 40 = 47.32.
    penalty = fr(
        "1000.00",
        date(2026, 1, 31),
        date(2026, 3, 2),
        payments=[(date(2026, 2, 10), Decimal("400.00"))],
    )
    assert [(line.base, line.days, line.amount) for line in penalty.lines] == [
        (Decimal("1000.00"), 10, Decimal("3.33")),
        (Decimal("600.00"), 20, Decimal("3.99")),
    ]
    assert penalty.total == Decimal("47.32")


def test_it_stops_interest_on_the_day_of_the_last_payment():
    # Paid in full on 10 February: 10 days, 3.33 as above; nothing more on 2 March.
    paid = [(date(2026, 2, 10), Decimal("1000.00"))]
    penalty = fr("1000.00", date(2026, 1, 31), date(2026, 3, 2), payments=paid)
    assert figures(penalty) == [
        (date(2026, 2, 1), date(2026, 2, 10), 10, Decimal("12.15"), Decimal("3.33"))
    ]
    assert penalty.indemnity == Decimal("40.00")
    # A payment on time, or a payment after the computation date that is not known yet.
    in_time = [(date(2026, 1, 31), Decimal("1000.00"))]
    on_time = fr("1000.00", date(2026, 1, 31), date(2026, 3, 2), payments=in_time)
    assert (on_time.is_late, on_time.total) == (False, Decimal("0.00"))
    future = fr("1000.00", date(2026, 1, 31), date(2026, 2, 5), payments=paid)
    assert future.days_late == 5


def test_it_owes_nothing_before_the_day_after_the_due_date():
    assert fr("1000.00", date(2026, 1, 31), date(2026, 1, 31)).total == Decimal("0.00")
    # One day late: 1,000 x 12.15 % / 365 = 0.3328... = 0.33, and the whole indemnity.
    one_day = fr("1000.00", date(2026, 1, 31), date(2026, 2, 1))
    assert (one_day.interest, one_day.indemnity) == (Decimal("0.33"), Decimal("40.00"))


def test_it_claims_40_eur_per_late_invoice_and_sums_per_currency():
    # Two late EUR invoices (each as worked above), one paid on time, one in USD (the 40 EUR
    # indemnity is not added to a USD total).
    late_a = fr("1000.00", date(2026, 1, 31), date(2026, 3, 2))  # 1,215 x 3 / 365 = 9.99
    late_b = fr("10000.00", date(2025, 5, 31), date(2025, 8, 15))  # 261.20 (see above)
    on_time = fr("500.00", date(2026, 3, 31), date(2026, 3, 2))
    usd = france_penalty(
        Decimal("1000.00"),
        "USD",
        date(2026, 1, 31),
        date(2026, 3, 2),
        default_rates=DEFAULT,
        floor_rates=FLOOR,
    )
    # 1,000 x 12.15 % x 30 / 365 = 3,645 / 365 = 9.9863... = 9.99
    assert late_a.interest == Decimal("9.99")
    totals = sum_penalties([late_a, late_b, on_time, usd])
    assert list(totals) == ["EUR", "USD"]
    eur = totals["EUR"]
    assert (eur.invoices, eur.interest, eur.indemnity, eur.total) == (
        2,
        Decimal("271.19"),  # 9.99 + 261.20
        Decimal("80.00"),  # 2 x 40
        Decimal("351.19"),
    )
    assert (totals["USD"].indemnity, totals["USD"].total) == (Decimal("0.00"), Decimal("9.99"))
    assert any("40.00 EUR" in note for note in usd.notes)


def test_it_drops_the_indemnity_under_collective_proceedings():
    penalty = fr("10000.00", date(2025, 5, 31), date(2025, 8, 15), collective_proceedings=True)
    assert (penalty.interest, penalty.indemnity, penalty.total) == (
        Decimal("261.20"),
        Decimal("0.00"),
        Decimal("261.20"),
    )
    assert any("collective proceedings" in note for note in penalty.notes)


def test_it_counts_a_leap_year_over_365_days():
    # Choice (French practice, L441-10 II is silent): days / 365 even in a leap year, so the
    # 366 days of 2024 earn 366/365 of the annual rate.
    # 36,500 due 31 December 2023: 100 a day per point, i.e. 36,500 x r % / 365 = r x 1.00.
    # 2024-H1: 182 days (31+29+31+30+31+30) x 14.50 = 2,639.00
    # 2024-H2: 184 days (31+31+30+31+30+31) x 14.25 = 2,622.00
    penalty = fr("36500.00", date(2023, 12, 31), date(2024, 12, 31))
    assert figures(penalty) == [
        (date(2024, 1, 1), date(2024, 6, 30), 182, Decimal("14.50"), Decimal("2639.00")),
        (date(2024, 7, 1), date(2024, 12, 31), 184, Decimal("14.25"), Decimal("2622.00")),
    ]
    assert penalty.days_late == 366
    assert penalty.interest == Decimal("5261.00")  # over 366 it would be 5,246.63


def test_it_merges_half_years_at_the_same_rate_into_one_line():
    # 2017-H1 to 2018-H2: ECB 0 %, default rate 10.00 % all along: one line of 730 days.
    # 1,000 x 10 % x 730 / 365 = 200.00
    penalty = fr("1000.00", date(2016, 12, 31), date(2018, 12, 31))
    assert figures(penalty) == [
        (date(2017, 1, 1), date(2018, 12, 31), 730, Decimal("10.00"), Decimal("200.00"))
    ]


def test_it_rounds_half_up_once_per_line():
    # 365 x 0.5 % x 1 / 365 = 0.005 exactly: half up gives 0.01 (half even would give 0.00).
    assert line_interest(Decimal("365.00"), Decimal("0.5"), 1) == Decimal("0.01")
    assert line_interest(Decimal("365.00"), Decimal("0.4"), 1) == Decimal("0.00")
    # Rounded once per line, not per day: 30 days of 0.3328... (1,000 at 12.15 %) = 9.99,
    # not 30 x 0.33 = 9.90.
    assert fr("1000.00", date(2026, 1, 31), date(2026, 3, 2)).interest == Decimal("9.99")


def test_it_refuses_to_guess_a_half_year_after_the_last_known_one():
    # The French tables stop at 2026-H1: 1 July 2026 onwards is unknown.
    with pytest.raises(RateUnknown) as caught:
        fr("1000.00", date(2026, 6, 20), date(2026, 7, 10))
    message = str(caught.value)
    assert caught.value.series == "fr_late_penalty_default"
    assert caught.value.period == "2026-H2"
    assert "2026-H2" in message and "up to 2026-H1" in message
    assert "relance rates add fr_late_penalty_default 2026-07-01" in message
    with pytest.raises(RateUnknown, match=r"fr_late_penalty_floor .*2026-H2"):
        fr("1000.00", date(2026, 6, 20), date(2026, 7, 10), contractual_rate=Decimal(20))
    # The same computation up to 30 June works: only the missing half-year is refused.
    assert fr("1000.00", date(2026, 6, 20), date(2026, 6, 30)).days_late == 10


def test_it_uses_a_rate_added_for_the_missing_half_year():
    # What `relance rates add` provides, as a plain table: 2026-H2 at 12.40 %.
    added = RateRow(date(2026, 7, 1), Decimal("12.40"), "test", "database")
    table = RateTable(DEFAULT.series, (*DEFAULT.rows, added))
    # 1-10 July: 1,000 x 12.40 % x 10 / 365 = 1,240 / 365 = 3.3972... = 3.40
    penalty = france_penalty(
        Decimal("1000.00"),
        "EUR",
        date(2026, 6, 30),
        date(2026, 7, 10),
        default_rates=table,
        floor_rates=FLOOR,
    )
    assert figures(penalty) == [
        (date(2026, 7, 1), date(2026, 7, 10), 10, Decimal("12.40"), Decimal("3.40"))
    ]


# --- United Kingdom ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("debt", "fixed"),
    [("999.99", "40.00"), ("1000.00", "70.00"), ("9999.99", "70.00"), ("10000.00", "100.00")],
)
def test_it_grades_the_uk_fixed_sum_by_the_size_of_the_debt(debt, fixed):
    assert uk_fixed_sum(Decimal(debt)) == Decimal(fixed)
    penalty = uk_penalty(Decimal(debt), "GBP", date(2025, 1, 31), date(2025, 2, 10), boe_rates=BOE)
    assert penalty.indemnity == Decimal(fixed)
    assert penalty.total == penalty.interest + Decimal(fixed)


def test_it_computes_uk_statutory_interest_on_each_reference_rate():
    # Bank Rate on 31 December 2024: 4.75 % -> 12.75 % for January-June 2025;
    # on 30 June 2025: 4.25 % -> 12.25 % for July-December 2025.
    # 21-30 June: 1,000 x 12.75 % x 10 / 365 = 1,275 / 365 = 3.4931... = 3.49
    # 1-10 July: 1,000 x 12.25 % x 10 / 365 = 1,225 / 365 = 3.3561... = 3.36
    # Fixed sum for 1,000: 70 GBP. Total 6.85 + 70 = 76.85.
    penalty = uk_penalty(
        Decimal("1000.00"), "GBP", date(2025, 6, 20), date(2025, 7, 10), boe_rates=BOE
    )
    assert figures(penalty) == [
        (date(2025, 6, 21), date(2025, 6, 30), 10, Decimal("12.75"), Decimal("3.49")),
        (date(2025, 7, 1), date(2025, 7, 10), 10, Decimal("12.25"), Decimal("3.36")),
    ]
    assert penalty.total == Decimal("76.85") and penalty.law is Law.UK


def test_it_refuses_a_uk_period_whose_reference_rate_is_missing():
    # The shipped table has no 30 June 2023 row: 2023-H2 must not take the 31 December 2022
    # rate (3.50 %), the Bank Rate was 5.00 % on 30 June 2023.
    with pytest.raises(RateUnknown, match="2023-06-30") as caught:
        uk_penalty(Decimal("500"), "GBP", date(2023, 6, 30), date(2023, 7, 5), boe_rates=BOE)
    assert caught.value.period == "2023-H2"


# --- European Union, choice of law -----------------------------------------------------


def test_it_applies_the_directive_minimum_in_other_member_states():
    # ECB on 1 January 2026: 2.15 % (since 11 June 2025) + 8 = 10.15 %.
    # 1,000 x 10.15 % x 30 / 365 = 3,045 / 365 = 8.3424... = 8.34; + 40 EUR = 48.34.
    penalty = penalty_for(
        "DE",
        Decimal("1000.00"),
        "EUR",
        date(2026, 1, 31),
        date(2026, 3, 2),
        tables={"ecb_mro": ECB},
    )
    assert penalty.law is Law.EU
    assert figures(penalty) == [
        (date(2026, 2, 1), date(2026, 3, 2), 30, Decimal("10.15"), Decimal("8.34"))
    ]
    assert penalty.total == Decimal("48.34")
    # The last known ECB change is used: the notes say so.
    assert any("2025-06-11" in note for note in penalty.notes)


def test_it_takes_the_ecb_rate_in_force_on_the_first_day_of_the_half_year():
    # ECB cut to 2.15 % on 11 June 2025, but 2025-H1 keeps the rate of 1 January (3.15 %):
    # 1-10 June 2025 at 3.15 + 8 = 11.15 %: 1,000 x 11.15 % x 10 / 365 = 3.0547... = 3.05
    penalty = directive_penalty(
        Decimal("1000.00"), "EUR", date(2025, 5, 31), date(2025, 6, 10), ecb_rates=ECB
    )
    assert figures(penalty) == [
        (date(2025, 6, 1), date(2025, 6, 10), 10, Decimal("11.15"), Decimal("3.05"))
    ]
    assert not any("latest" in note for note in penalty.notes)


def test_it_chooses_the_law_from_the_organisations_country():
    assert [law_for_country(code) for code in ("FR", "gb", "UK", "DE", "it", "US", "CH")] == [
        Law.FR,
        Law.UK,
        Law.UK,
        Law.EU,
        Law.EU,
        None,
        None,
    ]
    with pytest.raises(NoLaw, match="'US'"):
        penalty_for("US", Decimal(1), "USD", date(2026, 1, 1), date(2026, 2, 1), tables={})


def test_it_notes_a_contractual_rate_it_cannot_apply_outside_france():
    penalty = penalty_for(
        "GB",
        Decimal("1000.00"),
        "GBP",
        date(2025, 6, 20),
        date(2025, 7, 10),
        tables={"uk_boe_reference": BOE},
        contractual_rate=Decimal(4),
    )
    assert penalty.total == Decimal("76.85")  # the statutory figure worked above
    assert any("contractual rate is not applied" in note for note in penalty.notes)


# --- The shipped tables -----------------------------------------------------------------


def test_it_cross_checks_the_french_default_rate_against_ecb_plus_10():
    assert len(DEFAULT.rows) == 27  # 2013-H1 to 2026-H1
    for row in DEFAULT.rows:
        assert row.percent == ECB.rate_on(row.date) + 10, row.date


def test_it_cross_checks_the_floor_against_three_times_the_legal_rate():
    assert [row.date for row in FLOOR.rows] == [row.date for row in LEGAL.rows]
    for row in FLOOR.rows:
        assert row.percent == 3 * LEGAL.rate_on(row.date), row.date


def test_it_reads_each_kind_of_table():
    # ECB: a step function; the last change keeps applying, nothing before the first.
    assert ECB.rate_on(date(2025, 6, 10)) == Decimal("2.40")
    assert ECB.rate_on(date(2025, 6, 11)) == Decimal("2.15")
    assert ECB.rate_on(date(2030, 1, 1)) == Decimal("2.15")
    with pytest.raises(RateUnknown, match="first row is 2007-06-13"):
        ECB.rate_on(date(2007, 6, 12))
    # Half-year: the row of the half-year, exactly.
    assert DEFAULT.rate_on(date(2025, 12, 31)) == Decimal("12.15")
    assert DEFAULT.steps[0] == (date(2013, 1, 1), Decimal("10.75"))
    with pytest.raises(RateUnknown, match="from 2015-H1 only"):
        FLOOR.rate_on(date(2014, 12, 31))
    # UK: the rate of the reference date of the day's half-year.
    assert BOE.rate_on(date(2026, 3, 1)) == Decimal("3.75")  # 31 December 2025
    assert BOE.rate_on(date(2024, 12, 31)) == Decimal("5.25")  # 30 June 2024


# --- Invariants -------------------------------------------------------------------------

# Where both French tables are known.
FIRST, LAST = date(2015, 1, 1), date(2026, 6, 30)
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000000"), places=2)
contract = st.none() | st.decimals(min_value=Decimal(0), max_value=Decimal(30), places=2)
days = st.dates(min_value=FIRST, max_value=LAST - timedelta(days=1))


@st.composite
def three_dates(draw):
    """due < middle <= end, all within the known tables."""
    due = draw(days)
    end = draw(st.dates(min_value=due + timedelta(days=1), max_value=LAST))
    middle = draw(st.dates(min_value=due + timedelta(days=1), max_value=end))
    return due, middle, end


@settings(max_examples=200, deadline=None)
@given(amount=amounts, dates=three_dates(), rate=contract)
def test_it_never_lowers_interest_when_the_end_date_moves_later(amount, dates, rate):
    due, middle, end = dates
    earlier = fr(amount, due, middle, contractual_rate=rate)
    later = fr(amount, due, end, contractual_rate=rate)
    assert later.interest >= earlier.interest >= 0
    assert later.total >= earlier.total


@settings(max_examples=200, deadline=None)
@given(amount=amounts, dates=three_dates(), rate=contract)
def test_it_gives_the_same_total_when_a_period_is_split(amount, dates, rate):
    due, middle, end = dates
    whole = fr(amount, due, end, contractual_rate=rate)
    first = fr(amount, due, middle, contractual_rate=rate)
    second = fr(amount, middle, end, contractual_rate=rate)
    lines = len(first.lines) + len(second.lines)
    # Each line is off the exact figure by half a cent at most.
    assert abs(whole.interest - first.interest - second.interest) <= Decimal("0.01") * lines
    assert whole.days_late == first.days_late + second.days_late


@settings(max_examples=200, deadline=None)
@given(
    amount=amounts,
    dates=three_dates(),
    paid=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("6000000"), places=2),
    proceedings=st.booleans(),
)
def test_it_is_never_negative_and_a_payment_never_raises_it(amount, dates, paid, proceedings):
    due, middle, end = dates
    without = fr(amount, due, end, collective_proceedings=proceedings)
    with_payment = fr(
        amount, due, end, payments=[(middle, paid)], collective_proceedings=proceedings
    )
    for penalty in (without, with_payment):
        assert min(penalty.interest, penalty.indemnity, penalty.total) >= 0
        assert all(line.amount >= 0 and line.base > 0 for line in penalty.lines)
        assert penalty.interest == sum(line.amount for line in penalty.lines)
        assert penalty.total == penalty.interest + penalty.indemnity
    # Exactly, a payment lowers interest; rounded, each line may be half a cent off (a tiny
    # payment can split a line in two that both round up).
    slack = Decimal("0.005") * (len(with_payment.lines) + len(without.lines))
    assert with_payment.interest <= without.interest + slack
    assert with_payment.indemnity == without.indemnity
