"""Re-imports skip the rows of invoices as last imported (their fingerprint), and end
exactly where a re-import that reads every row ends."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import factories
import pytest
from hypothesis import given
from hypothesis import strategies as st

from relance.ledger.imports import ImportFailed, import_file, read_file
from relance.ledger.imports.apply import apply_batch, known_fingerprints
from relance.ledger.imports.mapping import SAMPLE_ROWS, load_mapping
from relance.ledger.imports.records import InvoiceRecord, LedgerBatch, Unchanged
from relance.ledger.models import Customer, ImportRun, Invoice, Payment

# Their messages are read in English (the default language is French).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
TODAY = dt.date(2026, 11, 22)
ROWS = 60  # more than the SAMPLE_ROWS always read
MAPPING = """
name: erp
record: invoice
encoding: utf-8
delimiter: ";"
snapshot: true
columns:
  customer.reference: Compte
  customer.legal_name: Nom
  invoice.number: Facture
  invoice.issue_date: Date
  invoice.due_date: Échéance
  invoice.amount: TTC
  invoice.open_amount: Reste
  invoice.disputed: Litige
"""
HEADER = "Compte;Nom;Facture;Date;Échéance;TTC;Reste;Litige"


def row(n: int, *, open_amount: str | None = None, name: str | None = None, due: str = "") -> str:
    customer = f"C{n % 7:03d}"
    amount = f"{100 + n},00"
    left = open_amount if open_amount is not None else ("0,00" if n % 3 else amount)
    due = due or f"{1 + n % 28:02d}/11/2026"
    disputed = "oui" if n % 11 == 0 else "non"
    return (
        f"{customer};{name or 'Client ' + customer};FA-{n:04d};01/10/2026;{due};"
        f"{amount};{left};{disputed}"
    )


def write(path: Path, lines: list[str]) -> Path:
    return factories.text_file(path, [HEADER, *lines])


def mapping(tmp_path: Path):
    return load_mapping(factories.mapping_file(tmp_path / "mapping.yaml", MAPPING))


def do_import(org, path: Path, tmp_path: Path, **kw):
    return import_file(org, path, mapping=mapping(tmp_path), as_of=TODAY, **kw)


def test_it_skips_the_rows_as_last_imported(org, tmp_path):
    path = write(tmp_path / "ar.csv", [row(n) for n in range(1, ROWS + 1)])
    do_import(org, path, tmp_path)
    assert Invoice.objects.filter(organisation=org, import_fingerprint__isnull=True).count() == 0

    batch = read_file(path, mapping=mapping(tmp_path), as_of=TODAY, known=known_fingerprints(org))
    # Only the first rows (the sample) were parsed; the customers were all read.
    assert len(batch.invoices) == SAMPLE_ROWS
    assert len(batch.unchanged) == ROWS - SAMPLE_ROWS
    assert set(batch.customers) == {f"C{n:03d}" for n in range(7)}


def test_it_writes_nothing_for_the_same_file_again(org, tmp_path):
    path = write(tmp_path / "ar.csv", [row(n) for n in range(1, ROWS + 1)])
    do_import(org, path, tmp_path)
    before = factories.ledger_by_keys(org)
    payments_before = list(Payment.objects.filter(organisation=org).values_list("pk", "date"))

    again = do_import(org, path, tmp_path)

    assert dict(again.counts) == {"invoices_unchanged": ROWS}
    assert factories.ledger_by_keys(org) == before
    assert list(Payment.objects.filter(organisation=org).values_list("pk", "date")) == (
        payments_before
    )
    assert ImportRun.objects.filter(organisation=org, status="done").count() == 2


def skipping_as_reading(org, other_org, first: Path, later: Path, tmp_path: Path):
    """``later`` imported after ``first`` into ``org`` (its unchanged rows skipped) and into
    ``other_org`` (every row read: no fingerprint kept), checked to end on the same ledger
    and counts; ``org``'s result."""
    do_import(org, first, tmp_path)
    do_import(other_org, first, tmp_path)
    Invoice.objects.filter(organisation=other_org).update(import_fingerprint=None)
    skipping = do_import(org, later, tmp_path)
    reading = do_import(other_org, later, tmp_path)
    ledgers = [factories.ledger_by_keys(o, fingerprints=False) for o in (org, other_org)]
    assert ledgers[0] == ledgers[1]
    assert skipping.counts == reading.counts
    return skipping


