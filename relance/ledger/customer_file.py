"""What a person records in a customer's file besides pauses: a note, a contact, the
collector who works the customer. The console and the commands call these; each writes the
customer's timeline and the audit trail in the same transaction, and a refusal writes
nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext_noop

from relance.accounts.models import Membership, Role
from relance.audit import trail
from relance.ledger import timeline
from relance.ledger.models import Channel, Contact, Customer
from relance.ledger.timeline import SUMMARY_LENGTH, Text
from relance.lib import controls

NOTE_LENGTH = 5000
# Who may be given customers to work: a viewer changes nothing, so works nobody.
WORKING_ROLES = frozenset({Role.COLLECTOR, Role.MANAGER, Role.ADMIN})


class Refused(ValueError):
    """The record cannot be made as asked; the message says what is wrong."""


def _user_id(user: Any) -> int | None:
    return None if user is None else int(user.pk)


@transaction.atomic
def add_note(customer: Customer, text: str, *, user: Any = None) -> str:
    """A person's note on the customer's timeline (kind ``note``), as written: the summary
    holds its beginning, ``data["text"]`` all of it."""
    text = text.strip()
    if not text:
        raise Refused("a note needs some text")
    if len(text) > NOTE_LENGTH:
        raise Refused(f"a note holds at most {NOTE_LENGTH} characters, this one {len(text)}")
    timeline.record(customer.organisation, customer.pk, "note", text[:SUMMARY_LENGTH],
                    data={"text": text}, actor_id=_user_id(user))  # fmt: skip
    trail.record(customer.organisation_id, "customer.note_added", user=user, target=customer,
                 summary=Text(gettext_noop("note on %(customer)s"),
                              {"customer": customer.reference}),
                 data={"customer": customer.reference, "text": text})  # fmt: skip
    return text


@transaction.atomic
def add_contact(
    customer: Customer,
    *,
    name: str,
    role: str = "",
    email: str = "",
    phone: str = "",
    preferred_channel: str = Channel.EMAIL,
    dunning_contact: bool = False,
    user: Any = None,
) -> Contact:
    """A person at the customer. A dunning contact receives the reminders (with the other
    dunning contacts; see ``channels.email.recipients_for``)."""
    name, role, email, phone = name.strip(), role.strip(), email.strip().lower(), phone.strip()
    if not name:
        raise Refused("a contact needs a name")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise Refused(f"{email!r} is not an e-mail address") from None
    if preferred_channel not in Channel.values:
        raise Refused(f"unknown channel {preferred_channel!r}: one of {', '.join(Channel.values)}")
    if dunning_contact and not email and preferred_channel == Channel.EMAIL:
        raise Refused("a dunning contact reached by e-mail needs an e-mail address")
    for field, value in (("name", name), ("role", role), ("phone", phone)):
        limit = getattr(Contact._meta.get_field(field), "max_length", 0) or 0
        if len(value) > limit:
            raise Refused(f"the {field} holds at most {limit} characters")
    for value in (name, role, email, phone):
        if found := controls.problem(value):
            raise Refused(found)
    contact = Contact.objects.create(
        organisation_id=customer.organisation_id, customer=customer, name=name, role=role,
        email=email, phone=phone, preferred_channel=preferred_channel,
        is_primary=dunning_contact,
    )  # fmt: skip
    details = {"contact": contact.pk, "name": name, "role": role, "email": email,
               "phone": phone, "preferred_channel": preferred_channel,
               "dunning_contact": dunning_contact}  # fmt: skip
    timeline.record(
        customer.organisation, customer.pk, "contact_added",
        Text(gettext_noop("Dunning contact added: %(name)s") if dunning_contact
             else gettext_noop("Contact added: %(name)s"), {"name": name}),
        data=details, actor_id=_user_id(user),
    )  # fmt: skip
    trail.record(customer.organisation_id, "contact.added", user=user, target=contact,
                 summary=Text(gettext_noop("contact %(name)s added to %(customer)s"),
                              {"name": name, "customer": customer.reference}),
                 data={"customer": customer.reference, **details})  # fmt: skip
    return contact


@transaction.atomic
def assign_collector(customer: Customer, collector: Any | None, *, by: Any = None) -> Customer:
    """Give the customer to ``collector`` (a working member of its organisation), or to
    nobody with None. Assigning the collector it already has changes nothing."""
    if collector is not None:
        membership = Membership.objects.filter(
            organisation_id=customer.organisation_id, user_id=collector.pk
        ).first()
        if membership is None:
            raise Refused(f"{collector.get_username()} is not a member of this organisation")
        if membership.role not in WORKING_ROLES:
            raise Refused(
                f"{collector.get_username()} is a {membership.role}: a viewer works no customer"
            )
    new_id = None if collector is None else collector.pk
    if customer.collector_id == new_id:
        return customer
    previous = customer.collector
    customer.collector = collector
    customer.save(update_fields=["collector", "updated_at"])
    before = previous.get_username() if previous is not None else None
    after = collector.get_username() if collector is not None else None
    timeline.record(
        customer.organisation, customer.pk, "collector_assigned",
        Text(gettext_noop("Assigned to %(collector)s"), {"collector": after})
        if after else Text(gettext_noop("No longer assigned to a collector")),
        data={"collector": after, "previous": before}, actor_id=_user_id(by),
    )  # fmt: skip
    trail.record(customer.organisation_id, "customer.assigned", user=by, target=customer,
                 summary=Text(gettext_noop("%(customer)s assigned to %(collector)s"),
                              {"customer": customer.reference, "collector": after})
                 if after else Text(gettext_noop("%(customer)s assigned to nobody"),
                                    {"customer": customer.reference}),
                 data={"customer": customer.reference, "collector": after,
                       "previous": before})  # fmt: skip
    return customer
