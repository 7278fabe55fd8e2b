"""An organisation's identity and settings: who the reminders come from, where replies go,
how to pay, and the defaults of its dunning (minimum balance, contact gap, promise grace,
closed days).

Reply address, phone, postal address, signature, SIREN, VAT number, IBAN and BIC are checked
with python-stdnum and Django's e-mail validator before anything is written; one call sets
several fields, all or none. The command line (``relance org set``) and the console's
settings pages call ``update_identity``; the e-mails call ``bank_details``,
``payment_reference`` and ``sender_of``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum import iso11649
from stdnum.eu import vat as stdnum_vat
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
)
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siren as stdnum_siren
from stdnum.iso7064 import mod_97_10

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.ledger.timeline import Text, lazy_listed
from relance.lib.amounts import Bound, check_amount
from relance.lib.dates import out_of_range

if TYPE_CHECKING:
    from django.http import HttpRequest

    from relance.ledger.models import Customer

# Shown and set in this order.
FIELDS = (
    "name", "legal_name", "email", "phone", "address", "signature",
    "siren", "vat_number", "iban", "bic", "contact_gap",
    "sender_name", "reply_to", "letterhead", "min_balance", "promise_grace_days",
    "closed_days",
)  # fmt: skip
# Fields that cannot be emptied: a name, and the numbers the engine reads.
REQUIRED = frozenset({"name", "contact_gap", "min_balance", "promise_grace_days"})
MAX_CONTACT_GAP = 60
MAX_GRACE_DAYS = 30  # as ``relance promise add --grace``
MAX_MIN_BALANCE = Decimal("1000000")
MAX_CLOSED_DAYS = 366
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
            raise ValueError(_("one line only"))
        if len(value) > limit:
            raise ValueError(_("at most %(n)s characters") % {"n": limit})
        return value

    return clean


def _email(value: str) -> str:
    value = value.strip()
    try:
        validate_email(value)
    except ValidationError:
        raise ValueError(_("“%(value)s” is not an e-mail address") % {"value": value}) from None
    return value


def _phone(value: str) -> str:
    value = value.strip()
    if not _PHONE.fullmatch(value):
        raise ValueError(
            _("“%(value)s” is not a phone number (digits, spaces, + . - ( ))") % {"value": value}
        )
    return value


# Why python-stdnum refused a number, in the reader's language.
STDNUM_REASONS = {
    InvalidChecksum: gettext_noop("its check digits are wrong"),
    InvalidLength: gettext_noop("it has the wrong number of characters"),
    InvalidFormat: gettext_noop("it is not written as one is"),
    InvalidComponent: gettext_noop("a part of it does not exist"),
}


def _stdnum(module: Any, what: str) -> Callable[[str], str]:
    def clean(value: str) -> str:
        try:
            return str(module.validate(value))
        except StdnumError as error:
            why = STDNUM_REASONS.get(type(error))
            message = _("“%(value)s” is not a valid %(what)s") % {"value": value, "what": _(what)}
            raise ValueError(f"{message} ({_(why)})" if why else message) from None

    return clean


def _days(limit: int) -> Callable[[str | int], int]:
    def clean(value: str | int) -> int:
        try:
            days = int(value)
        except (TypeError, ValueError):
            raise ValueError(_("“%(value)s” is not a number of days") % {"value": value}) from None
        if not 0 <= days <= limit:
            raise ValueError(_("between 0 and %(n)s days") % {"n": limit})
        return days

    return clean


_contact_gap = _days(MAX_CONTACT_GAP)


def _amount(value: str | Decimal) -> Decimal:
    """Typed the reader's way (20 000,50) or the stored one; zero or more (the minimum
    balance: an invoice owing this much or less is not dunned)."""
    amount = check_amount(
        value, gettext_lazy("Minimum balance"), Bound.ZERO_OR_MORE, maximum=MAX_MIN_BALANCE
    )
    if amount is None:
        raise ValueError(f"{value!r} is not an amount")
    return amount


def _closed_days(value: str | Iterable[str | dt.date]) -> list[str]:
    """Days as ISO dates, sorted, each once: a list, or a text of dates separated by commas
    or spaces (``relance org set --closed-days``)."""
    texts = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    days: set[dt.date] = set()
    for text in texts:
        try:
            day = text if isinstance(text, dt.date) else dt.date.fromisoformat(str(text).strip())
        except ValueError:
            raise ValueError(
                _("“%(text)s” is not a date: use YYYY-MM-DD") % {"text": text}
            ) from None
        if problem := out_of_range(day):
            raise ValueError(problem)
        days.add(day)
    if len(days) > MAX_CLOSED_DAYS:
        raise ValueError(_("at most %(n)s days") % {"n": MAX_CLOSED_DAYS})
    return [day.isoformat() for day in sorted(days)]


CLEANERS: dict[str, Callable[[Any], Any]] = {
    "name": _text(200),
    "legal_name": _text(200),
    "email": _email,
    "phone": _phone,
    "address": _text(500, multiline=True),
    "signature": _text(2000, multiline=True),
    "siren": _stdnum(stdnum_siren, gettext_noop("SIREN")),
    "vat_number": _stdnum(stdnum_vat, gettext_noop("EU VAT number")),
    "iban": _stdnum(stdnum_iban, gettext_noop("IBAN")),
    "bic": _stdnum(stdnum_bic, gettext_noop("BIC")),
    "contact_gap": _contact_gap,
    "sender_name": _text(200),
    "reply_to": _email,
    "letterhead": _text(1000, multiline=True),
    "min_balance": _amount,
    "promise_grace_days": _days(MAX_GRACE_DAYS),
    "closed_days": _closed_days,
}


def clean_identity(organisation: Organisation, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes as they will be stored (compact IBAN, upper-case BIC...), or
    ``IdentityError`` naming every bad field. An empty text clears its field."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in CLEANERS:
            errors[name] = _("not a field of the organisation's identity")
            continue
        if isinstance(value, str) and not value.strip():
            if name in REQUIRED:
                errors[name] = _("required")
            else:
                cleaned[name] = [] if name == "closed_days" else ""  # cleared
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
        errors[field] = _("the VAT number %(vat)s is not that of SIREN %(siren)s") % {
            "vat": vat,
            "siren": siren,
        }
    if errors:
        raise IdentityError(errors)
    return cleaned


def _field_name(name: str) -> Any:
    """An identity field by its name for a reader (lazily, in the text's language)."""
    field: Any = Organisation._meta.get_field(name)
    return field.verbose_name


def update_identity(
    organisation: Organisation,
    changes: Mapping[str, Any],
    *,
    user: Any = None,
    request: HttpRequest | None = None,
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
                             target=organisation,
                             summary=Text(gettext_noop("changed %(fields)s"),
                                          {"fields": lazy_listed(*map(_field_name, changed))}),
                             data={"changes": changed}, request=request)  # fmt: skip
    return organisation


def add_closed_days(
    organisation: Organisation, days: Iterable[dt.date | str], **by: Any
) -> Organisation:
    """Company closure days added to those known (a day already there is no change)."""
    return update_identity(organisation, {"closed_days": [*organisation.closed_days, *days]}, **by)


def remove_closed_days(
    organisation: Organisation, days: Iterable[dt.date | str], **by: Any
) -> Organisation:
    gone = {str(day) for day in days}
    kept = [day for day in organisation.closed_days if day not in gone]
    return update_identity(organisation, {"closed_days": kept}, **by)


def sender_of(organisation: Organisation) -> tuple[str, str]:
    """The name e-mails go out under and the address replies go to: the sender name and
    reply-to address when set, else the organisation's name and e-mail."""
    return (
        organisation.sender_name or organisation.name,
        organisation.reply_to or organisation.email,
    )


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
        "logo": bool(organisation.logo),
        "ready_to_send": missing_for_email(organisation) is None,
    }


