"""The console's customers: the list (filters, search, sorts, pages), a customer's page
(open items, pauses, scenario, timeline with what was sent) and what a person records from
it, with the roles and the organisations kept apart."""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import factories as make
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from relance.audit.models import AuditEvent
from relance.dunning import customer_list
from relance.dunning.models import (
    CommStatus,
    CustomerScenario,
    Promise,
    Rate,
    Scenario,
    SegmentRule,
)
from relance.ledger.models import Contact, Dispute, Hold, TimelineEvent

D = date(2026, 11, 23)  # a Monday


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Europe/Paris")))


@pytest.fixture
def acme(db):
    org = make.organisation("acme", name="Acme Industrie SAS", promise_grace_days=4)
    make.scenario(org)
    Rate.objects.create(series="fr_late_penalty_default", date=date(2026, 7, 1), percent="12.15")
    return org


@pytest.fixture
def people(acme):
    return {
        role: make.member(acme, f"{role}@acme.test", role)
        for role in ("admin", "manager", "collector", "viewer")
    }


@pytest.fixture
def other_collector(acme):
    return make.member(acme, "bob@acme.test", "collector")


def signed_in(client, user):
    """Signed in, reading the pages in English."""
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def listed(client, **params) -> list[str]:
    """The references of the list's rows, in order."""
    page = client.get("/customers/", params)
    assert page.status_code == 200
    return re.findall(r'data-customer="([^"]+)"', page.content.decode())


def late(customer, days: int, amount: str = "100.00", **kw):
    return make.invoice(customer, due=D - timedelta(days=days), amount=amount, **kw)


@pytest.fixture
def ledger(acme, people, other_collector):
    """Four customers: Durand owes most and is held, Martin is disputed and promised,
    Petit owes nothing overdue, Zola nothing at all."""
    durand = make.customer(acme, "C001", legal_name="Durand SARL", siren="123456789",
                           risk_class="high", collector=people["collector"])  # fmt: skip
    late(durand, 100, "5000.00")
    make.hold(durand, start=D - timedelta(days=3))
    martin = make.customer(acme, "C002", legal_name="Martin SAS", trade_name="Boulangerie Lune",
                           collector=other_collector)  # fmt: skip
    invoice = late(martin, 40, "800.00")
    make.dispute(invoice, on=D - timedelta(days=1))
    make.promise(martin, promised_on=D + timedelta(days=5))
    petit = make.customer(acme, "C003", legal_name="Petit EURL", risk_class="low")
    make.invoice(petit, due=D + timedelta(days=10), amount="300.00")
    make.customer(acme, "C004", legal_name="Zola SA")
    return acme


# -- the list ------------------------------------------------------------------------------


def test_it_lists_customers_with_what_they_owe_their_collector_and_badges(client, ledger, people):
    page = signed_in(client, people["viewer"]).get("/customers/")
    html = page.content.decode()
    assert page.status_code == 200
    # Sorted by overdue, largest first; those owing nothing overdue, then nothing, follow.
    assert re.findall(r'data-customer="([^"]+)"', html) == ["C001", "C002", "C003", "C004"]
    row = html[html.index('data-customer="C001"') :].split("</tr>")[0]
    assert "5,000.00" in row and "collector@acme.test" in row and "badge-hold" in row
    assert "Over 90 days" in row
    martin = html[html.index('data-customer="C002"') :].split("</tr>")[0]
    assert "badge-dispute" in martin and "badge-promise" in martin and "badge-hold" not in martin


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"bucket": "over_90"}, ["C001"]),
        ({"bucket": "31-60"}, ["C002"]),
        ({"bucket": "not_due"}, ["C003"]),
        ({"overdue": "1"}, ["C001", "C002"]),
        ({"risk": "high"}, ["C001"]),
        ({"risk": "low"}, ["C003"]),
        ({"collector": "none"}, ["C003", "C004"]),
        ({"hold": "1"}, ["C001"]),
        ({"dispute": "1"}, ["C002"]),
        ({"promise": "1"}, ["C002"]),
        ({"currency": "USD"}, ["C001", "C002", "C003", "C004"]),  # nobody owes in USD
        ({"scenario": "example"}, ["C001", "C002", "C003", "C004"]),
        ({"scenario": "nothing-like-it"}, []),
        ({"overdue": "1", "risk": "high", "hold": "1"}, ["C001"]),
    ],
)
def test_it_filters_the_list(client, ledger, people, params, expected):
    assert listed(signed_in(client, people["viewer"]), **params) == expected


