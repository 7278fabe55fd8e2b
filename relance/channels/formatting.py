"""Template filters for messages: money and dates the way the reader's language writes them.

Rendered inside ``translation.override(language)``, so Django's locale formats apply:
``1 234,56 €`` in French, ``€1,234.56`` in English.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django import template
from django.utils import formats, translation

register = template.Library()

SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}
NBSP = "\u00a0"


@register.filter
def money(amount: Decimal | int | None, currency: str = "") -> str:
    if amount is None:
        return ""
    number = formats.number_format(Decimal(amount), 2, use_l10n=True, force_grouping=True)
    symbol = SYMBOLS.get(currency, currency)
    if not symbol:
        return number
    if translation.get_language() == "en":
        # English puts a symbol before the amount, a code before it with a space.
        return f"{symbol}{number}" if currency in SYMBOLS else f"{currency}{NBSP}{number}"
    return f"{number}{NBSP}{symbol}"


@register.filter
def percent(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = formats.number_format(Decimal(value), 2, use_l10n=True)
    return f"{text}{NBSP}%" if translation.get_language() == "fr" else f"{text}%"


@register.filter
def short_date(value: date | None) -> str:
    """22/11/2026 in French; 22 Nov 2026 in English (never the ambiguous 11/22/2026)."""
    if value is None:
        return ""
    fmt = "d/m/Y" if translation.get_language() == "fr" else "j M Y"
    return formats.date_format(value, fmt)


@register.filter
def long_date(value: date | None) -> str:
    if value is None:
        return ""
    return formats.date_format(value, "j F Y")
