"""The problems both ways of applying a file find (``apply`` for a batch, ``stream`` for a
first import a chunk at a time), said once, in the reader's language."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _


def number_twice(number: str, other_row: int | None) -> str:
    return _("invoice number %(number)s appears twice (also row %(row)s)") % {
        "number": repr(number), "row": other_row,
    }  # fmt: skip


def reference_twice(reference: str, other_row: int | None) -> str:
    return _("payment reference %(reference)s appears twice (also row %(row)s)") % {
        "reference": repr(reference), "row": other_row,
    }  # fmt: skip


def lookalike_numbers(number: str, other: str, other_row: int | None) -> str:
    return _(
        "invoice number %(number)s differs only by case or spaces from "
        "%(other)s (row %(row)s): the same invoice twice?"
    ) % {"number": repr(number), "other": repr(other), "row": other_row}


def not_positive(amount: Decimal) -> str:
    return _("%(amount)s is not positive") % {"amount": amount}


def no_payment(reference: str) -> str:
    return _("no payment %(reference)s") % {"reference": repr(reference)}


def no_invoice(number: str) -> str:
    return _("no invoice %(number)s") % {"number": repr(number)}


def currencies_differ(payment: str, currency: str, invoice: str, invoice_currency: str) -> str:
    return _(
        "payment %(payment)s in %(currency)s cannot settle invoice %(invoice)s "
        "in %(invoice_currency)s"
    ) % {
        "payment": payment, "currency": currency, "invoice": invoice,
        "invoice_currency": invoice_currency,
    }  # fmt: skip
