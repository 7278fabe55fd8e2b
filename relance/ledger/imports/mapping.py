"""Column mappings: which column of a user's file holds which field of the ledger.

A mapping is a small YAML document (see docs/imports.md and examples/mappings/) that a user
writes once and reuses, from a file or saved in the organisation under a name. Each row of
the file becomes records (relance.ledger.imports.records); values are read as French
software writes them unless the mapping says otherwise.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import operator
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import compress, islice, repeat
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from relance.accounts.identity import references_in
from relance.accounts.services import check_country, check_currency
from relance.ledger.imports.parsing import (
    checked_date,
    currency_sign,
    parse_bool,
    parse_date,
    parse_money,
    sign_fits,
    to_cents,
)
from relance.ledger.imports.records import (
    AllocationRecord,
    ContactRecord,
    ImportFailed,
    InvoiceRecord,
    LedgerBatch,
    PaymentRecord,
    Problem,
    Problems,
)
from relance.ledger.imports.tabular import Block, Lines, Table, split_lines
from relance.ledger.models import Channel, InvoiceKind, PaymentKind
from relance.lib import safe_yaml
from relance.lib.perf import in_child

# target field -> value type
CUSTOMER_TARGETS = {
    "customer.reference": "str", "customer.legal_name": "str", "customer.trade_name": "str",
    "customer.siren": "str", "customer.siret": "str", "customer.vat_number": "str",
    "customer.email": "str", "customer.phone": "str", "customer.language": "lower",
    "customer.country": "country", "customer.currency": "currency",
    "customer.payment_terms_days": "int", "customer.credit_limit": "money",
    "customer.risk_class": "lower", "customer.customer_since": "date", "customer.notes": "str",
    "customer.address.line1": "str", "customer.address.line2": "str",
    "customer.address.postcode": "str", "customer.address.city": "str",
    "customer.address.country": "country",
    "contact.name": "str", "contact.email": "str", "contact.phone": "str",
    "contact.role": "str", "contact.preferred_channel": "lower",
}  # fmt: skip
INVOICE_TARGETS = {
    "invoice.number": "str", "invoice.kind": "lower", "invoice.issue_date": "date",
    "invoice.due_date": "date", "invoice.currency": "currency", "invoice.amount": "money",
    "invoice.amount_excl_tax": "money", "invoice.tax_amount": "money",
    "invoice.po_reference": "str", "invoice.disputed": "bool", "invoice.open_amount": "money",
    "invoice.paid_amount": "money", "settlement.date": "date", "settlement.amount": "money",
}  # fmt: skip
PAYMENT_TARGETS = {
    "payment.reference": "str", "payment.date": "date", "payment.amount": "money",
    "payment.currency": "currency", "payment.kind": "lower", "payment.method": "str",
    "payment.memo": "str", "allocation.invoice": "str", "allocation.amount": "money",
}  # fmt: skip
RECORDS = {
    "invoice": (CUSTOMER_TARGETS | INVOICE_TARGETS, ("customer.reference", "invoice.number",
                                                      "invoice.issue_date")),
    "payment": (CUSTOMER_TARGETS | PAYMENT_TARGETS, ("customer.reference", "payment.reference",
                                                      "payment.date")),
    "customer": (CUSTOMER_TARGETS, ("customer.reference",)),
}  # fmt: skip
OPTIONS = {"name", "description", "format", "record", "encoding", "delimiter", "sheet",
           "header_row", "dates", "decimal", "currency", "snapshot", "columns", "country",
           "language"}  # fmt: skip


@dataclass(frozen=True)
class Column:
    target: str
    column: str | None = None  # header of the user's file
    value: Any = None  # a constant, when no column holds the field
    values: dict[str, Any] = field(default_factory=dict)  # translation of raw values
    format: str | None = None  # date format of this column


@dataclass
class Mapping:
    name: str
    record: str = "invoice"
    format: str | None = None
    encoding: str = "auto"
    delimiter: str = "auto"
    sheet: str | int | None = None
    header_row: int = 1
    dates: str = "auto"
    decimal: str = "auto"
    currency: str | None = None
    snapshot: bool = False
    columns: dict[str, Column] = field(default_factory=dict)
    # The organisation `relance import --create-org` creates with this mapping.
    country: str | None = None
    language: str | None = None

    @property
    def source(self) -> str:
        return f"{self.record}:{self.name}"


def load_mapping(path: Path) -> Mapping:
    return parse_mapping(read_mapping_spec(path), path.name, default_name=path.stem)


def read_mapping_spec(path: Path) -> Any:
    """The YAML document of a mapping file, read with the limits of relance.lib.safe_yaml
    (no aliases, bounded depth, size and numbers, no key twice)."""
    try:
        return safe_yaml.read(path)
    except OSError as exc:
        raise ImportFailed(
            [
                Problem(
                    path.name, None, None, _("cannot read the mapping: %(error)s") % {"error": exc}
                )
            ]
        ) from None
    except safe_yaml.YamlRefused as exc:
        raise ImportFailed([Problem(path.name, None, None, f"{exc}")]) from None


FORMAT_NAMES = ("csv", "xlsx", "ods", "fec")
DECIMAL_MARKS = ("auto", ".", ",")
HEADER_ROW_MAX = 10_000
TERMS_MAX = 3660  # ten years, as a scenario's offsets
SCALARS = (str, int, float, Decimal, bool, dt.date)


def parse_mapping(spec: Any, label: str, default_name: str = "mapping") -> Mapping:
    """Validate a mapping document; every mistake names the mapping file and the key."""
    problems = Problems(label)
    if not isinstance(spec, dict):
        raise problems.fail(None, None, _("a mapping is a YAML dictionary with a `columns` key"))
    for key in sorted(set(spec) - OPTIONS, key=str):
        problems.add(
            None, str(key),
            _("unknown option (known: %(options)s)") % {"options": ", ".join(sorted(OPTIONS))},
        )  # fmt: skip
    record = spec.get("record", "invoice")
    if not isinstance(record, str) or record not in RECORDS:
        raise problems.fail(None, "record", _one_of(record, RECORDS))
    targets, required = RECORDS[record]
    columns: dict[str, Column] = {}
    raw_columns = spec.get("columns")
    if not isinstance(raw_columns, dict) or not raw_columns:
        raise problems.fail(None, "columns", _("list the columns: `target.field: Column header`"))
    for target, value in raw_columns.items():
        if target not in targets:
            problems.add(
                None, f"columns.{target}",
                _("unknown field for %(record)s records") % {"record": record},
            )  # fmt: skip
            continue
        if column := _column(target, value, problems):
            columns[target] = column
    for target in required:
        if target not in columns:
            problems.add(None, f"columns.{target}", _("is required"))
    if record == "invoice" and not {"invoice.amount", "invoice.amount_excl_tax"} & set(columns):
        problems.add(None, "columns.invoice.amount", _("is required"))
    options = _Options(spec, problems)
    mapping = Mapping(
        name=options.text("name", default_name),
        record=record,
        format=options.choice("format", FORMAT_NAMES, None),
        encoding=options.text("encoding", "auto"),
        delimiter=options.delimiter(),
        sheet=options.sheet(),
        header_row=options.whole("header_row", 1, 1, HEADER_ROW_MAX),
        dates=options.text("dates", "auto"),
        decimal=options.choice("decimal", DECIMAL_MARKS, "auto") or "auto",
        currency=options.code("currency", check_currency),
        snapshot=options.flag("snapshot"),
        columns=columns,
        country=options.code("country", check_country),
        language=options.text("language", "") or None,
    )
    problems.raise_if_any()
    return mapping


def _column(target: str, value: Any, problems: Problems) -> Column | None:
    """One entry of ``columns``: a header, or ``{column|value, values, format}``."""
    where = f"columns.{target}"
    if isinstance(value, str | int) and not isinstance(value, bool):
        return Column(target, column=str(value))
    if not (isinstance(value, dict) and ("column" in value or "value" in value)):
        problems.add(None, where, _("give a column header, or {value: ...}"))
        return None
    header, constant = value.get("column"), value.get("value")
    values, date_format = value.get("values") or {}, value.get("format")
    ok = True
    if header is not None and not (isinstance(header, str | int) and not isinstance(header, bool)):
        problems.add(
            None, f"{where}.column", _("%(value)s is not a column header") % {"value": repr(header)}
        )
        ok = False
    if constant is not None and not isinstance(constant, SCALARS):
        problems.add(None, f"{where}.value", _("a constant is one value, not a list or mapping"))
        ok = False
    if not isinstance(values, dict) or not all(
        v is None or isinstance(v, SCALARS) for v in values.values()
    ):
        problems.add(None, f"{where}.values", _("a mapping of raw values to values"))
        ok = False
    if date_format is not None and not isinstance(date_format, str):
        problems.add(
            None,
            f"{where}.format",
            _("%(value)s is not a date format") % {"value": repr(date_format)},
        )
        ok = False
    if not ok:
        return None
    return Column(
        target, column=None if header is None else str(header), value=constant,
        values={str(k): v for k, v in values.items()}, format=date_format,
    )  # fmt: skip


class _Options:
    """Reads the options of a mapping, noting each wrong one."""

    def __init__(self, spec: dict[str, Any], problems: Problems):
        self.spec, self.problems = spec, problems

    def text(self, key: str, default: str) -> str:
        value = self.spec.get(key)
        if value is None:
            return default
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
        self.problems.add(None, key, _("%(value)s is not text") % {"value": repr(value)})
        return default

    def choice(self, key: str, choices: tuple[str, ...], default: str | None) -> str | None:
        value = self.spec.get(key, default)
        if value is None or value in choices:
            return value
        self.problems.add(None, key, _one_of(value, choices))
        return default

    def whole(self, key: str, default: int, low: int, high: int) -> int:
        value = self.spec.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        self.problems.add(
            None, key,
            _("%(value)s is not a whole number from %(low)s to %(high)s")
            % {"value": repr(value), "low": low, "high": high},
        )  # fmt: skip
        return default

    def flag(self, key: str) -> bool:
        value = self.spec.get(key, False)
        if isinstance(value, bool):
            return value
        self.problems.add(None, key, _("%(value)s is not true or false") % {"value": repr(value)})
        return False

    def delimiter(self) -> str:
        value = self.text("delimiter", "auto")
        if value == "auto" or len(value.replace("\\t", "\t")) == 1:
            return value
        self.problems.add(
            None,
            "delimiter",
            _("%(value)s is not one character (or auto)") % {"value": repr(value)},
        )
        return "auto"

    def sheet(self) -> str | int | None:
        value = self.spec.get("sheet")
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1000:
            return value
        self.problems.add(
            None, "sheet",
            _("%(value)s is not a sheet name or number from 0") % {"value": repr(value)},
        )  # fmt: skip
        return None

    def code(self, key: str, check: Callable[[str], str]) -> str | None:
        value = self.spec.get(key)
        if value is None:
            return None
        try:
            return check(value)
        except ValueError as exc:
            self.problems.add(None, key, str(exc))
            return None


def _one_of(value: Any, choices: Iterable[str]) -> str:
    return _("%(value)s is not one of %(choices)s") % {
        "value": repr(value), "choices": ", ".join(choices)
    }  # fmt: skip


def default_mapping(header: list[str]) -> Mapping:
    """Without a mapping, a file whose headers are our field names (``invoice.issue_date``
    or ``invoice_issue_date``) imports as it is: that is the template in docs/imports.md.

    What a row is comes from the headers: any invoice or settlement field makes it an
    invoice, any payment or allocation field a payment; a required field missing is then
    named, never a row quietly read as a mere customer."""
    spelled: dict[str, str] = {}
    for target in CUSTOMER_TARGETS | INVOICE_TARGETS | PAYMENT_TARGETS:
        spelled[target] = spelled[target.replace(".", "_")] = target
    columns = {spelled[h.strip().lower()]: h for h in header if h.strip().lower() in spelled}
    kinds = {target.split(".", 1)[0] for target in columns}
    if kinds & {"payment", "allocation"}:
        record = "payment"
    elif kinds & {"invoice", "settlement"}:
        record = "invoice"
    elif "customer.reference" in columns:
        record = "customer"
    else:
        raise ImportFailed([Problem(_("(no mapping)"), None, None,
                                    _("give a mapping (--mapping FILE or NAME): the file's "
                                      "headers are not Relance's template headers"))])  # fmt: skip
    targets = RECORDS[record][0]
    return parse_mapping(
        {"record": record, "columns": {t: h for t, h in columns.items() if t in targets}},
        "default mapping", default_name="default",
    )  # fmt: skip


Converter = Callable[[Any], Any]
# Rows between two reports of progress: often enough for a page polling every second,
# rare enough to cost nothing (one modulo per row).
PROGRESS_EVERY = 1000
DATES_KEPT = 100_000  # distinct date texts remembered per column
_DIGITS, _SIGNED = frozenset("0123456789"), frozenset("-+0123456789")
INVOICE_KINDS = frozenset(InvoiceKind.values)
PAYMENT_KINDS = frozenset(PaymentKind.values)


def _converter(kind: str, column: Column, mapping: Mapping) -> Converter:
    """A function from a raw cell (text, or a typed spreadsheet value) to the field value."""

    mark = mapping.decimal

    def money(raw: Any) -> Decimal:
        if raw.__class__ is str:  # a CSV's cells, all of them: first
            return parse_money(raw, mark)
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return to_cents(Decimal(repr(raw)))
        return parse_money(str(raw), mapping.decimal)

    # A file has a few hundred distinct days on a million rows: each text is read once,
    # and its rows share one date object (a date each was 32 bytes a row).
    dates: dict[str, dt.date] = {}

    def date(raw: Any) -> dt.date:
        if raw.__class__ is str and (day := dates.get(raw)) is not None:
            return day  # a text read before: most rows
        if isinstance(raw, dt.datetime):
            return checked_date(raw.date())
        if isinstance(raw, dt.date):
            return checked_date(raw)
        text = str(raw)
        day = dates.get(text)
        if day is None:
            day = parse_date(text, column.format or mapping.dates)  # raises: not kept
            if len(dates) < DATES_KEPT:
                dates[text] = day
        return day

    def integer(raw: Any) -> int:
        # The only whole-number field is a customer's payment terms, in days.
        text = str(int(raw) if isinstance(raw, float) and raw.is_integer() else raw).strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 5):
            raise ValueError(f"{text[:40]!r} is not a whole number of days from 0")
        if int(text) > TERMS_MAX:
            raise ValueError(f"{text} days: payment terms are at most {TERMS_MAX} days")
        return int(text)

    def boolean(raw: Any) -> bool:
        return raw if isinstance(raw, bool) else parse_bool(str(raw))

    def text(raw: Any) -> str:
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)  # spreadsheets turn codes like 00123 into numbers
        return str(raw).strip()

    simple: dict[str, Converter] = {
        "money": money, "date": date, "int": integer, "bool": boolean, "str": text,
        "lower": lambda raw: text(raw).lower(), "upper": lambda raw: text(raw).upper(),
        "currency": lambda raw: _iso_code(check_currency, text(raw)),
        "country": lambda raw: _iso_code(check_country, text(raw)),
    }  # fmt: skip
    return simple[kind]


@functools.lru_cache(maxsize=512)
def _iso_code(check: Callable[[str], str], code: str) -> str:
    """A file repeats a handful of codes on every row: each is looked up once."""
    return check(code)


@dataclass
class _Field:
    target: str
    index: int | None
    column: Column
    convert: Converter
    label: str  # what the user sees in errors: the header, or the target for constants
    money: bool = False
    text: bool = False  # a "str" field: a stripped text cell is its value as it is
    # What _values reads of it for each row, unpacked at once (attributes cost per row).
    plan: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        self.plan = (self.target, self.index, self.column.value, self.column.values or None,
                     self.convert, self.money, self.label, self.text)  # fmt: skip


_PLAN = operator.attrgetter("plan")


def _fields(mapping: Mapping, table: Table, problems: Problems) -> list[_Field]:
    targets = RECORDS[mapping.record][0]
    positions = {name: i for i, name in enumerate(table.header)}
    fields = []
    for target, column in mapping.columns.items():
        index = None
        if column.column is not None:
            index = positions.get(column.column)
            if index is None:
                problems.add(
                    1, column.column,
                    _("missing column (mapped to %(field)s); the file has: %(headers)s")
                    % {"field": target, "headers": ", ".join(h for h in table.header if h)},
                )  # fmt: skip
                continue
        convert = _converter(targets[target], column, mapping)
        label = column.column or target
        kind = targets[target]
        fields.append(_Field(target, index, column, convert, label, kind == "money", kind == "str"))
    problems.raise_if_any()
    return fields


def read_rows(
    table: Table,
    mapping: Mapping,
    *,
    default_currency: str,
    as_of: dt.date,
    progress: Callable[[str, int, int], None] | None = None,
    known: dict[int, str] | None = None,
    sink: Callable[[LedgerBatch], None] | None = None,
    chunk: int = 20_000,
    block: int = 0,
) -> LedgerBatch:
    """Turn the rows of a table into a LedgerBatch. Bad values are collected in
    ``batch.problems`` (their rows left out), for the import to report them with the
    problems it finds later, in one pass; a file that cannot be read on raises.

    ``known`` maps the fingerprints of invoice rows as last imported to their invoice
    numbers (``fingerprints``): a row found there is that invoice unchanged, and is not
    parsed but for its customer's columns (``batch.unchanged``). It is consumed.

    With ``sink`` and a mapping of invoice rows, the batch is handed to ``sink`` every
    ``chunk`` rows and at the end, and its invoices, payments, allocations and contacts are
    dropped after each hand-over (its customers, problems and warnings stay whole): the
    records of a file are never held whole (``relance.ledger.imports.stream``). With
    ``known`` too, the rows read are handed over once about ``chunk`` of them are in (a
    block at a time), the unchanged ones staying in ``batch.unchanged``
    (``relance.ledger.imports.restream``).

    The rows are taken ``block`` at a time (default BLOCK): their fingerprints computed,
    looked up and the unchanged ones noted in C; only the others are read one by one."""
    problems = Problems(table.file)
    fields = _fields(mapping, table, problems)
    batch = LedgerBatch(
        file=table.file, format=mapping.format or "csv", source=mapping.source,
        snapshot=mapping.snapshot, labels={f.target: f.label for f in fields},
    )  # fmt: skip
    build = {"invoice": _invoice_rows, "payment": _payment_rows, "customer": _customer_rows}
    builder = build[mapping.record]
    currency = (mapping.currency or default_currency).upper()
    state = _State(currency, as_of, problems)
    key = fingerprint_key(mapping, currency, table.header) if mapping.record == "invoice" else b""
    fingerprinted = _cells_fingerprints(key, table) if key else None
    if mapping.record != "invoice":
        sink = None  # payments span rows (state.payments): read whole
    skipper = _Skipper(fields, known, as_of) if key and known else None

    def read(line: int, cells: list[Any], fingerprint: int | None) -> None:
        """One row parsed into records."""
        state.fingerprint = fingerprint
        values = _values(fields, cells, line, state)
        if values is not None:
            builder(batch, values, line, state)
            if skipper and "customer.reference" in values:
                skipper.forget(values["customer.reference"])

    rows = 0

    def counted(size: int) -> int:
        """The file's row number of a block's first row, ``size`` rows being read."""
        nonlocal rows
        first, rows = rows + 1, rows + size
        if progress:
            for done in range(-(-first // PROGRESS_EVERY) * PROGRESS_EVERY, rows + 1,
                              PROGRESS_EVERY):  # fmt: skip
                progress("reading", done, table.size)
        return first

    def take(lines: Sequence[int], cells: Sequence[list[Any]]) -> None:
        """A block of rows, each read (no ``known``)."""
        first = counted(len(cells))
        if fingerprinted is None:
            prints: Sequence[int | None] = [None] * len(cells)
        else:
            prints = fingerprinted(cells)
        for row, line, row_cells, fingerprint in zip(
            range(first, rows + 1), lines, cells, prints, strict=True
        ):
            read(line, row_cells, fingerprint)
            if sink and row % chunk == 0:
                _hand_over(batch, problems, sink)

    def hand_over_if_due() -> None:
        """With ``known``: the records read handed over once about ``chunk`` of them are in."""
        if sink and len(batch.invoices) + len(batch.payments) >= chunk:
            _hand_over(batch, problems, sink)

    def read_half(rest: bool) -> None:
        """The file's rows (``rest``: its second half, ``Table.rest``) read by this process."""
        if skipper is None:
            for lines, cells in _blocks(table, size, rest=rest):
                take(lines, cells)
            return
        for taken in _taken(table, skipper, key, size, rows + 1, read, rest=rest):
            counted(len(taken[1]))
            skipper.take(batch, *taken)
            hand_over_if_due()

    def replay(rest: _Rest | None) -> bool:
        """The second half's rows as another process read them (``_read_rest``): False
        when they must be read here (that process failed, or found more than
        REST_CHANGED rows changed; a fingerprint it found unchanged is one this half took
        already, which read in order would have been read as changed; this half too short
        to hold the sample)."""
        if rest is None or rows <= SAMPLE_ROWS:
            return False
        assert skipper is not None
        found, lines = rest[1]
        # This process's own strings: the numbers another process sends are its copies.
        numbers = list(map(skipper.known.pop, found, repeat(None)))
        if None in numbers:  # taken by this half already: given back, the half read here
            skipper.known.update(
                (f, n) for f, n in zip(found, numbers, strict=True) if n is not None
            )
            return False
        for size, events in rest[0]:
            counted(size)
            for event in events:
                if len(event) == 3:  # a row that changed
                    read(*event)
                elif event[0] not in skipper.applied:  # a text not last applied for them
                    skipper.apply_again(batch, *event)
            hand_over_if_due()
        batch.unchanged.note(numbers, lines)  # type: ignore[arg-type]  # none is None
        return True

    if progress:
        progress("reading", 0, table.size)
    size = block or BLOCK
    other: AbstractContextManager[Callable[[], _Rest | None]] = nullcontext(lambda: None)
    if skipper and table.rest:
        other = in_child(
            functools.partial(_read_rest, table, fields, skipper.known, as_of, size, key)
        )
    try:
        with other as rest:
            read_half(rest=False)
            if sink and table.rest and skipper:  # written while the other process reads
                _hand_over(batch, problems, sink)
            if table.rest and not replay(rest()):
                read_half(rest=True)
    except ImportFailed as failure:  # a structural error: report it after the value errors
        problems.items.extend(failure.problems)
        raise ImportFailed(problems.items) from None
    if rows == 0:
        problems.add(None, None, _("the file has a header but no rows"))
        problems.raise_if_any()
    batch.rows_read = rows
    if sink and (skipper or rows % chunk):  # what is left (the skipper's: whatever it is)
        _hand_over(batch, problems, sink)
    batch.problems = problems.items
    return batch


