"""The console's disputes and promises: lists with the agreed filters, a dispute opened on
several invoices at once, assigned and resolved with its effect on dunning, promises
cancelled; roles, other organisations and query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factories as make
import pytest
from django.urls import reverse
from factories import days

from relance.audit.models import AuditEvent
from relance.dunning.customer_view import customer_view
from relance.dunning.models import Promise
from relance.insights.management.commands.report import today_for
from relance.ledger.models import Dispute, Payment, TimelineEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def today(org) -> dt.date:
    return today_for(org)


@pytest.fixture
def cast(org):
    return {
        role: make.member(org, f"{role}@acme.test", role)
        for role in ("admin", "manager", "collector", "viewer")
    }


@pytest.fixture
def durand(org):
    make.scenario(org)
    return make.customer(org, "C001", legal_name="Durand SARL", email="factures@durand.test")


def signed_in(client, user):
    client.force_login(user)
    return client


def test_it_opens_a_dispute_on_two_invoices_as_one_group(client, org, cast, durand, today):
    f1 = make.invoice(durand, "F-1", due=today - days(20), amount="1200.00")
    f2 = make.invoice(durand, "F-2", due=today - days(10), amount="300.00")
    make.invoice(durand, "F-3", due=today - days(5))
    signed_in(client, cast["collector"])
    page = client.get(reverse("console:dispute_new"), {"customer": durand.pk})
    assert page.status_code == 200 and b"F-1" in page.content and b"F-3" in page.content

    answer = client.post(reverse("console:dispute_new"), {
        "customer": durand.pk, "invoice": [f1.pk, f2.pk], "reason": "delivery",
        f"amount-{f1.pk}": "150,50", f"note-{f1.pk}": "2 pallets missing",
        "note": "called on Monday",
    })  # fmt: skip

    d1, d2 = Dispute.objects.order_by("invoice__number")
    assert answer.status_code == 302
    assert answer["Location"] == reverse("console:dispute", args=[d1.pk])
    assert d1.group and d1.group == d2.group
    assert (d1.amount, d1.note, d2.amount, d2.note) == (
        Decimal("150.50"),
        "2 pallets missing",
        None,
        "called on Monday",
    )
    assert d1.reason == d2.reason == "delivery" and d1.opened_on == today
    view = customer_view(org, durand, today)
    assert [(i.number, i.paused) for i in view.open_items] == [
        ("F-1", "dispute"),
        ("F-2", "dispute"),
        ("F-3", None),
    ]
    assert TimelineEvent.objects.filter(kind="dispute_opened", actor=cast["collector"]).count() == 2
    assert AuditEvent.objects.filter(action="dispute.opened").count() == 2
    page = client.get(answer["Location"])
    assert page.status_code == 200
    assert b"F-1" in page.content and b"F-2" in page.content and b"F-3" not in page.content


def test_it_refuses_a_dispute_it_cannot_record_and_writes_nothing(client, cast, durand, today):
    f1 = make.invoice(durand, "F-1", due=today - days(20))
    make.dispute(f1, on=today - days(1))
    f2 = make.invoice(durand, "F-2", due=today - days(20), amount="100.00")
    signed_in(client, cast["manager"])
    answer = client.post(reverse("console:dispute_new"), {
        "customer": durand.pk, "invoice": [f2.pk], "reason": "price",
        f"amount-{f2.pk}": "250.00",
    })  # fmt: skip
    assert answer.status_code == 400 and b"between 0 and 100.00" in answer.content
    already = client.post(reverse("console:dispute_new"), {
        "customer": durand.pk, "invoice": [f1.pk], "reason": "price",
    })  # fmt: skip
    assert already.status_code == 400
    assert Dispute.objects.count() == 1


def test_it_lets_collectors_work_only_their_customers_and_viewers_nothing(
    client, org, cast, durand, today
):
    invoice = make.invoice(durand, "F-1", due=today - days(20))
    durand.collector = cast["manager"]
    durand.save()
    form = {"customer": durand.pk, "invoice": [invoice.pk], "reason": "quality"}
    assert (
        signed_in(client, cast["collector"]).post(reverse("console:dispute_new"), form).status_code
        == 403
    )
    assert (
        signed_in(client, cast["viewer"]).post(reverse("console:dispute_new"), form).status_code
        == 403
    )
    assert signed_in(client, cast["viewer"]).get(reverse("console:disputes")).status_code == 200
    assert Dispute.objects.count() == 0
    assert (
        signed_in(client, cast["manager"]).post(reverse("console:dispute_new"), form).status_code
        == 302
    )


def test_it_assigns_a_dispute_group_with_the_assign_right_only(client, cast, durand, today):
    f1 = make.invoice(durand, "F-1", due=today - days(20))
    f2 = make.invoice(durand, "F-2", due=today - days(20))
    signed_in(client, cast["manager"])
    form = {"customer": durand.pk, "invoice": [f1.pk, f2.pk], "reason": "duplicate"}
    client.post(reverse("console:dispute_new"), form)
    first = Dispute.objects.order_by("pk").first()
    url = reverse("console:dispute_assign", args=[first.pk])

    refused = signed_in(client, cast["collector"]).post(url, {"assignee": cast["collector"].pk})
    viewer = make.member(durand.organisation, "reader@acme.test", "viewer")
    to_viewer = signed_in(client, cast["manager"]).post(url, {"assignee": viewer.pk})
    assert refused.status_code == 403 and to_viewer.status_code == 400
    assert set(Dispute.objects.values_list("assignee", flat=True)) == {None}

    done = signed_in(client, cast["manager"]).post(url, {"assignee": cast["collector"].pk})
    assert done.status_code == 302
    assert set(Dispute.objects.values_list("assignee", flat=True)) == {cast["collector"].pk}
    event = AuditEvent.objects.get(action="dispute.assigned")
    assert event.data["invoices"] == ["F-1", "F-2"]
    mine = signed_in(client, cast["collector"]).get(reverse("console:disputes"), {"assignee": "me"})
    assert b"F-1" in mine.content and b"F-2" in mine.content


def test_it_resolves_with_a_credit_note_recorded_through_the_ledger(
    client, org, cast, durand, today
):
    invoice = make.invoice(durand, "F-1", due=today - days(40), amount="1000.00")
    dispute = make.dispute(invoice, on=today - days(10), reason="price", amount=Decimal("150"))
    signed_in(client, cast["collector"])
    page = client.get(reverse("console:dispute", args=[dispute.pk]))
    # The amount as its French reader writes it, and types it back.
    assert b'name="credit_amount"' in page.content and b'value="150,00"' in page.content

    answer = client.post(reverse("console:dispute_resolve", args=[dispute.pk]), {
        "outcome": "credit_note", "credit_reference": "AV-2026-017", "credit_amount": "150,00",
        "resolution": "price list of 2025 applied",
    })  # fmt: skip

    assert answer.status_code == 302
    dispute.refresh_from_db()
    invoice.refresh_from_db()
    assert (dispute.outcome, dispute.resolved_on) == ("credit_note", today)
    assert invoice.balance == Decimal("850.00")
    credit = Payment.objects.get(reference="AV-2026-017")
    assert (credit.kind, credit.amount, credit.customer_id) == ("credit_note", Decimal("150.00"),
                                                                 durand.pk)  # fmt: skip
    [item] = customer_view(org, durand, today).open_items
    assert item.paused is None and item.balance == Decimal("850.00")
    assert TimelineEvent.objects.filter(kind="credit_note").exists()
    assert AuditEvent.objects.get(action="dispute.resolved").data["outcome"] == "credit_note"


def test_it_refuses_a_resolution_without_outcome_or_credit_amount(client, cast, durand, today):
    invoice = make.invoice(durand, "F-1", due=today - days(40), amount="1000.00")
    dispute = make.dispute(invoice, on=today - days(10))
    signed_in(client, cast["collector"])
    url = reverse("console:dispute_resolve", args=[dispute.pk])
    assert client.post(url, {"resolution": "?"}).status_code == 400
    no_amount = client.post(url, {"outcome": "credit_note", "credit_reference": "AV-1",
                                  "resolution": "x"})  # fmt: skip
    assert no_amount.status_code == 400
    dispute.refresh_from_db()
    assert dispute.is_open and not Payment.objects.exists()
    rejected = client.post(url, {"outcome": "rejected", "resolution": "delivered, signed POD"})
    assert rejected.status_code == 302
    dispute.refresh_from_db()
    assert dispute.outcome == "rejected" and not dispute.is_open


def test_it_filters_disputes_by_status_reason_age_and_assignee(client, cast, durand, today):
    young = make.dispute(make.invoice(durand, "YOUNG", due=today), on=today - days(3),
                         reason="quality")  # fmt: skip
    old = make.dispute(make.invoice(durand, "OLD", due=today), on=today - days(45),
                       reason="purchase_order", assignee_id=cast["manager"].pk)  # fmt: skip
    done = make.dispute(make.invoice(durand, "DONE", due=today), on=today - days(100),
                        reason="quality")  # fmt: skip
    from relance.dunning import pauses

    pauses.resolve_dispute(done, on=today, resolution="ok", outcome="settled")
    signed_in(client, cast["viewer"])

    def shown(**query: str) -> set[str]:
        content = client.get(reverse("console:disputes"), query).content.decode()
        return {n for n in ("YOUNG", "OLD", "DONE") if f">{n}<" in content}

    assert shown() == {"YOUNG", "OLD", "DONE"}
    assert shown(status="open") == {"YOUNG", "OLD"}
    assert shown(status="resolved") == {"DONE"}
    assert shown(reason="quality") == {"YOUNG", "DONE"}
    assert shown(age="31-60") == {"OLD"}
    assert shown(age="0-30", status="open") == {"YOUNG"}
    assert shown(assignee=str(cast["manager"].pk)) == {"OLD"}
    assert shown(assignee="none") == {"YOUNG", "DONE"}
    assert young.pk and old.pk


def test_another_organisations_disputes_and_promises_answer_404(
    client, org, other_org, outsider, durand, today
):
    dispute = make.dispute(make.invoice(durand, "F-1", due=today), on=today)
    promise = make.promise(durand, promised_on=today + days(3))
    signed_in(client, outsider)
    assert client.get(reverse("console:dispute", args=[dispute.pk])).status_code == 404
    assert client.post(reverse("console:dispute_resolve", args=[dispute.pk]),
                       {"outcome": "rejected"}).status_code == 404  # fmt: skip
    assert client.post(reverse("console:promise_cancel", args=[promise.pk])).status_code == 404
    assert client.get(reverse("console:dispute_new"), {"customer": durand.pk}).status_code == 404
    listed = client.get(reverse("console:disputes"))
    assert listed.status_code == 200 and b"F-1" not in listed.content


@pytest.mark.parametrize("rows", [3, 30])
def test_the_disputes_list_costs_the_same_queries_for_3_and_30_rows(
    client, cast, durand, today, rows, django_assert_max_num_queries
):
    for n in range(rows):
        make.dispute(make.invoice(durand, f"F-{n}", due=today), on=today - days(n),
                     assignee_id=cast["manager"].pk)  # fmt: skip
    signed_in(client, cast["manager"])
    with django_assert_max_num_queries(8):
        page = client.get(reverse("console:disputes"))
    assert page.content.count(b"data-dispute=") == rows


# -- promises -----------------------------------------------------------------------------


def test_it_lists_promises_due_this_week_kept_and_broken(client, cast, durand, today):
    soon = make.promise(durand, promised_on=today + days(2), note="soon")
    later = make.promise(durand, promised_on=today + days(20))
    kept = make.promise(durand, promised_on=today - days(10))
    broken = make.promise(durand, promised_on=today - days(12))
    Promise.objects.filter(pk=kept.pk).update(status="kept")
    Promise.objects.filter(pk=broken.pk).update(status="broken", broken_on=today - days(9))
    signed_in(client, cast["viewer"])

    def shown(**query: str) -> set[int]:
        content = client.get(reverse("console:promises"), query).content.decode()
        return {p.pk for p in (soon, later, kept, broken) if f'id="promise-{p.pk}"' in content}

    assert shown() == {soon.pk, later.pk, kept.pk, broken.pk}
    assert shown(due="week") == {soon.pk}
    assert shown(status="broken") == {broken.pk}
    assert shown(status="kept") == {kept.pk}
    assert shown(status="open") == {soon.pk, later.pk}


def test_it_cancels_a_promise_in_place(client, org, cast, durand, today):
    invoice = make.invoice(durand, "F-1", due=today - days(20))
    promise = make.promise(durand, promised_on=today + days(5), invoice=invoice)
    assert customer_view(org, durand, today).open_items[0].paused == "promise"
    url = reverse("console:promise_cancel", args=[promise.pk])
    assert signed_in(client, cast["viewer"]).post(url).status_code == 403

    answer = signed_in(client, cast["collector"]).post(url, HTTP_HX_REQUEST="true")

    assert answer.status_code == 200 and f'id="promise-{promise.pk}"'.encode() in answer.content
    assert b"data-cancel" not in answer.content  # no second cancel offered
    promise.refresh_from_db()
    assert promise.status == "cancelled"
    assert customer_view(org, durand, today).open_items[0].paused is None
    assert AuditEvent.objects.filter(action="promise.cancelled").count() == 1
    again = client.post(url)
    assert again.status_code == 302 and Promise.objects.get().status == "cancelled"


def test_open_disputes_come_first_oldest_first(client, cast, durand, today):
    from relance.dunning import pauses

    done = make.dispute(make.invoice(durand, "DONE", due=today), on=today - days(50))
    pauses.resolve_dispute(done, on=today - days(1), resolution="ok", outcome="settled")
    make.dispute(make.invoice(durand, "NEW", due=today), on=today - days(2))
    make.dispute(make.invoice(durand, "OLD", due=today), on=today - days(20))
    client.force_login(cast["viewer"])
    content = client.get(reverse("console:disputes")).content.decode()
    assert content.index(">OLD<") < content.index(">NEW<") < content.index(">DONE<")


def test_an_open_dispute_reads_in_french_as_a_litige_does(
    client, org, cast, durand, today, settings
):
    """A dispute (un litige) reads "Ouvert", as it reads "Résolu"; not a task's "Ouverte"."""
    make.dispute(make.invoice(durand, "F-1", due=today - days(20)), on=today - days(2))
    client = signed_in(client, cast["manager"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = client.get(reverse("console:disputes")).content.decode()
    assert '<span class="badge badge-open">Ouvert</span>' in page
    assert ">Ouverte<" not in page
