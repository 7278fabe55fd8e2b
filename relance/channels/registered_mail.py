"""Registered letters after they are written: posted by hand or through an online provider,
tracked, and their acknowledgement of receipt (AR) kept as proof.

- ``prepare`` records a letter (its PDF, the address it goes to, AR or not); the letter
  channel calls it. Without a provider a person posts it and enters its tracking number
  (``record_posting``) and what came back (``record_receipt``).
- With a provider (``RELANCE_REGISTERED_MAIL_PROVIDER``), ``sync`` submits the prepared
  letters (``submit_due``) and polls the others until they end: acknowledged, returned or
  failed. A provider is a module with a class that follows ``Provider``; the registry
  ``RELANCE_REGISTERED_MAIL_PROVIDERS`` names it.
- ``receipt_date`` is the one rule for the day a formal notice's deadline counts from.

Every change lands on the customer's timeline and in the audit trail, once: each service is
idempotent (the same entry twice changes nothing the second time).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from relance.audit import trail
from relance.channels.models import RegisteredLetter, RegisteredStatus, ReturnReason
from relance.ledger import timeline
from relance.ledger.postal import PostalAddress
from relance.ledger.timeline import Text

Status = RegisteredStatus

# A letter only moves forward; the three ends are final.
RANK = {
    Status.PREPARED: 0,
    Status.SUBMITTED: 1,
    Status.POSTED: 2,
    Status.DELIVERED: 3,
    Status.ACKNOWLEDGED: 4,
    Status.RETURNED: 4,
    Status.FAILED: 4,
}
FINAL = {Status.ACKNOWLEDGED, Status.RETURNED, Status.FAILED}
OPEN = [Status.SUBMITTED, Status.POSTED, Status.DELIVERED]

PROOF_TYPES = {b"%PDF-": "pdf", b"\x89PNG": "png", b"\xff\xd8\xff": "jpg", b"PK\x03\x04": "zip"}
PROOF_MAX_BYTES = 10 * 1024 * 1024
MAX_ATTEMPTS = 8  # a provider that fails this often in a row: the letter is failed
TASK_KIND = "registered_failed"


class RegisteredMailError(ValueError):
    """Input refused, nothing written: the message says which field and why."""


# -- addresses ---------------------------------------------------------------------------


# -- tracking numbers --------------------------------------------------------------------

_DOMESTIC = re.compile(r"[0-9][A-Z][0-9]{11}")  # La Poste: "1A 123 456 7890 1"
_S10 = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")  # UPU S10 (international): "RR123456785FR"
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial: str) -> int:
    """The UPU S10 check digit of an eight-digit serial number."""
    remainder = 11 - sum(int(d) * w for d, w in zip(serial, _S10_WEIGHTS, strict=True)) % 11
    return {10: 0, 11: 5}.get(remainder, remainder)


def tracking_number(text: str) -> str:
    """A registered letter's number, normalised (no spaces, upper case), or
    RegisteredMailError saying what is wrong. La Poste's domestic numbers are 13
    characters, a digit, a letter and eleven digits ("1A 123 456 7890 1"); La Poste does
    not publish their check digit's rule, so only their form is checked. International
    ones follow the UPU S10 standard (two letters, eight digits, a check digit, the
    country: "RR 12345678 5 FR"), whose check digit is verified."""
    number = re.sub(r"[\s.-]", "", text or "").upper()
    if not number:
        raise RegisteredMailError(_("Give the tracking number printed on the receipt."))
    if _DOMESTIC.fullmatch(number):
        return number
    if _S10.fullmatch(number):
        if s10_check_digit(number[2:10]) != int(number[10]):
            raise RegisteredMailError(
                _("Tracking number %(number)s: its check digit is wrong (a typing error?).")
                % {"number": number}
            )
        return number
    raise RegisteredMailError(
        _("Tracking number %(number)r is not a registered letter's number: 13 characters, "
          "like 1A 123 456 7890 1 (or RR 12345678 5 FR abroad).") % {"number": text}
    )  # fmt: skip


# -- the legal date ----------------------------------------------------------------------


def receipt_date(letter: RegisteredLetter) -> dt.date | None:
    """The day a formal notice sent by this letter counts as received, from which its
    deadline runs: the date signed on the AR; for a letter refused, or not collected at the
    post office, the day it was first presented (the addressee could have taken it that
    day); for a letter delivered without AR, its delivery. None while it travels, and for
    a letter that never reached its addressee (undeliverable): no deadline runs."""
    if letter.status == Status.ACKNOWLEDGED:
        return letter.acknowledged_on
    if letter.status == Status.RETURNED:
        if letter.return_reason in (ReturnReason.REFUSED, ReturnReason.NOT_COLLECTED):
            return letter.presented_on
        return None
    if letter.status == Status.DELIVERED:
        return letter.delivered_on
    return None


# -- the providers -----------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    acknowledgement: bool = True  # avis de réception
    colour: bool = False
    duplex: bool = False
    reference: str = ""  # ours, as the provider keeps it (e.g. "relance-42")
    name: str = ""  # what the provider's lists show


@dataclass(frozen=True)
class Submission:
    provider_id: str
    tracking_number: str = ""


@dataclass(frozen=True)
class TrackingEvent:
    code: str
    label: str
    at: str  # ISO 8601, as the provider gave it


@dataclass(frozen=True)
class Tracking:
    """What a provider knows of a letter, in Relance's terms; dates only when known."""

    status: str  # a RegisteredStatus value
    tracking_number: str = ""
    posted_on: dt.date | None = None
    presented_on: dt.date | None = None
    delivered_on: dt.date | None = None
    acknowledged_on: dt.date | None = None
    returned_on: dt.date | None = None
    return_reason: str = ""
    detail: str = ""  # why it failed, in the provider's words
    events: tuple[TrackingEvent, ...] = ()


