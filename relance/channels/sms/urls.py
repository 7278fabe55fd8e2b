from __future__ import annotations

from django.urls import path

from relance.channels.sms import views

app_name = "sms"
urlpatterns = [
    # The URLs given to Vonage: delivery receipts, and inbound texts (docs/sms.md).
    path("vonage/receipt/", views.receipt, name="receipt"),
    path("vonage/inbound/", views.inbound, name="inbound"),
]
