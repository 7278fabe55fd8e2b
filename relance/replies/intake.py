"""An inbound e-mail, from a provider's webhook (anymail's ``inbound`` signal) or an IMAP
mailbox, becomes a ``Reply``: routed to its organisation and customer, threaded to the
reminder it answers, read, written on the customer's timeline, and the customer's
reminders paused until a person reads it.

How a message finds its organisation (never from what its text says):

1. its ``In-Reply-To`` / ``References`` name the Message-ID of a message the outbox sent
   (``Communication.message_id``): that message's organisation, customer and reminder;
2. else a recipient address (To, Cc, Delivered-To, X-Original-To, the envelope's) is the
   reply-to address of exactly one organisation (``Organisation.reply_to``), or the mailbox
   polled belongs to one (``RELANCE_IMAP_ORGANISATION``); its customer is then the one, in
   that organisation only, whose billing address or a contact's is the sender's.

A message that finds no organisation is not stored (logged, and left in the mailbox);
one whose sender is no customer's is kept for a person, on no customer's timeline.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import re
from dataclasses import dataclass
from email.message import Message
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.translation import gettext_noop, pgettext_lazy

from relance.accounts.identity import sender_of
from relance.accounts.models import Organisation
from relance.audit import trail
from relance.dunning import pauses
from relance.dunning.models import Communication
from relance.ledger import timeline
from relance.ledger.models import Contact, Customer, Hold, HoldKind, Invoice
from relance.ledger.timeline import Text, label
from relance.replies import reading
from relance.replies.models import Reply, ReplyKind

log = logging.getLogger(__name__)

MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# Who never writes a reply (bounces are the tracking webhooks' business).
NOT_A_PERSON = re.compile(r"^(mailer-daemon|postmaster|no-?reply|bounces?)[@+]", re.I)

STORED = "stored"
DUPLICATE = "duplicate"
UNROUTED = "unrouted"
IGNORED = "ignored"
# How a reply found its organisation, in the audit trail's summary (in its reader's words).
ROUTED_BY = {
    "thread": pgettext_lazy("a reply routed by", "thread"),
    "address": pgettext_lazy("a reply routed by", "address"),
    "mailbox": pgettext_lazy("a reply routed by", "mailbox"),
}


@dataclass(frozen=True)
class Incoming:
    """What Relance uses of a message, whichever way it came."""

    message_id: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    received_at: dt.datetime
    answers: tuple[str, ...]  # In-Reply-To first, then References, newest first
    automatic: bool


@dataclass(frozen=True)
class Route:
    organisation: Organisation
    customer: Customer | None
    communication: Communication | None
    how: str  # "thread", "address", "mailbox"


@dataclass(frozen=True)
class Outcome:
    status: str  # STORED, DUPLICATE, UNROUTED, IGNORED
    reply: Reply | None = None


# -- the message --------------------------------------------------------------------------


def incoming(
    message: Message, *, envelope_recipient: str = "", text: str | None = None
) -> Incoming:
    """The parts of a parsed message Relance uses (``text``: its plain body when the
    caller has it already, as anymail does)."""
    recipients = [
        address.lower()
        for _, address in email.utils.getaddresses(
            [
                str(v)
                for h in ("To", "Cc", "Delivered-To", "X-Original-To")
                for v in message.get_all(h, [])
            ]
        )
        if address
    ]
    if envelope_recipient:
        recipients.append(email.utils.parseaddr(envelope_recipient)[1].lower())
    in_reply_to = MESSAGE_ID.findall(str(message.get("In-Reply-To", "")))
    references = MESSAGE_ID.findall(str(message.get("References", "")))
    answers = tuple(dict.fromkeys(in_reply_to + list(reversed(references))))
    return Incoming(
        message_id=str(message.get("Message-ID", "")).strip()[:254],
        sender=email.utils.parseaddr(str(message.get("From", "")))[1].lower(),
        recipients=tuple(dict.fromkeys(recipients)),
        subject=" ".join(str(message.get("Subject", "")).split())[:300],
        text=plain_text(message) if text is None else text,
        received_at=_date(message),
        answers=answers,
        automatic=automatic(message),
    )


def plain_text(message: Message) -> str:
    """The message's text: its text/plain part, else its HTML's text."""
    parts = list(message.walk()) if message.is_multipart() else [message]
    for wanted in ("text/plain", "text/html"):
        for part in parts:
            if part.get_content_type() != wanted or part.get_filename():
                continue
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                continue
            charset = part.get_content_charset() or "utf-8"
            try:
                body = payload.decode(charset, errors="replace")
            except LookupError:
                body = payload.decode("utf-8", errors="replace")
            return body if wanted == "text/plain" else strip_tags(body)
    return ""


def automatic(message: Message) -> bool:
    """Whether the message says it was written by a machine (RFC 3834, and what Exchange
    and others put instead)."""
    submitted = str(message.get("Auto-Submitted", "no")).strip().lower()
    return (
        submitted not in ("", "no")
        or any(message.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"))
        or str(message.get("Precedence", "")).strip().lower() == "auto_reply"
    )


def _date(message: Message) -> dt.datetime:
    """The Date header if it is sensible (not in the future), else now."""
    now = timezone.now()
    try:
        when = email.utils.parsedate_to_datetime(str(message.get("Date", "")))
    except (TypeError, ValueError, IndexError):
        return now
    if when is None:
        return now
    if timezone.is_naive(when):
        when = timezone.make_aware(when, dt.UTC)
    return min(when, now)


# -- routing ------------------------------------------------------------------------------


def route(message: Incoming, *, mailbox_organisation: Organisation | None = None) -> Route | None:
    """The organisation, customer and reminder of a message (see the module's doc)."""
    if message.answers:
        sent = {
            c.message_id: c
            for c in Communication.objects.filter(message_id__in=message.answers).select_related(
                "organisation", "customer"
            )
        }
        for message_id in message.answers:  # the message it answers directly first
            if message_id in sent:
                comm = sent[message_id]
                if mailbox_organisation is None or comm.organisation_id == mailbox_organisation.pk:
                    return Route(comm.organisation, comm.customer, comm, "thread")
    organisation, how = mailbox_organisation, "mailbox"
    if organisation is None:
        owners = organisations_at(message.recipients)
        if len(owners) != 1:  # none, or an address two organisations share: not routed
            return None
        organisation, how = owners[0], "address"
    return Route(organisation, customer_of(organisation, message.sender), None, how)


def organisations_at(recipients: tuple[str, ...]) -> list[Organisation]:
    """The organisations whose replies go to one of ``recipients`` (the address their
    e-mails give as Reply-To: ``identity.sender_of``)."""
    query = Q()
    for recipient in recipients:
        query |= Q(reply_to__iexact=recipient) | Q(reply_to="", email__iexact=recipient)
    if not query:
        return []
    return [
        org
        for org in Organisation.objects.filter(query).order_by("pk")[:10]
        if sender_of(org)[1].lower() in recipients
    ]


def customer_of(organisation: Organisation, sender: str) -> Customer | None:
    """The one customer of ``organisation`` with ``sender`` as billing or contact address
    (none when no one or several have it)."""
    if not sender:
        return None
    ids = set(
        Contact.objects.filter(organisation=organisation, email__iexact=sender).values_list(
            "customer_id", flat=True
        )
    ) | set(
        Customer.objects.filter(organisation=organisation, email__iexact=sender).values_list(
            "pk", flat=True
        )
    )
    if len(ids) != 1:
        return None
    return Customer.objects.select_related("organisation").get(pk=ids.pop())


# -- receiving ----------------------------------------------------------------------------


def receive(
    message: Incoming, *, source: str, mailbox_organisation: Organisation | None = None
) -> Outcome:
    """Store, read and act on one inbound message (once: a message seen again is a
    duplicate)."""
    if not message.sender or NOT_A_PERSON.match(message.sender) or _ours(message.sender):
        return Outcome(IGNORED)
    found = route(message, mailbox_organisation=mailbox_organisation)
    if found is None:
        log.warning("reply from %s to %s: no organisation", message.sender, message.recipients)
        return Outcome(UNROUTED)
    org = found.organisation
    if (
        message.message_id
        and Reply.objects.filter(organisation=org, message_id=message.message_id).exists()
    ):
        return Outcome(DUPLICATE)
    day = timezone.localdate(message.received_at)
    open_numbers = (
        list(
            Invoice.objects.filter(customer=found.customer, balance__gt=0).values_list(
                "number", flat=True
            )
        )
        if found.customer
        else []
    )
    read = reading.read(
        message.text, received=day, subject=message.subject, automatic=message.automatic,
        invoice_numbers=open_numbers,
    )  # fmt: skip
    details = read.details()
    details["invoices"] = reading.mentioned(reading.strip_quoted(message.text), open_numbers)
    details["routed_by"] = found.how
    try:
        with transaction.atomic():
            reply = Reply.objects.create(
                organisation=org, customer=found.customer, communication=found.communication,
                message_id=message.message_id, sender=message.sender[:254],
                recipient=", ".join(message.recipients)[:254], subject=message.subject,
                text=reading.strip_quoted(message.text), received_at=message.received_at,
                source=source[:24], kind=read.kind, details=details,
            )  # fmt: skip
            if found.customer is not None:
                _attach(reply, found.customer, day)
            trail.record(
                org, "reply.received", target=reply,
                summary=Text(gettext_noop("reply from %(sender)s (%(kind)s), routed by %(how)s"),
                             {"sender": message.sender, "kind": label(ReplyKind, read.kind),
                              "how": ROUTED_BY.get(found.how, found.how)}),
                data={"customer": found.customer.reference if found.customer else None,
                      "kind": read.kind, "source": source,
                      "communication": found.communication.pk if found.communication else None},
            )  # fmt: skip
    except IntegrityError:  # the same message, stored meanwhile by another delivery
        return Outcome(DUPLICATE)
    return Outcome(STORED, reply)


def _attach(reply: Reply, customer: Customer, day: dt.date) -> None:
    """On the customer's timeline, and the customer's reminders paused until read."""
    timeline.record(
        reply.organisation, customer.pk, "reply_received",
        Text(gettext_noop("Reply from %(sender)s: %(kind)s"),
             {"sender": reply.sender, "kind": label(ReplyKind, reply.kind)}),
        data={"reply": reply.pk, "kind": reply.kind,
              "communication": reply.communication_id},
        at=reply.received_at,
    )  # fmt: skip
    reply.hold = pause(customer, day, reply)
    reply.save(update_fields=["hold"])


def pause(customer: Customer, day: dt.date, reply: Reply) -> Hold:
    """The hold that keeps reminders from the customer until its replies are read: the one
    in force if a reply already waits, else a new one (``pauses.place_hold``; the run and
    the outbox's re-check read holds through ``policy.hold_active``)."""
    waiting = (
        Hold.objects.filter(customer=customer, kind=HoldKind.REPLY, end_date=None)
        .order_by("pk")
        .first()
    )
    if waiting is not None:
        return waiting
    return pauses.place_hold(
        customer, kind=HoldKind.REPLY, start=day, reason=f"reply {reply.pk}: {reply.subject}"
    )


def _ours(sender: str) -> bool:
    """A message from our own sending address (a loop, a copy to ourselves)."""
    own = email.utils.parseaddr(settings.DEFAULT_FROM_EMAIL)[1].lower()
    return bool(own) and sender == own


# -- anymail ------------------------------------------------------------------------------


def on_inbound(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    """anymail's ``inbound`` signal: one message a provider received for us."""
    message = event.message
    if message is None:
        return
    text = message.text or (strip_tags(message.html) if message.html else "")
    found = incoming(message, envelope_recipient=message.envelope_recipient or "", text=text)
    outcome = receive(found, source=f"anymail:{esp_name.lower()}")
    log.info("inbound %s from %s: %s", esp_name, found.sender, outcome.status)
