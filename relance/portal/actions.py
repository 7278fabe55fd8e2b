"""What a debtor does on the portal, each through the service the console uses (pauses,
dispute groups, plans, tasks, the customer's file), never a rule of its own: the run and
the outbox's send-time re-check read the same rows at once.

Each action is done once per form (``PortalAction.key``: a form sent twice does nothing
more), lands on the timeline as ``portal_action`` (``data["action"]``) and on the audit
trail. A refusal raises ``Refused``, naming the form's field when it is about one, and
writes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_noop

from relance.audit import trail
from relance.channels.formatting import lazy_money, lazy_short_date
from relance.dunning import dispute_group, pauses, plans, tasklist, tasks
from relance.dunning.models import PaymentPlan, Task
from relance.insights.management.commands.report import today_for
from relance.ledger import customer_file, timeline
from relance.ledger.models import (
    Address,
    AddressKind,
    Attachment,
    AttachmentKind,
    Contact,
    HoldKind,
    Invoice,
)
from relance.ledger.timeline import Text
from relance.portal.models import PortalAction, PortalLink

# Days dunning waits after "I have paid", while the payment arrives and is matched.
PAID_HOLD_DAYS = 7
# Days dunning waits for a manager to accept or refuse a proposed plan.
PLAN_HOLD_DAYS = 14
# How far ahead a debtor may promise, and schedule a plan's first instalment.
PROMISE_MAX_DAYS = 90
PLAN_FIRST_MAX_DAYS = 60
PLAN_MAX_INSTALMENTS = 12
# How far back a payment the debtor reports may be dated.
PAID_MAX_AGE_DAYS = 120


class Refused(ValueError):
    """The action cannot be done as asked; ``field`` names the form's field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# Services' refusals, shown on the form.
SERVICE_ERRORS = (
    pauses.PauseError,
    dispute_group.Refused,
    customer_file.Refused,
    plans.PlanError,
)


def paid_hold_days() -> int:
    return int(getattr(settings, "RELANCE_PORTAL_PAID_HOLD_DAYS", PAID_HOLD_DAYS))


def plan_hold_days() -> int:
    return int(getattr(settings, "RELANCE_PORTAL_PLAN_HOLD_DAYS", PLAN_HOLD_DAYS))


def open_invoices(link: PortalLink) -> list[Invoice]:
    """The customer's open invoices, as the portal lists them."""
    org = link.organisation
    return list(
        Invoice.objects.filter(
            organisation=org, customer_id=link.customer_id, balance__gt=org.min_balance
        ).order_by("due_date", "number")
    )


def _once(
    link: PortalLink, key: str, action: str, perform: Callable[[PortalAction], dict[str, Any]]
) -> tuple[PortalAction, bool]:
    """Do ``perform`` once for the form ``key``: the action's row first (a second send of the
    same form stops on its unique key), then the services, in one transaction. Returns the
    action and whether it was done now."""
    found = PortalAction.objects.filter(link=link, key=key).first()
    if found is not None:
        return found, False
    try:
        with transaction.atomic():
            done = PortalAction.objects.create(
                organisation_id=link.organisation_id, customer_id=link.customer_id, link=link,
                key=key, action=action,
            )  # fmt: skip
            try:
                data = perform(done)
            except SERVICE_ERRORS as exc:
                raise Refused(str(exc)) from None
            done.data = data
            done.save(update_fields=["data", "hold", "plan"])
    except IntegrityError:
        return PortalAction.objects.get(link=link, key=key), False
    return done, True


def _timeline(
    link: PortalLink, action: str, summary: Text, data: dict[str, Any], about: Invoice | None = None
) -> None:
    timeline.record(link.organisation, link.customer_id, "portal_action", summary,
                    data={"action": action, **_json(data)},
                    invoice_id=about.pk if about else None)  # fmt: skip


def _audit(link: PortalLink, action: str, target: Any, summary: Text, request: Any = None,
           **data: Any) -> None:  # fmt: skip
    details = {"customer": link.customer.reference, "link": link.pk, **_json(data)}
    trail.record(link.organisation_id, f"portal.{action}", actor="portal", target=target,
                 summary=summary, request=request, data=details)  # fmt: skip


def _numbers(invoices: Sequence[Invoice]) -> list[str]:
    return [invoice.number for invoice in invoices]


# -- I have paid -------------------------------------------------------------------------


