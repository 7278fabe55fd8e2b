"""Numbers that asked for no more text messages: recorded by hand (``relance sms optout``)
or from a STOP texted to the number we send from (``views.inbound``), and honoured when a
message is built (``recipients_for`` leaves them out)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.channels.models import OptOutSource, SmsOptOut
from relance.channels.sms.numbers import NotMobile, normalise

# The first word of an inbound text that means "no more", and the one that means "again".
STOP_WORDS = frozenset({"STOP", "STOPSMS", "ARRET", "ARRÊT", "UNSUBSCRIBE", "DESABONNER", "END"})
START_WORDS = frozenset({"START", "UNSTOP", "ARRIVEE"})


class Refused(Exception):
    """The number cannot be read: nothing recorded."""


@dataclass(frozen=True)
class Change:
    number: str
    opted_out: bool  # as it stands now
    changed: bool  # whether this call changed it


def number_of(raw: str, country: str = "FR") -> str:
    try:
        return normalise(raw, country)
    except NotMobile as error:
        raise Refused(str(error)) from None


def opted_out(organisation_id: int, numbers: Iterable[str]) -> set[str]:
    """Of ``numbers`` (E.164), those that opted out of the organisation's texts or of all."""
    wanted = list(numbers)
    if not wanted:
        return set()
    return set(
        SmsOptOut.objects.filter(
            Q(organisation_id=organisation_id) | Q(organisation__isnull=True), number__in=wanted
        ).values_list("number", flat=True)
    )


def opt_out(
    organisation: Organisation | None,
    raw: str,
    *,
    source: str = OptOutSource.MANUAL,
    note: str = "",
    user: object = None,
    actor: str | None = None,
) -> Change:
    """No more texts to ``raw`` from ``organisation`` (None: from anyone)."""
    number = number_of(raw, organisation.country if organisation else "FR")
    try:
        with transaction.atomic():
            SmsOptOut.objects.create(
                organisation=organisation, number=number, source=source, note=note[:200]
            )
    except IntegrityError:  # already: nothing to do (a STOP texted twice)
        return Change(number, True, False)
    trail.record(
        organisation, "sms.opted_out", user=user, actor=actor, summary=number,
        data={"number": number, "source": source, "everyone": organisation is None},
    )  # fmt: skip
    return Change(number, True, True)


def opt_in(
    organisation: Organisation | None, raw: str, *, user: object = None, actor: str | None = None
) -> Change:
    """Texts to ``raw`` again: the organisation's own opt-out lifted (None: the one from
    a STOP texted to us, which only the number's START or an operator lifts)."""
    number = number_of(raw, organisation.country if organisation else "FR")
    deleted, _ = SmsOptOut.objects.filter(
        organisation=organisation if organisation else None, number=number
    ).delete()
    if deleted:
        trail.record(
            organisation, "sms.opted_in", user=user, actor=actor, summary=number,
            data={"number": number, "everyone": organisation is None},
        )  # fmt: skip
    still = bool(opted_out(organisation.pk, [number])) if organisation else False
    return Change(number, still, bool(deleted))


def stop_word(text: str, keyword: str = "") -> str:
    """ "stop", "start" or "" for an inbound text (Vonage sends its first word, upper-case,
    as ``keyword``; the text is read too)."""
    words = (keyword or "").split() or (text or "").strip().split()
    first = words[0].strip(".!,;:").upper() if words else ""
    if first in STOP_WORDS:
        return "stop"
    if first in START_WORDS:
        return "start"
    return ""
