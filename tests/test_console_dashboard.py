"""The dashboard: receivables, aged balance, DSO over twelve months, collected this month,
top overdue, open disputes, each figure linked to the list behind it; and the payments
received in a month (relance/console/dashboard.py, relance/insights/dashboard.py)."""

from __future__ import annotations

import bisect
import datetime as dt
import json
import re
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import factories as f
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relance.insights.aging import ZERO, receivables
from relance.insights.dashboard import month_ends
from relance.insights.dso import (
    CurrencyDso,
    DsoResult,
    count_back_dso,
    dso_series,
    months_back,
    standard_dso,
)
from relance.ledger.balances import from_cents, sum_cents
from relance.ledger.models import Customer, Dispute, Invoice

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
D = dt.date(2026, 11, 20)
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(autouse=True)
def on_d(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 20, 10, 0, tzinfo=PARIS), tick=False)


def ago(n: int) -> dt.date:
    return D - dt.timedelta(days=n)


@pytest.fixture
def ledger(org, other_org):
    """Two currencies, every bucket, part payments, a credit note, last month's money."""
    alpha = f.customer(org, "C001", legal_name="Alpha SA")
    beta = f.customer(org, "C002", legal_name="Beta SARL")
    gamma = f.customer(org, "C003", legal_name="Gamma GmbH", currency="USD")
    f.invoice(alpha, due=D + dt.timedelta(days=10), amount="400.00")  # not due
    f.pay(f.invoice(alpha, due=ago(20), amount="1000.30"), "234.60", on=ago(3))  # 1-30
    f.invoice(beta, due=ago(45), amount="250.00")  # 31-60
    f.credit(f.invoice(beta, due=ago(75), amount="300.00"), "100.00", on=ago(40))  # 61-90
    f.invoice(beta, due=ago(200), amount="80.00")  # over 90
    f.pay(f.invoice(beta, due=ago(60), amount="90.00"), on=ago(30))  # paid last month
    f.invoice(gamma, due=ago(15), amount="5000.00", currency="USD")
    f.pay(f.invoice(gamma, due=ago(50), amount="700.00", currency="USD"), "700.00", on=ago(2))
    intruder = f.customer(other_org, "C001", legal_name="Intruder SA")
    f.invoice(intruder, due=ago(30), amount="999999.00")
    return org


def get(client, user, url="/dashboard/"):
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def report(*args):
    out = StringIO()
    call_command("report", *args, "--org", "acme", "--date", D.isoformat(), "--json", stdout=out)
    return json.loads(out.getvalue())


def amount(text: str) -> Decimal:
    """A figure as the page writes it in English ("€1,695.70", "$5,000.00")."""
    return Decimal(re.sub(r"[^\d.]", "", text))


def linked(page: str, css: str) -> dict[str, str]:
    """href -> figure of the links of class ``css``."""
    return {
        href.replace("&amp;", "&"): figure
        for href, figure in re.findall(rf'<a class="{css}"[^>]*href="([^"]+)">([^<]+)</a>', page)
    }


def test_it_shows_what_relance_report_aged_balance_computes(client, ledger, owner):
    page = get(client, owner)
    totals = report("aged-balance")["totals"]
    for currency in ("EUR", "USD"):
        expected = totals[currency]
        receivables = linked(page, "figure-receivables")[f"/customers/?currency={currency}"]
        assert amount(receivables) == Decimal(expected["total"])
        overdue = linked(page, "figure-overdue")[f"/customers/?overdue=1&currency={currency}"]
        not_due = Decimal(expected["buckets"]["not_due"])
        assert amount(overdue) == Decimal(expected["total"]) - not_due
        buckets = {
            href: amount(figure)
            for href, figure in linked(page, "figure-bucket").items()
            if href.endswith(f"currency={currency}")
        }
        assert buckets == {
            f"/customers/?bucket={name}&currency={currency}": Decimal(value)
            for name, value in expected["buckets"].items()
        }
    # Never added across currencies, and nothing of another organisation.
    assert "1,695.70" in page and "5,000.00" in page and "6,695.70" not in page
    assert "Intruder" not in page and "999,999" not in page