@dataclass(frozen=True)
class Proof:
    content: bytes
    content_type: str


class ProviderError(Exception):
    """The provider could not do it. ``temporary``: try again later (its server failed or
    could not be reached); otherwise it refused the letter and a person must look."""

    def __init__(self, message: str, *, temporary: bool):
        super().__init__(message)
        self.temporary = temporary


class Provider(Protocol):
    """An online registered-mail service. ``state`` is the letter's ``provider_data``: a
    provider keeps there, as it goes, what it created (so that a submission interrupted
    half-way resumes rather than posts twice) and what it needs to find the letter again."""

    name: str

    def submit(
        self, pdf: bytes, recipient: PostalAddress, sender: PostalAddress, options: Options,
        state: dict[str, Any],
    ) -> Submission: ...  # fmt: skip

    def track(self, provider_id: str, state: Mapping[str, Any]) -> Tracking: ...

    def proof(self, provider_id: str, state: Mapping[str, Any], status: str) -> Proof | None:
        """The AR scan (acknowledged) or the provider's proof for the letter, if any yet."""
        ...


def provider(name: str) -> Provider:
    """The provider registered under ``name`` (settings.RELANCE_REGISTERED_MAIL_PROVIDERS)."""
    registry: dict[str, str] = settings.RELANCE_REGISTERED_MAIL_PROVIDERS
    if name not in registry:
        raise RegisteredMailError(
            _("Unknown registered-mail provider %(name)r (known: %(known)s).")
            % {"name": name, "known": ", ".join(sorted(registry)) or "-"}
        )
    found: Provider = import_string(registry[name])()
    return found


# -- preparing ---------------------------------------------------------------------------


def prepare(
    communication: Any | None,
    organisation: Any,
    customer: Any,
    pdf: bytes,
    recipient: PostalAddress,
    acknowledgement: bool = True,
    *,
    provider_name: str | None = None,
    user: Any = None,
) -> RegisteredLetter:
    """Record a registered letter to send: the letter channel calls it with the PDF it
    rendered. Sent through ``provider_name`` (default: the setting; "" = posted by hand).
    Once per communication: called again, it returns the letter already recorded."""
    if communication is not None:
        existing = RegisteredLetter.objects.filter(communication=communication).first()
        if existing is not None:
            return existing
        if (communication.organisation_id, communication.customer_id) != (
            organisation.pk,
            customer.pk,
        ):
            raise RegisteredMailError(_("This message is not to this customer."))
    if customer.organisation_id != organisation.pk:
        raise RegisteredMailError(_("This customer is not of this organisation."))
    if not pdf.startswith(b"%PDF-"):
        raise RegisteredMailError(_("The letter is not a PDF."))
    if problem := recipient.problem():
        raise RegisteredMailError(problem)
    name = settings.RELANCE_REGISTERED_MAIL_PROVIDER if provider_name is None else provider_name
    if name:
        provider(name)  # an unknown name fails here, not at the first sync
    with transaction.atomic():
        letter = RegisteredLetter(
            organisation=organisation, customer=customer, communication=communication,
            recipient=recipient.as_dict(), acknowledgement=acknowledgement, provider=name,
        )  # fmt: skip
        letter.letter.save(f"letter-{secrets.token_hex(8)}.pdf", ContentFile(pdf), save=False)
        letter.save()
        _note(letter, "registered.prepared",
              Text(gettext_noop("Registered letter prepared for %(city)s"),
                   {"city": recipient.city}), user=user)  # fmt: skip
    return letter


