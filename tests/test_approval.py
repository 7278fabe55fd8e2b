"""Communications awaiting approval: a person sends them on, or skips them."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import factories
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from relance.dunning.models import CommStatus, Communication
from relance.ledger.models import TimelineEvent

D = dt.date(2026, 11, 24)


def awaiting(org, reference: str) -> Communication:
    customer = factories.customer(org, reference, legal_name="X")
    return factories.communication(customer, [], on=D, channel="registered_letter",
                                   template="formal_notice",
                                   status=CommStatus.AWAITING_APPROVAL)  # fmt: skip


def outbox(*args: str) -> dict:
    out = StringIO()
    call_command("outbox", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_it_lists_approves_and_skips(org):
    first, second = awaiting(org, "C1"), awaiting(org, "C2")
    listed = outbox("list", "--org", org.slug)["communications"]
    assert [c["id"] for c in listed] == [first.pk, second.pk]

    outbox("approve", str(first.pk), "--org", org.slug)
    outbox("skip", str(second.pk), "--note", "paid by cheque", "--org", org.slug)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (CommStatus.QUEUED, CommStatus.CANCELLED)
    kinds = set(TimelineEvent.objects.values_list("kind", flat=True))
    assert kinds == {"communication_approved", "communication_skipped"}
    assert TimelineEvent.objects.get(kind="communication_skipped").summary.endswith("cheque")
    assert outbox("list", "--org", org.slug)["communications"] == []


@pytest.mark.django_db
def test_it_changes_nothing_when_one_of_them_cannot_be_decided(org, other_org):
    mine, theirs = awaiting(org, "C1"), awaiting(other_org, "C9")
    with pytest.raises(CommandError, match="not awaiting approval"):
        call_command("outbox", "approve", str(mine.pk), str(theirs.pk), "--org", org.slug)
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == theirs.status == CommStatus.AWAITING_APPROVAL
    outbox("approve", str(mine.pk), "--org", org.slug)
    with pytest.raises(CommandError, match="not awaiting approval"):
        call_command("outbox", "skip", str(mine.pk), "--org", org.slug)


@pytest.mark.django_db
def test_the_default_formal_notice_waits_for_approval(org):
    from relance.dunning.engine import run

    customer = factories.customer(org, "C1", legal_name="Dupont")
    factories.invoice(customer, "F1", due=D - dt.timedelta(days=60), amount="5000")
    day = D
    for _ in range(60):  # catch up day by day, as daily runs do
        run(org, day)
        day += dt.timedelta(days=1)
    statuses = set(Communication.objects.values_list("template", "status"))
    assert ("formal_notice", CommStatus.AWAITING_APPROVAL) in statuses
