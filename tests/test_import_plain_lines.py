"""A re-import of a plain CSV (no quote, no lone carriage return, no NUL or \\x1f: each line
is a row, its cells the line split at the delimiter) finds its unchanged rows by their
lines' fingerprints and splits only as far as their customer's columns
(mapping._PlainLines): it ends where the csv module's reading of every line ends."""

from __future__ import annotations

import hashlib
from pathlib import Path

import factories
import pytest
from conftest import let_fork
from hypothesis import given
from hypothesis import strategies as st
from test_import_blocks import batch_as_data
from test_import_unchanged_rows import HEADER, MAPPING, TODAY, row, write

from relance.ledger.imports import import_file, tabular
from relance.ledger.imports.apply import known_fingerprints
from relance.ledger.imports.mapping import (
    SAMPLE_ROWS,
    _fields,
    _PlainLines,
    _Skipper,
    fingerprints,
    line_fingerprints,
    load_mapping,
    read_rows,
)
from relance.ledger.imports.records import ImportFailed, Problems
from relance.ledger.imports.tabular import read_table

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
ROWS = 60
KEY = hashlib.blake2b(b"key", digest_size=32).digest()
# A cell of a plain file: any text read from a file (no lone surrogate) but the delimiter,
# a quote, line breaks, NUL and \x1f.
CELL = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters=';"\r\n\x00\x1f'),
    max_size=12,
)


@given(st.lists(st.lists(CELL, min_size=1, max_size=9), min_size=1, max_size=5))
def test_a_lines_fingerprint_is_its_cells(rows):
    lines = [";".join(cells) for cells in rows]
    assert line_fingerprints(KEY, ";")(lines) == fingerprints(KEY)(rows)


def mapping_of(tmp_path: Path, text: str = MAPPING):
    return load_mapping(factories.mapping_file(tmp_path / "plain.yaml", text))


def reading(path: Path, tmp_path: Path, known, *, plain: bool, cut: int | None, text: str):
    """The batch read_rows makes of ``path`` (its lines read as lines or not; cut after
    line ``cut``, None: in one process), as data, or the problems it refused it for."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tabular, "HALVES_FROM", 1)
        if not plain:
            patch.setattr(tabular, "_plain", lambda data: False)
        lines = path.read_bytes().splitlines(keepends=True)
        patch.setattr(tabular, "_middle", lambda data: cut and (len(b"".join(lines[:cut])), cut))
        let_fork(patch)
        table = read_table(path, encoding="utf-8", delimiter=";", halves=True)
        assert table.plain == plain
        try:
            batch = read_rows(table, mapping_of(tmp_path, text), default_currency="EUR",
                              as_of=TODAY, known=dict(known), block=7)  # fmt: skip
        except ImportFailed as failure:
            return [repr(p) for p in failure.problems]
        return batch_as_data(batch)


def later_file(tmp_path: Path, lines: list[str], *, newline: str = "\n") -> Path:
    """The file of a day later: a row paid, a customer renamed on a row that changed."""
    later = list(lines)
    later[30] = row(31, open_amount="1,00")
    later[41] = row(42, name="Client renamed", open_amount="2,00")
    return factories.text_file(tmp_path / "later.csv", [HEADER, *later], newline=newline)


def imported(org, tmp_path: Path, text: str = MAPPING) -> tuple[list[str], dict[int, str]]:
    lines = [row(n) for n in range(1, ROWS + 1)]
    import_file(org, write(tmp_path / "v1.csv", lines), mapping=mapping_of(tmp_path, text),
                as_of=TODAY)  # fmt: skip
    return lines, known_fingerprints(org)


def assert_plain_reads_as_csv(path: Path, tmp_path: Path, known, text: str = MAPPING):
    for cut in (None, SAMPLE_ROWS + 3, ROWS // 2, ROWS - 2):
        expected = reading(path, tmp_path, known, plain=False, cut=cut, text=text)
        got = reading(path, tmp_path, known, plain=True, cut=cut, text=text)
        assert got == expected, cut


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_plain_file_reads_as_the_csv_module_reads_it(org, tmp_path, newline):
    lines, known = imported(org, tmp_path)
    path = later_file(tmp_path, lines, newline=newline)
    assert_plain_reads_as_csv(path, tmp_path, known)
    unchanged = reading(path, tmp_path, known, plain=True, cut=None, text=MAPPING)["unchanged"]
    assert len(unchanged) == ROWS - SAMPLE_ROWS - 2


@pytest.mark.parametrize(
    "line",
    [
        "",  # a blank line
        ";;;;;;;",  # a row of blank cells
        " ;Client;FA-9001;01/10/2026;01/11/2026;10,00;0,00;non",  # no customer
        "C001;Client C001;FA-9002",  # another width
        "C001;Client C001;FA-9003;01/10/2026;01/11/2026;10,00;0,00;non;extra",
        "C001;Client C001;FA-9004;01/10/2026;01/11/2026;bad;0,00;non",  # a bad value
    ],
)
def test_a_line_that_is_no_plain_row_reads_as_the_csv_module_reads_it(org, tmp_path, line):
    lines, known = imported(org, tmp_path)
    later = list(lines)
    later.insert(35, line)
    later.insert(50, line)
    path = factories.text_file(tmp_path / "later.csv", [HEADER, *later])
    assert_plain_reads_as_csv(path, tmp_path, known)


def test_the_last_line_without_a_break_and_a_line_too_long(org, tmp_path, monkeypatch):
    lines, known = imported(org, tmp_path)
    path = tmp_path / "later.csv"
    path.write_text("\n".join([HEADER, *lines]), encoding="utf-8")
    assert_plain_reads_as_csv(path, tmp_path, known)
    monkeypatch.setattr(tabular, "MAX_LINE", 80)
    path.write_text("\n".join([HEADER, *lines[:40], "C001;" + "x" * 90, *lines[40:]]),
                    encoding="utf-8")  # fmt: skip
    assert_plain_reads_as_csv(path, tmp_path, known)


def test_the_customers_columns_last(org, tmp_path):
    text = MAPPING.replace("  customer.legal_name: Nom\n", "") + "  customer.legal_name: Litige\n"
    lines, known = imported(org, tmp_path, text)
    assert_plain_reads_as_csv(later_file(tmp_path, lines), tmp_path, known, text)


def test_a_row_found_unchanged_but_read_after_all_is_read_whole(tmp_path):
    """A row split as far as its customer's columns is read with all its cells
    (``_Skipper.skip`` reads a row found unchanged whose customer's text no longer reads)."""
    path = write(tmp_path / "v1.csv", [row(1)])
    table = read_table(path, encoding="utf-8", delimiter=";")
    known = dict.fromkeys(line_fingerprints(KEY, ";")([row(1)]), "FA-0001")
    skipper = _Skipper(_fields(mapping_of(tmp_path), table, Problems("")), known, TODAY)
    plain = _PlainLines(skipper, KEY, table)
    cells, _, _ = plain.rows([row(1)], SAMPLE_ROWS + 1) or ([], [], [])
    assert cells == [row(1).split(";", 2)]  # the customer's two columns, then the rest
    read: list[list[str]] = []
    plain.whole(lambda line, cells, fingerprint: read.append(cells))(2, cells[0], None)
    assert read == [row(1).split(";")]