# -- by hand ------------------------------------------------------------------------------


def record_posting(
    letter: RegisteredLetter, number: str, posted_on: dt.date, user: Any = None
) -> RegisteredLetter:
    """A person posted the letter: its tracking number and the day on the post office's
    receipt. The same entry again changes nothing; a letter already delivered or ended
    keeps its number."""
    number = tracking_number(number)
    zone = _zone(letter.organisation)
    if posted_on > timezone.localdate(timezone=zone):
        raise RegisteredMailError(_("The posting date %(day)s is in the future.")
                                  % {"day": posted_on.isoformat()})  # fmt: skip
    if posted_on < timezone.localtime(letter.created_at, zone).date():
        raise RegisteredMailError(_("The posting date %(day)s is before the letter was "
                                    "written.") % {"day": posted_on.isoformat()})  # fmt: skip
    with transaction.atomic():
        letter = _locked(letter)
        if letter.tracking_number == number and letter.posted_on == posted_on:
            return letter
        if letter.provider:
            raise RegisteredMailError(
                _("This letter is posted by %(provider)s: its number comes from it.")
                % {"provider": letter.provider}
            )
        if RANK[Status(letter.status)] > RANK[Status.POSTED]:
            raise RegisteredMailError(
                _("This letter is already %(status)s: its posting cannot change.")
                % {"status": letter.get_status_display().lower()}
            )
        letter.tracking_number, letter.posted_on = number, posted_on
        letter.status = Status.POSTED
        letter.save()
        _note(letter, "registered.posted",
              Text(gettext_noop("Registered letter posted on %(day)s, number %(number)s"),
                   {"day": posted_on.isoformat(), "number": number}),
              user=user, data={"tracking_number": number, "posted_on": posted_on})  # fmt: skip
    return letter


def record_receipt(
    letter: RegisteredLetter,
    *,
    on: dt.date,
    returned: str = "",
    presented_on: dt.date | None = None,
    proof: bytes | None = None,
    user: Any = None,
) -> RegisteredLetter:
    """What came back: the AR signed on ``on``, or (``returned``, a ReturnReason) the
    letter itself, returned on ``on``. A letter not collected needs the day it was first
    presented (``presented_on``, "avisé le" on the envelope): the deadline runs from it. A
    refused letter was presented the day it was refused. ``proof``: the scan of the AR or
    of the envelope (PDF, PNG or JPEG)."""
    if returned and returned not in ReturnReason.values:
        raise RegisteredMailError(
            _("Unknown reason %(reason)r: use one of %(known)s.")
            % {"reason": returned, "known": ", ".join(ReturnReason.values)}
        )
    if on > timezone.localdate(timezone=_zone(letter.organisation)):
        raise RegisteredMailError(_("The date %(day)s is in the future.")
                                  % {"day": on.isoformat()})  # fmt: skip
    if returned == ReturnReason.REFUSED and presented_on is None:
        presented_on = on
    if returned == ReturnReason.NOT_COLLECTED and presented_on is None:
        raise RegisteredMailError(_("A letter not collected: give the day it was first "
                                    "presented (\"avisé le\" on the envelope)."))  # fmt: skip
    if presented_on is not None and presented_on > on:
        raise RegisteredMailError(_("The first presentation cannot come after the return."))
    if proof is not None:
        _proof_extension(proof)
    status = Status.RETURNED if returned else Status.ACKNOWLEDGED
    with transaction.atomic():
        letter = _locked(letter)
        if letter.posted_on is None:
            raise RegisteredMailError(_("Enter the tracking number and posting date first."))
        if min(on, presented_on or on) < letter.posted_on:
            raise RegisteredMailError(
                _("The date %(day)s is before the letter was posted (%(posted)s).")
                % {"day": min(on, presented_on or on).isoformat(),
                   "posted": letter.posted_on.isoformat()}
            )  # fmt: skip
        same = letter.status == status and (
            letter.acknowledged_on == on
            if status == Status.ACKNOWLEDGED
            else (letter.returned_on, letter.return_reason) == (on, returned)
        )
        if not same and letter.status in FINAL:
            raise RegisteredMailError(
                _("This letter is already %(status)s.")
                % {"status": letter.get_status_display().lower()}
            )
        if not same:
            letter.status = status
            if status == Status.ACKNOWLEDGED:
                letter.acknowledged_on = on
                letter.delivered_on = letter.delivered_on or on
                letter.presented_on = letter.presented_on or on
            else:
                letter.returned_on, letter.return_reason = on, returned
                letter.presented_on = presented_on
        if proof is not None and not letter.proof:
            _store_proof(letter, proof)
        elif same:
            return letter
        letter.save()
        if not same:
            _note_receipt(letter, user=user)
    return letter


