"""Text messages: building a communication's SMS, and the transport that sends it through
Vonage's SMS API (``vonage``).

The channel registers itself only when a provider is configured (``VONAGE_API_KEY`` and
its secret): without one nothing can send a text, and the outbox hands each text step to
a person as a task, as it does letters (docs/sms.md). With one:

- the text comes from ``channels/sms/<lang>/<slug>.txt`` (an organisation's own wording
  first, as e-mails), kept within ``RELANCE_SMS_MAX_SEGMENTS`` (``segments.fit``);
- it goes to the mobile numbers of the customer's dunning contacts (``recipients_for``),
  numbers that opted out left out (``optout``); none left: ``NoRecipient``, and a person
  gets a task;
- under the organisation's name as an alphanumeric sender (``sender_for``), or the number
  of ``RELANCE_SMS_FROM_NUMBER``.
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from typing import Any

import requests
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from relance.channels import registry, templates
from relance.channels.base import Delivery, NoRecipient, Outgoing, TransportError
from relance.channels.context import message_context
from relance.channels.sms import optout, segments, vonage
from relance.channels.sms.numbers import NotMobile, normalise
from relance.dunning.batch import Facts
from relance.dunning.models import Communication, CommunicationItem, StepChannel
from relance.ledger.models import Contact, Customer

log = logging.getLogger(__name__)

DEFAULT_MAX_SEGMENTS = 3
SENDER_LENGTH = 11  # an alphanumeric sender ID: at most 11 letters, digits and spaces
SUBJECT_LENGTH = 60  # what the outbox records as the "subject" of a text: its start


# -- recipients ---------------------------------------------------------------------------


def mobiles(contacts: Sequence[Contact], country: str) -> list[str]:
    """The contacts' valid mobile numbers in E.164, each once, in the contacts' order."""
    numbers: list[str] = []
    for contact in contacts:
        if not (contact.phone and contact.phone_valid):
            continue
        try:
            number = normalise(contact.phone, country)
        except NotMobile:
            continue
        if number not in numbers:
            numbers.append(number)
    return numbers


def recipients_for(customer: Customer, contacts: Sequence[Contact]) -> list[str]:
    """As e-mail's: the dunning contacts' mobiles; else the customer's own number if it is
    a mobile; else the first other contact's mobile. Numbers that opted out are left out;
    raises ``NoRecipient`` saying why when none is left."""
    country = customer.country or "FR"
    primary = mobiles([c for c in contacts if c.is_primary], country)
    own = mobiles([Contact(phone=customer.phone)], country) if customer.phone else []
    others = mobiles([c for c in contacts if not c.is_primary], country)
    candidates = primary or own or others[:1]
    if not candidates:
        raise NoRecipient(f"no valid mobile number for {customer.legal_name}")
    stopped = optout.opted_out(customer.organisation_id, candidates)
    kept = [number for number in candidates if number not in stopped]
    if not kept:
        raise NoRecipient(
            f"{customer.legal_name} opted out of text messages ({', '.join(sorted(stopped))})"
        )
    return kept


# -- sender -------------------------------------------------------------------------------


def clean_sender(name: str) -> str:
    """``name`` as an alphanumeric sender ID: letters without accents, digits and spaces,
    at most 11 characters, in whole words when the first fits; "" when nothing usable is
    left (or only digits, which networks would read as a number)."""
    bare = unicodedata.normalize("NFKD", name)
    bare = "".join(c for c in bare if not unicodedata.combining(c))
    kept = re.sub(r"[^A-Za-z0-9 ]+", " ", bare)
    words = kept.split()
    sender = ""
    for word in words:  # whole words while they fit; a first word too long is cut
        longer = f"{sender} {word}".strip()
        if len(longer) > SENDER_LENGTH:
            break
        sender = longer
    sender = sender or (words[0][:SENDER_LENGTH] if words else "")
    return sender if re.search(r"[A-Za-z]", sender) else ""


def sender_for(organisation: Any) -> str:
    """The forced number of ``RELANCE_SMS_FROM_NUMBER`` (digits, as Vonage wants it); else
    the organisation's sender name or name, cleaned; else ``RELANCE_SMS_SENDER``."""
    number = getattr(settings, "RELANCE_SMS_FROM_NUMBER", "")
    if number:
        return re.sub(r"\D", "", number)
    for name in (organisation.sender_name, organisation.name):
        cleaned = clean_sender(name or "")
        if cleaned:
            return cleaned
    return clean_sender(getattr(settings, "RELANCE_SMS_SENDER", "")) or "Relance"


# -- building -----------------------------------------------------------------------------


def max_segments() -> int:
    return max(1, int(getattr(settings, "RELANCE_SMS_MAX_SEGMENTS", DEFAULT_MAX_SEGMENTS)))


