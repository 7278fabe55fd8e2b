"""relance import --format bank-csv --mapping NAME: a bank mapping saved by name is chosen
as relance bank import chooses it (relance.bank.mappings.resolve, for both)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from test_bank import BANK_CSV, D, write
from test_bank_mappings import COLUMNS, NEXT_WEEK, invoices

from relance.bank import mappings
from relance.bank.models import BankLine
from relance.ledger.imports.records import ImportFailed
from relance.ledger.models import ImportMapping

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]


def saved(org, tmp_path: Path) -> Path:
    """The bank's columns saved as ``ma-banque``; the file, beside."""
    yaml = write(tmp_path, "banque.yaml", "header_row: 2\ncolumns:\n" + "".join(
        f"  {k}: {v}\n" for k, v in COLUMNS.items()))  # fmt: skip
    mappings.save(org, "ma-banque", {"header_row": 2, "columns": COLUMNS})
    return yaml


def test_it_imports_a_bank_csv_with_a_saved_mapping_by_name(org, tmp_path: Path):
    _, second = invoices(org)
    saved(org, tmp_path)
    week = write(tmp_path, "semaine.csv", NEXT_WEEK, "cp1252")

    out = io.StringIO()
    call_command("import", str(week), "--format", "bank-csv", "--mapping", "ma-banque",
                 "--org", org.slug, "--as-of", D.isoformat(), "--json", stdout=out)  # fmt: skip

    report = json.loads(out.getvalue())
    assert (report["ok"], report["matched"]) == (True, 1)
    second.refresh_from_db()
    assert second.balance == 0


def test_it_resolves_a_file_or_a_name_to_the_same_columns(org, tmp_path: Path):
    yaml = saved(org, tmp_path)

    by_file, by_name = mappings.resolve(org, str(yaml)), mappings.resolve(org, "ma-banque")

    assert (by_name.header_row, by_name.columns) == (by_file.header_row, by_file.columns)
    with pytest.raises(ImportFailed, match="no such bank mapping"):
        mappings.resolve(org, "autre")


def test_it_refuses_a_name_that_is_no_bank_mapping_and_writes_nothing(org, tmp_path: Path):
    invoices(org)
    ImportMapping.objects.create(
        organisation=org, name="erp", spec={"record": "invoice", "columns": {"invoice.number": "N"}}
    )
    export = write(tmp_path, "export.csv", BANK_CSV, "cp1252")

    for name in ("erp", "autre"):
        with pytest.raises(CommandError, match="no such bank mapping"):
            call_command("import", str(export), "--format", "bank-csv", "--mapping", name,
                         "--org", org.slug, stdout=io.StringIO())  # fmt: skip

    assert not BankLine.objects.exists()


def test_it_saves_a_bank_csv_s_columns_as_a_bank_mapping(org, tmp_path: Path):
    invoices(org)
    yaml = write(tmp_path, "banque.yaml", "header_row: 2\ncolumns:\n" + "".join(
        f"  {k}: {v}\n" for k, v in COLUMNS.items()))  # fmt: skip
    week = write(tmp_path, "semaine.csv", NEXT_WEEK, "cp1252")

    call_command("import", str(week), "--format", "bank-csv", "--mapping", str(yaml),
                 "--save-mapping", "ma-banque", "--org", org.slug, "--as-of", D.isoformat(),
                 stdout=io.StringIO())  # fmt: skip

    assert [m.name for m in mappings.saved(org)] == ["ma-banque"]
    assert mappings.resolve(org, "ma-banque").columns == mappings.resolve(org, str(yaml)).columns
