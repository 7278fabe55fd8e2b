"""Customers: the filtered list and each customer's page with its timeline, and what a
person records from there (note, contact, hold, promise, dispute, collector).

Views parse the request and call the services: the list is ``dunning.customer_list``, the
page ``dunning.customer_view``, the records ``ledger.customer_file``, ``dunning.pauses``
and ``dunning.dispute_group``. Every action is a plain form POST that redirects back to the
customer's page; with htmx it answers the page's body, swapped in place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST

from relance.accounts.models import Membership
from relance.console.access import Can, Console, console_view
from relance.documents import handover
from relance.documents.typesetting import DocumentError
from relance.dunning import customer_list, dispute_group, pauses
from relance.dunning.customer_view import customer_view, timeline_page
from relance.dunning.models import Scenario
from relance.dunning.rates import MissingRate
from relance.insights.management.commands.report import today_for
from relance.ledger import customer_file
from relance.ledger.models import (
    Channel,
    Customer,
    DisputeReason,
    Hold,
    HoldKind,
    Invoice,
    RiskClass,
)
from relance.lib.amounts import AmountField, Bound

BUCKET_LABELS = {
    "not_due": gettext_lazy("Not due"), "1-30": gettext_lazy("1-30 days"),
    "31-60": gettext_lazy("31-60 days"), "61-90": gettext_lazy("61-90 days"),
    "over_90": gettext_lazy("Over 90 days"),
}  # fmt: skip
SORT_LABELS = {
    "-overdue": gettext_lazy("Overdue, largest first"),
    "overdue": gettext_lazy("Overdue, smallest first"),
    "-open": gettext_lazy("Open, largest first"),
    "oldest": gettext_lazy("Oldest item first"),
    "name": gettext_lazy("Name"),
    "reference": gettext_lazy("Account"),
}
KIND_LABELS = {
    "note": gettext_lazy("Note"),
    "contact_added": gettext_lazy("Contact"),
    "collector_assigned": gettext_lazy("Collector"),
    "payment": gettext_lazy("Payment received"),
    "dispute_opened": gettext_lazy("Dispute"),
    "dispute_resolved": gettext_lazy("Dispute resolved"),
    "promise_recorded": gettext_lazy("Promise"),
    "promise_kept": gettext_lazy("Promise kept"),
    "promise_broken": gettext_lazy("Promise broken"),
    "hold_placed": gettext_lazy("Hold"),
    "hold_released": gettext_lazy("Hold lifted"),
    "plan_agreed": gettext_lazy("Payment plan"),
    "plan_proposed": gettext_lazy("Payment plan proposed"),
    "plan_refused": gettext_lazy("Payment plan refused"),
    "portal_action": gettext_lazy("Portal"),
    "communication_queued": pgettext_lazy("reminder", "Planned"),
    "communication_awaiting_approval": pgettext_lazy("reminder", "Awaiting approval"),
    "communication_approved": pgettext_lazy("reminder", "Approved"),
    "communication_skipped": pgettext_lazy("reminder", "Skipped"),
    "communication_sent": pgettext_lazy("reminder", "Sent"),
    "communication_failed": pgettext_lazy("reminder", "Failed"),
    "communication_deferred": pgettext_lazy("reminder", "Deferred"),
    "communication_cancelled": pgettext_lazy("reminder", "Cancelled"),
    "communication_ambiguous": pgettext_lazy("reminder", "To check"),
    "communication_handed_over": pgettext_lazy("reminder", "Handed over"),
    "task_done": gettext_lazy("Task done"),
    "reply_received": gettext_lazy("Reply received"),
    "import": gettext_lazy("Import"),
    "invoice_paid": gettext_lazy("Invoice paid"),
    "call_made": gettext_lazy("Call made"),
    "communication_edited": pgettext_lazy("reminder", "Wording changed"),
    "communication_reverted": pgettext_lazy("reminder", "Wording restored"),
    "email_bounced": gettext_lazy("E-mail bounced"),
    "email_delayed": gettext_lazy("E-mail delayed"),
    "sms_delivered": gettext_lazy("Text message delivered"),
    "sms_failed": gettext_lazy("Text message failed"),
    "handover": gettext_lazy("Hand-over"),
    "online_payment": gettext_lazy("Online payment"),
    "platform_status": gettext_lazy("E-invoicing status"),
    "plan_completed": gettext_lazy("Payment plan completed"),
    "plan_defaulted": gettext_lazy("Payment plan defaulted"),
    "plan_cancelled": gettext_lazy("Payment plan cancelled"),
    "promise_cancelled": gettext_lazy("Promise cancelled"),
    "dispute_assigned": gettext_lazy("Dispute assigned"),
    "registered.prepared": gettext_lazy("Registered letter prepared"),
    "registered.submitted": gettext_lazy("Registered letter submitted"),
    "registered.posted": gettext_lazy("Registered letter posted"),
    "registered.delivered": gettext_lazy("Registered letter delivered"),
    "registered.acknowledged": gettext_lazy("Registered letter signed for"),
    "registered.returned": gettext_lazy("Registered letter returned"),
    "registered.failed": gettext_lazy("Registered letter failed"),
}
# A kind of event no label names yet (an organisation's data from a newer version).
OTHER_KIND = gettext_lazy("Event")


# Open items shown at a time on a customer's page; the totals are over all of them.
ITEMS_PAGE = 50


# -- the list --------------------------------------------------------------------------------


@console_view()
def customer_list_view(request: HttpRequest) -> HttpResponse:
    console: Console = request.console  # type: ignore[attr-defined]
    org = console.organisation
    filters = customer_list.Filters.parse(request.GET, me=console.user.pk)
    page = customer_list.customer_page(org, filters, today_for(org))
    members = _members(console)
    return render(
        request,
        "console/customers/list.html",
        {
            "page": page,
            "filters": page.filters,
            "buckets": BUCKET_LABELS,
            "sorts": SORT_LABELS,
            "risks": RiskClass.choices,
            "scenarios": Scenario.objects.filter(organisation=org).order_by("name"),
            "members": members,
            "collectors": {m.user_id: m.user for m in members},
            "me": str(console.user.pk),
            "previous": _list_url(page.filters.query(page=page.filters.page - 1))
            if page.filters.page > 1
            else None,
            "next": _list_url(page.filters.query(page=page.filters.page + 1))
            if page.more
            else None,
            "rows": [(row, BUCKET_LABELS.get(row.bucket, "")) for row in page.rows],
            "sort_urls": {
                key.replace("-", "most_"): _list_url(page.filters.query(sort=key, page=1))
                for key in SORT_LABELS
            },
        },
    )


def _list_url(params: dict[str, str]) -> str:
    from urllib.parse import urlencode

    query = urlencode(params)
    return reverse("console:customers") + (f"?{query}" if query else "")


def _members(console: Console) -> list[Membership]:
    """Who may be given customers to work, by name."""
    return list(
        Membership.objects.filter(
            organisation=console.organisation, role__in=customer_file.WORKING_ROLES
        )
        .select_related("user")
        .order_by("user__username")
    )


# -- the forms of the customer's page -----------------------------------------------------------


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class InvoiceSelect(forms.Select):
    """A page's open invoices to choose from, each option written in place."""

    template_name = "console/widgets/select.html"


