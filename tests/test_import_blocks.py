"""A re-import takes the file's rows a block at a time (mapping.read_rows): unchanged rows
are found, and their customers' columns applied, in C; the rows that changed are read in
file order between them. Whatever the block's size, it ends where reading every row ends."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import let_fork
from test_import_unchanged_rows import (
    MAPPING,
    TODAY,
    do_import,
    mapping,
    row,
    skipping_as_reading,
    write,
)

from relance.ledger.imports import ImportFailed, import_file, read_file, tabular
from relance.ledger.imports import mapping as mapping_module
from relance.ledger.imports.apply import known_fingerprints
from relance.ledger.imports.mapping import (
    SAMPLE_ROWS,
    fingerprints,
    load_mapping,
    read_rows,
    row_fingerprint,
)
from relance.ledger.imports.tabular import read_table
from relance.ledger.models import Customer, Invoice

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
ROWS = 60
BLOCKS = [1, 2, 7, 1000]  # 7: the sample's last row and the first skipped one share a block


def read(path: Path, tmp_path: Path, known: dict[int, str] | None, block: int):
    table = read_table(path, encoding="utf-8", delimiter=";")
    return read_rows(table, mapping(tmp_path), default_currency="EUR", as_of=TODAY,
                     known=known, block=block)  # fmt: skip


def customers(batch) -> dict[str, tuple[int | None, dict]]:
    return {ref: (c.row, c.fields) for ref, c in batch.customers.items()}


def test_the_fingerprint_is_the_one_of_version_1():
    key = hashlib.blake2b(b"key", digest_size=32).digest()
    rows = [["C001", "Société Générale", "FA-1", "", "1 234,56"], [""], ["é" * 300, "x"]]
    assert fingerprints(key)(rows) == [row_fingerprint(key, cells) for cells in rows]
    # As the first imports stored it: a re-import after the upgrade skips their rows.
    digest = hashlib.blake2b(b"C001\x1fFA-1", digest_size=8, key=key).digest()
    assert fingerprints(key)([["C001", "FA-1"]]) == [int.from_bytes(digest, "big", signed=True)]


@pytest.mark.parametrize("block", BLOCKS)
def test_a_changed_row_between_unchanged_rows_of_its_customer(org, other_org, tmp_path, block):
    """The customer's fields follow the file's last row: a row renaming the customer, then
    unchanged rows of theirs with the old name, end on the old name; the rows of another
    customer whose name alternates row after row end on their last row's."""
    lines = [row(n) for n in range(1, ROWS + 1)]
    for n in (32, 39, 46, 53):  # customer C004's rows: their name alternates
        lines[n - 1] = row(n, name="Client Y" if n % 2 else "Client X")
    lines[37] = row(38, name="Client B")  # C003: another name on one row, then their own
    first = write(tmp_path / "v1.csv", lines)
    later_lines = list(lines)
    later_lines[29] = row(30, open_amount="1,00")
    renamed = 33  # customer C005: an unchanged row of theirs before (26), and after (40...)
    later_lines[renamed - 1] = row(renamed, name="Client renamed", open_amount="1,00")
    later_lines[ROWS - 1] = row(ROWS, open_amount="2,00")  # the last row changed too
    later = write(tmp_path / "v2.csv", later_lines)
    do_import(org, first, tmp_path)
    do_import(other_org, first, tmp_path)
    Invoice.objects.filter(organisation=other_org).update(import_fingerprint=None)

    skipping = read(later, tmp_path, known_fingerprints(org), block)
    reading = read(later, tmp_path, None, block)

    assert customers(skipping) == customers(reading)
    assert len(skipping.invoices) == SAMPLE_ROWS + 3
    assert set(skipping.unchanged) | {i.number for i in skipping.invoices} == {
        i.number for i in reading.invoices
    }
    assert list(skipping.unchanged.values()) == sorted(skipping.unchanged.values())
    name_of = {ref: fields.get("legal_name") for ref, (_, fields) in customers(skipping).items()}
    last_of = {}
    for n in range(1, ROWS + 1):
        last_of[f"C{n % 7:03d}"] = later_lines[n - 1].split(";")[1]
    assert name_of == last_of
    assert name_of["C005"] == "Client C005" and name_of["C003"] == "Client C003"


