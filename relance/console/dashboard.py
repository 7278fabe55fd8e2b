"""The dashboard: receivables, aged balance, DSO, collected, top overdue, disputes."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from relance.console.access import console_view


@console_view()
def placeholder(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return render(
        request,
        "console/placeholder.html",
        {"title": getattr(request.resolver_match, "url_name", "")},
    )


urlpatterns = [
    path("dashboard/", placeholder, name="dashboard"),
]
