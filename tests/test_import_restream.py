"""A re-import streamed a chunk at a time (relance.ledger.imports.restream) ends exactly where
the batch path (the file applied whole) ends: the same ledger, result, problems, import log,
audit trail and timeline, for random ledgers and random later files."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import factories
import pytest
from conftest import let_fork
from django.db import transaction
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from relance.ledger.imports import (
    ImportFailed,
    import_file,
    read_file,
    restream,
    stream,
    tabular,
)
from relance.ledger.imports import mapping as mapping_module
from relance.ledger.imports.apply import known_fingerprints
from relance.ledger.imports.mapping import load_mapping

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
TODAY = dt.date(2026, 11, 22)
HEADER = "Compte;Nom;Délai;Contact;Facture;Date;Échéance;TTC;Reste;Litige"
MAPPING = """
name: {name}
record: invoice
encoding: utf-8
delimiter: ";"
snapshot: {snapshot}
columns:
  customer.reference: Compte
  customer.legal_name: Nom
  customer.payment_terms_days: Délai
  contact.name: Contact
  invoice.number: Facture
  invoice.issue_date: Date
  invoice.due_date: Échéance
  invoice.amount: TTC
  invoice.open_amount: Reste
  invoice.disputed: Litige
"""


class Rows:
    """A seeded generator of receivables rows, as a list of the cells of each."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.customers = [f"C{i:03d}" for i in range(self.rng.randint(2, 9))]

    def row(self, n: int, customer: str | None = None) -> list[str]:
        rng = self.rng
        customer = customer or rng.choice(self.customers)
        amount = rng.choice([100, 250, 999, 1200]) + n
        left = rng.choice([amount, amount, 0, amount // 2])
        due = "" if rng.random() < 0.2 else f"{rng.randint(1, 28):02d}/12/2026"
        return [
            customer, f"Client {customer}", "", rng.choice(["", "Paul", "Anne"]),
            f"FA-{n:04d}", f"{rng.randint(1, 28):02d}/10/2026", due, f"{amount},00",
            f"{left},00", rng.choice(["non", "non", "oui"]),
        ]  # fmt: skip

    def later(self, first: list[list[str]]) -> tuple[list[list[str]], set[str]]:
        """A later file of ``first``, and what it holds (for the test to expect streaming)."""
        rng = self.rng
        rows = [list(cells) for cells in first]
        said: set[str] = set()
        for cells in rows:
            if rng.random() < 0.3:  # paid, partly paid, restated, disputed since
                amount = int(cells[7].split(",")[0])
                cells[8] = f"{rng.choice([0, amount // 3, amount])},00"
                if rng.random() < 0.3:
                    cells[7] = f"{amount + 7},00"
                    cells[8] = "0,00"
                cells[9] = rng.choice(["oui", "non"])
        for _ in range(rng.randint(0, 3)):  # vanished (settled when a snapshot)
            if rows:
                del rows[rng.randrange(len(rows))]
        start = 1 + len(first)
        for n in range(start, start + rng.randint(0, 12)):  # new, some of new customers
            new = f"N{rng.randint(0, 3):03d}" if rng.random() < 0.3 else None
            rows.insert(rng.randint(0, len(rows)), self.row(n, new))
        if rng.random() < 0.5 and len(rows) > 3:  # a customer renamed mid-file
            at = rng.randrange(len(rows) // 2, len(rows))
            rows[at][1] = f"Renamed {rows[at][0]}"
            said.add("renamed")
        if rng.random() < 0.3:  # a credit note
            rows.append([rng.choice(self.customers), "", "", "", "AV-0001", "02/11/2026", "",
                         "-50,00", "", "non"])  # fmt: skip
        if rng.random() < 0.25:  # payment terms said on a row: due dates derived may change
            at = rng.randrange(len(rows))
            rows[at][2] = str(rng.choice([30, 45, 60]))
            said.add("terms")
        if rng.random() < 0.2 and rows:  # a row twice
            rows.insert(rng.randint(0, len(rows)), list(rng.choice(rows)))
            said.add("twice")
        if rng.random() < 0.2 and rows:  # a bad row
            rows[rng.randrange(len(rows))][5] = "31/02/2026"
            said.add("bad")
        if rng.random() < 0.15 and rows:  # a number as another, in another case
            rows[rng.randrange(len(rows))][4] = "fa-0001"
            said.add("lookalike")
        return rows, said


def write(path: Path, rows: list[list[str]]) -> Path:
    return factories.text_file(path, [HEADER, *map(";".join, rows)])


def mapping(tmp_path: Path, name: str, snapshot: bool):
    text = MAPPING.format(name=name, snapshot=str(snapshot).lower())
    return load_mapping(factories.mapping_file(tmp_path / f"{name}-{snapshot}.yaml", text))


def outcome(org, path: Path, found: Any, **kw: Any) -> dict[str, Any]:
    """The import's result (or problems) as data, ``found`` keeping whether it streamed
    (a first import or a re-import)."""
    reals = stream.import_streamed, restream.reimport_streamed

    def spy(real: Any) -> Any:
        def spied(*args: Any, **kwargs: Any) -> Any:
            try:
                result = real(*args, **kwargs)
            except restream.Unstreamable:
                found["way"] = "batch"
                raise
            except ImportFailed:
                found["way"] = "streamed"  # refused by the streamed import itself
                raise
            found["way"] = "streamed"
            return result

        return spied

    stream.import_streamed, restream.reimport_streamed = map(spy, reals)  # type: ignore[assignment]
    try:
        result = import_file(org, path, as_of=TODAY, **kw)
    except ImportFailed as failure:
        return {"failed": [vars(p) for p in failure.problems]}
    finally:
        stream.import_streamed, restream.reimport_streamed = reals  # type: ignore[assignment]
    data = result.as_dict()
    data.pop("run_id")
    return {**data, "sample": result.sample}


def children(monkeypatch) -> list[bool]:
    """Whether each other process that read a second half (mapping._read_rest) gave it back."""
    given: list[bool] = []
    real = mapping_module.in_child

    @contextmanager
    def spied(work: Any) -> Iterator[Any]:
        with real(work) as result:

            def waited() -> Any:
                value = result()
                given.append(value is not None)
                return value

            yield waited

    monkeypatch.setattr(mapping_module, "in_child", spied)
    let_fork(monkeypatch)
    return given


def counted_reads(monkeypatch) -> list[Path]:
    """The files ``import_file`` reads (``read_file``), one entry a reading."""
    from relance import ledger

    reads: list[Path] = []
    real_read = ledger.imports.read_file

    def counted(path: Path, **kwargs: Any) -> Any:
        reads.append(path)
        return real_read(path, **kwargs)

    monkeypatch.setattr(ledger.imports, "read_file", counted)
    return reads


@pytest.mark.parametrize("seed", range(40))
def test_a_streamed_reimport_ends_where_the_batch_path_ends(
    seed, org, other_org, tmp_path, monkeypatch
):
    streamed_ends_where_the_batch_path_ends(seed, org, other_org, tmp_path, monkeypatch)


@pytest.mark.parametrize("seed", range(40, 60))
def test_a_file_read_in_halves_ends_where_one_read_whole_ends(
    seed, org, other_org, tmp_path, monkeypatch
):
    """The streamed re-import's file cut in two, its second half skipped by another process
    (mapping._read_rest), against the batch path reading it in one."""
    given = streamed_ends_where_the_batch_path_ends(
        seed, org, other_org, tmp_path, monkeypatch, halves=True
    )
    assert given and all(given)


def streamed_ends_where_the_batch_path_ends(
    seed, org, other_org, tmp_path, monkeypatch, *, halves: bool = False
) -> list[bool]:
    """The comparison, the streamed import's file read in halves or not; which halves
    were given back by the other process."""
    monkeypatch.setattr(restream, "CHUNK", 7)  # many chunks, crossing the file's runs
    monkeypatch.setattr(mapping_module, "BLOCK", 3)
    monkeypatch.setattr(mapping_module, "SAMPLE_ROWS", 5)
    rows = Rows(seed)
    snapshot = seed % 3 != 0
    first = [rows.row(n) for n in range(1, rows.rng.randint(10, 45))]
    later, said = rows.later(first)
    first_mapping = mapping(tmp_path, "erp", snapshot)
    # A mapping renamed reads every row again; the same one skips the unchanged rows.
    later_mapping = mapping(tmp_path, "erp2" if seed % 2 else "erp", snapshot)
    dry_run = seed % 5 == 4
    for each in (org, other_org):  # a ledger with items of its own too
        customer = factories.customer(each, "C000")
        factories.invoice(customer, "OWN-1", due=dt.date(2026, 10, 1), amount=80)
        import_file(each, write(tmp_path / "v1.csv", first), mapping=first_mapping, as_of=TODAY)
    path = write(tmp_path / "v2.csv", later)

    streamed_way: dict[str, str] = {}
    with monkeypatch.context() as in_halves:
        given = children(in_halves)
        if halves:
            in_halves.setattr(tabular, "HALVES_FROM", 1)
        streamed = outcome(org, path, streamed_way, mapping=later_mapping, dry_run=dry_run)
    with monkeypatch.context() as batch_only:
        batch_only.setattr(restream, "restreams", lambda *args: False)
        whole = outcome(other_org, path, {}, mapping=later_mapping, dry_run=dry_run)

    assert streamed == whole
    assert factories.ledger_by_keys(org, log=True) == factories.ledger_by_keys(other_org, log=True)
    if not said & {"twice", "bad", "lookalike", "terms"}:
        assert streamed_way == {"way": "streamed"}, said
    if said & {"twice", "bad"}:
        assert "failed" in streamed
        if not said & {"lookalike", "terms", "twice"}:  # refused streamed, not by the batch path
            assert streamed_way == {"way": "streamed"}, said
    assert any(given) == halves
    return given


def test_a_refusal_found_in_a_later_chunk_writes_nothing(org, tmp_path, monkeypatch):
    monkeypatch.setattr(restream, "CHUNK", 7)
    monkeypatch.setattr(mapping_module, "BLOCK", 3)
    rows = Rows(1)
    first = [rows.row(n) for n in range(1, 40)]
    import_file(org, write(tmp_path / "v1.csv", first), mapping=mapping(tmp_path, "erp", True),
                as_of=TODAY)  # fmt: skip
    before = factories.ledger_by_keys(org, log=True)
    later = [list(cells) for cells in first]
    for cells in later:
        cells[1] = "Renamed"  # every row read again, and written up to the last chunk
    later[-1][5] = "31/02/2026"
    with pytest.raises(ImportFailed) as failed:
        import_file(org, write(tmp_path / "v2.csv", later), mapping=mapping(tmp_path, "erp", True),
                    as_of=TODAY)  # fmt: skip
    assert [p.row for p in failed.value.problems] == [len(later) + 1]
    after = factories.ledger_by_keys(org, log=True)
    assert after.pop("runs") != before.pop("runs")  # the refusal, recorded
    after.pop("audit"), before.pop("audit")
    assert after == before


def test_a_refused_reimport_is_refused_streamed_the_file_read_once(
    org, other_org, tmp_path, monkeypatch
):
    """Problems in the first and last chunks, of every stage the stream finds them in: the
    streamed re-import reports the batch path's list itself, without reading the file
    again, and writes nothing."""
    monkeypatch.setattr(restream, "CHUNK", 7)
    monkeypatch.setattr(mapping_module, "BLOCK", 3)
    monkeypatch.setattr(mapping_module, "SAMPLE_ROWS", 5)
    rows = Rows(5)
    first = [rows.row(n) for n in range(1, 41)]
    erp = mapping(tmp_path, "erp", True)
    for each in (org, other_org):
        import_file(each, write(tmp_path / "v1.csv", first), mapping=erp, as_of=TODAY)
    before = factories.ledger_by_keys(org)
    later = [list(cells) for cells in first]
    later[1][5] = "31/02/2026"  # not a date (read)
    later[2][4] = later[30][4]  # a number read, and skipped as unchanged on row 32
    later[3][7] = "douze"  # not an amount (read)
    later[36][6] = "01/01/2026"  # due before its issue date (applied)
    later[37][4], later[38][4] = "FA-0999", "FA-0999"  # twice in the last chunk
    later[38][1] = "Renamed"
    path = write(tmp_path / "v2.csv", later)
    reads = counted_reads(monkeypatch)
    way: dict[str, str] = {}
    streamed = outcome(org, path, way, mapping=erp)
    with monkeypatch.context() as batch_only:
        batch_only.setattr(restream, "restreams", lambda *args: False)
        whole = outcome(other_org, path, {}, mapping=erp)

    assert way == {"way": "streamed"} and len(reads) == 2  # once each way
    assert streamed == whole
    assert [(p["row"], p["field"]) for p in streamed["failed"]] == [
        (3, "Date"), (5, "TTC"), (4, "Facture"), (40, "Facture"), (40, "payment.reference"),
        (38, "invoice.due_date"),
    ]  # fmt: skip
    after = factories.ledger_by_keys(org, log=True)
    assert [run[3] for run in after.pop("runs")] == ["done", "failed"]
    after.pop("audit"), after.pop("timeline")
    assert after == before
    assert factories.ledger_by_keys(org, log=True) == factories.ledger_by_keys(other_org, log=True)


def test_a_first_import_with_a_number_in_two_chunks_is_refused_streamed(
    org, other_org, tmp_path, monkeypatch
):
    """An invoice number in the first and fifth chunks, its first row paid, its last not:
    the batch path counts the first row's payment against the last row's invoice (an
    excess). The first import reads the file again holding those rows back, and refuses it
    with the batch path's problems, in its order, writing nothing."""
    monkeypatch.setattr(stream, "CHUNK", 7)
    monkeypatch.setattr(mapping_module, "BLOCK", 3)
    rows = Rows(8)
    cells = [rows.row(n) for n in range(1, 41)]
    cells[1][6] = "01/01/2026"  # due before its issue date, before the number's rows
    cells[2][4], cells[2][7], cells[2][8] = "FA-0031", "1200,00", "0,00"  # paid in full
    cells[30][7], cells[30][8] = "250,00", "250,00"  # FA-0031 again, nothing paid
    cells[33][6] = "01/01/2026"  # and after them
    cells[35][4] = "fa-0037"  # a look-alike of the next row's number
    cells[37][4] = "FA-0037"  # which is twice in that chunk
    path = write(tmp_path / "v1.csv", cells)
    erp = mapping(tmp_path, "erp", False)
    reads = counted_reads(monkeypatch)
    way: dict[str, str] = {}
    streamed = outcome(org, path, way, mapping=erp)
    with monkeypatch.context() as batch_only:
        batch_only.setattr(stream, "streams", lambda *args: False)
        batch_only.setattr(restream, "restreams", lambda *args: False)
        whole = outcome(other_org, path, {}, mapping=erp)

    assert way == {"way": "streamed"} and len(reads) == 3  # twice streamed, once whole
    assert streamed == whole
    assert [(p["row"], p["field"]) for p in streamed["failed"]] == [
        (32, "Facture"), (39, "Facture"), (38, "Facture"), (39, "Facture"),
        (3, "invoice.due_date"), (35, "invoice.due_date"), (32, "invoice.amount"),
    ]  # fmt: skip
    assert factories.ledger_by_keys(org, log=True) == factories.ledger_by_keys(other_org, log=True)
    assert [run[3] for run in factories.ledger_by_keys(org, log=True)["runs"]] == ["failed"]


def test_the_rows_read_are_handed_over_by_chunks_the_skipped_ones_noted(org, tmp_path, monkeypatch):
    monkeypatch.setattr(mapping_module, "BLOCK", 3)
    rows = Rows(3)
    first = [rows.row(n) for n in range(1, 61)]
    import_file(org, write(tmp_path / "v1.csv", first), mapping=mapping(tmp_path, "erp", False),
                as_of=TODAY)  # fmt: skip
    later = [list(cells) for cells in first]
    for cells in later[::2]:
        cells[1] = "Renamed"  # every other row read again
    chunks: list[list[str]] = []
    batch = read_file(
        write(tmp_path / "v2.csv", later), mapping=mapping(tmp_path, "erp", False), as_of=TODAY,
        known=known_fingerprints(org), chunk=7,
        sink=lambda handed: chunks.append([rec.number for rec in handed.invoices]),
    )  # fmt: skip

    assert len(chunks) > 3
    # Rows 22, 24... 60 are past the sample and as last imported (but those of a derived due date).
    assert 10 < len(batch.unchanged) <= 20
    assert all(len(numbers) < 7 + 3 for numbers in chunks)  # a block at most past a chunk
    read = [number for numbers in chunks for number in numbers]
    assert sorted([*read, *batch.unchanged]) == sorted(cells[4] for cells in later)
    assert set(read).isdisjoint(batch.unchanged)


# What can be wrong with a row of ``Rows`` (its cells changed), and where the batch path
# finds it: reading, numbers twice, column limits, customers, invoices.
SPOILS = {
    "date": lambda cells, other: cells.__setitem__(5, "31/02/2026"),
    "amount": lambda cells, other: cells.__setitem__(7, "douze"),
    "open": lambda cells, other: cells.__setitem__(8, "99999,00"),  # more than the amount
    "twice": lambda cells, other: cells.__setitem__(4, other[4]),  # or its own
    "due": lambda cells, other: cells.__setitem__(6, "01/01/2026"),  # before the issue
    "long": lambda cells, other: cells.__setitem__(4, cells[4] + "-" + "9" * 70),
    "terms": lambda cells, other: cells.__setitem__(2, "400"),
    "lookalike": lambda cells, other: cells.__setitem__(4, other[4].lower()),  # or its own
}


def spoiled(rows: list[list[str]], spoils: list[tuple[str, int, int]]) -> list[list[str]]:
    """``rows`` with each spoil (kind, the row spoiled, another row) done to a copy."""
    rows = [list(cells) for cells in rows]
    for kind, at, other in spoils:
        SPOILS[kind](rows[at % len(rows)], rows[other % len(rows)])
    return rows


spoil_lists = st.lists(
    st.tuples(st.sampled_from(sorted(SPOILS)), st.integers(0, 99), st.integers(0, 99)),
    min_size=1, max_size=5,
)  # fmt: skip


# Not shrunk: each example is five imports into two organisations (minutes to shrink).
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(seed=st.integers(0, 10_000), spoils=spoil_lists, snapshot=st.booleans(),
       renamed=st.booleans())  # fmt: skip
@example(seed=7174, spoils=[("lookalike", 12, 12)], snapshot=False, renamed=False)  # spoils nothing
def test_a_refused_file_streamed_gives_the_batch_paths_problems(
    seed, spoils, snapshot, renamed, tmp_path, monkeypatch
):
    """A file with problems of several kinds, anywhere across the chunks, first imported and
    re-imported (its rows skipped or all read again): the streamed imports refuse it with
    the batch path's problems, in its order, and log the same refusal; nothing is written.
    The first import streams every such file, an invoice number in two chunks too (read
    twice, its rows held back: stream's docstring)."""
    monkeypatch.setattr(restream, "CHUNK", 7)
    monkeypatch.setattr(stream, "CHUNK", 7)
    monkeypatch.setattr(mapping_module, "BLOCK", 3)
    monkeypatch.setattr(mapping_module, "SAMPLE_ROWS", 5)
    from relance.accounts.services import create_organisation

    rows = Rows(seed)
    first = [rows.row(n) for n in range(1, rows.rng.randint(15, 45))]
    later, said = rows.later(first)
    later = [cells for cells in later if cells[4] != "fa-0001"]  # look-alikes: batch path's
    first_mapping = mapping(tmp_path, "erp", snapshot)
    later_mapping = mapping(tmp_path, "erp2" if renamed else "erp", snapshot)
    with transaction.atomic():
        streamed_org = create_organisation("streamed", name="Streamed", email="a@streamed.test")
        batch_org = create_organisation("batch", name="Batch", email="a@batch.test")
        bad_first = write(tmp_path / "bad-v1.csv", spoiled(first, spoils))
        first_way: dict[str, str] = {}
        with transaction.atomic():
            streamed = outcome(streamed_org, bad_first, first_way, mapping=first_mapping)
            with monkeypatch.context() as batch_only:
                batch_only.setattr(stream, "streams", lambda *args: False)
                batch_only.setattr(restream, "restreams", lambda *args: False)
                whole = outcome(batch_org, bad_first, {}, mapping=first_mapping)
            assert streamed == whole
            assert first_way == {"way": "streamed"}
            # A row made "twice" or a look-alike of itself spoils only the later file: this
            # first one is then imported, and undone so that the clean file comes first.
            transaction.set_rollback("failed" not in streamed)
        for each in (streamed_org, batch_org):
            import_file(each, write(tmp_path / "v1.csv", first), mapping=first_mapping,
                        as_of=TODAY)  # fmt: skip
        path = write(tmp_path / "v2.csv", spoiled(later, spoils))
        way: dict[str, str] = {}
        streamed = outcome(streamed_org, path, way, mapping=later_mapping)
        with monkeypatch.context() as batch_only:
            batch_only.setattr(restream, "restreams", lambda *args: False)
            whole = outcome(batch_org, path, {}, mapping=later_mapping)
        assert streamed == whole
        assert factories.ledger_by_keys(streamed_org, log=True) == factories.ledger_by_keys(
            batch_org, log=True
        )
        if not ({kind for kind, _at, _other in spoils} | said) & {"terms", "twice", "lookalike"}:
            assert way == {"way": "streamed"}, said  # the batch path's: see restream
        transaction.set_rollback(True)