# -- through a provider --------------------------------------------------------------------


@dataclass
class SyncReport:
    submitted: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)  # a temporary error: tried again later
    errors: dict[int, str] = field(default_factory=dict)


def submit_due(
    organisation: Any | None = None,
    now: dt.datetime | None = None,
    report: SyncReport | None = None,
) -> SyncReport:
    """Hand every prepared letter that goes through a provider to it."""
    now = now or timezone.now()
    report = report or SyncReport()
    rows = RegisteredLetter.objects.filter(status=Status.PREPARED).exclude(provider="")
    if organisation is not None:
        rows = rows.filter(organisation=organisation)
    rows = rows.exclude(next_attempt_at__gt=now).select_related("organisation", "customer")
    for letter in rows.order_by("pk"):
        _submit(letter, now, report)
    return report


def sync(organisation: Any | None = None, now: dt.datetime | None = None) -> SyncReport:
    """Submit what is due, then ask the providers where every letter on its way is."""
    now = now or timezone.now()
    report = submit_due(organisation, now)
    rows = (
        RegisteredLetter.objects.filter(status__in=OPEN)
        .exclude(provider="")
        .exclude(provider_id="")
    )
    if organisation is not None:
        rows = rows.filter(organisation=organisation)
    rows = rows.exclude(next_attempt_at__gt=now).select_related("organisation", "customer")
    for letter in rows.order_by("pk"):
        try:
            tracking = provider(letter.provider).track(letter.provider_id, letter.provider_data)
            letter, changed = apply(letter, tracking)
            if letter.status in (Status.ACKNOWLEDGED, Status.DELIVERED, Status.RETURNED) and (
                not letter.proof
            ):
                found = provider(letter.provider).proof(
                    letter.provider_id, letter.provider_data, letter.status
                )
                if found is not None:
                    _store_proof(letter, found.content)
                    letter.save(update_fields=["proof", "updated_at"])
                    changed = True
        except ProviderError as error:
            _failed_attempt(letter, error, now, report)
            continue
        if letter.attempts and letter.status != Status.FAILED:  # it answers again
            letter.attempts, letter.last_error, letter.next_attempt_at = 0, "", None
            letter.save(update_fields=["attempts", "last_error", "next_attempt_at"])
        if changed:
            report.updated.append(letter.pk)
    return report


