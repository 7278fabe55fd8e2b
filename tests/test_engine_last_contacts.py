"""The last contacts of a chunk of customers are read through the index by customer, not
by scanning every reminder of the organisation in the contact gap's window."""

from __future__ import annotations

import datetime as dt

import factories as f
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from relance.dunning import loading
from relance.dunning.models import CommStatus

pytestmark = pytest.mark.django_db

D = dt.date(2026, 11, 25)


def _reminded(org, n, on):
    customers = [f.customer(org) for _ in range(n)]
    for c in customers:
        item = f.invoice(c, due=on - dt.timedelta(days=40))
        f.communication(c, [item], on=on, status=CommStatus.SENT)
    return customers


def test_it_reads_the_last_contacts_of_a_chunk_by_customer():
    if connection.vendor != "sqlite":
        pytest.skip("the index is forced on SQLite only; PostgreSQL plans on its statistics")
    org = f.organisation()
    customers = _reminded(org, 3, D - dt.timedelta(days=1))
    with CaptureQueriesContext(connection) as queries:
        loading._last_contacts(org, D, [customers[0].pk])
    (sql,) = [q["sql"] for q in queries.captured_queries if "send_on" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert loading.COMMUNICATION_BY_CUSTOMER in plan


def test_it_reads_the_same_last_contacts_by_chunk_as_for_the_whole_organisation():
    org = f.organisation()
    customers = _reminded(org, 4, D - dt.timedelta(days=1))
    early = f.customer(org)
    item = f.invoice(early, amount="50.00", due=D - dt.timedelta(days=60))
    f.communication(early, [item], on=D - dt.timedelta(days=2), status=CommStatus.SENT)
    f.communication(early, [item], on=D - dt.timedelta(days=1), status=CommStatus.CANCELLED)
    f.communication(early, [item], on=D - dt.timedelta(days=30), status=CommStatus.SENT)
    other = f.organisation("other")
    _reminded(other, 2, D - dt.timedelta(days=1))
    ids = [c.pk for c in customers[:2]] + [early.pk]
    whole = loading._last_contacts(org, D)
    chunk = loading._last_contacts(org, D, ids)
    assert chunk == {pk: whole[pk] for pk in ids}
    assert chunk[early.pk] == {"email": D - dt.timedelta(days=2)}
    assert set(whole) == {c.pk for c in customers} | {early.pk}
