"""CAMT.053 (ISO 20022 BankToCustomerStatement), versions 001.02 to 001.13, read with lxml
hardened: no DTD, no entity expanded, nothing fetched from the network. A file that is not
such a statement, or that declares a DTD or entities, is refused whole.

The file is read entry by entry (``iterparse``), each entry cleared once read, so that a
statement of 100,000 entries does not hold its whole tree in memory.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lxml import etree

from relance.bank.lines import StatementLine, compact_iban
from relance.ledger.imports.records import Problems

NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.(\d\d)")
VERSIONS = range(2, 14)
_DECLARATIONS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


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
        raise problems.fail(None, None, "the file is empty")
    if _DECLARATIONS.search(head):
        raise problems.fail(None, None, "the XML declares a DTD or entities: refused")
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
        for _, element in events:
            if element.tag[prefix:] == "Acct":
                account = compact_iban(" ".join(_flat(element, prefix).get("Id/IBAN", [])))
                continue
            count += 1
            lines += _entry(element, prefix, account, count, problems)
            element.clear(keep_tail=False)
            while element.getprevious() is not None:
                del element.getparent()[0]
        root = events.root
    except etree.XMLSyntaxError as exc:
        raise problems.fail(
            getattr(exc, "lineno", None), None, f"not well-formed XML: {exc.msg}"
        ) from None
    if root is None or root.tag != f"{{{namespace}}}Document":
        raise problems.fail(None, None, "not a CAMT.053 statement: no Document of its namespace")
    problems.raise_if_any()
    return lines


def _namespace(namespace: str, problems: Problems) -> str:
    match = NAMESPACE.fullmatch(namespace)
    if not match or int(match[1]) not in VERSIONS:
        raise problems.fail(
            None, None, f"not a CAMT.053 statement (camt.053.001.02 to .13): {namespace or '?'}"
        )
    return namespace


def _flat(element: Any, prefix: int, path: str = "", out: Flat | None = None) -> Flat:
    """Every leaf under ``element`` by its path of local names (``RmtInf/Ustrd``), with its
    texts; an amount's currency as ``Amt@Ccy``. One walk instead of a search per field."""
    out = {} if out is None else out
    for child in element:
        name = f"{path}{child.tag[prefix:]}"
        if name == "NtryDtls":
            continue  # its transactions are read one by one
        if len(child):
            _flat(child, prefix, name + "/", out)
        else:
            out.setdefault(name, []).append(" ".join((child.text or "").split()))
            if ccy := child.get("Ccy"):
                out.setdefault(name + "@Ccy", []).append(ccy)
    return out


Flat = dict[str, list[str]]


def _first(flat: Flat, *paths: str) -> str:
    for path in paths:
        if values := flat.get(path):
            return values[0]
    return ""


def _entry(
    entry: Any, prefix: int, account: str, number: int, problems: Problems
) -> list[StatementLine]:
    row = entry.sourceline or number
    flat = _flat(entry, prefix)
    raw = _first(flat, "Amt")
    amount = _decimal(raw) if raw else None
    if amount is None or amount < 0:
        problems.add(
            row, "Amt", f"{raw!r} is not an amount" if raw else "an entry without its amount"
        )
        amount = None
    day = _date(_first(flat, "BookgDt/Dt", "BookgDt/DtTm", "ValDt/Dt", "ValDt/DtTm"), problems, row)
    if amount is None or day is None:
        return []
    sign = -1 if _first(flat, "CdtDbtInd") == "DBIT" else 1
    currency = _first(flat, "Amt@Ccy").upper()
    reference = _first(flat, "AcctSvcrRef", "NtryRef")
    label = _first(flat, "AddtlNtryInf")
    details = [tx for tx in entry.iterfind("*/*") if tx.tag[prefix:] == "TxDtls"
               and tx.getparent().tag[prefix:] == "NtryDtls"]  # fmt: skip
    if not details:
        return [StatementLine(row, day, sign * amount, currency, account, reference, label)]
    lines = []
    for index, tx in enumerate(details, 1):
        tx_flat = _flat(tx, prefix)
        tx_amount = None
        if len(details) > 1:
            tx_amount = _decimal(_first(tx_flat, "Amt", "AmtDtls/TxAmt/Amt"))
            if tx_amount is None:
                problems.add(row, "TxDtls/Amt", "a transaction of a batch without its amount")
                continue
        tx_reference = _first(tx_flat, "Refs/AcctSvcrRef")
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
                " ".join(filter(None, [label, _first(tx_flat, "AddtlTxInf")])),
                remittance=" ".join(tx_flat.get("RmtInf/Ustrd", [])),
                structured=[
                    r.replace(" ", "") for r in tx_flat.get("RmtInf/Strd/CdtrRefInf/Ref", [])
                ],
                debtor_name=_first(tx_flat, "RltdPties/Dbtr/Nm", "RltdPties/Dbtr/Pty/Nm"),
                debtor_iban=compact_iban(_first(tx_flat, "RltdPties/DbtrAcct/Id/IBAN")),
            )
        )
    return lines


def _decimal(raw: str) -> Decimal | None:
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or value != round(value, 2) or abs(value) >= Decimal("1e16"):
        return None
    return value.quantize(Decimal("0.01"))


def _date(raw: str, problems: Problems, row: int) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw[:10])
    except ValueError:
        problems.add(row, "BookgDt", f"{raw!r} is not a date")
        return None