BLOCK = 2000  # rows taken at a time: a block's lists stay in the processor's caches


def _blocks(table: Table, size: int, *, rest: bool = False) -> Iterator[Block]:
    """The table's rows ``size`` at a time (``rest``: its second half's, ``Table.rest``): a
    CSV's as its reader gives them, a spreadsheet's gathered here."""
    if rest:
        assert table.rest is not None
        yield from table.rest(size)
        return
    if table.blocks is not None:
        yield from table.blocks(size)
        return
    rows = iter(table.rows)
    while taken := list(islice(rows, size)):
        lines, cells = zip(*taken, strict=True)
        yield lines, cells


# What another process makes of a file's second half (``_read_rest``): for each block, its
# rows and what the reading does in file order (a customer's text applied: the text and
# its line; a row that changed: line, cells, fingerprint); the unchanged rows' fingerprints
# and lines, as arrays (their numbers are this process's ``known``'s).
_Rest = tuple[list[tuple[int, list[tuple[Any, ...]]]], tuple["array[int]", "array[int]"]]
# The changed rows another process may send back: they come back whole, and the import's
# memory must not grow with the file; beyond, the second half is read here, a chunk at a
# time (a file mostly changed gains nothing from the other process).
REST_CHANGED = 50_000


def _read_rest(
    table: Table,
    fields: list[_Field],
    known: dict[int, str],
    as_of: dt.date,
    size: int,
    key: bytes,
) -> _Rest | None:
    """``read_rows``'s skipping of a file's second half (``Table.rest``), in another
    process: every customer's text is applied at its first row here (what the first half
    applied is not known), and the parent applies those it would have, in order
    (``replay``): the changes of the rows, the customers and contacts are the parent's.
    None once more than REST_CHANGED rows changed: the parent reads the half itself."""
    skipper = _Recorder(fields, known, as_of)
    scratch = LedgerBatch(file=table.file, format="", source="")  # its unchanged rows unused
    blocks: list[tuple[int, list[tuple[Any, ...]]]] = []
    changed = 0
    # Past the sample, which is the first half's.
    for taken in _taken(table, skipper, key, size, SAMPLE_ROWS + 1, skipper.read, rest=True):
        skipper.events = []
        skipper.take(scratch, *taken)
        blocks.append((len(taken[1]), skipper.events))
        changed += sum(len(event) == 3 for event in skipper.events)
        if changed > REST_CHANGED:
            return None
    return blocks, (skipper.found, skipper.lines)


