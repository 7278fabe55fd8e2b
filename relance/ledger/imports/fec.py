"""Reading the customer sub-ledger out of a French FEC (*Fichier des Écritures Comptables*,
article A47 A-1 of the Livre des procédures fiscales), the export every French accounting
program produces.

The file: a header naming the columns (case-insensitively), then one accounting line per
row, separated by tabs or ``|``; dates ``YYYYMMDD``; amounts with a decimal comma (or dot);
UTF-8 or Windows-1252. Debit and Credit may be replaced by ``Montant`` + ``Sens`` (``D``/``C``
or ``+1``/``-1``). Relance needs JournalCode, EcritureNum, EcritureDate, CompteNum,
CompteLib, CompAuxNum, CompAuxLib, PieceRef, PieceDate, EcritureLet and the amounts; it
also reads EcritureLib, Montantdevise and Idevise when present and ignores the others
(DateLet included: see matching).

Rules (docs/fec.md says them for users):

- Entries: every entry (JournalCode + EcritureNum) must balance, and be in the file once
  (the same lines again, apart or right after themselves); else the file is refused,
  naming the entry and its rows.
- Customer lines are those whose CompteNum starts with one of ``customer_accounts``
  (411, 416). The customer is CompAuxNum, named CompAuxLib; without CompAuxNum it is the
  CompteNum itself, named CompteLib. When a customer's name changes, the latest wins.
  Left out with a warning: a line without CompAuxNum on a collective account (one other
  lines book with CompAuxNum, or numbered 411 followed by zeros), and a line whose
  CompAuxNum looks like a bank or cash account (a class-5 account of the file, or 512.../
  53... of six digits or more).
- An invoice is what one entry books on one customer (its debit lines): number PieceRef
  when it names it (not a placeholder such as ``x``, ``-``, ``0`` or empty, and carried by
  no other entry), else ``JournalCode-EcritureNum``; issue date PieceDate (else
  EcritureDate), no due date (the customer's terms give it). A number one entry gives
  several customers (an opening entry numbered ``AN`` for everyone) becomes
  ``number/customer``.
- Tax: when the invoice's entry has a single customer line, its tax is the net credit of
  the entry's 4457 (VAT collected) lines; otherwise tax and amount excl. tax stay unknown.
- A credit line is a credit note when its entry has class-7 (revenue) or 4457 lines, else a
  payment. Its reference, ``FEC:JournalCode:EcritureNum:customer``, is stable across
  re-exports; credit lines of one customer in one entry are summed.
- A negative debit is a credit and a negative credit a debit. Zero lines are skipped.
  Opening entries (journal AN/RAN) are read like any other: an opening debit is an invoice
  carried forward.
- Matching (*lettrage*): lines of one account and customer with the same EcritureLet form
  a group (a trailing ``*``, which some programs use for partial matching, is dropped;
  case is kept). In a group, credits pay debits oldest first (by date, then number). An
  allocation is dated on the payment's own EcritureDate (or its invoice's issue date when
  paid before it), never on DateLet: accountants match weeks or months after the money
  came in. Whatever a group leaves over is open on its newest invoices, or unallocated on
  its newest payments. Unmatched lines stay open or unallocated: the books did not match
  them, neither do we.
- Currency: a line with an Idevise other than the book currency and a Montantdevise is read
  in that currency and amount. When a record or matching group mixes currencies (say an
  exchange difference booked in euros), all of its lines are read in the book currency.
- Problems (missing columns, wrong field counts, bad dates or amounts, a line with both a
  debit and a credit, unbalanced or repeated entries) are collected with their physical
  line number, then raised together.

Output is sorted, so that the same books give the same batch whatever the line order.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from relance.accounts.services import check_currency
from relance.ledger.imports.parsing import (
    UnreadableFile,
    decode,
    file_label,
    parse_date,
    parse_money,
    to_cents,
)
from relance.ledger.imports.records import (
    AllocationRecord,
    InvoiceRecord,
    LedgerBatch,
    PaymentRecord,
    Problems,
)
from relance.ledger.imports.tabular import MAX_LINE
from relance.lib.perf import collector_paused

Progress = Callable[[int, int], None]

FEC_COLUMNS = (
    "JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
    "CompAuxNum", "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit",
    "EcritureLet", "DateLet", "ValidDate", "Montantdevise", "Idevise", "Montant", "Sens",
)  # fmt: skip
REQUIRED = (
    "JournalCode", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib", "CompAuxNum",
    "CompAuxLib", "PieceRef", "PieceDate", "EcritureLet",
)  # fmt: skip
VAT_COLLECTED = "4457"
REVENUE = "7"
FINANCIAL = "5"  # banks, cash: class 5 of the chart of accounts
PROGRESS_EVERY = 5_000
MEMO_LENGTH = 200
ZERO = Decimal("0.00")
# What FEC files nearly always hold; anything else goes through parse_money.
_PLAIN_AMOUNT = re.compile(r"-?\d+(?:[.,]\d{1,2})?")
# Half the amounts of a FEC: the empty column of each line.
_ZEROS = frozenset({"", "0", "0,00", "0.00", "0,0", "0.0"})
_DECIMAL_MARKS = frozenset(",.")
_DIRECTIONS = {"d": 1, "+1": 1, "1": 1, "+": 1, "c": -1, "-1": -1, "-": -1}
# PieceRefs that name no invoice (see _placeholder).
_NO_REFERENCE = re.compile(r"[\W_0]*|[xX]+")
_NO_REFERENCE_WORDS = frozenset(
    {"na", "n/a", "nc", "nd", "sans", "neant", "néant", "aucun", "aucune", "none", "null"}
)

Entry = tuple[str, str]  # (JournalCode, EcritureNum)
Key = tuple[str, str, str]  # of a record or a matching group


@dataclass(frozen=True, slots=True)
class _Columns:
    """Where the columns Relance reads sit in a row."""

    width: int
    journal: int
    number: int
    date: int
    account: int
    account_name: int
    aux: int
    aux_name: int
    piece: int
    piece_date: int
    letter: int
    label: int | None
    # Debit and Credit, or Montant and Sens when ``with_direction``.
    amounts: tuple[int, int]
    with_direction: bool
    fx_amount: int | None
    fx_currency: int | None


@dataclass(slots=True)
class _Line:
    """A customer line with a non-zero amount."""

    row: int
    entry: Entry
    account: str
    customer: str  # CompAuxNum, else CompteNum
    has_aux: bool
    name: str  # CompAuxLib, else CompteLib
    date: dt.date
    piece: str
    piece_date: dt.date
    debit: bool
    amount: Decimal  # positive, in ``currency``
    book_amount: Decimal  # positive, in the book currency
    currency: str
    letter: str
    label: str
    record: str = ""  # invoice number or payment reference, once named


@dataclass(slots=True)
class _Entry:
    """What the scan keeps of an entry (JournalCode + EcritureNum) to check it."""

    first_row: int
    first_line: tuple[str, Decimal]  # its first line's account and amount
    net: Decimal = ZERO  # debits minus credits
    # Lines apart, or a line like the first one: worth checking for a repetition.
    suspect: bool = False
    unreadable: bool = False  # a line's amount could not be read
    # Runs of consecutive rows holding the entry's lines: [first, last].
    blocks: list[list[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.blocks.append([self.first_row, self.first_row])


@dataclass
class _Ledger:
    """What the scan of the file keeps."""

    lines: list[_Line] = field(default_factory=list)
    entries: dict[Entry, _Entry] = field(default_factory=dict)
    accounts_with_aux: set[str] = field(default_factory=set)
    financial_accounts: set[str] = field(default_factory=set)
    customer_rows: dict[str, int] = field(default_factory=dict)
    names: dict[str, tuple[dt.date, str]] = field(default_factory=dict)
    revenue_entries: set[Entry] = field(default_factory=set)
    vat: dict[Entry, Decimal] = field(default_factory=dict)
    rows_read: int = 0

    def see_customer(self, customer: str, row: int, date: dt.date, name: str) -> None:
        known_row = self.customer_rows.get(customer)
        if known_row is None or row < known_row:
            self.customer_rows[customer] = row  # the first line of the customer
        # The latest name wins; equal dates pick by the name, not by the line order.
        known = self.names.get(customer)
        if name and (known is None or (date, name) > known):
            self.names[customer] = (date, name)


def read_fec(
    path: Path,
    *,
    currency: str = "EUR",
    customer_accounts: tuple[str, ...] = ("411", "416"),
    progress: Progress | None = None,
) -> LedgerBatch:
    """The customers, invoices, payments, credit notes and matching of a FEC file."""
    label, book = file_label(path), currency.upper()
    problems = Problems(label)
    lines = _read_lines(path, problems)
    delimiter, columns = _read_header(lines[0], problems)
    with collector_paused():
        ledger = _scan(lines, delimiter, columns, book, tuple(customer_accounts), problems,
                       progress)  # fmt: skip
        del lines  # a million strings we no longer need
        problems.raise_if_any()
        return _build(ledger, label, book)


# -- the file ---------------------------------------------------------------------------


def _read_lines(path: Path, problems: Problems) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise problems.fail(
            None, None, _("cannot read the file: %(error)s") % {"error": exc.strerror}
        ) from None
    if not data.strip():
        raise problems.fail(None, None, _("the file is empty"))
    try:
        text = decode(data)[0]
    except UnreadableFile as exc:
        raise problems.fail(None, None, str(exc)) from None
    del data
    text = text.replace("\r\n", "\n")
    if text.startswith('"'):
        # FEC values are never quoted, but spreadsheets re-saving one quote everything.
        text = text.replace('"', "")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the end of the last line
    # Refused before a line is split into fields: a line of a hundred million tabs would
    # make a list of as many (950 MB for a 100 MB file).
    if max(map(len, lines), default=0) > MAX_LINE:
        row = next(n for n, line in enumerate(lines, 1) if len(line) > MAX_LINE)
        raise problems.fail(
            row, None,
            _("has a line longer than %(limit)s characters: this is not a FEC (a lost line "
              "break, or binary data?)") % {"limit": f"{MAX_LINE:,}"},
        )  # fmt: skip
    return lines


def _read_header(line: str, problems: Problems) -> tuple[str, _Columns]:
    delimiter = "\t" if "\t" in line else "|" if "|" in line else ""
    names = [name.strip().lower() for name in line.split(delimiter)] if delimiter else []
    known = {name.lower() for name in FEC_COLUMNS}
    if sum(name in known for name in names) < 3:
        raise problems.fail(
            1, None,
            _("this is not a FEC: its first line must name the FEC columns (JournalCode, "
              "JournalLib, EcritureNum, ...) separated by tabs or |"),
        )  # fmt: skip
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index.setdefault(name, i)
    missing = [name for name in REQUIRED if name.lower() not in index]
    amounts, with_direction = _amount_columns(index, missing)
    if missing:
        raise problems.fail(
            1, None,
            ngettext("missing FEC column: %(columns)s", "missing FEC columns: %(columns)s",
                     len(missing)) % {"columns": ", ".join(missing)},
        )  # fmt: skip
    return delimiter, _Columns(
        width=len(names), journal=index["journalcode"], number=index["ecriturenum"],
        date=index["ecrituredate"], account=index["comptenum"],
        account_name=index["comptelib"], aux=index["compauxnum"],
        aux_name=index["compauxlib"], piece=index["pieceref"],
        piece_date=index["piecedate"], letter=index["ecriturelet"],
        label=index.get("ecriturelib"), amounts=amounts,
        with_direction=with_direction, fx_amount=index.get("montantdevise"),
        fx_currency=index.get("idevise"),
    )  # fmt: skip


def _amount_columns(index: dict[str, int], missing: list[str]) -> tuple[tuple[int, int], bool]:
    """Debit and Credit, else the permitted variant Montant and Sens."""
    if "debit" in index and "credit" in index:
        return (index["debit"], index["credit"]), False
    if "montant" in index and "sens" in index:
        return (index["montant"], index["sens"]), True
    if "montant" in index or "sens" in index:
        missing.extend(name for name in ("Montant", "Sens") if name.lower() not in index)
    else:
        missing.extend(name for name in ("Debit", "Credit") if name.lower() not in index)
    return (0, 0), False


# -- values -----------------------------------------------------------------------------


class _Values:
    """Parses the values of one file, remembering the dates it has seen (a FEC has a few
    hundred distinct dates over a million lines). ``failed`` tells the caller a value of the
    current line was wrong."""

    def __init__(self, problems: Problems):
        self.problems = problems
        self.failed = False
        self._dates: dict[str, dt.date] = {}
        self._currencies: dict[str, str] = {}  # the ISO codes seen, checked once each

    def bad(self, row: int, name: str, message: str) -> None:
        self.failed = True
        self.problems.add(row, name, message)

    def date(self, text: str, row: int, name: str, required: bool = False) -> dt.date | None:
        value = self._dates.get(text)
        if value is not None:
            return value
        if not text.strip():
            if required:
                self.bad(row, name, _("the date is missing"))
            return None
        try:
            value = self._dates[text] = parse_date(text)
        except ValueError as exc:
            self.bad(row, name, str(exc))
        return value

    def money(self, text: str, row: int, name: str) -> Decimal:
        if text in _ZEROS:
            return ZERO
        if _PLAIN_AMOUNT.fullmatch(text):
            value = Decimal(text.replace(",", "."))
            # to_cents: a 27-digit amount is refused later by the ledger's limits, with its
            # row, not by quantize's InvalidOperation here.
            return value if text[-3:-2] in _DECIMAL_MARKS else to_cents(value)
        text = text.strip()
        if not text:
            return ZERO
        try:
            return parse_money(text)
        except ValueError as exc:
            self.bad(row, name, str(exc))
            return ZERO

    def net(self, fields: list[str], row: int, columns: _Columns) -> Decimal:
        """Debit minus credit: a negative debit thus counts as a credit, and vice versa."""
        first, second = columns.amounts
        if columns.with_direction:
            amount = self.money(fields[first], row, "Montant")
            direction = _DIRECTIONS.get(fields[second].strip().lower())
            if direction is None:
                self.bad(
                    row, "Sens",
                    _("%(value)s is neither D nor C") % {"value": repr(fields[second].strip())},
                )  # fmt: skip
                return ZERO
            return amount if direction > 0 else -amount
        debit = self.money(fields[first], row, "Debit")
        credit = self.money(fields[second], row, "Credit")
        if debit and credit:
            self.bad(
                row, "Credit",
                _("the line has both a debit (%(debit)s) and a credit (%(credit)s)")
                % {"debit": debit, "credit": credit},
            )  # fmt: skip
        return debit - credit

    def foreign(
        self, fields: list[str], row: int, columns: _Columns, book: str
    ) -> tuple[str, Decimal] | None:
        """The line's currency and amount when it is not in the book currency."""
        if columns.fx_currency is None or columns.fx_amount is None:
            return None
        currency = fields[columns.fx_currency].strip().upper()
        if not currency or currency == book:
            return None
        if currency not in self._currencies:
            try:
                self._currencies[currency] = check_currency(currency)
            except ValueError as exc:
                self.bad(row, "Idevise", str(exc))
                return None
        amount = abs(self.money(fields[columns.fx_amount], row, "Montantdevise"))
        return (currency, amount) if amount else None