def test_it_filters_on_the_collector_by_id_and_as_me(client, ledger, people, other_collector):
    signed_in(client, people["collector"])
    assert listed(client, collector="me") == ["C001"]
    assert listed(client, collector=str(other_collector.pk)) == ["C002"]


def test_it_filters_on_the_scenario_each_customer_follows(client, ledger, people):
    vip = make.scenario(ledger, slug="vip", default=False, replace=False)
    SegmentRule.objects.create(organisation=ledger, position=1, name="risky", scenario=vip,
                               risk_class="high")  # fmt: skip
    CustomerScenario.objects.create(
        organisation=ledger, customer=ledger_customer(ledger, "C003"), scenario=vip
    )
    signed_in(client, people["viewer"])
    assert listed(client, scenario="vip") == ["C001", "C003"]
    assert listed(client, scenario="example") == ["C002", "C004"]


def ledger_customer(org, reference):
    from relance.ledger.models import Customer

    return Customer.objects.get(organisation=org, reference=reference)


def test_it_shows_the_amounts_of_the_currency_asked(client, ledger, people):
    late(ledger_customer(ledger, "C004"), 20, "70.00", currency="USD")
    signed_in(client, people["viewer"])
    assert listed(client, currency="USD")[0] == "C004"
    html = client.get("/customers/", {"currency": "USD"}).content.decode()
    assert '<option value="USD" selected>' in html  # the organisation owes in two currencies


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-overdue", ["C001", "C002", "C003", "C004"]),
        ("overdue", ["C003", "C002", "C001", "C004"]),
        ("-open", ["C001", "C002", "C003", "C004"]),
        ("oldest", ["C001", "C002", "C003", "C004"]),
        ("name", ["C001", "C002", "C003", "C004"]),
        ("reference", ["C001", "C002", "C003", "C004"]),
    ],
)
def test_it_sorts_the_list(client, ledger, people, sort, expected):
    assert listed(signed_in(client, people["viewer"]), sort=sort) == expected


def test_it_sorts_by_name_and_reference_apart(client, acme, people):
    make.customer(acme, "A9", legal_name="Zeta SA")
    make.customer(acme, "Z1", legal_name="Alpha SA")
    signed_in(client, people["viewer"])
    assert listed(client, sort="name") == ["Z1", "A9"]
    assert listed(client, sort="reference") == ["A9", "Z1"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("durand", ["C001"]),  # legal name, any case
        ("lune", ["C002"]),  # trade name
        ("c00", ["C001", "C002", "C003", "C004"]),  # reference
        ("123 456", ["C001"]),  # SIREN as people write it
        ("nobody", []),
    ],
)
def test_it_searches_by_name_trade_name_reference_or_siren(client, ledger, people, q, expected):
    assert listed(signed_in(client, people["viewer"]), q=q) == expected


def test_it_searches_the_same_when_a_search_finds_many(client, ledger, people, monkeypatch):
    """Past ``FEW`` matches, the search stays a condition of the query: same answer."""
    monkeypatch.setattr(customer_list, "FEW", 1)
    signed_in(client, people["viewer"])
    assert listed(client, q="c00") == ["C001", "C002", "C003", "C004"]
    assert listed(client, q="c00", sort="name", overdue="1") == ["C001", "C002"]
    assert listed(client, dispute="1", promise="1") == ["C002"]


