"""What every statement format produces: plain credit lines, each with the key that makes it
the same line when another file repeats it."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext as _

from relance.accounts.services import check_currency, is_currency
from relance.lib.dates import out_of_range


@dataclass
class StatementLine:
    row: int  # the entry's number in the file (CAMT) or its line (CSV)
    date: dt.date
    amount: Decimal  # a credit is above zero, a debit below
    currency: str
    account: str = ""  # our account, compact IBAN
    bank_reference: str = ""  # AcctSvcrRef, else NtryRef, else the CSV's reference column
    label: str = ""
    remittance: str = ""  # unstructured remittance text (Ustrd)
    structured: list[str] = field(default_factory=list)  # CdtrRefInf references (Strd)
    debtor_name: str = ""
    debtor_iban: str = ""
    key: str = ""
    references: list[str] | None = None  # the RF references in ``text``, once found

    @property
    def text(self) -> str:
        """Everything the payer wrote, where references and invoice numbers are looked for."""
        return " ".join([*self.structured, self.remittance, self.label])


def compact_iban(text: str) -> str:
    return "".join(text.split()).upper()


def assign_keys(lines: Iterable[StatementLine]) -> None:
    """The bank's reference with our account when the bank gives one; else a hash of
    account, date, amount and label, with its occurrence in the file (two identical
    transfers on one day are two payments, and the same file again gives the same keys)."""
    seen: Counter[str] = Counter()
    for line in lines:
        if line.bank_reference:
            basis = f"ref|{line.account}|{line.bank_reference}"
        else:
            basis = f"line|{line.account}|{line.date}|{line.amount}|{line.currency}|{line.label}"
            seen[basis] += 1
            basis += f"|{seen[basis]}"
        line.key = hashlib.sha256(basis.encode()).hexdigest()[:40]


def problems_of(line: StatementLine) -> Iterator[tuple[str, str]]:
    """What a reader's line cannot be kept for, as (what, message), ``what`` being "date",
    "amount" or "currency": the one check of every statement format (each reader names the
    field as its file does)."""
    from relance.bank.models import BankLine
    from relance.ledger.imports.limits import max_amount, too_large

    if problem := out_of_range(line.date):
        yield "date", problem
    if abs(line.amount) >= (bound := max_amount(BankLine, "amount")):
        yield "amount", too_large(line.amount, bound)
    if not is_currency(line.currency):
        try:
            check_currency(line.currency)
        except ValueError as error:
            yield "currency", str(error)


def clashes(lines: Iterable[StatementLine]) -> Iterator[tuple[int, str]]:
    """(row, message) for each line of one file whose key (its bank reference) an earlier
    line has with another date or amount: two movements, not the same one twice, and
    keeping one of them would lose the other."""
    first: dict[str, StatementLine] = {}
    for line in lines:
        seen = first.setdefault(line.key, line)
        if seen is not line and (seen.date, seen.amount) != (line.date, line.amount):
            yield line.row, _(
                "the bank reference %(reference)s is also that of row %(row)s, of "
                "%(amount)s on %(date)s: two movements cannot have one reference"
            ) % {"reference": repr(line.bank_reference), "row": seen.row,
                 "amount": f"{seen.amount:.2f}", "date": seen.date}  # fmt: skip
