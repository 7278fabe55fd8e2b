"""The console's hand-over button on a customer's page: managers download the ZIP the
command writes; collectors and viewers may not; another organisation's customer is 404."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from zoneinfo import ZoneInfo

import factories as make
import pytest

from relance.audit.models import AuditEvent
from relance.dunning.models import Rate
from relance.ledger.models import TimelineEvent


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Europe/Paris")))


@pytest.fixture
def acme(db):
    org = make.organisation("acme", legal_name="Acme Industries SAS")
    Rate.objects.create(series="fr_late_penalty_default", date=date(2026, 7, 1), percent="12.15")
    return org


@pytest.fixture
def durand(acme):
    cust = make.customer(acme, "C001", legal_name="Durand SARL")
    make.invoice(cust, "F-1", due=date(2026, 9, 30), amount="480.50")
    return cust


def signed_in(client, acme, role):
    client.force_login(make.member(acme, f"{role}@acme.test", role))
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def url(customer) -> str:
    return f"/customers/{customer.pk}/handover/"


def test_it_downloads_the_hand_over_file_for_a_manager(client, acme, durand):
    client = signed_in(client, acme, "manager")
    page = client.get(f"/customers/{durand.pk}/")
    assert b"Download the hand-over file" in page.content
    answer = client.post(url(durand), {"handover-recipient": "court"})
    assert answer.status_code == 200 and answer["Content-Type"] == "application/zip"
    assert 'filename="handover-C001-court-2026-11-23.zip"' in answer["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(answer.content)) as zf:
        assert {"summary.pdf", "timeline.csv", "manifest.json"} <= set(zf.namelist())
    assert TimelineEvent.objects.filter(customer=durand, kind="handover").count() == 1
    audit = AuditEvent.objects.get(action="handover.made")
    assert audit.user.get_username() == "manager@acme.test"
    assert audit.object_id == str(durand.pk)


def test_it_says_when_there_is_nothing_to_hand_over(client, acme):
    paid_up = make.customer(acme, "C002")
    make.invoice(paid_up, "F-9", due=date(2026, 12, 31))
    answer = signed_in(client, acme, "manager").post(url(paid_up), {"handover-recipient": "lawyer"})
    assert answer.status_code == 302
    page = client.get(answer["Location"])
    assert b"nothing to hand over" in page.content
    assert not TimelineEvent.objects.filter(kind="handover").exists()


@pytest.mark.parametrize("role", ["viewer", "collector"])
def test_it_refuses_the_hand_over_below_a_manager(client, acme, durand, role):
    client = signed_in(client, acme, role)
    assert b"Download the hand-over file" not in client.get(f"/customers/{durand.pk}/").content
    assert client.post(url(durand), {"handover-recipient": "court"}).status_code == 403
    assert not TimelineEvent.objects.filter(kind="handover").exists()


def test_it_answers_404_for_another_organisations_customer(client, acme, durand):
    other = make.organisation("globex")
    theirs = make.customer(other, "G001")
    make.invoice(theirs, "G-1", due=date(2026, 9, 1))
    answer = signed_in(client, acme, "manager").post(url(theirs), {"handover-recipient": "court"})
    assert answer.status_code == 404
