"""The portal's forms: what the debtor types, checked field by field (the services check
the rest and their refusal is shown on the field it is about)."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from relance.dunning import plans
from relance.ledger.models import Channel, DisputeReason, Invoice
from relance.lib import controls

KEY = RegexValidator(r"^[A-Za-z0-9_-]{16,64}$")


def new_key() -> str:
    """A form's one-time key: the same form sent twice is done once."""
    return secrets.token_urlsafe(24)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class PortalForm(forms.Form):
    key = forms.CharField(widget=forms.HiddenInput, validators=[KEY])
    required_css_class = "required"

    def __init__(self, *args: Any, invoices: list[Invoice], **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("key", new_key())
        super().__init__(*args, **kwargs)
        self.open_invoices = invoices
        choices = [(str(i.pk), f"{i.number}") for i in invoices]
        for field in self.fields.values():
            # A name, a phone, an address line: one line each (a name "Paul\r\nBcc: ..."
            # made every later e-mail to the customer fail to build).
            if isinstance(field, forms.CharField) and not isinstance(field.widget, forms.Textarea):
                field.validators.append(controls.validate_one_line)
        for name, field in self.fields.items():
            if name in ("invoice", "invoices"):
                field.choices = (  # type: ignore[attr-defined]
                    [("", _("All my open invoices")), *choices]
                    if name == "invoice" and not field.required
                    else choices
                )

    def chosen(self, name: str) -> list[Invoice]:
        wanted = self.cleaned_data.get(name) or []
        if isinstance(wanted, str):
            wanted = [wanted] if wanted else []
        return [i for i in self.open_invoices if str(i.pk) in set(wanted)]


class PaidForm(PortalForm):
    paid_on = forms.DateField(label=_("Date of the payment"), widget=DateInput())
    amount = forms.DecimalField(
        label=_("Amount paid"), min_value=Decimal("0.01"), max_digits=16, decimal_places=2,
        localize=True,
    )  # fmt: skip
    currency = forms.ChoiceField(label=_("Currency"))
    reference = forms.CharField(
        label=_("Reference of the transfer or cheque"), max_length=96, required=False
    )
    invoices = forms.MultipleChoiceField(
        label=_("Invoices paid"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, currencies: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(c, c) for c in currencies]  # type: ignore[attr-defined]


class PromiseForm(PortalForm):
    promised_on = forms.DateField(label=_("I will pay on"), widget=DateInput())
    invoice = forms.ChoiceField(label=_("For"), required=False)
    amount = forms.DecimalField(
        label=_("Amount (optional)"), required=False, min_value=Decimal("0.01"), max_digits=16,
        decimal_places=2, localize=True,
    )  # fmt: skip


class DisputeForm(PortalForm):
    invoice = forms.ChoiceField(label=_("Invoice"))
    reason = forms.ChoiceField(label=_("Reason"), choices=DisputeReason.choices)
    comment = forms.CharField(
        label=_("What is wrong"), max_length=2000, required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )  # fmt: skip
    attachment = forms.FileField(
        label=_("A document (PDF, PNG or JPEG, 5 MB at most)"), required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg"}),
    )  # fmt: skip


class PlanForm(PortalForm):
    invoices = forms.MultipleChoiceField(label=_("Invoices"), widget=forms.CheckboxSelectMultiple)
    count = forms.IntegerField(label=_("Number of payments"), min_value=2, max_value=12)
    first = forms.DateField(label=_("First payment on"), widget=DateInput())
    period = forms.ChoiceField(label=_("One payment"), choices=list(plans.PERIODS.items()))


class ContactForm(PortalForm):
    name = forms.CharField(label=_("Your name"), max_length=200)
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=32, required=False)
    preferred_channel = forms.ChoiceField(
        label=_("How we should reach you"),
        choices=[(c, label) for c, label in Channel.choices if c != Channel.PHONE],
    )
    line1 = forms.CharField(label=_("Postal address"), max_length=200, required=False)
    line2 = forms.CharField(label=_("Address (continued)"), max_length=200, required=False)
    postcode = forms.CharField(label=_("Postcode"), max_length=16, required=False)
    city = forms.CharField(label=_("City"), max_length=100, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        channel = data.get("preferred_channel")
        if channel == Channel.EMAIL and not data.get("email"):
            self.add_error("email", _("Give an e-mail address to be reached by e-mail."))
        if channel == Channel.SMS and not data.get("phone"):
            self.add_error("phone", _("Give a mobile number to be reached by text message."))
        if channel == Channel.LETTER and not (data.get("line1") and data.get("city")):
            self.add_error("line1", _("Give a postal address to be reached by letter."))
        if data.get("line1") and not data.get("city"):
            self.add_error("city", _("Give the city of the address."))
        return data

    def address(self) -> dict[str, str] | None:
        data = self.cleaned_data
        if not data.get("line1"):
            return None
        return {name: data.get(name) or "" for name in ("line1", "line2", "postcode", "city")}
