"""The pages of the errors no view answers (400, 403, 404, 500): the console's look for the
console, the portal's for a request to the portal (its stylesheet, the link's organisation
and the customer's language, no link into the console)."""

from __future__ import annotations

import factories as make
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.test import Client, RequestFactory
from django.utils import translation

from relance.console import errors
from relance.portal import links

pytestmark = pytest.mark.django_db

CONSOLE_CSS = "/static/console/relance.css"
PORTAL_CSS = "/static/portal/portal.css"


@pytest.fixture(autouse=True)
def _no_language_left():
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def acme(settings):
    settings.RELANCE_BASE_URL = "https://relance.example"
    return make.organisation("acme", name="Acme Industrie SAS", email="compta@acme.test")


def portal_path(acme, language: str) -> str:
    customer = make.customer(acme, f"C-{language}", legal_name="Smith Ltd", language=language)
    return links.url_for(customer).removeprefix("https://relance.example")


def assert_portal_page(page, status: int, *texts: str) -> str:
    html = page.content.decode()
    assert page.status_code == status
    assert PORTAL_CSS in html and CONSOLE_CSS not in html
    assert 'href="/"' not in html and "/settings/" not in html  # nothing of the console
    for text in texts:
        assert text in html, text
    return html


def test_too_many_files_sent_to_the_portal_get_its_page_in_the_customers_language(
    client, acme, settings
):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 1
    path = portal_path(acme, "en") + "dispute/"
    files = [SimpleUploadedFile(f"{n}.pdf", b"%PDF-1.4\n") for n in range(2)]
    page = client.post(path, {"attachment": files}, HTTP_ACCEPT_LANGUAGE="fr")
    html = assert_portal_page(
        page, 400, '<html lang="en">', "Too many files at once",
        "Send at most 1 files at once, or a ZIP of them.",
        "Nothing of this form was kept", "Acme Industrie SAS", "compta@acme.test",
    )  # fmt: skip
    assert f'href="{path.removesuffix("dispute/")}"' in html  # back to the customer's page
    assert "Back to your account" in html
    assert page["Cache-Control"] == "no-store, private"