# Kept in English by what stores it (a run's record); shown translated (run_errors.shown).
NO_REPLY_ADDRESS = gettext_noop(
    "organisation %(organisation)s has no reply address: reminders would leave with nowhere"
    " to answer. Set one with `relance org set --org %(slug)s --email ADDRESS`"
)


def missing_for_email(organisation: Organisation) -> str | None:
    """Why no reminder may be e-mailed for the organisation, or None: a reminder must say
    where to reply, so the organisation's reply address is required."""
    if organisation.email:
        return None
    return NO_REPLY_ADDRESS % {"organisation": repr(organisation.slug), "slug": organisation.slug}


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
    body = _reference_body(customer.reference, customer.pk)
    return f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}"


def _reference_body(reference: str, pk: int | None) -> str:
    body = _NOT_ALNUM.sub("", reference.upper())
    if not body or len(body) > MAX_REFERENCE_BODY:
        body = f"ID{pk}"
    return body


# Where a creditor reference starts in a bank's text: RF and two check digits, not inside a
# word (``INTERF12`` is no reference).
_RF_START = re.compile(r"(?<![0-9A-Z])RF[0-9]{2}")
_RF_TAIL = re.compile(r"[0-9A-Z ]*")
_ID_BODY = re.compile(r"ID([0-9]{1,18})")
REFERENCES_A_QUERY = 200


