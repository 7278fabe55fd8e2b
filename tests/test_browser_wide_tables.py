"""The console's widest tables fit the screen: at 1280 px nothing scrolls sideways (the
calls' invoices, the segment rules, the audit trail, the webhook deliveries, nor the menu
of sections), a code (an invoice number, an action) is never split across lines; at
390 px each reads as cards that fit the phone."""

from __future__ import annotations

import datetime as dt

import factories as f
import pytest
from browsing import (
    BROWSER_TESTS,
    DESKTOP,
    PHONE,
    cut_fields,
    fits_a_phone,
    overflow,
    shoot,
    sign_in,
)

pytestmark = BROWSER_TESTS

TODAY = dt.date(2026, 11, 24)
# Page, its tables, its screenshot's name.
PAGES = [
    ("/calls/", ".call .table-wrap table", "wide-calls"),
    ("/scenarios/rules/", "#rules", "wide-rules"),
    ("/settings/audit/", "#audit-events", "wide-audit"),
    ("/settings/webhooks/", "#deliveries", "wide-webhooks"),
]
# Codes a line must never split: every character of each on one line.
UNBROKEN = """([selector, code]) => {
  const found = [];
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const at = node.data.indexOf(code);
      if (at < 0) continue;
      const range = document.createRange();
      range.setStart(node, at);
      range.setEnd(node, at + code.length);
      const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
      found.push(tops.size);
    }
  }
  return found;
}"""


@pytest.fixture
def lived(transactional_db, tmp_path, time_machine):
    from django.utils import timezone

    from relance.audit import trail
    from relance.dunning.models import Scenario, SegmentRule
    from relance.hooks.models import Delivery, Endpoint

    time_machine.move_to(dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC), tick=True)
    org = f.organisation("wide", name="Zorglub Holding SAS")
    facts = f.lived_in(org, tmp_path, today=TODAY, name="Zorglub")
    scenario = Scenario.objects.filter(organisation=org).first()
    for n, (name, risk, amount, least, most) in enumerate(
        [("Gros clients à risque élevé", "high", 25000, 3, None),
         ("Clients récents", "", None, None, 2), ("Grosses factures", "", 150000, None, None)],
        start=SegmentRule.objects.filter(organisation=org).count() + 1,
    ):  # fmt: skip
        SegmentRule.objects.create(
            organisation=org, position=n, name=name, scenario=scenario, risk_class=risk,
            min_invoice_amount=amount, min_years=least, max_years=most,
        )  # fmt: skip
    endpoint = Endpoint.objects.create(
        organisation=org, secret="s" * 32, description="ERP",
        url="https://erp.zorglub-holding.example/api/v2/relance/webhooks/incoming-events",
    )  # fmt: skip
    for n, status in enumerate(["succeeded", "failed", "pending", "dead"]):
        Delivery.objects.create(
            organisation=org, endpoint=endpoint, message_id=f"msg_2NfX8kq3{n}Lr7vQpZ0aYc",
            type="communication.sent", payload={}, status=status, attempts=n + 1,
            last_status_code=500 if status == "failed" else 200,
            next_attempt_at=timezone.now() if status == "pending" else None,
            last_error="connection refused by erp.zorglub-holding.example" if n == 3 else "",
            response_excerpt='{"error":"internal","detail":"' + "x" * 120 + '"}' if n else "",
        )  # fmt: skip
    admin = f.member(org, "boss@wide.test", "admin")
    for number in facts["numbers"]:
        trail.record(
            org, action="invoice.note_added", summary=f"note added to invoice {number}",
            user=admin, target=("invoice", number), data={"invoice": number, "note": "x"},
        )  # fmt: skip
    return facts


def too_wide(page, table: str) -> list[int]:
    """By how many pixels each of the tables is wider than its wrapper (0: it fits)."""
    return page.locator(table).evaluate_all(
        "els => els.map(el => Math.max(el.scrollWidth - el.parentElement.clientWidth, 0))"
    )


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_wide_tables_fit_the_desktop_and_the_phone(live_server, page, lived, language):
    sign_in(page, live_server.url, "boss@wide.test")
    page.context.add_cookies([{"name": "django_language", "value": language,
                               "url": live_server.url}])  # fmt: skip
    wide = {}
    for path, table, name in PAGES:
        page.set_viewport_size(DESKTOP)
        page.goto(f"{live_server.url}{path}")
        assert page.locator(table).count() >= 1, path
        shoot(page, f"{name}-{language}")
        if any(too_wide(page, table)) or overflow(page, "main"):
            wide[path] = too_wide(page, table)
        if cut_fields(page, "main"):  # every field's text whole, none cut at its end
            wide[f"{path} cut"] = cut_fields(page, "main")
        if overflow(page, "nav.nav"):  # every section in sight, none behind a scroll
            wide["nav"] = overflow(page, "nav.nav")
        page.set_viewport_size(PHONE)
        shoot(page, f"{name}-{language}")
        assert overflow(page, "main") == 0, path
        if cut_fields(page, "main"):  # on a phone too: a card's field as wide as the card
            wide[f"{path} cut on a phone"] = cut_fields(page, "main")
        fits_a_phone(page, f":nth-match({table}, 1)")
    assert wide == {}
    # An invoice number on one line wherever it shows: the calls, the audit trail.
    broken = []
    for path, where in (("/settings/audit/", "#audit-events"), ("/calls/", ".call")):
        page.goto(f"{live_server.url}{path}")
        for width in (DESKTOP, PHONE):
            page.set_viewport_size(width)
            for number in lived["numbers"]:
                if any(n != 1 for n in page.evaluate(UNBROKEN, [where, number])):
                    broken.append((path, width["width"], number))
    assert broken == []