def test_it_says_what_the_aged_balance_chart_shows_to_who_does_not_see_it(client, org, owner):
    """Its bars are drawn without a style attribute: tests/test_headers.py."""
    customer = f.customer(org)
    f.invoice(customer, due=D + dt.timedelta(days=10), amount="400.00")
    f.invoice(customer, due=ago(40), amount="100.00")
    page = get(client, owner)
    # A title and a description for the chart, and a table with the figures beside it.
    assert re.search(r'<svg class="bar-chart"[^>]*role="img" aria-labelledby="aged-title-EUR', page)
    assert '<desc id="aged-desc-EUR">Not due: €400.00; 1-30 days: €0.00; ' in page


def test_it_shows_the_dso_that_relance_report_dso_computes(client, ledger, owner):
    page = get(client, owner, "/dashboard/dso/")
    document = report("dso")
    for currency, css in (("EUR", "standard"), ("USD", "count-back")):
        expected = document["currencies"][currency][css.replace("-", "_")]
        shown = re.findall(rf'<dd class="figure-dso-{css}">([\d.]+) ', page)
        assert Decimal(expected) in [Decimal(s) for s in shown]


def test_it_computes_the_dso_again_once_the_ledger_changes(client, ledger, owner):
    """The twelve months are kept until the ledger changes: a payment today moves today's
    figure, on the next view, to what the report computes."""

    def shown():
        page = get(client, owner, "/dashboard/dso/")
        return [Decimal(s) for s in re.findall(r'<dd class="figure-dso-standard">([\d.]+) ', page)]

    before = shown()
    assert shown() == before  # read again from the cache
    beta = Customer.objects.get(organisation=ledger, reference="C002")
    f.pay(Invoice.objects.filter(customer=beta, balance__gt=0).order_by("pk").first(), on=D)
    after = shown()
    assert after != before
    assert Decimal(report("dso")["currencies"]["EUR"]["standard"]) in after


def test_it_draws_the_dso_of_twelve_month_ends_as_a_line_chart_and_a_table(client, ledger, owner):
    page = get(client, owner, "/dashboard/dso/")
    ends = month_ends(D)
    assert ends[0] == dt.date(2025, 11, 30) and ends[-1] == dt.date(2026, 10, 31)
    table = page[page.index('<table class="table dso-table">') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r'<th scope="row">([^<]+)</th>\s*<td class="num">([^<]*)</td>', table)
    assert len(rows) == 12
    expected = dso_from_open_items(ledger, dt.date(2026, 10, 31)).currencies["EUR"].standard
    assert Decimal(rows[0][1]) == expected
    assert page.count('<polyline class="chart-line line-standard"') == 2  # EUR and USD
    assert " style=" not in page
    # Coordinates in SVG's own notation, whatever the language.
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "fr"
    french = get(client, owner, "/dashboard/dso/")
    assert re.search(r'cx="\d+\.\d"', french) and not re.search(r'c[xy]="\d+,\d', french)


