"""The calls and tasks pages: the day's calls per collector with all a call needs and its
outcome in one click; every task by kind, done with a note or assigned."""

from __future__ import annotations

import datetime as dt

import factories as f
import pytest
from django.urls import reverse

from relance.dunning import outbox
from relance.dunning.engine import run
from relance.dunning.models import CommStatus, Communication, Promise, Task
from relance.ledger.models import Contact

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]

D = dt.date(2026, 11, 23)  # a Monday


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC), tick=True)


def calls_for(org, count=1, collector=None):
    """``count`` customers each with a call planned today and handed to a person."""
    f.scenario(org, [(5, 0, "call", "call")])
    for n in range(count):
        customer = f.customer(org, f"C-{n}", legal_name=f"Durand {n} SARL", collector=collector)
        f.invoice(customer, f"F-{n}", due=D - f.days(5), amount="800.00")
        Contact.objects.create(organisation=org, customer=customer, name=f"Paul {n}",
                               phone=f"+33 1 23 45 67 {n:02d}", is_primary=True)  # fmt: skip
    run(org, D)
    outbox.send_due(today=D)
    return list(Task.objects.filter(organisation=org, kind="call").order_by("pk"))


def signed_in(client, org, role="manager", email=None):
    user = f.member(org, email or f"{role}@{org.slug}.test", role)
    client.force_login(user)
    return user


def test_it_shows_each_call_with_who_why_what_is_owed_the_numbers_and_a_script(client, org):
    [task] = calls_for(org)
    signed_in(client, org)
    page = client.get(reverse("console:calls")).content.decode()
    assert "Durand 0 SARL" in page and "F-0" in page
    assert "+33 1 23 45 67 00" in page and 'href="tel:+33123456700"' in page
    assert "€800.00 overdue of €800.00 open" in page  # read from CustomerBalance
    assert "Paul 0" in page
    script = page[page.index('data-testid="script"') :]
    assert org.name in script and "F-0" in script and "800" in script  # the template's
    assert f'action="{reverse("console:call_outcome", args=[task.pk])}"' in page


def test_it_shows_the_calls_of_one_collector(client, org):
    marie = f.member(org, "marie@acme.test", "collector")
    calls_for(org, 1, collector=marie)
    martin = f.customer(org, "C-X", legal_name="Martin SA")
    other = Task.objects.create(organisation=org, customer=martin, kind="call",
                                title="Call Martin", due_on=D, key="k-x")  # fmt: skip
    signed_in(client, org)
    mine = client.get(reverse("console:calls"), {"collector": marie.pk}).content.decode()
    assert "Durand 0 SARL" in mine and "Martin SA" not in mine
    none = client.get(reverse("console:calls"), {"collector": "none"}).content.decode()
    assert "Martin SA" in none and "Durand 0 SARL" not in none
    later = client.get(reverse("console:calls"), {"day": "2026-11-20"}).content.decode()
    assert other.title not in later and "Durand 0 SARL" not in later  # none due by then


def test_it_records_a_promise_in_one_click_and_the_next_run_pauses(client, org):
    [task] = calls_for(org)
    f.scenario(org, [(5, 0, "call", "call"), (6, 1, "email", "first_reminder")])
    signed_in(client, org, "collector")
    answer = client.post(reverse("console:call_outcome", args=[task.pk]),
                         {"outcome": "promise", "promised_on": "2026-11-30", "amount": "800",
                          "note": "by transfer"}, HTTP_HX_REQUEST="true")  # fmt: skip
    assert answer.status_code == 200 and b'data-testid="recorded"' in answer.content
    task.refresh_from_db()
    assert (task.status, task.outcome) == ("done", "promise")
    assert Promise.objects.get().promised_on == dt.date(2026, 11, 30)
    run(org, D + f.days(1))
    assert not Communication.objects.filter(run_date=D + f.days(1)).exists()


def test_it_says_what_to_correct_and_records_nothing(client, org):
    [task] = calls_for(org)
    signed_in(client, org)
    answer = client.post(reverse("console:call_outcome", args=[task.pk]),
                         {"outcome": "promise"}, HTTP_HX_REQUEST="true")  # fmt: skip
    assert b"Give the date promised" in answer.content and b'data-testid="call"' in answer.content
    task.refresh_from_db()
    assert task.status == "open"


def test_only_who_works_the_customer_records_its_calls(client, org, other_org):
    marie = f.member(org, "marie@acme.test", "collector")
    [task] = calls_for(org, collector=marie)
    signed_in(client, org, "collector", "paul@acme.test")
    url = reverse("console:call_outcome", args=[task.pk])
    assert client.post(url, {"outcome": "reached"}).status_code == 403
    page = client.get(reverse("console:calls")).content.decode()
    assert "Durand 0 SARL" in page and url not in page  # read, not worked
    signed_in(client, org, "viewer")
    assert client.post(url, {"outcome": "reached"}).status_code == 403
    [theirs] = calls_for(other_org)
    signed_in(client, org)
    assert client.post(reverse("console:call_outcome", args=[theirs.pk]),
                       {"outcome": "reached"}).status_code == 404  # fmt: skip
    task.refresh_from_db()
    theirs.refresh_from_db()
    assert task.status == theirs.status == "open"


