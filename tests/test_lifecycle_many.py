"""A life-cycle status file of more invoices than one statement may name: read in chunks,
never over SQLite's limit of variables in one statement (32,766 in its default build).

The test lowers that limit to just above one chunk's statement (relance.ledger.lifecycle.CHUNK
invoices and their other parameters) and imports twice as many invoices as the lowered limit:
a statement naming every invoice fails there as it would at 32,766 with 40,000 invoices, and
the same chunked reads are checked with a fifth of the rows."""

from __future__ import annotations

import datetime as dt

import factories
import pytest
from django.db import connection

from relance.ledger import lifecycle
from relance.ledger.imports import import_file
from relance.ledger.models import TimelineEvent

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
DUE = dt.date(2026, 10, 31)
DEFAULT_LIMIT = 32_766  # SQLite's default build (Debian's is larger)
LIMIT = lifecycle.CHUNK + 100  # one chunk's statement fits, with room for its other parameters
COUNT = 2 * LIMIT


@pytest.fixture
def lowered_sqlite_limit():
    """A limit of variables below the default build's, which many installs have: a statement
    naming every invoice of the file is refused."""
    assert LIMIT <= DEFAULT_LIMIT
    if connection.vendor != "sqlite":
        yield
        return
    import sqlite3

    connection.ensure_connection()
    raw = connection.connection
    before = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, LIMIT)
    yield
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)


def test_it_applies_statuses_of_more_invoices_than_a_statement_may_name(
    lowered_sqlite_limit, tmp_path
):
    org = factories.organisation("acme")
    numbers = factories.many_invoices(factories.customer(org, "C1"), COUNT, due=DUE)
    path = tmp_path / "statuts.csv"
    path.write_text("facture;statut;date\n" + "".join(f"{n};200;2026-11-02\n" for n in numbers))

    result = import_file(org, path)

    assert result.counts["statuses_applied"] == COUNT
    assert TimelineEvent.objects.filter(organisation=org, kind="platform_status").count() == COUNT
    again = import_file(org, path)  # every status known: the timeline read in chunks too
    assert again.counts["statuses_already_applied"] == COUNT