# How a row is read: its line, cells and fingerprint.
_Read = Callable[[int, list[Any], int | None], None]
# A block as ``_Skipper.take`` takes it: its rows' lines and cells, their fingerprints, the
# invoices' numbers found (``_Skipper.look_up``), and how a row that is not is read.
_Taken = tuple[Sequence[int], Sequence[list[Any]], Sequence[int], list[str | None], _Read]


def _taken(
    table: Table,
    skipper: _Skipper,
    key: bytes,
    size: int,
    first: int,
    read: _Read,
    *,
    rest: bool = False,
) -> Iterator[_Taken]:
    """The table's rows (``rest``: its second half's, ``Table.rest``) ``size`` at a time as
    ``_Skipper.take`` takes them, the first being the file's row ``first``: a plain CSV's
    lines as ``_PlainLines`` finds them, any other table's rows as its reader gives them."""
    lines = table.rest_lines if rest else table.lines
    if lines is not None:
        yield from _PlainLines(skipper, key, table).taken(lines(size), first, read)
        return
    fingerprinted = _cells_fingerprints(key, table)
    yield from skipper.looked_up(_blocks(table, size, rest=rest), fingerprinted, first, read)


def _cells_fingerprints(key: bytes, table: Table) -> Callable[[Sequence[list[Any]]], list[int]]:
    """``fingerprints`` of a table's rows of cells: a CSV's are text, a spreadsheet's are
    read as text (numbers, dates: str())."""
    fingerprinted = fingerprints(key)
    if table.delimiter:
        return fingerprinted
    return lambda rows: fingerprinted(_as_text(rows))


