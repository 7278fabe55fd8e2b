"""The registered letters' pages: the list by status, one letter with its dates and proof,
and the two hand entries (tracking number; AR or return with its scan)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import factories as f
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from relance.channels.models import RegisteredLetter
from relance.channels.registered_mail import record_posting
from relance.console import registered
from relance.ledger.models import TimelineEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
D = dt.date(2026, 11, 23)


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Europe/Paris")))


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def signed_in(client, org, role="manager"):
    user = f.member(org, f"{role}@{org.slug}.test", role)
    client.force_login(user)
    return user


def test_it_lists_the_letters_by_status_a_page_at_a_time(client, org, monkeypatch):
    monkeypatch.setattr(registered, "PER_PAGE", 2)
    durand = f.customer(org, "C1", legal_name="Durand SARL")
    letters = [f.registered_letter(durand) for _ in range(3)]
    record_posting(letters[0], "1A 123 456 7890 1", D)
    signed_in(client, org, "viewer")
    first = client.get(reverse("console:registered")).content.decode()
    assert first.count('data-testid="registered-letter"') == 2 and "Page 1 of 2" in first
    posted = client.get(reverse("console:registered"), {"status": "posted"}).content.decode()
    assert posted.count('data-testid="registered-letter"') == 1
    assert "1A12345678901" in posted and "Durand SARL" in posted
    page = client.get(reverse("console:registered_letter", args=[letters[0].pk])).content.decode()
    assert "1A12345678901" in page and "Lyon" in page
    assert 'data-testid="track"' not in page  # a viewer changes nothing


def test_it_records_the_tracking_number_and_refuses_a_wrong_one(client, org):
    letter = f.registered_letter(f.customer(org, "C1"))
    signed_in(client, org, "collector")
    url = reverse("console:registered_track", args=[letter.pk])
    bad = client.post(url, {"number": "1A 123", "posted_on": "2026-11-23"})
    assert bad.status_code == 400
    assert "is not a registered letter&#x27;s number" in bad.content.decode()
    assert RegisteredLetter.objects.get().status == "prepared"
    good = client.post(url, {"number": "1A 123 456 7890 1", "posted_on": "2026-11-23"})
    assert good.status_code == 302
    letter.refresh_from_db()
    assert (letter.status, letter.tracking_number, letter.posted_on) == (
        "posted", "1A12345678901", D)  # fmt: skip


def test_it_records_the_signed_ar_with_its_scan_and_serves_it(client, org):
    customer = f.customer(org, "C1")
    letter = record_posting(f.registered_letter(customer), "1A12345678901", D)
    user = signed_in(client, org, "manager")
    scan = f.pdf("AR")
    url = reverse("console:registered_receipt", args=[letter.pk])
    future = client.post(url, {"returned": "", "on": "2026-12-01"})
    assert future.status_code == 400 and "is in the future" in future.content.decode()
    answer = client.post(url, {"returned": "", "on": "2026-11-23",
                               "proof": SimpleUploadedFile("ar.pdf", scan)})  # fmt: skip
    assert answer.status_code == 302
    letter.refresh_from_db()
    assert (letter.status, letter.acknowledged_on) == ("acknowledged", D)
    event = TimelineEvent.objects.get(kind="registered.acknowledged")
    assert event.actor_id == user.pk
    page = client.get(reverse("console:registered_letter", args=[letter.pk])).content.decode()
    assert "23 November 2026" in page and 'data-testid="receipt"' not in page  # ended
    download = client.get(reverse("console:registered_proof", args=[letter.pk]))
    assert download["Content-Type"] == "application/pdf" and download.content == scan


def test_it_lets_only_those_who_work_the_customer_enter_what_happened(client, org):
    marie = f.member(org, "marie@acme.test", "collector")
    letter = f.registered_letter(f.customer(org, "C1", collector=marie))
    url = reverse("console:registered_track", args=[letter.pk])
    signed_in(client, org, "viewer")
    assert (
        client.post(url, {"number": "1A12345678901", "posted_on": "2026-11-23"}).status_code == 403
    )
    signed_in(client, org, "collector")  # not Marie: the customer is hers
    assert (
        client.post(url, {"number": "1A12345678901", "posted_on": "2026-11-23"}).status_code == 403
    )
    assert RegisteredLetter.objects.get().status == "prepared"


def test_it_answers_404_for_another_organisations_letter(client, org, other_org):
    theirs = record_posting(f.registered_letter(f.customer(other_org, "G1")), "1A12345678901", D)
    signed_in(client, org, "manager")
    for name in ("registered_letter", "registered_proof", "registered_pdf"):
        assert client.get(reverse(f"console:{name}", args=[theirs.pk])).status_code == 404
    form = {"number": "1A12345678902", "posted_on": "2026-11-23", "on": "2026-11-23"}
    for name in ("registered_track", "registered_receipt"):
        answer = client.post(reverse(f"console:{name}", args=[theirs.pk]), form)
        assert answer.status_code == 404
    assert "G1" not in client.get(reverse("console:registered")).content.decode()
    theirs.refresh_from_db()
    assert (theirs.status, theirs.tracking_number) == ("posted", "1A12345678901")


def test_it_links_the_customers_timeline_to_the_letter(client, org):
    customer = f.customer(org, "C1")
    letter = record_posting(f.registered_letter(customer), "1A12345678901", D)
    signed_in(client, org, "viewer")
    page = client.get(reverse("console:customer", args=[customer.pk])).content.decode()
    assert page.count(f'href="{reverse("console:registered_letter", args=[letter.pk])}"') == 2
