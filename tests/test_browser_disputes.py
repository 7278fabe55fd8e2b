"""Disputes and payment plans in a real browser (Debian's chromium, in French): open a
dispute on two invoices and resolve it; build a payment plan whose instalments add up and
see its confirmation arrive at the test SMTP server. Screenshots of the disputes list, a
dispute, the plan builder and a plan, at desktop and phone width."""

from __future__ import annotations

import re

import factories as make
import pytest
from browsing import fits_a_phone, shoot, sign_in
from factories import days

from relance.dunning import outbox
from relance.dunning.models import PaymentPlan
from relance.insights.management.commands.report import today_for
from relance.ledger.models import Dispute

pytestmark = pytest.mark.slow
# ``django_db_setup`` first: the test database is made before the browser's event loop
# runs in this thread, when this file runs alone.


@pytest.fixture
def world(transactional_db):
    org = make.organisation("acme", name="Acme Industrie SAS")
    make.scenario(org)
    manager = make.member(org, "claire@acme.test", "manager")
    make.member(org, "paul@acme.test", "collector")
    today = today_for(org)
    durand = make.customer(org, "C001", legal_name="Durand Frères SARL",
                           email="factures@durand.test")  # fmt: skip
    make.contact(durand, "Marie Durand", "marie@durand.test")
    invoices = [
        make.invoice(durand, "F-2026-101", due=today - days(45), amount="1200.00"),
        make.invoice(durand, "F-2026-117", due=today - days(20), amount="480.00"),
        make.invoice(durand, "F-2026-130", due=today - days(3), amount="2350.50"),
    ]
    return {"org": org, "manager": manager, "customer": durand, "invoices": invoices,
            "today": today}  # fmt: skip


def test_it_opens_a_dispute_on_two_invoices_and_resolves_it(
    django_db_setup, world, live_server, page, phone
):
    durand, (f1, f2, _f3) = world["customer"], world["invoices"]
    sign_in(page, live_server.url, "claire@acme.test")

    page.goto(f"{live_server.url}/disputes/new/?customer={durand.pk}")
    page.locator(f"#invoice-{f1.pk}").check()
    page.locator(f"#invoice-{f2.pk}").check()
    page.locator(f'input[name="amount-{f1.pk}"]').fill("150,50")
    page.locator(f'input[name="note-{f1.pk}"]').fill("Deux palettes manquantes")
    page.locator("#dispute-reason").select_option("delivery")
    page.locator("#dispute-note").fill("Appel du service achats")
    page.locator("#dispute-assignee").select_option(label="paul@acme.test")
    page.locator("#dispute-submit").click()
    page.wait_for_url(re.compile(r"/disputes/\d+/$"))

    disputes = list(Dispute.objects.order_by("invoice__number"))
    assert [d.invoice.number for d in disputes] == ["F-2026-101", "F-2026-117"]
    assert len({d.group for d in disputes}) == 1 and disputes[0].assignee.email == "paul@acme.test"
    assert page.locator("#dispute-invoices tbody tr").count() == 2
    shoot(page, "dispute-open")

    for dispute in disputes:
        form = page.locator(f"#resolve-{dispute.pk}")
        form.locator('input[value="rejected"]').check()
        form.locator('input[name="resolution"]').fill("Livraison complète, bon signé")
        form.locator('button[type="submit"]').click()
        page.wait_for_load_state()
    assert page.locator("#dispute-invoices .badge-open").count() == 0
    assert {d.outcome for d in Dispute.objects.all()} == {"rejected"}
    shoot(page, "dispute")

    page.goto(f"{live_server.url}/disputes/?status=resolved")
    assert page.locator("#disputes tbody tr").count() == 2
    shoot(page, "disputes")

    sign_in(phone, live_server.url, "claire@acme.test")
    phone.goto(f"{live_server.url}/disputes/")
    shoot(phone, "disputes")
    phone.goto(f"{live_server.url}/disputes/{disputes[0].pk}/")
    shoot(phone, "dispute")
    phone.goto(f"{live_server.url}/disputes/?status=resolved")
    fits_a_phone(phone, "#disputes")  # a card per dispute: its amount and status shown


def test_it_builds_a_plan_that_adds_up_and_confirms_it_by_email(
    django_db_setup, world, mail, live_server, page, phone
):
    durand, f3 = world["customer"], world["invoices"][2]
    sign_in(page, live_server.url, "claire@acme.test")

    page.goto(f"{live_server.url}/plans/new/?customer={durand.pk}")
    page.locator(f"#plan-invoice-{f3.pk}").uncheck()
    page.locator("#plan-count").fill("3")
    page.locator("#plan-period").select_option("month")
    page.locator("#plan-propose").click()
    page.wait_for_selector("#plan-lines")
    # 1,680.00 in three: 560.00 each, and the builder says it adds up.
    assert page.locator("#plan-lines tbody tr").count() == 3
    assert page.locator("#plan-adds-up").is_visible()
    page.locator('input[name="amount-0"]').fill("600")  # typed by hand: no longer adds up
    page.locator("#plan-agree").click()
    page.wait_for_selector("#plan-errors")
    assert not PaymentPlan.objects.exists()
    page.locator('input[name="amount-2"]').fill("520,00")
    page.locator("#plan-agree").click()
    page.wait_for_url(re.compile(r"/plans/\d+/$"))

    plan = PaymentPlan.objects.get()
    assert sorted(i.number for i in plan.invoices.all()) == ["F-2026-101", "F-2026-117"]
    assert [str(i.amount) for i in plan.instalments.order_by("due_date")] == [
        "600.00",
        "560.00",
        "520.00",
    ]
    shoot(page, "plan-builder-done")

    report = outbox.send_due(today=world["today"])  # the worker's send function

    assert report.as_dict() == {"sent": 1}
    [received] = mail.received
    assert received.rcpt_tos == ["marie@durand.test"]
    assert "F-2026-101" in received.text() and "600,00" in received.text()
    page.reload()
    assert page.locator("#plan-confirmation").inner_text().strip() != ""
    plan.refresh_from_db()
    assert plan.confirmed_at is not None
    shoot(page, "plan")

    page.goto(f"{live_server.url}/plans/new/?customer={durand.pk}")
    page.goto(f"{live_server.url}/plans/new/?customer={durand.pk}&propose=1&count=4")
    shoot(page, "plan-builder")

    sign_in(phone, live_server.url, "claire@acme.test")
    phone.goto(f"{live_server.url}/plans/{plan.pk}/")
    shoot(phone, "plan")
    phone.goto(f"{live_server.url}/plans/new/?customer={durand.pk}&propose=1&count=4")
    shoot(phone, "plan-builder")
    phone.goto(f"{live_server.url}/plans/")
    shoot(phone, "plans")
    fits_a_phone(phone, "#plans")
