"""An organisation's identity: who the reminders come from, where replies go, and how to pay.

Reply address, phone, postal address, signature, SIREN, VAT number, IBAN and BIC are checked
with python-stdnum and Django's e-mail validator before anything is written; one call sets
several fields, all or none. The command line (``relance org set``) and the console call
``update_identity``; the e-mails call ``bank_details`` and ``payment_reference``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum import iso11649
from stdnum.eu import vat as stdnum_vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siren as stdnum_siren
from stdnum.iso7064 import mod_97_10

from relance.accounts.models import Organisation
from relance.audit import trail

if TYPE_CHECKING:
    from relance.ledger.models import Customer

# Shown and set in this order.
FIELDS = (
    "legal_name", "email", "phone", "address", "signature",
    "siren", "vat_number", "iban", "bic", "contact_gap",
)  # fmt: skip
MAX_CONTACT_GAP = 60
_PHONE = re.compile(r"\+?[0-9][0-9 .()\-]{3,30}")


class IdentityError(ValueError):
    """Values refused, by field; nothing was written."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {text}" for name, text in self.errors.items()))


def _text(limit: int, *, multiline: bool = False) -> Callable[[str], str]:
    def clean(value: str) -> str:
        value = value.replace("\r\n", "\n").strip()
        if not multiline and "\n" in value:
            raise ValueError("must be one line")
        if len(value) > limit:
            raise ValueError(f"at most {limit} characters")
        return value

    return clean


def _email(value: str) -> str:
    value = value.strip()
    try:
        validate_email(value)
    except ValidationError:
        raise ValueError(f"{value!r} is not an e-mail address") from None
    return value


def _phone(value: str) -> str:
    value = value.strip()
    if not _PHONE.fullmatch(value):
        raise ValueError(f"{value!r} is not a phone number (digits, spaces, + . - ( ))")
    return value


def _stdnum(module: Any, what: str) -> Callable[[str], str]:
    def clean(value: str) -> str:
        try:
            return str(module.validate(value))
        except StdnumError as error:
            raise ValueError(f"{value!r} is not a valid {what} ({error})") from None

    return clean


def _contact_gap(value: str | int) -> int:
    try:
        gap = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number of days") from None
    if not 0 <= gap <= MAX_CONTACT_GAP:
        raise ValueError(f"between 0 and {MAX_CONTACT_GAP} days")
    return gap


CLEANERS: dict[str, Callable[[Any], Any]] = {
    "legal_name": _text(200),
    "email": _email,
    "phone": _phone,
    "address": _text(500, multiline=True),
    "signature": _text(2000, multiline=True),
    "siren": _stdnum(stdnum_siren, "SIREN"),
    "vat_number": _stdnum(stdnum_vat, "EU VAT number"),
    "iban": _stdnum(stdnum_iban, "IBAN"),
    "bic": _stdnum(stdnum_bic, "BIC"),
    "contact_gap": _contact_gap,
}


def clean_identity(organisation: Organisation, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes as they will be stored (compact IBAN, upper-case BIC...), or
    ``IdentityError`` naming every bad field. An empty text clears its field."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in CLEANERS:
            errors[name] = "not a field of the organisation's identity"
            continue
        if isinstance(value, str) and not value.strip() and name not in ("contact_gap",):
            cleaned[name] = ""  # cleared
            continue
        try:
            cleaned[name] = CLEANERS[name](value)
        except ValueError as error:
            errors[name] = str(error)
    # A French VAT number is the SIREN with a key in front: the two must agree.
    siren = cleaned.get("siren", organisation.siren)
    vat = cleaned.get("vat_number", organisation.vat_number)
    if siren and vat.startswith("FR") and vat[4:] != siren and "vat_number" not in errors:
        field = "vat_number" if "vat_number" in cleaned else "siren"
        errors[field] = f"the VAT number {vat} is not that of SIREN {siren}"
    if errors:
        raise IdentityError(errors)
    return cleaned


def update_identity(
    organisation: Organisation, changes: Mapping[str, Any], *, user: Any = None
) -> Organisation:
    """Check then write ``changes`` (field name to value): all of them, or none. The audit
    trail keeps each field changed with its old and new value (``user`` did it, or the
    command's login)."""
    cleaned = clean_identity(organisation, changes)
    changed = {
        name: {"old": getattr(organisation, name), "new": value}
        for name, value in cleaned.items()
        if getattr(organisation, name) != value
    }
    if cleaned:
        with transaction.atomic():
            for name, value in cleaned.items():
                setattr(organisation, name, value)
            organisation.save(update_fields=list(cleaned))
            if changed:
                trail.record(organisation, "organisation.settings_changed", user=user,
                             target=organisation, summary="changed " + ", ".join(changed),
                             data={"changes": changed})  # fmt: skip
    return organisation


def identity_of(organisation: Organisation) -> dict[str, Any]:
    """What ``relance org show`` prints: the identity, and what is missing for e-mails."""
    values = {name: getattr(organisation, name) for name in FIELDS}
    return {
        "slug": organisation.slug,
        "name": organisation.name,
        "country": organisation.country,
        "currency": organisation.currency,
        "language": organisation.language,
        **values,
        "iban_formatted": stdnum_iban.format(organisation.iban) if organisation.iban else "",
        "ready_to_send": missing_for_email(organisation) is None,
    }


def missing_for_email(organisation: Organisation) -> str | None:
    """Why no reminder may be e-mailed for the organisation, or None: a reminder must say
    where to reply, so the organisation's reply address is required."""
    if organisation.email:
        return None
    return (
        f"organisation {organisation.slug!r} has no reply address: reminders would leave with "
        f"nowhere to answer. Set one with `relance org set --org {organisation.slug} "
        "--email ADDRESS`"
    )


# -- paying -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BankDetails:
    holder: str
    iban: str  # formatted in groups of four, as printed on an invoice
    bic: str
    reference: str  # the customer's payment reference, formatted


def bank_details(organisation: Organisation, customer: Customer) -> BankDetails | None:
    """What a message says about paying by transfer; None when the organisation has not
    given its IBAN (never invented)."""
    if not organisation.iban:
        return None
    return BankDetails(
        holder=organisation.legal_name or organisation.name,
        iban=stdnum_iban.format(organisation.iban),
        bic=organisation.bic,
        reference=iso11649.format(payment_reference(customer)),
    )


_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
MAX_REFERENCE_BODY = 21  # ISO 11649: RF, two check digits, then up to 21 characters


def payment_reference(customer: Customer) -> str:
    """The customer's ISO 11649 creditor reference (``RF`` + two check digits + the
    customer's reference), compact: ``C-0042`` gives ``RF28C0042``.

    Derived from the customer's account reference (its letters and digits, upper-cased), so
    that a transfer carrying it names the account in the organisation's books, and the same
    on every message and every install. A reference longer than 21 letters and digits, or
    without any, uses ``ID`` and the customer's number in Relance instead."""
    body = _NOT_ALNUM.sub("", customer.reference.upper())
    if not body or len(body) > MAX_REFERENCE_BODY:
        body = f"ID{customer.pk}"
    return f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}"
