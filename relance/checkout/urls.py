from __future__ import annotations

from django.urls import path

from relance.checkout import views

app_name = "checkout"
urlpatterns = [
    # The endpoint given to Stripe, one per organisation (docs/payments-online.md).
    path("stripe/<slug:slug>/webhook/", views.stripe_webhook, name="stripe_webhook"),
]
