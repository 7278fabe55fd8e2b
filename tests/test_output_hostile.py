"""What a hostile name, number or file name becomes where Relance writes it back: a letter
typeset by Typst, a reminder's HTML part, the console's pages. All of it held (the tests keep
it so): Typst gets the data as JSON, never as markup, and every page and HTML part escapes."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal

import factories as f
import pypdf
import pytest
from test_import_einvoices import OUR_SIREN, TODAY
from test_reminder_content import IDENTITY, parts

from relance.accounts.identity import update_identity
from relance.documents import letters
from relance.dunning import outbox
from relance.dunning.engine import run
from relance.ledger.imports import ImportFailed, import_file
from relance.ledger.models import ImportRun

pytestmark = pytest.mark.django_db

# Typst markup (a function call, a closing bracket, an escape, strong text, maths) and HTML.
TYPST = '#panic("typst ran") ] \\ *strong* $x$ #read("/etc/passwd")'
HTML = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def test_a_letter_prints_a_name_written_in_typst_markup_as_text(db):
    org = f.organisation("acme", legal_name="Acme Industrie SAS", siren="732829320",
                         address="12 rue de la Paix\n75002 Paris")  # fmt: skip
    customer = f.customer(org, "C-1", legal_name=TYPST)
    f.address(customer, "4 avenue #text(red)[des Tilleuls]", postcode="69003", city="Lyon ]")
    f.invoice(customer, "FA-#1]", due=dt.date(2026, 2, 1), amount=Decimal("100.00"))
    request = letters.for_customer(org, customer, "reminder", dt.date(2026, 3, 20), language="fr")
    _letter, pdf = letters.write(request)
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages).replace(
        "\n", " "
    )
    # The address block prints the name in capitals, and may break a line anywhere: each
    # part is found as written, spaces aside.
    squeezed = text.replace(" ", "")
    for part in ('#PANIC("TYPSTRAN")]\\*STRONG*$X$#READ("/ETC/PASSWD")', "FA-#1]",
                 "4AVENUE#TEXT(RED)[DESTILLEULS]", "LYON]"):  # fmt: skip
        assert part in squeezed, part
    assert "root:" not in text


def test_a_reminders_html_part_escapes_names_and_numbers(mail, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC), tick=True)
    day = dt.date(2026, 11, 23)
    org = f.organisation("acme")
    update_identity(org, IDENTITY)
    customer = f.customer(org, "C-1", legal_name=HTML, email="factures@durand.test")
    f.invoice(customer, "F-<b>1</b>", due=day - dt.timedelta(days=5))
    f.scenario(org)
    run(org, day)
    assert outbox.send_due(today=day).counts["sent"] == 1
    _message, text, html = parts(mail.received[0])
    assert "F-<b>1</b>" in text  # the text part is text
    assert "F-&lt;b&gt;1&lt;/b&gt;" in html and "<b>1</b>" not in html
    assert "<script>" not in html and "onerror=" not in html.replace("onerror=&quot;", "")


def test_the_console_escapes_a_customers_name_and_notes(client, org):
    customer = f.customer(org, "C-1", legal_name=HTML, notes=HTML)
    client.force_login(f.member(org, "alice@acme.test", "admin"))
    page = client.get(f"/customers/{customer.pk}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page and "<img src=x" not in page


def test_the_console_escapes_the_file_names_of_an_import_report(client, tmp_path):
    acme = f.organisation("acme", siren=OUR_SIREN, name="Acme SAS")
    path = tmp_path / "<img src=x onerror=alert(3)>.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{HTML}.xml", b"not xml")
    with pytest.raises(ImportFailed):
        import_file(acme, path, as_of=TODAY)
    run_ = ImportRun.objects.get(organisation=acme)
    client.force_login(f.member(acme, "alice@acme.test", "admin"))
    for url in (f"/imports/runs/{run_.pk}/", "/imports/"):
        page = client.get(url).content.decode()
        assert "&lt;img src=x onerror=alert(3)&gt;.zip" in page, url
        assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;"
        in client.get(f"/imports/runs/{run_.pk}/").content.decode()
    )
