"""The message filters: money, percentages and dates as the reader's language writes them,
kept between calls."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import translation

from relance.channels.formatting import long_date, money, percent, short_date


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