# -- scanning ---------------------------------------------------------------------------


def _scan(
    lines: list[str],
    delimiter: str,
    columns: _Columns,
    book: str,
    customer_accounts: tuple[str, ...],
    problems: Problems,
    progress: Progress | None,
) -> _Ledger:
    ledger = _Ledger()
    values = _Values(problems)
    width, total = _row_width(lines, delimiter, columns.width), len(lines) - 1
    account_at, journal_at, number_at, blank = columns.account, columns.journal, columns.number, 0
    entries = ledger.entries
    previous: Entry | None = None
    for row, line in enumerate(lines[1:], 2):
        if progress and (row - 1) % PROGRESS_EVERY == 0:
            progress(row - 1, total)
        fields = line.split(delimiter)
        if len(fields) != width:
            if not line.strip():
                blank += 1
            else:
                problems.add(row, None, _("has %(fields)s fields instead of %(width)s (a tab "
                                          "or | inside a label?)")
                             % {"fields": len(fields), "width": width})  # fmt: skip
                if len(fields) > max(journal_at, number_at):  # then its entry cannot add up
                    entry = (fields[journal_at].strip(), fields[number_at].strip())
                    entries.setdefault(entry, _Entry(row, ("", ZERO))).unreadable = True
            continue
        account = fields[account_at].strip()
        entry = (fields[journal_at].strip(), fields[number_at].strip())
        values.failed = False
        net = values.net(fields, row, columns)
        # Every line counts towards its entry's balance, and where its lines sit in the file.
        known = entries.get(entry)
        if known is None:
            entries[entry] = known = _Entry(row, (account, net))
        elif entry != previous:
            known.blocks.append([row, row])
            known.suspect = True
        elif not known.suspect and known.first_line == (account, net):
            known.suspect = True
        known.blocks[-1][1] = row
        known.net += net
        known.unreadable = known.unreadable or values.failed
        previous = entry
        if account.startswith(customer_accounts):
            _read_customer_line(fields, row, account, entry, net, columns, book, values, ledger)
        elif account.startswith(VAT_COLLECTED):
            # Collected VAT is a credit: count it positive.
            ledger.vat[entry] = ledger.vat.get(entry, ZERO) - net
        elif account.startswith(REVENUE):
            ledger.revenue_entries.add(entry)
        elif account.startswith(FINANCIAL):
            ledger.financial_accounts.add(account)
    _check_entries(lines, delimiter, columns, entries, problems)
    ledger.rows_read = total - blank
    if progress:
        progress(total, total)
    return ledger


