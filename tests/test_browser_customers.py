"""Customers in a real browser: find a customer, read its timeline and what was sent, record
a note and a promise in place; screenshots of the list and the page, desktop and phone."""

from __future__ import annotations

import datetime as dt

import pytest
from browsing import BROWSER_TESTS

pytestmark = BROWSER_TESTS


@pytest.fixture
def ledger(transactional_db):
    import factories as make
    from django.utils import timezone

    from relance.dunning.models import CommStatus
    from relance.ledger.models import TimelineEvent

    org = make.organisation("acme", name="Acme Industrie SAS", promise_grace_days=3)
    make.scenario(org)
    today = dt.date.today()
    user = make.member(org, "claire@acme.test", "collector")
    durand = make.customer(org, "C001", legal_name="Durand Transports SARL", siren="552100554",
                           trade_name="Transports Durand", collector=user)  # fmt: skip
    make.contact(durand, "Marie Durand", "marie@durand.test")
    first = make.invoice(durand, "F-2026-101", due=today - dt.timedelta(days=25), amount="1840.00")
    make.invoice(durand, "F-2026-131", due=today - dt.timedelta(days=3), amount="620.50")
    make.invoice(durand, "F-2026-150", due=today + dt.timedelta(days=12), amount="300.00")
    make.dispute(make.invoice(durand, "F-2026-090", due=today - dt.timedelta(days=60)), on=today)
    comm = make.communication(
        durand, [first], on=today - dt.timedelta(days=5), status=CommStatus.SENT,
        subject="Facture F-2026-101 en attente de règlement", recipient="marie@durand.test",
        sent_text="Bonjour Madame Durand,\n\nSauf erreur de notre part, la facture F-2026-101 "
        "de 1 840,00 € reste impayée.\n\nCordialement,\nAcme Industrie",
    )  # fmt: skip
    TimelineEvent.objects.create(
        organisation=org, customer=durand, kind="communication_sent",
        at=timezone.now() - dt.timedelta(days=5), summary="Relance envoyée par e-mail",
        data={"communication": comm.pk},
    )  # fmt: skip
    for n in range(12):
        other = make.customer(org, f"C1{n:02d}", legal_name=f"Client {n} SAS")
        make.invoice(other, due=today - dt.timedelta(days=5 * n), amount=str(100 + 37 * n))
    return durand


def test_it_finds_a_customer_reads_its_timeline_and_records_in_place(
    django_db_setup, live_server, page, ledger
):
    from browsing import cut_fields, fits_a_phone, overflow, shoot, sign_in

    from relance.dunning.models import Promise
    from relance.ledger.models import TimelineEvent

    sign_in(page, live_server.url, "claire@acme.test")
    page.goto(f"{live_server.url}/customers/")
    assert page.locator("tr[data-customer]").count() == 13
    shoot(page, "customers-list")
    assert cut_fields(page, "form.customer-filters") == []  # every filter's choice whole
    page.fill("#filter-q", "durand")
    page.click("#filter-submit")
    page.wait_for_url("**/customers/?q=durand*")
    assert page.locator("tr[data-customer]").count() == 1
    page.click("tr[data-customer='C001'] a")
    page.wait_for_url(f"**/customers/{ledger.pk}/")
    assert page.locator("h1").inner_text() == "Durand Transports SARL"

    # The e-mail on the timeline: its subject, and exactly what was sent once opened.
    sent = page.locator("li[data-kind='communication_sent']")
    assert "Facture F-2026-101 en attente de règlement" in sent.inner_text()
    text = sent.locator(".message-text")
    assert not text.is_visible()
    sent.locator("summary").click()
    assert "la facture F-2026-101 de 1 840,00 € reste impayée" in text.inner_text()
    shoot(page, "customer-page")
    # The open items whole, their next step by its label: nothing cut or scrolled sideways.
    assert overflow(page, ".card-items .table-wrap") == 0
    next_step = page.locator("tr[data-invoice='F-2026-101'] td.next").inner_text()
    assert next_step.startswith("Première relance")

    # A note, in place: the page is not loaded again.
    page.evaluate("window.stayed = true")
    page.fill("textarea[name='note-text']", "Appelée : règlement prévu vendredi.")
    page.click("button[value='note']")
    note = page.locator("li[data-kind='note']").first
    note.wait_for()
    assert "règlement prévu vendredi" in note.inner_text()
    assert page.evaluate("window.stayed === true")

    # A promise on one invoice, the organisation's grace proposed.
    page.click("#promise-open")
    assert page.input_value("input[name='promise-grace_days']") == "3"
    promised = (dt.date.today() + dt.timedelta(days=4)).isoformat()
    page.fill("input[name='promise-promised_on']", promised)
    page.select_option("select[name='promise-invoice']", label="F-2026-101")
    page.fill("input[name='promise-amount']", "1840")
    page.click("button[value='promise']")
    page.locator("li[data-kind='promise_recorded']").first.wait_for()
    assert page.evaluate("window.stayed === true")
    assert page.locator("li[data-pause='promise']").count() == 1
    promise = Promise.objects.get(customer=ledger)
    assert promise.grace_days == 3 and promise.promised_on.isoformat() == promised
    assert TimelineEvent.objects.filter(customer=ledger, kind="note").count() == 1

    # The promises: a card per promise on a phone, its amount, status and action whole.
    page.goto(f"{live_server.url}/promises/")
    assert page.locator(f"#promise-{promise.pk}").is_visible()
    fits_a_phone(page, "#promises")


def test_it_reads_well_on_a_phone(django_db_setup, live_server, phone, ledger):
    from browsing import fits_a_phone, shoot, sign_in

    sign_in(phone, live_server.url, "claire@acme.test")
    phone.goto(f"{live_server.url}/customers/")
    shoot(phone, "customers-list")
    # Nothing of the page wider than the screen: the tables scroll in their own box.
    assert phone.evaluate(WIDEST) <= 390
    # The list is a card per customer, its amounts and pauses shown (sorted by the filters).
    fits_a_phone(phone, ".customer-table")
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{live_server.url}/customers/{ledger.pk}/")
    assert phone.evaluate(WIDEST) <= 390
    phone.click("#promise-open")
    shoot(phone, "customer-page")
    fits_a_phone(phone, ".table.items")  # the open items, a card each


# The right edge of the main content's widest element, table boxes included.
WIDEST = """Math.max(...[...document.querySelectorAll('main *')]
  .filter(e => !e.closest('.table-wrap') || e.classList.contains('table-wrap'))
  .map(e => e.getBoundingClientRect().right))"""
