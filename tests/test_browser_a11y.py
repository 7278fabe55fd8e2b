"""Accessibility of every page an admin reaches from Today (the role walker's crawl, in
tests/crawling.py): axe-core finds no serious or critical violation, at desktop width and at
390 pixels, in French and once in English; the keyboard reaches every link, button and
field, and the focused element shows an outline; at 390 pixels nothing is wider than the
screen.

axe-core comes from the npm registry (scripts/test fetches it into .cache/axe-core). It is
injected into the page, which the Content-Security-Policy forbids to inline scripts: the
browser contexts here bypass the policy for that (test_browser.py checks the policy)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlsplit

import factories as f
import pytest
from crawling import page_kinds
from django.test import Client

AXE = Path(__file__).resolve().parent.parent / ".cache" / "axe-core" / "package" / "axe.min.js"
ARTIFACT = Path(__file__).resolve().parent.parent / "test-artifacts" / "accessibility.txt"
TODAY = dt.date(2026, 11, 24)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# The elements the keyboard must reach, as the page shows them (visible, enabled).
FOCUSABLE = """() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]';
  // checkVisibility: not in a closed <details> (its content is skipped, yet has a box).
  const shown = (e) => {
    const box = e.getBoundingClientRect();
    return e.checkVisibility({visibilityProperty: true}) && box.width > 0 && box.height > 0
      && !e.disabled && e.tabIndex >= 0 && !e.closest('[inert], [hidden]');
  };
  // A group of radio buttons is one stop for Tab (the arrow keys move inside it): the
  // keyboard is expected to reach its checked button, or its first when none is checked.
  const stop = (e) => {
    if (e.type !== 'radio' || !e.name) return true;
    const scope = e.form || document;
    const group = Array.from(scope.querySelectorAll('input[type=radio]'))
      .filter((r) => r.name === e.name && shown(r));
    return e === (group.find((r) => r.checked) || group[0]);
  };
  return Array.from(document.querySelectorAll(selector)).filter(shown).filter(stop).map((e, i) => {
    e.dataset.a11yIndex = String(i);
    return describe(e);
  });
  function describe(e) {
    const text = e.innerText || e.value || e.getAttribute('aria-label') || '';
    return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
      + (e.name ? '[name=' + e.name + ']' : '') + ' "' + text.trim().slice(0, 40) + '"';
  }
}"""

# Records every element that takes the focus: its index among FOCUSABLE's, and whether its
# focus shows (an outline or a box shadow). Read once the walk is done, not after each Tab.
RECORD_FOCUS = """() => {
  window.a11yFocus = [];
  document.addEventListener('focusin', (event) => {
    const e = event.target;
    const style = getComputedStyle(e);
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
    const shadow = style.boxShadow && style.boxShadow !== 'none';
    const what = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
      + (e.name ? '[name=' + e.name + ']' : '');
    const visible = Boolean(outline || shadow);
    window.a11yFocus.push({index: e.dataset.a11yIndex ?? null, visible, what});
  }, true);
}"""


# The outermost elements that go past the right edge of the screen.
WIDE = """() => Array.from(document.querySelectorAll('body *')).filter((e) => {
  const out = (x) => x.getBoundingClientRect().right > window.innerWidth + 0.5;
  return out(e) && !(e.parentElement && out(e.parentElement));
}).slice(0, 5).map((e) => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''))"""


@pytest.fixture
def pages(transactional_db, tmp_path, time_machine):
    """The pages an admin reaches from Today: one address per kind of page (its URL name
    and the names of its query parameters), HTML answered 200."""
    time_machine.move_to(dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC), tick=True)
    org = f.organisation("a11y", name="Zorglub Holding SAS")
    f.lived_in(org, tmp_path, today=TODAY, name="Zorglub")
    client = Client()
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(email="admin@a11y.test"))
    return client.cookies["sessionid"].value, page_kinds(client)


def context_for(browser, live_server, session: str, locale: str, viewport: dict[str, int]):
    context = browser.new_context(locale=locale, viewport=viewport, bypass_csp=True)
    # axe in every page the context opens, before the page's own scripts: handed to the
    # browser once, not sent again with each page (that took as long as axe's own run).
    context.add_init_script(path=str(AXE))
    host = urlsplit(live_server.url).hostname
    context.add_cookies([{"name": "sessionid", "value": session, "domain": host, "path": "/"}])
    return context


def axe_violations(page) -> list[str]:
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {node['target']} {node.get('failureSummary', '')[:160]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
        for node in v["nodes"]
    ]


def keyboard_problems(page) -> list[str]:
    """Tab from the top of the page through everything: what the keyboard never reaches,
    and what it reaches without showing it."""
    wanted = page.evaluate(FOCUSABLE)
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    page.evaluate(RECORD_FOCUS)
    # A date field takes one Tab per part (day, month, year): room for those. The walk
    # ends once the focus comes back round to an element it has left: first as many
    # presses as it takes when nothing takes more than one, then a few at a time.
    limit, batch = 3 * len(wanted) + 5, len(wanted) + 2
    pressed, focused, came_round = 0, [], False
    while pressed < limit and not came_round:
        for _ in range(min(batch, limit - pressed)):
            page.keyboard.press("Tab")
        pressed, batch = pressed + batch, 5
        focused = page.evaluate("() => window.a11yFocus")
        came_round = _came_round([f["index"] for f in focused])
    reached = {f["index"] for f in focused if f["index"] is not None}
    hidden = sorted({f["what"] for f in focused if not f["visible"]})
    missed = [w for i, w in enumerate(wanted) if str(i) not in reached]
    return [f"focus not visible on {what}" for what in hidden] + [
        f"never reached by Tab: {w}" for w in missed
    ]


def _came_round(indexes: list[str | None]) -> bool:
    """Whether the focus went back to an element it had already left (the parts of one date
    field follow each other: not a return)."""
    left: set[str] = set()
    previous = None
    for index in indexes:
        if index is not None and index != previous and index in left:
            return True
        if previous is not None:
            left.add(previous)
        previous = index
    return False


def check_pages(browser, live_server, session, urls, locale, viewport, keyboard: bool) -> list[str]:
    context = context_for(browser, live_server, session, locale, viewport)
    page = context.new_page()
    problems = []
    try:
        for url in urls:
            page.goto(f"{live_server.url}{url}")
            found = axe_violations(page) + (keyboard_problems(page) if keyboard else [])
            if viewport["width"] <= 390:
                width = page.evaluate("() => document.documentElement.scrollWidth")
                if width > viewport["width"]:
                    found.append(
                        f"{width} px wide at {viewport['width']} px: {page.evaluate(WIDE)}"
                    )
            problems += [f"{url} [{locale} {viewport['width']}px] {p}" for p in found]
    finally:
        context.close()
    return problems


@pytest.fixture(autouse=True)
def _axe():
    if not AXE.exists():
        pytest.skip("axe-core is fetched by scripts/test (npm pack axe-core@4)")


@pytest.mark.once("sqlite")  # the markup does not depend on the database
def test_it_finds_no_serious_accessibility_problem_on_any_page(browser, live_server, pages):
    """axe on every page in French at desktop and phone width and in English at desktop
    width; the keyboard walk on the French desktop pages (Tab does not change with the
    language or the width); nothing wider than a phone's screen."""
    session, urls = pages
    assert "/" in urls and len(urls) > 5, urls
    problems = []
    for locale, viewport, keyboard in [
        ("fr-FR", DESKTOP, True), ("fr-FR", PHONE, False), ("en-US", DESKTOP, False),
    ]:  # fmt: skip
        problems += check_pages(browser, live_server, session, urls, locale, viewport, keyboard)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text("".join(f"{p}\n" for p in problems), encoding="utf-8")
    assert problems == [], f"{len(problems)} problems, listed in {ARTIFACT}"
