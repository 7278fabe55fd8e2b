"""Imports in a real browser: a file with an error, the error by row, the fix, the import;
the progress of a larger file. Screenshots of each step at desktop and phone widths."""

from __future__ import annotations

import re
import time
from pathlib import Path

import factories
import pytest
from browsing import (
    BROWSER_TESTS,
    DESKTOP,
    MANAGER,
    PHONE,
    fits_a_phone,
    managed,
    shoot,
    shoot_both,
    signed_in,
    upload,
)
from playwright.sync_api import Error as PlaywrightError

pytestmark = BROWSER_TESTS

HEADER = "Code client;Raison sociale;N° facture;Date;Échéance;Montant TTC"
ROWS = [
    "C001;ACME Industrie;FA-001;15/01/2026;14/02/2026;1 200,00",
    "C002;Globex;FA-002;31/02/2026;19/03/2026;540,50",  # row 3: no 31 February
    "C003;Initech;FA-003;05/02/2026;07/03/2026;75,00",
]
COLUMNS = {
    "customer-reference": "Code client",
    "customer-legal_name": "Raison sociale",
    "invoice-number": "N° facture",
    "invoice-issue_date": "Date",
    "invoice-due_date": "Échéance",
    "invoice-amount": "Montant TTC",
}


def write(path: Path, rows: list[str]) -> Path:
    return factories.text_file(path, [HEADER, *rows])


@pytest.fixture
def manager(transactional_db, settings, tmp_path):
    return managed(settings, tmp_path, name="Acme Industrie SAS")


def test_it_imports_a_file_after_fixing_the_error_of_its_row(manager, live_server, page, tmp_path):
    from relance.ledger.models import Customer, ImportRun

    base = signed_in(page, live_server)
    page.goto(f"{base}/imports/")
    assert page.locator("#upload-button").inner_text() == "Téléverser"  # a verb, not the step
    shoot_both(page, "imports-list-empty")

    upload(page, base, write(tmp_path / "export.csv", ROWS))
    assert page.locator("#file-sample").inner_text().count("ACME Industrie") == 1
    for field, column in COLUMNS.items():
        page.select_option(f"#column-{field}", column)
    page.fill("#mapping-name", "erp")
    shoot_both(page, "imports-mapping")
    fits_a_phone(page, "#file-sample", "#mapping-fields")  # a card per row, per field
    page.click("#save-mapping")

    problems = page.locator("#import-problems")
    problems.wait_for()
    row = problems.locator("tbody tr").filter(has_text="31/02/2026")
    assert row.locator("td").nth(0).inner_text() == "3"
    assert row.locator("td").nth(1).inner_text() == "Date"
    assert page.locator("#confirm-import").count() == 0
    assert not Customer.objects.exists()  # nothing written
    shoot_both(page, "imports-errors")
    fits_a_phone(page, "#import-problems")  # a card per problem, its message whole

    # The fix: the corrected file, uploaded for the same import; the mapping stays.
    fixed = write(tmp_path / "export-corrige.csv", [r.replace("31/02", "28/02") for r in ROWS])
    page.set_input_files("#replace-file", str(fixed))
    page.click("#replace-button")
    page.locator("#confirm-import").wait_for()
    assert "FA-002" in page.locator("#preview-rows").inner_text()
    assert not Customer.objects.exists()
    shoot_both(page, "imports-preview")
    fits_a_phone(page, "#preview-rows", "#preview-changes")
    # What each row is and what changes, in the page's language.
    assert page.locator("#preview-rows tbody tr td").nth(1).inner_text() == "Facture"
    assert page.locator("#preview-changes tbody tr td").nth(0).inner_text() == "création"

    page.click("#confirm-import")
    page.locator('#import-status[data-state="done"]').wait_for()
    shoot_both(page, "imports-done")
    references = set(Customer.objects.values_list("reference", flat=True))
    assert references == {"C001", "C002", "C003"}
    run = ImportRun.objects.get()
    assert run.file_name == "export-corrige.csv" and run.user.email == MANAGER

    page.goto(f"{base}/imports/")
    assert "export-corrige.csv" in page.locator("#import-runs").inner_text()
    shoot_both(page, "imports-list")
    fits_a_phone(page, "#import-runs")  # a card per import, what it changed whole


def test_it_shows_the_progress_of_a_larger_file(manager, live_server, phone, tmp_path, settings):
    from relance.ledger.models import Invoice

    settings.RELANCE_IMPORT_BACKGROUND_BYTES = 100_000
    page = phone
    rows = [
        f"C{n % 2000:05d};Client {n % 2000};F{n:06d};15/01/2026;14/02/2026;{n % 900 + 10},00"
        for n in range(40_000)
    ]
    base = signed_in(page, live_server)
    upload(page, base, write(tmp_path / "grand-livre.csv", rows))
    for field, column in COLUMNS.items():
        page.select_option(f"#column-{field}", column)
    page.fill("#mapping-name", "erp")
    page.click("#save-mapping")

    seen = watch(page, "preview-ok")
    assert seen, "no progress shown while the preview ran"
    page.locator("#confirm-import").click()
    seen = watch(page, "done", shots="imports-progress")
    assert seen, "no progress shown while the import ran"
    assert any(re.search(r"\d", text) for text in seen), seen
    assert Invoice.objects.count() == 40_000
    shoot(page, "imports-progress-done")


def watch(page, state: str, shots: str | None = None) -> list[str]:
    """What the polled status said until it reached ``state`` (htmx reloads the page then)."""
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            current = page.locator("#import-status").get_attribute("data-state", timeout=10_000)
            if current == state:
                return seen
            text = (
                page.locator("#import-phase").inner_text(timeout=500)
                if current == "running"
                else ""
            )
        except PlaywrightError:  # the page reloading as the work ends
            time.sleep(0.2)
            continue
        if text:
            if shots and not seen:
                shoot(page, shots)
                page.set_viewport_size(DESKTOP)
                shoot(page, shots)
                page.set_viewport_size(PHONE)
            seen.append(text)
        time.sleep(0.3)
    raise AssertionError(f"never reached {state}: {seen}")
