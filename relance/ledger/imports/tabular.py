"""Rows out of CSV, XLSX and ODS files, with their row numbers as the user sees them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relance.ledger.imports.parsing import UnreadableFile, decode, looks_binary, sniff_delimiter
from relance.ledger.imports.records import ImportFailed, Problem

SPREADSHEETS = {".xlsx", ".xlsm", ".xls", ".ods"}
csv.field_size_limit(10_000_000)


@dataclass
class Table:
    file: str
    header: list[str]
    rows: Iterator[tuple[int, list[Any]]]  # (row number in the file, cells)
    size: int  # rows, or an estimate, for progress
    encoding: str = ""
    delimiter: str = ""


def _fail(file: str, message: str, row: int | None = None) -> ImportFailed:
    return ImportFailed([Problem(file, row, None, message)])


def read_table(
    path: Path,
    *,
    encoding: str = "auto",
    delimiter: str = "auto",
    sheet: str | int | None = None,
    header_row: int = 1,
) -> Table:
    label = path.name
    if path.suffix.lower() in SPREADSHEETS:
        return _read_spreadsheet(path, label, sheet, header_row)
    data = path.read_bytes()
    if not data.strip():
        raise _fail(label, "the file is empty")
    try:
        text, used = decode(data, encoding)
    except UnreadableFile as exc:
        raise _fail(label, str(exc), exc.row) from None
    return _read_csv(text, label, used, delimiter, header_row)


def _read_csv(text: str, label: str, encoding: str, delimiter: str, header_row: int) -> Table:
    sep = sniff_delimiter(text) if delimiter == "auto" else delimiter.replace("\\t", "\t")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    header: list[str] | None = None
    for cells in reader:
        if reader.line_num >= header_row and any(c.strip() for c in cells):
            header = [c.strip() for c in cells]
            break
    if header is None:
        raise _fail(label, "the file is empty")
    _check_header(label, header, reader.line_num)
    width = len(header)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # blank lines are no rows
            if len(cells) != width:
                raise _fail(
                    label,
                    f"has {len(cells)} fields where the header has {width} "
                    f"(separator {sep!r}; a quote or separator inside a value?)",
                    reader.line_num,
                )
            yield reader.line_num, cells

    return Table(label, header, rows(), text.count("\n"), encoding, sep)


def _read_spreadsheet(path: Path, label: str, sheet: str | int | None, header_row: int) -> Table:
    from python_calamine import CalamineWorkbook

    with path.open("rb") as fh:
        head = fh.read(8)
    if not head.startswith(b"PK") and not looks_binary(head):
        raise _fail(label, "is not a spreadsheet (XLSX or ODS); is it a CSV file?")
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        names = workbook.sheet_names
        if sheet is None:
            chosen = workbook.get_sheet_by_index(0)
        elif isinstance(sheet, int):
            chosen = workbook.get_sheet_by_index(sheet)
        else:
            if sheet not in names:
                raise _fail(label, f"has no sheet {sheet!r} (sheets: {', '.join(names)})")
            chosen = workbook.get_sheet_by_name(sheet)
        data = chosen.to_python(skip_empty_area=False)
    except ImportFailed:
        raise
    except Exception as exc:  # calamine raises its own errors for corrupt files
        raise _fail(label, f"cannot be read as a spreadsheet ({exc})") from None
    start = header_row - 1
    while start < len(data) and not any(_text(c) for c in data[start]):
        start += 1
    if start >= len(data):
        raise _fail(label, "the sheet is empty")
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


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _check_header(label: str, header: list[str], row: int) -> None:
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise _fail(label, f"the header names column {name!r} twice", row)
        seen.add(name)
