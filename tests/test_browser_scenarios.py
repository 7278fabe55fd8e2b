"""Scenarios and templates in a real browser: edit a template, see the live preview change,
save, and see the next reminder leave with the new wording; the pages at desktop and phone
widths (screenshots kept as artifacts)."""

from __future__ import annotations

import datetime as dt
import re

import factories as make
import pytest
from browsing import BROWSER_TESTS, PHONE, cut_fields, fits_a_phone, overflow, shoot, sign_in
from playwright.sync_api import expect

pytestmark = BROWSER_TESTS

TODAY = dt.date.today()
TOO_WIDE = "el => el.scrollWidth - el.parentElement.clientWidth"


@pytest.fixture
def acme(transactional_db):
    org = make.organisation("acme", name="Acme Industrie SAS", iban="FR7630006000011234567890189")
    make.scenario(org, [(0, 0, "email", "first_reminder"), (10, 7, "call", "call"),
                        (20, 7, "email", "firm_reminder")])  # fmt: skip
    customer = make.customer(org, "C-0042", legal_name="Durand Industrie", language="fr")
    make.contact(customer, "Marie Durand", "marie@durand.test")
    make.invoice(customer, "F-2026-301", due=TODAY - dt.timedelta(days=3), amount="1200.00")
    make.member(org, "manager@acme.test", "manager")
    return org


def test_it_edits_a_template_previews_it_live_and_sends_it(live_server, page, acme, mail):
    from relance.dunning import outbox
    from relance.dunning.engine import run

    sign_in(page, live_server.url, "manager@acme.test")
    page.goto(f"{live_server.url}/templates/")
    row = page.locator('tr[data-channel="email"][data-template="first_reminder"]')
    assert row.is_visible()
    shoot(page, "templates")
    row.locator('a[data-language="fr"]').click()
    page.wait_for_url(re.compile(r"/templates/email/fr/first_reminder/"))
    preview = page.locator("#preview-text")
    assert "F-2026-301" in preview.inner_text()  # a real customer's open invoice
    assert page.locator("#preview-html").is_visible()
    shoot(page, "template-editor")

    # Typing changes the preview, debounced, without saving anything.
    page.locator("#template-subject").fill("Votre compte {{ customer.reference }}")
    page.locator("#template-text").fill(
        "Bonjour {{ contact_name }},\nNotre nouvelle formulation : {{ lines|length }} facture."
    )
    page.locator("#template-html").fill("")
    expect(page.locator("#preview-text")).to_contain_text("nouvelle formulation")
    assert "Bonjour Marie Durand," in preview.inner_text()
    assert page.locator("#preview-subject").inner_text() == "Votre compte C-0042"
    # A syntax error is shown with its line while typing.
    page.locator("#template-text").fill("Bonjour\n{% if single %}sans fin")
    page.wait_for_selector(".template-error[data-line='2']")
    page.locator("#template-text").fill(
        "Bonjour {{ contact_name }},\nNotre nouvelle formulation : {{ lines|length }} facture."
    )
    expect(page.locator("#preview-text")).to_contain_text("nouvelle formulation")
    page.locator("#save-template").click()
    page.wait_for_selector(".message")
    assert "own" in (page.locator("h1 .badge").get_attribute("class") or "")

    run(acme, TODAY)
    outbox.send_due(today=TODAY)
    [received] = mail.received
    assert received.subject == "Votre compte C-0042"
    assert "Notre nouvelle formulation : 1 facture." in received.text()


