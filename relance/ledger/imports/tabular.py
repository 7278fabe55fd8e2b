"""Rows out of CSV, XLSX and ODS files, with their row numbers as the user sees them."""

from __future__ import annotations

import codecs
import csv
import io
import operator
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, islice, starmap
from pathlib import Path
from typing import Any, TextIO, TypeVar
from xml.etree import ElementTree
from xml.parsers import expat

from django.utils.translation import gettext as _

from relance.ledger.imports import archives
from relance.ledger.imports.parsing import UnreadableFile, decode, looks_binary, sniff_delimiter
from relance.ledger.imports.records import ImportFailed, Problem

T = TypeVar("T")
SPREADSHEETS = {".xlsx", ".xlsm", ".xls", ".ods"}
# No export has lines this long: a longer one is a file that is not what it says (a line
# break lost, binary data), refused before the csv module splits it into millions of fields.
MAX_LINE = 1_000_000  # characters
csv.field_size_limit(MAX_LINE)
# A sheet is read whole, as a grid from A1 to its last cell: one far cell (XFD1048576)
# would ask for 17 billion cells. Larger grids are refused before they are loaded.
MAX_CELLS = 20_000_000


# A block of rows: their numbers in the file, and their cells.
Block = tuple[Sequence[int], Sequence[list[Any]]]
# A block of a plain CSV's lines (``Table.plain``): their numbers, their text as read.
Lines = tuple[range, list[str]]


@dataclass
class Table:
    file: str
    header: list[str]
    rows: Iterator[tuple[int, list[Any]]]  # (row number in the file, cells)
    size: int  # rows, or an estimate, for progress
    encoding: str = ""
    delimiter: str = ""
    # The same rows as ``rows``, at most n at a time (a CSV's: read in C, no Python step per
    # row); read one or the other.
    blocks: Callable[[int], Iterator[Block]] | None = None
    # With ``read_table(halves=True)``, when the file allows it: the rows after its middle,
    # from a second opening of the file (a block function like ``blocks``, which then ends
    # there), for another process to read them.
    rest: Callable[[int], Iterator[Block]] | None = None
    # A CSV whose every line is one row, its cells the line split at the delimiter: no
    # quote, no lone carriage return, no NUL or \x1f (a fingerprint's separator) anywhere.
    # Its rows can then be had as lines (``lines``, and ``rest_lines`` for ``rest``'s),
    # each checked and split only when read (``split_lines``).
    plain: bool = False
    lines: Callable[[int], Iterator[Lines]] | None = None
    rest_lines: Callable[[int], Iterator[Lines]] | None = None


def _fail(file: str, message: str, row: int | None = None) -> ImportFailed:
    return ImportFailed([Problem(file, row, None, message)])


def read_table(
    path: Path,
    *,
    encoding: str = "auto",
    delimiter: str = "auto",
    sheet: str | int | None = None,
    header_row: int = 1,
    halves: bool = False,
) -> Table:
    """The table of a CSV or spreadsheet file. ``halves``: a large CSV read from the disk
    comes cut at a line near its middle (``Table.rest``), if no value may span lines."""
    label = path.name
    if path.suffix.lower() in SPREADSHEETS:
        return _read_spreadsheet(path, label, sheet, header_row)
    data = path.read_bytes()
    if not data or data.isspace():  # not data.strip(): a copy of the whole file
        raise _fail(label, _("the file is empty"))
    try:
        text, used = decode(data, encoding)
    except UnreadableFile as exc:
        raise _fail(label, str(exc), exc.row) from None
    codec = _STREAMED.get(used.lower().replace("_", "-"), used)
    if codec.startswith("utf-16"):  # rare: read from the text in memory
        return _read_csv(text, label, used, delimiter, header_row, data.count(b"\n"))
    # The whole file was decoded once, to check it and find its encoding; its rows are read
    # from the disk, so that the file's text is not held while its records are built.
    head = text[:MAX_LINE]
    del text
    halves = halves and codecs.lookup(codec).name in _ASCII_BREAKS
    rows_are_lines = halves and _lines_are_rows(data)
    cut = _middle(data) if rows_are_lines else None
    plain = rows_are_lines and _plain(data)
    # The lines counted once: those of each half when the file is cut.
    size = data.count(b"\n") if cut is None else cut[1] + data.count(b"\n", cut[0])
    if size < HALVES_FROM:
        cut = None
    del data
    return _read_csv(head, label, used, delimiter, header_row, size, (path, codec), cut, plain)


