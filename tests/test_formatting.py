"""The message filters: money, percentages and dates as the reader's language writes them,
kept between calls."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from relance.channels.formatting import (
    amount_input,
    long_date,
    money,
    percent,
    read_amount,
    short_date,
)


def test_it_writes_money_in_the_readers_language():
    for _ in range(2):  # the second time from what was kept
        with translation.override("fr"):
            assert money(Decimal("1234.5"), "EUR") == "1\u00a0234,50\u00a0€"
            assert money(Decimal("1234.50"), "CHF") == "1\u00a0234,50\u00a0CHF"
            assert money(Decimal("-3"), "") == "-3,00"
        with translation.override("en"):
            assert money(Decimal("1234.5"), "EUR") == "€1,234.50"
            assert money(1234, "CHF") == "CHF\u00a01,234.00"
            assert money(None) == ""


def test_it_writes_dates_in_the_readers_language():
    day = date(2026, 11, 22)
    with translation.override("fr"):
        assert (short_date(day), long_date(day)) == ("22/11/2026", "22 novembre 2026")
    with translation.override("en"):
        assert (short_date(day), long_date(day)) == ("22 Nov 2026", "22 November 2026")


def test_it_writes_the_day_of_a_moment_where_it_is():
    # Equal instants, two days: never answered from one another.
    utc = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    paris = utc.astimezone(ZoneInfo("Europe/Paris"))
    with translation.override("fr"):
        assert (short_date(utc), short_date(paris)) == ("22/11/2026", "23/11/2026")


def test_it_follows_a_change_of_the_format_settings(settings):
    settings.USE_THOUSAND_SEPARATOR = False
    with translation.override("en"):
        assert percent(Decimal("1234.5")) == "1234.50%"
        settings.USE_THOUSAND_SEPARATOR = True
        assert percent(Decimal("1234.5")) == "1,234.50%"


def test_it_reads_an_amount_and_a_date_a_json_record_keeps_as_text():
    """A reply's date and a payment's amount come from JSON as text: written the same."""
    with translation.override("fr"):
        assert money("1234.50", "EUR") == "1\u00a0234,50\u00a0€"
        assert short_date("2026-06-19") == "19/06/2026"
        assert short_date("next Friday") == "next Friday"
        assert money("", "EUR") == short_date("") == ""
    with translation.override("en"):
        assert short_date("2026-06-19") == "19 Jun 2026"


@pytest.mark.parametrize(
    ("language", "typed", "read"),
    [("fr", "20 000,50", "20000.50"), ("fr", "20\u202f000,50", "20000.50"),
     ("fr", "20000.50", "20000.50"), ("fr", "20.000,50", "20000.50"), ("fr", "1,5", "1.5"),
     ("en", "20,000.50", "20000.50"), ("en", "20,000", "20000"), ("en", "1,5", "1.5"),
     ("en", " 12 ", "12"), ("fr", "", None)],
)  # fmt: skip
def test_it_reads_an_amount_typed_the_readers_way_or_the_stored_one(language, typed, read):
    with translation.override(language):
        assert read_amount(typed) == (None if read is None else Decimal(read))


@pytest.mark.parametrize(
    "typed", ["abc", "1.2.3", "NaN", "Infinity", "12 €", "1e5", "1e999999", "1" * 17, "-", "."]
)
def test_it_refuses_what_is_no_amount(typed):
    with translation.override("fr"), pytest.raises(ValueError):
        read_amount(typed)


def test_an_input_shows_an_amount_as_its_reader_writes_it_and_reads_it_back():
    for language in ("fr", "en"):
        with translation.override(language):
            shown = amount_input(Decimal("1234567.5"))
            assert read_amount(shown) == Decimal("1234567.50"), shown
    with translation.override("fr"):
        assert amount_input(Decimal("20000")).replace("\u202f", " ").replace("\xa0", " ") == (
            "20 000,00"
        )
        assert amount_input(None) == ""