def report_payment(
    link: PortalLink,
    key: str,
    *,
    paid_on: dt.date,
    amount: Decimal,
    currency: str,
    reference: str,
    invoices: Sequence[Invoice] = (),
    request: Any = None,
) -> tuple[PortalAction, bool]:
    """The debtor says it has paid: dunning waits ``RELANCE_PORTAL_PAID_HOLD_DAYS`` days (a
    hold with its end date) and a person is asked to find the payment."""
    org, customer = link.organisation, link.customer
    today = today_for(org)
    if paid_on > today:
        raise Refused(gettext_noop("The date of a payment made is today or before."), "paid_on")
    if paid_on < today - dt.timedelta(days=PAID_MAX_AGE_DAYS):
        raise Refused(gettext_noop("This date is too far back."), "paid_on")

    def perform(done: PortalAction) -> dict[str, Any]:
        numbers = _numbers(invoices)
        hold = pauses.place_hold(
            customer, kind=HoldKind.MANUAL, start=today,
            end=today + dt.timedelta(days=paid_hold_days()),
            reason=f"Payment of {amount} {currency} on {paid_on} reported on the portal"
            + (f", reference {reference}" if reference else ""),
        )  # fmt: skip
        done.hold = hold
        tasks.open_task(
            org, key=f"portal_paid:{done.pk}", customer_id=customer.pk, kind="check_payment",
            title=Text(gettext_noop("Check the payment %(customer)s says it made on %(date)s: "
                                    "%(amount)s"),
                       {"customer": customer.legal_name, "date": lazy_short_date(paid_on),
                        "amount": lazy_money(amount, currency)}),
            due_on=today,
            data={"portal_action": done.pk, "paid_on": paid_on.isoformat(),
                  "amount": str(amount), "currency": currency, "reference": reference,
                  "invoices": numbers},
        )  # fmt: skip
        data = {"paid_on": paid_on, "amount": amount, "currency": currency,
                "reference": reference, "invoices": numbers, "hold": hold.pk}  # fmt: skip
        _timeline(link, "paid",
                  Text(gettext_noop("On the portal: paid %(amount)s on %(date)s"),
                       {"amount": lazy_money(amount, currency),
                        "date": lazy_short_date(paid_on)}), data)  # fmt: skip
        _audit(link, "paid", hold,
               Text(gettext_noop("%(customer)s reports a payment of %(amount)s on %(date)s"),
                    {"customer": customer.reference, "amount": lazy_money(amount, currency),
                     "date": lazy_short_date(paid_on)}), request, **data)  # fmt: skip
        return _json(data)

    return _once(link, key, "paid", perform)


# -- I will pay on ----------------------------------------------------------------------


def promise(
    link: PortalLink,
    key: str,
    *,
    promised_on: dt.date,
    invoice: Invoice | None = None,
    amount: Decimal | None = None,
    request: Any = None,
) -> tuple[PortalAction, bool]:
    """A promise to pay on a date, with the organisation's grace, as the console records it."""
    org, customer = link.organisation, link.customer
    today = today_for(org)
    if promised_on < today:
        raise Refused(gettext_noop("Choose today or a later day."), "promised_on")
    if promised_on > today + dt.timedelta(days=PROMISE_MAX_DAYS):
        raise Refused(
            gettext_noop("Choose a day within three months, or propose a payment plan."),
            "promised_on",
        )

    def perform(done: PortalAction) -> dict[str, Any]:
        if invoice is not None:
            invoice.customer = customer
        made = pauses.record_promise(customer, promised_on=promised_on, invoice=invoice,
                                     amount=amount, note="Promised on the portal")  # fmt: skip
        data = {"promised_on": promised_on, "promise": made.pk, "amount": amount,
                "invoice": invoice.number if invoice else None}  # fmt: skip
        _timeline(link, "promise",
                  Text(gettext_noop("On the portal: will pay by %(date)s"),
                       {"date": lazy_short_date(promised_on)}), data, invoice)  # fmt: skip
        _audit(link, "promise", made,
               Text(gettext_noop("%(customer)s promises to pay by %(date)s"),
                    {"customer": customer.reference, "date": lazy_short_date(promised_on)}),
               request, **data)  # fmt: skip
        return _json(data)

    return _once(link, key, "promise", perform)


# -- I dispute this invoice ---------------------------------------------------------------

UPLOAD_MAX_BYTES = 5 * 1024 * 1024
# What a debtor may send with a dispute, known by its first bytes (not its name).
UPLOAD_TYPES = {b"%PDF-": ".pdf", b"\x89PNG\r\n\x1a\n": ".png", b"\xff\xd8\xff": ".jpg"}


