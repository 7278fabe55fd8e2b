"""Bank: the credits of bank statements waiting for a person (``relance.bank.services``),
each with what matching found and proposes; a manager accepts the proposal, splits the
credit across invoices or leaves it on the customer's account, unapplied."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.bank import services
from relance.bank.models import BankLine
from relance.console.access import Can, Console, console_view

PER_PAGE = 100


def _console(request: HttpRequest) -> Console:
    return request.console  # type: ignore[attr-defined]


@console_view(Can.READ)
def queue(request: HttpRequest) -> HttpResponse:
    console = _console(request)
    lines = services.queue(console.organisation, limit=PER_PAGE)
    return render(request, "console/bank/queue.html", {
        "lines": lines, "may_apply": console.can(Can.APPROVE),
    })  # fmt: skip


@console_view(Can.APPROVE)
def apply_line(request: HttpRequest, pk: int) -> HttpResponse:
    console = _console(request)
    line = console.get(BankLine, pk)
    if request.method != "POST":
        return redirect("console:bank")
    action = request.POST.get("action", "")
    try:
        if action == "accept":
            services.apply_line(console.organisation, line.pk, accept=True,
                                as_of=timezone.localdate(), user_id=console.user.pk)  # fmt: skip
        elif action == "unapplied":
            services.apply_line(console.organisation, line.pk, unapplied=True,
                                customer=request.POST.get("customer", "").strip() or None,
                                as_of=timezone.localdate(), user_id=console.user.pk)  # fmt: skip
        elif action == "split":
            parts = services.parse_parts(request.POST.get("invoices", ""))
            services.apply_line(console.organisation, line.pk, invoices=parts,
                                as_of=timezone.localdate(), user_id=console.user.pk)  # fmt: skip
        else:
            messages.error(request, _("Choose what to do with the credit."))
            return redirect("console:bank")
    except services.BankError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Credit %(id)s applied.") % {"id": line.pk})
    return redirect("console:bank")


urlpatterns = [
    path("bank/", queue, name="bank"),
    path("bank/<int:pk>/apply/", apply_line, name="bank_apply"),
]
