"""The letter templates (Typst) in the console's template editor: listed with the others,
saved only when they compile (Typst's message and line otherwise), used by the next letter,
previewed on a real customer as an image of the first page and a PDF of the draft, reset;
managers only, and never another organisation's customer."""

from __future__ import annotations

import datetime as dt
import io
import re
from zoneinfo import ZoneInfo

import factories as make
import pypdf
import pytest
from django.urls import reverse
from PIL import Image

from relance.audit.models import AuditEvent
from relance.channels.models import MessageTemplate
from relance.documents import letters, typesetting

pytestmark = pytest.mark.usefixtures("in_english")

D = dt.date(2026, 3, 20)  # the shipped French tables know 2026-H1
KEY = ("letter", "fr", "formal_notice")
OWN = '#import "/relance.typ": *\n#let body(d) = [Notre texte à nous. #invoices(d)]\n'
# A Typst mistake on line 3 of the source: a call never closed.
BROKEN = '#import "/relance.typ": *\n#let body(d) = [\n  Bonjour #invoices(d\n]\n'


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(dt.datetime(2026, 3, 20, 9, 30, tzinfo=ZoneInfo("Europe/Paris")))


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR


@pytest.fixture
def acme(org):
    org.legal_name, org.siren = "Acme Industrie SAS", "732829320"
    org.address = "12 rue de la Paix\n75002 Paris"
    org.iban, org.bic = "FR7630006000011234567890189", "AGRIFRPP"
    org.save()
    return org


@pytest.fixture
def dupont(acme):
    customer = make.customer(acme, "C-0042", legal_name="Dupont Bâtiment SARL")
    make.address(customer, "4 avenue des Tilleuls", postcode="69003", city="Lyon")
    make.invoice(customer, "FA-0001", due=D - dt.timedelta(days=40), amount="1200.50")
    return customer


@pytest.fixture
def manager(acme):
    return make.member(acme, "manager@acme.test", "manager")


def signed_in(client, user):
    client.force_login(user)
    return client


def edit_url(*key):
    return reverse("console:template", args=key or KEY)


def draft_url(kind, language="fr", slug="formal_notice"):
    return reverse("console:template_letter", args=[language, slug, kind])


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def written(org, customer) -> str:
    _, pdf = letters.write(letters.for_customer(org, customer, "formal_notice", D))
    return text_of(pdf)


def test_it_lists_the_letters_with_the_other_templates(client, acme, manager):
    MessageTemplate.objects.create(
        organisation=acme, channel="letter", language="en", slug="thanks", part="typ", body=OWN
    )
    page = signed_in(client, manager).get(reverse("console:templates")).content.decode()
    shipped = typesetting.shipped_slugs()
    assert shipped["fr"] == shipped["en"] and "formal_notice" in shipped["fr"]
    for slug in shipped["fr"]:
        row = re.search(rf'<tr data-template="{slug}" data-channel="letter">.*?</tr>', page, re.S)
        assert row is not None
        for language in ("fr", "en"):
            assert f'href="{edit_url("letter", language, slug)}"' in row.group()
    thanks = re.search(r'<tr data-template="thanks" data-channel="letter">.*?</tr>', page, re.S)
    assert thanks is not None and thanks.group().count("own wording") == 1
    assert "first_reminder" in page  # the e-mails are still there


def test_it_shows_the_typst_source_and_where_the_data_is_told(client, manager):
    page = signed_in(client, manager).get(edit_url())
    body = page.content.decode()
    assert page.status_code == 200
    assert 'name="typ"' in body and 'name="subject"' not in body and 'name="html"' not in body
    assert "mettons en demeure" in body  # the shipped wording in force
    assert "docs/letters.md" in body and "body(d)" in body


def test_it_saves_a_source_that_compiles_and_the_next_letter_uses_it(client, acme, dupont, manager):
    assert "Notre texte à nous." not in written(acme, dupont)
    saved = signed_in(client, manager).post(edit_url(), {"typ": OWN, "op": "save"})
    assert saved.status_code == 302
    row = MessageTemplate.objects.get(organisation=acme)
    assert (row.channel, row.language, row.slug, row.part, row.body) == (*KEY, "typ", OWN)
    text = written(acme, dupont)
    assert "Notre texte à nous." in text and "FA-0001" in text
    assert "mettons en demeure" not in text
    event = AuditEvent.objects.get(action="template.updated")
    assert event.user_id == manager.pk and event.data["parts"] == ["typ"]

    client.post(edit_url() + "reset/")
    assert not MessageTemplate.objects.exists()
    assert AuditEvent.objects.get(action="template.reset").user_id == manager.pk
    assert "mettons en demeure" in written(acme, dupont)


def test_it_refuses_a_broken_source_with_typsts_message_and_line(client, acme, manager):
    page = signed_in(client, manager).post(edit_url(), {"typ": BROKEN, "op": "save"})
    assert page.status_code == 200
    errors = re.search(r'id="template-errors".*?</div>', page.content.decode(), re.S)
    assert errors is not None
    assert "Typst, line 3: Unclosed delimiter" in errors.group()  # the field by its label
    assert not MessageTemplate.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="template.").exists()
    # A mistake that shows only with the letter's data (a key ``d`` does not have).
    unknown = '#import "/relance.typ": *\n#let body(d) = [\n\n #d.no_such_key]\n'
    page = client.post(edit_url(), {"typ": unknown, "op": "save"}).content.decode()
    assert "Typst, line 4: Dictionary does not contain key &quot;no_such_key&quot;" in page
    assert not MessageTemplate.objects.exists()


