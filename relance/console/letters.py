"""Letters: those the outbox filed for posting, the print batch made in one click (one PDF
in postal order and its list, the same as ``relance letters batch``), the batches printed
before, and each letter's PDF. The rules live in relance.documents.printing."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.console.access import Can, Console, console_view
from relance.documents import printing
from relance.documents.models import Letter, PrintBatch

PER_PAGE = 50
BATCHES_SHOWN = 20


def _console(request: HttpRequest) -> Console:
    return request.console  # type: ignore[attr-defined]


@console_view(Can.READ)
def letters_page(request: HttpRequest) -> HttpResponse:
    console = _console(request)
    organisation = console.organisation
    today = timezone.localdate()
    if request.method == "POST":
        try:
            made = printing.make_batch(
                organisation, today, user=request.user, duplex=request.POST.get("duplex") == "1"
            )
        except printing.BatchConflict as error:
            messages.error(request, str(error))
            return redirect("console:letters")
        if made.batch is None:
            messages.info(request, _("No letter is waiting to be printed."))
        else:
            messages.success(
                request,
                _("Print batch of %(count)s letters ready: download it below.")
                % {"count": made.batch.count},
            )
        return redirect("console:letters")
    waiting = printing.waiting(organisation, today)
    page = Paginator(waiting, PER_PAGE).get_page(request.GET.get("page"))
    batches = console.objects(PrintBatch).order_by("-created_at", "-pk")[:BATCHES_SHOWN]
    return render(request, "console/letters/list.html", {
        "page": page, "letters": page.object_list, "waiting": page.paginator.count,
        "registered": waiting.filter(registered=True).count(), "batches": batches,
        "query": "",
    })  # fmt: skip


@console_view(Can.READ)
def batch_file(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    batch = _console(request).get(PrintBatch, pk)
    name = f"letters-{batch.day.isoformat()}-{batch.pk}"
    if kind == "csv":
        listing = printing.batch_listing(batch).list_csv()
        response = HttpResponse(listing, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    return _pdf(batch.file, f"{name}.pdf")


@console_view(Can.READ)
def letter_file(request: HttpRequest, pk: int) -> HttpResponse:
    letter = _console(request).get(Letter, pk)
    return _pdf(letter.pdf, f"letter-{letter.pk}-{letter.template}.pdf")


def _pdf(field_file: object, name: str) -> HttpResponse:
    try:
        handle = field_file.open("rb")  # type: ignore[attr-defined]
    except (OSError, ValueError):
        raise Http404 from None
    # Streamed (a batch can be large); the console's views are typed as HttpResponse.
    response = FileResponse(
        handle, as_attachment=True, filename=name, content_type="application/pdf"
    )
    return cast(HttpResponse, response)


urlpatterns = [
    path("letters/", letters_page, name="letters"),
    path("letters/<int:pk>/pdf/", letter_file, name="letter_pdf"),
    path("letters/batches/<int:pk>/<str:kind>/", batch_file, name="letters_batch"),
]