def references_in(text: str) -> list[str]:
    """The valid ISO 11649 references ``text`` may carry (a transfer's reference or memo),
    compact and upper-case, longest first: ``"Virement rf28 c004 2 facture 12"`` gives
    ``["RF28C0042"]``. Written in groups or not, in any case.

    A reference ends where the text has a character other than a letter, a digit or a
    space, or at a space: each way of ending it at a space is tried (the words after it
    are the rest of the memo), and those whose check digits hold are kept. Without a
    space or punctuation after it, a reference glued to the next word is not found."""
    upper = text.upper()
    found: list[str] = []
    for start in _RF_START.finditer(upper):
        tail = _RF_TAIL.match(upper, start.end())
        words = tail[0].split() if tail else []
        body = ""
        candidates = []
        for word in words:
            body += word
            if len(body) > MAX_REFERENCE_BODY:
                break
            candidates.append(start[0] + body)
        found += [c for c in reversed(candidates) if iso11649.is_valid(c) and c not in found]
    return found


def customers_by_reference(
    organisation: Organisation, references: Iterable[str]
) -> dict[str, list[Customer]]:
    """The customers of ``organisation`` whose payment reference (``payment_reference``)
    each of ``references`` (compact RF references) is: one query for a few hundred, one
    reading of the ledger's references for more (a whole import file), never one a
    reference. A reference nobody has is absent; a list of two or more when customer
    references differ only by what the RF reference leaves out (``C-0042`` and ``C0042``)."""
    from relance.ledger.models import Customer

    wanted = {ref for ref in references if iso11649.is_valid(ref)}
    if not wanted:
        return {}
    bodies = sorted({ref[4:] for ref in wanted})
    if len(bodies) > REFERENCES_A_QUERY:
        # Many (a bank's whole statement): every reference of the ledger read once, in
        # less time than a pattern for each few hundred.
        wanted_bodies = set(bodies)
        pks = [
            pk
            for pk, reference in Customer.objects.filter(organisation=organisation)
            .values_list("pk", "reference")
            .iterator(chunk_size=10000)
            if _reference_body(reference, pk) in wanted_bodies
        ]
        queries = [Q(pk__in=pks[start : start + 10000]) for start in range(0, len(pks), 10000)]
    else:
        # A customer reference whose letters and digits are the body, whatever stands
        # between them (``c-0042`` for ``C0042``): one pattern (letters and digits alone,
        # nothing to escape); and the customers named by their number (``ID42``).
        between = "[^0-9a-z]*"
        pattern = "|".join(between.join(body) for body in bodies)
        ids = [int(m[1]) for body in bodies if (m := _ID_BODY.fullmatch(body))]
        queries = [Q(reference__iregex=f"^{between}({pattern}){between}$") | Q(pk__in=ids)]
    found: dict[str, list[Customer]] = {}
    for matches in queries:
        query = Customer.objects.filter(matches, organisation=organisation)
        for customer in query.order_by("reference"):
            rf = payment_reference(customer)
            if rf in wanted and customer not in found.get(rf, []):
                found.setdefault(rf, []).append(customer)
    return found


def customer_for_reference(organisation: Organisation, text: str) -> Customer | None:
    """The customer whose payment reference ``text`` carries (a transfer's reference or
    memo, see ``references_in``), or None: none there, nobody's, or several customers'."""
    candidates = references_in(text)
    owners = customers_by_reference(organisation, candidates)
    for reference in candidates:
        if len(owners.get(reference, ())) == 1:
            return owners[reference][0]
    return None
