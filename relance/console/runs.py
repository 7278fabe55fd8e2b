"""Runs: the organisation's runs on the queue (relance.dunning.queued_runs, as `relance
runs` shows them), each with its parts' progress and failures, refreshed while running; an
admin queues today's run, as `relance run --enqueue` does."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from relance.console.access import Can, Console, console_view
from relance.dunning import queued_runs, run_errors
from relance.dunning.engine import RunError

REFRESH = "every 2s"  # while a run is queued or running


def _console(request: HttpRequest) -> Console:
    return request.console  # type: ignore[attr-defined]


@console_view(Can.READ)
def runs(request: HttpRequest) -> HttpResponse:
    console = _console(request)
    found = queued_runs.recent(console.organisation)
    context = {"runs": found, "refreshing": any(r.active for r in found), "refresh": REFRESH,
               "may_queue": console.can(Can.ADMINISTER), "today": timezone.localdate()}  # fmt: skip
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "console/runs/_list.html", context)
    return render(request, "console/runs/runs.html", context)


@console_view(Can.READ)
def run(request: HttpRequest, pk: int) -> HttpResponse:
    console = _console(request)
    try:
        found = queued_runs.one(pk, console.organisation)
    except queued_runs.RunNotFound:
        raise Http404 from None
    context = {"run": found, "refresh": REFRESH}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "console/runs/_run.html", context)
    return render(request, "console/runs/run.html", context)


@console_view(Can.ADMINISTER)
def queue_now(request: HttpRequest) -> HttpResponse:
    console = _console(request)
    if request.method != "POST":
        return redirect("console:runs")
    try:
        queued = queued_runs.queue_now(console.organisation, timezone.localdate(),
                                       user=console.user, request=request)  # fmt: skip
    except RunError as error:
        messages.error(request, run_errors.shown(str(error)))
        return redirect("console:runs")
    day = formats.date_format(queued.run_date, "SHORT_DATE_FORMAT")
    messages.success(request, _("The run of %(day)s is on the queue.") % {"day": day})
    return redirect("console:run", queued.pk)


urlpatterns = [
    path("runs/", runs, name="runs"),
    path("runs/queue/", queue_now, name="runs_queue"),
    path("runs/<int:pk>/", run, name="run"),
]