def _as_text(rows: Iterable[list[Any]]) -> list[Iterator[str]]:
    """A spreadsheet's cells as the text its fingerprint reads (numbers, dates: str())."""
    return [map(str, cells) for cells in rows]


def _hand_over(batch: LedgerBatch, problems: Problems, sink: Callable[[LedgerBatch], None]) -> None:
    """The records read since the last hand-over to ``sink``, then dropped."""
    batch.problems = problems.items
    sink(batch)
    batch.invoices, batch.payments, batch.allocations, batch.contacts = [], [], [], []


# Bump when what a row is read as changes for the same text and mapping: every row is then
# read again on the next import, as if changed.
FINGERPRINT_VERSION = 1
SAMPLE_ROWS = 20


def fingerprint_key(mapping: Mapping, currency: str, header: list[str]) -> bytes:
    """What a row's fingerprint depends on besides its text: the mapping, the currency of
    rows that name none, the header (the columns' order)."""
    spec = repr((FINGERPRINT_VERSION, mapping, currency, header)).encode()
    return hashlib.blake2b(spec, digest_size=32).digest()


_JOIN = "\x1f".join
_TO_INT = functools.partial(int.from_bytes, byteorder="big", signed=True)
_BLAKE2B = hashlib.blake2b


def fingerprints(key: bytes) -> Callable[[Sequence[Iterable[str]]], list[int]]:
    """The fingerprint of each row of cells: its text and ``key`` as a signed 64-bit
    integer (a BigIntegerField); two rows of a million share one by chance about once in
    10**7 imports. Computed in C, no Python step per row; each row's hash starts as a copy
    of one keyed with ``key`` (the same hash, without building the keyed one each time)."""
    keyed = _BLAKE2B(digest_size=8, key=key)

    def of(rows: Sequence[Iterable[str]]) -> list[int]:
        return _digests(keyed, len(rows), map(_JOIN, rows))

    return of


