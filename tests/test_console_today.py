"""Today: the day's work ranked by what it brings in, each line with its next action, the
latest run's counts and the promises due this week (relance/console/today.py,
relance/insights/worklist.py)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import factories as f
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from relance.audit import trail
from relance.dunning import tasks
from relance.dunning.models import CommStatus, Promise
from relance.insights.worklist import PAGE_SIZE, next_actions, priority, risk_weight
from relance.ledger.models import Customer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
D = dt.date(2026, 11, 20)  # a Friday: its week runs from Monday 16 to Sunday 22
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(autouse=True)
def on_d(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 20, 10, 0, tzinfo=PARIS), tick=False)


def owing(org, name, amount="1000.00", days_overdue=10, **fields):
    """A customer with one invoice ``days_overdue`` days late (not due when negative)."""
    customer = f.customer(org, legal_name=name, **fields)
    f.invoice(customer, due=D - dt.timedelta(days=days_overdue), amount=amount)
    return customer


def broken_promise(customer, on):
    promise = f.promise(customer, promised_on=on - dt.timedelta(days=5))
    Promise.objects.filter(pk=promise.pk).update(status=Promise.Status.BROKEN, broken_on=on)


def call_task(customer, due=D):
    tasks.open_task(customer.organisation, key=f"call:{customer.pk}", customer_id=customer.pk,
                    kind="call", title="Call", due_on=due)  # fmt: skip
    return _task(customer, "call")


def bounce_task(customer):
    tasks.open_task(customer.organisation, key=f"bounce:{customer.pk}", customer_id=customer.pk,
                    kind="invalid_email", title="Bounced", due_on=D)  # fmt: skip
    return _task(customer, "invalid_email")


def _task(customer, kind):
    from relance.dunning.models import Task

    return Task.objects.get(customer=customer, kind=kind)


def lines(page: str) -> list[int]:
    """The customers of the worklist's lines, in their order."""
    return [int(pk) for pk in re.findall(r'class="work-line" data-customer="(\d+)"', page)]


def get(client, user, url="/"):
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# -- the formula ----------------------------------------------------------------------


def test_it_weighs_money_by_age_risk_and_broken_promises():
    amounts = [Decimal("100"), Decimal("10"), Decimal("1"), Decimal("0.1")]
    aged = Decimal("100") * 1 + Decimal("10") * 2 + Decimal("1") * 3 + Decimal("0.1") * 4
    assert priority(*amounts, 0, risk_weight("medium")) == aged
    assert priority(*amounts, 0, risk_weight("high")) == aged * Decimal("1.5")
    assert priority(*amounts, 0, risk_weight("low")) == aged * Decimal("0.8")
    assert priority(*amounts, 0, risk_weight("")) == aged
    assert priority(*amounts, 2, risk_weight("medium")) == aged * 2
    # Older money weighs more: 100 over 90 days outranks 300 at 1-30 days.
    assert priority(0, 0, 0, Decimal(100), 0, 1) > priority(Decimal(300), 0, 0, 0, 0, 1)


def test_it_takes_the_next_action_in_a_persons_order():
    assert next_actions(bounce=True, awaiting=1, disputes=1, call=True) == [
        "bounce", "approve", "dispute", "call",
    ]  # fmt: skip
    assert next_actions(bounce=False, awaiting=0, disputes=2, call=True) == ["dispute", "call"]
    assert next_actions(bounce=False, awaiting=0, disputes=0, call=False) == ["review"]
    # Who may not approve is not sent to approve.
    assert next_actions(bounce=False, awaiting=1, disputes=0, call=True, may_approve=False) == [
        "call"
    ]


# -- the page -------------------------------------------------------------------------


def test_it_ranks_the_days_work_by_what_it_brings_in(client, org, owner):
    plain = owing(org, "Plain SARL", "1000.00", 10)  # 1000
    old = owing(org, "Old SA", "600.00", 100)  # 600 x 4 = 2400
    risky = owing(org, "Risky SAS", "1000.00", 10, risk_class="high")  # 1500
    liar = owing(org, "Liar SAS", "1000.00", 10)  # 1000 x (1 + 2 x 0.5) = 2000
    broken_promise(liar, D - dt.timedelta(days=20))
    broken_promise(liar, D - dt.timedelta(days=40))
    broken_promise(liar, D - dt.timedelta(days=400))  # too old to count
    owing(org, "Not Due SA", "5000.00", -10)  # nothing overdue, nothing to do
    page = get(client, owner)
    assert lines(page) == [old.pk, liar.pk, risky.pk, plain.pk]
    scores = re.findall(r'data-score="([\d.]+)"', page)
    assert [Decimal(s) for s in scores] == [
        Decimal(2400),
        Decimal(2000),
        Decimal(1500),
        Decimal(1000),
    ]
    assert "2 broken promises" in page
    assert "High risk" in page


