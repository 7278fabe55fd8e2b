"""A first import (an empty ledger) looks nothing up, writes its new rows as it goes, and
ends on the same ledger whatever the size of its writes and of the chunks it reads the
file in (relance.ledger.imports.stream)."""

from __future__ import annotations

import datetime as dt
import re
import tracemalloc
from pathlib import Path

import factories
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from stdnum import luhn

from relance.ledger.imports import ImportFailed, import_file, restream, stream
from relance.ledger.imports.apply import LOOKUP, _Inserts
from relance.ledger.imports.mapping import load_mapping
from relance.ledger.models import Allocation, Customer, ImportRun, Invoice, Payment, TimelineEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
TODAY = dt.date(2026, 11, 30)
MAPPING = Path(__file__).resolve().parent.parent / "bench" / "mapping.yaml"
HEADER = (
    "Compte client;Raison sociale;SIREN;N° facture;Date facture;Date échéance;Montant HT;"
    "Montant TTC;Reste dû"
)
# A lookup of the ledger's rows by the file's keys (an IN list of numbers, references, ids).
KEY_LOOKUP = re.compile(r'"(number|reference|payment_id|invoice_id)" IN \(')


def siren(n: int) -> str:
    body = f"{100000000 + n * 7:09d}"[:8]
    return body + luhn.calc_check_digit(body)


