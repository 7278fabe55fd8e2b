"""The dashboard: receivables, aged balance, DSO, collected, top overdue, disputes; and the
list of payments received in a month that its "collected" figure links to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from relance.console import charts
from relance.console.access import Console, console_view
from relance.insights import dashboard as figures
from relance.insights.dso import CurrencyDso
from relance.ledger.models import CustomerBalance
from relance.ledger.summaries import balances

BUCKET_LABELS = {
    "not_due": _("Not due"), "1-30": _("1-30 days"), "31-60": _("31-60 days"),
    "61-90": _("61-90 days"), "over_90": _("Over 90 days"),
}  # fmt: skip
DISPUTE_AGE_LABELS = {
    "0-30": _("0-30 days"), "31-60": _("31-60 days"), "61-90": _("61-90 days"),
    "over_90": _("Over 90 days"),
}  # fmt: skip
PAYMENTS_PAGE_SIZE = 50


@dataclass
class DsoMonth:
    day: dt.date
    standard: Decimal | None
    count_back: Decimal | None


@dataclass
class CurrencySection:
    currency: str
    receivables: figures.CurrencyFigures | None = None
    bars: list[charts.Bar] = field(default_factory=list)
    collected: Decimal = Decimal("0.00")


def sections(
    organisation: Any, today: dt.date, rows: QuerySet[CustomerBalance]
) -> list[CurrencySection]:
    """What is owed (``rows``: the customer balances) and collected this month per
    currency, never added across currencies."""
    owed = figures.kept(organisation, today, "receivables", lambda: figures.receivables(rows))
    collected = figures.collected(organisation, today)
    found = []
    for currency in sorted(set(owed) | set(collected)):
        section = CurrencySection(currency, owed.get(currency))
        if section.receivables:
            section.bars = charts.bars(
                [(k, BUCKET_LABELS[k], v) for k, v in section.receivables.buckets.items()]
            )
        section.collected = collected.get(currency, Decimal("0.00"))
        found.append(section)
    return found


@dataclass
class DsoSection:
    currency: str
    today: CurrencyDso | None
    months: list[DsoMonth]
    chart: charts.LineChart | None


def dso_sections(organisation: Any, today: dt.date) -> list[DsoSection]:
    """DSO today and at the last twelve month-ends, per currency, with its chart."""
    months, now = figures.dso_over_months(organisation, today)
    found = []
    for currency in sorted({c for result in [*months, now] for c in result.currencies}):
        rows = []
        for result in months:
            at = result.currencies.get(currency)
            rows.append(
                DsoMonth(result.as_of, at.standard if at else None, at.count_back if at else None)
            )
        chart = None
        if any(m.standard is not None or m.count_back is not None for m in rows):
            chart = charts.line_chart(
                [m.day for m in rows],
                [
                    ("standard", _("Standard"), [m.standard for m in rows]),
                    ("count-back", _("Count-back"), [m.count_back for m in rows]),
                ],
                charts.month_label,
            )
        found.append(DsoSection(currency, now.currencies.get(currency), rows, chart))
    return found


@console_view()
def dashboard(request: HttpRequest) -> HttpResponse:
    console: Console = request.console  # type: ignore[attr-defined]
    organisation = console.organisation
    today = timezone.localdate()
    rows = balances(organisation, today)  # made fresh once for the whole page
    return render(
        request,
        "console/dashboard/dashboard.html",
        {
            "today": today,
            "month": today.strftime("%Y-%m"),
            "sections": sections(organisation, today, rows),
            "top": figures.top_overdue(rows),
            "disputes": figures.open_disputes(organisation, today),
            "dispute_ages": DISPUTE_AGE_LABELS,
        },
    )


@console_view()
def dso(request: HttpRequest) -> HttpResponse:
    """DSO over twelve months: drawn into the dashboard once it is shown (htmx), or a page
    of its own without JavaScript."""
    console: Console = request.console  # type: ignore[attr-defined]
    today = timezone.localdate()
    context = {"dso_sections": dso_sections(console.organisation, today), "today": today}
    if getattr(request, "htmx", None):
        return render(request, "console/dashboard/_dso.html", context)
    return render(request, "console/dashboard/dso.html", context)


@console_view()
def payments(request: HttpRequest) -> HttpResponse:
    """Payments received in a month (``?month=YYYY-MM``, this month by default)."""
    console: Console = request.console  # type: ignore[attr-defined]
    today = timezone.localdate()
    month = figures.parse_month(request.GET.get("month"), today)
    rows = (
        figures.payments_in(console.organisation, month)
        .select_related("customer")
        .order_by("-date", "-pk")
    )
    page = Paginator(rows, PAYMENTS_PAGE_SIZE).get_page(request.GET.get("page"))
    previous = (month - dt.timedelta(days=1)).replace(day=1)
    following = (month + dt.timedelta(days=32)).replace(day=1)
    return render(
        request,
        "console/dashboard/payments.html",
        {
            "month": month,
            "month_param": month.strftime("%Y-%m"),
            "previous": (
                previous.strftime("%Y-%m")
                if figures.received_before(console.organisation, month)
                else None
            ),
            "following": following.strftime("%Y-%m") if following <= today else None,
            "totals": figures.collected(console.organisation, month),
            "page": page,
        },
    )


urlpatterns = [
    path("dashboard/", dashboard, name="dashboard"),
    path("dashboard/dso/", dso, name="dashboard_dso"),
    path("payments/", payments, name="payments"),
]