def test_it_pages_through_debtors_then_the_others(client, ledger, people, monkeypatch):
    monkeypatch.setattr(customer_list, "PAGE_SIZE", 3)
    signed_in(client, people["viewer"])
    first = client.get("/customers/").content.decode()
    assert re.findall(r'data-customer="([^"]+)"', first) == ["C001", "C002", "C003"]
    assert 'id="page-next"' in first and 'id="page-previous"' not in first
    second = client.get("/customers/", {"page": "2"}).content.decode()
    assert re.findall(r'data-customer="([^"]+)"', second) == ["C004"]
    assert 'id="page-previous"' in second and 'id="page-next"' not in second
    assert listed(client, page="2", sort="name") == ["C004"]
    assert listed(client, page="2", q="c00") == ["C004"]
    assert listed(client, page="99") == []


def test_it_counts_up_to_a_limit(client, ledger, people, monkeypatch):
    signed_in(client, people["viewer"])
    assert "4 customers" in client.get("/customers/").content.decode()
    monkeypatch.setattr(customer_list, "COUNT_LIMIT", 3)
    assert "More than 1,000 customers" in client.get("/customers/").content.decode()


def _queries(client, url, params=None) -> int:
    # The first page of the day ages the balances once (relance.ledger.summaries): count
    # what the page itself costs.
    assert client.get(url, params or {}).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, params or {}).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("params", [{}, {"sort": "name"}, {"q": "client"}, {"dispute": "1"}])
def test_it_makes_as_many_queries_for_3_rows_as_for_30(client, acme, people, params):
    serial = itertools.count()

    def add(n):
        for _ in range(n):
            c = make.customer(
                acme, legal_name=f"Client {next(serial)}", collector=people["collector"]
            )
            late(c, 45)
            make.dispute(late(c, 10), on=D)
            make.promise(c, promised_on=D + timedelta(days=3))
            make.hold(c, start=D)

    signed_in(client, people["viewer"])
    add(3)
    few = _queries(client, "/customers/", params)
    add(27)
    assert len(listed(client, **params)) == 30
    assert _queries(client, "/customers/", params) == few


# -- the customer's page ---------------------------------------------------------------


@pytest.fixture
def durand(acme, people):
    cust = make.customer(acme, "C001", legal_name="Durand SARL", siren="123456789",
                         email="factures@durand.test", collector=people["collector"])  # fmt: skip
    make.contact(cust, "Marie Durand", "marie@durand.test")
    return cust


def sent_email(customer, invoices, *, subject, text, on=D - timedelta(days=2)):
    comm = make.communication(customer, invoices, on=on, status=CommStatus.SENT,
                              subject=subject, sent_text=text,
                              recipient="marie@durand.test")  # fmt: skip
    TimelineEvent.objects.create(
        organisation_id=customer.organisation_id, customer=customer, kind="communication_sent",
        at=datetime(on.year, on.month, on.day, 10, tzinfo=ZoneInfo("Europe/Paris")),
        summary="Reminder sent by e-mail", data={"communication": comm.pk},
    )  # fmt: skip
    return comm


