"""Checks on customer data, shared by imports, the console and the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
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
    "siren": (clean_siren, "is not a valid SIREN (9 digits with a valid check digit)"),
    "siret": (clean_siret, "is not a valid SIRET (14 digits with a valid check digit)"),
    "vat_number": (clean_vat, "is not a valid EU VAT number"),
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
                yield name, f"{value!r} {message}"
    if (
        fields.get("siren")
        and fields.get("siret")
        and not fields["siret"].startswith(fields["siren"])
    ):
        yield "siret", f"SIRET {fields['siret']} does not belong to SIREN {fields['siren']}"
    if (email := fields.get("email")) and email != stored.get("email"):
        try:
            validate_email(email)
        except ValidationError:
            yield "email", f"{email!r} is not an e-mail address"
    if (lang := fields.get("language")) and lang not in Language.values:
        yield "language", f"{lang!r} is not a supported language ({', '.join(Language.values)})"
    if (risk := fields.get("risk_class")) and risk not in RiskClass.values:
        yield "risk_class", f"{risk!r} is not a risk class ({', '.join(RiskClass.values)})"
    if (country := fields.get("country")) and not (len(country) == 2 and country.isalpha()):
        yield "country", f"{country!r} is not a two-letter country code"
    terms = fields.get("payment_terms_days")
    if terms is not None and not 0 <= terms <= 365:
        yield "payment_terms_days", f"{terms} days is not a plausible payment term"
