"""What every statement format produces: plain credit lines, each with the key that makes it
the same line when another file repeats it."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal


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