def line_fingerprints(key: bytes, sep: str) -> Callable[[list[str]], list[int]]:
    """``fingerprints`` of rows given as their lines' text (without line breaks), in a file
    whose lines are its rows, split at ``sep`` (``Table.plain``): the same fingerprints,
    without the cells (the separators made the cells' one)."""
    keyed = _BLAKE2B(digest_size=8, key=key)

    def of(lines: list[str]) -> list[int]:
        joined = map(str.replace, lines, repeat(sep), repeat("\x1f"))
        return _digests(keyed, len(lines), joined)

    return of


def _digests(keyed: Any, size: int, texts: Iterable[str]) -> list[int]:
    """Each text's keyed hash as a fingerprint, all in C."""
    hashes = list(map(_BLAKE2B.copy, repeat(keyed, size)))
    deque(map(_BLAKE2B.update, hashes, map(str.encode, texts)), maxlen=0)
    return list(map(_TO_INT, map(_BLAKE2B.digest, hashes)))


def row_fingerprint(key: bytes, cells: Iterable[str]) -> int:
    """One row's ``fingerprints``: blake2b of its cells joined by \\x1f, keyed, 8 bytes,
    as a signed big-endian integer."""
    digest = _BLAKE2B("\x1f".join(cells).encode(), digest_size=8, key=key).digest()
    return int.from_bytes(digest, "big", signed=True)


_NOTHING: Any = object()  # no text applied yet