def _check_entries(
    lines: list[str],
    delimiter: str,
    columns: _Columns,
    entries: dict[Entry, _Entry],
    problems: Problems,
) -> None:
    """A FEC balances by law, entry by entry, and holds each entry once: an entry whose
    debits and credits differ, or whose lines come twice (a file exported twice into one,
    or lines pasted again), refuses the file."""
    for (journal, number), entry in entries.items():
        name = {"journal": journal, "number": number}
        repeated = entry.suspect and _repeated_block(lines, delimiter, columns, entry.blocks)
        if repeated:
            first, again = repeated
            problems.add(again[0], None,
                         _("entry %(journal)s %(number)s is in the file twice (%(first)s, "
                           "then %(again)s)")
                         % {**name, "first": _rows(first), "again": _rows(again)})  # fmt: skip
        elif entry.net and not entry.unreadable:
            message = (
                _("entry %(journal)s %(number)s (%(rows)s) does not balance: its debits exceed "
                  "its credits by %(amount)s")
                if entry.net > 0
                else _("entry %(journal)s %(number)s (%(rows)s) does not balance: its credits "
                       "exceed its debits by %(amount)s")
            )  # fmt: skip
            problems.add(entry.blocks[0][0], None, message % {
                **name, "rows": _rows(*entry.blocks), "amount": abs(entry.net)
            })  # fmt: skip