class InvoiceCheckboxes(forms.CheckboxSelectMultiple):
    template_name = "console/widgets/checkboxes.html"


class NoteForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Note"), max_length=customer_file.NOTE_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )  # fmt: skip


class ContactForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    role = forms.CharField(label=gettext_lazy("Role"), max_length=100, required=False)
    email = forms.EmailField(label=gettext_lazy("E-mail"), required=False)
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=32, required=False)
    preferred_channel = forms.ChoiceField(
        label=gettext_lazy("Preferred channel"), choices=Channel.choices, initial=Channel.EMAIL
    )
    dunning_contact = forms.BooleanField(
        label=gettext_lazy("Dunning contact (receives the reminders)"), required=False
    )


class HoldForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=HoldKind.choices)
    start = forms.DateField(label=gettext_lazy("From"), widget=_date_input())
    published_on = forms.DateField(
        label=gettext_lazy("Published on (collective proceedings)"), required=False,
        widget=_date_input(),
    )  # fmt: skip
    reason = forms.CharField(
        label=gettext_lazy("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("published_on") and data.get("kind") != HoldKind.INSOLVENCY:
            self.add_error("published_on", _("Only for collective proceedings."))
        return data


class PromiseForm(forms.Form):
    promised_on = forms.DateField(label=gettext_lazy("Promised for"), widget=_date_input())
    invoice = forms.TypedChoiceField(
        label=gettext_lazy("Covers"), coerce=int, required=False, empty_value=None,
        widget=InvoiceSelect,
    )  # fmt: skip
    amount = AmountField(label=gettext_lazy("Amount"), required=False, bound=Bound.ABOVE_ZERO)
    grace_days = forms.IntegerField(label=gettext_lazy("Grace (days)"), min_value=0, max_value=60)
    note = forms.CharField(
        label=gettext_lazy("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, invoices: list[Invoice], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_invoices = invoices
        field: Any = self.fields["invoice"]
        field.choices = [("", _("All open invoices"))] + [(i.pk, i.number) for i in invoices]


class DisputeForm(forms.Form):
    invoices = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Invoices"), coerce=int, widget=InvoiceCheckboxes
    )
    reason = forms.ChoiceField(label=gettext_lazy("Reason"), choices=DisputeReason.choices)
    amount = AmountField(
        label=gettext_lazy("Disputed amount (one invoice)"), required=False, bound=Bound.ABOVE_ZERO
    )
    note = forms.CharField(
        label=gettext_lazy("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, invoices: list[Invoice], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_invoices = invoices
        field: Any = self.fields["invoices"]
        field.choices = [(i.pk, i.number) for i in invoices]


class CollectorForm(forms.Form):
    collector = forms.TypedChoiceField(
        label=gettext_lazy("Collector"), coerce=int, required=False, empty_value=None
    )

    def __init__(self, *args: Any, members: list[Membership], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["collector"]
        field.choices = [("", _("Nobody"))] + [(m.user_id, m.user.get_username()) for m in members]


# -- the customer's page -------------------------------------------------------------------------


def _open_invoices(customer: Customer) -> list[Invoice]:
    org = customer.organisation
    return list(
        Invoice.objects.filter(
            organisation=org, customer=customer, balance__gt=org.min_balance
        ).order_by("due_date", "number")
    )


def _load(request: HttpRequest, pk: int) -> tuple[Console, Customer]:
    console: Console = request.console  # type: ignore[attr-defined]
    customer = console.get(
        Customer, pk, console.objects(Customer).select_related("organisation", "collector")
    )
    return console, customer


def _page_context(
    request: HttpRequest,
    console: Console,
    customer: Customer,
    forms_given: dict[str, forms.Form] | None = None,
    done: str = "",
) -> dict[str, Any]:
    org = console.organisation
    customer.organisation = org
    today = today_for(org)
    view = customer_view(org, customer, today, with_timeline=False, limit=ITEMS_PAGE,
                         offset=_items_offset(request))  # fmt: skip
    history = timeline_page(org, customer, older_than=request.GET.get("older"))
    invoices = [
        Invoice(pk=i.invoice_id, number=i.number, due_date=i.due_date) for i in view.open_items
    ]
    members = _members(console) if console.can(Can.ASSIGN) else []
    given = forms_given or {}
    upcoming = [i.next_step.on for i in view.open_items if i.next_step and i.next_step.on]
    next_item = min(
        (i for i in view.open_items if i.next_step and i.next_step.on),
        key=lambda i: (i.next_step.on, i.due_date) if i.next_step else (today, i.due_date),
        default=None,
    )
    promise_initial = {
        "promised_on": today + dt.timedelta(days=7),
        "grace_days": org.promise_grace_days,
    }
    pauses_shown = {
        "disputes": [
            {**d, "label": _label(DisputeReason, d["reason"])} for d in view.pauses["disputes"]
        ],
        "holds": [{**h, "label": _label(HoldKind, h["kind"])} for h in view.pauses["holds"]],
        "promises": view.pauses["promises"],
        "plans": view.pauses["plans"],
    }
    return {
        "customer": customer,
        "view": view,
        "pauses": pauses_shown,
        "events": _labelled(history.entries),
        "risk": _label(RiskClass, customer.risk_class),
        "today": today,
        "history": history,
        "overdue": view.overdue,
        "items_partial": view.offset > 0 or view.next_offset is not None,
        "items_first": view.offset + 1,
        "items_last": view.offset + len(view.open_items),
        "next_item": next_item,
        "next_on": min(upcoming) if upcoming else None,
        "holds_in_force": [h for h in view.pauses["holds"] if h["in_force"]],
        "may_work": console.may_work(customer),
        "done": done,
        "note_form": given.get("note") or NoteForm(prefix="note"),
        "contact_form": given.get("contact") or ContactForm(prefix="contact"),
        "hold_form": given.get("hold") or HoldForm(initial={"start": today}, prefix="hold"),
        "promise_form": given.get("promise")
        or PromiseForm(invoices=invoices, initial=promise_initial, prefix="promise"),
        "dispute_form": given.get("dispute") or DisputeForm(invoices=invoices, prefix="dispute"),
        "collector_form": given.get("collector")
        or CollectorForm(
            members=members, initial={"collector": customer.collector_id}, prefix="collector"
        ),
        "handover_form": HandoverForm(prefix="handover") if console.can(Can.APPROVE) else None,
        "open": next(iter(given), ""),  # the form to show open: the one with errors
        "missing_rate": _missing_rate(console, view.missing_rate),
    }


def _missing_rate(console: Console, missing: MissingRate | None) -> dict[str, str] | None:
    """Why no penalty is computed, when a rate is missing, in the reader's words: which
    rate, for which period; who adds it (the rates are the server's, shared by its
    organisations: no organisation's page changes them), and to an administrator the
    command that does it."""
    if missing is None:
        return None
    command = missing.fetch if console.can(Can.ADMINISTER) else ""
    return {"text": missing.for_reader().shown(), "command": command}


def _items_offset(request: HttpRequest) -> int:
    """Where the page of open items starts (``?items=``): 0 unless a number is given."""
    value = str(request.GET.get("items") or "")
    return min(int(value), 10_000_000) if value.isdigit() else 0


def _label(choices: Any, value: str) -> str:
    return str(dict(choices.choices).get(value, value))


def _labelled(entries: list[Any]) -> list[tuple[Any, Any]]:
    """Each timeline line with the name of its kind."""
    return [(e, KIND_LABELS.get(e.kind, OTHER_KIND)) for e in entries]


@console_view()
def customer_page(request: HttpRequest, pk: int) -> HttpResponse:
    console, customer = _load(request, pk)
    return render(
        request, "console/customers/customer.html", _page_context(request, console, customer)
    )


@console_view()
def older_events(request: HttpRequest, pk: int) -> HttpResponse:
    """The timeline's next page: its lines alone for htmx, else the customer's page."""
    console, customer = _load(request, pk)
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect(_customer_url(customer, request.GET.get("older")))
    history = timeline_page(console.organisation, customer, older_than=request.GET.get("older"))
    return render(
        request,
        "console/customers/_timeline_entries.html",
        {"customer": customer, "history": history, "events": _labelled(history.entries)},
    )


@console_view()
def more_items(request: HttpRequest, pk: int) -> HttpResponse:
    """The next page of open items: their rows alone for htmx, else the customer's page."""
    console, customer = _load(request, pk)
    offset = _items_offset(request)
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect(
            reverse("console:customer", args=[customer.pk]) + f"?items={offset}#open-items"
        )
    org = console.organisation
    customer.organisation = org
    view = customer_view(org, customer, today_for(org), with_timeline=False, limit=ITEMS_PAGE,
                         offset=offset)  # fmt: skip
    return render(
        request, "console/customers/_open_items.html", {"customer": customer, "view": view}
    )


def _customer_url(customer: Customer, older: str | None = None) -> str:
    from urllib.parse import urlencode

    url = reverse("console:customer", args=[customer.pk])
    return url + (f"?{urlencode({'older': older})}#timeline" if older else "")


def _answer(
    request: HttpRequest,
    console: Console,
    customer: Customer,
    *,
    done: str = "",
    failed: tuple[str, forms.Form] | None = None,
) -> HttpResponse:
    """After an action: the page's body for htmx (with the form in error, if any); without
    JavaScript, back to the page (or the page with the form in error, 400)."""
    if request.htmx:  # type: ignore[attr-defined]
        context = _page_context(request, console, customer, dict([failed]) if failed else None,
                                done=done)  # fmt: skip
        return render(request, "console/customers/_customer.html", context)
    if failed:
        context = _page_context(request, console, customer, dict([failed]))
        return render(request, "console/customers/customer.html", context, status=400)
    messages.success(request, done)
    return redirect(_customer_url(customer))


# What a service says when it refuses an action: shown on the action's form.
REFUSALS = (customer_file.Refused, pauses.PauseError, dispute_group.Refused)


def _act(
    request: HttpRequest,
    pk: int,
    prefix: str,
    form_for: Callable[[Console, Customer], forms.Form],
    perform: Callable[[Console, Customer, Any], None],
    done: str,
    *,
    need: Can | None = None,
) -> HttpResponse:
    """One action of the customer's page: permission, the form validated, the service
    called; the page answered, with the form in error when the form or the service says no.
    ``perform`` receives the bound form once valid."""
    console, customer = _load(request, pk)
    if need is None:
        console.require_work(customer)
    else:
        console.require(need)
    form = form_for(console, customer)
    if form.is_valid():
        try:
            perform(console, customer, form)
        except REFUSALS as exc:
            form.add_error(None, str(exc))
        else:
            return _answer(request, console, customer, done=done)
    return _answer(request, console, customer, failed=(prefix, form))


@console_view()
@require_POST
def add_note(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(console: Console, customer: Customer, form: Any) -> None:
        customer_file.add_note(customer, form.cleaned_data["text"], user=console.user)

    return _act(request, pk, "note",
                lambda console, customer: NoteForm(request.POST, prefix="note"),
                perform, _("Note added."))  # fmt: skip


@console_view()
@require_POST
def add_contact(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(console: Console, customer: Customer, form: Any) -> None:
        customer_file.add_contact(customer, user=console.user, **form.cleaned_data)

    return _act(request, pk, "contact",
                lambda console, customer: ContactForm(request.POST, prefix="contact"),
                perform, _("Contact added."))  # fmt: skip


@console_view()
@require_POST
def place_hold(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(console: Console, customer: Customer, form: Any) -> None:
        data = form.cleaned_data
        pauses.place_hold(
            customer, kind=data["kind"], start=data["start"], reason=data["reason"],
            published_on=data["published_on"], user_id=console.user.pk,
        )  # fmt: skip

    return _act(request, pk, "hold",
                lambda console, customer: HoldForm(request.POST, prefix="hold"),
                perform, _("Hold placed."))  # fmt: skip


@console_view()
@require_POST
def release_hold(request: HttpRequest, pk: int, hold: int) -> HttpResponse:
    console, customer = _load(request, pk)
    console.require_work(customer)
    found = console.get(Hold, hold, console.objects(Hold).filter(customer=customer))
    found.customer = customer
    try:
        pauses.release_hold(found, on=today_for(console.organisation), user_id=console.user.pk)
    except pauses.PauseError as exc:
        messages.error(request, str(exc))
        return redirect(_customer_url(customer))
    return _answer(request, console, customer, done=_("Hold lifted."))


@console_view()
@require_POST
def record_promise(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(console: Console, customer: Customer, form: Any) -> None:
        data = form.cleaned_data
        invoice = next((i for i in form.open_invoices if i.pk == data["invoice"]), None)
        if invoice is not None:
            invoice.customer = customer
        pauses.record_promise(
            customer, promised_on=data["promised_on"], invoice=invoice,
            amount=data["amount"], grace_days=data["grace_days"], note=data["note"],
            user_id=console.user.pk,
        )  # fmt: skip

    return _act(request, pk, "promise",
                lambda console, customer: PromiseForm(
                    request.POST, invoices=_open_invoices(customer), prefix="promise"),
                perform, _("Promise recorded."))  # fmt: skip


@console_view()
@require_POST
def open_dispute(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(console: Console, customer: Customer, form: Any) -> None:
        data = form.cleaned_data
        chosen = [i for i in form.open_invoices if i.pk in set(data["invoices"])]
        dispute_group.open_disputes(
            customer, chosen, reason=data["reason"], on=today_for(console.organisation),
            amount=data["amount"], note=data["note"], user_id=console.user.pk,
        )  # fmt: skip

    return _act(request, pk, "dispute",
                lambda console, customer: DisputeForm(
                    request.POST, invoices=_open_invoices(customer), prefix="dispute"),
                perform, _("Dispute opened."))  # fmt: skip


@console_view(Can.READ, post=Can.ASSIGN)
@require_POST
def assign_collector(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(console: Console, customer: Customer, form: Any) -> None:
        chosen = form.cleaned_data["collector"]
        user = None if chosen is None else get_user_model()._default_manager.get(pk=chosen)
        customer_file.assign_collector(customer, user, by=console.user)

    return _act(request, pk, "collector",
                lambda console, customer: CollectorForm(
                    request.POST, members=_members(console), prefix="collector"),
                perform, _("Collector assigned."), need=Can.ASSIGN)  # fmt: skip


class HandoverForm(forms.Form):
    recipient = forms.ChoiceField(label=gettext_lazy("For"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["recipient"]
        field.choices = [(kind, handover.recipient_label(kind)) for kind in handover.RECIPIENTS]


@console_view(Can.APPROVE)
@require_POST
def download_handover(request: HttpRequest, pk: int) -> HttpResponse:
    """The hand-over file (``relance handover``) as a download; managers only."""
    console, customer = _load(request, pk)
    form = HandoverForm(request.POST, prefix="handover")
    if not form.is_valid():
        messages.error(request, _("Choose who the hand-over file is for."))
        return redirect(_customer_url(customer))
    org = console.organisation
    try:
        name, content = handover.hand_over_bytes(
            org, customer, form.cleaned_data["recipient"], today_for(org),
            user=console.user, request=request,
        )  # fmt: skip
    except (handover.NothingToHandOver, DocumentError) as error:
        messages.error(request, str(error))
        return redirect(_customer_url(customer))
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


urlpatterns = [
    path("customers/", customer_list_view, name="customers"),
    path("customers/<int:pk>/", customer_page, name="customer"),
    path("customers/<int:pk>/timeline/", older_events, name="customer_timeline"),
    path("customers/<int:pk>/items/", more_items, name="customer_items"),
    path("customers/<int:pk>/note/", add_note, name="customer_note"),
    path("customers/<int:pk>/contact/", add_contact, name="customer_contact"),
    path("customers/<int:pk>/hold/", place_hold, name="customer_hold"),
    path("customers/<int:pk>/hold/<int:hold>/release/", release_hold, name="customer_release"),
    path("customers/<int:pk>/promise/", record_promise, name="customer_promise"),
    path("customers/<int:pk>/dispute/", open_dispute, name="customer_dispute"),
    path("customers/<int:pk>/collector/", assign_collector, name="customer_collector"),
    path("customers/<int:pk>/handover/", download_handover, name="customer_handover"),
]
