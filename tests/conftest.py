"""Shared fixtures: a fixed cast of organisations and users, and helpers to write files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# The embedded default keeps its files in a data directory: never the developer's own, and
# not one that the suites on SQLite and PostgreSQL, running side by side, would share.
os.environ.setdefault("RELANCE_DATA_DIR", tempfile.mkdtemp(prefix="relance-test-"))

import pytest
from django.conf import settings as _settings
from hypothesis import HealthCheck
from hypothesis import settings as _hypothesis

# The suites on SQLite and PostgreSQL run side by side on two cores: how fast examples are
# drawn, or how long one example takes, says how loaded the machine is, not whether the
# code is right: no deadline (a timing asserted). Every other check of Hypothesis stays on.
_hypothesis.register_profile("relance", suppress_health_check=[HealthCheck.too_slow], deadline=None)
_hypothesis.load_profile("relance")

# pytest-django has read the settings before this file: what they derived from the data
# directory follows it too (the commands the tests start read the variable above).
_DATA = Path(os.environ["RELANCE_DATA_DIR"])
_settings.DATA_DIR = _DATA
_settings.MEDIA_ROOT = _DATA / "media"


# scripts/test runs the suite twice side by side, on SQLite and on PostgreSQL, and names the
# side of each run in RELANCE_TEST_SIDE. A test marked ``once(side)`` checks the same thing
# whichever database the suite runs on (its commands run on SQLite files of their own, or
# its pages only render): it runs in that side's run only. A run without the variable (a
# plain ``pytest``) runs it.
#
# So does, without a marker, a test that cannot reach the database: no database fixture
# (pytest-django refuses any query without one) in a module that names neither the
# database's URL nor its vendor (where a test may start processes on the environment's
# database, or take a path by vendor without a query). It runs once, on the side NO_DATABASE
# names (the PostgreSQL side is the longer one).
SIDES = ("sqlite", "postgresql")
NO_DATABASE = "sqlite"
DATABASE_FIXTURES = {
    "db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback",
    "live_server",
}  # fmt: skip
DATABASE_WORDS = ("DATABASE_URL", "DATABASES", "vendor")


def _reaches_no_database(item: pytest.Item, sources: dict[str, str]) -> bool:
    if item.get_closest_marker("django_db") or DATABASE_FIXTURES & set(
        getattr(item, "fixturenames", ())
    ):
        return False
    path = str(item.path)
    if path not in sources:
        sources[path] = item.path.read_text()
    return not any(word in sources[path] for word in DATABASE_WORDS)


def pytest_collection_modifyitems(config, items):
    side = os.environ.get("RELANCE_TEST_SIDE", "")
    if side and side not in SIDES:
        raise pytest.UsageError(f"RELANCE_TEST_SIDE={side!r}: one of {', '.join(SIDES)}")
    sources: dict[str, str] = {}
    for item in items:
        marks = [mark.args for mark in item.iter_markers("once")]
        if not marks and _reaches_no_database(item, sources):
            marks = [(NO_DATABASE,)]
        for (where,) in marks:
            if where not in SIDES:
                raise pytest.UsageError(f"{item.nodeid}: once({where!r}), not one of {SIDES}")
            if side and where != side:
                reason = f"the same on either database: scripts/test runs it on the {where} side"
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def quick_password_hashing(settings):
    """Hashing passwords is slow on purpose; tests hash many. Hashes made here are
    checked here: processes a test starts hash and check their own with the real hashers."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]


@pytest.fixture
def org(db):
    from relance.accounts.services import create_organisation

    return create_organisation("acme", name="Acme Industrie SAS", email="compta@acme.test")


@pytest.fixture
def other_org(db):
    from relance.accounts.services import create_organisation

    return create_organisation("globex", name="Globex SARL", email="compta@globex.test")


@pytest.fixture
def owner(org):
    from relance.accounts.services import add_member

    return add_member(org, "alice@acme.test", "admin", password="correct-horse-battery")


@pytest.fixture
def outsider(other_org):
    from relance.accounts.services import add_member

    return add_member(other_org, "mallory@globex.test", "admin", password="correct-horse-battery")


@pytest.fixture
def in_english(settings):
    """Pages read in English by tests that look for English words (the console's default
    language is French): ``pytestmark = pytest.mark.usefixtures("in_english")``."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def _language_of_the_settings():
    """A request read in another language (its Accept-Language, a customer's portal) leaves
    that language active in the thread: the next test starts from the settings' again."""
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _empty_cache():
    """What one test computed and cached is not another's (ids are reused after a
    rollback on SQLite)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Pages render in tests without `collectstatic` (production uses the manifest)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def let_fork(patch: pytest.MonkeyPatch) -> None:
    """``perf.in_child`` forks though other threads run: the live server some browser tests
    leave running for the session (it waits in select, holding no lock the child needs).
    For a test that means the child to run (``patch``: its monkeypatch, or a context's)."""
    from relance.lib import perf

    patch.setattr(perf, "may_fork", lambda: True)


@pytest.fixture
def forking(monkeypatch):
    """``let_fork`` for the whole test."""
    let_fork(monkeypatch)


@pytest.fixture
def worker_in_transaction(monkeypatch):
    """`relance worker` run in the test's process: its loops drop stale connections between
    passes (its own and django-tasks' worker's), but not the test's, in its transaction."""
    for loop in ("relance.dunning.management.commands.worker",
                 "django_tasks_db.management.commands.db_worker"):  # fmt: skip
        monkeypatch.setattr(f"{loop}.close_old_connections", lambda: None)


@pytest.fixture
def smtp():
    """A real SMTP server on loopback (aiosmtpd), keeping what it receives."""
    from smtp import SMTPServer

    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail(settings, smtp, tmp_path):
    """Relance's e-mail settings pointed at ``smtp``."""
    settings.EMAIL_BACKEND = "relance.channels.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp.host
    settings.EMAIL_PORT = smtp.port
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "Relance <relance@relance.test>"
    settings.MEDIA_ROOT = tmp_path
    return smtp


# -- the browser -------------------------------------------------------------------------
# Debian's chromium driven by Playwright (tests/browsing.py has the helpers pages share).

CHROMIUM = "/usr/bin/chromium"
# Screenshots of the pages, kept as the suite's artifacts (`RELANCE_SCREENSHOTS` to move).
SCREENSHOTS = os.environ.get("RELANCE_SCREENSHOTS") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test-artifacts", "screenshots"
)


@pytest.fixture(scope="module")
def browser():
    """Chromium for the tests of one module. Playwright's sync API runs an event loop in the
    test thread while it lives, and Django then refuses ORM calls unless told they are
    synchronous ones (they are): told for as long as the browser lives, never for the
    modules without one (which run the deploy checks, refusing that variable)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("apt-get install chromium")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                ],
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    """A page 390 pixels wide, as a phone shows it."""
    context = browser.new_context(
        locale="fr-FR", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    yield page
    context.close()