@dataclass(frozen=True)
class Sms:
    """What the transport sends: one text, to each number."""

    sender: str
    numbers: tuple[str, ...]
    text: str
    ref: str  # our reference (``client-ref``), the communication's message_id
    encoding: str
    segments: int

    def message(self) -> EmailMessage:
        """The text as the previews show a message (``outbox show``, the console's
        approvals read headers and a text part): From the sender, To the numbers, the
        encoding and segments in place of a subject."""
        shown = EmailMessage()
        shown["From"] = self.sender
        shown["To"] = ", ".join(self.numbers)
        shown["Subject"] = f"SMS, {self.encoding}, {self.segments} segment(s)"
        shown.set_content(self.text + "\n")
        return shown


def as_sms_text(text: str) -> str:
    """A rendered template as one text message: its paragraphs kept, no trailing blank."""
    lines = [" ".join(line.split()) for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def build_sms(
    comm: Communication, items: Sequence[CommunicationItem], today: date, facts: Facts
) -> Outgoing:
    """The text message for ``comm`` listing ``items``; raises ``NoRecipient``."""
    numbers = recipients_for(comm.customer, facts.contacts.get(comm.customer_id, []))
    context = message_context(comm, items, today, facts)
    rendered = templates.render(
        organisation_slug=comm.organisation.slug,
        channel=StepChannel.SMS,
        language=comm.language,
        slug=comm.template,
        context=context,
    )
    text = as_sms_text(comm.edited_text or rendered.text)
    url = context.get("portal_url") or ""
    if url and url in text and segments.count(text).segments > max_segments():
        text = as_sms_text(text.replace(url, ""))  # the portal's link whole, or not at all
    text = segments.fit(text, max_segments())
    counted = segments.count(text)
    ref = f"relance-sms-{comm.pk}-{secrets.token_hex(4)}"
    first_line = text.splitlines()[0] if text else ""
    subject = first_line[:SUBJECT_LENGTH] + ("…" if len(first_line) > SUBJECT_LENGTH else "")
    return Outgoing(
        payload=Sms(
            sender=sender_for(comm.organisation),
            numbers=tuple(numbers),
            text=text,
            ref=ref,
            encoding=counted.encoding,
            segments=counted.segments,
        ),
        message_id=ref,
        recipients=tuple(numbers),
        subject=subject,
        text=text,
    )


# -- sending ------------------------------------------------------------------------------


@dataclass
class SmsTransport:
    """Vonage over one HTTP session per batch."""

    channel: str = StepChannel.SMS
    session: requests.Session | None = field(default=None, repr=False)

    def open(self) -> None:
        cfg = vonage.config()
        if not cfg.can_send:
            raise TransportError("Vonage is not configured: VONAGE_API_KEY and its secret")
        if self.session is None:
            self.session = requests.Session()

    def send(self, message: Any) -> Delivery:
        """Each number in turn. One accepted: sent (a number refused for good is reported,
        one deferred is noted: never retried, the others would get it twice). None
        accepted: the error of the first, as e-mail's, with every refused number."""
        assert isinstance(message, Sms)
        self.open()
        assert self.session is not None
        cfg = vonage.config()
        accepted: list[vonage.Accepted] = []
        errors: dict[str, TransportError] = {}
        for number in message.numbers:
            fields = vonage.form(
                cfg, sender=message.sender, number=number, text=message.text,
                unicode=message.encoding == segments.UCS2, ref=message.ref,
            )  # fmt: skip
            try:
                accepted.append(vonage.send_one(self.session, cfg, fields))
            except TransportError as error:
                if error.ambiguous and not accepted:
                    raise  # maybe sent: a person checks before anything is resent
                errors[number] = error
        refused = tuple(number for number, error in errors.items() if error.refused)
        if not accepted:
            first = next(iter(errors.values()))
            permanent = all(e.permanent for e in errors.values())
            raise TransportError(
                "; ".join(str(e) for e in errors.values()),
                permanent=permanent,
                ambiguous=first.ambiguous,
                refused=refused if permanent else (),
            )
        details: dict[str, Any] = {
            "provider": "vonage",
            "encoding": message.encoding,
            "segments": message.segments,
            "sender": message.sender,
            "messages": {a.number: list(a.message_ids) for a in accepted},
        }
        if accepted[-1].balance:
            details["remaining_balance"] = accepted[-1].balance
        if errors:
            details["not_sent"] = {number: str(error) for number, error in errors.items()}
        return Delivery(refused=refused, details=details)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


# -- registration -------------------------------------------------------------------------

SETTINGS = frozenset(
    {"VONAGE_API_KEY", "VONAGE_API_SECRET", "VONAGE_SIGNATURE_SECRET", "VONAGE_SIGN_REQUESTS"}
)


def install() -> bool:
    """Register the channel when a provider is configured, unregister it otherwise;
    returns whether texts can be sent."""
    if vonage.config().can_send:
        registry.register(StepChannel.SMS, build=build_sms, transport=SmsTransport)
        return True
    registry.unregister(StepChannel.SMS)
    return False


@receiver(setting_changed)
def _provider_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in SETTINGS:
        install()


install()