def receivables(path: Path, rows: int, customers: int = 40) -> Path:
    """The bench's kind of file (bench/generate.py): one row per invoice, French values;
    two in three paid, one in six partly."""
    lines = [HEADER]
    for n in range(1, rows + 1):
        c = n % customers
        excl = 100 + n % 900
        total = excl * 12 // 10
        left = (0, total, total // 2, 0, 0, total)[n % 6]
        day = dt.date(2025, 1, 1) + dt.timedelta(days=n % 600)
        due = day + dt.timedelta(days=30)
        lines.append(
            f"C{c:05d};Client {c} SARL;{siren(c)};FA{n:07d};{day:%d/%m/%Y};"
            f"{due:%d/%m/%Y};{excl},00;{total:_},50;{left:_},{'50' if left else '00'}".replace(
                "_", " "
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def do_import(org, path: Path, **kw):
    return import_file(org, path, mapping=load_mapping(MAPPING), as_of=TODAY, **kw)


def test_it_looks_up_no_key_on_a_first_import(org, tmp_path):
    path = receivables(tmp_path / "ar.csv", LOOKUP + 500)  # more than one IN list's worth

    with CaptureQueriesContext(connection) as queries:
        result = do_import(org, path)

    assert result.counts["invoices_created"] == LOOKUP + 500
    lookups = [q["sql"][:200] for q in queries if KEY_LOOKUP.search(q["sql"])]
    assert lookups == []


def test_it_ends_on_the_same_ledger_whatever_the_size_of_its_writes(
    org, other_org, tmp_path, monkeypatch
):
    path = receivables(tmp_path / "ar.csv", 300)
    whole = do_import(other_org, path)

    monkeypatch.setattr(_Inserts, "FLUSH", 7)  # a write every 7 new rows
    dry = do_import(org, path, dry_run=True)
    assert dry.counts == whole.counts
    assert Invoice.objects.filter(organisation=org).count() == 0
    chunked = do_import(org, path)

    assert chunked.counts == whole.counts
    assert chunked.changes == whole.changes
    assert factories.ledger_by_keys(org) == factories.ledger_by_keys(other_org)
    again = do_import(org, path)
    assert again.counts == {"invoices_unchanged": 300}


def test_it_holds_less_than_two_kilobytes_a_row_on_a_first_import(org, tmp_path):
    # Python's own allocations, not the process's memory: the records of the file, what
    # the comparison builds and the rows waiting for their insert (2.5 kB a row before).
    rows = 10_000
    path = receivables(tmp_path / "ar.csv", rows, customers=2000)
    tracemalloc.start()
    try:
        do_import(org, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert Invoice.objects.filter(organisation=org).count() == rows
    assert peak / rows < 2000


def extra_row(number: str, name: str = "Client 1 SARL") -> str:
    """A row of customer C00001 (rows 2, 42, ... of ``receivables``)."""
    return f"C00001;{name};{siren(1)};{number};01/02/2025;03/03/2025;10,00;12,00;0,00\n"


def whole_file(monkeypatch) -> None:
    """The import reads the whole file before comparing it (apply._Applier), as before
    the streamed first import (and re-import)."""
    monkeypatch.setattr(stream, "streams", lambda *args: False)
    monkeypatch.setattr(restream, "restreams", lambda *args: False)


def refused_both_ways(org, other_org, path: Path, monkeypatch) -> ImportFailed:
    """The refusal of ``path`` streamed 7 rows at a time into ``org``, checked to be the
    one of the whole file read at once into ``other_org``."""
    with monkeypatch.context() as m:
        whole_file(m)
        with pytest.raises(ImportFailed) as read_whole:
            do_import(other_org, path)
    monkeypatch.setattr(stream, "CHUNK", 7)
    with pytest.raises(ImportFailed) as chunked:
        do_import(org, path)
    assert chunked.value.problems == read_whole.value.problems
    return chunked.value


def test_a_first_import_in_chunks_ends_as_the_whole_file_does(
    org, other_org, tmp_path, monkeypatch
):
    path = receivables(tmp_path / "ar.csv", 300)
    with path.open("a", encoding="utf-8") as fh:  # the last word on a customer of row 2
        fh.write(extra_row("FA9999999", "Client 1 SAS"))
    with monkeypatch.context() as m:
        whole_file(m)
        whole_dry = do_import(other_org, path, dry_run=True)
        whole = do_import(other_org, path)

    monkeypatch.setattr(stream, "CHUNK", 7)  # a chunk every 7 rows
    dry = do_import(org, path, dry_run=True)
    assert Customer.objects.filter(organisation=org).count() == 0
    chunked = do_import(org, path)

    for streamed, read_whole in ((dry, whole_dry), (chunked, whole)):
        assert streamed.counts == read_whole.counts
        assert streamed.changes == read_whole.changes
        assert streamed.sample == read_whole.sample
        assert streamed.rows == read_whole.rows == 301
    assert factories.ledger_by_keys(org) == factories.ledger_by_keys(other_org)
    assert Customer.objects.get(organisation=org, reference="C00001").legal_name == "Client 1 SAS"
    timeline = sorted(
        TimelineEvent.objects.filter(organisation=org).values_list("customer__reference", "summary")
    )
    assert timeline == sorted(
        TimelineEvent.objects.filter(organisation=other_org).values_list(
            "customer__reference", "summary"
        )
    )
    assert do_import(org, path).counts == {"invoices_unchanged": 301}


def test_a_problem_in_the_last_chunk_is_found_and_nothing_is_written(
    org, other_org, tmp_path, monkeypatch
):
    path = receivables(tmp_path / "ar.csv", 30)
    with path.open("a", encoding="utf-8") as fh:
        # A number of row 3 again, and one of row 4 in lower case, in the last chunk.
        fh.write(extra_row("FA0000002") + extra_row("fa0000003"))
    refused = refused_both_ways(org, other_org, path, monkeypatch)

    assert [str(p) for p in refused.problems] == [
        "ar.csv, row 32, field 'N° facture': invoice number 'FA0000002' appears twice (also row 3)",
        "ar.csv, row 33, field 'N° facture': invoice number 'fa0000003' differs only by case "
        "or spaces from 'FA0000003' (row 4): the same invoice twice?",
        "ar.csv, row 32, field 'payment.reference': payment reference 'FA0000002/paid' appears "
        "twice (also row 3)",
    ]
    for model in (Customer, Invoice, Payment, Allocation):
        assert not model.objects.filter(organisation=org).exists()
    run = ImportRun.objects.get(organisation=org)
    assert run.status == ImportRun.Status.FAILED
    assert run.counts == ImportRun.objects.get(organisation=other_org).counts
    with pytest.raises(ImportFailed) as dry:
        do_import(org, path, dry_run=True)
    assert dry.value.problems == refused.problems


def test_a_customer_value_made_wrong_on_a_later_chunk_is_found(
    org, other_org, tmp_path, monkeypatch
):
    """A customer checked right when its first chunk wrote it is checked again when a later
    row changes it: a wrong SIREN there is refused, one written with spaces is kept clean."""
    path = receivables(tmp_path / "ar.csv", 30)
    spaced = f"{siren(2)[:3]} {siren(2)[3:6]} {siren(2)[6:]}"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(extra_row("FA9999998").replace(siren(1), "123456789"))
        fh.write(extra_row("FA9999999").replace("C00001", "C00002").replace(siren(1), spaced))
    refused = refused_both_ways(org, other_org, path, monkeypatch)

    assert [str(p) for p in refused.problems] == [
        "ar.csv, row 2, field 'SIREN': '123456789' is not a valid SIREN (9 digits with a "
        "valid check digit)",
    ]
    path.write_text(path.read_text(encoding="utf-8").replace("123456789", siren(1)), "utf-8")
    do_import(org, path)
    assert Customer.objects.get(organisation=org, reference="C00002").siren == siren(2)
