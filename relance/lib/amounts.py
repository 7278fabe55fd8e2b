"""An amount a person types in a field, checked one way everywhere: the console's forms
(promises, disputes, credit notes, instalments, calls, scenario steps and rules, the
organisation's minimum balance), the bank queue's allocations, ``relance org set``.

``formatting.read_amount`` reads the text (the reader's way, ``1 234,56`` or
``1,234.56``, or the stored one, ``1234.56``; never ``1e5``); ``check_amount`` adds the
field's bound and says what is wrong in the reader's language, naming the field, with an
example written the reader's way. ``AmountField`` is the same check as a Django form field.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from relance.channels.formatting import AMOUNT_INTEGER_DIGITS, AmountTooLarge, amount_input
from relance.channels.formatting import read_amount as _read

CENT = Decimal("0.01")
# What an amount column (DECIMAL(18, 2)) holds at most.
LARGEST = Decimal(10) ** AMOUNT_INTEGER_DIGITS - CENT
EXAMPLE = Decimal("1234.56")


class Bound(enum.Enum):
    ABOVE_ZERO = "above zero"  # a payment, a promise, a disputed amount, a credit note
    ZERO_OR_MORE = "zero or more"  # a threshold


class AmountError(ValueError):
    """An amount refused; its text names the field and says why, in the reader's
    language."""


def check_amount(
    text: str | Decimal | int,
    label: Any,
    bound: Bound = Bound.ABOVE_ZERO,
    *,
    maximum: Decimal | None = None,
) -> Decimal | None:
    """The amount typed in the field ``label``, in cents (``Decimal('1234.50')``); None for a
    blank; ``AmountError`` for what is not an amount within ``bound`` and ``maximum``
    (at most two decimals, as many digits as an amount column holds)."""
    field = str(label)
    try:
        value = _read(str(text))
    except AmountTooLarge:
        value = LARGEST + 1
    except ValueError:
        raise AmountError(
            _("%(field)s: “%(text)s” is not an amount (write it like %(example)s)")
            % {"field": field, "text": str(text).strip(), "example": amount_input(EXAMPLE)}
        ) from None
    if value is None:
        return None
    if bound is Bound.ABOVE_ZERO and value <= 0:
        raise AmountError(_("%(field)s: the amount must be above zero") % {"field": field})
    if value < 0:
        raise AmountError(_("%(field)s: the amount cannot be below zero") % {"field": field})
    if value != value.quantize(CENT):
        raise AmountError(_("%(field)s: at most two decimals (cents)") % {"field": field})
    largest = LARGEST if maximum is None else min(maximum, LARGEST)
    if value > largest:
        raise AmountError(
            _("%(field)s: at most %(maximum)s") % {"field": field, "maximum": amount_input(largest)}
        )
    return value.quantize(CENT)


class AmountField(forms.Field):
    """``check_amount`` as a form field: a text input (``inputmode="decimal"``, so that
    ``1 234,56`` can be typed), the value shown the reader's way."""

    widget = forms.TextInput
    default_error_messages = {"required": gettext_lazy("%(field)s: an amount is needed")}

    def __init__(
        self, *, bound: Bound = Bound.ABOVE_ZERO, maximum: Decimal | None = None, **kwargs: Any
    ) -> None:
        self.bound, self.maximum = bound, maximum
        super().__init__(**kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        return {**super().widget_attrs(widget), "inputmode": "decimal"}

    def prepare_value(self, value: Any) -> Any:
        return amount_input(value) if isinstance(value, Decimal | int) else value

    def to_python(self, value: Any) -> Decimal | None:
        if value in self.empty_values:
            return None
        try:
            return check_amount(value, self.label or _("Amount"), self.bound, maximum=self.maximum)
        except AmountError as error:
            raise forms.ValidationError(str(error), code="invalid") from None

    def validate(self, value: Any) -> None:
        if value is None and self.required:
            field = self.label or _("Amount")
            raise forms.ValidationError(
                self.error_messages["required"] % {"field": field}, code="required"
            )