class _Skipper:
    """Skips the rows of invoices that are as last imported: only their customer's
    columns are read (customer fields and contacts follow the file's last row), once per
    distinct text.

    A block of rows is taken at once (``take``): the fingerprints looked up, the
    customers' texts picked and compared with the ones last applied, the unchanged rows
    noted, all in C; Python runs only for a row that changed (read as it comes, in file
    order) and for a customer's text not applied yet (the first time the file names it, or
    after a changed row of theirs)."""

    def __init__(self, fields: list[_Field], known: dict[int, str], as_of: dt.date):
        self.known = known
        self.fields = [f for f in fields if f.target.startswith(("customer.", "contact."))]
        self.columns = columns = [f.index for f in self.fields if f.index is not None]
        # The cells of those columns (a tuple; the cell alone for one column), picked in C.
        self.pick: Callable[[list[Any]], Any] | None = (
            operator.itemgetter(*columns) if columns else None
        )
        self.parsed: dict[Any, dict[str, Any] | None] = {}
        self.last: dict[str, Any] = {}  # reference -> text last applied
        self.applied: set[Any] = set()  # the texts of ``last``: the rows' new ones found in C
        self.state = _State("", as_of, Problems(""))

    def forget(self, reference: str) -> None:
        """A row of the customer was read: its next unchanged row applies its text again."""
        self.applied.discard(self.last.pop(reference, _NOTHING))

    def take(
        self,
        batch: LedgerBatch,
        lines: Sequence[int],
        cells: Sequence[list[Any]],
        prints: Sequence[int | None],
        numbers: list[str | None],
        read: _Read,
    ) -> None:
        """A block of rows and their invoices' ``numbers`` (``look_up``): the rows not
        known are ``read``, in file order between the runs of unchanged ones."""
        size = len(cells)
        start = 0
        for i in [*compress(range(size), map(operator.is_, numbers, repeat(None))), size]:
            if start < i:
                self.unchanged(
                    batch, lines[start:i], cells[start:i], numbers[start:i], prints[start:i], read
                )
            if i < size:
                read(lines[i], cells[i], prints[i])
            start = i + 1

    def look_up(self, prints: Sequence[int | None], first: int) -> list[str | None]:
        """The invoices' numbers of a block's rows, the first being the file's row
        ``first``, taken from ``known``: None for a row not found, and for the first rows
        (always read: they are the import's sample)."""
        sample = min(max(SAMPLE_ROWS + 1 - first, 0), len(prints))
        numbers: list[str | None] = [None] * sample
        numbers += map(self.known.pop, prints[sample:], repeat(None))  # type: ignore[arg-type]
        return numbers

    def looked_up(
        self,
        blocks: Iterable[Block],
        fingerprinted: Callable[[Sequence[list[Any]]], list[int]],
        first: int,
        read: _Read,
    ) -> Iterator[_Taken]:
        """Blocks of rows as ``take`` takes them, their fingerprints looked up, the first
        row being the file's row ``first``."""
        for lines, cells in blocks:
            prints = fingerprinted(cells)
            yield lines, cells, prints, self.look_up(prints, first), read
            first += len(cells)

    def give_back(self, prints: Sequence[int | None], numbers: list[str | None]) -> None:
        """``look_up``'s numbers returned to ``known``."""
        self.known.update(
            (p, n) for p, n in zip(prints, numbers, strict=True) if n is not None and p is not None
        )

    def unchanged(
        self,
        batch: LedgerBatch,
        lines: Sequence[int],
        cells: Sequence[list[Any]],
        numbers: list[str | None],
        prints: Sequence[int | None],
        read: _Read,
    ) -> None:
        """A run of rows found among the ledger's fingerprints (their invoices' ``numbers``)."""
        texts = list(map(self.pick, cells)) if self.pick else [()] * len(cells)
        # The rows whose customer's text is not the one last applied (one pass in C: each
        # text hashed once, a block's texts being new tuples).
        missing = map(operator.not_, map(self.applied.__contains__, texts))
        fresh = list(compress(range(len(texts)), missing))
        if fresh and not self.apply(batch, fresh, texts, lines, cells):
            # Two texts of one customer in the run, or one that does not read: row by row.
            for line, row, number, fingerprint, text in zip(
                lines, cells, numbers, prints, texts, strict=True
            ):
                if not self.skip(batch, line, row, number, text, fingerprint):
                    read(line, row, fingerprint)
            return
        self.note_unchanged(batch, numbers, lines, prints)

    def note_unchanged(
        self,
        batch: LedgerBatch,
        numbers: Sequence[str | None],
        lines: Sequence[int],
        prints: Sequence[int | None],
    ) -> None:
        """Rows skipped as unchanged: their invoices' numbers, lines and fingerprints."""
        batch.unchanged.note(numbers, lines)  # type: ignore[arg-type]  # none is None

    def apply(
        self,
        batch: LedgerBatch,
        fresh: list[int],
        texts: list[Any],
        lines: Sequence[int],
        cells: Sequence[list[Any]],
    ) -> bool:
        """Apply the customers' texts of a run that were not the last applied (at its rows
        ``fresh``), at their first row, in file order, as row by row: when each customer of
        theirs has no other text in the run (else False, nothing applied)."""
        new = list(map(texts.__getitem__, fresh))
        order = dict.fromkeys(new)  # in the order first found
        first = dict(zip(reversed(new), reversed(fresh), strict=True))  # text -> its first row
        seen: set[Any] | None = None  # the run's texts, when a customer had one applied
        found: dict[str, tuple[Any, dict[str, Any], int]] = {}
        for text in order:
            at = first[text]
            values = self.values(text, cells[at], lines[at])
            if values is None or "customer.reference" not in values:
                return False
            ref = values["customer.reference"]
            if ref in found:
                return False  # the order of its texts matters
            last = self.last.get(ref, _NOTHING)
            if last is not _NOTHING and last in (seen := seen or set(texts)):
                return False
            found[ref] = (text, values, lines[at])
        for ref, (text, values, line) in found.items():
            self.apply_text(batch, ref, text, values, line)
        return True

    def skip(
        self,
        batch: LedgerBatch,
        line: int,
        cells: list[Any],
        number: str | None,
        text: Any,
        fingerprint: int | None,
    ) -> bool:
        """One unchanged row, False when it must be read after all."""
        values = self.values(text, cells, line)
        if number is None or values is None or "customer.reference" not in values:
            return False  # reads differently today (a date now out of range): read it
        ref = values["customer.reference"]
        if self.last.get(ref, _NOTHING) != text:
            self.apply_text(batch, ref, text, values, line)
        self.note_unchanged(batch, [number], [line], [fingerprint])
        return True

    def apply_text(
        self, batch: LedgerBatch, ref: str, text: Any, values: dict[str, Any], line: int
    ) -> None:
        """The customer ``ref`` as ``text`` (its ``values``, at ``line``) says: the text
        last applied for them."""
        _customer(batch, values, line)
        self.applied_now(ref, text)

    def applied_now(self, ref: str, text: Any) -> None:
        """``text`` is the one last applied for the customer ``ref``."""
        self.forget(ref)
        self.last[ref] = text
        self.applied.add(text)

    def apply_again(self, batch: LedgerBatch, text: Any, line: int) -> None:
        """``apply_text`` of a text another process found to read (``_Recorder``)."""
        parts = (text,) if len(self.columns) == 1 else text  # as ``pick`` gives them
        cells = dict(zip(self.columns, parts, strict=True))
        values = self.values(text, cells, line)  # type: ignore[arg-type]  # cells by index
        assert values is not None
        self.apply_text(batch, values["customer.reference"], text, values, line)

    def values(self, text: Any, cells: list[Any], line: int) -> dict[str, Any] | None:
        """The customer's fields of a text, read once."""
        values = self.parsed.get(text, _NOTHING)
        if values is _NOTHING:
            values = self.parsed[text] = _values(self.fields, cells, line, self.state)
        return values


# What a block of a plain CSV's lines gives ``_Skipper.take``: cells, fingerprints, numbers.
_Found = tuple[list[list[str]], list[int], list[str | None]]