def test_it_loads_the_dso_in_place_and_links_to_it_without_javascript(client, ledger, owner):
    page = get(client, owner)
    assert 'hx-get="/dashboard/dso/" hx-trigger="load"' in page
    assert '<a href="/dashboard/dso/">' in page
    client.force_login(owner)
    partial = client.get("/dashboard/dso/", headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<div id="dso-figures">') and "<html" not in partial


# -- the model the many-dates computation is checked against: DSO at one date from the open
# items at that date (the aged balance's receivables), as the module's docstring defines it.


def month_boundaries(as_of: date, oldest: date) -> list[date]:
    """The count-back months' boundaries, oldest first, back to the month holding
    ``oldest`` (the oldest open item): the sales since then cover every open balance."""
    months = 1
    while months_back(as_of, months) >= oldest:
        months += 1
    return [months_back(as_of, n) for n in range(months, -1, -1)]


def credit_sales(
    organisation, as_of: date, days: int, boundaries: list[date]
) -> tuple[dict[str, Decimal], dict[str, list[Decimal]]]:
    """Per currency: the sales of (as_of - days, as_of], and those of each month
    (boundaries[n], boundaries[n + 1]]. One query of sales per day: a few thousand rows
    at most, whatever the number of invoices."""
    period_start = as_of - timedelta(days=days)
    daily = (
        Invoice.objects.filter(
            organisation=organisation,
            issue_date__gt=min(boundaries[0], period_start),
            issue_date__lte=as_of,
        )
        .order_by()
        .values("currency", "issue_date")
        .annotate(total=sum_cents("amount"))
    )
    period: dict[str, Decimal] = {}
    months: dict[str, list[Decimal]] = {}
    for row in daily:
        currency, day, amount = row["currency"], row["issue_date"], from_cents(row["total"])
        if day > period_start:
            period[currency] = period.get(currency, ZERO) + amount
        index = bisect.bisect_left(boundaries, day) - 1
        if index >= 0:
            months.setdefault(currency, [ZERO] * (len(boundaries) - 1))[index] += amount
    return period, months


def dso_from_open_items(organisation, as_of: date, days: int = 90) -> DsoResult:
    if days < 1:
        raise ValueError("the period must be at least one day")
    open_at = receivables(organisation, as_of)
    oldest = min((r.oldest_issue_date for r in open_at.values()), default=as_of)
    boundaries = month_boundaries(as_of, oldest)
    period_sales, month_sales = credit_sales(organisation, as_of, days, boundaries)

    result = DsoResult(organisation=organisation.slug, as_of=as_of, days=days)
    for currency in sorted(set(open_at) | set(period_sales)):
        receivable = open_at[currency].amount if currency in open_at else ZERO
        sales = period_sales.get(currency, ZERO)
        per_month = month_sales.get(currency, [ZERO] * (len(boundaries) - 1))
        # Most recent month first.
        walk = [
            (boundaries[n], boundaries[n + 1], per_month[n])
            for n in reversed(range(len(boundaries) - 1))
        ]
        standard, standard_note = standard_dso(receivable, sales, days, as_of)
        count_back, count_back_note, walked = count_back_dso(receivable, walk)
        result.currencies[currency] = CurrencyDso(
            currency=currency,
            receivables=receivable,
            sales=sales,
            standard=standard,
            standard_note=standard_note,
            count_back=count_back,
            count_back_note=count_back_note,
            count_back_months=walked,
        )
    return result


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.integers(0, 500),  # issued, days before D
            st.integers(1, 99999),  # amount in cents
            st.integers(0, 100),  # share paid, percent
            st.integers(-20, 200),  # paid, days after issue
            st.sampled_from(["EUR", "USD"]),
        ),
        max_size=12,
    )
)
def test_it_computes_many_dates_as_dso_computes_each(org, items):
    Invoice.objects.filter(organisation=org).delete()
    customer = f.customer(org)
    for issued_ago, cents, share, paid_after, currency in items:
        issued = ago(issued_ago)
        invoice = f.invoice(customer, due=issued + dt.timedelta(days=30), issued=issued,
                            amount=Decimal(cents) / 100, currency=currency)  # fmt: skip
        paid = (Decimal(cents) * share / 100).quantize(Decimal(1)) / 100
        if paid:
            f.pay(invoice, paid, on=issued + dt.timedelta(days=paid_after))
    dates = [*month_ends(D), D]
    for one, many in zip(
        [dso_from_open_items(org, d) for d in dates], dso_series(org, dates), strict=True
    ):
        assert many == one


def test_it_sums_what_came_in_this_month_and_lists_it(client, ledger, owner):
    page = get(client, owner)
    collected = linked(page, "figure-collected")
    # 234.60 EUR and 700.00 USD this month; the credit note and last month's money are not.
    assert set(collected) == {"/payments/?month=2026-11"}
    assert sorted(amount(v) for v in re.findall(
        r'<a class="figure-collected" href="[^"]+">([^<]+)</a>', page)) == [
        Decimal("234.60"), Decimal("700.00")]  # fmt: skip
    listed = get(client, owner, "/payments/?month=2026-11")
    assert listed.count("<tr>") - 1 == 2
    assert re.search(r'data-currency="EUR">€234.60<', listed)
    earlier = get(client, owner, "/payments/?month=2026-10")
    assert earlier.count("<tr>") - 1 == 1 and "€90.00" in earlier
    assert "/payments/?month=2026-10" in listed and "/payments/?month=2026-11" in earlier
    # Its months go back to the first money received, not further.
    assert "/payments/?month=2026-09" not in earlier
    # A month that makes no sense is this month.
    assert get(client, owner, "/payments/?month=2026-13").count("<tr>") - 1 == 2


