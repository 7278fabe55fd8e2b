"""Calls to make and tasks to do, with their outcomes.

Calls: the open call tasks due on a day or before, per collector, each with who, why (the
step and its invoices), what the customer owes (``summaries.balances``), its last events, a
short script (``channels/call/<lang>/script.txt``, rendered with the message context of the
call) and its numbers; the outcome in one click (``dunning.calls.record_outcome``).

Tasks: every task by kind, status and assignee; marked done with a note
(``tasklist.close_each``), given to a member (``tasklist.assign``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from relance.accounts.models import Membership
from relance.channels import overrides, templates
from relance.channels.context import message_context
from relance.console.access import Can, Console, console_view
from relance.dunning import batch, calls, task_titles, tasklist
from relance.dunning.models import CommPurpose, Communication, CommunicationItem, Task
from relance.ledger.models import Contact, CustomerBalance, DisputeReason, Invoice, TimelineEvent
from relance.ledger.summaries import balances
from relance.lib.amounts import AmountError, Bound, check_amount

CALLS_PER_PAGE = 25
TASKS_PER_PAGE = 50
HISTORY = 3  # events shown with each call

# The kinds of tasks runs, sends, webhooks and calls open, as the tasks page names them.
KINDS = {
    "call": gettext_lazy("Calls"),
    "task": gettext_lazy("Escalations"),
    "handover": gettext_lazy("Hand-overs"),
    "registered_letter": gettext_lazy("Registered letters to post"),
    "letter": gettext_lazy("Letters to post"),
    "declare_claim": gettext_lazy("Insolvency claims to declare"),
    "check_send": gettext_lazy("Sends to check"),
    "send_failed": gettext_lazy("Failed sends"),
    "invalid_email": gettext_lazy("Bounced addresses"),
    "no_email": gettext_lazy("Customers without an address"),
    "no_letter_address": gettext_lazy("Customers without a postal address"),
    "no_registered_letter_address": gettext_lazy("Customers without a postal address"),
    "held": gettext_lazy("Messages held"),
    "sms": gettext_lazy("Texts to send"),
    "no_mobile": gettext_lazy("Customers without a mobile number"),
    "invalid_phone": gettext_lazy("Failed mobile numbers"),
    "find_number": gettext_lazy("Phone numbers to find"),
    "check_payment": gettext_lazy("Payments to check"),
    "send_copy": gettext_lazy("Invoice copies to send"),
}


# One task's kind, as its row names it ("Kind: Call"; the list's filters count "Calls").
ONE_KIND = {
    "call": pgettext_lazy("task kind", "Call"),
    "task": pgettext_lazy("task kind", "Escalation"),
    "handover": pgettext_lazy("task kind", "Hand-over"),
    "registered_letter": pgettext_lazy("task kind", "Registered letter to post"),
    "letter": pgettext_lazy("task kind", "Letter to post"),
    "declare_claim": pgettext_lazy("task kind", "Insolvency claim to declare"),
    "check_send": pgettext_lazy("task kind", "Send to check"),
    "send_failed": pgettext_lazy("task kind", "Failed send"),
    "invalid_email": pgettext_lazy("task kind", "Bounced address"),
    "no_email": pgettext_lazy("task kind", "Customer without an address"),
    "no_letter_address": pgettext_lazy("task kind", "Customer without a postal address"),
    "no_registered_letter_address": pgettext_lazy("task kind", "Customer without a postal address"),
    "held": pgettext_lazy("task kind", "Message held"),
    "sms": pgettext_lazy("task kind", "Text to send"),
    "no_mobile": pgettext_lazy("task kind", "Customer without a mobile number"),
    "invalid_phone": pgettext_lazy("task kind", "Failed mobile number"),
    "find_number": pgettext_lazy("task kind", "Phone number to find"),
    "check_payment": pgettext_lazy("task kind", "Payment to check"),
    "send_copy": pgettext_lazy("task kind", "Invoice copy to send"),
}


def _console(request: HttpRequest) -> Console:
    return request.console  # type: ignore[attr-defined]


def _day(text: str | None) -> dt.date:
    try:
        return dt.date.fromisoformat(text or "")
    except ValueError:
        return timezone.localdate()


def _page(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def _person_filter(value: str, console: Console, column: str) -> Q:
    """``me``, ``none`` or a user id, on ``column``; anything else: everyone."""
    if value == "me":
        return Q(**{f"{column}_id": console.user.pk})
    if value == "none":
        return Q(**{f"{column}__isnull": True})
    if value.isdigit():
        return Q(**{f"{column}_id": int(value)})
    return Q()


def _members(console: Console) -> list[Membership]:
    return list(
        Membership.objects.filter(organisation=console.organisation)
        .select_related("user")
        .order_by("user__email")
    )


# -- calls --------------------------------------------------------------------------------


@dataclass
class Call:
    task: Task
    title: str = ""  # the task's, in the reader's language
    invoices: list[Any] = field(default_factory=list)  # CommunicationItem-like: .invoice
    owed: list[CustomerBalance] = field(default_factory=list)
    history: list[TimelineEvent] = field(default_factory=list)
    phones: list[tuple[str, str]] = field(default_factory=list)  # (who, number)
    script: str = ""


def calls_due(console: Console, day: dt.date, collector: str) -> QuerySet[Task]:
    return (
        console.objects(Task)
        .filter(kind=calls.CALL, status=Task.Status.OPEN, due_on__lte=day)
        .filter(_person_filter(collector, console, "customer__collector"))
        .select_related("organisation", "customer", "communication__step", "assignee")
        .order_by("due_on", "pk")
    )


def gather(console: Console, tasks: list[Task], day: dt.date) -> list[Call]:
    """Everything a page of calls shows, read a kind of row at a time."""
    org = console.organisation
    customer_ids = sorted({t.customer_id for t in tasks})
    shown = task_titles.titles(tasks)
    found = [Call(t, shown[t.pk]) for t in tasks]
    comms = [t.communication for t in tasks if t.communication is not None]
    facts = batch.load(comms, day)
    contacts: dict[int, list[Contact]] = {}
    for contact in Contact.objects.filter(customer_id__in=customer_ids).order_by(
        "-is_primary", "name", "pk"
    ):
        contacts.setdefault(contact.customer_id, []).append(contact)
    facts.contacts = contacts
    # Calls that no message planned (a defaulted plan, a rescheduled call of old): about
    # every open invoice of the customer.
    loose = {t.customer_id for t in tasks if t.communication_id is None}
    owing: dict[int, list[CommunicationItem]] = {}
    for invoice in Invoice.objects.filter(
        customer_id__in=sorted(loose), balance__gt=org.min_balance
    ).order_by("due_date", "number"):
        owing.setdefault(invoice.customer_id, []).append(
            CommunicationItem(
                invoice=invoice,
                step_position=0,
                balance=invoice.balance,
                days_overdue=(day - invoice.due_date).days,
            )
        )
    owed: dict[int, list[CustomerBalance]] = {}
    for row in balances(org, day).filter(customer_id__in=customer_ids).order_by("currency"):
        owed.setdefault(row.customer_id, []).append(row)
    history: dict[int, list[TimelineEvent]] = {}
    recent = (
        TimelineEvent.objects.filter(organisation=org, customer_id__in=customer_ids)
        .annotate(
            n=Window(
                RowNumber(),
                partition_by=[F("customer_id")],
                order_by=[F("at").desc(), F("id").desc()],
            )
        )
        .filter(n__lte=HISTORY)
        .order_by("customer_id", "-at", "-id")
    )
    for event in recent:
        history.setdefault(event.customer_id, []).append(event)
    # One read of the organisation's own wording for the whole page (not per call).
    with overrides.snapshot([org.pk]):
        for call in found:
            task, customer = call.task, call.task.customer
            comm = task.communication
            if comm is not None:
                call.invoices = [i for i in facts.items.get(comm.pk, []) if i.invoice.balance > 0]
            else:
                call.invoices = owing.get(customer.pk, [])
                comm = Communication(
                    organisation=org, customer=customer, channel=calls.CALL, template="call",
                    language=customer.language, purpose=CommPurpose.REMINDER, run_date=day,
                    send_on=day,
                )  # fmt: skip
            comm.organisation, comm.customer = org, customer
            for item in call.invoices:
                item.late = (day - item.invoice.due_date).days  # type: ignore[union-attr]  # as of the day
            call.owed = owed.get(customer.pk, [])
            call.history = history.get(customer.pk, [])
            call.phones = [(c.name, c.phone) for c in contacts.get(customer.pk, [])
                           if c.phone and c.phone_valid]  # fmt: skip
            if customer.phone:
                call.phones.append((customer.legal_name, customer.phone))
            call.script = templates.render(
                organisation_slug=org.slug, channel=calls.CALL, language=comm.language,
                slug="script", context=message_context(comm, call.invoices, day, facts),
            ).text  # fmt: skip
    return found


@console_view(Can.READ)
def calls_page(request: HttpRequest) -> HttpResponse:
    console = _console(request)
    day = _day(request.GET.get("day"))
    collector = request.GET.get("collector", "all")
    page = _page(request)
    start = (page - 1) * CALLS_PER_PAGE
    tasks = list(calls_due(console, day, collector)[start : start + CALLS_PER_PAGE + 1])
    more = len(tasks) > CALLS_PER_PAGE
    tasks = tasks[:CALLS_PER_PAGE]
    return render(
        request,
        "console/work/calls.html",
        {
            "calls": gather(console, tasks, day),
            "day": day,
            "collector": collector,
            "members": _members(console),
            "outcomes": calls.Outcome,
            "reasons": DisputeReason.choices,
            "page": page,
            "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if more else None,
        },
    )


def _amount(text: str) -> Decimal | None:
    try:
        return check_amount(text, _("Amount promised"), Bound.ABOVE_ZERO)
    except AmountError as error:
        raise calls.CallError(str(error)) from None


@console_view(Can.WORK)
def record_call(request: HttpRequest, pk: int) -> HttpResponse:
    """The outcome of one call: the button pressed names it (``outcome``)."""
    console = _console(request)
    if request.method != "POST":
        return redirect("console:calls")
    task = console.get(Task, pk, console.objects(Task).filter(kind=calls.CALL)
                       .select_related("organisation", "customer"))  # fmt: skip
    console.require_work(task.customer)
    outcome = request.POST.get("outcome", "")
    try:
        promised = request.POST.get("promised_on", "")
        if outcome == calls.Outcome.PROMISE and not promised:
            raise calls.CallError(_("Give the date promised."))
        try:
            promised_on = dt.date.fromisoformat(promised) if promised else None
        except ValueError:
            raise calls.CallError(_("The date promised is not a date.")) from None
        calls.record_outcome(
            task, outcome, promised_on=promised_on if outcome == calls.Outcome.PROMISE else None,
            amount=_amount(request.POST.get("amount", "")) if outcome == calls.Outcome.PROMISE
            else None,
            reason=request.POST.get("reason", "") if outcome == calls.Outcome.DISPUTE else "",
            note=request.POST.get("note", "")[:500], user_id=console.user.pk,
        )  # fmt: skip
    except calls.CallError as error:
        text, failed = str(error), True
    else:
        values = {"customer": task.customer.legal_name, "outcome": calls.Outcome(outcome).label}
        text = _("Call to %(customer)s recorded: %(outcome)s.") % values
        failed = False
    if request.htmx and failed:  # type: ignore[attr-defined]
        # The same card again, saying what to correct.
        day = timezone.localdate()
        task.refresh_from_db()
        [call] = gather(console, [task], day)
        context = {"call": call, "day": day, "error": text, "reasons": DisputeReason.choices}
        return render(request, "console/work/_call.html", context)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "console/work/_recorded.html", {"text": text})
    (messages.error if failed else messages.success)(request, text)
    back = request.POST.get("back", "")
    safe = url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure())
    return redirect(back if back and safe else "console:calls")


# -- tasks --------------------------------------------------------------------------------


@console_view(Can.READ)
def tasks_page(request: HttpRequest) -> HttpResponse:
    console = _console(request)
    kind = request.GET.get("kind", "")
    status = request.GET.get("status", "open")
    assignee = request.GET.get("assignee", "")
    rows = console.objects(Task).select_related("customer", "assignee", "communication")
    if status in Task.Status.values:
        rows = rows.filter(status=status)
    elif status != "all":
        status = "open"
        rows = rows.filter(status=Task.Status.OPEN)
    counts = _counts(rows)
    if kind:
        rows = rows.filter(kind=kind)
    rows = rows.filter(_person_filter(assignee, console, "assignee"))
    page = _page(request)
    start = (page - 1) * TASKS_PER_PAGE
    found = list(rows.order_by("due_on", "pk")[start : start + TASKS_PER_PAGE + 1])
    more = len(found) > TASKS_PER_PAGE
    shown = task_titles.titles(found[:TASKS_PER_PAGE])
    for task in found[:TASKS_PER_PAGE]:
        task.kind_label = ONE_KIND.get(task.kind, task.kind)  # type: ignore[attr-defined]
        task.shown_title = shown[task.pk]  # type: ignore[attr-defined]
    return render(
        request,
        "console/work/tasks.html",
        {
            "tasks": found[:TASKS_PER_PAGE],
            "kinds": [(k, KINDS.get(k, k), counts.get(k, 0)) for k in _kinds(counts)],
            "kind": kind,
            "status": status,
            "assignee": assignee,
            "members": _members(console),
            "page": page,
            "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if more else None,
            "query": request.GET.urlencode(),
        },
    )


def _counts(rows: QuerySet[Task]) -> dict[str, int]:
    return dict(
        rows.order_by().values_list("kind").annotate(n=Count("pk")).values_list("kind", "n")
    )


def _kinds(counts: dict[str, int]) -> list[str]:
    return [k for k in KINDS if k in counts] + sorted(k for k in counts if k not in KINDS)


def _back(request: HttpRequest) -> HttpResponse:
    back = request.POST.get("back", "")
    url = reverse("console:tasks")
    return redirect(f"{url}?{back}" if back else url)


@console_view(Can.WORK)
def task_done(request: HttpRequest, pk: int) -> HttpResponse:
    console = _console(request)
    if request.method != "POST":
        return redirect("console:tasks")
    task = console.get(Task, pk, console.objects(Task).select_related("customer"))
    console.require_work(task.customer)
    try:
        tasklist.close_each(console.organisation, {task.pk: request.POST.get("note", "")[:500]},
                            user_id=console.user.pk)  # fmt: skip
    except tasklist.NotOpen:
        messages.error(request, _("This task is no longer open."))
    else:
        messages.success(request, _("Done: %(title)s") % {"title": task_titles.title(task)})
    return _back(request)


@console_view(Can.WORK)
def task_assign(request: HttpRequest, pk: int) -> HttpResponse:
    """Give a task to a member: managers to anyone; a collector takes it for themself."""
    console = _console(request)
    if request.method != "POST":
        return redirect("console:tasks")
    task = console.get(Task, pk, console.objects(Task).select_related("customer"))
    console.require_work(task.customer)
    wanted = request.POST.get("assignee", "")
    assignee = int(wanted) if wanted.isdigit() else None
    if not console.can(Can.ASSIGN) and assignee not in (console.user.pk, None):
        raise PermissionDenied("collectors take tasks for themselves")
    try:
        tasklist.assign(console.organisation, [task.pk], assignee, user_id=console.user.pk)
    except tasklist.NotOpen:
        messages.error(request, _("This task is no longer open, or that person is not a member."))
    else:
        messages.success(request, _("Assigned: %(title)s") % {"title": task_titles.title(task)})
    return _back(request)


urlpatterns = [
    path("calls/", calls_page, name="calls"),
    path("calls/<int:pk>/outcome/", record_call, name="call_outcome"),
    path("tasks/", tasks_page, name="tasks"),
    path("tasks/<int:pk>/done/", task_done, name="task_done"),
    path("tasks/<int:pk>/assign/", task_assign, name="task_assign"),
]
