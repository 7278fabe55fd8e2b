"""The console's Letters page: what waits to be printed, the print batch in one click, its
PDF and list, each letter's PDF; roles and organisations."""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import factories as f
import pypdf
import pytest
from django.urls import reverse

from relance.documents.models import Letter, PrintBatch
from relance.dunning import outbox

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
D = dt.date(2026, 3, 20)  # the shipped rate tables know 2026-H1


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(dt.datetime(2026, 3, 20, 9, 30, tzinfo=ZoneInfo("Europe/Paris")))


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def signed_in(client, org, role="manager"):
    user = f.member(org, f"{role}@{org.slug}.test", role)
    client.force_login(user)
    return user


def filed(org, reference, postcode, *, channel="letter"):
    customer = f.customer(org, reference, legal_name=f"{reference} SARL")
    f.address(customer, postcode=postcode, city="Ville")
    late = f.invoice(customer, due=D - dt.timedelta(days=30))
    f.communication(customer, [late], on=D, channel=channel, template="firm_reminder")
    return customer


def test_it_prints_the_waiting_letters_in_one_batch(client, org):
    filed(org, "C-LYON", "69003", channel="registered_letter")
    filed(org, "C-PARIS", "75011")
    report = outbox.send_due(org.pk, today=D)
    assert report.counts["sent"] == 2, report.as_dict()
    signed_in(client, org, "collector")
    page = client.get(reverse("console:letters")).content.decode()
    assert page.count('data-testid="waiting-letter"') == 2 and "1 of them registered" in page
    letter = Letter.objects.get(customer__reference="C-PARIS")
    pdf = client.get(reverse("console:letter_pdf", args=[letter.pk]))
    assert b"".join(pdf.streaming_content).startswith(b"%PDF-")

    made = client.post(reverse("console:letters"), follow=True).content.decode()
    assert "Print batch of 2 letters ready" in made and 'data-testid="waiting-letter"' not in made
    batch = PrintBatch.objects.get()
    body = b"".join(
        client.get(reverse("console:letters_batch", args=[batch.pk, "pdf"])).streaming_content
    )
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(body)).pages)
    assert text.index("C-LYON SARL") < text.index("C-PARIS SARL")  # 69003 before 75011
    listing = client.get(reverse("console:letters_batch", args=[batch.pk, "csv"])).content.decode()
    rows = list(csv.DictReader(io.StringIO(listing)))
    assert [(r["customer"], r["registered"]) for r in rows] == [
        ("C-LYON", "yes"),
        ("C-PARIS", "no"),
    ]
    again = client.post(reverse("console:letters"), follow=True).content.decode()
    assert "No letter is waiting to be printed." in again and PrintBatch.objects.count() == 1


def test_a_viewer_reads_but_prints_nothing(client, org):
    filed(org, "C-1", "69003")
    outbox.send_due(org.pk, today=D)
    signed_in(client, org, "viewer")
    page = client.get(reverse("console:letters")).content.decode()
    assert 'data-testid="waiting-letter"' in page and 'data-testid="make-batch"' not in page
    assert client.post(reverse("console:letters")).status_code == 403
    assert not PrintBatch.objects.exists()


def test_another_organisations_letters_answer_404(client, org):
    other = f.organisation("other")
    filed(other, "C-X", "13001")
    outbox.send_due(other.pk, today=D)
    from relance.documents import printing

    batch = printing.make_batch(other, D).batch
    letter = Letter.objects.get()
    signed_in(client, org)
    assert (
        'data-testid="waiting-letter"'
        not in client.get(reverse("console:letters")).content.decode()
    )
    assert client.get(reverse("console:letter_pdf", args=[letter.pk])).status_code == 404
    assert client.get(reverse("console:letters_batch", args=[batch.pk, "pdf"])).status_code == 404
    assert client.get(reverse("console:letters_batch", args=[batch.pk, "csv"])).status_code == 404


def test_a_print_batch_counts_its_letters_with_their_plurals_in_french(client, org, settings):
    """On a phone the batch reads as a card, its counts named: "Courriers 2", "Recommandé 1"
    (a count's name agrees with it, as French writes it)."""
    filed(org, "C-LYON", "69003", channel="registered_letter")
    filed(org, "C-PARIS", "75011")
    assert outbox.send_due(org.pk, today=D).counts["sent"] == 2
    signed_in(client, org)
    client.post(reverse("console:letters"))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = client.get(reverse("console:letters")).content.decode()
    assert 'data-label="Courriers">2<' in page and 'data-label="Recommandé">1<' in page
    filed(org, "C-NICE", "06000", channel="registered_letter")
    filed(org, "C-LILLE", "59000", channel="registered_letter")
    outbox.send_due(org.pk, today=D)
    client.post(reverse("console:letters"))
    page = client.get(reverse("console:letters")).content.decode()
    assert 'data-label="Recommandés">2<' in page
