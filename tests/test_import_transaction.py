"""`relance import` into an existing organisation runs the import in its own transaction, not
in a savepoint of the command's (SQLite keeps the original of every page changed in a
savepoint until it ends); a refused file still writes nothing but the import log's record.
Transactional tests: the test's own transaction would be the outer one."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import factories
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from relance.ledger.models import Customer, ImportRun, Invoice

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_english")]
MAPPING = factories.OPEN_ITEMS_MAPPING
HEADER = factories.OPEN_ITEMS_HEADER


def command(tmp_path: Path, *rows: str, dry_run: bool = False) -> None:
    path = factories.text_file(tmp_path / "items.csv", [HEADER, *rows])
    mapping = factories.mapping_file(tmp_path / "mapping.yaml", MAPPING)
    args = ["--dry-run"] if dry_run else []
    call_command("import", str(path), "--mapping", str(mapping), "--org", "acme", *args,
                 stdout=StringIO())  # fmt: skip


def savepoints_around(queries: list[dict[str, str]], table: str) -> int:
    """How many savepoints were open when the first INSERT into ``table`` ran."""
    depth = 0
    for query in queries:
        # executemany is logged as "N times: INSERT ..."
        sql = re.sub(r"^\d+ TIMES: ", "", query["sql"].lstrip().upper())
        if sql.startswith("SAVEPOINT"):
            depth += 1
        elif sql.startswith("RELEASE SAVEPOINT"):
            depth -= 1
        elif sql.startswith("INSERT INTO") and table.upper() in sql.split("(")[0]:
            return depth
    raise AssertionError(f"nothing inserted into {table}")


def test_the_import_writes_outside_any_savepoint(tmp_path):
    factories.organisation("acme")
    with CaptureQueriesContext(connection) as captured:
        command(tmp_path, "C1;F-1;01/10/2026;31/10/2026;100,00")
    assert Invoice.objects.filter(number="F-1").exists()
    # The import log's record is written by the import's transaction, as its last write (the
    # rows go by COPY on PostgreSQL, which the query log does not show).
    assert savepoints_around(captured.captured_queries, "ledger_importrun") == 0


def test_a_file_refused_after_writes_began_writes_nothing_but_its_record(tmp_path):
    org = factories.organisation("acme")
    # C2 is a new customer, written before the invoices' problems are found.
    with pytest.raises(CommandError, match="before the issue date"):
        command(tmp_path, "C1;F-1;01/10/2026;31/10/2026;100,00",
                "C2;F-2;01/10/2026;01/09/2026;50,00")  # fmt: skip
    assert not Customer.objects.filter(organisation=org).exists()
    assert not Invoice.objects.filter(organisation=org).exists()
    run = ImportRun.objects.get(organisation=org)
    assert run.status == ImportRun.Status.FAILED and "before the issue date" in run.error


def test_a_dry_run_still_writes_nothing(tmp_path):
    org = factories.organisation("acme")
    command(tmp_path, "C1;F-1;01/10/2026;31/10/2026;100,00", dry_run=True)
    assert not Customer.objects.filter(organisation=org).exists()
    assert not ImportRun.objects.filter(organisation=org).exists()
