"""CAMT.053 (ISO 20022 BankToCustomerStatement), versions 001.02 to 001.13, read with lxml
hardened: no DTD, no entity expanded, nothing fetched from the network. A file that is not
such a statement, or that declares a DTD or entities, is refused whole.

The file is read entry by entry (``iterparse``), each entry cleared once read, so that a
statement of 100,000 entries does not hold its whole tree in memory.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _
from lxml import etree

from relance.bank.lines import StatementLine, compact_iban, problems_of
from relance.ledger.imports import messages
from relance.ledger.imports.records import Problems

NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.(\d\d)")
VERSIONS = range(2, 14)
_DECLARATIONS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_AMOUNT = re.compile(r"\d{1,16}(?:\.\d{1,5})?")  # 16 digits before the point: BankLine's
_CENT = Decimal("0.01")


def is_camt(head: bytes) -> bool:
    return b"camt.053.001." in head


_DECLARED = re.compile(
    rb"""xmlns(?::[\w.-]+)?\s*=\s*["'](urn:iso:std:iso:20022:tech:xsd:camt\.[^"']*)["']"""
)


def read_camt(path: Path) -> list[StatementLine]:
    problems = Problems(path.name)
    with path.open("rb") as fh:
        head = fh.read(65536)
    if not head.strip():
        raise problems.fail(None, None, _("the file is empty"))
    if _DECLARATIONS.search(head):
        raise problems.fail(None, None, _("the XML declares a DTD or entities: refused"))
    declared = _DECLARED.search(head)
    namespace = _namespace(declared[1].decode() if declared else "", problems)
    lines: list[StatementLine] = []
    account = ""
    count = 0
    prefix = len(namespace) + 2
    try:
        events = etree.iterparse(
            str(path), events=("end",), tag=(f"{{{namespace}}}Ntry", f"{{{namespace}}}Acct"),
            resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
            huge_tree=False, remove_comments=True, remove_pis=True,
        )  # fmt: skip
        for _event, element in events:
            if element.tag[prefix:] == "Acct":
                ibans = _leaves(element, prefix, ("Id", "IBAN"))
                account = compact_iban(" ".join(_text(iban) for iban in ibans))
                continue
            count += 1
            lines += _entry(element, prefix, account, count, problems)
            element.clear(keep_tail=False)
            while element.getprevious() is not None:
                del element.getparent()[0]
        root = events.root
    except etree.XMLSyntaxError as exc:
        raise problems.fail(
            getattr(exc, "lineno", None), None, messages.not_well_formed(path.name, exc)
        ) from None
    if root is None or root.tag != f"{{{namespace}}}Document":
        raise problems.fail(None, None, _("not a CAMT.053 statement: no Document of its namespace"))
    problems.raise_if_any()
    return lines


def _namespace(namespace: str, problems: Problems) -> str:
    match = NAMESPACE.fullmatch(namespace)
    if not match or int(match[1]) not in VERSIONS:
        raise problems.fail(
            None,
            None,
            _("not a CAMT.053 statement (camt.053.001.02 to .13): %(namespace)s")
            % {"namespace": namespace or "?"},
        )
    return namespace


def _text(element: Any) -> str:
    return " ".join((element.text or "").split())


def _day(element: Any, prefix: int) -> str:
    """A BookgDt or ValDt: its Dt, else its DtTm."""
    found = {child.tag[prefix:]: _text(child) for child in element}
    return found.get("Dt") or found.get("DtTm") or ""


def _entry(
    entry: Any, prefix: int, account: str, number: int, problems: Problems
) -> list[StatementLine]:
    """One entry, read by direct paths: its own children once, then each transaction's
    (a walk of every leaf cost as much as the whole rest of the import)."""
    row = entry.sourceline or number
    raw = currency = indicator = booked = valued = reference = entry_ref = label = ""
    details: list[Any] = []
    for child in entry:
        name = child.tag[prefix:]
        if name == "NtryDtls":
            details += [tx for tx in child if tx.tag[prefix:] == "TxDtls"]
            continue
        text = child.text
        text = " ".join(text.split()) if text else ""
        if name == "Amt":
            raw, currency = text, (child.get("Ccy") or "").upper()
        elif name == "CdtDbtInd":
            indicator = text
        elif name == "BookgDt":
            booked = _day(child, prefix)
        elif name == "ValDt":
            valued = _day(child, prefix)
        elif name == "AcctSvcrRef":
            reference = reference or text
        elif name == "NtryRef":
            entry_ref = entry_ref or text
        elif name == "AddtlNtryInf":
            label = label or text
    amount = _decimal(raw) if raw else None
    if amount is None or amount < 0:
        problems.add(
            row,
            "Amt",
            _("%(value)s is not an amount") % {"value": repr(raw)}
            if raw
            else _("an entry without its amount"),
        )
        amount = None
    day = _date(booked or valued, problems, row)
    if amount is None or day is None:
        return []
    sign = -1 if indicator == "DBIT" else 1
    reference = reference or entry_ref
    if not details:
        return [StatementLine(row, day, sign * amount, currency, account, reference, label)]
    lines = []
    for index, tx in enumerate(details, 1):
        tx_ = _transaction(tx, prefix)
        tx_amount = None
        if len(details) > 1:
            tx_amount = _decimal(tx_.amount)
            if tx_amount is None:
                problems.add(
                    row, "TxDtls/Amt",
                    _("%(value)s is not an amount") % {"value": repr(tx_.amount)} if tx_.amount
                    else _("a transaction of a batch without its amount"),
                )  # fmt: skip
                continue
        tx_reference = tx_.reference
        if not tx_reference and reference:
            tx_reference = reference if len(details) == 1 else f"{reference}/{index}"
        lines.append(
            StatementLine(
                row,
                day,
                sign * (tx_amount if tx_amount is not None else amount),
                currency,
                account,
                tx_reference[:64],
                " ".join(filter(None, [label, tx_.label])),
                remittance=" ".join(tx_.remittance),
                structured=[r.replace(" ", "") for r in tx_.structured],
                debtor_name=tx_.debtor_name,
                debtor_iban=compact_iban(tx_.debtor_iban),
            )
        )
    for line in lines:
        for what, message in problems_of(line):
            problems.add(row, _FIELDS[what], message)
    return lines


# Where each value of a line comes from, to name it in a refusal.
_FIELDS = {"date": "BookgDt", "amount": "Amt", "currency": "Amt/@Ccy"}


class _Transaction:
    """What a TxDtls says, read by its paths (``Refs/AcctSvcrRef``, ``RmtInf/Ustrd``...)."""

    __slots__ = ("amount", "debtor_iban", "debtor_name", "label", "reference", "remittance",
                 "structured")  # fmt: skip

    def __init__(self) -> None:
        self.amount = self.reference = self.label = self.debtor_name = self.debtor_iban = ""
        self.remittance: list[str] = []
        self.structured: list[str] = []


def _transaction(tx: Any, prefix: int) -> _Transaction:
    found = _Transaction()
    batch_amount = ""
    for child in tx:
        name = child.tag[prefix:]
        if name == "Amt":
            found.amount = found.amount or _text(child)
        elif name == "AmtDtls":
            for leaf in _leaves(child, prefix, ("TxAmt", "Amt")):
                batch_amount = batch_amount or _text(leaf)
        elif name == "Refs":
            for leaf in _leaves(child, prefix, ("AcctSvcrRef",)):
                found.reference = found.reference or _text(leaf)
        elif name == "AddtlTxInf":
            found.label = found.label or _text(child)
        elif name == "RmtInf":
            for part in child:
                part_name = part.tag[prefix:]
                if part_name == "Ustrd":
                    found.remittance.append(_text(part))
                elif part_name == "Strd":
                    found.structured += [
                        _text(leaf) for leaf in _leaves(part, prefix, ("CdtrRefInf", "Ref"))
                    ]
        elif name == "RltdPties":
            for party in child:
                party_name = party.tag[prefix:]
                if party_name == "Dbtr" and not found.debtor_name:
                    names = [*_leaves(party, prefix, ("Nm",)),
                             *_leaves(party, prefix, ("Pty", "Nm"))]  # fmt: skip
                    found.debtor_name = _text(names[0]) if names else ""
                elif party_name == "DbtrAcct" and not found.debtor_iban:
                    ibans = _leaves(party, prefix, ("Id", "IBAN"))
                    found.debtor_iban = _text(ibans[0]) if ibans else ""
    found.amount = found.amount or batch_amount
    return found


def _leaves(element: Any, prefix: int, path: tuple[str, ...]) -> list[Any]:
    """The descendants of ``element`` at ``path`` (local names), in document order."""
    found = [element]
    for step in path:
        found = [child for parent in found for child in parent if child.tag[prefix:] == step]
    return found


def _decimal(raw: str) -> Decimal | None:
    """An amount as ISO 20022 writes it (digits and a decimal point: never below zero, the
    entry's CdtDbtInd gives the direction), at most two decimals and what BankLine holds;
    None for anything else (``1E+999999``, ``NaN``, ``-5``, ``1_000``)."""
    text = raw.strip()
    if not _AMOUNT.fullmatch(text):
        return None
    value = Decimal(text)
    cents = value.quantize(_CENT)
    return cents if value == cents else None


def _date(raw: str, problems: Problems, row: int) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw[:10])
    except ValueError:
        problems.add(row, "BookgDt", _("%(value)s is not a date") % {"value": repr(raw)})
        return None