def test_it_ends_where_a_reading_of_every_row_ends(org, other_org, tmp_path):
    first = write(tmp_path / "v1.csv", [row(n) for n in range(1, ROWS + 1)])
    later_rows = {n: row(n) for n in range(1, ROWS + 2)}  # one new
    later_rows[41] = row(41, open_amount="0,00")  # paid since
    later_rows[42] = row(42, open_amount="12,00")  # partly paid
    later_rows[46] = row(46).replace(";non", ";oui")  # disputed since
    later_rows[45] = row(45, due="30/12/2026")  # due date moved
    del later_rows[51]  # vanished from the snapshot: paid in the source system
    later_rows[56] = row(56, name="Client renamed")  # its customer renamed on this row
    later = write(tmp_path / "v2.csv", list(later_rows.values()))

    skipping = skipping_as_reading(org, other_org, first, later, tmp_path)

    assert skipping.counts["invoices_created"] == 1
    assert skipping.counts["invoices_settled"] == 1
    assert skipping.counts["disputes_opened"] == 1
    assert Customer.objects.get(organisation=org, reference=f"C{56 % 7:03d}").legal_name == (
        "Client renamed"
    )


def test_it_refuses_a_new_row_repeating_an_unchanged_invoice(org, tmp_path):
    lines = [row(n) for n in range(1, ROWS + 1)]
    do_import(org, write(tmp_path / "v1.csv", lines), tmp_path)
    before = factories.ledger_by_keys(org)
    twice = write(tmp_path / "v2.csv", [*lines, row(45, open_amount="1,00"), "X;;;;;;;"])

    with pytest.raises(ImportFailed) as refused:
        do_import(org, twice, tmp_path)

    messages = [str(p) for p in refused.value.problems]
    assert any(
        f"row {ROWS + 2}" in m and "'FA-0045' appears twice (also row 46)" in m for m in messages
    )
    assert any(f"row {ROWS + 3}" in m for m in messages)  # and the bad row, at once
    assert factories.ledger_by_keys(org) == before


def test_it_reads_again_rows_whose_due_date_follows_the_terms(org, tmp_path):
    lines = [row(n) for n in range(1, ROWS + 1)]
    lines[30] = row(31, due=" ").replace("; ;", ";;")  # no due date: the customer's terms
    path = write(tmp_path / "ar.csv", lines)
    do_import(org, path, tmp_path)

    batch = read_file(path, mapping=mapping(tmp_path), as_of=TODAY, known=known_fingerprints(org))

    assert "FA-0031" in {inv.number for inv in batch.invoices}
    assert "FA-0031" not in batch.unchanged


def test_it_reads_again_a_row_another_import_changed(org, tmp_path):
    path = write(tmp_path / "ar.csv", [row(n) for n in range(1, ROWS + 1)])
    do_import(org, path, tmp_path)
    invoice = Invoice.objects.get(organisation=org, number="FA-0050")
    # The API (or another format) corrects the invoice: the row's fingerprint goes.
    correction = LedgerBatch(file="api", format="api", source="api")
    correction.invoices.append(
        InvoiceRecord(
            number="FA-0050", customer=invoice.customer.reference, issue_date=invoice.issue_date,
            due_date=invoice.due_date, currency="EUR", amount=Decimal("999.00"),
        )
    )  # fmt: skip
    correction.customer(invoice.customer.reference)
    apply_batch(org, correction, as_of=TODAY)
    invoice.refresh_from_db()
    assert invoice.amount == Decimal("999.00") and invoice.import_fingerprint is None

    again = do_import(org, path, tmp_path)

    invoice.refresh_from_db()
    assert invoice.amount == Decimal("150.00")
    assert again.counts["invoices_updated"] == 1


def test_it_builds_the_same_as_ever_from_a_factory_ledger(org, tmp_path):
    """An invoice of the ledger the file never had is left alone by a snapshot of another
    source, skipped rows or not."""
    customer = factories.customer(org, "C001")
    kept = factories.invoice(customer, "OTHER-1", amount="50.00", due=TODAY)
    path = write(tmp_path / "ar.csv", [row(n) for n in range(1, ROWS + 1)])
    do_import(org, path, tmp_path)
    do_import(org, path, tmp_path)
    kept.refresh_from_db()
    assert kept.balance == Decimal("50.00")


@given(
    st.lists(st.lists(st.integers(0, 10**6), max_size=5), max_size=6),
    st.dictionaries(st.integers(0, 10**6), st.integers(0, 9), max_size=4),
)
def test_the_unchanged_rows_noted_are_a_dict(blocks, later):
    """``Unchanged`` (the rows noted a block at a time, kept as noted) reads as the dict
    the same notes and updates make, in the same order."""
    unchanged, expected = Unchanged(), {}
    seen: set[str] = set()
    for block in blocks:
        numbers = [f"FA-{n}" for n in dict.fromkeys(block) if f"FA-{n}" not in seen]
        seen.update(numbers)
        rows = list(range(len(numbers)))
        unchanged.note(numbers, rows)
        expected.update(zip(numbers, rows, strict=True))
        assert len(unchanged) == len(expected) and list(unchanged) == list(expected)
    unchanged.update({f"FA-{n}": row for n, row in later.items()})
    expected.update({f"FA-{n}": row for n, row in later.items()})
    assert dict(unchanged.as_dict()) == expected
    assert list(unchanged.items()) == list(expected.items())
    assert len(unchanged) == len(expected) and all(number in unchanged for number in expected)
