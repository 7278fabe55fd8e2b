"""The console's addresses: each area of the console keeps its own in its module."""

from django.urls import path

from relance.console import (
    api_keys,
    approvals,
    bank,
    customers,
    dashboard,
    disputes,
    imports,
    letters,
    organisation,
    registered,
    replies,
    runs,
    scenarios,
    today,
    views,
    webhooks,
    work,
)

app_name = "console"
urlpatterns = [
    path("switch/", views.switch_organisation, name="switch"),
    *today.urlpatterns,
    *dashboard.urlpatterns,
    *customers.urlpatterns,
    *approvals.urlpatterns,
    *work.urlpatterns,
    *disputes.urlpatterns,
    *scenarios.urlpatterns,
    *imports.urlpatterns,
    *organisation.urlpatterns,
    *api_keys.urlpatterns,
    *registered.urlpatterns,
    *letters.urlpatterns,
    *replies.urlpatterns,
    *bank.urlpatterns,
    *webhooks.urlpatterns,
    *runs.urlpatterns,
]
