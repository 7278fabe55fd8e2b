"""Reading values as French (and other) accounting files write them.

Each parser takes the raw text and raises ``ValueError`` with a message meant for the
user; the readers add the file, row and field.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

# Spaces used as thousands separators: plain, no-break and narrow no-break.
_SPACES = str.maketrans("", "", " \u00a0\u202f\u2009'")
_CURRENCY_SIGNS = re.compile(r"(€|EUR|\$|USD|£|GBP|CHF)", re.IGNORECASE)
_CENT = Decimal("0.01")
_PLAIN = re.compile(r"-?\d+(?:[.,]\d+)?")


def parse_decimal(text: str, decimal_mark: str = "auto") -> Decimal:
    """``1 234,56``, ``1234.56``, ``1,234.56``, ``-12,5``, ``(12.50)``, ``12,50 €``.

    With ``decimal_mark="auto"`` the last of ``,`` and ``.`` is the decimal mark, and a lone
    comma is a decimal comma (French files first). Give ``"."`` to read ``1,234`` as a
    thousand.
    """
    raw = text
    text = text.translate(_SPACES)
    # Fast path for the usual cells: "1234,56", "-12.5", "1234".
    if _PLAIN.fullmatch(text) and (decimal_mark == "auto" or decimal_mark in text or
                                   ("," not in text and "." not in text)):  # fmt: skip
        return Decimal(text.replace(",", "."))
    text = _CURRENCY_SIGNS.sub("", text)
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1]
    if text.endswith("-"):  # some ERPs write trailing minus signs
        negative, text = True, text[:-1]
    if decimal_mark == "auto":
        comma, dot = text.rfind(","), text.rfind(".")
        decimal_mark = "," if comma > dot else "."
    # Drop the thousands separators, then make the decimal mark a dot.
    thousands = "." if decimal_mark == "," else ","
    text = text.replace(thousands, "").replace(",", ".")
    if not text or not re.fullmatch(r"[+-]?\d+(\.\d*)?|[+-]?\.\d+", text):
        raise ValueError(f"{raw!r} is not an amount")
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern above filters these
        raise ValueError(f"{raw!r} is not an amount") from None
    return -value if negative else value


def parse_money(text: str, decimal_mark: str = "auto") -> Decimal:
    """An amount in a currency with cents: more decimals than two is a wrong column."""
    value = parse_decimal(text, decimal_mark)
    if value != value.quantize(_CENT):
        raise ValueError(f"{text!r} has more than two decimals")
    return value.quantize(_CENT)


_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?")
_DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")


def parse_date(text: str, fmt: str = "auto") -> dt.date:
    """A date. ``auto`` reads ISO (``2026-12-31``), French (``31/12/2026``, ``31.12.26``) and
    FEC (``20261231``) dates. Any other ``fmt`` is a ``strptime`` format, e.g. ``%m/%d/%Y``
    for American files, which ``auto`` would misread."""
    text = text.strip()
    try:
        if fmt != "auto":
            return dt.datetime.strptime(text, fmt).date()
        if m := _ISO.fullmatch(text):
            y, mo, d = int(m[1]), int(m[2]), int(m[3])
        elif m := _DMY.fullmatch(text):
            d, mo, y = int(m[1]), int(m[2]), int(m[3])
            if y < 100:
                y += 2000
        elif m := _COMPACT.fullmatch(text):
            y, mo, d = int(m[1]), int(m[2]), int(m[3])
        else:
            raise ValueError
        return dt.date(y, mo, d)
    except ValueError:
        expected = "a date such as 31/12/2026" if fmt == "auto" else f"a date as {fmt}"
        raise ValueError(f"{text!r} is not {expected}") from None


_TRUE = {"1", "true", "yes", "y", "oui", "o", "vrai", "x"}
_FALSE = {"0", "false", "no", "n", "non", "faux", ""}


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{text!r} is neither yes nor no")


class UnreadableFile(ValueError):
    """The file is not text in a known encoding."""

    def __init__(self, message: str, row: int | None = None):
        super().__init__(message)
        self.row = row  # where it breaks, when we know


def looks_binary(sample: bytes) -> bool:
    return b"\x00" in sample


def decode(data: bytes, encoding: str = "auto") -> tuple[str, str]:
    """The text of a file and the encoding used: UTF-8 (with or without BOM), else
    Windows-1252, the encoding of French Windows software exports."""
    if looks_binary(data[:8192]):
        raise UnreadableFile("this is a binary file, not a text export (CSV or FEC)")
    if encoding == "auto":
        try:
            return data.decode("utf-8-sig"), "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1252"
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in {"utf-8", "utf8"} else encoding
    try:
        return data.decode(codec), encoding
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UnreadableFile(
            f"not valid {encoding} (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "save the file as UTF-8 or set the right encoding in the mapping",
            row=line,
        ) from None
    except LookupError:
        raise UnreadableFile(f"unknown encoding {encoding!r}") from None


def sniff_delimiter(text: str, candidates: str = ";,\t|") -> str:
    """The separator of a delimited file: the candidate that splits the header and the first
    rows into the same, largest number of fields."""
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=candidates).delimiter
    except csv.Error:
        best = max(candidates, key=lambda c: (lines[0].count(c), -candidates.index(c)))
        return best


def file_label(path: Path | str) -> str:
    return Path(path).name