def test_it_shows_what_is_owed_and_why_with_a_link_to_the_customer(client, org, owner):
    customer = owing(org, "Dupont SARL", "1234.50", 45)
    f.invoice(customer, due=D + dt.timedelta(days=5), amount="100.00")
    page = get(client, owner)
    assert f'href="/customers/{customer.pk}/"' in page
    assert "€1,234.50" in page  # overdue
    assert "€1,334.50" in page  # owed in all
    assert "1 item overdue by 45 days" in page


def test_it_gives_each_line_its_next_action_with_links_to_where_it_is_done(client, org, owner):
    calling = owing(org, "Call SA", "100.00", 10)
    call = call_task(calling)
    approving = owing(org, "Approve SA", "200.00", 10)
    f.communication(approving, [], on=D, status=CommStatus.AWAITING_APPROVAL)
    disputing = owing(org, "Dispute SA", "300.00", 10)
    f.dispute(disputing.invoices.get(), on=D)
    bouncing = owing(org, "Bounce SA", "400.00", 10)
    bounce = bounce_task(bouncing)
    bouncing_and_calling = owing(org, "Both SA", "50.00", 10)
    call_task(bouncing_and_calling)
    bounce_task(bouncing_and_calling)
    later = owing(org, "Later SA", "10.00", 10)
    call_task(later, due=D + dt.timedelta(days=3))  # not today's

    page = get(client, owner)
    actions = {
        int(pk): re.findall(r'data-action="(\w+)"', html)
        for pk, html in re.findall(
            r'data-customer="(\d+)"(.*?)</li>\s*(?=<li class="work-line"|</ol>)', page, re.S
        )
    }
    assert actions == {
        bouncing.pk: ["bounce"],
        disputing.pk: ["dispute"],
        approving.pk: ["approve"],
        calling.pk: ["call"],
        bouncing_and_calling.pk: ["bounce", "call"],
        later.pk: ["review"],
    }
    assert f'href="/calls/?day=2026-11-20#call-{call.pk}"' in page
    assert 'href="/approvals/"' in page
    assert 'href="/disputes/?status=open"' in page
    assert f'href="/tasks/?kind=invalid_email&amp;status=open#task-{bounce.pk}"' in page
    assert f'data-action="review" href="/customers/{later.pk}/"' in page


def test_it_offers_approval_only_to_who_may_approve(client, org):
    waiting = owing(org, "Waiting SA", "900.00", 10)
    f.communication(waiting, [], on=D, status=CommStatus.AWAITING_APPROVAL)
    collector = f.member(org, "carl@acme.test", "collector")
    manager = f.member(org, "max@acme.test", "manager")
    assert 'data-action="approve"' not in get(client, collector)
    assert 'data-action="approve"' in get(client, manager)
    assert "1 message awaits approval" in get(client, collector)


def test_it_lists_a_customer_with_work_to_do_even_if_nothing_is_overdue(client, org, owner):
    waiting = owing(org, "Waiting SA", "900.00", -3)
    f.communication(waiting, [], on=D, status=CommStatus.AWAITING_APPROVAL)
    owing(org, "Quiet SA", "900.00", -3)
    assert lines(get(client, owner)) == [waiting.pk]


def test_it_shows_a_collector_the_customers_they_may_work(client, org):
    carl = f.member(org, "carl@acme.test", "collector")
    olga = f.member(org, "olga@acme.test", "collector")
    mine = owing(org, "Mine SA", "100.00")
    nobodys = owing(org, "Nobody SA", "200.00")
    theirs = owing(org, "Theirs SA", "300.00")
    Customer.objects.filter(pk=mine.pk).update(collector=carl)
    Customer.objects.filter(pk=theirs.pk).update(collector=olga)
    assert lines(get(client, carl)) == [nobodys.pk, mine.pk]
    assert lines(get(client, carl, "/?who=mine")) == [mine.pk]
    manager = f.member(org, "max@acme.test", "manager")
    assert lines(get(client, manager)) == [theirs.pk, nobodys.pk, mine.pk]
    assert lines(get(client, manager, "/?who=mine")) == []
    viewer = f.member(org, "vera@acme.test", "viewer")
    assert lines(get(client, viewer)) == [theirs.pk, nobodys.pk, mine.pk]


def test_it_shows_nothing_of_another_organisation(client, org, owner, other_org, outsider):
    owing(org, "Acme's customer", "100.00")
    theirs = owing(other_org, "Globex's customer", "100.00")
    page = get(client, outsider)
    assert lines(page) == [theirs.pk]
    assert "Acme" not in page


def test_it_refuses_a_viewer_a_change(client, org):
    viewer = f.member(org, "vera@acme.test", "viewer")
    client.force_login(viewer)
    assert client.post("/").status_code == 403


