"""Sentences the domain code says about a decision (why a scenario applies, why no penalty
is computed): a message marked with ``gettext_noop`` and its values. The record (a run's
explanation, the command line, an exception's text) keeps them in English (``written``);
a page shows them in its reader's language, built from the same message and values when
the page is (``shown``): never translated from a text already written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

from django.utils import formats
from django.utils.translation import gettext

from relance.channels.formatting import money, short_date

# ``written`` or ``shown``: how a caller wants the sentences said.
Say = Callable[[str, Mapping[str, Any]], str]
NO_VALUES: Mapping[str, Any] = MappingProxyType({})


class Sentence(NamedTuple):
    message: str  # marked with gettext_noop
    values: Mapping[str, Any] = NO_VALUES  # a value may be a Sentence itself

    def __str__(self) -> str:
        return written(self.message, self.values)

    def shown(self) -> str:
        return shown(self.message, self.values)


class Money(NamedTuple):
    """An amount a sentence says with its currency: written as the record always wrote it
    (``12000.00``), shown as ``money`` writes it (``12 000,00 €``)."""

    amount: Decimal
    currency: str = ""

    def __str__(self) -> str:
        return str(self.amount)


# The sentence in English, its values as Python writes them (dates in ISO; a Sentence value
# by its ``__str__``): the string's own formatting, called without a Python frame, as the
# dunning run says why once per customer.
written: Say = str.__mod__


def shown(message: str, values: Mapping[str, Any] = NO_VALUES) -> str:
    """The sentence in the active language, its dates and numbers as the console writes
    them."""
    return gettext(message) % {k: _shown(v) for k, v in values.items()}


def _shown(value: Any) -> Any:
    if isinstance(value, Sentence):
        return value.shown()
    if isinstance(value, Money):
        return money(value.amount, value.currency)
    if isinstance(value, dt.date):
        return short_date(value)  # 01/07/2026, 1 Jul 2026: never the ambiguous 07/01/2026
    if isinstance(value, Decimal):
        return formats.number_format(value, use_l10n=True, force_grouping=True)
    return value
