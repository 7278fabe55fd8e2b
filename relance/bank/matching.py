"""Which open items a credit pays, and how sure we are: a pure function over what the
ledger was read into once (dictionaries), so that a statement of 100,000 credits matches in
seconds. In order of strength:

1. invoice numbers written in the remittance text (Ustrd, Strd CdtrRefInf, the label);
2. the customer's ISO 11649 payment reference (``RF..``, relance.accounts.identity);
3. the debtor's IBAN, known as a customer's;
4. the amount alone, when exactly one open item owes it.

*Exact* (allocated without asking): the invoices named, of one customer, owe exactly the
amount together; or the customer named by its RF reference owes exactly the amount on one
of its items, or on all of them. *Probable*: the customer is certain (named invoices or RF
reference) but not the amount, or the IBAN's customer owes the amount. *Possible*: the
IBAN alone, or the amount alone. An item an exact match has covered is no longer open for
the credits after it in the file: a second transfer for one invoice is proposed, never
allocated twice.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from relance.accounts.identity import references_in
from relance.bank.lines import StatementLine
from relance.ledger.payments import spread

EXACT, PROBABLE, POSSIBLE, NONE = "exact", "probable", "possible", ""
_TOKEN = re.compile(r"[A-Z0-9](?:[A-Z0-9/_.-]*[A-Z0-9])?")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]")
MIN_DIGITS = 4  # an all-digit "number" shorter than this is a day, an amount, a count


class OpenItem(NamedTuple):
    """An open item as matching reads it (a tuple: 100,000 are built per statement)."""

    id: int
    customer_id: int
    number: str
    balance: Decimal
    currency: str
    due_date: dt.date


@dataclass
class Match:
    confidence: str
    customer_id: int | None = None
    allocations: list[tuple[int, Decimal]] = field(default_factory=list)
    evidence: list[dict[str, str]] = field(default_factory=list)


def compact_number(number: str) -> str:
    upper = number.upper()
    if upper.isascii() and upper.isalnum():
        return upper  # nothing to take out (most numbers): no pattern run
    return _NOT_ALNUM.sub("", upper)


class Ledger:
    """The open items, indexed for matching; ``remaining`` goes down as exact matches
    allocate."""

    def __init__(
        self,
        items: Iterable[OpenItem],
        rf_owners: dict[str, list[int]],
        iban_owners: dict[str, list[int]],
    ) -> None:
        self.items = {item.id: item for item in items}
        self.remaining = {pk: item.balance for pk, item in self.items.items()}
        self.rf_owners = rf_owners
        self.iban_owners = iban_owners
        by_number: dict[str, int | None] = {}
        self.by_customer: dict[int, list[int]] = defaultdict(list)
        self.by_amount: dict[tuple[str, Decimal], list[int]] = defaultdict(list)
        for item in sorted(self.items.values(), key=lambda i: (i.due_date, i.id)):
            key = compact_number(item.number)
            by_number[key] = None if key in by_number else item.id  # look-alikes: neither
            self.by_customer[item.customer_id].append(item.id)
            self.by_amount[(item.currency, item.balance)].append(item.id)
        self.by_number = by_number

    def open_ids(self, ids: Iterable[int], currency: str) -> list[int]:
        return [pk for pk in ids if self.remaining[pk] > 0 and self.items[pk].currency == currency]

    def named(self, text: str) -> list[int]:
        """The open items whose numbers ``text`` carries (alone, or split in two words)."""
        tokens = [compact_number(t) for t in _TOKEN.findall(text.upper())]
        found: list[int] = []
        candidates = tokens + [a + b for a, b in itertools.pairwise(tokens)]
        for token in candidates:
            if token.isdigit() and len(token) < MIN_DIGITS:
                continue
            pk = self.by_number.get(token)
            if pk is not None and pk not in found:
                found.append(pk)
        return found


def references(line: StatementLine) -> list[str]:
    """The ISO 11649 references the payer wrote, looked for once per line (and once per
    text: a customer's transfers repeat the same reference and label)."""
    if line.references is None:
        line.references = list(_references_in(line.text))
    return line.references


@functools.lru_cache(maxsize=65536)
def _references_in(text: str) -> tuple[str, ...]:
    return tuple(references_in(text)) if "RF" in text.upper() else ()


def match(line: StatementLine, ledger: Ledger) -> Match:
    """What ``line`` (a credit) pays; allocations of exact matches are taken off
    ``ledger.remaining``."""
    amount, currency = line.amount, line.currency
    text = line.text
    evidence: list[dict[str, str]] = []
    rf_customer = None
    for reference in references(line):
        owners = ledger.rf_owners.get(reference, [])
        if len(owners) == 1:
            rf_customer = owners[0]
            evidence.append({"rule": "rf_reference", "value": reference})
            break
    named = ledger.open_ids(ledger.named(text), currency)
    if rf_customer is not None and named:
        named = [pk for pk in named if ledger.items[pk].customer_id == rf_customer] or named
    iban_owners = ledger.iban_owners.get(line.debtor_iban, []) if line.debtor_iban else []
    iban_customer = iban_owners[0] if len(iban_owners) == 1 else None
    if iban_customer is not None:
        evidence.append({"rule": "iban", "value": line.debtor_iban})

    if named:
        evidence += [{"rule": "invoice_number", "value": ledger.items[pk].number} for pk in named]
        customers = {ledger.items[pk].customer_id for pk in named}
        owed = sum((ledger.remaining[pk] for pk in named), Decimal("0.00"))
        if len(customers) == 1:
            owner = customers.pop()
            if owed == amount:
                return _exact(ledger, owner, [(pk, ledger.remaining[pk]) for pk in named],
                              evidence)  # fmt: skip
            return _propose(ledger, PROBABLE, owner, named, amount, evidence)
        return _propose(ledger, POSSIBLE, rf_customer or iban_customer, named, amount, evidence)

    for customer, sure in ((rf_customer, True), (iban_customer, False)):
        if customer is None:
            continue
        items = ledger.open_ids(ledger.by_customer.get(customer, ()), currency)
        total = sum((ledger.remaining[pk] for pk in items), Decimal("0.00"))
        same = [pk for pk in items if ledger.remaining[pk] == amount]
        evidence_amount = [*evidence, {"rule": "amount", "value": str(amount)}]
        if items and total == amount:
            if sure:
                return _exact(ledger, customer, [(pk, ledger.remaining[pk]) for pk in items],
                              evidence_amount)  # fmt: skip
            return _propose(ledger, PROBABLE, customer, items, amount, evidence_amount)
        if len(same) == 1:
            if sure:
                return _exact(ledger, customer, [(same[0], amount)], evidence_amount)
            return _propose(ledger, PROBABLE, customer, same, amount, evidence_amount)
        return _propose(ledger, PROBABLE if sure else POSSIBLE, customer, same or items, amount,
                        evidence)  # fmt: skip

    alike = ledger.open_ids(ledger.by_amount.get((currency, amount), ()), currency)
    if len(alike) == 1:
        item = ledger.items[alike[0]]
        evidence.append({"rule": "amount", "value": str(amount)})
        return _propose(ledger, POSSIBLE, item.customer_id, alike, amount, evidence)
    return Match(NONE, evidence=evidence)


def _exact(
    ledger: Ledger, customer: int, allocations: list[tuple[int, Decimal]],
    evidence: list[dict[str, str]],
) -> Match:  # fmt: skip
    for pk, part in allocations:
        ledger.remaining[pk] -= part
    return Match(EXACT, customer, allocations, evidence)


def _propose(
    ledger: Ledger, confidence: str, customer: int | None, items: Sequence[int], amount: Decimal,
    evidence: list[dict[str, str]],
) -> Match:  # fmt: skip
    ordered = sorted(items, key=lambda pk: (ledger.items[pk].due_date, pk))
    allocations = spread(amount, [(pk, ledger.remaining[pk]) for pk in ordered])
    return Match(confidence, customer, allocations, evidence)


def match_all(lines: Iterable[StatementLine], ledger: Ledger) -> list[Match]:
    return [match(line, ledger) for line in lines]


def cash_holds_dunning(unapplied: Decimal, overdue: Decimal) -> bool:
    """Money received and not yet applied that covers everything overdue: reminding the
    customer would ask for money already paid."""
    return unapplied > 0 and overdue > 0 and unapplied >= overdue