def test_it_lists_the_top_overdue_customers_largest_first(client, ledger, owner):
    page = get(client, owner)
    table = page[page.index('id="top-overdue"') :]
    table = table[: table.index("</table>")]
    names = re.findall(r'<a href="/customers/\d+/">([^<]+)</a>', table)
    assert names == ["Gamma GmbH", "Alpha SA", "Beta SARL"]  # 5000 USD, 765.70, 530.00
    assert 'href="/customers/?overdue=1&amp;sort=-overdue"' in page


def test_it_counts_open_disputes_by_reason_and_age(client, org, owner):
    customer = f.customer(org)
    for reason, opened in (("quality", 5), ("quality", 40), ("price", 100), ("delivery", 70)):
        f.dispute(f.invoice(customer, due=ago(10)), on=ago(opened), reason=reason)
    resolved = f.dispute(f.invoice(customer, due=ago(10)), on=ago(3), reason="price")
    Dispute.objects.filter(pk=resolved.pk).update(resolved_on=D)
    page = get(client, owner)
    counts = dict(re.findall(r'href="/disputes/\?status=open&amp;([^"]+)">(\d+)</a>', page))
    assert counts == {
        "reason=quality": "2", "reason=delivery": "1", "reason=price": "1",
        "age=0-30": "1", "age=31-60": "1", "age=61-90": "1", "age=over_90": "1",
    }  # fmt: skip
    assert '<a id="disputes-open" href="/disputes/?status=open">4</a>' in page
    # Counted disputes: "Ouverts" in French (the plural of the disputes, not one promise's
    # "Ouverte").
    with translation.override("fr"):
        client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "fr"
        french = get(client, owner)
    assert french.count('<th scope="col" class="num">Ouverts</th>') == 2


def test_it_shows_each_role_the_organisations_figures_and_no_other(client, ledger, outsider):
    for role in ("viewer", "collector", "manager"):
        page = get(client, f.member(ledger, f"{role}@acme.test", role))
        assert "/customers/?currency=USD" in page
    theirs = get(client, outsider)
    assert "Alpha SA" not in theirs and "/customers/?currency=USD" not in theirs
    assert "999,999.00" in theirs


def test_it_refuses_a_viewer_a_change(client, org):
    client.force_login(f.member(org, "vera@acme.test", "viewer"))
    for url in ("/dashboard/", "/payments/", "/dashboard/dso/"):
        assert client.post(url).status_code == 403


def customers_owing(org, count):
    for n in range(count):
        customer = f.customer(org, legal_name=f"Owing {n:02d}")
        f.pay(f.invoice(customer, due=ago(10 + n), amount="100.00"), "10.00", on=D)
        f.dispute(f.invoice(customer, due=ago(50)), on=ago(n), reason="price")


def test_it_makes_as_many_queries_for_30_customers_as_for_3(client, org, other_org, owner):
    customers_owing(org, 3)
    customers_owing(other_org, 30)
    counted = []
    for user in (owner, f.member(other_org, "gus@globex.test", "admin")):
        client.force_login(user)
        client.get("/dashboard/")
        for url in ("/dashboard/", "/dashboard/dso/", "/payments/"):
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            counted.append((url, len(queries)))
    assert counted[:3] == counted[3:]


def test_it_keeps_every_dso_point_inside_the_chart():
    from relance.console.charts import HEIGHT, line_chart

    days = month_ends(D)
    values = [Decimal("66.7"), Decimal("12.0"), None, *[Decimal("40.1")] * 9]
    chart = line_chart(days, [("standard", "Standard", values)], str)
    assert [t.label for t in chart.y_ticks] == ["0", "20", "40", "60", "80"]
    assert all(0 <= p.y <= HEIGHT for p in chart.series[0].points)
    assert len(chart.series[0].points) == 11  # the month without a figure is left out