def _rows(*blocks: list[int]) -> str:
    parts = [f"{start}" if start == end else f"{start}-{end}" for start, end in blocks[:5]]
    one = len(blocks) == 1 and blocks[0][0] == blocks[0][1]
    return ngettext("row %(rows)s", "rows %(rows)s", 1 if one else 2) % {
        "rows": ", ".join(parts) + (", ..." if len(blocks) > 5 else "")
    }  # fmt: skip


def _repeated_block(
    lines: list[str], delimiter: str, columns: _Columns, blocks: list[list[int]]
) -> tuple[list[int], list[int]] | None:
    """Two runs of the entry's lines that say the same thing, in file order: separate runs
    (an entry found again further down) or one run that is the same lines twice."""
    if len(blocks) == 1:
        start, end = blocks[0]
        size = end - start + 1
        half = size // 2
        if size % 2 or _signature(lines[start - 1], delimiter, columns) != _signature(
            lines[start - 1 + half], delimiter, columns
        ):
            return None  # the common case, decided on one line
        blocks = [[start, start + half - 1], [start + half, end]]
    seen: dict[tuple[tuple[str, ...], ...], list[int]] = {}
    for block in blocks:
        signature = tuple(
            _signature(lines[row - 1], delimiter, columns) for row in range(block[0], block[1] + 1)
        )
        if signature in seen:
            return seen[signature], block
        seen[signature] = block
    return None