def test_it_sends_visitors_to_sign_in(client, db):
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_it_counts_what_the_latest_run_did_and_links_to_the_lists(client, org, owner):
    customers = [owing(org, f"C{n}", "100.00") for n in range(6)]
    previous = D - dt.timedelta(days=1)
    f.communication(customers[0], [], on=previous, status=CommStatus.SENT)
    for customer, status in zip(
        customers,
        [CommStatus.SENT, CommStatus.SENT, CommStatus.AWAITING_APPROVAL, CommStatus.FAILED,
         CommStatus.AMBIGUOUS, CommStatus.QUEUED],
        strict=True,
    ):  # fmt: skip
        f.communication(customer, [], on=D, status=status, channel="letter")
    # A later run on a closed day planned nothing: the figures are those of the run of D.
    trail.record(org, "run.completed", target=("run", D),
                 data={"run_date": D.isoformat(), "business_day": True})  # fmt: skip
    closed_day = (D + dt.timedelta(days=1)).isoformat()
    trail.record(org, "run.completed", target=("run", D),
                 data={"run_date": closed_day, "business_day": False})  # fmt: skip
    page = get(client, owner)
    figures = dict(re.findall(r'<a id="(run-\w+|promises-week)" href="[^"]*">(\d+)</a>', page))
    assert figures == {
        "run-planned": "6", "run-awaiting": "1", "run-sent": "2", "run-failed": "2",
        "promises-week": "0",
    }  # fmt: skip
    assert '<a id="run-sent" href="/run/?status=sent">' in page
    assert '<a id="run-awaiting" href="/approvals/">' in page
    listed = get(client, owner, "/run/?status=failed")
    assert listed.count("<tr>") - 1 == 2  # the header's row and two failed
    assert get(client, owner, "/run/").count("<tr>") - 1 == 6


def test_it_counts_the_promises_due_this_week(client, org, owner):
    customer = owing(org, "Promising SA", "100.00")
    for day in (D - dt.timedelta(days=4), D, D + dt.timedelta(days=2)):  # Monday to Sunday
        f.promise(customer, promised_on=day)
    f.promise(customer, promised_on=D + dt.timedelta(days=3))  # next Monday
    f.promise(customer, promised_on=D - dt.timedelta(days=5))  # last Sunday
    page = get(client, owner)
    assert '<a id="promises-week" href="/promises/?status=open&amp;due=week">3</a>' in page


def test_it_pages_the_list_and_links_to_all_customers_overdue(client, org, owner):
    made = [owing(org, f"Customer {n:02d}", f"{100 + n}.00") for n in range(PAGE_SIZE + 5)]
    first = lines(get(client, owner))
    second = lines(get(client, owner, "/?page=2"))
    assert first == [c.pk for c in reversed(made)][:PAGE_SIZE]
    assert second == [c.pk for c in reversed(made)][PAGE_SIZE:]
    assert 'href="/customers/?overdue=1&amp;sort=-overdue"' in get(client, owner)


def test_it_answers_htmx_with_the_list_alone(client, org, owner):
    customer = owing(org, "Htmx SA")
    client.force_login(owner)
    response = client.get("/?who=all", headers={"HX-Request": "true", "HX-Target": "worklist"})
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="worklist"')
    assert lines(page) == [customer.pk]
    assert "<html" not in page


def customers_with_work(org, count):
    for n in range(count):
        customer = owing(org, f"Busy {n:02d}", "100.00", 10 + n, risk_class="high")
        call_task(customer)
        bounce_task(customer)
        f.dispute(customer.invoices.get(), on=D)
        f.communication(customer, [], on=D, status=CommStatus.AWAITING_APPROVAL)
        broken_promise(customer, D - dt.timedelta(days=2))


def test_it_makes_as_many_queries_for_30_lines_as_for_3(client, org, other_org, owner):
    customers_with_work(org, 3)
    customers_with_work(other_org, 30)
    counted = []
    for user, shown in ((owner, 3), (f.member(other_org, "gus@globex.test", "admin"), PAGE_SIZE)):
        client.force_login(user)
        client.get("/")  # sessions and balances settled
        with CaptureQueriesContext(connection) as queries:
            assert len(lines(client.get("/").content.decode())) == shown
        counted.append(len(queries))
    assert counted[0] == counted[1]


def test_it_ranks_by_reading_only_the_lines_that_may_rank(org):
    """Lines whose score cannot reach the page are left unread: the ranking is the same
    as scoring every line."""
    import random

    from relance.insights.worklist import worklist

    rng = random.Random(9)
    for n in range(40):
        customer = f.customer(org, legal_name=f"Random {n:02d}",
                              risk_class=rng.choice(["low", "medium", "high", ""]))  # fmt: skip
        for _ in range(rng.randint(1, 3)):
            f.invoice(customer, due=D - dt.timedelta(days=rng.randint(-20, 200)),
                      amount=f"{rng.randint(1, 5000)}.{rng.randint(0, 99):02d}")  # fmt: skip
        for _ in range(rng.choice([0, 0, 0, 1, 3])):
            broken_promise(customer, D - dt.timedelta(days=rng.randint(1, 100)))
    every = [(line.customer.pk, line.score) for line in worklist(org, D, size=100).lines]
    expected = sorted(every, key=lambda pair: -pair[1])
    assert [score for _, score in every] == [score for _, score in expected]
    paged = []
    for page in range(1, 20):
        work = worklist(org, D, size=4, page=page)
        paged += [(line.customer.pk, line.score) for line in work.lines]
        if not work.has_next:
            break
    assert paged == every
