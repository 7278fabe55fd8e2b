"""Bank statements in the import log: a statement imported (command line or console) is an
import like any other, with its counts and a link to the bank queue; a refused one too,
with its problems."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import factories as f
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from test_bank import HOSTILE, D, camt, write
from test_console_import_formats import token_of, upload, url

from relance.ledger.imports import staging
from relance.ledger.models import ImportRun

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]


def statement(org) -> bytes:
    customer = f.customer(org, "DUP")
    first = f.invoice(customer, "FA-1", due=D - f.days(10), amount="1000.25")
    second = f.invoice(customer, "FA-2", due=D - f.days(10), amount="1001.25")
    return camt([
        {"ref": "B1", "amount": first.amount, "ustrd": "FACTURE FA-1"},
        {"ref": "B2", "amount": second.amount - Decimal(100), "ustrd": "ACOMPTE FA-2"},
        {"ref": "B3", "amount": "12.34", "ustrd": "DIVERS"},
    ]).encode()  # fmt: skip


def test_it_logs_a_statement_imported_from_the_command_line(client, org, tmp_path: Path):
    path = tmp_path / "releve.xml"
    path.write_bytes(statement(org))

    call_command("bank", "import", str(path), "--as-of", D.isoformat(), stdout=io.StringIO())

    run = ImportRun.objects.get(organisation=org)
    assert (run.file_name, run.format, run.status, run.user) == (
        "releve.xml", "camt053", ImportRun.Status.DONE, None,
    )  # fmt: skip
    assert run.counts == {"bank_credits": 3, "bank_matched": 1, "bank_proposed": 1,
                          "bank_unmatched": 1}  # fmt: skip
    client.force_login(f.member(org, "vera@acme.test", "viewer"))
    page = client.get(reverse("console:imports")).content.decode()
    row = page[page.index(f'data-run="{run.pk}"') :].split("</tr>")[0]
    assert "credits matched and allocated: 1" in row and "credits to review: 1" in row
    assert reverse("console:bank") in row
    detail = client.get(reverse("console:import_run", args=[run.pk])).content.decode()
    assert "credits without a match" in detail
    assert f'href="{reverse("console:bank")}" class="bank-queue-link"' in detail

    # The same file again, through `relance import`: logged too, every credit already imported.
    call_command("import", str(path), "--as-of", D.isoformat(), stdout=io.StringIO())
    again = ImportRun.objects.filter(organisation=org).exclude(pk=run.pk).get()
    assert again.counts == {"bank_duplicates": 3}


def test_it_logs_a_refused_statement_with_its_problems(client, org, tmp_path: Path):
    path = write(tmp_path, "evil.xml", HOSTILE["external entity"])

    with pytest.raises(CommandError):
        call_command("bank", "import", str(path), stdout=io.StringIO(), stderr=io.StringIO())

    run = ImportRun.objects.get(organisation=org)
    assert (run.file_name, run.status) == ("evil.xml", ImportRun.Status.FAILED)
    assert "DTD or entities" in run.error
    client.force_login(f.member(org, "vera@acme.test", "viewer"))
    detail = client.get(reverse("console:import_run", args=[run.pk])).content.decode()
    assert "the XML declares a DTD or entities: refused" in detail
    assert "bank-queue-link" not in detail  # nothing reached the queue


def test_it_logs_a_statement_confirmed_in_the_console_not_its_preview(client, org):
    manager = f.member(org, "manon@acme.test", "manager")
    client.force_login(manager)
    token = token_of(upload(client, ("releve.xml", statement(org))))

    client.post(url(token, "preview"))
    assert not ImportRun.objects.exists()  # a preview writes nothing, the log neither
    client.post(url(token, "confirm"))

    run = ImportRun.objects.get(organisation=org)
    assert (run.user, run.status, run.counts["bank_matched"]) == (manager, "done", 1)
    assert staging.load(org, token).last["run_id"] == run.pk
    page = client.get(reverse("console:imports")).content.decode()
    assert f'data-run="{run.pk}"' in page and "manon@acme.test" in page
