"""The credit team's pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from relance.accounts.models import Organisation
from relance.console import access
from relance.insights.aging import BUCKET_NAMES, aged_balance
from relance.ledger.models import Customer

FAVICON = Path(__file__).resolve().parent / "static" / "console" / "favicon.svg"


def favicon(request: HttpRequest) -> HttpResponse:
    """The icon the pages link to, also at the address browsers try first."""
    return HttpResponse(FAVICON.read_bytes(), content_type="image/svg+xml")


@dataclass(frozen=True)
class Bar:
    label: str | Promise
    amount: Decimal
    percent: int  # of the largest bucket, for the chart


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    outstanding: Decimal
    overdue: Decimal
    buckets: list[Bar] = field(default_factory=list)


BUCKET_LABELS = {
    "not_due": _("Not due"), "1-30": _("1-30 days"), "31-60": _("31-60 days"),
    "61-90": _("61-90 days"), "over_90": _("Over 90 days"),
}  # fmt: skip


def bars(buckets: dict[str, Decimal]) -> list[Bar]:
    top = max(buckets.values()) or Decimal(1)
    return [
        Bar(BUCKET_LABELS[name], buckets[name], int(buckets[name] * 100 / top))
        for name in BUCKET_NAMES
    ]


@dataclass
class OrganisationSummary:
    organisation: Organisation
    role: str
    customers: int = 0
    open_invoices: int = 0
    overdue_invoices: int = 0
    # Amounts are never added across currencies.
    totals: list[CurrencyTotal] = field(default_factory=list)


@login_required
@require_POST
def switch_organisation(request: HttpRequest) -> HttpResponse:
    """Work in another of the user's organisations; back to Today there (a page of the
    previous organisation would show nothing of the new one)."""
    organisation = access.switch(request, request.POST.get("organisation"))
    messages.info(request, _("You are now working in %(name)s.") % {"name": organisation.name})
    return redirect("console:today")


def summarise(
    organisations: list[tuple[Organisation, str]], today: date
) -> list[OrganisationSummary]:
    """Counts and open amounts of each organisation: its aged balance as of today, the
    service ``relance report aged-balance`` prints, so that both show the same figures."""
    summaries = {org.pk: OrganisationSummary(org, role) for org, role in organisations}
    for row in (
        Customer.objects.filter(organisation_id__in=list(summaries))
        .values("organisation_id")
        .annotate(n=Count("id"))
        .order_by()
    ):
        summaries[row["organisation_id"]].customers = row["n"]
    for org, _role in organisations:
        summary = summaries[org.pk]
        for total in aged_balance(org, today).totals.values():
            if not total.items:
                continue  # only unallocated credits in that currency
            summary.open_invoices += total.items
            summary.overdue_invoices += total.overdue_items
            overdue = total.total - total.buckets["not_due"]
            summary.totals.append(
                CurrencyTotal(total.currency, total.total, overdue, bars(total.buckets))
            )
    return list(summaries.values())