@pytest.mark.parametrize("block", BLOCKS)
def test_it_ends_on_the_ledger_of_a_reading_of_every_row(
    org, other_org, tmp_path, monkeypatch, block
):
    monkeypatch.setattr("relance.ledger.imports.mapping.BLOCK", block)
    lines = [row(n) for n in range(1, ROWS + 1)]
    first = write(tmp_path / "v1.csv", lines)
    later_lines = list(lines)
    later_lines[4] = row(5, name="Renamed in the sample", open_amount="3,00")
    later_lines[25] = row(26, name="Renamed later")  # then unchanged rows of C005
    later_lines[40] = row(41, open_amount="0,00")
    later_lines.append(row(ROWS + 1))
    later = write(tmp_path / "v2.csv", later_lines)

    skipping = skipping_as_reading(org, other_org, first, later, tmp_path)

    assert skipping.counts["invoices_created"] == 1
    names = dict(Customer.objects.filter(organisation=org).values_list("reference", "legal_name"))
    assert names["C005"] == "Client C005" and names["C006"] == "Client C006"


@pytest.mark.parametrize("block", BLOCKS)
def test_a_row_twice_is_read_the_second_time(org, tmp_path, monkeypatch, block):
    monkeypatch.setattr("relance.ledger.imports.mapping.BLOCK", block)
    lines = [row(n) for n in range(1, ROWS + 1)]
    do_import(org, write(tmp_path / "v1.csv", lines), tmp_path)
    twice = write(tmp_path / "v2.csv", [*lines[:40], lines[35], *lines[40:]])

    with pytest.raises(ImportFailed) as refused:
        do_import(org, twice, tmp_path)

    messages = [str(p) for p in refused.value.problems]
    assert any("row 42" in m and "'FA-0036' appears twice (also row 37)" in m for m in messages)


@pytest.mark.parametrize("block", [1, 3, 1000])
def test_the_sample_rows_are_read_even_unchanged(org, tmp_path, block):
    path = write(tmp_path / "ar.csv", [row(n) for n in range(1, ROWS + 1)])
    do_import(org, path, tmp_path)

    batch = read(path, tmp_path, known_fingerprints(org), block)

    assert [i.row for i in batch.invoices] == list(range(2, SAMPLE_ROWS + 2))
    assert list(batch.unchanged.values()) == list(range(SAMPLE_ROWS + 2, ROWS + 2))
    assert all(i.fingerprint is not None for i in batch.invoices)


def test_a_spreadsheet_is_taken_in_blocks_too(org, tmp_path):
    """A table without blocks of its own (XLSX, ODS): its rows gathered into blocks."""
    path = write(tmp_path / "ar.csv", [row(n) for n in range(1, ROWS + 1)])
    do_import(org, path, tmp_path)
    table = read_table(path, encoding="utf-8", delimiter=";")
    table.blocks, table.delimiter = None, ""  # as a spreadsheet's

    batch = read_rows(table, mapping(tmp_path), default_currency="EUR", as_of=TODAY,
                      known=known_fingerprints(org), block=7)  # fmt: skip

    assert len(batch.unchanged) == ROWS - SAMPLE_ROWS
    assert batch.rows_read == ROWS


def test_the_same_rows_come_in_blocks_of_any_size(tmp_path):
    """Values over several lines (\\n, \\r\\n, \\r inside quotes), blank lines, and rows
    numbered as the file's lines, whatever the block."""
    text = (
        'a;b\r\n1;"two\nlines"\r\n\r\n ; \r\n3;"cr\r\nlf"\r\n4;"lone\rcr"\r\n5;x\r\n'
        '6;"x\n\ny"\r\n7;z'
    )
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode())
    expected = list(read_table(path, delimiter=";").rows)
    assert [line for line, _ in expected] == [3, 7, 9, 10, 13, 14]  # as read row by row
    for size in (1, 2, 3, 100):
        got = [
            pair
            for lines, cells in read_table(path, delimiter=";").blocks(size)  # type: ignore[misc]
            for pair in zip(lines, cells, strict=True)
        ]
        assert got == expected


def test_a_line_too_long_comes_after_the_rows_before_it(tmp_path, monkeypatch):
    monkeypatch.setattr("relance.ledger.imports.tabular.MAX_LINE", 40)
    path = tmp_path / "t.csv"
    path.write_text("a;b\n1;x\n2;y\n" + "3;" + "z" * 50 + "\n4;w\n", encoding="utf-8")
    table = read_table(path, delimiter=";")
    seen = []
    with pytest.raises(ImportFailed) as refused:
        for lines, cells in table.blocks(100):  # type: ignore[misc]
            seen += zip(lines, cells, strict=True)
    assert seen == [(2, ["1", "x"]), (3, ["2", "y"])]
    assert refused.value.problems[0].row == 4


def test_read_file_reads_the_same_in_blocks(org, tmp_path):
    path = write(tmp_path / "ar.csv", [row(n) for n in range(1, ROWS + 1)])
    do_import(org, path, tmp_path)
    batch = read_file(path, mapping=mapping(tmp_path), as_of=TODAY, known=known_fingerprints(org))
    assert len(batch.unchanged) == ROWS - SAMPLE_ROWS