def _signature(line: str, delimiter: str, columns: _Columns) -> tuple[str, ...]:
    """What makes two lines the same accounting line, whatever their matching or validation
    (which a later export may have changed)."""
    fields = line.split(delimiter)
    if len(fields) < columns.width:
        return (line,)  # a blank or broken line between the entry's lines
    at = (columns.date, columns.account, columns.aux, columns.piece, *columns.amounts)
    return tuple(fields[i].strip() for i in at)


def _row_width(lines: list[str], delimiter: str, header_width: int) -> int:
    """Fields per row: some programs end every line but the header with a separator. Decided
    for the file, from its first rows, so that a separator inside a label is still caught."""
    sample = [line.split(delimiter) for line in lines[1:101] if line.strip()]
    trailing = sum(len(f) == header_width + 1 and not f[-1].strip() for f in sample)
    return header_width + 1 if trailing * 2 > len(sample) else header_width


def _read_customer_line(
    fields: list[str],
    row: int,
    account: str,
    entry: Entry,
    net: Decimal,
    columns: _Columns,
    book: str,
    values: _Values,
    ledger: _Ledger,
) -> None:
    date = values.date(fields[columns.date], row, "EcritureDate", required=True)
    piece_date = values.date(fields[columns.piece_date], row, "PieceDate")
    foreign = values.foreign(fields, row, columns, book)
    if values.failed or date is None:
        return
    aux = fields[columns.aux].strip()
    if aux:
        ledger.accounts_with_aux.add(account)
    amount, currency = abs(net), book
    if foreign:
        currency, amount = foreign
    ledger.lines.append(
        _Line(
            row=row, entry=entry, account=account, customer=aux or account,
            has_aux=bool(aux),
            name=fields[columns.aux_name if aux else columns.account_name].strip(),
            date=date, piece=fields[columns.piece].strip(), piece_date=piece_date or date,
            debit=net > 0, amount=amount, book_amount=abs(net), currency=currency,
            letter=fields[columns.letter].strip().rstrip("*").strip(),
            label=fields[columns.label].strip() if columns.label is not None else "",
        )
    )  # fmt: skip