def test_fields_too_large_for_the_portal_say_so_without_the_command_line(client, acme, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    path = portal_path(acme, "fr") + "promise/"
    page = client.post(path, {"comment": "x" * 200}, HTTP_REFERER=f"http://testserver{path}")
    html = assert_portal_page(
        page, 400, '<html lang="fr">', "Requête trop volumineuse",
        "Les champs du formulaire sont trop volumineux\u00a0: raccourcissez-les.",
        f'href="http://testserver{path}"', "Revenir à la page",
    )  # fmt: skip
    assert "relance import" not in html


def test_the_console_keeps_its_own_400_page(client, acme, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    client.force_login(make.member(acme, "manon@acme.test", "manager"))
    page = client.post("/imports/upload/", {"comment": "x" * 200})
    html = page.content.decode()
    assert page.status_code == 400 and CONSOLE_CSS in html and 'id="bad-request"' in html
    assert "relance import" in html and "Revenir à Aujourd&#x27;hui" in html


def test_an_expired_form_of_the_portal_gets_its_403_page(acme):
    client = Client(enforce_csrf_checks=True)
    path = portal_path(acme, "fr") + "promise/"
    page = client.post(path, {"date": "2026-12-31"})
    assert_portal_page(
        page, 403, "Ce formulaire a expiré", "rechargez la page", "Revenir à votre compte",
        "Acme Industrie SAS",
    )  # fmt: skip


def test_an_expired_form_of_the_console_gets_the_consoles_403_page(acme):
    client = Client(enforce_csrf_checks=True)
    page = client.post("/login/", {"username": "x", "password": "y"}, HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 403 and CONSOLE_CSS in html and 'id="forbidden"' in html
    assert "This form has expired" in html and "browser may be refusing" in html


def test_an_unknown_portal_address_gets_the_portals_404_page(client, acme):
    path = portal_path(acme, "en") + "no-such-page/"
    assert_portal_page(client.get(path), 404, "Page not found", "Acme Industrie SAS")
    # A token that is no link's: the portal's page still, naming no one.
    html = assert_portal_page(client.get("/p/" + "x" * 43 + "/nothing/"), 404, "Page introuvable")
    assert "Acme" not in html


def test_an_unknown_console_address_gets_the_consoles_404_page(client, acme):
    client.force_login(make.member(acme, "manon@acme.test", "manager"))
    page = client.get("/no-such-page/")
    html = page.content.decode()
    assert page.status_code == 404 and CONSOLE_CSS in html and 'id="not-found"' in html
    assert "Page introuvable" in html and "manon@acme.test" in html


def test_a_role_that_may_not_gets_the_consoles_403_page(client, acme):
    client.force_login(make.member(acme, "victor@acme.test", "viewer"))
    page = client.post("/settings/members/", {"action": "remove", "email": "x@acme.test"})
    html = page.content.decode()
    assert page.status_code == 403 and 'id="forbidden"' in html
    assert "Votre fonction ne permet pas cette page ou cette action." in html


@pytest.mark.parametrize(("path", "css"), [("/p/" + "x" * 43 + "/", PORTAL_CSS),
                                           ("/customers/", CONSOLE_CSS)])  # fmt: skip
def test_a_server_error_page_needs_no_database(path, css, django_assert_num_queries):
    request = RequestFactory().get(path)
    with translation.override("fr"), django_assert_num_queries(0):
        page = errors.server_error(request)
    html = page.content.decode()
    assert page.status_code == 500 and css in html and 'id="server-error"' in html
    assert "Une erreur est survenue" in html


# -- a body too large, refused before anything reads it -------------------------------------


class Received(FileUploadHandler):
    """Counts the bytes of files Django reads from a request (a spy in FILE_UPLOAD_HANDLERS)."""

    total = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        Received.total += len(raw_data)

    def file_complete(self, file_size: int) -> None:
        return None


@pytest.fixture
def received(settings):
    settings.FILE_UPLOAD_HANDLERS = ["test_error_pages.Received"]
    Received.total = 0
    return Received


def with_token(client: Client, path: str) -> dict[str, str]:
    """The form's CSRF token, as a browser that opened the page would send it."""
    client.get(path)
    return {"csrfmiddlewaretoken": client.cookies["csrftoken"].value}


def big(size: int) -> SimpleUploadedFile:
    return SimpleUploadedFile("big.pdf", b"%PDF-1.4\n" + b"0" * size)


@pytest.mark.parametrize("who", ["visitor", "member"])
def test_a_console_form_too_large_is_refused_before_its_file_is_read(acme, received, settings, who):
    settings.RELANCE_IMPORT_MAX_BYTES = 100_000
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    path = "/login/"
    if who == "member":
        client.force_login(make.member(acme, "manon@acme.test", "manager"))
        path = "/imports/upload/"
    size = 70_000 if who == "visitor" else 200_000  # a sign-in takes no file at all
    page = client.post(path, {**with_token(client, "/login/"), "file": big(size)})
    html = page.content.decode()
    assert page.status_code == 413 and CONSOLE_CSS in html and 'id="too-large"' in html
    said = "This form takes no file." if who == "visitor" else "files of 97.7\xa0KB at most"
    assert said in html and "Nothing of this form was kept" in html
    assert received.total == 0


def test_a_portal_form_too_large_is_refused_before_its_file_is_read(acme, received, settings):
    settings.RELANCE_PORTAL_UPLOAD_MAX_BYTES = 1000
    client = Client(enforce_csrf_checks=True)
    path = portal_path(acme, "en") + "dispute/"
    page = client.post(path, {**with_token(client, path), "attachment": big(100_000)})
    html = assert_portal_page(
        page, 413, '<html lang="en">', "File too large", "Send a file of 1000\xa0bytes at most.",
        "Back to your account", "Acme Industrie SAS",
    )  # fmt: skip
    assert "relance import" not in html
    assert page["Cache-Control"] == "no-store, private" and "noindex" in page["X-Robots-Tag"]
    assert received.total == 0
    # Within the bound the form is read, and the action says what is wrong with the file.
    answer = client.post(path, {**with_token(client, path), "attachment": big(2000)})
    assert answer.status_code == 400 and received.total > 0


def test_the_api_and_the_webhooks_bound_their_own_bodies(acme):
    from relance.console.bodysize import file_bytes_for

    factory = RequestFactory()
    for path in ("/api/v1/invoices/bulk", "/api/nowhere", "/checkout/stripe/acme/webhook/"):
        assert file_bytes_for(factory.post(path)) is None, path
