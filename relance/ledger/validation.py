"""Checks on customer data, shared by imports, the console and the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from stdnum.eu import vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siren, siret

from relance.ledger.models import Language, RiskClass


def clean_siren(value: str) -> str:
    return siren.validate(value)


def clean_siret(value: str) -> str:
    return siret.validate(value)


def clean_vat(value: str) -> str:
    return vat.validate(value)


_CHECKS = {
    "siren": (
        clean_siren,
        gettext_lazy("%(value)s is not a valid SIREN (9 digits with a valid check digit)"),
    ),
    "siret": (
        clean_siret,
        gettext_lazy("%(value)s is not a valid SIRET (14 digits with a valid check digit)"),
    ),
    "vat_number": (clean_vat, gettext_lazy("%(value)s is not a valid EU VAT number")),
}


def check_customer_fields(
    fields: dict[str, Any], stored: dict[str, Any] | None = None
) -> Iterator[tuple[str, str]]:
    """(field, message) for each value that is wrong; normalises valid identifiers in place.

    ``stored`` is the customer as the ledger holds it: a value equal to its own was checked
    when it was stored and is not checked again (a re-import names every customer as it is,
    and the identifiers' check digits were most of its checks)."""
    stored = stored or {}
    for name, (clean, message) in _CHECKS.items():
        value = fields.get(name)
        if value and value != stored.get(name):
            try:
                fields[name] = clean(value)
            except StdnumError:
                yield name, str(message) % {"value": repr(value)}
    if (
        fields.get("siren")
        and fields.get("siret")
        and not fields["siret"].startswith(fields["siren"])
    ):
        yield "siret", _("SIRET %(siret)s does not belong to SIREN %(siren)s") % {
            "siret": fields["siret"], "siren": fields["siren"]
        }  # fmt: skip
    if (email := fields.get("email")) and email != stored.get("email"):
        try:
            validate_email(email)
        except ValidationError:
            yield "email", _("%(value)s is not an e-mail address") % {"value": repr(email)}
    if (lang := fields.get("language")) and lang not in Language.values:
        yield "language", _("%(value)s is not a supported language (%(choices)s)") % {
            "value": repr(lang), "choices": ", ".join(Language.values)
        }  # fmt: skip
    if (risk := fields.get("risk_class")) and risk not in RiskClass.values:
        yield "risk_class", _("%(value)s is not a risk class (%(choices)s)") % {
            "value": repr(risk), "choices": ", ".join(RiskClass.values)
        }  # fmt: skip
    if (country := fields.get("country")) and not (len(country) == 2 and country.isalpha()):
        yield "country", _("%(value)s is not a two-letter country code") % {"value": repr(country)}
    terms = fields.get("payment_terms_days")
    if terms is not None and not 0 <= terms <= 365:
        yield (
            "payment_terms_days",
            _("%(days)s days is not a plausible payment term") % {"days": terms},
        )
