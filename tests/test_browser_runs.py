"""The Runs page in a real browser: an admin queues today's run, watches it refreshed by
htmx until the worker has done it, and reads a failed part's error. Screenshots at desktop
and phone widths."""

from __future__ import annotations

import factories as make
import pytest
from browsing import BROWSER_TESTS, fits_a_phone, managed, shoot_both, signed_in
from factories import days
from test_run_queue import work_off
from test_runs_list import D, failing_part

from relance.dunning import run_tasks
from relance.dunning.models import QueuedRun

pytestmark = BROWSER_TESTS
ADMIN = "alice@acme.test"


@pytest.fixture
def acme(transactional_db, settings, tmp_path):
    org = managed(settings, tmp_path, name="Acme Industrie SAS")
    make.member(org, ADMIN, "admin")
    make.scenario(org)
    for n in range(8):
        customer = make.customer(org, f"C{n}", legal_name=f"Client {n} SAS")
        make.invoice(customer, f"FA-{n}", due=D - days(4 + 11 * n), amount="480.00")
    return org


def test_it_queues_a_run_and_shows_it_until_it_is_done(acme, live_server, page, monkeypatch):
    failing_part(monkeypatch, 1, OSError("disk full"))
    failed = run_tasks.enqueue(acme, D - days(1), parts=2)
    work_off()
    monkeypatch.undo()
    base = signed_in(page, live_server, ADMIN)

    page.goto(f"{base}/dashboard/")
    page.click("#runs-link")
    page.wait_for_selector(f"[data-run='{failed.pk}'][data-status='failed']")
    shoot_both(page, "runs-list")
    fits_a_phone(page, "table.runs")  # a card per run: its status and error whole

    page.click("[data-testid='queue-run']")
    page.wait_for_selector("#run-detail[data-state='queued']")
    queued = QueuedRun.objects.get(organisation=acme, status="queued")
    assert page.url.endswith(f"/runs/{queued.pk}/")
    shoot_both(page, "run-queued")

    work_off()  # a worker takes it; the page sees it without being reloaded
    page.wait_for_selector("#run-detail[data-state='done']", timeout=15_000)
    assert page.locator("[data-testid='run-part'][data-status='done']").count() >= 1
    shoot_both(page, "run-done")

    page.goto(f"{base}/runs/{failed.pk}/")
    error = page.locator("[data-testid='run-part'][data-status='failed'] .part-error")
    assert error.inner_text() == "OSError('disk full')"
    # Stored in English (the CLI and the API read it), shown in the reader's French.
    assert "la part 2 sur 2 a échoué" in page.locator("[data-testid='run-error']").inner_text()
    shoot_both(page, "run-failed")
    fits_a_phone(page, "table.run-parts")
