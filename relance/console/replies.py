"""Replies: the inbox of what customers answered (new first, by status and kind), and one
reply with what it was read to say and the action it proposes, applied in one click
(``replies.service``) or dismissed.

Opening a reply is reading it: for a member who may work its customer, the page marks it
read, which lifts the pause it put on the customer's reminders. A viewer's look changes
nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Case, Count, IntegerField, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from relance.console.access import Can, Console, console_view
from relance.ledger.models import DisputeReason, Invoice
from relance.replies import service
from relance.replies.models import Reply, ReplyKind, ReplyStatus

PER_PAGE = 50
OPEN = (ReplyStatus.NEW, ReplyStatus.READ)  # not dealt with yet
ACTIONS: dict[str, Any] = {
    ReplyKind.PAID: gettext_lazy("Open a task to check the payment"),
    ReplyKind.PROMISE: gettext_lazy("Record the promise"),
    ReplyKind.DISPUTE: gettext_lazy("Open the dispute"),
    ReplyKind.COPY: gettext_lazy("Open a task to send the copy"),
    ReplyKind.ABSENCE: gettext_lazy("Hold reminders until the return date"),
}


def _console(request: HttpRequest) -> Console:
    return request.console  # type: ignore[attr-defined]


@console_view(Can.READ)
def inbox(request: HttpRequest) -> HttpResponse:
    console = _console(request)
    status = request.GET.get("status", "open")
    kind = request.GET.get("kind", "")
    rows = console.objects(Reply).select_related("customer")
    if status in ReplyStatus.values:
        rows = rows.filter(status=status)
    elif status != "all":
        status = "open"
        rows = rows.filter(status__in=OPEN)
    counts = dict(
        rows.order_by().values_list("kind").annotate(n=Count("pk")).values_list("kind", "n")
    )
    if kind in ReplyKind.values:
        rows = rows.filter(kind=kind)
    else:
        kind = ""
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    start = (page - 1) * PER_PAGE
    newest_first = rows.annotate(
        unread=Case(When(status=ReplyStatus.NEW, then=Value(0)), default=Value(1),
                    output_field=IntegerField())
    ).order_by("unread", "-received_at", "-pk")  # fmt: skip
    found = list(newest_first[start : start + PER_PAGE + 1])
    return render(
        request,
        "console/replies/inbox.html",
        {
            "replies": found[:PER_PAGE],
            "kinds": [(v, label, counts.get(v, 0)) for v, label in ReplyKind.choices],
            "statuses": ReplyStatus.choices,
            "status": status,
            "kind": kind,
            "page": page,
            "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if len(found) > PER_PAGE else None,
        },
    )


class ApplyForm(forms.Form):
    """What the person confirms or corrects before applying: the date (a promise's, a
    return date), the dispute's reason, the invoices it is about."""

    date = forms.DateField(label=gettext_lazy("Date"), required=False)
    reason = forms.ChoiceField(
        label=gettext_lazy("Reason"), choices=[("", "—"), *DisputeReason.choices], required=False
    )
    invoices = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Invoices"), queryset=Invoice.objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip

    def __init__(self, *args: Any, owing: list[Invoice], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["invoices"]
        field.queryset = Invoice.objects.filter(pk__in=[i.pk for i in owing]).order_by(
            "due_date", "number"
        )


def _load(request: HttpRequest, pk: int) -> tuple[Console, Reply]:
    console = _console(request)
    reply = console.get(
        Reply, pk, console.objects(Reply).select_related("customer", "communication", "read_by")
    )
    return console, reply


def _may_act(console: Console, reply: Reply) -> bool:
    if reply.customer is None:
        return console.can(Can.WORK)
    return console.may_work(reply.customer)


@console_view(Can.READ)
def reply_page(request: HttpRequest, pk: int) -> HttpResponse:
    console, reply = _load(request, pk)
    may_act = _may_act(console, reply)
    if may_act and reply.status == ReplyStatus.NEW:
        service.mark_read(reply, user=console.user, on=timezone.localdate())
        reply.refresh_from_db()
    return _render(request, console, reply, may_act)


def _render(
    request: HttpRequest,
    console: Console,
    reply: Reply,
    may_act: bool,
    form: ApplyForm | None = None,
    status: int = 200,
) -> HttpResponse:
    owing = service.open_invoices(reply)
    proposal = service.proposal(reply, owing)
    if form is None:
        form = ApplyForm(
            owing=owing,
            initial={"date": proposal.date, "reason": proposal.reason,
                     "invoices": [i.pk for i in proposal.invoices]},
        )  # fmt: skip
    details = reply.details
    return render(
        request,
        "console/replies/reply.html",
        {
            "reply": reply,
            "proposal": proposal,
            "action": ACTIONS.get(reply.kind, ""),
            "form": form,
            "may_act": may_act and reply.status in OPEN,
            "evidence": details.get("evidence", []),
            "reason_label": dict(DisputeReason.choices).get(details.get("reason", ""), ""),
            "applied": details.get("applied"),
            "proposal_ids": _ticked(form, proposal),
            "wants_date": reply.kind in (ReplyKind.PROMISE, ReplyKind.ABSENCE),
            "wants_reason": reply.kind == ReplyKind.DISPUTE,
            "wants_invoices": reply.kind
            in (ReplyKind.DISPUTE, ReplyKind.PROMISE, ReplyKind.PAID, ReplyKind.COPY),
        },
        status=status,
    )


def _ticked(form: ApplyForm, proposal: service.Proposal) -> list[int]:
    """The invoices ticked: as posted, else those proposed."""
    if form.is_bound:
        posted: Any = form.data
        return [int(v) for v in posted.getlist("invoices") if str(v).isdigit()]
    return [i.pk for i in proposal.invoices]


@console_view(Can.WORK)
def apply_reply(request: HttpRequest, pk: int) -> HttpResponse:
    console, reply = _load(request, pk)
    if request.method != "POST":
        return redirect("console:reply", pk=reply.pk)
    if reply.customer is None:
        messages.error(request, _("This reply is from no known customer: nothing to apply."))
        return redirect("console:reply", pk=reply.pk)
    console.require_work(reply.customer)
    form = ApplyForm(request.POST, owing=service.open_invoices(reply))
    if not form.is_valid():
        return _render(request, console, reply, True, form, status=400)
    data = form.cleaned_data
    day: dt.date | None = data["date"]
    try:
        service.apply(reply, user=console.user, on=timezone.localdate(), date=day,
                      reason=data["reason"], invoices=list(data["invoices"]))  # fmt: skip
    except service.ReplyError as error:
        form.add_error(None, str(error))
        return _render(request, console, reply, True, form, status=400)
    messages.success(request, _("Done: %(action)s") % {"action": ACTIONS.get(reply.kind, "")})
    return redirect("console:reply", pk=reply.pk)


@console_view(Can.WORK)
def dismiss_reply(request: HttpRequest, pk: int) -> HttpResponse:
    console, reply = _load(request, pk)
    if request.method != "POST":
        return redirect("console:reply", pk=reply.pk)
    if reply.customer is not None:
        console.require_work(reply.customer)
    try:
        service.dismiss(reply, user=console.user, on=timezone.localdate())
    except service.ReplyError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Reply dismissed."))
    return redirect("console:replies")


urlpatterns = [
    path("replies/", inbox, name="replies"),
    path("replies/<int:pk>/", reply_page, name="reply"),
    path("replies/<int:pk>/apply/", apply_reply, name="reply_apply"),
    path("replies/<int:pk>/dismiss/", dismiss_reply, name="reply_dismiss"),
]
