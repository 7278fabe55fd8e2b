"""The console's import page in a real browser for e-invoices and bank statements: a ZIP of
e-invoices previewed file by file and imported, then a CAMT.053 statement whose credits are
matched or proposed, with a link to the bank queue. Screenshots at desktop and phone widths."""

from __future__ import annotations

import re
import zipfile

import pytest
from browsing import (
    BROWSER_TESTS,
    DESKTOP,
    PHONE,
    managed,
    overflow,
    shoot_both,
    signed_in,
    upload,
)
from test_bank import camt
from test_import_einvoices import OUR_SIREN, ubl

pytestmark = BROWSER_TESTS


@pytest.fixture
def acme(transactional_db, settings, tmp_path):
    return managed(settings, tmp_path, name="Acme SAS", siren=OUR_SIREN)


def preview_and_import(page) -> None:
    page.click("#preview-button")
    page.wait_for_selector("#import-status[data-state='preview-ok']")


def test_it_imports_a_zip_of_einvoices_then_a_bank_statement(acme, live_server, page, tmp_path):
    from relance.ledger.models import Invoice

    base = signed_in(page, live_server)
    archive = tmp_path / "factures-novembre.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("FA-2026-101.xml", ubl("FA-2026-101", total="1200.00"))
        z.writestr("FA-2026-102.xml", ubl("FA-2026-102", total="540.50"))
        z.writestr("FA-2026-103.xml", ubl("FA-2026-103", total="75.00"))
        z.writestr("autre-vendeur.xml", ubl("X-1", seller_siren="552100554"))
        z.writestr("illisible.xml", b"<Invoice")

    upload(page, base, archive)
    assert page.locator("#file-format").get_attribute("data-format") == "einvoice"
    preview_and_import(page)
    report = page.locator("#einvoice-report")
    assert report.locator("tr[data-status='would import']").count() == 3
    assert report.locator("tr[data-status='refused']").count() == 2
    # The console speaks French by default, the broken file's problem too: where and what.
    assert (
        "illisible.xml n'est pas un XML bien formé, ligne 1, colonne 9\u00a0: une balise n'est"
        " pas fermée par «\u00a0>\u00a0»." in report.inner_text()
    )
    assert page.locator("#confirm-import").inner_text() == "Importer"  # a verb, not the step
    shoot_both(page, "import-einvoices-preview")
    # A table at desktop width; on a phone a card per file, each value after its column's
    # name, nothing scrolling sideways.
    height = "el => el.getBoundingClientRect().height"
    assert report.locator("thead").evaluate(height) > 20
    page.set_viewport_size(PHONE)
    assert report.locator("thead").evaluate(height) <= 1  # for screen readers only
    assert overflow(page, "#einvoice-report") == 0
    assert overflow(page, "#einvoice-report >> xpath=..") == 0  # its .table-wrap
    cells = report.locator("tr[data-status='would import']").first.locator("td")
    assert cells.evaluate_all("tds => tds.map(td => getComputedStyle(td, '::before').content)") == [
        "none",
        '"Résultat"',
        '"Facture"',
        '"Client"',
        '"Échéance"',
        '"Montant"',
    ]
    page.set_viewport_size(DESKTOP)
    page.click("#confirm-import")
    page.wait_for_selector("#import-status[data-state='done']")
    assert page.locator("#einvoice-report tr[data-status='imported']").count() == 3
    shoot_both(page, "import-einvoices-done")
    invoices = {i.number: i for i in Invoice.objects.filter(organisation=acme)}
    assert sorted(invoices) == ["FA-2026-101", "FA-2026-102", "FA-2026-103"]

    # The bank pays one invoice by its number, part of another, and something unknown.
    first, second = invoices["FA-2026-101"], invoices["FA-2026-102"]
    statement = tmp_path / "releve-2026-11-23.xml"
    statement.write_text(camt([
        {"ref": "B1", "amount": first.amount, "ustrd": f"FACTURE {first.number}"},
        {"ref": "B2", "amount": second.amount - 40, "ustrd": f"ACOMPTE {second.number}"},
        {"ref": "B3", "amount": "12.34", "ustrd": "DIVERS"},
        {"ref": "B4", "amount": "30.00", "debit": True},
    ]))  # fmt: skip
    upload(page, base, statement)
    assert page.locator("#file-format").get_attribute("data-format") == "camt053"
    preview_and_import(page)
    counts = page.locator("#bank-report")
    assert counts.locator("[data-count='matched'] td.num").inner_text() == "1"
    assert counts.locator("[data-count='proposed'] td.num").inner_text() == "1"
    assert counts.locator("[data-count='unmatched'] td.num").inner_text() == "1"
    shoot_both(page, "import-camt-preview")
    page.click("#confirm-import")
    page.wait_for_selector("#import-status[data-state='done']")
    assert counts.locator("[data-count='matched'] td.num").inner_text() == "1"
    shoot_both(page, "import-camt-done")
    first.refresh_from_db()
    assert first.balance == 0
    page.click("#bank-queue-link")
    page.wait_for_url(re.compile(r"/bank/$"))
    assert page.locator("[data-testid='bank-line']").count() == 2