# -- records ----------------------------------------------------------------------------


def _build(ledger: _Ledger, label: str, book: str) -> LedgerBatch:
    batch = LedgerBatch(file=label, format="fec", source="fec", snapshot=False)
    batch.rows_read = ledger.rows_read
    ledger.lines = _customer_lines(ledger, Problems(label), batch)
    for line in ledger.lines:
        ledger.see_customer(line.customer, line.row, line.date, line.name)
    for customer in sorted(ledger.customer_rows):
        name = ledger.names[customer][1] if customer in ledger.names else customer
        batch.customer(customer, ledger.customer_rows[customer]).fields["legal_name"] = name
    ledger.lines = [line for line in ledger.lines if line.book_amount]  # zero lines: skipped
    debits = [line for line in ledger.lines if line.debit]
    credits = [line for line in ledger.lines if not line.debit]
    _name_invoices(debits)
    _keep_records_in_one_currency(ledger.lines, book)
    invoices = _invoices(debits, _taxes(ledger, book))
    payments = _payments(credits, ledger)
    batch.invoices = sorted(invoices.values(), key=lambda record: record.number)
    batch.payments = sorted(payments.values(), key=lambda record: record.reference)
    batch.allocations = _allocations(ledger.lines, invoices, payments)
    return batch


def _customer_lines(ledger: _Ledger, warnings: Problems, batch: LedgerBatch) -> list[_Line]:
    """The lines that are a customer's. Left out, and reported as warnings, lines that are
    no customer's: one on a collective account (an account other lines book with an
    auxiliary account, or a number such as 411000) without an auxiliary account, and one
    whose customer code is a bank or cash account (a bank line booked on 411)."""
    kept: list[_Line] = []
    left_out: dict[tuple[str, str], list[_Line]] = defaultdict(list)
    for line in ledger.lines:
        if not line.has_aux and (
            line.account in ledger.accounts_with_aux or _collective(line.account)
        ):
            reason = ("no_aux", line.account)
        elif line.has_aux and _looks_like_bank(line.customer, ledger.financial_accounts):
            reason = ("bank", line.customer)
        else:
            kept.append(line)
            continue
        if line.book_amount:  # a line of zero says nothing worth a warning
            left_out[reason].append(line)
    for (why, code), lines in sorted(left_out.items(), key=lambda item: item[1][0].row):
        rows = ngettext("row %(rows)s", "rows %(rows)s", len(lines)) % {
            "rows": ", ".join(str(line.row) for line in lines[:10])
            + (", ..." if len(lines) > 10 else "")
        }  # fmt: skip
        debits = sum((line.book_amount for line in lines if line.debit), ZERO)
        credits = sum((line.book_amount for line in lines if not line.debit), ZERO)
        if why == "no_aux":
            what = ngettext(
                "%(count)s line on %(account)s without an auxiliary account (CompAuxNum)",
                "%(count)s lines on %(account)s without an auxiliary account (CompAuxNum)",
                len(lines),
            ) % {"count": len(lines), "account": code}
        else:
            what = ngettext(
                "%(count)s line on %(account)s whose auxiliary account %(code)s looks like a"
                " bank or cash account",
                "%(count)s lines on %(account)s whose auxiliary account %(code)s looks like a"
                " bank or cash account",
                len(lines),
            ) % {"count": len(lines), "account": lines[0].account, "code": code}
        warnings.add(
            lines[0].row, "CompAuxNum",
            _("%(what)s, %(rows)s (debits %(debits)s, credits %(credits)s): left out, no "
              "customer's; correct them in the books")
            % {"what": what, "rows": rows, "debits": debits, "credits": credits},
        )  # fmt: skip
    batch.warnings = warnings.items
    return kept


