"""The credit team's pages that belong to no area: the icon, the organisation switcher, the
answer to a request Django refuses before any view reads it."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.http import require_POST

from relance.console import access

FAVICON = Path(__file__).resolve().parent / "static" / "console" / "favicon.svg"


def favicon(request: HttpRequest) -> HttpResponse:
    """The icon the pages link to, also at the address browsers try first."""
    return HttpResponse(FAVICON.read_bytes(), content_type="image/svg+xml")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 400, saying which of its upload limits a form went over (the CSRF check
    reads the form before any view could): more files at once than the imports take, or
    fields (not files) larger than DATA_UPLOAD_MAX_MEMORY_SIZE. A page of the console's
    look, saying that nothing was kept and what to do instead."""
    if isinstance(exception, TooManyFilesSent):
        title = _("Too many files at once")
        text = _("Send at most %(limit)s files at once, or a ZIP of them.") % {
            "limit": settings.DATA_UPLOAD_MAX_NUMBER_FILES
        }
    elif isinstance(exception, RequestDataTooBig):
        title = _("Request too large")
        text = _("The form's fields are too large; import large files with `relance import`.")
    else:
        return defaults.bad_request(request, exception)
    context = {"title": title, "text": text, "back": _came_from(request)}
    return render(request, "console/bad_request.html", context, status=400)


def _came_from(request: HttpRequest) -> str:
    """The page whose form was refused, when it is one of ours; else Today."""
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return reverse("console:today")


@login_required
@require_POST
def switch_organisation(request: HttpRequest) -> HttpResponse:
    """Work in another of the user's organisations; back to Today there (a page of the
    previous organisation would show nothing of the new one)."""
    organisation = access.switch(request, request.POST.get("organisation"))
    messages.info(request, _("You are now working in %(name)s.") % {"name": organisation.name})
    return redirect("console:today")
