"""The credit team's pages."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from relance.accounts.models import Membership, Organisation
from relance.insights.aging import BUCKETS, bucket_condition
from relance.ledger.models import Customer, Invoice

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


def bars(row: dict[str, Decimal | None]) -> list[Bar]:
    amounts = [row[f"b{i}"] or Decimal("0.00") for i in range(len(BUCKETS))]
    top = max(amounts) or Decimal(1)
    return [
        Bar(BUCKET_LABELS[name], amount, int(amount * 100 / top))
        for (name, _low, _high), amount in zip(BUCKETS, amounts, strict=True)
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
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert user.is_authenticated  # login_required
    memberships = (
        Membership.objects.filter(user=user)
        .select_related("organisation")
        .order_by("organisation__name")
    )
    summaries = summarise(
        [(m.organisation, m.get_role_display()) for m in memberships], timezone.localdate()
    )
    return render(request, "console/home.html", {"summaries": summaries})


def summarise(
    organisations: list[tuple[Organisation, str]], today: date
) -> list[OrganisationSummary]:
    """Counts and open amounts of each organisation, in two grouped queries for them all."""
    summaries = {org.pk: OrganisationSummary(org, role) for org, role in organisations}
    ids = list(summaries)
    for row in (
        Customer.objects.filter(organisation_id__in=ids)
        .values("organisation_id")
        .annotate(n=Count("id"))
        .order_by()
    ):
        summaries[row["organisation_id"]].customers = row["n"]
    overdue = Q(due_date__lt=today)
    totals: dict[int, list[CurrencyTotal]] = defaultdict(list)
    for row in (
        Invoice.objects.filter(organisation_id__in=ids, balance__gt=0)
        .values("organisation_id", "currency")
        .annotate(
            count=Count("id"),
            late=Count("id", filter=overdue),
            outstanding=Sum("balance"),
            overdue=Sum("balance", filter=overdue),
            # Today's aged balance: the stored balances are today's.
            **{
                f"b{i}": Sum("balance", filter=bucket_condition(today, low, high))
                for i, (_name, low, high) in enumerate(BUCKETS)
            },
        )
        .order_by("organisation_id", "currency")
    ):
        summary = summaries[row["organisation_id"]]
        summary.open_invoices += row["count"]
        summary.overdue_invoices += row["late"]
        totals[row["organisation_id"]].append(
            CurrencyTotal(
                row["currency"], row["outstanding"], row["overdue"] or Decimal("0.00"), bars(row)
            )
        )
    for org_id, currency_totals in totals.items():
        summaries[org_id].totals = currency_totals
    return list(summaries.values())