HALVES_FROM = 200_000  # lines: a smaller file is read in one process
# The first half's share of the file's bytes: the process that reads it applies the rows
# that changed in both (docs/performance.md).
FIRST_HALF = 0.4
# Encodings that write a line break as the byte \n and no other character with that byte.
_ASCII_BREAKS = {"utf-8", "utf-8-sig", "ascii", "iso8859-1", "iso8859-15", "cp1252"}


def _lines_are_rows(data: bytes) -> bool:
    """No row of the CSV file can span lines, nor hold a quoted value: no quote, no lone
    carriage return (its encoding writes line breaks as ASCII does)."""
    return not (b'"' in data or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n")))


def _plain(data: bytes) -> bool:
    """A CSV whose lines are its rows (``_lines_are_rows``) is plain without NUL (which the
    csv module may read otherwise) or \x1f (a fingerprint's separator: ``Table.plain``)."""
    return b"\x00" not in data and b"\x1f" not in data


def _middle(data: bytes) -> tuple[int, int] | None:
    """The offset of a line's start near the middle of a CSV file's bytes whose lines are
    its rows (``_lines_are_rows``) and the lines before it."""
    offset = data.find(b"\n", int(len(data) * FIRST_HALF)) + 1
    if offset in (0, len(data)):
        return None
    return offset, data.count(b"\n", 0, offset)


# The codec that reads a file decode() named, from the disk (a BOM at most at the start).
_STREAMED = {"utf-8": "utf-8-sig", "utf8": "utf-8-sig"}


def _read_csv(
    text: str,
    label: str,
    encoding: str,
    delimiter: str,
    header_row: int,
    size: int,
    stream: tuple[Path, str] | None = None,
    cut: tuple[int, int] | None = None,
    plain: bool = False,
) -> Table:
    """The table of a CSV file: from ``text``, or with ``stream`` (the path and the codec)
    from the disk, ``text`` then being only its beginning, to find the separator; ``cut``
    (an offset and the lines before it, ``_middle``) ends its rows there, the rest read
    apart (``Table.rest``); ``plain``: ``Table.plain``."""
    sep = (
        sniff_delimiter(text[:MAX_LINE]) if delimiter == "auto" else delimiter.replace("\\t", "\t")
    )
    source = io.StringIO(text, newline="") if stream is None else _opened(*stream)
    flat = chain.from_iterable(_line_blocks(source, label, stop=cut[1] if cut else None))
    reader = csv.reader(flat, delimiter=sep)
    header: list[str] | None = None
    for cells in reader:
        if reader.line_num >= header_row and any(c.strip() for c in cells):
            header = [c.strip() for c in cells]
            break
    if cut is not None and (header is None or reader.line_num >= cut[1]):
        source.close()  # the header is not in the first half: no halves
        return _read_csv(text, label, encoding, delimiter, header_row, size, stream, None, plain)
    if header is None:
        raise _fail(label, _("the file is empty"))
    _check_header(label, header, reader.line_num)
    width = len(header)

    def blocks(size: int) -> Iterator[Block]:
        return _csv_blocks(reader, label, width, sep, size)

    def rest_source() -> Iterator[str]:
        assert stream is not None and cut is not None
        path, codec = stream
        raw = path.open("rb")
        raw.seek(cut[0])
        source = io.TextIOWrapper(raw, encoding=_REST_CODEC.get(codec, codec), newline="")
        return chain.from_iterable(_line_blocks(source, label, first=cut[1]))

    def rest(size: int) -> Iterator[Block]:
        assert cut is not None
        return _csv_blocks(csv.reader(rest_source(), delimiter=sep), label, width, sep, size,
                           cut[1])  # fmt: skip

    def lines(size: int) -> Iterator[Lines]:
        return _plain_lines(flat, size, reader.line_num)

    def rest_lines(size: int) -> Iterator[Lines]:
        assert cut is not None
        return _plain_lines(rest_source(), size, cut[1])

    rows = chain.from_iterable(starmap(zip, blocks(ROWS_BLOCK)))
    table = Table(label, header, rows, size, encoding, sep, blocks, rest if cut else None)
    if plain:
        table.plain, table.lines = True, lines
        table.rest_lines = rest_lines if cut else None
    return table


def _plain_lines(source: Iterator[str], size: int, after: int) -> Iterator[Lines]:
    """The lines of a plain CSV (``Table.plain``) after its line ``after``, ``size`` at a
    time; an error reading them (a line too long) comes after the lines before it."""
    while True:
        block, failure = _read_some(source, size)
        if block:
            yield range(after + 1, after + len(block) + 1), block
            after += len(block)
        if failure is not None:
            raise failure
        if not block:
            return


def split_lines(label: str, width: int, sep: str, lines: Lines) -> tuple[Block, Exception | None]:
    """A plain CSV's block of lines as ``Table.blocks`` gives its rows: split by the csv
    module, blank lines left out, the first row of another width than the header's an
    error (returned: it comes after the rows before it, which are kept)."""
    rows = list(csv.reader(lines[1], delimiter=sep))  # one row a line: no quote in the file
    numbers, rows, failure = _checked(label, width, sep, lines[0], rows)
    return (numbers, rows), failure


def _read_some(source: Iterator[T], size: int) -> tuple[list[T], Exception | None]:
    """Up to ``size`` items of ``source``, and the error that cut them short, if any (the
    reader's: a line too long, csv.Error): the items before it are kept, to come first."""
    items: list[T] = []
    try:
        items.extend(islice(source, size))
    except Exception as exc:
        return items, exc
    return items, None


# The codec of a file's second half: its byte order mark, if any, was at its start.
_REST_CODEC = {"utf-8-sig": "utf-8"}


def _csv_blocks(
    reader: Any, label: str, width: int, sep: str, size: int, before: int = 0
) -> Iterator[Block]:
    """The rows after the header, ``size`` at a time, each block read and checked in C
    (the usual file); an error (a line too long, a row of another width) comes after
    the rows before it, as it would row by row."""
    while True:
        start = reader.line_num
        rows, failure = _read_some(reader, size)
        if not rows and failure is None:
            return
        lines: Sequence[int] = (
            range(before + start + 1, before + reader.line_num + 1)
            if reader.line_num - start == len(rows) and failure is None
            else _row_lines(rows, before + start)  # a value over several lines
        )
        lines, rows, wrong = _checked(label, width, sep, lines, rows)
        failure = wrong or failure  # a row of another width: before what stopped the block
        if rows:
            yield lines, rows
        if failure is not None:
            raise failure


def _checked(
    label: str, width: int, sep: str, lines: Sequence[int], rows: list[list[str]]
) -> tuple[Sequence[int], list[list[str]], ImportFailed | None]:
    """A block's rows without its blank lines (widths and first cells checked in C), up to
    the first of another width than the header's, whose error is returned."""
    if list(map(len, rows)).count(width) == len(rows) and all(map(str.strip, map(_FIRST, rows))):
        return lines, rows, None
    lines, rows, wrong = _sorted_out(lines, rows, width)
    if wrong is None:
        return lines, rows, None
    return (
        lines,
        rows,
        _fail(
            label,
            _(
                "has %(fields)s fields where the header has %(width)s "
                "(separator %(separator)s; a quote or separator inside a value?)"
            )
            % {"fields": wrong[1], "width": width, "separator": repr(sep)},
            wrong[0],
        ),
    )


ROWS_BLOCK = 1000  # rows read at a time for Table.rows (a preview reads 20)
_FIRST = operator.itemgetter(0)


def _row_lines(rows: list[list[str]], start: int) -> list[int]:
    """The line of each row (its last) in a block where some value spans lines: a quoted
    value keeps its line breaks as they were, each of which began a line of the file (io's
    universal newlines: \\r\\n, \\n or \\r)."""
    lines = []
    for cells in rows:
        text = "\x00".join(cells)  # no break made of two values' ends
        start += 1 + text.count("\n") + text.count("\r") - text.count("\r\n")
        lines.append(start)
    return lines


def _sorted_out(
    lines: Sequence[int], rows: list[list[str]], width: int
) -> tuple[list[int], list[list[str]], tuple[int, int] | None]:
    """The rows of a block that are not blank, up to the first of another width than the
    header's (its line and width, or None)."""
    kept_lines: list[int] = []
    kept: list[list[str]] = []
    for line, cells in zip(lines, rows, strict=True):
        # Blank lines are no rows (the first cell says it of nearly every row at once).
        if not (cells and cells[0].strip()) and not "".join(cells).strip():
            continue
        if len(cells) != width:
            return kept_lines, kept, (line, len(cells))
        kept_lines.append(line)
        kept.append(cells)
    return kept_lines, kept, None


def _opened(path: Path, codec: str) -> TextIO:
    return path.open(encoding=codec, newline="")


_LINES_BLOCK = 1 << 20  # characters of lines read at a time


def _line_blocks(
    source: TextIO, label: str, *, first: int = 0, stop: int | None = None
) -> Iterator[list[str]]:
    """The lines of ``source``, a block at a time (read in C), refusing one longer than
    MAX_LINE before the csv module splits it into fields; closes ``source`` at the end.
    ``first``: the lines of the file before ``source``'s; ``stop``: the file's line after
    which to end."""
    row = first
    with source:
        while block := source.readlines(_LINES_BLOCK):
            if stop is not None:
                del block[stop - row :]
            if max(map(len, block)) > MAX_LINE:
                at = next(i for i, line in enumerate(block) if len(line) > MAX_LINE)
                yield block[:at]
                raise _fail(
                    label,
                    _(
                        "has a line longer than %(limit)s characters: this is not a CSV export "
                        "(a lost line break, or binary data?)"
                    )
                    % {"limit": f"{MAX_LINE:,}"},
                    row + at + 1,
                )
            row += len(block)
            yield block
            if row == stop:
                return


def _read_spreadsheet(path: Path, label: str, sheet: str | int | None, header_row: int) -> Table:
    from python_calamine import CalamineWorkbook

    with path.open("rb") as fh:
        head = fh.read(8)
    if not head.startswith(b"PK") and not looks_binary(head):
        raise _fail(label, _("is not a spreadsheet (XLSX or ODS); is it a CSV file?"))
    name = sheet if isinstance(sheet, str) else _("number %(n)s") % {"n": (sheet or 0) + 1}
    if head.startswith(b"PK"):
        _check_archive(path, label)  # before calamine unpacks what it likes
    if head.startswith(b"PK") and path.suffix.lower() == ".ods":
        _check_ods_extent(path, label)  # calamine reads every sheet of an ODS on opening
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        names = workbook.sheet_names
        index = sheet if isinstance(sheet, int) else 0
        if isinstance(sheet, str) and sheet not in names:
            raise _fail(label, _no_sheet(repr(sheet), names))
        if not 0 <= index < len(names):
            raise _fail(label, _no_sheet(str(index), names))
        name = sheet if isinstance(sheet, str) else names[index]
        if head.startswith(b"PK") and path.suffix.lower() != ".ods":
            _check_xlsx_extent(path, label, name)
        data = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except ImportFailed:
        raise
    except Exception as exc:  # calamine raises its own errors for corrupt files
        if "cell limit" in str(exc).lower():  # its ODS reader's guard against far cells
            raise _fail(label, _too_large(name, None, None)) from None
        raise _fail(label, _unreadable(exc)) from None
    start = header_row - 1
    while start < len(data) and not any(_text(c) for c in data[start]):
        start += 1
    if start >= len(data):
        raise _fail(label, _("the sheet is empty"))
    header = [_text(c) for c in data[start]]
    while header and not header[-1]:
        header.pop()
    _check_header(label, header, start + 1)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for index in range(start + 1, len(data)):
            cells = list(data[index][: len(header)])
            if any(_text(c) for c in cells):
                cells += [""] * (len(header) - len(cells))
                yield index + 1, cells

    return Table(label, header, rows(), len(data) - start - 1)


def _unreadable(error: Exception) -> str:
    return _("cannot be read as a spreadsheet (%(error)s)") % {"error": error}


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _check_header(label: str, header: list[str], row: int) -> None:
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise _fail(
                label, _("the header names column %(column)s twice") % {"column": repr(name)}, row
            )
        seen.add(name)


def _check_archive(path: Path, label: str) -> None:
    """Refuse a workbook that is a ZIP bomb (see ``archives``), naming the part."""
    try:
        with archives.open_zip(path) as archive:
            for member in archives.members(archive):
                try:
                    archives.check(member)
                except archives.Unreadable as error:
                    raise ImportFailed(
                        [Problem(label, None, member.filename, str(error))]
                    ) from None
    except archives.Unreadable as error:
        raise _fail(label, _unreadable(error)) from None


# A cell's reference (r="XFD1048576"), whatever comes before it (a prefix, a line break):
# as quick as a literal, which it starts with. The tail of a chunk kept for the next is as
# long as the longest reference.
_XLSX_ROW = re.compile(rb'r="[A-Z]{1,3}(\d+)"')
_XLSX_COLUMN = re.compile(rb'r="([A-Z]{1,3})\d')
_TAIL = 16


def _check_xlsx_extent(path: Path, label: str, sheet: str) -> None:
    """Refuse a sheet whose grid, from A1 to its farthest cell, exceeds MAX_CELLS.

    The cells are read from the sheet's XML in bounded chunks (calamine would build the
    whole grid first); the <dimension> a program writes may be missing or wrong.
    """
    with zipfile.ZipFile(path) as archive:
        part = _xlsx_sheet_part(archive, sheet)
        if part is None:
            return  # calamine will say what is wrong with the workbook
        rows = columns = 0
        tail = b""
        with archive.open(part) as xml:
            while chunk := xml.read(1 << 20):
                chunk = tail + chunk
                tail = chunk[-_TAIL:]  # a reference cut in two is found whole next time
                if found := _XLSX_ROW.findall(chunk):  # one pass each, in C
                    rows = max(rows, max(map(int, found)))
                for column in set(_XLSX_COLUMN.findall(chunk)):
                    columns = max(columns, _column_number(column))
                if rows * columns > MAX_CELLS:
                    raise _fail(label, _too_large(sheet, rows, columns))


def _xlsx_sheet_part(archive: zipfile.ZipFile, sheet: str) -> str | None:
    ns = {
        "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
        "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
        "p": "http://schemas.openxmlformats.org/package/2006/relationships",
    }
    try:
        workbook = ElementTree.fromstring(_part(archive, "xl/workbook.xml"))
        rels = ElementTree.fromstring(_part(archive, "xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError, archives.Unreadable):
        return None
    rel_id = next(
        (s.get(f"{{{ns['r']}}}id") for s in workbook.iterfind("m:sheets/m:sheet", ns)
         if s.get("name") == sheet),
        None,
    )  # fmt: skip
    for rel in rels.iterfind("p:Relationship", ns):
        if rel.get("Id") == rel_id:
            target = rel.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return None


def _part(archive: zipfile.ZipFile, name: str) -> bytes:
    """A small part of a workbook (its list of sheets, their links)."""
    return archives.read(archive, archive.getinfo(name), _PART_BYTES)


_PART_BYTES = 10_000_000  # a workbook of ten thousand sheets lists them in 1 MB


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _too_large(sheet: str, rows: int | None, columns: int | None) -> str:
    extent = (
        _("reaches row %(rows)s, column %(columns)s: more than %(limit)s cells to read")
        % {"rows": f"{rows:,}", "columns": f"{columns:,}", "limit": f"{MAX_CELLS:,}"}
        if rows and columns
        else _("has too many cells to read")
    )
    return _(
        "sheet %(sheet)s %(extent)s; a cell far from the data (a stray value or format)? "
        "Delete the rows and columns after the data"
    ) % {"sheet": repr(sheet), "extent": extent}


def _no_sheet(sheet: str, names: list[str]) -> str:
    return _("has no sheet %(sheet)s (sheets: %(names)s)") % {
        "sheet": sheet, "names": ", ".join(names)
    }  # fmt: skip


_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"


def _check_ods_extent(path: Path, label: str) -> None:
    """The same bound for each sheet of an ODS, counting repeated rows and columns up to the last
    cell that holds something (trailing empty repeats, which LibreOffice writes for every
    sheet, do not count). Read with expat: no tree is kept."""
    table, cell = f"{_TABLE} table", (f"{_TABLE} table-cell", f"{_TABLE} covered-table-cell")
    sheet = ""
    state = {"in": False, "row": 0, "repeat": 1, "col": 0, "last": 0, "rows": 0, "cols": 0}
    in_cell = [False, False]  # inside a cell; the cell holds something

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal sheet
        if tag == table:
            sheet = attrs.get(f"{_TABLE} name", "")
            state.update({"in": True, "row": 0, "rows": 0, "cols": 0})
        elif not state["in"]:
            return
        elif tag == f"{_TABLE} table-row":
            state["repeat"] = int(attrs.get(f"{_TABLE} number-rows-repeated", 1))
            state["col"] = state["last"] = 0
        elif tag in cell:
            state["repeat_col"] = int(attrs.get(f"{_TABLE} number-columns-repeated", 1))
            in_cell[:] = [True, f"{_OFFICE} value-type" in attrs]
        elif in_cell[0]:
            in_cell[1] = True  # a paragraph, an annotation: something

    def end(tag: str) -> None:
        if not state["in"]:
            return
        if tag in cell:
            state["col"] += state["repeat_col"]
            if in_cell[1]:
                state["last"] = state["col"]
            in_cell[:] = [False, False]
        elif tag == f"{_TABLE} table-row":
            state["row"] += state["repeat"]
            if state["last"]:
                state["rows"] = state["row"]
                state["cols"] = max(state["cols"], state["last"])
                if state["rows"] * state["cols"] > MAX_CELLS:
                    raise _fail(label, _too_large(sheet, state["rows"], state["cols"]))

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        with zipfile.ZipFile(path) as archive, archive.open("content.xml") as xml:
            parser.ParseFile(xml)
    except (KeyError, ValueError, expat.ExpatError, zipfile.BadZipFile, zlib.error, EOFError,
            OSError, RuntimeError, NotImplementedError):  # fmt: skip
        # Not a zip, a truncated or encrypted one: calamine will say what is wrong with it.
        return
