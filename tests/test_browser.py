"""The console in a real browser: Debian's chromium driven by Playwright."""

from __future__ import annotations

import datetime as dt

from browsing import BROWSER_TESTS

pytestmark = BROWSER_TESTS


def test_it_signs_in_and_shows_the_organisation(live_server, page, transactional_db, tmp_path):
    from relance.demo.load import USER_EMAIL, USER_PASSWORD, load_demo

    load_demo(dt.date(2026, 11, 20), customers=20)
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url
    page.get_by_label("E-mail").fill(USER_EMAIL)
    page.get_by_label("Mot de passe").fill("wrong password")
    page.get_by_role("button", name="Se connecter").click()
    assert "/login/" in page.url  # refused

    page.get_by_label("Mot de passe").fill(USER_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{live_server.url}/")
    assert "Démo Industrie SAS" in page.content()
    # The dashboard draws the aged balance, one bar per bucket.
    page.goto(f"{live_server.url}/dashboard/")
    assert page.locator(".figure-open-items").count() >= 1
    assert page.locator("#aged-title-EUR").count() == 1
    assert page.locator(".aging-bar").count() == 5
    page.screenshot(path=str(tmp_path / "home.png"), full_page=True)
    # The stylesheet arrived: the page is styled, not raw HTML.
    assert page.evaluate("getComputedStyle(document.body).fontFamily") != "Times New Roman"


def test_it_breaks_no_rule_of_the_content_security_policy(live_server, page, transactional_db):
    """Every page, the admin's included, loads under the policy with nothing refused: no
    inline script or style, nothing from elsewhere."""
    import factories as f
    from django.contrib.auth import get_user_model

    from relance.accounts.services import add_member

    org = f.organisation("acme", name="Acme Industrie SAS")
    customer = f.customer(org)
    today = dt.date.today()
    for days, amount in ((10, "400.00"), (-20, "250.00"), (-45, "100.00"), (-120, "80.00")):
        f.invoice(customer, due=today + dt.timedelta(days=days), amount=amount)
    user = add_member(org, "alice@acme.test", "admin", password="correct-horse-battery")
    get_user_model().objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
    messages: list[str] = []
    page.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))

    page.goto(f"{live_server.url}/admin/login/")
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("E-mail").fill("alice@acme.test")
    page.get_by_label("Mot de passe").fill("correct-horse-battery")
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{live_server.url}/")
    # The dashboard's aged balance keeps its bars, drawn without a style attribute, and its
    # DSO is drawn in place (htmx) under the policy too.
    page.goto(f"{live_server.url}/dashboard/")
    page.locator(".line-chart").first.wait_for()
    widths = page.locator(".aging-bar").evaluate_all("bars => bars.map(b => b.getBBox().width)")
    assert len(widths) == 5 and max(widths) > 100 and min(widths) == 0
    page.goto(f"{live_server.url}/account/two-factor/")
    assert page.locator(".qr svg").is_visible()
    for path in ("/admin/", "/admin/auth/user/", f"/admin/auth/user/{user.pk}/change/",
                 "/admin/auth/user/add/", "/admin/otp_totp/totpdevice/add/"):  # fmt: skip
        page.goto(live_server.url + path)
        page.wait_for_load_state("load")
    refused = [m for m in messages if "Content Security Policy" in m or "Permissions-Policy" in m]
    assert refused == [], refused


def test_it_switches_language_and_keeps_it_from_page_to_page(
    live_server, page, phone, transactional_db
):
    """The header's language buttons: the console in English, then back in French, at a
    desktop's and a phone's width; the choice follows the user from page to page."""
    import factories as f
    from browsing import shoot, sign_in

    org = f.organisation("acme", name="Acme Industrie SAS")
    f.invoice(f.customer(org, legal_name="Durand SA"), due=dt.date.today(), amount="120.00")
    f.member(org, "alice@acme.test", "admin")
    for tab, name in ((page, "language"), (phone, "language-phone")):
        sign_in(tab, live_server.url, "alice@acme.test")
        nav = tab.locator("nav.nav")
        assert nav.get_by_role("link", name="Aujourd'hui").is_visible()
        tab.locator('form.languages button[value="en"]').click()
        tab.wait_for_load_state("load")
        assert tab.locator("html").get_attribute("lang") == "en"
        assert nav.get_by_role("link", name="Today").is_visible()
        nav.get_by_role("link", name="Customers").click()
        tab.wait_for_url("**/customers/")
        assert tab.locator("html").get_attribute("lang") == "en"
        assert "Durand SA" in tab.content()
        shoot(tab, f"{name}-en")
        tab.locator('form.languages button[value="fr"]').click()
        tab.wait_for_load_state("load")
        assert tab.locator("html").get_attribute("lang") == "fr"
        assert nav.get_by_role("link", name="Clients").is_visible()