def apply(letter: RegisteredLetter, tracking: Tracking) -> tuple[RegisteredLetter, bool]:
    """Bring ``letter`` to what its provider says, forward only: the letter as it is now,
    and whether it changed."""
    before = letter.status
    with transaction.atomic():
        letter = _locked(letter)
        old = _facts(letter)
        status = Status(tracking.status)
        if letter.status not in FINAL and RANK[status] >= RANK[Status(letter.status)]:
            letter.status = status
        for name in ("tracking_number", "posted_on", "presented_on", "delivered_on",
                     "acknowledged_on", "returned_on", "return_reason"):  # fmt: skip
            value = getattr(tracking, name)
            if value and not getattr(letter, name):
                setattr(letter, name, value)
        letter.events = [dataclasses.asdict(e) for e in tracking.events] or letter.events
        if letter.status == Status.FAILED and before != Status.FAILED:
            letter.failed_at, letter.last_error = timezone.now(), tracking.detail
        if _facts(letter) == old:
            return letter, False
        letter.save()
        if letter.status != before:
            if letter.status == Status.FAILED:
                _task_for_person(letter, tracking.detail)
            elif letter.status == Status.POSTED:
                _note(letter, "registered.posted",
                      Text(gettext_noop("Registered letter posted on %(day)s, number %(number)s"),
                           {"day": _iso(letter.posted_on), "number": letter.tracking_number}),
                      data={"tracking_number": letter.tracking_number,
                            "posted_on": letter.posted_on})  # fmt: skip
            elif letter.status == Status.DELIVERED:
                _note(letter, "registered.delivered",
                      Text(gettext_noop("Registered letter delivered on %(day)s"),
                           {"day": _iso(letter.delivered_on)}))  # fmt: skip
            elif letter.status in (Status.ACKNOWLEDGED, Status.RETURNED):
                _note_receipt(letter)
    return letter, True


def _facts(letter: RegisteredLetter) -> tuple[Any, ...]:
    return tuple(getattr(letter, name) for name in (
        "status", "tracking_number", "posted_on", "presented_on", "delivered_on",
        "acknowledged_on", "returned_on", "return_reason", "events"))  # fmt: skip


def _submit(letter: RegisteredLetter, now: dt.datetime, report: SyncReport) -> None:
    organisation = letter.organisation
    state = dict(letter.provider_data)
    try:
        with letter.letter.open("rb") as source:
            pdf = source.read()
        options = Options(
            acknowledgement=letter.acknowledgement,
            reference=f"relance-{letter.pk}",
            name=f"{letter.customer.legal_name} - {letter.pk}"[:256],
        )
        done = provider(letter.provider).submit(
            pdf, PostalAddress.from_dict(letter.recipient),
            PostalAddress.of_organisation(organisation), options, state,
        )  # fmt: skip
    except ProviderError as error:
        letter.provider_data = state  # what was created, to resume rather than resend
        letter.save(update_fields=["provider_data"])
        _failed_attempt(letter, error, now, report)
        return
    with transaction.atomic():
        letter.provider_data = state
        letter.provider_id = done.provider_id
        letter.tracking_number = letter.tracking_number or done.tracking_number
        letter.status, letter.submitted_at = Status.SUBMITTED, now
        letter.attempts, letter.last_error, letter.next_attempt_at = 0, "", None
        letter.save()
        _note(letter, "registered.submitted",
              Text(gettext_noop("Registered letter handed to %(provider)s"),
                   {"provider": letter.provider}),
              data={"provider": letter.provider, "provider_id": done.provider_id})  # fmt: skip
    report.submitted.append(letter.pk)


def _failed_attempt(
    letter: RegisteredLetter, error: ProviderError, now: dt.datetime, report: SyncReport
) -> None:
    report.errors[letter.pk] = str(error)
    letter.attempts += 1
    letter.last_error = str(error)[:2000]
    if error.temporary and letter.attempts < MAX_ATTEMPTS:
        # 5 minutes, doubling, at most six hours between tries.
        wait = min(dt.timedelta(minutes=5) * 2 ** (letter.attempts - 1), dt.timedelta(hours=6))
        letter.next_attempt_at = now + wait
        letter.save(update_fields=["attempts", "last_error", "next_attempt_at"])
        report.retry.append(letter.pk)
        return
    with transaction.atomic():
        letter.status, letter.failed_at, letter.next_attempt_at = Status.FAILED, now, None
        letter.save()
        _task_for_person(letter, str(error))
    report.failed.append(letter.pk)


def _task_for_person(letter: RegisteredLetter, why: str) -> None:
    from relance.dunning import tasks

    tasks.open_task(
        letter.organisation, key=f"registered:{letter.pk}", customer_id=letter.customer_id,
        kind=TASK_KIND, due_on=timezone.localdate(), communication_id=letter.communication_id,
        title=Text(gettext_noop("Registered letter %(id)s not sent by %(provider)s: %(why)s"),
                   {"id": letter.pk, "provider": letter.provider, "why": why[:200]}),
        data={"registered_letter": letter.pk, "error": why[:1000]},
    )  # fmt: skip
    _note(letter, "registered.failed",
          Text(gettext_noop("Registered letter refused by %(provider)s: %(why)s"),
               {"provider": letter.provider, "why": why[:200]}),
          data={"error": why[:1000]})  # fmt: skip


