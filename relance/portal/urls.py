"""The portal's addresses, under /p/: the token first, nothing else that names anyone."""

from django.urls import path

from relance.portal import views

app_name = "portal"
urlpatterns = [
    path("<str:token>/", views.home, name="home"),
    path("<str:token>/invoices/<int:pk>.pdf", views.invoice_pdf, name="invoice_pdf"),
    path("<str:token>/pay/", views.pay_online, name="pay"),
    path("<str:token>/paid/", views.paid, name="paid"),
    path("<str:token>/promise/", views.promise, name="promise"),
    path("<str:token>/dispute/", views.dispute, name="dispute"),
    path("<str:token>/plan/", views.plan, name="plan"),
    path("<str:token>/contact/", views.contact, name="contact"),
]
