"""The settings in a real browser (Debian's chromium): an administrator changes the
identity, uploads a logo, closes a day and adds a member; screenshots of every settings
page and the audit trail at desktop and phone widths."""

from __future__ import annotations

import re
import struct
import zlib

import factories as make
import pytest
from browsing import BROWSER_TESTS, fits_a_phone, overflow, shoot, shoot_both, sign_in

pytestmark = BROWSER_TESTS

PAGES = {
    "settings-identity": "/settings/",
    "settings-sending": "/settings/sending/",
    "settings-bank": "/settings/bank/",
    "settings-letterhead": "/settings/letterhead/",
    "settings-calendar": "/settings/calendar/",
    "settings-dunning": "/settings/dunning/",
    "settings-members": "/settings/members/",
    "settings-audit": "/settings/audit/",
}
HEIGHT = "el => el.getBoundingClientRect().height"


def png(width: int = 240, height: int = 80) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    rows = b"".join(
        b"\x00" + b"".join(bytes((29, 78, 137)) if (x // 20 + y // 20) % 2 else b"\xff\xff\xff"
                           for x in range(width))
        for y in range(height)
    )  # fmt: skip
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))  # fmt: skip


@pytest.fixture
def acme(transactional_db, mail):
    org = make.organisation("acme", name="Acme Industrie SAS")
    make.member(org, "alice@acme.test", "admin")
    make.member(org, "bob@acme.test", "collector")
    return org


def test_it_changes_the_settings_in_the_browser(
    transactional_db, live_server, page, phone, acme, mail
):
    from relance.accounts.models import Membership, Organisation

    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    base = live_server.url
    sign_in(page, base, "alice@acme.test")

    # The identity: a wrong SIREN is refused next to its field, then corrected.
    page.goto(f"{base}/settings/")
    assert page.locator('nav.nav a[aria-current="page"]').get_attribute("href") == "/settings/"
    page.fill("#id_legal_name", "Acme Industrie SAS")
    page.fill("#id_siren", "732 829 321")
    page.click("#form-identity button[type=submit]")
    assert page.locator("#id_siren_error").is_visible()
    assert page.locator("#id_siren").get_attribute("aria-invalid") == "true"
    page.fill("#id_siren", "732 829 320")
    page.fill("#id_vat_number", "FR44732829320")
    page.click("#form-identity button[type=submit]")
    page.wait_for_selector(".message.success")
    assert Organisation.objects.get(pk=acme.pk).siren == "732829320"
    assert page.input_value("#id_siren") == "732829320"

    # The logo: a PNG uploaded, shown from the console's own address.
    page.goto(f"{base}/settings/letterhead/")
    page.fill("#id_letterhead", "ACME INDUSTRIE\n12 rue des Forges, 69007 Lyon")
    page.click("#form-letterhead button[type=submit]")
    page.wait_for_selector(".message.success")
    page.set_input_files("#id_logo", files=[{"name": "logo.jpg", "mimeType": "image/jpeg",
                                              "buffer": png()}])  # fmt: skip
    page.click("#form-logo button[type=submit]")
    logo = page.locator("#current-logo")
    logo.wait_for()
    # The image loads after the page: wait until it has, then read its size.
    page.wait_for_function(
        "() => { const i = document.querySelector('#current-logo'); return i && i.complete }"
    )
    assert logo.evaluate("img => img.naturalWidth") == 240
    assert re.fullmatch(rf"/settings/logo/{acme.pk}/", logo.get_attribute("src") or "")

    # A closed day, listed.
    page.goto(f"{base}/settings/calendar/")
    page.fill("#id_first", "2026-12-24")
    page.click("#form-closed-days button[type=submit]")
    page.wait_for_selector('#closed-days time[datetime="2026-12-24"]')
    assert Organisation.objects.get(pk=acme.pk).closed_days == ["2026-12-24"]

    # A member added, who receives their invitation.
    page.goto(f"{base}/settings/members/")
    page.fill("#id_email", "carol@acme.test")
    page.select_option("#id_role", "manager")
    page.click("#form-add-member button[type=submit]")
    page.wait_for_selector('tr[data-member="carol@acme.test"]')
    assert Membership.objects.get(user__username="carol@acme.test").role == "manager"
    assert [r.rcpt_tos for r in mail.received] == [["carol@acme.test"]]

    # The trail shows all of it.
    page.goto(f"{base}/settings/audit/")
    trail = page.locator("#audit-events").inner_text()
    for action in ("organisation.settings_changed", "member.added", "signin.succeeded"):
        assert action in trail
    assert refused == []

    sign_in(phone, base, "alice@acme.test")
    for name, path in PAGES.items():
        for viewer in (page, phone):
            viewer.goto(f"{base}{path}")
            assert viewer.locator("h1").count() == 1
            shoot(viewer, name)
    # At phone width the settings fit the screen (wide tables scroll in their own box).
    for path in PAGES.values():
        phone.goto(f"{base}{path}")
        assert phone.evaluate("document.querySelector('.settings').scrollWidth") <= 390, path
    # The trail is a card per event on a phone: who, the action and what, all readable.
    page.goto(f"{base}/settings/audit/")
    fits_a_phone(page, "#audit-events")