# -- shared --------------------------------------------------------------------------------


def _zone(organisation: Any) -> dt.tzinfo:
    """The organisation's time zone: its days are the ones a person enters and reads."""
    try:
        return ZoneInfo(organisation.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.get_default_timezone()


def _locked(letter: RegisteredLetter) -> RegisteredLetter:
    fresh = (
        RegisteredLetter.objects.select_for_update()
        .select_related("organisation", "customer")
        .get(pk=letter.pk)
    )
    return fresh


def _iso(day: dt.date | None) -> str:
    return day.isoformat() if day else "?"


def _proof_extension(content: bytes) -> str:
    if len(content) > PROOF_MAX_BYTES:
        raise RegisteredMailError(_("The proof is larger than 10 MB."))
    for magic, extension in PROOF_TYPES.items():
        if content.startswith(magic):
            return extension
    raise RegisteredMailError(_("The proof is not a PDF, PNG or JPEG file."))


def _store_proof(letter: RegisteredLetter, content: bytes) -> None:
    extension = _proof_extension(content)
    name = f"proof-{letter.pk}-{secrets.token_hex(6)}.{extension}"
    letter.proof.save(name, ContentFile(content), save=False)


def _note_receipt(letter: RegisteredLetter, user: Any = None) -> None:
    start = receipt_date(letter)
    data = {"status": letter.status, "receipt_date": start}
    if letter.status == Status.ACKNOWLEDGED:
        text = Text(gettext_noop("Acknowledgement of receipt signed on %(day)s"),
                    {"day": _iso(letter.acknowledged_on)})  # fmt: skip
        _note(letter, "registered.acknowledged", text, user=user,
              data={**data, "acknowledged_on": letter.acknowledged_on})  # fmt: skip
    else:
        text = Text(gettext_noop("Registered letter returned on %(day)s: %(reason)s"),
                    {"day": _iso(letter.returned_on),
                     "reason": timeline.label(ReturnReason, letter.return_reason)})  # fmt: skip
        _note(letter, "registered.returned", text, user=user,
              data={**data, "returned_on": letter.returned_on, "reason": letter.return_reason,
                    "presented_on": letter.presented_on})  # fmt: skip


def _note(
    letter: RegisteredLetter, kind: str, text: Text, *, user: Any = None,
    data: Mapping[str, Any] | None = None,
) -> None:  # fmt: skip
    """The customer's timeline and the audit trail, the same words in both."""
    facts = {"registered_letter": letter.pk, **(data or {})}
    organisation = letter.organisation
    timeline.record(organisation, letter.customer_id, kind, text,
                    data=facts, actor_id=getattr(user, "pk", None))  # fmt: skip
    trail.record(organisation, kind, user=user, target=letter, summary=text, data=facts)


def letters_of(organisation: Any, status: Iterable[str] | None = None) -> Any:
    rows = RegisteredLetter.objects.filter(organisation=organisation)
    if status:
        rows = rows.filter(status__in=list(status))
    return rows.select_related("customer").order_by("-created_at", "-pk")


def describe(letter: RegisteredLetter) -> dict[str, Any]:
    """A letter as the command's JSON and tables show it."""
    return {
        "id": letter.pk,
        "customer": letter.customer.reference,
        "name": letter.customer.legal_name,
        "communication": letter.communication_id,
        "status": letter.status,
        "provider": letter.provider,
        "provider_id": letter.provider_id,
        "tracking_number": letter.tracking_number,
        "acknowledgement": letter.acknowledgement,
        "posted_on": letter.posted_on,
        "presented_on": letter.presented_on,
        "delivered_on": letter.delivered_on,
        "acknowledged_on": letter.acknowledged_on,
        "returned_on": letter.returned_on,
        "return_reason": letter.return_reason,
        "receipt_date": receipt_date(letter),
        "proof": bool(letter.proof),
        "last_error": letter.last_error,
        "recipient": letter.recipient,
    }