class _PlainLines:
    """The rows of a plain CSV (``Table.plain``) as a ``_Skipper`` takes them: a row is
    found unchanged by its line's fingerprint (``line_fingerprints``, its cells' own) and
    split only as far as its customer's columns, the rest of the line left whole; the
    others are split whole."""

    def __init__(self, skipper: _Skipper, key: bytes, table: Table):
        self.skipper, self.sep, self.width = skipper, table.delimiter, len(table.header)
        self.file = table.file
        self.splits = min(max(skipper.columns, default=-1) + 1, self.width - 1)
        self.fingerprinted = line_fingerprints(key, self.sep)
        self.cells_fingerprinted = fingerprints(key)

    def taken(self, blocks: Iterable[Lines], first: int, read: _Read) -> Iterator[_Taken]:
        """Blocks of lines as ``_Skipper.take`` takes them, the first row being the file's
        row ``first``: as ``rows`` finds them, or else as the csv module reads them
        (``split_lines``: its error, if any, after the rows before it)."""
        read_whole = self.whole(read)
        for block in blocks:
            found = self.rows(block[1], first)
            if found is not None:
                yield block[0], *found, read_whole
                first += len(block[1])
                continue
            split, failure = split_lines(self.file, self.width, self.sep, block)
            if split[1]:
                yield from self.skipper.looked_up([split], self.cells_fingerprinted, first, read)
                first += len(split[1])
            if failure is not None:
                raise failure

    def rows(self, lines: list[str], first: int) -> _Found | None:
        """A block's cells, fingerprints and invoice numbers found (``_Skipper.look_up``,
        its first row the file's row ``first``); None when a line is not a row of the
        header's width with a first cell (a blank line, another width: the csv module's
        reading tells, and nothing is taken from ``known``)."""
        sep, width = self.sep, self.width
        texts = list(map(str.rstrip, lines, repeat("\r\n")))
        if list(map(str.count, texts, repeat(sep))).count(width - 1) != len(texts):
            return None
        prints = self.fingerprinted(texts)
        numbers = self.skipper.look_up(prints, first)
        cells = list(map(str.split, texts, repeat(sep), repeat(self.splits)))
        whole = list(compress(range(len(texts)), map(operator.is_, numbers, repeat(None))))
        for i in whole:
            cells[i] = texts[i].split(sep)
        if not all(cells[i][0].strip() for i in whole):
            self.skipper.give_back(prints, numbers)
            return None
        return cells, prints, numbers

    def whole(self, read: _Read) -> _Read:
        """``read`` given a row's every cell: a row found unchanged may be read after all
        (``_Skipper.skip``)."""
        sep, width = self.sep, self.width

        def read_whole(line: int, cells: list[Any], fingerprint: int | None) -> None:
            if len(cells) < width:
                cells = [*cells[:-1], *cells[-1].split(sep)]
            read(line, cells, fingerprint)

        return read_whole


class _Recorder(_Skipper):
    """A _Skipper whose customers' texts and rows read are noted, in order, in ``events``
    (``_read_rest``)."""

    events: list[tuple[Any, ...]]

    def __init__(self, fields: list[_Field], known: dict[int, str], as_of: dt.date):
        super().__init__(fields, known, as_of)
        # The unchanged rows' fingerprints and lines: what goes back through the pipe, not
        # half a million numbers as new strings.
        self.found: array[int] = array("q")
        self.lines: array[int] = array("q")

    def note_unchanged(
        self,
        batch: LedgerBatch,
        numbers: Sequence[str | None],
        lines: Sequence[int],
        prints: Sequence[int | None],
    ) -> None:
        self.found.extend(prints)  # type: ignore[arg-type]  # never None: found by them
        self.lines.extend(lines)

    def read(self, line: int, cells: list[Any], fingerprint: int | None) -> None:
        self.events.append((line, cells, fingerprint))
        values = _values(self.fields, cells, line, self.state)
        if values is not None and "customer.reference" in values:
            self.forget(values["customer.reference"])

    def apply_text(
        self, batch: LedgerBatch, ref: str, text: Any, values: dict[str, Any], line: int
    ) -> None:
        self.events.append((text, line))
        self.applied_now(ref, text)


@dataclass
class _State:
    currency: str  # when the file names none
    as_of: dt.date  # the date of what the source system has already matched
    problems: Problems
    payments: dict[str, PaymentRecord] = field(default_factory=dict)
    fingerprint: int | None = None  # of the row being read
    # Currency signs written in this row's amounts: (field label, raw text, sign).
    signs: list[tuple[str, str, str]] = field(default_factory=list)

    def signs_fit(self, currency: str, line: int) -> bool:
        """``$1,234.56`` in a row whose currency is EUR is refused, not read as euros."""
        ok = True
        for label, raw, sign in self.signs:
            if not sign_fits(sign, currency):
                self.problems.add(
                    line, label,
                    _("%(value)s is not an amount in %(currency)s")
                    % {"value": repr(raw), "currency": currency},
                )  # fmt: skip
                ok = False
        return ok


def _values(
    fields: list[_Field], cells: list[Any], line: int, state: _State
) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    ok = True
    if state.signs:
        state.signs = []
    for target, index, constant, translate, convert, money, label, text in map(_PLAN, fields):
        raw = constant if index is None else cells[index]
        if raw.__class__ is str:
            raw = raw.strip()
            if not translate:
                if not raw:
                    continue
                if text:  # what convert would return, without the call
                    values[target] = raw
                    continue
        elif isinstance(raw, str):
            raw = raw.strip()
            if not raw and not translate:
                continue
        if translate and str(raw) in translate:
            raw = translate[str(raw)]
        if raw is None or raw == "":
            continue
        if text and raw.__class__ is str:  # what convert would return, without the call
            values[target] = raw
            continue
        try:
            values[target] = convert(raw)
        except ValueError as exc:
            state.problems.add(line, label, str(exc))
            ok = False
            continue
        # A sign stands before or after the digits: "1 234,56" and "-12.5" need no search.
        if (
            money
            and isinstance(raw, str)
            and not (raw[-1] in _DIGITS and raw[0] in _SIGNED)
            and (sign := currency_sign(raw))
        ):
            state.signs.append((label, raw, sign))
    return values if ok else None


# customer.* target -> (is an address part, the field or part's name)
_CUSTOMER_PART = {
    target: (target.startswith("customer.address."), target.rsplit(".", 1)[1])
    for target in CUSTOMER_TARGETS
    if target.startswith("customer.") and target != "customer.reference"
}