def test_customers_over_a_limit_are_found_among_many():
    """The customers' limits are checked a field at a time; a value over its column's limit
    sends them one by one, in order, as before."""
    from decimal import Decimal

    from relance.ledger.imports.limits import check_customers
    from relance.ledger.imports.records import CustomerRecord

    def customer(n: int, **fields) -> CustomerRecord:
        return CustomerRecord(f"C{n:03d}", n, {"legal_name": f"Client {n}", **fields})

    fine = [customer(n, address={"line1": "1 rue", "city": "Lyon"}) for n in range(150)]
    fine.append(customer(150, credit_limit=Decimal("1000.00"), payment_terms_days=30))
    assert list(check_customers(fine)) == []
    over = [
        *fine[:10],
        customer(10, legal_name="x" * 300),
        *fine[11:20],
        customer(20, address={"line1": "", "city": "y" * 300}),
        customer(21, credit_limit=Decimal(10) ** 20),
        customer(22, siren=123456789),  # not text: looked at one by one, not refused here
        *fine[23:],
    ]
    found = [(row, target) for row, target, _message in check_customers(over)]
    assert found == [(10, "customer.legal_name"), (20, "customer.address.city"),
                     (21, "customer.credit_limit")]  # fmt: skip


def read_in_halves(path: Path, tmp_path: Path, known: dict[int, str], cut_line: int | None,
                   read_here: list[int] | None = None, **kw):  # fmt: skip
    """read_rows with the file cut after ``cut_line`` (None: read in one process);
    ``read_here`` gets a 1 each time this process reads the second half itself; ``kw``
    to read_rows (a sink)."""

    def cut(data: bytes) -> tuple[int, int] | None:
        if cut_line is None:
            return None
        offset = 0
        for _ in range(cut_line):
            offset = data.index(b"\n", offset) + 1
        return offset, cut_line

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tabular, "HALVES_FROM", 1)
        patch.setattr(tabular, "_middle", cut)
        let_fork(patch)
        table = read_table(path, encoding="utf-8", delimiter=";", halves=True)
        assert (table.rest is not None) == (cut_line is not None)
        if table.rest is not None and read_here is not None:
            # The other process reads the half too: count this one's readings only.
            table.rest = counted(table.rest, read_here)
            if table.rest_lines is not None:  # a plain file's (tabular.Table.plain)
                table.rest_lines = counted(table.rest_lines, read_here)
        return read_rows(table, with_contacts(tmp_path), default_currency="EUR", as_of=TODAY,
                         known=dict(known), block=3, **kw)  # fmt: skip


def counted(blocks, read_here: list[int]):
    """``blocks`` (a table's ``rest`` or ``rest_lines``), noting in ``read_here`` each time
    this process reads them."""
    pid = os.getpid()
    return lambda size: (read_here.append(1) if os.getpid() == pid else None, blocks(size))[1]


def cut_table(path: Path, cut_line: int):
    """The table of ``path`` cut after ``cut_line``, as read_in_halves cuts it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tabular, "HALVES_FROM", 1)
        patch.setattr(tabular, "_middle", lambda data: (len(b"".join(
            data.splitlines(keepends=True)[:cut_line])), cut_line))  # fmt: skip
        return read_table(path, encoding="utf-8", delimiter=";", halves=True)


def with_contacts(tmp_path: Path):
    """The mapping, each row naming its customer's contact too (a text applied again shows)."""
    path = tmp_path / "contacts.yaml"
    path.write_text(MAPPING.replace("name: erp", "name: erp-contacts") + "  contact.name: Nom\n")
    return load_mapping(path)


def batch_as_data(batch) -> dict:
    return {
        "customers": [(ref, c.row, c.fields) for ref, c in batch.customers.items()],
        "invoices": list(map(repr, batch.invoices)),
        "contacts": list(map(repr, batch.contacts)),
        "unchanged": list(batch.unchanged.items()),
        "problems": list(map(repr, batch.problems)),
        "rows": batch.rows_read,
    }