def test_it_shows_the_scenario_pages_at_desktop_and_phone_width(live_server, page, phone, acme):
    for browser_page in (page, phone):
        sign_in(browser_page, live_server.url, "manager@acme.test")
        browser_page.goto(f"{live_server.url}/scenarios/")
        assert browser_page.locator('tr[data-scenario="example"]').is_visible()
        shoot(browser_page, "scenarios")
        browser_page.goto(f"{live_server.url}/scenarios/example/")
        assert browser_page.locator(".step-row").count() == 3
        shoot(browser_page, "scenario")
        if browser_page is page:  # on a desktop every field's text whole
            assert cut_fields(browser_page, "#scenario-form") == []
            assert browser_page.locator("#steps").evaluate(TOO_WIDE) <= 0  # no sideways scroll
        browser_page.goto(f"{live_server.url}/scenarios/rules/")
        shoot(browser_page, "scenario-rules")
        browser_page.goto(f"{live_server.url}/scenarios/example/simulation/")
        assert browser_page.locator(".sim-day").count() >= 2
        shoot(browser_page, "scenario-simulation")
        browser_page.goto(f"{live_server.url}/templates/email/fr/first_reminder/")
        browser_page.wait_for_selector("#preview-text")
        expect(
            browser_page.frame_locator("#preview-html").locator("table.invoices")
        ).to_be_visible()
        shoot(browser_page, "template-editor")
    phone.goto(f"{live_server.url}/templates/")
    shoot(phone, "templates")
    # Nothing of these pages wider than the phone: the tables scroll in their frame.
    for path in ("/templates/", "/scenarios/", "/scenarios/example/", "/scenarios/rules/",
                 "/templates/email/fr/first_reminder/"):  # fmt: skip
        phone.goto(live_server.url + path)
        assert phone.locator("main").evaluate("main => main.scrollWidth") <= 390, path
    phone.goto(f"{live_server.url}/templates/")
    fits_a_phone(phone, "#template-list")  # a card per template, its languages whole


def test_it_edits_steps_and_counts_rules_live(live_server, page, acme):
    make.scenario(acme, [(0, 0, "email", "first_reminder")], slug="quick", default=False,
                  replace=False)  # fmt: skip
    sign_in(page, live_server.url, "manager@acme.test")
    page.goto(f"{live_server.url}/scenarios/example/")
    page.locator("#add-step").click()
    expect(page.locator(".step-row")).to_have_count(4)
    last = page.locator(".step-row").nth(3)
    last.locator("input[name=step_name]").fill("Mise en demeure")
    last.locator("input[name=step_offset]").fill("35")
    # A channel chosen, its templates to choose from, by their names (the code saved).
    last.locator("select[name=step_channel]").select_option("letter")
    expect(last.locator("select[name=step_template] option[value=statement]")).to_have_count(1)
    last.locator("select[name=step_template]").select_option(label="Mise en demeure")
    page.locator("#save-scenario").click()
    page.wait_for_selector(".message")
    assert page.locator(".step-row").count() == 4
    # A bad offset is refused on its row.
    page.locator(".step-row").nth(1).locator("input[name=step_offset]").fill("-3")
    page.locator("#save-scenario").click()
    page.wait_for_selector("#scenario-errors")
    assert page.locator(".step-row").nth(1).locator(".field-error").count() == 1
    fits_a_phone(page, "#steps")  # a card per step on a phone, its error in it

    page.goto(f"{live_server.url}/scenarios/rules/")
    page.locator("#add-rule").click()
    page.wait_for_selector(".rule-row")
    row = page.locator(".rule-row").first
    row.locator("input[name=rule_name]").fill("Gros montants")
    row.locator("select[name=rule_scenario]").select_option("quick")
    row.locator("input[name=rule_min_invoice_amount]").fill("5000")
    count = page.locator("#rule-counts [data-scenario=quick] .edited-count")
    expect(count).to_have_text("0")
    row.locator("input[name=rule_min_invoice_amount]").fill("500")
    expect(count).to_have_text("1")
    shoot(page, "scenario-rules-edited")
    # On a phone a card per rule, each field after its name, none cut off.
    fits_a_phone(page, "#rules")
    page.set_viewport_size(PHONE)
    shoot(page, "scenario-rules-edited")
    for field in row.locator("input, select").all():
        assert field.is_visible() and overflow(page, "#rules") == 0
        assert field.evaluate("f => f.getBoundingClientRect().right") <= PHONE["width"]
