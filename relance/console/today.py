"""Today: the day's work of the signed-in user, ranked by what it brings in
(relance.insights.worklist), with what the latest run did and the promises due this week."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from relance.console.access import Can, Console, console_view
from relance.dunning.models import CommStatus
from relance.insights import worklist

RUN_PAGE_SIZE = 50
# The run list's ``status`` filter: the figures of Today link to these.
RUN_STATUSES = {
    "awaiting_approval": (CommStatus.AWAITING_APPROVAL,),
    "sent": (CommStatus.SENT,),
    "failed": worklist.FAILED,
}


def page_number(request: HttpRequest) -> int:
    try:
        return max(int(request.GET.get("page", "1")), 1)
    except ValueError:
        return 1


def scope(console: Console) -> Q:
    """The customers whose work Today shows: a collector's are those they may work; a
    manager or admin sees everything, and so does a viewer (who only reads)."""
    if console.can(Can.WORK) and not console.can(Can.APPROVE):
        return console.workable()
    return Q()


@console_view()
def today(request: HttpRequest) -> HttpResponse:
    console: Console = request.console  # type: ignore[attr-defined]
    organisation = console.organisation
    day = timezone.localdate()
    who = "mine" if request.GET.get("who") == "mine" else "all"
    work = worklist.worklist(
        organisation,
        day,
        scope=scope(console),
        mine_of=console.user.pk if who == "mine" else None,
        page=page_number(request),
        may_approve=console.can(Can.APPROVE),
    )
    context = {"work": work, "who": who, "today": day}
    htmx = getattr(request, "htmx", None)  # django-htmx's middleware
    if htmx and htmx.target == "worklist":
        return render(request, "console/today/_worklist.html", context)
    monday, sunday = worklist.week_of(day)
    context.update(
        run=worklist.run_counts(organisation, day),
        promises_this_week=worklist.promises_due_this_week(organisation, day),
        week=(monday, sunday),
    )
    return render(request, "console/today/today.html", context)


@console_view()
def run(request: HttpRequest) -> HttpResponse:
    """The communications of the latest run, all or by what became of them."""
    console: Console = request.console  # type: ignore[attr-defined]
    organisation = console.organisation
    day = timezone.localdate()
    run_date = worklist.latest_run_date(organisation, day)
    status = request.GET.get("status", "")
    if status not in RUN_STATUSES:
        status = ""
    page = None
    if run_date is not None:
        rows = worklist.run_communications(organisation, run_date)
        if status:
            rows = rows.filter(status__in=RUN_STATUSES[status])
        rows = rows.select_related("customer").order_by("customer__legal_name", "pk")
        page = Paginator(rows, RUN_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "console/today/run.html",
        {"run_date": run_date, "status": status, "page": page, "statuses": list(RUN_STATUSES)},
    )


urlpatterns = [
    path("", today, name="today"),
    path("run/", run, name="run"),
]
