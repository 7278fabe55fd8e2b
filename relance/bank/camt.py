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


def read_camt(path: Path) -> list[StatementLine]:
    problems = Problems(path.name)
    with path.open("rb") as fh:
        head = fh.read(65536)
    if _DECLARATIONS.search(head):
        raise problems.fail(None, None, "the XML declares a DTD or entities: refused")
    lines: list[StatementLine] = []
    namespace = ""
    account = ""
    count = 0
    try:
        events = etree.iterparse(
            str(path), events=("start", "end"), resolve_entities=False, no_network=True,
            load_dtd=False, dtd_validation=False, huge_tree=False, remove_comments=True,
        )  # fmt: skip
        for event, element in events:
            tag = element.tag if isinstance(element.tag, str) else ""
            if event == "start":
                if not namespace:
                    namespace = _namespace(tag, problems)
                continue
            local = tag.rpartition("}")[2]
            if local == "Acct" and element.getparent() is not None:
                ns = {"c": namespace}
                account = compact_iban(element.findtext("c:Id/c:IBAN", "", ns))
            elif local == "Ntry":
                count += 1
                lines += _entry(element, namespace, account, count, problems)
                element.clear(keep_tail=False)
                parent = element.getparent()
                while parent is not None and element.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        raise problems.fail(
            getattr(exc, "lineno", None), None, f"not well-formed XML: {exc.msg}"
        ) from None
    if not namespace:
        raise problems.fail(None, None, "the file is empty")
    problems.raise_if_any()
    return lines


def _namespace(tag: str, problems: Problems) -> str:
    namespace = tag[1:].partition("}")[0] if tag.startswith("{") else ""
    match = NAMESPACE.fullmatch(namespace)
    if not match or int(match[1]) not in VERSIONS:
        raise problems.fail(
            None, None, f"not a CAMT.053 statement (camt.053.001.02 to .13): {namespace or tag!r}"
        )
    return namespace


def _entry(
    entry: Any, namespace: str, account: str, number: int, problems: Problems
) -> list[StatementLine]:
    ns = {"c": namespace}
    row = entry.sourceline or number

    def text(node: Any, path: str) -> str:
        return " ".join((node.findtext(path, "", ns) or "").split())

    amount = _amount(entry, ns, problems, row)
    sign = -1 if text(entry, "c:CdtDbtInd") == "DBIT" else 1
    day = _date(entry, ns, problems, row)
    if amount is None or day is None:
        return []
    currency = entry.find("c:Amt", ns).get("Ccy", "").upper()
    reference = text(entry, "c:AcctSvcrRef") or text(entry, "c:NtryRef")
    details = entry.findall("c:NtryDtls/c:TxDtls", ns)
    label = text(entry, "c:AddtlNtryInf")
    if not details:
        return [StatementLine(row, day, sign * amount, currency, account, reference, label)]
    lines = []
    for index, tx in enumerate(details, 1):
        tx_amount = _tx_amount(tx, ns) if len(details) > 1 else None
        if len(details) > 1 and tx_amount is None:
            problems.add(
                row, "TxDtls/Amt", "an entry of several transactions without their amounts"
            )
            continue
        tx_reference = text(tx, "c:Refs/c:AcctSvcrRef")
        if not tx_reference and reference:
            tx_reference = reference if len(details) == 1 else f"{reference}/{index}"
        debtor = "c:RltdPties/c:Dbtr"
        lines.append(
            StatementLine(
                row,
                day,
                sign * (tx_amount if tx_amount is not None else amount),
                currency,
                account,
                tx_reference[:64],
                " ".join(filter(None, [label, text(tx, "c:AddtlTxInf")])),
                remittance=" ".join(
                    " ".join((u.text or "").split()) for u in tx.findall("c:RmtInf/c:Ustrd", ns)
                ),
                structured=[
                    "".join((r.text or "").split())
                    for r in tx.findall("c:RmtInf/c:Strd/c:CdtrRefInf/c:Ref", ns)
                ],
                debtor_name=text(tx, f"{debtor}/c:Nm") or text(tx, f"{debtor}/c:Pty/c:Nm"),
                debtor_iban=compact_iban(text(tx, "c:RltdPties/c:DbtrAcct/c:Id/c:IBAN")),
            )
        )
    return lines


def _amount(entry: Any, ns: dict[str, str], problems: Problems, row: int) -> Decimal | None:
    raw = entry.findtext("c:Amt", None, ns)
    if raw is None:
        problems.add(row, "Amt", "an entry without its amount")
        return None
    value = _decimal(raw)
    if value is None or value < 0:
        problems.add(row, "Amt", f"{raw!r} is not an amount")
    return value


def _tx_amount(tx: Any, ns: dict[str, str]) -> Decimal | None:
    raw = tx.findtext("c:Amt", None, ns) or tx.findtext("c:AmtDtls/c:TxAmt/c:Amt", None, ns)
    return _decimal(raw) if raw is not None else None


def _decimal(raw: str) -> Decimal | None:
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or value != round(value, 2) or abs(value) >= Decimal("1e16"):
        return None
    return value.quantize(Decimal("0.01"))


def _date(entry: Any, ns: dict[str, str], problems: Problems, row: int) -> dt.date | None:
    raw = (
        entry.findtext("c:BookgDt/c:Dt", None, ns)
        or entry.findtext("c:BookgDt/c:DtTm", None, ns)
        or entry.findtext("c:ValDt/c:Dt", None, ns)
        or entry.findtext("c:ValDt/c:DtTm", None, ns)
    )
    try:
        return dt.date.fromisoformat((raw or "").strip()[:10])
    except ValueError:
        problems.add(row, "BookgDt", f"{raw!r} is not a date")
        return None
