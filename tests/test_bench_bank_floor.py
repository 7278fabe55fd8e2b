"""The bank bench's floor is the same work as the import: the same rows, into the real
tables of another organisation of the same database (bench/bank.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the bench, beside the tests

from bench import bank
from relance.bank import services
from relance.ledger.models import Invoice

pytestmark = pytest.mark.django_db


def test_it_writes_as_many_rows_as_the_import_into_the_real_tables(tmp_path: Path):
    org, customers = bank.ledger("bench", 60, 12)
    floor_org, _ = bank.ledger("floor", 60, 12)
    credits, plan = bank.statement(customers, 60)
    path = tmp_path / "statement.xml"
    bank.write_statement(path, credits)

    result = services.import_statement(org, path, as_of=bank.DAY)
    bank.floor(path, floor_org.pk, plan)

    wrote = bank.written(org)
    assert wrote == {"lines": 60, "payments": result.matched, "allocations": result.matched,
                     "settled": result.matched, "events": result.matched}  # fmt: skip
    assert result.matched == 42
    assert bank.written(floor_org) == wrote
    settled = Invoice.objects.filter(settled_on__isnull=False).order_by("number")
    by_org = {o: [(i.number, i.balance, i.settled_on) for i in settled if i.organisation_id == o]
              for o in (org.pk, floor_org.pk)}  # fmt: skip
    assert by_org[org.pk] == by_org[floor_org.pk]
