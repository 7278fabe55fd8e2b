"""The credit team's pages that belong to no area: the icon, the organisation switcher (the
pages of errors are in ``errors``)."""

from __future__ import annotations

from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from relance.console import access

FAVICON = Path(__file__).resolve().parent / "static" / "console" / "favicon.svg"


def favicon(request: HttpRequest) -> HttpResponse:
    """The icon the pages link to, also at the address browsers try first."""
    return HttpResponse(FAVICON.read_bytes(), content_type="image/svg+xml")


@login_required
@require_POST
def switch_organisation(request: HttpRequest) -> HttpResponse:
    """Work in another of the user's organisations; back to Today there (a page of the
    previous organisation would show nothing of the new one)."""
    organisation = access.switch(request, request.POST.get("organisation"))
    messages.info(request, _("You are now working in %(name)s.") % {"name": organisation.name})
    return redirect("console:today")
