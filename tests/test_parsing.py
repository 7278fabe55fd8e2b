"""Values as accounting files write them: amounts, dates, yes/no, encodings, separators."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relance.ledger.imports.parsing import (
    UnreadableFile,
    decode,
    parse_bool,
    parse_date,
    parse_decimal,
    parse_money,
    sniff_delimiter,
)

# Their messages are read in English (the default language is French).
pytestmark = pytest.mark.usefixtures("in_english")

cents = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2)


def french(value: Decimal) -> str:
    """1234567.8 -> '1 234 567,80', as French software writes it."""
    sign = "-" if value < 0 else ""
    units, decimals = f"{abs(value):.2f}".split(".")
    groups = []
    while units:
        groups.insert(0, units[-3:])
        units = units[:-3]
    return f"{sign}{' '.join(groups)},{decimals}"


@given(cents)
def test_it_reads_back_french_amounts(value):
    assert parse_money(french(value)) == value
    assert parse_money(french(value).replace(" ", "\u202f")) == value  # narrow no-break space


@given(cents)
def test_it_reads_back_english_amounts(value):
    assert parse_money(f"{value:,.2f}", ".") == value
    assert parse_money(f"{value:.2f}") == value


@given(st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_it_reads_back_dates_in_every_usual_form(day):
    for text in (
        day.isoformat(),
        day.strftime("%d/%m/%Y"),
        day.strftime("%Y%m%d"),
        day.strftime("%d.%m.%Y"),
    ):
        assert parse_date(text) == day
    assert parse_date(day.strftime("%m/%d/%Y"), "%m/%d/%Y") == day


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 234,56", "1234.56"),
        ("(12.50)", "-12.50"),
        ("12,50 €", "12.50"),
        ("15-", "-15"),
        ("1.234,5", "1234.5"),
        ("EUR 3", "3"),
        ("+4", "4"),
    ],
)
def test_it_reads_amounts_as_erps_write_them(text, expected):
    assert parse_decimal(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["", "abc", "12O0", "1,2,3.4.5", "--1", "1e5"])
def test_it_refuses_what_is_not_an_amount(text):
    with pytest.raises(ValueError, match="is not an amount"):
        parse_decimal(text)


def test_it_refuses_fractions_of_cents():
    with pytest.raises(ValueError, match="more than two decimals"):
        parse_money("12,345")


@pytest.mark.parametrize("text", ["31/02/2026", "2026-13-01", "demain", "1/1", ""])
def test_it_refuses_what_is_not_a_date(text):
    with pytest.raises(ValueError, match="is not a date"):
        parse_date(text)


def test_it_reads_yes_and_no_in_french_and_english():
    assert [parse_bool(t) for t in ("Oui", "yes", "X", "1")] == [True] * 4
    assert [parse_bool(t) for t in ("non", "No", "", "0")] == [False] * 4
    with pytest.raises(ValueError):
        parse_bool("peut-être")


def test_it_decodes_utf8_then_windows_1252():
    assert decode("Société".encode()) == ("Société", "utf-8")
    assert decode("Société".encode("cp1252")) == ("Société", "cp1252")
    with pytest.raises(UnreadableFile, match="not valid utf-8") as error:
        decode("a\nb\nSociété".encode("cp1252"), "utf-8")
    assert error.value.row == 3
    with pytest.raises(UnreadableFile, match="binary"):
        decode(b"PK\x03\x04\x00\x00")


def test_it_tells_iso_8859_15_from_windows_1252_by_the_letters_around():
    # œ, Œ, Ÿ and € of Latin-9 are ½, ¼, ¾ and ¤ in Windows-1252.
    assert decode("Cœur;Œuvre;L'HAŸ;12 €".encode("iso-8859-15")) == (
        "Cœur;Œuvre;L'HAŸ;12 €",
        "iso-8859-15",
    )
    assert decode("1½ jour;Œuvre".encode("cp1252")) == ("1½ jour;Œuvre", "cp1252")
    assert decode("3 ½ kg".encode("cp1252")) == ("3 ½ kg", "cp1252")


def test_it_reads_utf16_with_or_without_its_byte_order_mark():
    for encoding in ("utf-16", "utf-16-le", "utf-16-be"):
        assert decode("Réf;Montant\r\nA;1".encode(encoding))[0] == "Réf;Montant\r\nA;1"


def test_it_refuses_a_mix_of_utf8_and_windows_1252_lines():
    data = b"a\n" + "é\n".encode() + "è\n".encode("cp1252") + "ê\n".encode("cp1252")
    with pytest.raises(UnreadableFile, match="lines 3, 4 are not UTF-8") as error:
        decode(data)
    assert error.value.row == 3


@pytest.mark.parametrize("text", ["15/12/99", "31.12.26", "01-01-00"])
def test_it_refuses_two_digit_years(text):
    with pytest.raises(ValueError, match="two-digit year"):
        parse_date(text)
    assert parse_date(text, "%d/%m/%y" if "/" in text else "%d.%m.%y" if "." in text
                      else "%d-%m-%y").year in (1999, 2026, 2000)  # fmt: skip


@pytest.mark.parametrize("sep", [";", ",", "\t", "|"])
def test_it_finds_the_separator(sep):
    text = sep.join(["a", "b b", "c"]) + "\n" + sep.join(["1", "2,5", "3"]) + "\n"
    if sep == ",":
        text = 'a,b b,c\n1,"2,5",3\n'
    assert sniff_delimiter(text) == sep
