"""The console's Runs page: the organisation's runs on the queue with their parts' progress
and a failed part's error, refreshed by htmx while a run is unfinished; an admin queues
today's run through the service `relance run --enqueue` calls."""

from __future__ import annotations

import factories as f
import pytest
from django.urls import reverse
from django.utils import timezone
from test_run_queue import work_off
from test_runs_list import D, dunned, failing_part

from relance.audit.models import AuditEvent
from relance.dunning import run_tasks
from relance.dunning.models import QueuedRun

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]

HTMX = {"HTTP_HX_REQUEST": "true"}


def signed_in(client, org, role="viewer"):
    client.force_login(f.member(org, f"{role}@{org.slug}.test", role))


def test_it_lists_the_runs_with_their_progress_to_a_viewer(client, monkeypatch) -> None:
    org = dunned("acme")
    failing_part(monkeypatch, 0, OSError("disk full"))
    failed = run_tasks.enqueue(org, D, parts=2)
    work_off()
    waiting = run_tasks.enqueue(org, D)  # the same date again, after the failure
    signed_in(client, org)

    page = client.get(reverse("console:runs")).content.decode()

    assert f'data-run="{failed.pk}" data-status="failed"' in page
    assert f'data-run="{waiting.pk}" data-status="queued"' in page
    assert reverse("console:run", args=[failed.pk]) in page
    assert "part 1 of 2 failed" in page
    assert 'hx-trigger="every 2s"' in page  # one run is unfinished: the list refreshes
    assert 'data-testid="queue-run"' not in page  # a viewer queues nothing


def test_it_shows_the_parts_and_the_error_of_a_failed_part(client, monkeypatch) -> None:
    org = dunned("acme")
    failing_part(monkeypatch, 1, OSError("disk full"))
    failed = run_tasks.enqueue(org, D, parts=2)
    work_off()
    signed_in(client, org)

    page = client.get(reverse("console:run", args=[failed.pk])).content.decode()

    assert page.count('data-testid="run-part"') == 2
    assert '<span class="part-error">OSError(&#x27;disk full&#x27;)</span>' in page
    assert 'data-testid="run-error"' in page and "run the same date again" in page
    assert "hx-trigger" not in page  # ended: nothing to refresh


def test_it_refreshes_an_unfinished_run_until_it_ends(client) -> None:
    org = dunned("acme")
    queued = run_tasks.enqueue(org, D, parts=2)
    signed_in(client, org)
    url = reverse("console:run", args=[queued.pk])

    part = client.get(url, **HTMX).content.decode()
    assert part.lstrip().startswith('<div id="run-detail"') and "<html" not in part
    assert f'hx-get="{url}"' in part and 'data-state="queued"' in part

    work_off()
    part = client.get(url, **HTMX).content.decode()
    assert 'data-state="done"' in part and "hx-get" not in part
    assert part.count('data-status="done"') == 2
    queued.refresh_from_db()
    assert f"<dd>{run_tasks.result_of(queued).customers}</dd>" in part
    listed = client.get(reverse("console:runs"), **HTMX).content.decode()
    assert listed.lstrip().startswith('<div id="runs-list"') and "hx-get" not in listed


def test_it_lets_an_admin_queue_todays_run(client) -> None:
    org = dunned("acme")
    signed_in(client, org, "admin")
    assert 'data-testid="queue-run"' in client.get(reverse("console:runs")).content.decode()

    response = client.post(reverse("console:runs_queue"))

    queued = QueuedRun.objects.get(organisation=org)
    assert response.status_code == 302
    assert response["Location"] == reverse("console:run", args=[queued.pk])
    assert queued.run_date == timezone.localdate() and queued.status == "queued"
    event = AuditEvent.objects.get(organisation=org, action="run.enqueued")
    assert event.user.email == "admin@acme.test"


def test_it_says_why_a_run_is_refused(client) -> None:
    org = dunned("acme")
    run_tasks.enqueue(org, timezone.localdate() - f.days(1))  # unfinished, another date
    signed_in(client, org, "admin")

    page = client.post(reverse("console:runs_queue"), follow=True).content.decode()

    assert "still on the queue" in page
    assert QueuedRun.objects.filter(organisation=org).count() == 1


@pytest.mark.parametrize("role", ["viewer", "collector", "manager"])
def test_it_lets_only_an_admin_queue_a_run(client, role) -> None:
    org = dunned("acme")
    signed_in(client, org, role)

    assert client.post(reverse("console:runs_queue")).status_code == 403
    assert not QueuedRun.objects.exists()


def test_it_shows_no_run_of_another_organisation(client) -> None:
    mine, theirs = dunned("acme", 1), dunned("globex", 1)
    other = run_tasks.enqueue(theirs, D)
    signed_in(client, mine)

    assert client.get(reverse("console:run", args=[other.pk])).status_code == 404
    assert client.get(reverse("console:run", args=[other.pk]), **HTMX).status_code == 404
    assert f'data-run="{other.pk}"' not in client.get(reverse("console:runs")).content.decode()
    assert "No run on the queue yet." in client.get(reverse("console:runs")).content.decode()


def test_it_links_the_runs_from_the_dashboard(client) -> None:
    org = dunned("acme", 1)
    signed_in(client, org)

    page = client.get(reverse("console:dashboard")).content.decode()

    assert f'href="{reverse("console:runs")}" id="runs-link"' in page