def test_the_members_table_is_a_card_per_member_on_a_phone(live_server, page, phone, acme):
    """At phone width each member is a card whose role menu and its button are whole, inside
    the card: nothing scrolls sideways. At desktop width it is a table."""
    from relance.accounts.models import Membership

    make.member(acme, "carol.longue-adresse@acme.test", "manager")
    for viewer in (page, phone):
        sign_in(viewer, live_server.url, "alice@acme.test")
        viewer.goto(f"{live_server.url}/settings/members/")
    shoot_both(page, "settings-members-table")
    assert page.locator("#members thead").evaluate(HEIGHT) > 20
    assert phone.locator("#members thead").evaluate(HEIGHT) <= 1  # for screen readers only
    assert overflow(phone, "#members") == 0
    assert overflow(phone, "#members >> xpath=..") == 0  # its .table-wrap
    card = phone.locator("#members").evaluate("t => t.getBoundingClientRect().right")
    for control in phone.locator("#members select, #members button").all():
        assert control.is_visible()
        assert control.evaluate("c => c.getBoundingClientRect().right") <= card
    carol = phone.locator('tr[data-member="carol.longue-adresse@acme.test"]')
    carol.locator("select").select_option("viewer")
    carol.get_by_role("button", name="Modifier").click()
    phone.wait_for_selector(".message.success")
    assert Membership.objects.get(user__username="carol.longue-adresse@acme.test").role == "viewer"


FIELD_BOXES = """form => [...form.querySelectorAll('.field')].map(field => {
  const input = field.querySelector('input, select').getBoundingClientRect();
  const box = field.getBoundingClientRect();
  return {top: Math.round(input.top), height: Math.round(input.height),
          left: Math.round(box.left), right: Math.round(box.right),
          border: getComputedStyle(field).borderTopWidth};
})"""


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_audit_filters_line_up_and_reset(live_server, page, phone, acme, language):
    """Four labelled fields on one line at desktop width, their inputs level and of one
    height, no box around each; on a phone the dates side by side, the others full width,
    nothing wider than the screen; filtered, a link clears the filters."""
    base = live_server.url
    for viewer in (page, phone):
        sign_in(viewer, base, "alice@acme.test")
        viewer.context.add_cookies([{"name": "django_language", "value": language, "url": base}])
    query = "/settings/audit/?action=member.added&actor=root"
    page.goto(f"{base}{query}")
    labels = page.locator("#form-audit label").all_inner_texts()
    assert labels == (["Du", "Jusqu'au (inclus)", "Action", "Qui"] if language == "fr"
                      else ["From", "Until (included)", "Action", "Who"])  # fmt: skip
    assert page.locator("#id_action option:checked").inner_text() == (
        "Membre ajouté" if language == "fr" else "Member added"
    )
    boxes = page.locator("#form-audit").evaluate(FIELD_BOXES)
    assert len({b["top"] for b in boxes}) == 1 and len({b["height"] for b in boxes}) == 1, boxes
    assert {b["border"] for b in boxes} == {"0px"}
    widths = {b["right"] - b["left"] for b in boxes}
    assert max(widths) - min(widths) <= 1, boxes
    assert "bob@acme.test" in page.locator("#audit-events").inner_text()
    shoot(page, f"settings-audit-filtered-{language}")
    page.click("#audit-reset")
    page.wait_for_url(f"{base}/settings/audit/")
    assert page.locator("#audit-reset").count() == 0
    assert page.locator("#id_action").input_value() == ""

    phone.goto(f"{base}{query}")
    boxes = phone.locator("#form-audit").evaluate(FIELD_BOXES)
    assert boxes[0]["top"] == boxes[1]["top"] and boxes[2]["top"] > boxes[1]["top"], boxes
    assert max(b["right"] for b in boxes) <= 390 - 16, boxes
    assert phone.evaluate("document.querySelector('.settings').scrollWidth") <= 390
    shoot(phone, f"settings-audit-filtered-{language}")
