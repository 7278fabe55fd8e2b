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

from relance.ledger.imports import ImportFailed, import_file, read_file, restream, tabular
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
    """The import's result (or problems) as data, ``found`` keeping whether it streamed."""
    real = restream.reimport_streamed

    def spied(*args: Any, **kwargs: Any) -> Any:
        try:
            result = real(*args, **kwargs)
        except restream.Unstreamable:
            found["way"] = "batch"
            raise
        found["way"] = "streamed"
        return result

    restream.reimport_streamed = spied  # type: ignore[assignment]
    try:
        result = import_file(org, path, as_of=TODAY, **kw)
    except ImportFailed as failure:
        return {"failed": [vars(p) for p in failure.problems]}
    finally:
        restream.reimport_streamed = real  # type: ignore[assignment]
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
