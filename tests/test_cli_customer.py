"""What a person does, a command does too: `relance customer show` and the commands that
record disputes, promises, holds and payment plans, with --json, exit codes and
organisation scoping."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import commands
import factories as make
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from relance.dunning.models import PaymentPlan, Promise, Rate
from relance.dunning.penalty_service import customer_penalties
from relance.ledger.models import Dispute, Hold, TimelineEvent

D = date(2026, 11, 23)  # a Monday


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Europe/Paris")))


@pytest.fixture
def acme(db):
    org = make.organisation("acme", email="compta@acme.test")
    make.scenario(org)  # J-5 e-mail, J+5 e-mail, J+8 call, J+15 e-mail, J+30 letter
    Rate.objects.create(series="fr_late_penalty_default", date=date(2026, 7, 1), percent="12.15")
    return org


@pytest.fixture
def durand(acme):
    cust = make.customer(acme, "C001", legal_name="Durand SARL", email="factures@durand.test")
    make.contact(cust, "Marie Durand", "marie@durand.test")
    return cust


@pytest.fixture
def globex(db):
    org = make.organisation("globex")
    make.invoice(make.customer(org, "G001"), "G-1", due=date(2026, 10, 1))
    return org


def relance(*args: str) -> dict:
    out = StringIO()
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as caught:
        call_command(*args, stdout=StringIO(), stderr=StringIO())
    assert caught.value.returncode == 1
    return str(caught.value)


def writes() -> tuple[int, ...]:
    return tuple(
        model.objects.count() for model in (Dispute, Promise, Hold, PaymentPlan, TimelineEvent)
    )


def test_it_shows_a_customer_open_items_next_steps_pauses_and_history(durand, acme):
    late = make.invoice(durand, "F-1", due=D - make.days(10), amount="1000.00")
    make.credit(late, "200.00", on=D - make.days(5))
    make.invoice(durand, "F-2", due=D + make.days(20), amount="300.00")
    disputed = make.invoice(durand, "F-3", due=D - make.days(40), amount="500.00")
    make.dispute(disputed, on=D - make.days(2), reason="quality")
    paid = make.invoice(durand, "F-4", due=D - make.days(30))
    make.pay(paid, on=D - make.days(25))
    call_command("run", "--org", "acme", "--date", D.isoformat(), stdout=StringIO())

    shown = relance("customer", "show", "C001", "--date", D.isoformat(), "--org", "acme")

    assert shown["customer"]["reference"] == "C001"
    assert shown["customer"]["legal_name"] == "Durand SARL"
    assert shown["contacts"][0]["email"] == "marie@durand.test"
    items = {item["number"]: item for item in shown["open_items"]}
    assert sorted(items) == ["F-1", "F-2", "F-3"]  # F-4 is paid
    # F-1 took the first reminder today (J+10: the courtesy one expired); the call comes at
    # J+8 once the gap of 3 days has passed: Thursday 26 November.
    assert (items["F-1"]["level"], items["F-1"]["days_overdue"]) == (2, 10)
    assert items["F-1"]["balance"] == "800.00"
    assert items["F-1"]["next_step"]["name"] == "call"
    assert (items["F-1"]["next_step"]["on"], items["F-1"]["next_step"]["waiting_for"]) == (
        "2026-11-26", "min_gap",
    )  # fmt: skip
    # F-2: the courtesy reminder five days before its due date.
    assert (items["F-2"]["next_step"]["name"], items["F-2"]["next_step"]["on"]) == (
        "courtesy", "2026-12-08",
    )  # fmt: skip
    assert items["F-2"]["penalty"] is None
    # F-3 is disputed: paused, no date until a person resolves it.
    assert items["F-3"]["paused"] == "dispute"
    assert items["F-3"]["next_step"]["on"] is None
    # The penalties are the service's, item by item and in total.
    service = customer_penalties(durand, D)
    by_number = {late.number: late.penalty for late in service.invoices}
    assert items["F-1"]["penalty"]["total"] == str(by_number["F-1"].total)
    assert shown["penalties"]["EUR"]["total"] == str(service.totals["EUR"].total)
    assert shown["scenario"]["slug"] == "example"
    assert shown["scenario"]["reason"] == "no rule matched: default scenario"
    assert [d["invoice"] for d in shown["pauses"]["disputes"]] == ["F-3"]
    assert shown["pauses"]["disputes"][0]["open"] is True
    kinds = [event["kind"] for event in shown["timeline"]]
    assert kinds[0] == "dispute_opened" and "communication_queued" in kinds
    assert [e["at"] for e in shown["timeline"]] == sorted(e["at"] for e in shown["timeline"])
    assert shown["totals"] == {"EUR": "1600.00"}


def test_it_prints_the_customer_for_a_person(durand):
    make.invoice(durand, "F-1", due=D - make.days(10), amount="1000.00")
    out = StringIO()
    call_command("customer", "show", "C001", stdout=out)
    text = out.getvalue()
    assert "C001 Durand SARL on 2026-11-23" in text
    assert "F-1" in text and "1,000.00 EUR" in text and "2. first_reminder" in text, text


def test_it_does_not_find_another_organisations_customer_or_invoice(durand, globex):
    before = writes()
    for args in (
        ("customer", "show", "G001", "--org", "acme"),
        ("dispute", "open", "G-1", "--reason", "price", "--org", "acme"),
        ("dispute", "resolve", "G-1", "--resolution", "ok", "--org", "acme"),
        ("promise", "add", "G001", "--on", "2026-12-01", "--org", "acme"),
        ("hold", "add", "G001", "--kind", "manual", "--org", "acme"),
        ("hold", "release", "G001", "--org", "acme"),
        ("plan", "create", "G001", "--invoice", "G-1", "--instalment", "2026-12-01:100",
         "--org", "acme"),
    ):  # fmt: skip
        assert "not found in organisation 'acme'" in refused(*args)
    assert writes() == before


def test_it_opens_and_resolves_disputes(durand):
    make.invoice(durand, "F-1", due=D - make.days(10), amount="1000.00")
    opened = relance("dispute", "open", "F-1", "--reason", "price", "--amount", "150,50",
                     "--note", "wrong unit price")["disputes"]  # fmt: skip
    assert [
        (d["invoice"], d["reason"], d["amount"], d["opened_on"], d["open"]) for d in opened
    ] == [("F-1", "price", "150.50", "2026-11-23", True)]
    before = writes()
    assert "between 0 and 1000.00" in refused(
        "dispute", "open", "F-1", "--reason", "price", "--amount", "1500"
    )
    assert writes() == before
    resolved = relance("dispute", "resolve", "F-1", "--resolution", "credit note agreed",
                       "--date", "2026-11-25")["disputes"]  # fmt: skip
    assert [(d["id"], d["resolved_on"], d["open"]) for d in resolved] == [
        (opened[0]["id"], "2026-11-25", False)
    ]
    assert "F-1' has no open dispute" in refused("dispute", "resolve", "F-1", "--resolution", "x")
    # By id.
    second = relance("dispute", "open", "F-1", "--reason", "quantity")["disputes"][0]
    by_id = relance("dispute", "resolve", str(second["id"]), "--resolution", "delivered")
    assert by_id["disputes"][0]["open"] is False
    kinds = list(
        TimelineEvent.objects.filter(customer=durand).order_by("id").values_list("kind", flat=True)
    )
    assert kinds == ["dispute_opened", "dispute_resolved", "dispute_opened", "dispute_resolved"]


def test_it_records_a_promise_on_the_customers_own_invoice_only(durand, acme):
    make.invoice(durand, "F-1", due=D - make.days(10), amount="1000.00")
    make.invoice(make.customer(acme, "C002"), "B-1", due=D - make.days(10))
    promise = relance("promise", "add", "C001", "--on", "2026-12-01", "--invoice", "F-1",
                      "--amount", "1000", "--grace", "3")["promise"]  # fmt: skip
    assert (promise["invoice"], promise["promised_on"], promise["amount"], promise["grace_days"],
            promise["status"]) == ("F-1", "2026-12-01", "1000.00", 3, "open")  # fmt: skip
    before = writes()
    message = refused("promise", "add", "C001", "--on", "2026-12-01", "--invoice", "B-1")
    assert message == "invoice 'B-1' is customer 'C002''s, not 'C001''s"
    assert writes() == before
    # The item now waits for the promise: customer show says until when.
    shown = relance("customer", "show", "C001")
    (item,) = shown["open_items"]
    assert item["paused"] == "promise"
    assert (item["next_step"]["on"], item["next_step"]["waiting_for"]) == ("2026-12-07", "promise")


def test_it_places_and_releases_holds(durand):
    make.invoice(durand, "F-1", due=D - make.days(10), amount="1000.00")
    before = writes()
    assert "need their date of publication" in refused(
        "hold", "add", "C001", "--kind", "insolvency"
    )
    assert "no hold in force" in refused("hold", "release", "C001")
    assert writes() == before
    hold = relance("hold", "add", "C001", "--kind", "negotiation", "--reason", "talks")["hold"]
    assert (hold["kind"], hold["from"], hold["until"], hold["in_force"]) == (
        "negotiation", "2026-11-23", None, True,
    )  # fmt: skip
    assert relance("customer", "show", "C001")["open_items"][0]["paused"] == "hold:negotiation"
    second = relance("hold", "add", "C001", "--kind", "manual")["hold"]
    assert f"2 holds in force: name one ({hold['id']}, {second['id']})" in refused(
        "hold", "release", "C001"
    )
    relance("hold", "release", str(second["id"]), "--on", "2026-11-24")
    released = relance("hold", "release", "C001", "--on", "2026-11-24")["hold"]
    assert (released["id"], released["until"]) == (hold["id"], "2026-11-24")
    shown = relance("customer", "show", "C001", "--date", "2026-11-24")
    assert shown["open_items"][0]["paused"] is None
    assert [h["in_force"] for h in shown["pauses"]["holds"]] == [False, False]


def test_it_agrees_a_plan_whose_instalments_add_up(durand, acme):
    first = make.invoice(durand, "F-1", due=D - make.days(10), amount="1000.00")
    make.pay(first, "400.00", on=D - make.days(2))
    make.invoice(durand, "F-2", due=D - make.days(5), amount="300.00")
    make.invoice(make.customer(acme, "C002"), "B-1", due=D - make.days(10))
    before = writes()
    assert "the instalments add up to 800.00, the invoices owe 900.00" in refused(
        "plan", "create", "C001", "--invoice", "F-1", "F-2",
        "--instalment", "2026-12-15:400", "2027-01-15:400",
    )  # fmt: skip
    assert "'B-1' is customer 'C002''s" in refused(
        "plan", "create", "C001", "--invoice", "F-1", "B-1", "--instalment", "2026-12-15:1600"
    )
    assert writes() == before
    plan = relance("plan", "create", "C001", "--invoice", "F-1", "F-2",
                   "--instalment", "2026-12-15:450", "2027-01-15:450,00")["plan"]  # fmt: skip
    assert (plan["invoices"], plan["status"]) == (["F-1", "F-2"], "active")
    assert [(i["due_date"], i["amount"]) for i in plan["instalments"]] == [
        ("2026-12-15", "450.00"), ("2027-01-15", "450.00"),
    ]  # fmt: skip
    assert "already in the active payment plan" in refused(
        "plan", "create", "C001", "--invoice", "F-2", "--instalment", "2026-12-15:300"
    )
    items = relance("customer", "show", "C001")["open_items"]
    assert {item["paused"] for item in items} == {"payment_plan"}
    assert Decimal(relance("customer", "show", "C001")["totals"]["EUR"]) == Decimal("900.00")


def test_it_exits_1_for_refused_input_and_2_for_a_usage_error(db):
    run = commands.in_process
    assert run("createorg", "acme", "--name", "Acme SAS").returncode == 0
    missing = run("customer", "show", "C404", "--json")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert "customer 'C404' not found in organisation 'acme'" in missing.stderr
    usage = run("plan", "create", "C001", "--invoice", "F-1", "--instalment", "soon")
    assert usage.returncode == 2 and "'soon' is not DATE:AMOUNT" in usage.stderr
    assert run("dispute", "open", "F-1").returncode == 2  # --reason is required
    assert run("promise", "add", "C001", "--on", "2026-12-01", "--amount", "-5").returncode == 2


def test_it_says_why_no_penalty_is_shown_when_a_rate_is_missing(durand):
    Rate.objects.all().delete()  # the shipped tables stop at the first half of 2026
    make.invoice(durand, "F-1", due=D - make.days(10), amount="1000.00")
    shown = relance("customer", "show", "C001")
    assert shown["open_items"][0]["penalty"] is None and shown["penalties"] == {}
    assert "relance rates add fr_late_penalty_default 2026-07" in shown["penalty_note"]