def test_it_previews_the_draft_on_a_customer_as_an_image_and_a_pdf(
    client, acme, dupont, manager, data_dir
):
    client = signed_in(client, manager)
    draft = OWN.replace("Notre texte", "Brouillon pas encore enregistré")
    partial = client.post(edit_url() + "preview/", {"typ": draft, "customer": dupont.pk})
    body = partial.content.decode()
    assert partial.status_code == 200 and "Dupont Bâtiment SARL" in body
    image_url = re.search(r'<img [^>]*id="preview-letter" src="([^"]+)"', body)
    pdf_url = re.search(r'href="([^"]+)" id="preview-pdf"', body)
    assert image_url is not None and pdf_url is not None
    image = client.get(image_url.group(1).replace("&amp;", "&"))
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    policy = image["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script" not in policy and "style" not in policy
    width, height = Image.open(io.BytesIO(image.content)).size
    assert (width, height) == (794, 1123)  # one A4 page at 96 pixels per inch

    pdf = client.get(pdf_url.group(1).replace("&amp;", "&"))
    assert pdf["Content-Type"] == "application/pdf" and "attachment" in pdf["Content-Disposition"]
    text = text_of(pdf.content)
    assert "Brouillon pas encore enregistré" in text and "FA-0001" in text
    assert "DUPONT BÂTIMENT SARL" in text  # in the envelope's window

    # The draft is nowhere but in the preview: not stored, not in the organisation's
    # directory, which the letters being sent read.
    assert not MessageTemplate.objects.exists()
    project = letters.project_of(acme)
    assert (project.root / "fr" / "formal_notice.typ").read_text() == (
        typesetting.shipped_source("fr", "formal_notice")
    )
    found = [p for p in data_dir.rglob("*.typ") if "Brouillon" in p.read_text()]
    assert found == []
    assert "Brouillon" not in written(acme, dupont)


def test_it_says_why_no_letter_can_be_written_for_the_customer(client, acme, manager):
    homeless = make.customer(acme, "C-0099", legal_name="Sans Adresse SAS")
    make.invoice(homeless, "FA-0099", due=D - dt.timedelta(days=40))
    client = signed_in(client, manager)
    body = client.get(edit_url(), {"customer": homeless.pk}).content.decode()
    assert "Sans Adresse SAS has no postal address" in body
    assert 'id="preview-letter"' not in body
    assert client.get(draft_url("png"), {"customer": homeless.pk}).status_code == 422

    # Nothing fallen due: no reminder to write.
    early = make.customer(acme, "C-0100", legal_name="Pas Encore SAS")
    make.address(early)
    make.invoice(early, "FA-0100", due=D + dt.timedelta(days=10))
    body = client.get(edit_url(), {"customer": early.pk}).content.decode()
    assert "No such letter can be written for this customer today" in body


def test_it_says_a_letter_would_be_held_for_a_rate_unknown(client, acme, manager, time_machine):
    time_machine.move_to(dt.datetime(2036, 5, 1, 9, tzinfo=ZoneInfo("Europe/Paris")))
    customer = make.customer(acme, "C-0101", legal_name="Plus Tard SAS")
    make.address(customer)
    make.invoice(customer, "FA-0101", due=dt.date(2036, 3, 1))
    body = signed_in(client, manager).get(edit_url(), {"customer": customer.pk}).content
    assert "a rate they need is unknown" in body.decode()
    assert 'id="preview-letter"' not in body.decode()


def test_it_previews_an_example_letter_when_there_is_no_customer(client, acme, manager):
    body = signed_in(client, manager).get(edit_url("letter", "en", "statement")).content
    image_url = re.search(r'id="preview-letter" src="([^"]+)"', body.decode())
    assert image_url is not None
    image = client.get(image_url.group(1).replace("&amp;", "&"))
    assert image["Content-Type"] == "image/png" and image.content.startswith(b"\x89PNG")


def test_it_keeps_saving_and_previewing_to_managers(client, acme, dupont):
    for role in ("viewer", "collector"):
        client.force_login(make.member(acme, f"{role}@acme.test", role))
        assert client.get(reverse("console:templates")).status_code == 200
        assert client.get(edit_url()).status_code == 403
        assert client.post(edit_url(), {"typ": OWN, "op": "save"}).status_code == 403
        assert client.post(edit_url() + "preview/", {"typ": OWN}).status_code == 403
        assert client.get(draft_url("png"), {"customer": dupont.pk}).status_code == 403
        assert client.post(edit_url() + "reset/").status_code == 403
    assert not MessageTemplate.objects.exists()


def test_it_never_previews_on_another_organisations_customer(client, acme, other_org, manager):
    stranger = make.customer(other_org, "G-1", legal_name="Globex Client SAS")
    make.address(stranger)
    make.invoice(stranger, "G-0001", due=D - dt.timedelta(days=40))
    client = signed_in(client, manager)
    assert client.get(edit_url(), {"customer": stranger.pk}).status_code == 404
    post = client.post(edit_url() + "preview/", {"typ": OWN, "customer": stranger.pk})
    assert post.status_code == 404
    for kind in ("png", "pdf"):
        assert client.get(draft_url(kind), {"customer": stranger.pk}).status_code == 404
    # Without a customer named, the page picks one of the organisation's own.
    assert "Globex Client" not in client.get(edit_url()).content.decode()
