"""The debtor's portal: one page of what is owed and how to pay, a page per action, the
invoices' PDFs. No account: the link's token is the key, checked on every request, and
every page is in the customer's language.

Unknown, expired and revoked links get the same 404 page; more than the rate limit gets
429 (``throttle``). Invoice PDFs are addressed by their attachment's id, looked up among
the link's customer's invoices only: any other id is the same 404."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from relance.accounts.identity import bank_details
from relance.channels.context import line_of, totals_of
from relance.channels.paying import CURRENCY as EPC_CURRENCY
from relance.channels.paying import data_uri, payment_for
from relance.checkout import service as checkout
from relance.dunning import owed
from relance.insights.management.commands.report import today_for
from relance.ledger.models import Attachment, AttachmentKind, Contact, Dispute, Invoice
from relance.lib.clientip import client_ip
from relance.portal import actions, forms, links, throttle
from relance.portal.models import PortalLink

log = logging.getLogger(__name__)

View = Callable[..., HttpResponseBase]
R = TypeVar("R", bound=HttpResponseBase)


def _gone(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/gone.html", status=404)


def portal_view(view: View) -> View:
    """The token checked (the rate limits first, then the link), the customer's language
    on, and nothing kept by caches or shown to search engines."""

    @wraps(view)
    def wrapper(request: HttpRequest, token: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response: HttpResponseBase
        if not throttle.allowed(token, client_ip(request)):
            response = render(request, "portal/slow_down.html", status=429)
            response["Retry-After"] = str(throttle.WINDOW)
        else:
            link = links.resolve(token)
            if link is None:
                response = _gone(request)
            else:
                links.touch(link)
                language = links.language(link)
                with translation.override(language):
                    request.LANGUAGE_CODE = language
                    response = view(request, link, token, *args, **kwargs)
        return private(response)

    return wrapper


def private(response: R) -> R:
    """A portal page: nothing kept by caches or shown to search engines."""
    response["Cache-Control"] = "no-store, private"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _home(token: str, done: str = "") -> str:
    return reverse("portal:home", args=[token]) + (f"?done={done}#done" if done else "")


DONE = {
    "paid": lambda: _("Thank you: we will look for your payment and pause our reminders "
                      "meanwhile."),
    "promise": lambda: _("Thank you: your promise is recorded."),
    "dispute": lambda: _("Your dispute is recorded: we will come back to you."),
    "plan": lambda: _("Your proposal is recorded: we will answer it shortly."),
    "contact": lambda: _("Your contact details are updated."),
    # Back from the payment provider's page: its webhook records the payment itself.
    "online": lambda: _("Thank you: your payment is on its way. This page shows it once "
                        "received."),
    "offline": lambda: _("Paying online is not possible at the moment: please pay by bank "
                         "transfer with the details below."),
}  # fmt: skip


@portal_view
@require_http_methods(["GET", "HEAD"])
def home(request: HttpRequest, link: PortalLink, token: str) -> HttpResponse:
    org, customer = link.organisation, link.customer
    today = today_for(org)
    invoices = actions.open_invoices(link)
    pdfs = {
        a.invoice_id: a
        for a in Attachment.objects.filter(
            organisation=org, invoice__in=invoices, kind=AttachmentKind.INVOICE_PDF
        ).order_by("pk")
    }
    # What each invoice is dunned for (owed.asked): the approved part of a partly approved
    # one, marked so; a dispute suspending it, marked "disputed".
    disputed, unapproved = owed.open_disputes(Dispute.objects.filter(invoice__in=invoices))
    lines = [
        (line_of(i, today, owed.asked(i, unapproved, org.min_balance)
                 if i.pk in unapproved else None), pdfs.get(i.pk),
         "disputed" if i.pk in disputed else "partly_approved" if i.pk in unapproved else "")
        for i in invoices
    ]  # fmt: skip
    totals = totals_of([line for line, _, _ in lines])
    euros = next((t.amount for t in totals if t.currency == EPC_CURRENCY), None)
    payment = payment_for(bank_details(org, customer), euros, EPC_CURRENCY if euros else "")
    done = request.GET.get("done", "") or ("online" if request.GET.get("paid") else "")
    return render(request, "portal/home.html", {
        "link": link, "token": token, "organisation": org, "customer": customer,
        "lines": lines, "totals": totals, "today": today, "payment": payment,
        "qr": data_uri(payment.code) if payment and payment.code else "",
        "online": bool(invoices) and checkout.available(org),
        "done": DONE[done]() if done in DONE else "",
    })  # fmt: skip


@portal_view
@require_http_methods(["GET", "HEAD"])
def invoice_pdf(request: HttpRequest, link: PortalLink, token: str, pk: int) -> HttpResponseBase:
    attachment = Attachment.objects.filter(
        pk=pk, organisation_id=link.organisation_id, invoice__customer_id=link.customer_id,
        kind=AttachmentKind.INVOICE_PDF,
    ).first()  # fmt: skip
    if attachment is None:
        return _gone(request)
    try:
        handle = attachment.file.open("rb")
    except OSError:
        return _gone(request)
    return FileResponse(handle, content_type="application/pdf", filename=attachment.name)


@portal_view
@require_POST
def pay_online(request: HttpRequest, link: PortalLink, token: str) -> HttpResponse:
    invoices = actions.open_invoices(link)
    if not invoices or not checkout.available(link.organisation):
        return redirect(_home(token))
    back = links.base_url() + _home(token)
    try:
        url = checkout.start(link.organisation, link.customer, [i.pk for i in invoices],
                             success_url=back + "?paid=online", cancel_url=back)  # fmt: skip
    except checkout.CheckoutError:  # the provider refused or is down: the transfer remains
        log.warning("portal %s: the payment provider refused a session", link.pk, exc_info=True)
        return redirect(_home(token) + "?done=offline")
    return redirect(url)


def _action(
    request: HttpRequest,
    link: PortalLink,
    token: str,
    name: str,
    make: Callable[..., forms.PortalForm],
    perform: Callable[[Any], Any],
) -> HttpResponse:
    """One action's page: its form; once valid, the service, then back to the portal's page
    (a second send of the same form lands there too, done once)."""
    invoices = actions.open_invoices(link)
    if request.method == "POST":
        form = make(request.POST, request.FILES, invoices=invoices)
        if form.is_valid():
            try:
                perform(form)
            except actions.Refused as exc:
                form.add_error(exc.field if exc.field in form.fields else None, _(str(exc)))
            else:
                return redirect(_home(token, name))
        status = 400
        for field in form.errors:  # told to screen readers too, with the error in the label
            if field in form.fields:
                form.fields[field].widget.attrs["aria-invalid"] = "true"
    else:
        form = make(invoices=invoices, initial=_initial(name, link, invoices))
        status = 200
    return render(request, f"portal/{name}.html", {
        "link": link, "token": token, "organisation": link.organisation,
        "customer": link.customer, "form": form, "invoices": invoices,
    }, status=status)  # fmt: skip


def _initial(name: str, link: PortalLink, invoices: list[Invoice]) -> dict[str, Any]:
    today = today_for(link.organisation)
    if name == "paid":
        return {"paid_on": today, "invoices": [str(i.pk) for i in invoices]}
    if name == "promise":
        return {"promised_on": today + dt.timedelta(days=7)}
    if name == "plan":
        return {"invoices": [str(i.pk) for i in invoices], "count": 3, "period": "month",
                "first": today + dt.timedelta(days=7)}  # fmt: skip
    if name == "contact":
        contact = (
            Contact.objects.filter(customer_id=link.customer_id, is_primary=True)
            .order_by("pk")
            .first()
        )
        if contact is None:
            return {"email": link.customer.email, "phone": link.customer.phone}
        return {"name": contact.name, "email": contact.email, "phone": contact.phone,
                "preferred_channel": contact.preferred_channel}  # fmt: skip
    return {}


def _currencies(invoices: list[Invoice], link: PortalLink) -> list[str]:
    return sorted({i.currency for i in invoices}) or [link.customer.currency]


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
def paid(request: HttpRequest, link: PortalLink, token: str) -> HttpResponse:
    def perform(form: Any) -> None:
        data = form.cleaned_data
        actions.report_payment(
            link, data["key"], paid_on=data["paid_on"], amount=data["amount"],
            currency=data["currency"], reference=data["reference"].strip(),
            invoices=form.chosen("invoices"), request=request,
        )  # fmt: skip

    currencies = _currencies(actions.open_invoices(link), link)
    return _action(request, link, token, "paid",
                   lambda *a, **kw: forms.PaidForm(*a, currencies=currencies, **kw),
                   perform)  # fmt: skip


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
def promise(request: HttpRequest, link: PortalLink, token: str) -> HttpResponse:
    def perform(form: Any) -> None:
        data = form.cleaned_data
        chosen = form.chosen("invoice")
        actions.promise(link, data["key"], promised_on=data["promised_on"],
                        invoice=chosen[0] if chosen else None, amount=data["amount"],
                        request=request)  # fmt: skip

    return _action(request, link, token, "promise", forms.PromiseForm, perform)


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
def dispute(request: HttpRequest, link: PortalLink, token: str) -> HttpResponse:
    def perform(form: Any) -> None:
        data = form.cleaned_data
        [invoice] = form.chosen("invoice")
        actions.dispute(link, data["key"], invoice=invoice, reason=data["reason"],
                        comment=data["comment"].strip(), upload=data["attachment"] or None,
                        request=request)  # fmt: skip

    return _action(request, link, token, "dispute", forms.DisputeForm, perform)


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
def plan(request: HttpRequest, link: PortalLink, token: str) -> HttpResponse:
    def perform(form: Any) -> None:
        data = form.cleaned_data
        actions.propose_plan(link, data["key"], invoices=form.chosen("invoices"),
                             count=data["count"], first=data["first"], period=data["period"],
                             request=request)  # fmt: skip

    return _action(request, link, token, "plan", forms.PlanForm, perform)


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
def contact(request: HttpRequest, link: PortalLink, token: str) -> HttpResponse:
    def perform(form: Any) -> None:
        data = form.cleaned_data
        actions.change_contact(
            link, data["key"], name=data["name"], email=data["email"], phone=data["phone"],
            preferred_channel=data["preferred_channel"], address=form.address(),
            request=request,
        )  # fmt: skip

    return _action(request, link, token, "contact", forms.ContactForm, perform)
