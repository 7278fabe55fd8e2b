"""Today and the dashboard in a real browser: sign in, read the day's work and the figures,
follow a figure to the list behind it, at desktop and phone widths."""

from __future__ import annotations

import datetime as dt
import os
import re

import pytest
from browsing import overflow, shoot, sign_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def sync_orm_for_the_whole_module():
    """The database is made and flushed around each test, outside the ``page`` fixture's
    lifetime, while Playwright's loop runs in this thread: allowed for this module only."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def demo(transactional_db):
    from relance.demo.load import USER_EMAIL, USER_PASSWORD, load_demo

    load_demo(dt.date.today(), customers=30)
    return USER_EMAIL, USER_PASSWORD


def test_it_reads_today_and_the_dashboard_and_follows_a_figure(live_server, page, demo):
    sign_in(page, live_server.url, *demo)
    # Today is the first page: the day's work, ranked, each line with its next action.
    work = page.locator(".work-line")
    assert work.count() >= 5
    scores = [float(s) for s in work.evaluate_all("ls => ls.map(l => l.dataset.score)")]
    assert scores == sorted(scores, reverse=True)
    first = work.first
    assert first.locator(".work-customer").is_visible()
    assert first.locator(".work-actions a.primary").count() == 1
    # "Mine" swaps the list in place (htmx) and keeps the address.
    page.locator("input[name=who][value=mine]").check()
    page.wait_for_url(re.compile(r"\?who=mine"))
    page.locator("#worklist").wait_for()
    assert page.locator("input[name=who][value=mine]").is_checked()
    page.locator("input[name=who][value=all]").check()
    page.wait_for_url(re.compile(r"\?who=all"))
    page.locator(".work-line").first.wait_for()
    shoot(page, "today")
    # The lines share their columns: the amounts right-aligned one under another, the
    # buttons starting at one place, whatever the widths of each line's figures and buttons.
    edges = page.locator(".work-line").evaluate_all("""ls => ls.map(l => [
        ...[...l.querySelectorAll('.work-amounts dd')].map(
            d => Math.round(d.getBoundingClientRect().right)),
        Math.round(l.querySelector('.work-actions').getBoundingClientRect().left)])""")
    assert len({tuple(edge) for edge in edges}) == 1, edges

    # The dashboard, from the navigation; its DSO is drawn once the page is shown.
    page.locator('.nav a[href="/dashboard/"]').click()
    page.wait_for_url(f"{live_server.url}/dashboard/")
    assert page.locator(".aging-bar").count() == 5
    page.locator(".line-chart").first.wait_for()
    assert page.locator(".line-chart polyline").count() == 2
    shoot(page, "dashboard")

    # A figure leads to the list behind it, with the agreed parameters.
    page.locator('.figure-bucket[data-bucket="over_90"]').first.click()
    page.wait_for_url(re.compile(r"/customers/\?bucket=over_90&currency=EUR$"))


def test_it_fits_today_and_the_dashboard_on_a_phone(live_server, phone, demo):
    sign_in(phone, live_server.url, *demo)
    for path, name in (("/", "today"), ("/dashboard/", "dashboard")):
        phone.goto(live_server.url + path)
        if name == "dashboard":
            phone.locator(".line-chart").first.wait_for()
        # Nothing wider than the screen but what scrolls inside its own box.
        width = phone.evaluate("document.documentElement.scrollWidth")
        shoot(phone, name)
        assert width <= 390, (path, width)
    # The dashboard's tables of figures fit whole: a long column name wraps.
    for table in ("#top-overdue", ".dso-table"):
        assert overflow(phone, table) == 0, table
        assert overflow(phone, f"{table} >> xpath=..") == 0, table  # its .table-wrap
