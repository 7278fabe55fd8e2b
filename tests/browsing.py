"""What browser tests share: signing in, screenshots kept as artifacts (at desktop and
phone widths), an organisation with its manager, and the import page's upload."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import factories
import pytest
from conftest import CHROMIUM, SCREENSHOTS
from factories import PASSWORD

# A module of browser tests: slow, and skipped where Debian's chromium is not installed.
BROWSER_TESTS = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="apt-get install chromium"),
]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
MANAGER = "manon@acme.test"

FR = {"email": "E-mail", "password": "Mot de passe", "submit": "Se connecter"}


def sign_in(page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Through the sign-in page, as a person does; lands on Today."""
    page.goto(f"{base_url}/login/")
    page.get_by_label(FR["email"]).fill(email)
    page.get_by_label(FR["password"]).fill(password)
    page.get_by_role("button", name=FR["submit"]).click()
    page.wait_for_url(re.compile(re.escape(base_url) + r"/(\?.*)?$"))


def shoot(page, name: str) -> str:
    """A full-page screenshot under the artifacts directory, named by page and width."""
    os.makedirs(SCREENSHOTS, exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    path = os.path.join(SCREENSHOTS, f"{name}-{width}.png")
    page.screenshot(path=path, full_page=True)
    return path


def shoot_both(page, name: str) -> None:
    """The page as it is, at desktop width and at phone width; at phone width the page's
    own content fits (wide tables scroll inside their .table-wrap)."""
    page.set_viewport_size(DESKTOP)
    shoot(page, name)
    page.set_viewport_size(PHONE)
    shoot(page, name)
    assert page.evaluate("document.querySelector('main').scrollWidth") <= PHONE["width"], name
    page.set_viewport_size(DESKTOP)


def overflow(page, selector: str) -> int:
    """By how many pixels the element's content is wider than its box (0: it fits, nothing
    scrolls sideways); the element itself must also fit the viewport."""
    return page.locator(selector).evaluate(
        """el => Math.max(el.scrollWidth - el.clientWidth,
                          Math.ceil(el.getBoundingClientRect().right) - window.innerWidth, 0)"""
    )


def fits_a_phone(page, *tables: str) -> None:
    """At phone width each table (a selector) is read as cards (.stacked: its header for
    screen readers only) and neither it nor its .table-wrap scrolls sideways."""
    page.set_viewport_size(PHONE)
    for table in tables:
        assert page.locator(f"{table} thead").evaluate(HEIGHT) <= 1, table
        assert overflow(page, table) == 0, table
        assert overflow(page, f"{table} >> xpath=..") == 0, table
    page.set_viewport_size(DESKTOP)


HEIGHT = "el => el.getBoundingClientRect().height"


def managed(settings: Any, tmp_path: Path, **fields: Any) -> Any:
    """The organisation "acme" (``fields``) with its manager ``MANAGER``, its uploaded files
    kept under ``tmp_path``: what a browser test of the console signs in to."""
    settings.MEDIA_ROOT = tmp_path / "media"
    org = factories.organisation("acme", **fields)
    factories.member(org, MANAGER, "manager")
    return org


def signed_in(page, live_server: Any, email: str = MANAGER) -> str:
    """``page`` signed in to the test server as ``email``; the server's address."""
    sign_in(page, live_server.url, email)
    return live_server.url


def upload(page, base: str, path: Path) -> None:
    """A file through the import page, as a person picks it; lands on the file's page."""
    page.goto(f"{base}/imports/")
    page.set_input_files("#import-file", str(path))
    page.click("#upload-button")
    page.wait_for_url(re.compile(r"/imports/[A-Za-z0-9_-]{16}/$"))


# The fields whose shown text (an input's value, a select's chosen option) is wider than
# the room the field gives it: measured with the field's own font, less its padding (and a
# select's arrow).
CUT = """root => {
  const context = document.createElement("canvas").getContext("2d");
  const cut = [];
  const fields = "input:not([type=hidden]):not([type=checkbox]):not([type=radio]), select";
  for (const field of root.querySelectorAll(fields)) {
    const text = field.tagName === "SELECT"
      ? (field.selectedOptions[0] || {text: ""}).text : field.value;
    if (!text) continue;
    const style = getComputedStyle(field);
    context.font = style.font;
    const room = field.clientWidth - parseFloat(style.paddingLeft)
      - parseFloat(style.paddingRight) - (field.tagName === "SELECT" ? 20 : 0);
    if (context.measureText(text).width > room + 0.5) cut.push(field.name + ": " + text);
  }
  return cut;
}"""


def cut_fields(page, selector: str) -> list[str]:
    """The fields in ``selector`` whose text does not show whole ("name: text")."""
    return page.locator(selector).evaluate(CUT)