def tasks_of_every_kind(org):
    customer = f.customer(org, "C-1", legal_name="Durand SARL")
    comm = f.communication(customer, [], on=D, status=CommStatus.AMBIGUOUS,
                           message_id="<relance.1@relance.test>",
                           recipient="compta@durand.test", subject="Relance F-1")  # fmt: skip
    made = {}
    for kind in ("registered_letter", "check_send", "no_email", "declare_claim"):
        made[kind] = Task.objects.create(
            organisation=org, customer=customer, kind=kind, title=f"Do the {kind}", due_on=D,
            key=f"{kind}:1", communication=comm if kind == "check_send" else None,
        )  # fmt: skip
    return made


def test_it_lists_tasks_by_kind_and_shows_what_is_known_of_an_ambiguous_send(client, org):
    made = tasks_of_every_kind(org)
    signed_in(client, org)
    page = client.get(reverse("console:tasks")).content.decode()
    for kind in made:
        assert f"Do the {kind}" in page
    assert "&lt;relance.1@relance.test&gt;" in page and "compta@durand.test" in page
    assert "Insolvency claims to declare" in page and "Sends to check" in page
    only = client.get(reverse("console:tasks"), {"kind": "no_email"}).content.decode()
    assert "Do the no_email" in only and "Do the check_send" not in only


def test_a_tasks_card_names_its_one_kind_and_each_of_its_fields(client, org):
    """A row says "Send to check", the filters "Sends to check"; on a phone each cell of
    the card has its column's name."""
    tasks_of_every_kind(org)
    signed_in(client, org)
    page = client.get(reverse("console:tasks")).content.decode()
    assert '<td data-label="Kind">Send to check</td>' in page
    assert '<td data-label="Kind">Insolvency claim to declare</td>' in page
    assert 'data-label="Assigned to"' in page and 'class="table tasks stacked"' in page


def test_it_marks_a_task_done_with_a_note_and_assigns_one(client, org):
    made = tasks_of_every_kind(org)
    user = signed_in(client, org)
    marie = f.member(org, "marie@acme.test", "collector")
    letter = made["registered_letter"]
    client.post(reverse("console:task_done", args=[letter.pk]), {"note": "posted at 10:00"})
    letter.refresh_from_db()
    assert (letter.status, letter.data["note"], letter.closed_by_id) == (
        "done", "posted at 10:00", user.pk)  # fmt: skip
    claim = made["declare_claim"]
    client.post(reverse("console:task_assign", args=[claim.pk]), {"assignee": marie.pk})
    claim.refresh_from_db()
    assert claim.assignee_id == marie.pk
    mine = client.get(reverse("console:tasks"), {"assignee": marie.pk}).content.decode()
    assert "Do the declare_claim" in mine and "Do the no_email" not in mine
    done = client.get(reverse("console:tasks"), {"status": "done"}).content.decode()
    assert "posted at 10:00" in done


def test_a_collector_takes_tasks_for_themself_only(client, org, other_org):
    made = tasks_of_every_kind(org)
    boss = f.member(org, "boss@acme.test", "manager")
    marie = signed_in(client, org, "collector", "marie@acme.test")
    claim = made["declare_claim"]
    url = reverse("console:task_assign", args=[claim.pk])
    assert client.post(url, {"assignee": boss.pk}).status_code == 403
    client.post(url, {"assignee": marie.pk})
    claim.refresh_from_db()
    assert claim.assignee_id == marie.pk
    signed_in(client, org, "viewer")
    assert client.post(reverse("console:task_done", args=[claim.pk])).status_code == 403
    theirs = tasks_of_every_kind(other_org)["declare_claim"]
    signed_in(client, org)
    assert client.post(reverse("console:task_done", args=[theirs.pk])).status_code == 404


@pytest.mark.parametrize("count", [3, 30])
def test_the_pages_make_as_many_queries_for_3_calls_as_for_30(
    client, org, count, django_assert_max_num_queries
):
    calls_for(org, count)
    signed_in(client, org)
    client.get(reverse("console:calls"))  # the day's first page ages the balances once
    with django_assert_max_num_queries(20):
        answer = client.get(reverse("console:calls"))
    assert answer.content.count(b'data-testid="call"') == min(count, 25)
    with django_assert_max_num_queries(10):
        answer = client.get(reverse("console:tasks"))
    assert answer.content.count(b'data-testid="task"') == count


def test_it_goes_back_to_the_calls_without_javascript_and_never_elsewhere(client, org):
    first, second = calls_for(org, 2)
    signed_in(client, org)
    url = reverse("console:call_outcome", args=[first.pk])
    back = client.post(url, {"outcome": "reached", "back": "/calls/?collector=none"})
    assert back["Location"] == "/calls/?collector=none"
    url = reverse("console:call_outcome", args=[second.pk])
    away = client.post(url, {"outcome": "reached", "back": "https://evil.test/"})
    assert away["Location"] == reverse("console:calls")