def _customer(batch: LedgerBatch, values: dict[str, Any], line: int) -> str:
    record = batch.customer(values["customer.reference"], line)
    ref = record.reference  # one string for all the customer's rows (not one a row)
    address = {}
    fields = record.fields
    for target, value in values.items():
        part = _CUSTOMER_PART.get(target)
        if part is None:
            continue
        if part[0]:
            address[part[1]] = value
        else:
            fields[part[1]] = value
    if address:
        record.fields["address"] = {"line1": "", **address}
    if "contact.name" in values:
        batch.contacts.append(
            ContactRecord(
                customer=ref, name=values["contact.name"], email=values.get("contact.email", ""),
                phone=values.get("contact.phone", ""), role=values.get("contact.role", ""),
                preferred_channel=values.get("contact.preferred_channel", Channel.EMAIL),
                is_primary=True, row=line,
            )
        )  # fmt: skip
    return ref


def _require(values: dict[str, Any], targets: tuple[str, ...], line: int, p: Problems) -> bool:
    if all(map(values.__contains__, targets)):  # in C: the usual row
        return True
    missing = [t for t in targets if t not in values]
    for target in missing:
        p.add(line, target, _("is empty"))
    return not missing


def _invoice_rows(batch: LedgerBatch, values: dict[str, Any], line: int, state: _State) -> None:
    p = state.problems
    if not _require(values, ("customer.reference", "invoice.number", "invoice.issue_date"),
                    line, p):  # fmt: skip
        return
    number = values["invoice.number"]
    currency = values.get("invoice.currency", state.currency)
    if state.signs and not state.signs_fit(currency, line):
        return
    customer = _customer(batch, values, line)
    amount = values.get("invoice.amount")
    if amount is None:
        excl = values.get("invoice.amount_excl_tax")
        if excl is None:
            p.add(line, "invoice.amount", _("is empty"))
            return
        amount = excl + values.get("invoice.tax_amount", Decimal("0.00"))
    if amount < 0:
        # Open-item lists show credit notes as negative invoices: they are credits.
        batch.payments.append(
            PaymentRecord(number, customer, values["invoice.issue_date"], currency, -amount,
                          kind=PaymentKind.CREDIT_NOTE, row=line)
        )  # fmt: skip
        return
    kind = values.get("invoice.kind", InvoiceKind.INVOICE)
    if kind not in INVOICE_KINDS:
        p.add(line, "invoice.kind", _one_of(kind, InvoiceKind.values))
        return
    batch.invoices.append(
        InvoiceRecord(
            number=number, customer=customer, issue_date=values["invoice.issue_date"],
            due_date=values.get("invoice.due_date"), currency=currency, amount=amount,
            amount_excl_tax=values.get("invoice.amount_excl_tax"),
            tax_amount=values.get("invoice.tax_amount"), kind=kind,
            po_reference=values.get("invoice.po_reference", ""),
            disputed=values.get("invoice.disputed"), row=line, fingerprint=state.fingerprint,
        )
    )  # fmt: skip
    _settlement(batch, values, number, customer, currency, amount, line, state)


def _settlement(
    batch: LedgerBatch,
    values: dict[str, Any],
    number: str,
    customer: str,
    currency: str,
    amount: Decimal,
    line: int,
    state: _State,
) -> None:
    """What the file says was paid on the invoice, as a payment allocated to it.

    ``settlement.date`` (with ``settlement.amount``, default the whole invoice) records a
    dated payment; ``invoice.open_amount`` or ``invoice.paid_amount`` record what the source
    system has already matched, dated the day of the import.
    """
    if "settlement.date" in values:
        paid = values.get("settlement.amount", amount)
        reference, date, kind = f"{number}/settlement", values["settlement.date"], "payment"
    elif "invoice.open_amount" in values or "invoice.paid_amount" in values:
        paid = values.get("invoice.paid_amount", amount - values.get("invoice.open_amount", 0))
        reference, date, kind = f"{number}/paid", state.as_of, PaymentKind.SETTLEMENT
    else:
        return
    if paid < 0 or paid > amount:
        state.problems.add(
            line, "settlement.amount",
            _("%(paid)s paid on an invoice of %(amount)s") % {"paid": paid, "amount": amount},
        )  # fmt: skip
        return
    if paid == 0:
        batch.obsolete_payments.add(reference)
        return
    batch.payments.append(
        PaymentRecord(reference, customer, date, currency, paid, kind=kind,
                      memo="recorded in the source system", row=line)
    )  # fmt: skip
    batch.allocations.append(AllocationRecord(reference, number, paid, date, line))


def _payment_rows(batch: LedgerBatch, values: dict[str, Any], line: int, state: _State) -> None:
    p = state.problems
    # Without a customer, a transfer that quotes a customer's RF reference in its reference
    # or memo is theirs: the import finds whose (``_Applier.attach_by_reference``).
    required: tuple[str, ...] = ("customer.reference", "payment.reference", "payment.date")
    if "customer.reference" not in values and _quotes_reference(values):
        required = required[1:]
    if not _require(values, required, line, p):
        return
    if state.signs and not state.signs_fit(values.get("payment.currency", state.currency), line):
        return
    customer = _customer(batch, values, line) if "customer.reference" in values else ""
    reference = values["payment.reference"]
    allocated = values.get("allocation.amount")
    total = values.get("payment.amount", allocated)
    if total is None:
        p.add(line, "payment.amount", _("is empty"))
        return
    kind = values.get("payment.kind", PaymentKind.PAYMENT)
    if kind not in PAYMENT_KINDS:
        p.add(line, "payment.kind", _one_of(kind, PaymentKind.values))
        return
    previous = state.payments.get(reference)
    if previous is None:
        state.payments[reference] = record = PaymentRecord(
            reference, customer, values["payment.date"],
            values.get("payment.currency", state.currency), total, kind=kind,
            method=values.get("payment.method", ""), memo=values.get("payment.memo", ""),
            row=line,
        )  # fmt: skip
        batch.payments.append(record)
    elif "payment.amount" not in values:
        # One line per invoice settled, no total column: the payment is the sum of lines.
        previous.amount += total
    if invoice := values.get("allocation.invoice"):
        batch.allocations.append(
            AllocationRecord(reference, invoice, allocated or total, values["payment.date"], line)
        )


def _quotes_reference(values: dict[str, Any]) -> bool:
    return any(
        references_in(str(values.get(target, "")))
        for target in ("payment.reference", "payment.memo")
    )


def _customer_rows(batch: LedgerBatch, values: dict[str, Any], line: int, state: _State) -> None:
    if _require(values, ("customer.reference",), line, state.problems):
        _customer(batch, values, line)
