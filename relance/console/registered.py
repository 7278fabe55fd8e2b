"""Registered letters: every letter with where it is (status filter, pages), one letter with
its dates, tracking events and proof, and the two hand entries for letters posted by a
person: the tracking number, and what came back (AR signed or letter returned, with its
scan). The rules live in relance.channels.registered_mail; views only read the form."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _

from relance.channels import registered_mail as rm
from relance.channels.models import RegisteredLetter, RegisteredStatus, ReturnReason
from relance.console.access import Can, Console, console_view

PER_PAGE = 50
PROOF_TYPES = {"pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg",
               "zip": "application/zip"}  # fmt: skip


def _console(request: HttpRequest) -> Console:
    return request.console  # type: ignore[attr-defined]


def _letter(request: HttpRequest, pk: int) -> RegisteredLetter:
    console = _console(request)
    rows = console.objects(RegisteredLetter).select_related("organisation", "customer")
    return console.get(RegisteredLetter, pk, rows)


@console_view(Can.READ)
def letters_page(request: HttpRequest) -> HttpResponse:
    console = _console(request)
    status = request.GET.get("status", "")
    rows = console.objects(RegisteredLetter).select_related("customer")
    if status in RegisteredStatus.values:
        rows = rows.filter(status=status)
    else:
        status = ""
    page = Paginator(rows.order_by("-created_at", "-pk"), PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "console/registered/list.html",
        {
            "page": page,
            "letters": page.object_list,
            "status": status,
            "statuses": RegisteredStatus.choices,
            "query": f"status={status}&" if status else "",
        },
    )


@console_view(Can.READ)
def letter_page(request: HttpRequest, pk: int) -> HttpResponse:
    letter = _letter(request, pk)
    return render(request, "console/registered/letter.html", _context(request, letter))


def _context(request: HttpRequest, letter: RegisteredLetter, **more: Any) -> dict[str, Any]:
    console = _console(request)
    may = console.may_work(letter.customer)
    rank = rm.RANK[RegisteredStatus(letter.status)]
    return {
        "letter": letter,
        "recipient": rm.PostalAddress.from_dict(letter.recipient),
        "receipt_date": rm.receipt_date(letter),
        "may_track": may and not letter.provider and rank <= rm.RANK[RegisteredStatus.POSTED],
        "may_receive": may and letter.posted_on is not None and letter.status not in rm.FINAL,
        "reasons": ReturnReason.choices,
        "form": request.POST if request.method == "POST" else {},
        **more,
    }


def _date(text: str, label: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise rm.RegisteredMailError(
            _("%(field)s: %(value)r is not a date.") % {"field": label, "value": text}
        ) from None


@console_view(Can.WORK)
def track(request: HttpRequest, pk: int) -> HttpResponse:
    letter = _letter(request, pk)
    _console(request).require_work(letter.customer)
    if request.method != "POST":
        return redirect("console:registered_letter", pk=letter.pk)
    try:
        posted_on = _date(request.POST.get("posted_on", ""), _("Posted on"))
        rm.record_posting(letter, request.POST.get("number", ""), posted_on, user=request.user)
    except rm.RegisteredMailError as error:
        context = _context(request, letter, track_error=str(error))
        return render(request, "console/registered/letter.html", context, status=400)
    messages.success(request, _("Tracking number recorded."))
    return redirect("console:registered_letter", pk=letter.pk)


@console_view(Can.WORK)
def receipt(request: HttpRequest, pk: int) -> HttpResponse:
    letter = _letter(request, pk)
    _console(request).require_work(letter.customer)
    if request.method != "POST":
        return redirect("console:registered_letter", pk=letter.pk)
    try:
        on = _date(request.POST.get("on", ""), _("Date"))
        presented = request.POST.get("presented_on", "").strip()
        upload = request.FILES.get("proof")
        if upload is not None and upload.size and upload.size > rm.PROOF_MAX_BYTES:
            raise rm.RegisteredMailError(_("The proof is larger than 10 MB."))
        rm.record_receipt(
            letter, on=on, returned=request.POST.get("returned", ""),
            presented_on=_date(presented, _("First presented on")) if presented else None,
            proof=upload.read() if upload is not None else None, user=request.user,
        )  # fmt: skip
    except rm.RegisteredMailError as error:
        context = _context(request, letter, receipt_error=str(error))
        return render(request, "console/registered/letter.html", context, status=400)
    messages.success(request, _("Receipt recorded."))
    return redirect("console:registered_letter", pk=letter.pk)


def _file(letter: RegisteredLetter, which: str) -> HttpResponse:
    stored = letter.proof if which == "proof" else letter.letter
    if not stored:
        raise Http404
    extension = stored.name.rsplit(".", 1)[-1]
    name = f"registered-{letter.pk}-{which}.{extension}"
    kind = PROOF_TYPES.get(extension, "application/octet-stream")
    with stored.open("rb") as source:  # 10 MB at most (registered_mail.PROOF_MAX_BYTES)
        answer = HttpResponse(source.read(), content_type=kind)
    answer["Content-Disposition"] = f'attachment; filename="{name}"'
    return answer


@console_view(Can.READ)
def proof(request: HttpRequest, pk: int) -> HttpResponse:
    return _file(_letter(request, pk), "proof")


@console_view(Can.READ)
def letter_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    return _file(_letter(request, pk), "letter")


urlpatterns = [
    path("registered/", letters_page, name="registered"),
    path("registered/<int:pk>/", letter_page, name="registered_letter"),
    path("registered/<int:pk>/track/", track, name="registered_track"),
    path("registered/<int:pk>/receipt/", receipt, name="registered_receipt"),
    path("registered/<int:pk>/proof/", proof, name="registered_proof"),
    path("registered/<int:pk>/letter.pdf", letter_pdf, name="registered_pdf"),
]