def test_it_shows_a_customer_items_pauses_scenario_and_timeline(client, acme, durand, people):
    first = late(durand, 20, "1000.00")
    make.credit(first, "200.00", on=D - timedelta(days=5))
    disputed = late(durand, 40, "500.00")
    make.dispute(disputed, on=D - timedelta(days=2), reason="quality")
    make.invoice(durand, due=D + timedelta(days=10), amount="300.00")
    sent_email(durand, [first], subject="Rappel : facture en retard",
               text="Bonjour,\nVotre facture reste impayée.")  # fmt: skip
    old = make.communication(durand, [first], on=D - timedelta(days=30), status=CommStatus.SENT,
                             subject="Ancien rappel", channel="letter")  # fmt: skip
    TimelineEvent.objects.create(organisation=acme, customer=durand, kind="communication_sent",
                                 at=datetime(2026, 10, 24, 9, tzinfo=ZoneInfo("UTC")),
                                 summary="Letter posted",
                                 data={"communication": old.pk})  # fmt: skip

    page = signed_in(client, people["viewer"]).get(f"/customers/{durand.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<h1>Durand SARL</h1>" in html and "Marie Durand" in html
    # Open items with days overdue, level and penalties; the scenario and why.
    assert f'data-invoice="{first.number}"' in html and "800.00" in html
    assert "Example" in html and "No rule matched" in html
    assert "Disputed" in html  # the disputed item is paused
    # The timeline: the message exactly as sent, under its subject; the older one's subject.
    assert "Rappel : facture en retard" in html
    assert '<details class="message-content">' in html
    assert "Votre facture reste impayée." in html
    assert "Ancien rappel" in html
    # The credit note is on the timeline too, and the dispute.
    assert 'data-kind="payment"' in html and 'data-kind="dispute_opened"' in html
    # A viewer records nothing: no form to.
    assert 'id="note-form"' not in html


def _lines(html: str) -> list[str]:
    lines = r'note-text">(note \d+)<|(VIR-42)|data-kind="(invoice_paid)"'
    return [m.group(1) or m.group(3) or "payment" for m in re.finditer(lines, html)]


def test_it_pages_the_timeline_with_an_older_link(client, acme, durand, people):
    base = datetime(2026, 11, 1, 9, tzinfo=ZoneInfo("UTC"))
    TimelineEvent.objects.bulk_create(
        TimelineEvent(organisation=acme, customer=durand, kind="note", summary=f"note {n}",
                      at=base + timedelta(hours=n), data={"text": f"note {n}"})
        for n in range(40)
    )  # fmt: skip
    # Counted from the start of its day in Paris: 1 November 23:00 UTC, note 14's instant.
    make.pay(late(durand, 30), on=date(2026, 11, 2), reference="VIR-42")
    signed_in(client, people["viewer"])
    html = client.get(f"/customers/{durand.pk}/").content.decode()
    first = _lines(html)
    assert len(first) == 30
    older = unquote(re.search(r'href="/customers/\d+/\?older=([^"#]+)#timeline"', html).group(1))
    rest = client.get(f"/customers/{durand.pk}/timeline/", {"older": older},
                      HTTP_HX_REQUEST="true").content.decode()  # fmt: skip
    assert "<html" not in rest and 'id="timeline-older"' not in rest
    # Every line once, newest first, the payment among the notes of its day.
    # The payment paid the invoice off: "invoice paid" is the newest line (recorded now).
    expected = ["invoice_paid"] + [f"note {n}" for n in range(39, 13, -1)] + ["payment"]
    expected += [f"note {n}" for n in range(13, -1, -1)]
    assert first + _lines(rest) == expected
    # Without JavaScript, the link opens the customer's page at that point.
    again = client.get(f"/customers/{durand.pk}/", {"older": older}).content.decode()
    assert _lines(again) == _lines(rest)
    # Without htmx, the timeline's address leads there.
    plain = client.get(f"/customers/{durand.pk}/timeline/", {"older": older})
    assert plain.status_code == 302 and "older=" in plain["Location"]


def _items(customer, n):
    for _ in range(n):
        late(customer, 12)


def test_it_makes_as_many_queries_for_3_items_as_for_30(client, acme, durand, people):
    signed_in(client, people["manager"])
    _items(durand, 3)
    sent_email(durand, [], subject="s", text="t")
    few = _queries(client, f"/customers/{durand.pk}/")
    _items(durand, 27)
    for n in range(27):
        sent_email(durand, [], subject=f"s{n}", text="t", on=D - timedelta(days=n + 3))
    assert _queries(client, f"/customers/{durand.pk}/") == few


def test_it_shows_one_page_of_many_items_with_totals_for_all(client, acme, durand, people):
    from relance.console.customers import ITEMS_PAGE

    signed_in(client, people["viewer"])
    late(durand, 12, "10.00")
    late(durand, 5, "10.00")
    make.invoice(durand, due=D + timedelta(days=10), amount="10.00")
    few = _queries(client, f"/customers/{durand.pk}/")
    for n in range(117):  # 120 in all: 60 overdue, 60 not due yet
        make.invoice(durand, due=D + timedelta(days=(-30 - n) if n < 58 else n), amount="10.00")
    assert _queries(client, f"/customers/{durand.pk}/") == few
    html = client.get(f"/customers/{durand.pk}/").content.decode()
    shown = re.findall(r'<tr data-invoice="([^"]+)"', html)
    assert len(shown) == ITEMS_PAGE == 50
    # Totals over the 120 items, whatever the page shows; penalties said to be the page's.
    assert "Open</dt><dd>€1,200.00" in html
    assert "Overdue</dt><dd>€600.00" in html
    assert "Items 1 to 50 of 120" in html and "Penalties accrued on the items shown" in html
    # Oldest due first; the next page follows with htmx, then the last one.
    more = re.search(r'hx-get="([^"]+items=50)"', html).group(1)
    rest = client.get(more, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in rest
    following = re.findall(r'<tr data-invoice="([^"]+)"', rest)
    assert len(following) == 50 and not set(following) & set(shown)
    last = client.get(f"/customers/{durand.pk}/items/", {"items": 100}, HTTP_HX_REQUEST="true")
    assert len(re.findall(r"<tr data-invoice=", last.content.decode())) == 20
    assert 'id="items-more"' not in last.content.decode()
    # Without JavaScript the link opens the page at that point.
    plain = client.get(f"/customers/{durand.pk}/items/", {"items": 50})
    assert plain.status_code == 302 and "items=50" in plain["Location"]
    again = client.get(f"/customers/{durand.pk}/", {"items": 50}).content.decode()
    assert re.findall(r'<tr data-invoice="([^"]+)"', again) == following


def test_it_answers_404_for_another_organisations_customer(client, acme, people):
    other = make.organisation("globex")
    theirs = make.customer(other, "G1")
    signed_in(client, people["admin"])
    assert client.get(f"/customers/{theirs.pk}/").status_code == 404
    assert client.get(f"/customers/{theirs.pk}/timeline/").status_code == 404
    assert client.post(f"/customers/{theirs.pk}/note/", {"note-text": "x"}).status_code == 404
    assert client.get("/customers/99999/").status_code == 404
    assert listed(client, q="G1") == []
    assert not TimelineEvent.objects.filter(kind="note").exists()


# -- recording from the customer's page ---------------------------------------------------


def test_it_adds_a_note_on_the_timeline_and_the_trail(client, durand, people):
    signed_in(client, people["collector"])
    answer = client.post(f"/customers/{durand.pk}/note/", {"note-text": "Called, will pay."})
    assert answer.status_code == 302 and answer["Location"] == f"/customers/{durand.pk}/"
    event = TimelineEvent.objects.get(customer=durand, kind="note")
    assert event.summary == "Called, will pay." and event.actor == people["collector"]
    audit = AuditEvent.objects.get(action="customer.note_added")
    assert audit.user == people["collector"] and audit.object_id == str(durand.pk)
    assert "Called, will pay." in client.get(answer["Location"]).content.decode()


def test_it_answers_htmx_with_the_page_body_in_place(client, durand, people):
    signed_in(client, people["collector"])
    answer = client.post(f"/customers/{durand.pk}/note/", {"note-text": "In place."},
                         HTTP_HX_REQUEST="true")  # fmt: skip
    html = answer.content.decode()
    assert answer.status_code == 200 and html.lstrip().startswith('<div id="customer"')
    assert "<html" not in html and "In place." in html and "Note added." in html
    refused = client.post(f"/customers/{durand.pk}/note/", {"note-text": "  "},
                          HTTP_HX_REQUEST="true")  # fmt: skip
    assert refused.status_code == 200 and "field-error" in refused.content.decode()
    assert client.post(f"/customers/{durand.pk}/note/", {"note-text": ""}).status_code == 400


def test_it_adds_a_contact(client, durand, people):
    signed_in(client, people["collector"])
    client.post(f"/customers/{durand.pk}/contact/", {
        "contact-name": "Paul Roux", "contact-role": "Comptable",
        "contact-email": "Paul@Durand.test",
        "contact-phone": "+33 1 23 45 67 89", "contact-preferred_channel": "phone",
        "contact-dunning_contact": "on",
    })  # fmt: skip
    contact = Contact.objects.get(customer=durand, name="Paul Roux")
    assert (contact.email, contact.preferred_channel, contact.is_primary) == (
        "paul@durand.test", "phone", True)  # fmt: skip
    assert TimelineEvent.objects.filter(customer=durand, kind="contact_added").exists()
    assert AuditEvent.objects.filter(action="contact.added").exists()
    bad = client.post(f"/customers/{durand.pk}/contact/", {
        "contact-name": "X", "contact-email": "not an address",
        "contact-preferred_channel": "email",
    })  # fmt: skip
    assert bad.status_code == 400 and Contact.objects.filter(customer=durand).count() == 2


def test_it_places_and_lifts_a_hold(client, durand, people):
    signed_in(client, people["collector"])
    client.post(f"/customers/{durand.pk}/hold/", {"hold-kind": "negotiation",
                "hold-start": "2026-11-23", "hold-reason": "talks"})  # fmt: skip
    hold = Hold.objects.get(customer=durand)
    assert (hold.kind, hold.start_date, hold.created_by) == ("negotiation", D, people["collector"])
    assert f'id="release-{hold.pk}"' in client.get(f"/customers/{durand.pk}/").content.decode()
    # Collective proceedings need their publication date: refused, nothing written.
    refused = client.post(f"/customers/{durand.pk}/hold/", {"hold-kind": "insolvency",
                          "hold-start": "2026-11-23"})  # fmt: skip
    assert refused.status_code == 400 and Hold.objects.filter(customer=durand).count() == 1
    client.post(f"/customers/{durand.pk}/hold/{hold.pk}/release/")
    hold.refresh_from_db()
    assert hold.end_date == D
    assert {"hold.placed", "hold.released"} <= set(
        AuditEvent.objects.values_list("action", flat=True)
    )


def test_it_records_a_promise_with_the_organisations_grace(client, acme, durand, people):
    invoice = late(durand, 10)
    signed_in(client, people["collector"])
    page = client.get(f"/customers/{durand.pk}/").content.decode()
    assert 'name="promise-grace_days" value="4"' in page  # Organisation.promise_grace_days
    client.post(f"/customers/{durand.pk}/promise/", {"promise-promised_on": "2026-12-01",
                "promise-invoice": str(invoice.pk), "promise-amount": "1 100,50",
                "promise-grace_days": "4"})  # fmt: skip
    promise = Promise.objects.get(customer=durand)
    assert promise.amount == Decimal("1100.50")  # typed the French way
    assert (promise.invoice, promise.grace_days, promise.promised_on) == (
        invoice,
        4,
        date(2026, 12, 1),
    )
    assert TimelineEvent.objects.filter(customer=durand, kind="promise_recorded").exists()


def test_it_opens_one_dispute_per_invoice_sharing_a_group(client, durand, people):
    one, two, three = late(durand, 10), late(durand, 20), late(durand, 30)
    signed_in(client, people["collector"])
    client.post(f"/customers/{durand.pk}/dispute/", {"dispute-invoices": [one.pk, two.pk],
                "dispute-reason": "delivery", "dispute-note": "pallet damaged"})  # fmt: skip
    disputes = list(Dispute.objects.filter(invoice__customer=durand))
    assert {d.invoice_id for d in disputes} == {one.pk, two.pk}
    assert len({d.group for d in disputes}) == 1 and disputes[0].group
    assert {d.reason for d in disputes} == {"delivery"}
    assert TimelineEvent.objects.filter(customer=durand, kind="dispute_opened").count() == 2
    # One invoice alone: no group; an amount is for one invoice only.
    client.post(f"/customers/{durand.pk}/dispute/", {"dispute-invoices": [three.pk],
                "dispute-reason": "price", "dispute-amount": "50"})  # fmt: skip
    assert Dispute.objects.get(invoice=three).group == ""
    refused = client.post(f"/customers/{durand.pk}/dispute/", {"dispute-invoices": [one.pk, two.pk],
                          "dispute-reason": "price", "dispute-amount": "50"})  # fmt: skip
    assert refused.status_code == 400 and Dispute.objects.count() == 3


def test_it_refuses_another_customers_invoice_in_a_dispute(client, acme, durand, people):
    theirs = late(make.customer(acme, "C9"), 10)
    signed_in(client, people["manager"])
    answer = client.post(f"/customers/{durand.pk}/dispute/",
                         {"dispute-invoices": [theirs.pk], "dispute-reason": "price"})  # fmt: skip
    assert answer.status_code == 400 and not Dispute.objects.exists()


def test_it_lets_a_manager_assign_a_collector(client, durand, people, other_collector):
    signed_in(client, people["manager"])
    client.post(f"/customers/{durand.pk}/collector/", {"collector-collector": other_collector.pk})
    durand.refresh_from_db()
    assert durand.collector == other_collector
    assert AuditEvent.objects.filter(action="customer.assigned").exists()
    client.post(f"/customers/{durand.pk}/collector/", {"collector-collector": ""})
    durand.refresh_from_db()
    assert durand.collector is None


# -- who may do what ---------------------------------------------------------------------


def test_it_refuses_every_change_to_a_viewer(client, durand, people):
    signed_in(client, people["viewer"])
    assert client.get("/customers/").status_code == 200
    assert client.get(f"/customers/{durand.pk}/").status_code == 200
    for action, data in (("note", {"note-text": "x"}), ("contact", {"contact-name": "x"}),
                         ("hold", {}), ("promise", {}), ("dispute", {}),
                         ("collector", {"collector-collector": ""})):  # fmt: skip
        assert client.post(f"/customers/{durand.pk}/{action}/", data).status_code == 403
    assert not TimelineEvent.objects.filter(kind="note").exists()


def test_it_refuses_a_collector_another_collectors_customer(client, acme, durand, people,
                                                            other_collector):  # fmt: skip
    signed_in(client, other_collector)
    page = client.get(f"/customers/{durand.pk}/").content.decode()
    assert 'id="note-form"' not in page  # read, not worked
    assert client.post(f"/customers/{durand.pk}/note/", {"note-text": "x"}).status_code == 403
    hold = make.hold(durand, start=D)
    assert client.post(f"/customers/{durand.pk}/hold/{hold.pk}/release/").status_code == 403
    # The unassigned are everyone's to work.
    free = make.customer(acme, "C8")
    assert client.post(f"/customers/{free.pk}/note/", {"note-text": "mine"}).status_code == 302


def test_it_keeps_assigning_to_managers(client, durand, people, other_collector):
    signed_in(client, people["collector"])
    assert 'id="collector-form"' not in client.get(f"/customers/{durand.pk}/").content.decode()
    answer = client.post(f"/customers/{durand.pk}/collector/",
                         {"collector-collector": people["collector"].pk})  # fmt: skip
    assert answer.status_code == 403
    signed_in(client, people["admin"])
    assert 'id="collector-form"' in client.get(f"/customers/{durand.pk}/").content.decode()


def test_it_refuses_a_get_on_an_action(client, durand, people):
    signed_in(client, people["manager"])
    assert client.get(f"/customers/{durand.pk}/note/").status_code == 405


def test_the_scenarios_reason_says_its_amounts_with_their_currencies(client, acme, durand, people):
    """An open item over a rule's threshold: the item's amount in its own currency, the
    threshold in the organisation's, each as the reader's language writes money."""
    make.invoice(durand, due=D - timedelta(days=3), amount="12000.00", currency="USD")
    SegmentRule.objects.create(organisation=acme, position=1, name="Big",
                               scenario=Scenario.objects.filter(organisation=acme).first(),
                               min_invoice_amount="10000.00")  # fmt: skip
    client = signed_in(client, people["viewer"])
    client.cookies["django_language"] = "fr"
    page = client.get(f"/customers/{durand.pk}/")
    said = re.sub(r"[\u00a0\u202f]", " ", page.content.decode())
    assert "une pièce ouverte de 12 000,00 $, pour un seuil de 10 000,00 €" in said
