"""The debtor's portal in a real browser (Debian's chromium): the four actions walked on a
desktop and on a phone, then their effect in the console (the customer's page shows the
hold, the promise, the dispute and the proposed plan, which a manager accepts) and on the
next run (nothing planned for the customer). Screenshots of each page at both widths."""

from __future__ import annotations

import hashlib
import re

import factories as make
import pytest
from browsing import shoot, sign_in
from django.core.files.base import ContentFile
from factories import days

from relance.dunning.engine import run
from relance.dunning.models import Communication, PaymentPlan, Promise
from relance.insights.management.commands.report import today_for
from relance.ledger.models import Attachment, Dispute, Hold
from relance.portal import links

pytestmark = pytest.mark.slow


@pytest.fixture
def world(transactional_db, settings, live_server):
    settings.RELANCE_BASE_URL = live_server.url
    org = make.organisation("acme", name="Acme Industrie SAS", iban="FR7630006000011234567890189")
    make.scenario(org)
    make.member(org, "claire@acme.test", "manager")
    return {"org": org, "today": today_for(org)}


def debtor(world, reference: str, name: str) -> tuple:
    today = world["today"]
    customer = make.customer(world["org"], reference, legal_name=name,
                             email=f"factures@{reference.lower()}.test")  # fmt: skip
    make.contact(customer, "Marie Durand", f"marie@{reference.lower()}.test")
    invoices = [
        make.invoice(customer, f"{reference}-101", due=today - days(45), amount="1200.00"),
        make.invoice(customer, f"{reference}-117", due=today - days(20), amount="480.00"),
        make.invoice(customer, f"{reference}-130", due=today - days(6), amount="2350.50"),
    ]
    content = b"%PDF-1.4 facture\n%%EOF\n"
    Attachment.objects.create(
        organisation=world["org"], invoice=invoices[0], kind="invoice_pdf",
        file=ContentFile(content, name="facture.pdf"), name="facture.pdf",
        sha256=hashlib.sha256(content).hexdigest(),
    )  # fmt: skip
    return customer, invoices


def walk(page, url: str, customer, invoices, today) -> None:
    """The four actions and a change of contact, each from the portal's page."""
    page.goto(url)
    assert page.locator("h1").count() == 1
    assert page.locator("#invoices tbody tr").count() == 3
    assert page.locator("#epc-qr").is_visible()
    assert page.locator("#pay-online").count() == 0  # no payment provider here
    href = page.locator("a.pdf").get_attribute("href")
    pdf = page.request.get(url.split("/p/")[0] + href)
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    shoot(page, "portal")

    page.locator("#action-paid").click()
    page.wait_for_selector("#id_paid_on")
    page.locator("#id_amount").fill("480,00")
    page.locator("#id_reference").fill("VIR-2026-0042")
    for invoice in invoices:
        page.locator(f'input[name="invoices"][value="{invoice.pk}"]').set_checked(
            invoice == invoices[1]
        )
    shoot(page, "portal-paid")
    page.locator("#submit").click()
    page.wait_for_selector("#done")

    page.locator("#action-promise").click()
    page.locator("#id_promised_on").fill((today - days(2)).isoformat())  # in the past
    page.locator("#submit").click()
    page.wait_for_selector("#id_promised_on-error")
    shoot(page, "portal-promise-error")
    page.locator("#id_promised_on").fill((today + days(10)).isoformat())
    page.locator("#id_invoice").select_option(str(invoices[0].pk))
    page.locator("#submit").click()
    page.wait_for_selector("#done")

    page.locator("#action-dispute").click()
    page.locator("#id_invoice").select_option(str(invoices[2].pk))
    page.locator("#id_reason").select_option("delivery")
    page.locator("#id_comment").fill("Deux palettes manquantes à la livraison")
    page.locator("#id_attachment").set_input_files(
        files=[{"name": "bon.pdf", "mimeType": "application/pdf",
                "buffer": b"%PDF-1.4 bon de livraison\n%%EOF\n"}]
    )  # fmt: skip
    shoot(page, "portal-dispute")
    page.locator("#submit").click()
    page.wait_for_selector("#done")

    page.locator("#action-plan").click()
    page.locator(f'input[name="invoices"][value="{invoices[2].pk}"]').uncheck()
    page.locator("#id_count").fill("3")
    page.locator("#id_period").select_option("month")
    shoot(page, "portal-plan")
    page.locator("#submit").click()
    page.wait_for_selector("#done")

    page.locator("#action-contact").click()
    page.locator("#id_name").fill("Paul Durand")
    page.locator("#id_email").fill("paul@exemple.test")
    page.locator("#submit").click()
    page.wait_for_selector("#done")
    assert page.locator("#invoices .badge").count() == 1  # the disputed invoice
    shoot(page, "portal-done")


def effects(customer, invoices, today) -> None:
    assert Hold.objects.filter(customer=customer, end_date__isnull=False).count() == 2
    assert Promise.objects.get(customer=customer).invoice_id == invoices[0].pk
    assert Dispute.objects.get(invoice__customer=customer).invoice_id == invoices[2].pk
    plan = PaymentPlan.objects.get(customer=customer)
    assert plan.status == PaymentPlan.Status.PROPOSED
    assert sorted(i.pk for i in plan.invoices.all()) == sorted(i.pk for i in invoices[:2])


def test_it_walks_the_four_actions_on_a_desktop_and_the_console_shows_them(
    django_db_setup, world, live_server, page
):
    today = world["today"]
    customer, invoices = debtor(world, "C001", "Durand Frères SARL")
    walk(page, links.url_for(customer), customer, invoices, today)
    effects(customer, invoices, today)

    run(world["org"], today)  # the next run: a hold stops every reminder to the customer
    assert not Communication.objects.filter(customer=customer).exists()

    sign_in(page, live_server.url, "claire@acme.test")
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    pauses = page.locator(".card-pauses")
    for kind in ("hold", "promise", "dispute", "plan"):
        assert pauses.locator(f'[data-pause="{kind}"]').count() >= 1
    plan = PaymentPlan.objects.get(customer=customer)
    assert page.locator(f"#plan-proposed-{plan.pk}").is_visible()
    shoot(page, "portal-console-customer")
    page.locator(f".card-pauses a[href='/plans/{plan.pk}/']").click()
    page.wait_for_selector("#plan-accept")
    shoot(page, "portal-console-plan")
    page.locator("#plan-accept").click()
    page.wait_for_url(re.compile(rf"/plans/{plan.pk}/$"))
    plan.refresh_from_db()
    assert plan.status == PaymentPlan.Status.ACTIVE


def test_it_walks_the_four_actions_on_a_phone(django_db_setup, world, live_server, phone):
    today = world["today"]
    customer, invoices = debtor(world, "C002", "Martin et Fils SAS")
    walk(phone, links.url_for(customer), customer, invoices, today)
    effects(customer, invoices, today)
    # Nothing wider than the phone: the page fits its 390 pixels.
    phone.goto(links.url_for(customer))
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390

    sign_in(phone, live_server.url, "claire@acme.test")
    phone.goto(f"{live_server.url}/customers/{customer.pk}/")
    assert phone.locator('.card-pauses [data-pause="plan"]').count() == 1
    shoot(phone, "portal-console-customer")
