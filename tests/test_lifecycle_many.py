"""A life-cycle status file of tens of thousands of invoices: read in chunks, never over
SQLite's limit of variables in one statement (32,766 in its default build)."""

from __future__ import annotations

import datetime as dt

import factories
import pytest
from django.db import connection

from relance.ledger.imports import import_file
from relance.ledger.models import TimelineEvent

pytestmark = [pytest.mark.django_db, pytest.mark.slow]  # about a minute of CPU
DUE = dt.date(2026, 10, 31)
COUNT = 40_000


@pytest.fixture
def default_sqlite_limit():
    """The limit of SQLite's default build (Debian's is larger): what many installs have."""
    if connection.vendor != "sqlite":
        yield
        return
    import sqlite3

    connection.ensure_connection()
    raw = connection.connection
    before = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)
    yield
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)


def test_it_applies_statuses_of_forty_thousand_invoices(default_sqlite_limit, tmp_path):
    org = factories.organisation("acme")
    numbers = factories.many_invoices(factories.customer(org, "C1"), COUNT, due=DUE)
    path = tmp_path / "statuts.csv"
    path.write_text("facture;statut;date\n" + "".join(f"{n};200;2026-11-02\n" for n in numbers))

    result = import_file(org, path)

    assert result.counts["statuses_applied"] == COUNT
    assert TimelineEvent.objects.filter(organisation=org, kind="platform_status").count() == COUNT
    again = import_file(org, path)  # every status known: the timeline read in chunks too
    assert again.counts["statuses_already_applied"] == COUNT