def _collective(account: str) -> bool:
    """A customer account numbered like the collective account: its class digits followed
    by zeros only (411, 4110, 411000, 41100000)."""
    return account[:3].isdigit() and not account[3:].strip("0")


def _looks_like_bank(code: str, financial_accounts: set[str]) -> bool:
    """An auxiliary code that is one of the books' class-5 accounts, or a number of a bank
    (512...) or cash (53...) account of the chart of accounts."""
    return code in financial_accounts or (
        code.isdigit() and len(code) >= 6 and code.startswith(("512", "53"))
    )


def _invoice_key(line: _Line) -> Key:
    return ("invoice", line.customer, line.record)


def _payment_key(line: _Line) -> Key:
    return ("payment", line.customer, f"{line.entry[0]}:{line.entry[1]}")


def _group_key(line: _Line) -> Key:
    return (line.account, line.customer, line.letter)


def _keep_records_in_one_currency(lines: list[_Line], book: str) -> None:
    """Lines that make one record or one matching group must share a currency: when they
    do not (a USD invoice matched with its exchange difference in EUR), read all of them,
    and whatever they are connected to, in the book currency, where the books balance."""
    if all(line.currency == book for line in lines):
        return
    parent: dict[Key, Key] = {}

    def root(key: Key) -> Key:
        while (up := parent.setdefault(key, key)) != key:
            parent[key] = parent[up]  # halve the path for the next lookups
            key = up
        return key

    def record(line: _Line) -> Key:
        return _invoice_key(line) if line.debit else _payment_key(line)

    for line in lines:
        if line.letter:
            parent[root(record(line))] = root(_group_key(line))
    currencies: dict[Key, set[str]] = defaultdict(set)
    for line in lines:
        currencies[root(record(line))].add(line.currency)
    for line in lines:
        if len(currencies[root(record(line))]) > 1:
            line.amount, line.currency = line.book_amount, book


def _taxes(ledger: _Ledger, book: str) -> Callable[[_Line], Decimal | None]:
    """The tax of an invoice line: the VAT of its entry when the entry has no other
    customer line (else the VAT could belong to any of them)."""
    customer_lines = Counter(line.entry for line in ledger.lines)

    def tax(line: _Line) -> Decimal | None:
        vat = ledger.vat.get(line.entry)
        if vat is None or customer_lines[line.entry] != 1 or line.currency != book:
            return None
        return vat if ZERO <= vat <= line.amount else None

    return tax


def _invoices(
    debits: list[_Line], tax_of: Callable[[_Line], Decimal | None]
) -> dict[str, InvoiceRecord]:
    records: dict[str, InvoiceRecord] = {}
    taxes: dict[str, Decimal | None] = {}
    for line in debits:
        record, tax = records.get(line.record), tax_of(line)
        if record is None:
            records[line.record] = InvoiceRecord(
                number=line.record, customer=line.customer, issue_date=line.piece_date,
                due_date=None, currency=line.currency, amount=line.amount, row=line.row,
            )  # fmt: skip
            taxes[line.record] = tax
            continue
        record.amount += line.amount
        record.issue_date = min(record.issue_date, line.piece_date)
        record.row = min(record.row or line.row, line.row)
        known = taxes[line.record]
        taxes[line.record] = None if known is None or tax is None else known + tax
    for number, record in records.items():
        if (tax := taxes[number]) is not None:
            record.tax_amount, record.amount_excl_tax = tax, record.amount - tax
    return records


def _name_invoices(debits: list[_Line]) -> None:
    """An invoice is what one entry (JournalCode + EcritureNum) books on one customer. Its
    number is its PieceRef when that names it: not a placeholder, and not found on the
    customer lines of another entry. Otherwise it is ``JournalCode-EcritureNum``. A number
    an entry gives several customers (an opening entry numbered ``AN``) gets
    ``/customer``."""
    entries: dict[str, set[Entry]] = defaultdict(set)
    for line in debits:
        if not _placeholder(line.piece):
            entries[line.piece].add(line.entry)
    for line in debits:
        named = len(entries.get(line.piece, ())) == 1
        line.record = line.piece if named else f"{line.entry[0]}-{line.entry[1]}"
    owners: dict[str, set[str]] = defaultdict(set)
    for line in debits:
        owners[line.record].add(line.customer)
    for line in debits:
        if len(owners[line.record]) > 1:
            line.record = f"{line.record}/{line.customer}"


