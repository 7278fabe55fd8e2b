"""The approvals page: what awaits a decision, shown exactly as it will be sent, edited,
sent or skipped one by one or in bulk, by managers only; and what the outbox keeps of what
it sent."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import factories as f
import pytest
from django.core.management import call_command
from django.urls import reverse

from relance.audit.models import AuditEvent
from relance.dunning import outbox
from relance.dunning.engine import run
from relance.dunning.models import CommStatus, Communication
from relance.ledger.models import TimelineEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]

D = dt.date(2026, 11, 23)  # a Monday
APPROVAL_STEPS = [(5, 0, "email", "first_reminder", "approval")]


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC), tick=True)


def planned(org, count=1):
    """``count`` customers with an overdue invoice each, planned by a run on a step that
    waits for approval."""
    f.scenario(org, APPROVAL_STEPS)
    for n in range(count):
        customer = f.customer(org, f"C-{n}", legal_name=f"Durand {n} SARL",
                              email=f"factures{n}@durand.test")  # fmt: skip
        f.invoice(customer, f"F-{n}", due=D - f.days(6), amount="1200.00")
    run(org, D)
    return list(Communication.objects.filter(organisation=org).order_by("pk"))


def signed_in(client, org, role="manager", email=None):
    user = f.member(org, email or f"{role}@{org.slug}.test", role)
    client.force_login(user)
    return user


def shown_by_cli(comm):
    out = StringIO()
    call_command("outbox", "show", str(comm.pk), "--json", "--org", comm.organisation.slug,
                 stdout=out)  # fmt: skip
    return json.loads(out.getvalue())


def part(message, kind):
    found = next(p for p in message.walk() if p.get_content_type() == kind)
    return found.get_payload(decode=True).decode().replace("\r\n", "\n")


def test_it_shows_each_message_exactly_as_the_cli_and_the_worker_build_it(client, org):
    [comm] = planned(org)
    signed_in(client, org)
    page = client.get(reverse("console:approvals")).content.decode()
    cli = shown_by_cli(comm)
    from django.utils.html import escape

    assert escape(cli["text"]) in page
    assert escape(cli["headers"]["Subject"]) in page
    assert "factures0@durand.test" in page
    assert f'name="one" value="approve:{comm.pk}"' in page
    html = client.get(reverse("console:approval_html", args=[comm.pk]))
    assert html.content.decode() == cli["html"]
    assert "unsafe-inline" in html["Content-Security-Policy"]
    assert "sandbox" in html["Content-Security-Policy"]


def test_it_sends_an_approved_message_and_keeps_exactly_what_left(client, org, mail):
    [comm] = planned(org)
    user = signed_in(client, org)
    answer = client.post(reverse("console:approval_decide"), {"one": f"approve:{comm.pk}"})
    assert answer.status_code == 302
    comm.refresh_from_db()
    assert comm.status == CommStatus.QUEUED
    assert AuditEvent.objects.get(action="communication.approved").user_id == user.pk
    assert TimelineEvent.objects.filter(kind="communication_approved", actor=user).exists()

    assert outbox.send_due(today=D).counts["sent"] == 1
    [received] = mail.received
    comm.refresh_from_db()
    assert comm.status == CommStatus.SENT
    assert comm.sent_text == part(received.message, "text/plain")
    assert comm.sent_html == part(received.message, "text/html")
    assert "F-0" in comm.sent_text


def test_it_approves_and_skips_in_bulk_with_a_note(client, org):
    first, second, third = planned(org, 3)
    signed_in(client, org)
    skip = {"action": "skip", "ids": [first.pk, third.pk], "note": "paid by cheque"}
    client.post(reverse("console:approval_decide"), skip)
    client.post(reverse("console:approval_decide"), {"action": "approve", "ids": [second.pk]})
    statuses = dict(Communication.objects.values_list("pk", "status"))
    assert statuses == {first.pk: CommStatus.CANCELLED, second.pk: CommStatus.QUEUED,
                        third.pk: CommStatus.CANCELLED}  # fmt: skip
    skipped = AuditEvent.objects.get(action="communication.skipped")
    assert skipped.data["note"] == "paid by cheque"
    assert skipped.data["communications"] == [first.pk, third.pk]


def test_it_sends_the_wording_a_person_wrote_in_both_parts(client, org, mail):
    [comm] = planned(org)
    user = signed_in(client, org)
    edit_url = reverse("console:approval_edit", args=[comm.pk])
    form = client.get(edit_url).content.decode()
    assert "Subject" in form and "F-0" in form  # starts from the message as it stands
    text = "Bonjour,\n\nF-0 reste due : merci de nous appeler <avant vendredi>.\n\nMarie"
    answer = client.post(edit_url, {"subject": "F-0 : un point rapide", "text": text})
    assert answer.status_code == 302
    comm.refresh_from_db()
    assert (comm.edited_subject, comm.edited_by_id) == ("F-0 : un point rapide", user.pk)
    assert AuditEvent.objects.filter(action="communication.edited").exists()
    assert TimelineEvent.objects.filter(kind="communication_edited").exists()
    assert text in shown_by_cli(comm)["text"]  # the CLI shows the edit too

    client.post(reverse("console:approval_decide"), {"one": f"approve:{comm.pk}"})
    assert outbox.send_due(today=D).counts["sent"] == 1
    message = mail.received[0].message
    assert message["Subject"] == "F-0 : un point rapide"
    assert part(message, "text/plain") == text + "\n"
    html = part(message, "text/html")
    assert "&lt;avant vendredi&gt;" in html and "<avant" not in html
    assert "overlooked" not in html and "oubli" not in html  # none of the template's words
    comm.refresh_from_db()
    assert comm.sent_text == text + "\n"


def test_it_goes_back_to_the_template_when_the_text_is_emptied(client, org):
    [comm] = planned(org)
    signed_in(client, org)
    edit_url = reverse("console:approval_edit", args=[comm.pk])
    client.post(edit_url, {"subject": "Mine", "text": "Mine"})
    client.post(edit_url, {"revert": "1"})
    comm.refresh_from_db()
    assert (comm.edited_subject, comm.edited_text, comm.edited_by_id) == ("", "", None)
    assert shown_by_cli(comm)["headers"]["Subject"] != "Mine"


def test_it_holds_back_an_edited_message_whose_invoices_changed(client, org, mail):
    f.scenario(org, APPROVAL_STEPS)
    customer = f.customer(org, "C-1", email="factures@durand.test")
    first = f.invoice(customer, "F-1", due=D - f.days(6))
    f.invoice(customer, "F-2", due=D - f.days(6))
    run(org, D)
    comm = Communication.objects.get()
    signed_in(client, org)
    client.post(reverse("console:approval_edit", args=[comm.pk]),
                {"subject": "", "text": "F-1 and F-2 are due."})  # fmt: skip
    client.post(reverse("console:approval_decide"), {"one": f"approve:{comm.pk}"})
    f.pay(first, on=D)

    assert outbox.send_due(today=D).counts["returned"] == 1
    comm.refresh_from_db()
    assert comm.status == CommStatus.AWAITING_APPROVAL
    assert mail.received == []
    page = client.get(reverse("console:approvals")).content.decode()
    assert '<span class="nowrap">F-1</span> (paid)' in page  # the person sees why it came back
    # Approved again as it is (its drops already known), it leaves.
    client.post(reverse("console:approval_decide"), {"one": f"approve:{comm.pk}"})
    assert outbox.send_due(today=D).counts["sent"] == 1


def test_only_those_who_approve_act(client, org):
    [comm] = planned(org)
    signed_in(client, org, "collector")
    page = client.get(reverse("console:approvals"))
    assert page.status_code == 200
    assert b"approve:" not in page.content and b'name="ids"' not in page.content
    decide = reverse("console:approval_decide")
    assert client.post(decide, {"one": f"approve:{comm.pk}"}).status_code == 403
    assert client.get(reverse("console:approval_edit", args=[comm.pk])).status_code == 403
    signed_in(client, org, "viewer")
    assert client.post(decide, {"action": "skip", "ids": [comm.pk]}).status_code == 403
    comm.refresh_from_db()
    assert comm.status == CommStatus.AWAITING_APPROVAL


def test_another_organisations_messages_are_out_of_reach(client, org, other_org):
    [theirs] = planned(other_org)
    signed_in(client, org)
    assert client.get(reverse("console:approval_edit", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("console:approval_html", args=[theirs.pk])).status_code == 404
    client.post(reverse("console:approval_decide"), {"one": f"approve:{theirs.pk}"})
    theirs.refresh_from_db()
    assert theirs.status == CommStatus.AWAITING_APPROVAL
    assert (
        theirs.customer.legal_name.encode() not in client.get(reverse("console:approvals")).content
    )


def test_a_message_sent_in_place_answers_with_its_card(client, org):
    first, second = planned(org, 2)
    signed_in(client, org)
    answer = client.post(reverse("console:approval_decide"), {"one": f"skip:{first.pk}",
                         "ids": [second.pk]}, HTTP_HX_REQUEST="true")  # fmt: skip
    assert answer.status_code == 200
    assert b'data-testid="decided"' in answer.content and b"<html" not in answer.content
    assert dict(Communication.objects.values_list("pk", "status")) == {
        first.pk: CommStatus.CANCELLED, second.pk: CommStatus.AWAITING_APPROVAL}  # fmt: skip


@pytest.mark.parametrize("count", [3, 30])
def test_the_page_makes_as_many_queries_for_3_messages_as_for_30(
    client, org, count, django_assert_max_num_queries
):
    planned(org, count)
    signed_in(client, org)
    # The first view also makes the customers' portal links the messages carry (a few
    # statements for all of them): the same number for 3 messages as for 30.
    with django_assert_max_num_queries(20):
        answer = client.get(reverse("console:approvals"))
    assert answer.content.count(b'data-testid="approval"') == min(count, 20)