def upload_max_bytes() -> int:
    return int(getattr(settings, "RELANCE_PORTAL_UPLOAD_MAX_BYTES", UPLOAD_MAX_BYTES))


def check_upload(upload: UploadedFile) -> str:
    """The file's extension by its content; ``Refused`` for one too large or of another
    type."""
    if (upload.size or 0) > upload_max_bytes():
        raise Refused(gettext_noop("The file is too large."), "attachment")
    head = upload.read(8)
    upload.seek(0)
    for magic, extension in UPLOAD_TYPES.items():
        if head.startswith(magic):
            return extension
    raise Refused(gettext_noop("Send a PDF, PNG or JPEG file."), "attachment")


def dispute(
    link: PortalLink,
    key: str,
    *,
    invoice: Invoice,
    reason: str,
    comment: str,
    upload: UploadedFile | None = None,
    request: Any = None,
) -> tuple[PortalAction, bool]:
    """A dispute on one of the customer's open invoices, with the debtor's file kept as an
    attachment of the invoice."""
    org, customer = link.organisation, link.customer
    extension = check_upload(upload) if upload is not None else ""

    def perform(done: PortalAction) -> dict[str, Any]:
        [opened] = dispute_group.open_disputes(
            customer, [invoice], reason=reason, on=today_for(org),
            note=f"On the portal: {comment}" if comment else "On the portal",
        )  # fmt: skip
        attachment = None
        if upload is not None:
            content = upload.read()
            attachment = Attachment(
                organisation_id=org.pk, invoice=invoice, kind=AttachmentKind.OTHER,
                name=f"dispute-{opened.pk}{extension}",
                sha256=hashlib.sha256(content).hexdigest(),
            )  # fmt: skip
            upload.seek(0)
            attachment.file.save(attachment.name, upload, save=True)
        data = {"invoice": invoice.number, "reason": reason, "comment": comment,
                "dispute": opened.pk,
                "attachment": attachment.pk if attachment else None}  # fmt: skip
        _timeline(link, "dispute",
                  Text(gettext_noop("On the portal: disputes %(number)s"),
                       {"number": invoice.number}), data, invoice)  # fmt: skip
        _audit(link, "dispute", opened,
               Text(gettext_noop("%(customer)s disputes %(number)s"),
                    {"customer": customer.reference, "number": invoice.number}),
               request, **data)  # fmt: skip
        return data

    return _once(link, key, "dispute", perform)


# -- I need a payment plan ------------------------------------------------------------------


def propose_plan(
    link: PortalLink,
    key: str,
    *,
    invoices: Sequence[Invoice],
    count: int,
    first: dt.date,
    period: str,
    request: Any = None,
) -> tuple[PortalAction, bool]:
    """A payment plan the debtor proposes (``plans.propose`` schedules it exactly): recorded
    as proposed, dunning waits for a manager to accept or refuse it (a negotiation hold of
    ``RELANCE_PORTAL_PLAN_HOLD_DAYS`` days), and a task asks a manager to decide."""
    org, customer = link.organisation, link.customer
    today = today_for(org)
    if not invoices:
        raise Refused(gettext_noop("Choose at least one invoice."), "invoices")
    if len({i.currency for i in invoices}) > 1:
        raise Refused(gettext_noop("A plan covers invoices in one currency."), "invoices")
    if first < today or first > today + dt.timedelta(days=PLAN_FIRST_MAX_DAYS):
        raise Refused(gettext_noop("Choose a first payment within two months."), "first")
    if not 2 <= count <= PLAN_MAX_INSTALMENTS:
        raise Refused(gettext_noop("Choose 2 to 12 payments."), "count")
    taken = PaymentPlan.invoices.through.objects.filter(
        invoice_id__in=[i.pk for i in invoices],
        paymentplan__status__in=[PaymentPlan.Status.ACTIVE, PaymentPlan.Status.PROPOSED],
    ).exists()
    if taken:
        raise Refused(gettext_noop("An invoice chosen is already in a payment plan."), "invoices")
    owed = sum((i.balance for i in invoices), Decimal(0))
    schedule = plans.propose(owed, count, first, period)

    def perform(done: PortalAction) -> dict[str, Any]:
        plan = pauses.agree_plan(customer, invoices, schedule, on=today,
                                 note="Proposed on the portal", proposed=True)  # fmt: skip
        hold = pauses.place_hold(
            customer, kind=HoldKind.NEGOTIATION, start=today,
            end=today + dt.timedelta(days=plan_hold_days()),
            reason=f"Payment plan {plan.pk} proposed on the portal",
        )  # fmt: skip
        done.plan, done.hold = plan, hold
        tasks.open_task(
            org, key=f"portal_plan:{plan.pk}", customer_id=customer.pk, kind="plan_proposal",
            title=Text(gettext_noop("Accept or refuse the payment plan %(customer)s proposed"),
                       {"customer": customer.legal_name}),
            due_on=today, data={"plan": plan.pk, "portal_action": done.pk},
        )  # fmt: skip
        data = {"plan": plan.pk, "invoices": _numbers(invoices), "count": count,
                "first": first, "period": period, "total": owed, "hold": hold.pk,
                "instalments": [{"due_date": d, "amount": a} for d, a in schedule]}  # fmt: skip
        _timeline(link, "plan",
                  Text(gettext_noop("On the portal: proposes a plan of %(count)s payments"),
                       {"count": count}), data)  # fmt: skip
        _audit(link, "plan", plan,
               Text(gettext_noop("%(customer)s proposes a payment plan"),
                    {"customer": customer.reference}), request, **data)  # fmt: skip
        return _json(data)

    return _once(link, key, "plan", perform)


