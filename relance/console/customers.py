"""Customers: the filtered list and each customer's page with its timeline."""

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
    path("customers/", placeholder, name="customers"),
    path("customers/<int:pk>/", placeholder, name="customer"),
]
