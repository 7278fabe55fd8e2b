"""Approvals: what awaits a decision, each message shown exactly as it will be sent (the
builder the worker and ``relance outbox show`` use), with edit, send and skip, one by one or
in bulk (``approval.decide``, the service of ``relance outbox approve|skip``).

Everyone reads the page; only those who may approve (managers and admins) act on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from csp.decorators import csp
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext_lazy
from django.views.decorators.clickjacking import xframe_options_sameorigin

from relance.channels.email import shown_message
from relance.console.access import Can, console_view
from relance.dunning import approval, outbox
from relance.dunning.models import CommStatus, Communication

PAGE_SIZE = 20
# The headers a person checks before a message leaves, in the order a mail program shows,
# named as a mail program names them in the page's language.
HEADERS = {
    "From": pgettext_lazy("mail header", "From"),
    "To": pgettext_lazy("mail header", "To"),
    "Reply-To": pgettext_lazy("mail header", "Reply-To"),
    "Subject": pgettext_lazy("mail header", "Subject"),
}


@dataclass
class Shown:
    """One message awaiting approval, as it would leave today."""

    comm: Communication
    preview: outbox.Preview
    headers: list[tuple[str, str]]
    text: str
    has_html: bool
    attachments: list[str]

    @property
    def named_headers(self) -> list[tuple[str, str, str]]:
        """Each header as (its name in the message, its name for the reader, its value)."""
        return [(name, str(HEADERS[name]), value) for name, value in self.headers]

    @property
    def kept(self) -> list[Any]:
        return self.preview.check.kept

    @property
    def dropped(self) -> list[Any]:
        return self.preview.check.dropped


def _awaiting(request: HttpRequest) -> Any:
    return (
        request.console.objects(Communication)  # type: ignore[attr-defined]
        .filter(status=CommStatus.AWAITING_APPROVAL)
        .select_related("organisation", "customer", "step", "edited_by")
    )


def _send_day(comm: Communication) -> Any:
    """The day a message is shown for: today, or its sending day if later (as the CLI)."""
    return max(timezone.localdate(), comm.send_on)


def show(previews: list[outbox.Preview]) -> list[Shown]:
    shown = []
    for preview in previews:
        headers: list[tuple[str, str]] = []
        text, has_html, attachments = "", False, []
        if preview.outgoing is not None:
            parts = shown_message(preview.outgoing.payload.message())
            headers = [
                (name, parts["headers"][name]) for name in HEADERS if name in parts["headers"]
            ]
            text, has_html, attachments = parts["text"], bool(parts["html"]), parts["attachments"]
        shown.append(Shown(preview.comm, preview, headers, text, has_html, attachments))
    return shown


def _page(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


@console_view(Can.READ, post=Can.APPROVE)
def approvals(request: HttpRequest) -> HttpResponse:
    page = _page(request)
    rows = _awaiting(request).order_by("send_on", "pk")
    start = (page - 1) * PAGE_SIZE
    comms = list(rows[start : start + PAGE_SIZE + 1])
    more = len(comms) > PAGE_SIZE
    comms = comms[:PAGE_SIZE]
    today = timezone.localdate()
    by_day: dict[Any, list[Communication]] = {}
    for comm in comms:  # messages are built for their own sending day
        by_day.setdefault(max(today, comm.send_on), []).append(comm)
    built = {p.comm.pk: p for day, group in by_day.items() for p in outbox.previews(group, day)}
    return render(
        request,
        "console/approvals/list.html",
        {
            "shown": show([built[c.pk] for c in comms]),
            "page": page,
            "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if more else None,
        },
    )


@console_view(Can.APPROVE)
def decide(request: HttpRequest) -> HttpResponse:
    """Send (approve) or skip: one message (``one=approve:ID`` / ``skip:ID``, a card's own
    button) or those ticked (``ids``) with ``action``."""
    if request.method != "POST":
        return redirect("console:approvals")
    one = request.POST.get("one", "")
    if one:
        action, _sep, pk = one.partition(":")
        ids = [pk]
    else:
        action = request.POST.get("action", "")
        ids = request.POST.getlist("ids")
    if action not in ("approve", "skip"):
        return HttpResponse(_("Choose to send or to skip."), status=400)
    try:
        wanted = sorted({int(pk) for pk in ids})
    except ValueError:
        raise Http404 from None
    console = request.console  # type: ignore[attr-defined]
    if not wanted:
        messages.error(request, _("Tick at least one message."))
        return redirect("console:approvals")
    note = request.POST.get("note", "").strip()[:300]
    try:
        decided = approval.decide(
            console.organisation, wanted, approve=action == "approve", user_id=console.user.pk,
            note=note,
        )  # fmt: skip
    except approval.NotAwaiting:
        text = _("Someone decided on these messages already, or they no longer await approval: "
                 "nothing was changed.")  # fmt: skip
        if request.htmx:  # type: ignore[attr-defined]
            return render(request, "console/approvals/_decided.html",
                          {"text": text, "error": True}, status=409)  # fmt: skip
        messages.error(request, text)
        return redirect("console:approvals")
    if action == "approve":
        text = ngettext(
            "%(count)d message approved: the worker sends it.",
            "%(count)d messages approved: the worker sends them.",
            len(decided),
        )
    else:
        text = ngettext("%(count)d message skipped.", "%(count)d messages skipped.", len(decided))
    text = text % {"count": len(decided)}
    if request.htmx and one:  # type: ignore[attr-defined]
        return render(request, "console/approvals/_decided.html", {"text": text})
    messages.success(request, text)
    return redirect("console:approvals")


@console_view(Can.APPROVE)
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The person's own wording for this one message; empty text: the template's again."""
    console = request.console  # type: ignore[attr-defined]
    comm = console.get(Communication, pk, _awaiting(request))
    [preview] = outbox.previews([comm], _send_day(comm))
    [shown] = show([preview])
    subject = dict(shown.headers).get("Subject", "")
    error = ""
    if request.method == "POST":
        if "revert" in request.POST:
            new_subject, new_text = "", ""
        else:
            new_subject = request.POST.get("subject", "")
            new_text = request.POST.get("text", "")
        try:
            approval.edit(console.organisation, comm.pk, subject=new_subject, text=new_text,
                          user_id=console.user.pk)  # fmt: skip
        except approval.NotAwaiting:
            messages.error(request, _("This message no longer awaits approval."))
            return redirect("console:approvals")
        except ValueError:
            error = _("Write the text too: a subject of your own needs a text of your own.")
        else:
            saved = (_("Wording saved: it is sent instead of the template's.") if new_text
                     else _("Back to the template's wording."))  # fmt: skip
            messages.success(request, saved)
            return redirect(f"{reverse('console:approvals')}#message-{comm.pk}")
        subject, shown.text = new_subject, new_text
    return render(
        request,
        "console/approvals/edit.html",
        {"item": shown, "subject": subject, "error": error},
    )


