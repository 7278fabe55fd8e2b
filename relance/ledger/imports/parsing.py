"""Reading values as French (and other) accounting files write them.

Each parser takes the raw text and raises ``ValueError`` with a message meant for the
user; the readers add the file, row and field.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from relance.lib.dates import out_of_range

# Spaces used as thousands separators: plain, no-break and narrow no-break.
_SPACES = str.maketrans("", "", " \u00a0\u202f\u2009'")
_CURRENCY_SIGNS = re.compile(r"(€|EUR|\$|USD|£|GBP|CHF)", re.IGNORECASE)
# The currencies a sign written beside an amount can stand for.
_SIGN_CURRENCIES = {
    "€": {"EUR"}, "EUR": {"EUR"}, "$": {"USD", "CAD", "AUD", "NZD", "SGD", "HKD"},
    "USD": {"USD"}, "£": {"GBP"}, "GBP": {"GBP"}, "CHF": {"CHF"},
}  # fmt: skip
_CENT = Decimal("0.01")
_PLAIN = re.compile(r"-?\d+(?:[.,]\d+)?")
_CENTS = re.compile(r"-?\d+[.,]\d\d")


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
        raise ValueError(_("%(value)s is not an amount") % {"value": repr(raw)})
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern above filters these
        raise ValueError(_("%(value)s is not an amount") % {"value": repr(raw)}) from None
    return -value if negative else value


def parse_money(text: str, decimal_mark: str = "auto") -> Decimal:
    """An amount in a currency with cents: more decimals than two is a wrong column."""
    plain = text.translate(_SPACES)
    # The usual cell, "1 234,56": two decimals already, nothing to round or check.
    if _CENTS.fullmatch(plain) and (decimal_mark == "auto" or decimal_mark == plain[-3]):
        return Decimal(plain.replace(",", "."))
    value = parse_decimal(text, decimal_mark)
    cents = to_cents(value)
    if value != cents:
        raise ValueError(_("%(value)s has more than two decimals") % {"value": repr(text)})
    return cents


def to_cents(value: Decimal) -> Decimal:
    """``value`` with two decimals, however large (the ledger's limits are checked on the
    records, in one place: relance.ledger.imports.limits)."""
    if not value.is_finite():
        raise ValueError(_("%(value)s is not an amount") % {"value": value})
    try:
        return value.quantize(_CENT)
    except InvalidOperation:  # more digits than the default context's 28
        return value.quantize(_CENT, context=Context(prec=value.adjusted() + 4))


def currency_sign(text: str) -> str | None:
    """The currency sign or code written beside an amount (``$1,234.56``), if any."""
    match = _CURRENCY_SIGNS.search(text)
    return match[1].upper() if match else None


def sign_fits(sign: str, currency: str) -> bool:
    return currency in _SIGN_CURRENCIES.get(sign, {sign})


_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?")
_DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")


def parse_date(text: str, fmt: str = "auto") -> dt.date:
    """A date. ``auto`` reads ISO (``2026-12-31``), French (``31/12/2026``, ``31.12.2026``)
    and FEC (``20261231``) dates. Any other ``fmt`` is a ``strptime`` format, e.g.
    ``%m/%d/%Y`` for American files, which ``auto`` would misread.

    ``auto`` refuses two-digit years (``15/12/99``): 1999 or 2099 is a guess, and a wrong
    guess moves a due date by a century. A mapping that says ``%d/%m/%y`` chooses Python's
    rule (69-99 are 1969-1999, 00-68 are 2000-2068)."""
    text = text.strip()
    if fmt == "auto" and len(text) == 10 and text[2] == text[5] == "/" and text.isascii():
        # The usual French cell, 31/12/2026, without a regular expression.
        day, month, year = text[:2], text[3:5], text[6:]
        if day.isdigit() and month.isdigit() and year.isdigit():
            try:
                return checked_date(dt.date(int(year), int(month), int(day)))
            except DateOutOfRange:
                raise
            except ValueError:
                pass  # the slow path below says what is wrong
    value = {"value": repr(text), "format": fmt}
    expected = (
        _("%(value)s is not a date such as 31/12/2026")
        if fmt == "auto"
        else _("%(value)s is not a date as %(format)s")
    ) % value
    try:
        if fmt != "auto":
            return checked_date(dt.datetime.strptime(text, fmt).date())
        if m := _ISO.fullmatch(text):
            y, mo, d = int(m[1]), int(m[2]), int(m[3])
        elif m := _DMY.fullmatch(text):
            d, mo, y = int(m[1]), int(m[2]), int(m[3])
            if len(m[3]) == 2:
                raise _Explained(
                    _(
                        "%(value)s has a two-digit year: write the year in full (%(day)s/"
                        "%(month)s/19%(year)s or %(day)s/%(month)s/20%(year)s), or set the "
                        'date format in the mapping (dates: "%%d/%%m/%%y")'
                    )
                    % {**value, "day": m[1], "month": m[2], "year": m[3]}
                )
        elif m := _COMPACT.fullmatch(text):
            y, mo, d = int(m[1]), int(m[2]), int(m[3])
        else:
            raise ValueError(expected)
        return checked_date(dt.date(y, mo, d))
    except (DateOutOfRange, _Explained):
        raise
    except ValueError:
        raise ValueError(expected) from None


class DateOutOfRange(ValueError):
    pass


class _Explained(ValueError):
    """A date refused with its own explanation, not the generic one."""


def checked_date(day: dt.date) -> dt.date:
    """``day``, or a ValueError when it is outside the dates Relance computes with (a due
    date in year 9999 would overflow the engine's arithmetic)."""
    if problem := out_of_range(day):
        raise DateOutOfRange(problem)
    return day


_TRUE = {"1", "true", "yes", "y", "oui", "o", "vrai", "x"}
_FALSE = {"0", "false", "no", "n", "non", "faux", ""}


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(_("%(value)s is neither yes nor no") % {"value": repr(text)})


class UnreadableFile(ValueError):
    """The file is not text in a known encoding."""

    def __init__(self, message: str, row: int | None = None):
        super().__init__(message)
        self.row = row  # where it breaks, when we know


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig", "utf-8"),
    (b"\xff\xfe", "utf-16", "utf-16"),
    (b"\xfe\xff", "utf-16", "utf-16"),
)
# Bytes that are letters or the euro sign in ISO-8859-15 (Latin-9) but fractions and
# the currency sign in Windows-1252: Œ œ Ÿ and €.
_LATIN9_LETTERS = re.compile(
    rb"[A-Za-z\xc0-\xff][\xbc\xbd\xbe]|[\xbc\xbd\xbe][A-Za-z\xc0-\xff]|\xa4"
)
# Windows-1252 puts letters and punctuation at 0x80-0x9f, control characters in Latin-9.
_CP1252_ONLY = re.compile(rb"[\x80-\x9f]")
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")


