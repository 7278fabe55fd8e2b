"""The role walker: each role signs in and follows every link, form and htmx endpoint
reachable from Today (tests/crawling.py). None answers with a server error; a viewer's
writes are refused and change nothing; replayed by a user of another organisation, none
shows anything of the first. Generic: it walks the pages that exist, as they land."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import factories as f
import pytest
from crawling import Request, Visit, crawl, send
from django.apps import apps
from django.test import Client
from django.urls import Resolver404, resolve

TODAY = dt.date(2026, 11, 24)
ROLES = ["viewer", "collector", "manager", "admin"]


@pytest.fixture
def ledgers(db, tmp_path, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC), tick=False)
    acme = f.organisation("walk-acme", name="Zorglub Holding SAS")
    first = f.lived_in(acme, tmp_path / "acme", today=TODAY, name="Zorglub")
    globex = f.organisation("walk-globex", name="Quasimodo Groupe SARL")
    f.lived_in(globex, tmp_path / "globex", today=TODAY, name="Quasimodo")
    return acme, first, globex


def signed_in(email: str) -> Client:
    from django.contrib.auth import get_user_model

    client = Client(raise_request_exception=False)
    client.force_login(get_user_model().objects.get(email=email))
    return client


def walk(role: str, org_slug: str = "walk-acme", **kwargs) -> list[Visit]:
    return crawl(signed_in(f"{role}@{org_slug}.test"), "/", **kwargs)


def server_errors(visits: list[Visit]) -> list[str]:
    return [f"{v.request} -> {v.status} (from {v.found_on or 'start'}) {v.error}"
            for v in visits if v.status >= 500]  # fmt: skip


def console_write(request: Request) -> bool:
    """A write to one of the console's pages (not one's own account: two-factor, the
    organisation switcher)."""
    try:
        match = resolve(request.url.split("?")[0])
    except Resolver404:
        return False
    return request.method != "get" and match.namespace == "console" and match.url_name != "switch"


def fingerprint() -> str:
    """Everything the organisations hold (not the audit trail nor sessions)."""
    digest = hashlib.sha256()
    for label in ("accounts", "ledger", "dunning", "channels"):
        for model in apps.get_app_config(label).get_models():
            digest.update(repr(list(model.objects.order_by("pk").values_list())).encode())
    return digest.hexdigest()


@pytest.mark.parametrize("role", ROLES)
def test_it_answers_every_request_of_each_role_and_shows_nothing_of_it_to_another_organisation(
    ledgers, role
):
    """One walk per role: no server error, then every request replayed by an admin of the
    other organisation shows nothing of the first."""
    _, first, _ = ledgers
    visits = walk(role)
    assert len(visits) > 10, [str(v.request) for v in visits]
    assert server_errors(visits) == []
    assert all(v.status != 404 or v.request.method != "get" for v in visits if not v.found_on), (
        "the start page answers"
    )
    assert _leaks(visits, _traces(first)) == []


def test_it_refuses_every_write_of_a_viewer_and_changes_nothing(ledgers):
    reads = walk("viewer", writes=False)
    client = signed_in("viewer@walk-acme.test")
    writes = {r for v in walk("admin", writes=False) for r in _writes_on(v)}
    writes |= {r for v in reads for r in _writes_on(v)}
    before = fingerprint()
    answers = {str(r): send(client, r).status_code for r in sorted(writes, key=str)}
    assert {w: s for w, s in answers.items() if s != 403} == {}
    assert fingerprint() == before


def _writes_on(v: Visit) -> list[Request]:
    from crawling import requests_of

    return [r for r in requests_of(v.body, v.request.url) if console_write(r)] if v.body else []


def _leaks(visits: list[Visit], traces: list[re.Pattern[str]]) -> list[str]:
    outsider = signed_in("admin@walk-globex.test")
    leaks = []
    posted = ""  # what the replayed writes carried: the outsider's own data from then on
    for v in sorted(visits, key=lambda v: v.request.method != "get"):  # reads first
        replay = send(outsider, v.request)
        text = _plain(replay.content.decode("utf-8", "replace") + replay.get("Location", ""))
        assert replay.status_code < 500, f"{v.request} answers {replay.status_code}"
        # A write may store what it posts in the outsider's organisation (its name in the
        # settings form), and pages show it back: only what no replayed request carried
        # tells of the first organisation.
        posted += _plain(" ".join(value for _, value in v.request.data)) + " "
        shown = [t for t in traces if t.search(text) and not t.search(posted)]
        if shown:
            leaks.append(f"{v.request}: {[t.pattern for t in shown]}")
    return leaks


def _traces(first: dict[str, list[str]]) -> list[re.Pattern[str]]:
    """What would tell the first organisation: its names, numbers, amounts (digits alone,
    whatever the separators of the language)."""
    words = [*first["names"], *first["numbers"]]
    digits = [a.replace(".", "") for a in first["amounts"]]
    return [re.compile(re.escape(w), re.I) for w in words] + [
        re.compile(rf"(?<!\d){d}(?!\d)") for d in digits
    ]


def _plain(text: str) -> str:
    """Amounts as digits alone (1 234,56 / 1,234.56 -> 123456), names as they are."""
    return re.sub(r"(?<=\d)[\s\u00a0\u202f.,](?=\d)", "", text)
