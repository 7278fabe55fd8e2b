"""The page a form gets when Django refuses it before any view reads it (more files at once
than the console takes), in a real browser: the console's look, in French and in English,
saying what to do and leading back to the form. Screenshots at desktop and phone widths."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from browsing import BROWSER_TESTS, managed, shoot_both, signed_in
from test_import_einvoices import OUR_SIREN, ubl

pytestmark = BROWSER_TESTS


@pytest.fixture
def acme(transactional_db, settings, tmp_path):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    return managed(settings, tmp_path, name="Acme SAS", siren=OUR_SIREN)


def too_many_files(page, base: str, folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    files = []
    for n in range(4):
        files.append(folder / f"FA-{n}.xml")
        files[-1].write_bytes(ubl(f"FA-{n}"))
    page.goto(f"{base}/imports/")
    page.set_input_files("#import-file", [str(f) for f in files])
    page.click("#upload-button")
    page.wait_for_selector("#bad-request")


def test_too_many_files_get_the_consoles_page_saying_what_to_do(acme, live_server, page, tmp_path):
    base = signed_in(page, live_server)
    too_many_files(page, base, tmp_path / "files")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.title() == "Trop de fichiers à la fois · Relance"
    card = page.locator("#bad-request")
    assert "Envoyez au plus 3 fichiers à la fois, ou un ZIP de ces fichiers." in card.inner_text()
    assert page.locator("link[rel=stylesheet]").count() == 1  # the console's stylesheet
    assert page.locator(".topbar .who").inner_text() == "manon@acme.test"
    shoot_both(page, "bad-request-too-many-files")

    page.get_by_role("link", name="Revenir à la page").click()
    page.wait_for_url(re.compile(r"/imports/$"))
    assert not list((tmp_path / "media").rglob("*.xml"))  # nothing kept


def test_the_page_speaks_english_to_who_chose_it(acme, live_server, page, tmp_path):
    base = signed_in(page, live_server)
    page.goto(f"{base}/imports/")
    page.locator(".languages button[value='en']").click()
    page.wait_for_load_state()
    too_many_files(page, base, tmp_path / "files")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Send at most 3 files at once, or a ZIP of them." in page.inner_text("#bad-request")
    assert page.get_by_role("link", name="Back to the page").is_visible()
    shoot_both(page, "bad-request-too-many-files-en")


def test_choosing_a_language_there_leads_back_to_the_form(acme, live_server, page, tmp_path):
    base = signed_in(page, live_server)
    too_many_files(page, base, tmp_path / "files")
    page.locator(".languages button[value='en']").click()
    page.wait_for_url(re.compile(r"/imports/$"))
    assert page.locator("html").get_attribute("lang") == "en"


def test_a_portal_form_too_large_gets_the_portals_page_in_the_customers_language(
    acme, live_server, page, settings
):
    """The debtor's portal has its own look and speaks the customer's language (English here,
    to a French browser): its 400 page too, with no link into the console, leading back to
    the form."""
    import factories

    from relance.portal import links

    settings.RELANCE_BASE_URL = live_server.url
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    smith = factories.customer(acme, "C-EN", legal_name="Smith Ltd", language="en")
    factories.invoice(smith, "FA-1", due=dt.date.today() - factories.days(10), amount="480.00")
    page.goto(links.url_for(smith) + "dispute/")
    page.locator("#id_comment").fill("The pallets were late and two were missing. " * 40)
    page.locator("#submit").click()
    page.wait_for_selector("#bad-request")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.title() == "Request too large · Acme SAS"
    assert "The form's fields are too large: shorten them." in page.inner_text("#bad-request")
    assert "relance import" not in page.content()
    assert page.locator("link[rel=stylesheet]").get_attribute("href").endswith("portal/portal.css")
    assert page.locator(".banner .who").inner_text() == "Smith Ltd"
    assert page.locator(".topbar, nav.nav").count() == 0  # nothing of the console
    shoot_both(page, "portal-bad-request")

    page.get_by_role("link", name="Back to the page").click()
    page.wait_for_url(re.compile(r"/dispute/$"))
