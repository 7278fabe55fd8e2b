"""Approvals, calls and tasks in a real browser: approve a reminder and see it arrive at the
SMTP server; record a call with a promise and see the next run pause; the pages at desktop
and phone width."""

from __future__ import annotations

import datetime as dt

import factories as f
import pytest
from browsing import BROWSER_TESTS, shoot, sign_in

from relance.dunning import outbox
from relance.dunning.engine import run
from relance.dunning.models import CommStatus, Communication, Promise, Task
from relance.ledger.models import Contact

pytestmark = BROWSER_TESTS

D = dt.date(2026, 11, 23)  # a Monday


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC), tick=True)


def policy_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security" in m.text else None)
    return errors


def test_it_approves_a_reminder_that_arrives_at_the_smtp_server(
    transactional_db, live_server, mail, page, phone
):
    org = f.organisation("acme", name="Acme Industrie SAS")
    f.member(org, "marie@acme.test", "manager")
    f.scenario(org, [(5, 0, "email", "first_reminder", "approval")])
    for n, name in enumerate(("Durand SARL", "Martin SA")):
        customer = f.customer(org, f"C-{n}", legal_name=name, email=f"compta{n}@client.test")
        f.invoice(customer, f"F-{n}", due=D - f.days(6), amount="1200.00")
    run(org, D)
    durand = Communication.objects.get(customer__legal_name="Durand SARL")
    errors = policy_errors(page)

    sign_in(page, live_server.url, "marie@acme.test")
    page.goto(f"{live_server.url}/approvals/")
    assert page.locator("[data-testid=approval]").count() == 2
    card = page.locator(f"#message-{durand.pk}")
    assert "F-0" in card.locator("[data-testid=message-text]").inner_text()
    card.locator("details.message-html summary").click()
    html = page.frame_locator(f"#message-{durand.pk} iframe").locator("body")
    assert "F-0" in html.inner_text()  # the HTML part, in its sandboxed frame
    shoot(page, "approvals")
    sign_in(phone, live_server.url, "marie@acme.test")
    phone.goto(f"{live_server.url}/approvals/")
    shoot(phone, "approvals")

    card.locator("[data-testid=approve]").click()  # in place, with htmx
    page.locator("[data-testid=decided]").wait_for()
    assert page.locator("[data-testid=approval]").count() == 1
    durand.refresh_from_db()
    assert durand.status == CommStatus.QUEUED

    assert outbox.send_due(today=D).counts["sent"] == 1  # the worker's send
    [received] = mail.received
    assert received.message["To"] == "Durand SARL <compta0@client.test>"
    assert "F-0" in received.message["Subject"]
    assert errors == []


def test_it_records_a_call_with_a_promise_and_the_next_run_pauses(
    transactional_db, live_server, page, phone
):
    org = f.organisation("acme", name="Acme Industrie SAS")
    marie = f.member(org, "marie@acme.test", "collector")
    f.member(org, "boss@acme.test", "manager")
    f.scenario(org, [(5, 0, "call", "call"), (6, 1, "email", "first_reminder")])
    for n, name in enumerate(("Durand SARL", "Martin SA", "Petit et Fils")):
        customer = f.customer(org, f"C-{n}", legal_name=name, email=f"compta{n}@client.test",
                              collector=marie)  # fmt: skip
        f.invoice(customer, f"F-{n}", due=D - f.days(5), amount=f"{800 + n * 150}.00")
        Contact.objects.create(organisation=org, customer=customer, name=f"Paul {name}",
                               phone=f"+33 1 23 45 67 0{n}", is_primary=True)  # fmt: skip
    run(org, D)
    outbox.send_due(today=D)
    durand = Task.objects.get(kind="call", customer__legal_name="Durand SARL")
    customer = durand.customer
    # Something on the tasks page too: a letter to post.
    Task.objects.create(organisation=org, customer=customer, kind="registered_letter",
                        title="Post the formal notice", due_on=D, key="l-1")  # fmt: skip
    errors = policy_errors(page)

    sign_in(page, live_server.url, "marie@acme.test")
    page.goto(f"{live_server.url}/calls/?collector=me")
    assert page.locator("[data-testid=call]").count() == 3
    shoot(page, "calls")
    sign_in(phone, live_server.url, "marie@acme.test")
    phone.goto(f"{live_server.url}/calls/?collector=me")
    shoot(phone, "calls")

    card = page.locator(f"#call-{durand.pk}")
    card.locator("summary").click()
    assert "F-0" in card.locator("[data-testid=script]").inner_text()
    card.locator(f"#promised-{durand.pk}").fill("2026-11-30")
    card.locator(f"#amount-{durand.pk}").fill("800")
    card.locator(f"#note-{durand.pk}").fill("by transfer on Monday")
    card.locator("[data-testid=promise]").click()
    page.locator("[data-testid=recorded]").wait_for()
    assert page.locator("[data-testid=call]").count() == 2
    durand.refresh_from_db()
    assert (durand.status, durand.outcome, durand.closed_by_id) == ("done", "promise", marie.pk)
    assert Promise.objects.get().promised_on == dt.date(2026, 11, 30)

    run(org, D + f.days(1))  # the next day's run: the others get their e-mail, not Durand
    planned = set(
        Communication.objects.filter(run_date=D + f.days(1)).values_list(
            "customer__legal_name", flat=True
        )
    )
    assert planned == {"Martin SA", "Petit et Fils"}

    page.goto(f"{live_server.url}/tasks/")
    assert page.locator("[data-testid=task]").count() == 3  # two calls and a letter
    shoot(page, "tasks")
    phone.goto(f"{live_server.url}/tasks/")
    shoot(phone, "tasks")
    row = page.locator("[data-testid=task][data-kind=registered_letter]")
    row.locator("input[name=note]").fill("posted")
    row.locator("[data-testid=done]").click()
    page.wait_for_load_state()
    assert Task.objects.get(key="l-1").status == "done"
    assert errors == []