# The HTML part as the reader's mail program shows it: in a sandboxed frame of the page, with
# the inline styles e-mails need (and nothing else: no script, no remote image).
HTML_POLICY: dict[str, Any] = {
    "default-src": ["'none'"],
    "style-src": ["'unsafe-inline'"],
    "img-src": ["data:"],
    "frame-ancestors": ["'self'"],
    "base-uri": ["'none'"],
    "form-action": ["'none'"],
    "sandbox": [True],
}


@console_view(Can.READ)  # type: ignore[arg-type]  # the decorators' own types
@xframe_options_sameorigin
@csp(HTML_POLICY)  # type: ignore[arg-type]
def html(request: HttpRequest, pk: int) -> HttpResponse:
    console = request.console  # type: ignore[attr-defined]
    comm = console.get(Communication, pk, _awaiting(request))
    [preview] = outbox.previews([comm], _send_day(comm))
    if preview.outgoing is None:
        raise Http404
    parts = shown_message(preview.outgoing.payload.message())
    if not parts["html"]:
        raise Http404
    return HttpResponse(parts["html"], content_type="text/html; charset=utf-8")


urlpatterns = [
    path("approvals/", approvals, name="approvals"),
    path("approvals/decide/", decide, name="approval_decide"),
    path("approvals/<int:pk>/edit/", edit, name="approval_edit"),
    path("approvals/<int:pk>/html/", html, name="approval_html"),
]
