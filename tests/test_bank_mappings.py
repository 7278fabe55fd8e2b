"""A bank's CSV columns saved under a name and chosen again, on the console's import page
and with `relance bank import --mapping NAME`, as ledger mappings are; never offered to a
ledger import."""

from __future__ import annotations

import io
from pathlib import Path

import factories as f
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from test_bank import BANK_CSV, D, write
from test_console_import_formats import token_of, upload, url

from relance.bank.models import BankLine
from relance.ledger.imports import staging
from relance.ledger.models import ImportMapping, Invoice

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]

# The export of BANK_CSV's bank a week later: the same columns, headers on line 2.
NEXT_WEEK = """Compte courant n° 00012345678;;;;
Date;Libellé;Débit;Crédit;Réf.
30/11/2026;VIR SEPA DUPONT FACT FB-13;;99,00;
"""
COLUMNS = {"date": "Date", "label": "Libellé", "debit": "Débit", "credit": "Crédit"}


def invoices(org) -> list[Invoice]:
    customer = f.customer(org, "DUP")
    return [f.invoice(customer, "FB-12", due=D - f.days(5), amount="1234.56"),
            f.invoice(customer, "FB-13", due=D - f.days(5), amount="99.00")]  # fmt: skip


def test_it_saves_a_banks_columns_by_name_in_the_console_and_offers_them_again(client, org):
    first, second = invoices(org)
    client.force_login(f.member(org, "manon@acme.test", "manager"))
    token = token_of(upload(client, ("export.csv", BANK_CSV.encode("cp1252")), kind="bank-csv"))
    assert 'id="bank-saved"' not in client.get(url(token)).content.decode()

    client.post(url(token, "bank-columns"), {"header_row": "2"})  # its headers, then its columns
    response = client.post(url(token, "bank-columns"), {
        "header_row": "2", "dates": "auto", "decimal": "auto", "name": "ma-banque",
        **{f"bank:{k}": v for k, v in COLUMNS.items()},
    })  # fmt: skip
    assert response.status_code == 302, response.content[:3000]
    saved = ImportMapping.objects.get(organisation=org, name="ma-banque")
    assert saved.spec["columns"] == COLUMNS and saved.spec["header_row"] == 2
    client.post(url(token, "confirm"))
    first.refresh_from_db()
    assert first.balance == 0

    # The next week's export: the columns chosen again by their name, nothing typed.
    token = token_of(upload(client, ("semaine.csv", NEXT_WEEK.encode("cp1252")), kind="bank-csv"))
    page = client.get(url(token)).content.decode()
    assert 'id="bank-saved"' in page and '<option value="ma-banque"' in page
    response = client.post(url(token, "bank-columns"), {"saved": "ma-banque"})
    assert response.status_code == 302, response.content[:3000]
    assert staging.load(org, token).last["result"]["bank"]["matched"] == 1
    client.post(url(token, "confirm"))
    second.refresh_from_db()
    assert second.balance == 0
    # A ledger import is never offered a bank's columns.
    assert "ma-banque" not in [m.name for m in staging.saved_mappings(org)]
    assert staging.suggest(org, ["Date", "Libellé", "Débit", "Crédit"], "ma-banque") is None


def test_it_names_a_wrong_name_for_the_columns(client, org):
    client.force_login(f.member(org, "manon@acme.test", "manager"))
    token = token_of(upload(client, ("export.csv", BANK_CSV.encode("cp1252")), kind="bank-csv"))

    response = client.post(url(token, "bank-columns"), {"header_row": "2", "name": "ma banque!"})

    assert response.status_code == 400
    assert "letters, digits, - and _" in response.content.decode()
    assert not ImportMapping.objects.exists()


def test_it_saves_a_bank_mapping_file_by_name_and_reads_it_again(org, tmp_path: Path):
    first, second = invoices(org)
    yaml = write(tmp_path, "banque.yaml", "header_row: 2\ncolumns:\n" + "".join(
        f"  {k}: {v}\n" for k, v in COLUMNS.items()))  # fmt: skip
    export = write(tmp_path, "export.csv", BANK_CSV, "cp1252")
    week = write(tmp_path, "semaine.csv", NEXT_WEEK, "cp1252")

    call_command("bank", "import", str(export), "--format", "csv", "--mapping", str(yaml),
                 "--save-mapping", "ma-banque", "--as-of", D.isoformat(),
                 stdout=io.StringIO())  # fmt: skip
    call_command("bank", "import", str(week), "--format", "csv", "--mapping", "ma-banque",
                 "--as-of", D.isoformat(), stdout=io.StringIO())  # fmt: skip

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.balance, second.balance) == (0, 0)
    with pytest.raises(CommandError, match="no such bank mapping"):
        call_command("bank", "import", str(week), "--format", "csv", "--mapping", "autre",
                     stdout=io.StringIO())  # fmt: skip


def test_it_never_takes_over_a_ledger_mappings_name(org, tmp_path: Path):
    ledger = ImportMapping.objects.create(
        organisation=org, name="erp", spec={"record": "invoice", "columns": {"invoice.number": "N"}}
    )
    yaml = write(tmp_path, "banque.yaml", "header_row: 2\n")
    export = write(tmp_path, "export.csv", BANK_CSV, "cp1252")

    with pytest.raises(CommandError, match="name of a ledger mapping"):
        call_command("bank", "import", str(export), "--format", "csv", "--mapping", str(yaml),
                     "--save-mapping", "erp", stdout=io.StringIO())  # fmt: skip

    ledger.refresh_from_db()
    assert ledger.spec["record"] == "invoice"
    assert not BankLine.objects.exists()  # refused before anything was imported