def looks_binary(sample: bytes) -> bool:
    return b"\x00" in sample and utf16_order(sample) is None


def utf16_order(sample: bytes) -> str | None:
    """UTF-16 text without a byte order mark: every other byte of Latin text is zero."""
    sample = sample[: len(sample) - len(sample) % 2][:4096]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) == len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) == len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def decode(data: bytes, encoding: str = "auto") -> tuple[str, str]:
    """The text of a file and the encoding used.

    ``auto``: a byte order mark says UTF-8 or UTF-16; else UTF-8; else one of the two
    single-byte encodings of French software: Windows-1252, or ISO-8859-15 when the bytes
    of œ, Œ, Ÿ or € in that encoding stand among letters (they are ½, ¼, ¾ and ¤ in
    Windows-1252). A file in which some lines are UTF-8 and others are not is refused,
    naming the lines: it has been put together from two sources, and reading it either way
    would turn some names into mojibake.
    """
    if encoding == "auto":
        for bom, codec, name in _BOMS:
            if data.startswith(bom):
                return _decode(data, codec, name), name
        if order := utf16_order(data[:4096]):
            return _decode(data, order, "utf-16"), "utf-16"
    if looks_binary(data[:8192]):
        raise UnreadableFile(_("this is a binary file, not a text export (CSV or FEC)"))
    if encoding == "auto":
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            encoding = _single_byte_encoding(data)
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in {"utf-8", "utf8"} else encoding
    return _decode(data, codec, encoding), encoding


def _decode(data: bytes, codec: str, name: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UnreadableFile(
            _(
                "not valid %(encoding)s (byte %(byte)s at offset %(offset)s); "
                "save the file as UTF-8 or set the right encoding in the mapping"
            )
            % {"encoding": name, "byte": f"{exc.object[exc.start]:#04x}", "offset": exc.start},
            row=line,
        ) from None
    except LookupError:
        raise UnreadableFile(
            _("unknown encoding %(encoding)s") % {"encoding": repr(name)}
        ) from None


def _single_byte_encoding(data: bytes) -> str:
    """Windows-1252 or ISO-8859-15 for a file that is not UTF-8; refuses a mixed file."""
    utf8_rows, other_rows = [], []
    if _UTF8_SEQUENCE.search(data):  # cheap test first: most legacy files stop here
        for row, line in enumerate(data.split(b"\n"), start=1):
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
                utf8_rows.append(row)
            except UnicodeDecodeError:
                other_rows.append(row)
    if utf8_rows and other_rows:
        raise UnreadableFile(
            _(
                "mixes encodings: %(other)s while %(utf8)s; "
                "save the whole file in one encoding (UTF-8)"
            )
            % {
                "other": ngettext(
                    "line %(lines)s is not UTF-8 (Windows-1252?)",
                    "lines %(lines)s are not UTF-8 (Windows-1252?)",
                    len(other_rows),
                )
                % {"lines": _rows(other_rows)},
                "utf8": ngettext(
                    "line %(lines)s is UTF-8", "lines %(lines)s are UTF-8", len(utf8_rows)
                )
                % {"lines": _rows(utf8_rows)},
            },
            row=other_rows[0],
        )
    if not _CP1252_ONLY.search(data) and _LATIN9_LETTERS.search(data):
        return "iso-8859-15"
    return "cp1252"


def _rows(rows: list[int]) -> str:
    return ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")


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