def test_a_second_half_skipped_by_another_process_reads_as_in_one(org, tmp_path):
    """The file cut after any line (mapping._read_rest): the same records, customers (each
    one's text applied where reading in order applies it), unchanged rows in file order,
    problems; a row of the second half repeating one of the first is read as changed."""
    lines = [row(n) for n in range(1, ROWS + 1)]
    for n in (32, 39, 46, 53):  # customer C004's rows: their name alternates
        lines[n - 1] = row(n, name="Client Y" if n % 2 else "Client X")
    first = write(tmp_path / "v1.csv", lines)
    import_file(org, first, mapping=with_contacts(tmp_path), as_of=TODAY)
    later_lines = list(lines)
    later_lines[29] = row(30, open_amount="1,00")
    later_lines[32] = row(33, name="Client renamed", open_amount="1,00")  # C005, unchanged after
    later_lines[44] = row(45, open_amount="bad")
    later_lines.append(lines[27])  # a row twice: the second read, as in order
    later = write(tmp_path / "v2.csv", later_lines)
    known = known_fingerprints(org)

    whole = batch_as_data(read_in_halves(later, tmp_path, known, None))
    assert len(whole["unchanged"]) > ROWS // 2 and whole["problems"] and whole["contacts"]
    for cut_line in range(SAMPLE_ROWS + 2, ROWS + 2):
        assert batch_as_data(read_in_halves(later, tmp_path, known, cut_line)) == whole, cut_line


@pytest.mark.parametrize("limit, read_here", [(0, [1]), (1, [1]), (2, [])])
def test_a_second_half_mostly_changed_is_read_here(org, tmp_path, monkeypatch, limit, read_here):
    """Beyond REST_CHANGED rows changed in the second half, the other process gives up (what
    it would send back grows with the file) and this one reads the half: the same batch."""
    lines = [row(n) for n in range(1, ROWS + 1)]
    first = write(tmp_path / "v1.csv", lines)
    import_file(org, first, mapping=with_contacts(tmp_path), as_of=TODAY)
    later_lines = list(lines)
    later_lines[44] = row(45, open_amount="1,00")
    later_lines[50] = row(51, name="Client renamed", open_amount="2,00")  # two rows changed
    later = write(tmp_path / "v2.csv", later_lines)
    known = known_fingerprints(org)
    monkeypatch.setattr(mapping_module, "REST_CHANGED", limit)

    whole = batch_as_data(read_in_halves(later, tmp_path, known, None))
    reads: list[int] = []
    assert batch_as_data(read_in_halves(later, tmp_path, known, ROWS // 2, reads)) == whole
    assert reads == read_here


def test_the_other_process_gives_back_the_unchanged_rows_by_fingerprint(org, tmp_path):
    """What comes back through the pipe for the unchanged rows of the second half: their
    fingerprints and lines as two arrays (this process has their numbers), not numbers."""
    lines = [row(n) for n in range(1, ROWS + 1)]
    path = write(tmp_path / "v1.csv", lines)
    import_file(org, path, mapping=with_contacts(tmp_path), as_of=TODAY)
    known = known_fingerprints(org)
    table = cut_table(path, ROWS // 2)
    assert table.rest is not None
    fields = mapping_module._fields(with_contacts(tmp_path), table, mapping_module.Problems(""))
    key = mapping_module.fingerprint_key(with_contacts(tmp_path), "EUR", table.header)
    _blocks, (found, at) = mapping_module._read_rest(table, fields, dict(known), TODAY, 3, key)
    assert (found.typecode, at.typecode) == ("q", "q")
    assert list(at) == list(range(ROWS // 2 + 1, ROWS + 2))  # the header is line 1
    assert [known[f] for f in found] == [f"FA-{n:04d}" for n in range(ROWS // 2, ROWS + 1)]


def test_the_first_halfs_rows_are_handed_over_before_the_second_half_is_waited_for(
    org, tmp_path, monkeypatch
):
    """The rows read in the first half are written while the other process reads the
    second: handed to the sink before its result is waited for."""
    lines = [row(n) for n in range(1, ROWS + 1)]
    first = write(tmp_path / "v1.csv", lines)
    import_file(org, first, mapping=with_contacts(tmp_path), as_of=TODAY)
    later_lines = list(lines)
    later_lines[29] = row(30, open_amount="1,00")
    later_lines[49] = row(50, open_amount="2,00")
    later = write(tmp_path / "v2.csv", later_lines)
    known = known_fingerprints(org)
    events: list[object] = []
    real = mapping_module.in_child

    @contextmanager
    def spied(work: Any) -> Iterator[Any]:
        with real(work) as result:
            yield lambda: (events.append("waited"), result())[1]

    monkeypatch.setattr(mapping_module, "in_child", spied)
    read_in_halves(
        later, tmp_path, known, ROWS // 2 + 5,
        sink=lambda batch: events.append([rec.number for rec in batch.invoices]),
    )  # fmt: skip
    sample = [f"FA-{n:04d}" for n in range(1, SAMPLE_ROWS + 1)]
    assert events == [[*sample, "FA-0030"], "waited", ["FA-0050"]]
