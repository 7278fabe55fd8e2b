"""``relance.lib.bulk.among``: "column is one of these values", one array on PostgreSQL, a
list of placeholders elsewhere; every value found as it is, whatever it holds."""

from __future__ import annotations

import datetime as dt

import factories
import pytest
from django.db import connection

from relance.ledger.models import Invoice
from relance.lib import bulk

pytestmark = pytest.mark.django_db
DUE = dt.date(2026, 11, 2)

ODD = ["A,B", 'say "hi"', "{x}", "NULL", "back\\slash", "it's", " spaced ", "é-1", "", "%s"]


def numbers_among(org, values) -> set[str]:
    condition, params = bulk.among("number", values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT number FROM {Invoice._meta.db_table} WHERE organisation_id = %s"
            f" AND {condition}",
            [org.pk, *params],
        )
        return {number for (number,) in cursor.fetchall()}


def test_it_finds_each_value_as_it_is_written(org):
    customer = factories.customer(org)
    for number in [*ODD[:-2], "%s", "F-1", "F-2"]:
        factories.invoice(customer, number, due=DUE, amount=10)
    assert numbers_among(org, ODD) == set(ODD[:-2]) | {"%s"}
    assert numbers_among(org, ["F-2", "F-3"]) == {"F-2"}
    assert numbers_among(org, ["nothing"]) == set()


def test_it_takes_thousands_of_keys_in_one_parameter_on_postgresql(org):
    customer = factories.customer(org)
    kept = [factories.invoice(customer, f"K-{n}", due=DUE, amount=10).pk for n in range(3)]
    ids = [*range(10_000_000, 10_005_000), *kept]
    condition, params = bulk.among("id", ids)
    if connection.vendor == "postgresql":
        assert (condition, len(params)) == ("id = ANY(%s)", 1)
    else:
        assert len(params) == len(ids)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {Invoice._meta.db_table} WHERE {condition}", params)
        assert sorted(pk for (pk,) in cursor.fetchall()) == sorted(kept)