@transaction.atomic
def decide_plan(
    plan: PaymentPlan, *, accept: bool, on: dt.date, user_id: int | None = None, note: str = ""
) -> PaymentPlan:
    """A manager accepts or refuses a plan proposed on the portal (``pauses.accept_plan``,
    ``pauses.refuse_plan``); the hold that waited for the decision ends, and so does the
    task that asked for it. Raises ``pauses.PauseError``."""
    if accept:
        pauses.accept_plan(plan, on=on, user_id=user_id)
    else:
        pauses.refuse_plan(plan, on=on, note=note, user_id=user_id)
    asked = PortalAction.objects.filter(plan=plan).select_related("hold__customer").first()
    hold = asked.hold if asked else None
    if hold is not None and hold.start_date <= on and (hold.end_date is None or hold.end_date > on):
        pauses.release_hold(hold, on=on, user_id=user_id)
    task = Task.objects.filter(
        organisation_id=plan.organisation_id, key=f"portal_plan:{plan.pk}", status="open"
    ).first()
    if task is not None:
        tasklist.close(plan.customer.organisation, [task.pk], user_id=user_id, today=on,
                       note="accepted" if accept else "refused")  # fmt: skip
    return plan


# -- contact details -------------------------------------------------------------------------


def change_contact(
    link: PortalLink,
    key: str,
    *,
    name: str,
    email: str,
    phone: str,
    preferred_channel: str,
    address: dict[str, str] | None = None,
    request: Any = None,
) -> tuple[PortalAction, bool]:
    """The debtor's dunning contact from now on (``customer_file.add_contact``, as the
    console adds one; the earlier dunning contacts stay as contacts but receive no more
    reminders), and its postal address for letters when given."""
    customer = link.customer

    def perform(done: PortalAction) -> dict[str, Any]:
        before = list(
            Contact.objects.filter(customer=customer, is_primary=True).values_list("pk", flat=True)
        )
        contact = customer_file.add_contact(
            customer, name=name, email=email, phone=phone, preferred_channel=preferred_channel,
            dunning_contact=True,
        )  # fmt: skip
        Contact.objects.filter(pk__in=before).update(is_primary=False)
        if address:
            Address.objects.update_or_create(
                organisation_id=customer.organisation_id, customer=customer,
                kind=AddressKind.DUNNING, defaults={**address, "valid": True},
            )  # fmt: skip
        data = {"contact": contact.pk, "name": name, "email": contact.email,
                "phone": contact.phone, "preferred_channel": preferred_channel,
                "replaced": before, "address": address or None}  # fmt: skip
        _timeline(link, "contact",
                  Text(gettext_noop("On the portal: new contact details (%(name)s)"),
                       {"name": name}), data)  # fmt: skip
        _audit(link, "contact", contact,
               Text(gettext_noop("%(customer)s changes its contact details"),
                    {"customer": customer.reference}), request, **data)  # fmt: skip
        return data

    return _once(link, key, "contact", perform)


def _json(data: dict[str, Any]) -> dict[str, Any]:
    """Dates and amounts as text, for ``PortalAction.data``."""

    def plain(value: Any) -> Any:
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in data.items()}