def _placeholder(piece: str) -> bool:
    """A PieceRef that names nothing: empty, only signs or zeros (``-``, ``.``, ``0``,
    ``000``), one letter (``x``), only x's, or a word that says "none"."""
    return (
        _NO_REFERENCE.fullmatch(piece) is not None
        or (len(piece) == 1 and piece.isalpha())
        or piece.lower() in _NO_REFERENCE_WORDS
    )


def _payments(credits: list[_Line], ledger: _Ledger) -> dict[str, PaymentRecord]:
    records: dict[str, PaymentRecord] = {}
    for line in credits:
        journal, number = line.entry
        line.record = f"FEC:{journal}:{number}:{line.customer}"
        record = records.get(line.record)
        if record is None:
            records[line.record] = PaymentRecord(
                reference=line.record, customer=line.customer, date=line.date,
                currency=line.currency, amount=line.amount, kind=_credit_kind(line, ledger),
                memo=line.label[:MEMO_LENGTH], row=line.row,
            )  # fmt: skip
            continue
        record.amount += line.amount
        record.date = min(record.date, line.date)
        record.row = min(record.row or line.row, line.row)
        if line.label and (not record.memo or line.label[:MEMO_LENGTH] < record.memo):
            record.memo = line.label[:MEMO_LENGTH]  # the same memo whatever the line order
    return records


def _credit_kind(line: _Line, ledger: _Ledger) -> str:
    """Revenue or VAT given back is a credit note; anything else paid the customer's debt."""
    if line.entry in ledger.revenue_entries or line.entry in ledger.vat:
        return "credit_note"
    return "payment"


# -- matching ---------------------------------------------------------------------------


def _allocations(
    lines: list[_Line], invoices: dict[str, InvoiceRecord], payments: dict[str, PaymentRecord]
) -> list[AllocationRecord]:
    groups: dict[Key, list[_Line]] = defaultdict(list)
    for line in lines:
        if line.letter:
            groups[_group_key(line)].append(line)
    merged: dict[tuple[str, str], AllocationRecord] = {}
    for group in groups.values():  # allocations add up: the order of groups does not matter
        for allocation in _allocate_group(group, invoices, payments):
            known = merged.get((allocation.payment, allocation.invoice))
            if known is None:
                merged[(allocation.payment, allocation.invoice)] = allocation
            else:  # one payment and one invoice can meet in two groups
                known.amount += allocation.amount
                known.date = max(known.date, allocation.date)
    return sorted(merged.values(), key=lambda a: (a.payment, a.invoice))


def _allocate_group(
    group: list[_Line], invoices: dict[str, InvoiceRecord], payments: dict[str, PaymentRecord]
) -> list[AllocationRecord]:
    """Credits of a matching group pay its debits, oldest first on both sides."""
    if len(group) == 2 and group[0].debit != group[1].debit:
        # Most groups are one invoice and its payment: spare them the sorting.
        debit, credit = group if group[0].debit else group[::-1]
        amount = min(debit.amount, credit.amount)
        return [_allocation(payments[credit.record], invoices[debit.record], amount)]
    owed = _amounts_by_record(line for line in group if line.debit)
    paid = _amounts_by_record(line for line in group if not line.debit)
    debts = sorted(owed, key=lambda number: (invoices[number].issue_date, number))
    credits = sorted(paid, key=lambda ref: (payments[ref].date, ref))
    allocations, debt_index = [], 0
    for ref in credits:
        available = paid[ref]
        while available and debt_index < len(debts):
            number = debts[debt_index]
            amount = min(available, owed[number])
            allocations.append(_allocation(payments[ref], invoices[number], amount))
            available -= amount
            owed[number] -= amount
            if not owed[number]:
                debt_index += 1
    return allocations


def _allocation(
    payment: PaymentRecord, invoice: InvoiceRecord, amount: Decimal
) -> AllocationRecord:
    """Money counts against the invoice from the day it was paid (the payment entry's own
    date), not from the day the accountant matched it (DateLet, often months later); a
    payment on account counts from the day its invoice was issued."""
    date = max(payment.date, invoice.issue_date)
    return AllocationRecord(payment.reference, invoice.number, amount, date, row=payment.row)


def _amounts_by_record(lines: Iterable[_Line]) -> dict[str, Decimal]:
    amounts: dict[str, Decimal] = {}
    for line in lines:
        amounts[line.record] = amounts.get(line.record, ZERO) + line.amount
    return amounts
