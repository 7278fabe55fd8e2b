"""Template filters for people's reading: money and dates the way the reader's language
writes them, in messages, letters, the console and the portal alike (a builtin of their
template engines: ``{{ amount|money:currency }}`` needs no ``load``).

Rendered in the active language, so Django's locale formats apply: ``1 234,56 €`` in
French, ``€1,234.56`` in English. Machine outputs (the API, accounting files, the commands'
tables) keep their own plain formats.

Each result is a pure function of the value and the language, and Django's formatting
costs 15 to 30 µs a call, ten calls a message: results are kept (the same amount and dates
appear in the text and the HTML part, the same dates across a batch).
"""

from __future__ import annotations

import functools
import re
from datetime import date
from decimal import Decimal
from typing import Any

from django import template
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import formats, translation
from django.utils.functional import lazy

register = template.Library()
CACHE_SIZE = 4096

SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}
NBSP = "\u00a0"


@register.filter
def money(amount: Decimal | int | str | None, currency: str = "") -> str:
    """An amount with its currency, as the reader's language writes it; nothing for none
    (an amount a JSON record keeps as a string reads the same)."""
    if amount is None or amount == "":
        return ""
    return _money(Decimal(amount), currency, translation.get_language())


@register.filter
def currency_sign(currency: str) -> str:
    """A currency as ``money`` writes it (its symbol, else its code): the unit of an amount
    typed in a form."""
    return SYMBOLS.get(currency, currency)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _money(amount: Decimal, currency: str, language: str | None) -> str:
    number = formats.number_format(amount, 2, use_l10n=True, force_grouping=True)
    symbol = currency_sign(currency)
    if not symbol:
        return number
    if language == "en":
        # English puts a symbol before the amount, a code before it with a space.
        return f"{symbol}{number}" if currency in SYMBOLS else f"{currency}{NBSP}{number}"
    return f"{number}{NBSP}{symbol}"


@register.filter
def amount_input(amount: Decimal | int | str | None) -> str:
    """An amount as a form's input shows it: the reader's way (``20 000,00`` in French,
    ``20,000.00`` in English), without its currency (the input's unit says it); nothing for
    none. ``read_amount`` reads it back, and the stored form too."""
    if amount is None or amount == "":
        return ""
    return _money(Decimal(amount), "", translation.get_language())


GROUPING = str.maketrans("", "", " \u00a0\u202f\u2009'")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")
# The amount columns are DECIMAL(18, 2): at most 16 digits before the mark.
AMOUNT_INTEGER_DIGITS = 16


class AmountTooLarge(ValueError):
    """A number with more digits before its mark than an amount column holds."""


def read_amount(text: str) -> Decimal | None:
    """An amount as people type it, in the reader's way or the stored one: ``20 000,00``,
    ``20000,00``, ``20000.00``, ``20,000.00`` (the last of ``.`` and ``,`` is the decimal
    mark; a lone ``,`` is one too, but an English ``20,000``); None for a blank;
    ``ValueError`` for what is not a number, ``AmountTooLarge`` (one) for more than 16
    digits before the mark (``lib.amounts.check_amount`` says so in the reader's words)."""
    cleaned = text.strip().translate(GROUPING)
    if not cleaned:
        return None
    dot, comma = cleaned.rfind("."), cleaned.rfind(",")
    if dot >= 0 and comma >= 0:
        mark = "." if dot > comma else ","
        grouping = "," if mark == "." else "."
        cleaned = cleaned.replace(grouping, "").replace(mark, ".")
    elif comma >= 0:
        groups = cleaned.lstrip("+-").split(",")
        english = translation.get_language() == "en"
        if english and len(groups) > 1 and all(len(g) == 3 for g in groups[1:]):
            cleaned = cleaned.replace(",", "")
        else:
            cleaned = cleaned.replace(",", ".")
    # Digits and one decimal mark only: no exponent ("1e999999" would pass Decimal and then
    # fail every quantize), and no more digits than an amount column holds.
    if not PLAIN_NUMBER.fullmatch(cleaned):
        raise ValueError(text)
    value = Decimal(cleaned)
    if value and value.adjusted() >= AMOUNT_INTEGER_DIGITS:
        raise AmountTooLarge(text)
    return value


@register.filter
def percent(value: Decimal | None) -> str:
    if value is None:
        return ""
    return _percent(Decimal(value), translation.get_language())


@functools.lru_cache(maxsize=CACHE_SIZE)
def _percent(value: Decimal, language: str | None) -> str:
    text = formats.number_format(value, 2, use_l10n=True)
    return f"{text}{NBSP}%" if language == "fr" else f"{text}%"


@register.filter
def short_date(value: date | str | None) -> str:
    """22/11/2026 in French; 22 Nov 2026 in English (never the ambiguous 11/22/2026). A
    date a JSON record keeps as ISO text reads the same; other text as it is."""
    if value is None or value == "":
        return ""
    day = value
    if isinstance(value, str):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return value
    assert isinstance(day, date)
    language = translation.get_language()
    return _date(day, "d/m/Y" if language == "fr" else "j M Y", language)


@register.filter
def long_date(value: date | None) -> str:
    if value is None:
        return ""
    return _date(value, "j F Y", translation.get_language())


def _date(value: date, fmt: str, language: str | None) -> str:
    if type(value) is date:  # not a datetime: equal ones in two time zones show two days
        return _plain_date(value, fmt, language)
    return formats.date_format(value, fmt)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _plain_date(value: date, fmt: str, language: str | None) -> str:
    return formats.date_format(value, fmt)


@receiver(setting_changed)
def _forget(**kwargs: Any) -> None:
    """Formats follow settings (USE_THOUSAND_SEPARATOR, FORMAT_MODULE_PATH...)."""
    for cached in (_money, _percent, _plain_date):
        cached.cache_clear()


# For texts written later in another language (timeline summaries, task titles, see
# ``ledger.timeline``): formatted when rendered, in the language then active.
lazy_money = lazy(money, str)
lazy_short_date = lazy(short_date, str)
