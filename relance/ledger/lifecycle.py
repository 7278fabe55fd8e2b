"""E-invoice life-cycle statuses from the platforms (French reform, see design/law.md),
applied to dunning through the existing services: disputes pause, holds hold, payments
settle; every status lands on the customer's timeline.

| code | status | what Relance does |
| --- | --- | --- |
| 200, 203 | filed, made available | timeline only |
| 205 | approved | resumes what a 207/208 paused and lifts a 206 (the invoice is due) |
| 206 | partly approved | a dispute "not approved" on the part of the invoice not approved |
| 207 | disputed | a dispute (its reason from the reason code, which is shown) |
| 208 | suspended | a dispute "information missing" until 209 |
| 209 | completed | resumes what a 207/208 paused |
| 210, 213 | refused, rejected | stop: a dispute left open (a credit note or a fix ends it) |
| 211 | payment sent | a hold on the customer for ``PAYMENT_SENT_DAYS`` days |
| 212 | cashed | a payment of the amount given (else what the invoice owes), allocated |

A 206 gives the amount approved (0 allowed). Its dispute "not approved" suspends nothing:
the invoice is dunned for the approved part still unpaid (``relance.dunning.owed``). A later
206 replaces it, a 205 lifts it, a 212 that leaves nothing owed settles it, and a credit
note for the part not approved resolves it as any dispute.

A status file is a CDAR message (UN/CEFACT Cross Domain Acknowledgement and Response, as
the platforms exchange them) or a CSV/JSON export with the columns ``invoice``, ``status``,
``date`` and optional ``amount``, ``reason_code``, ``reason`` (French headers too). A file
is checked whole first (every problem at once, nothing applied), then applied in one
transaction; a status already applied (same invoice, code, date and amount) is skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import models, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext, pgettext_lazy

from relance.accounts.models import Organisation
from relance.dunning import pauses
from relance.ledger import payments, timeline
from relance.ledger.einvoice import NotAnInvoice, parse_xml
from relance.ledger.imports.limits import max_amount, too_large
from relance.ledger.imports.parsing import parse_date, parse_money
from relance.ledger.imports.records import ImportFailed, Problems
from relance.ledger.imports.tabular import read_table
from relance.ledger.models import (
    Dispute,
    DisputeOutcome,
    DisputeReason,
    Hold,
    HoldKind,
    Invoice,
    Payment,
    TimelineEvent,
)
from relance.ledger.timeline import Text, label

SOURCE = "platform"
CDAR_NAMESPACE = "urn:un:unece:uncefact:data:standard:CrossDomainAcknowledgementAndResponse:100"
EVENT = "platform_status"
PAYMENT_SENT_DAYS = 15  # a transfer announced is on the account within this, or dunning goes on
MAX_BYTES = 50_000_000
CHUNK = 5000  # invoices per query, well within any SQLite's limit of variables


class PlatformStatus(models.TextChoices):
    FILED = "200", pgettext_lazy("e-invoice status", "Filed")
    MADE_AVAILABLE = "203", pgettext_lazy("e-invoice status", "Made available")
    APPROVED = "205", pgettext_lazy("e-invoice status", "Approved")
    PARTLY_APPROVED = "206", pgettext_lazy("e-invoice status", "Partly approved")
    DISPUTED = "207", pgettext_lazy("e-invoice status", "Disputed")
    SUSPENDED = "208", pgettext_lazy("e-invoice status", "Suspended")
    COMPLETED = "209", pgettext_lazy("e-invoice status", "Completed")
    REFUSED = "210", pgettext_lazy("e-invoice status", "Refused")
    PAYMENT_SENT = "211", pgettext_lazy("e-invoice status", "Payment sent")
    CASHED = "212", pgettext_lazy("e-invoice status", "Cashed")
    REJECTED = "213", pgettext_lazy("e-invoice status", "Rejected")


# The words exports use for each status, French and English, as written without accents.
_NAMES = {
    "filed": "200", "deposee": "200", "made available": "203", "mise a disposition": "203",
    "approved": "205", "approuvee": "205", "partly approved": "206",
    "approuvee partiellement": "206", "disputed": "207", "en litige": "207", "litige": "207",
    "suspended": "208", "suspendue": "208", "completed": "209", "completee": "209",
    "refused": "210", "refusee": "210", "payment sent": "211", "paiement transmis": "211",
    "cashed": "212", "encaissee": "212", "rejected": "213", "rejetee": "213",
}  # fmt: skip
PAUSING = frozenset({"207", "208"})  # what 205 and 209 resume
PARTLY = "206"  # what 205 lifts and a later 206 replaces
STOPPING = frozenset({"210", "213"})


def effect(code: str) -> str:
    """What a status does to dunning: note, resume, partial, pause, stop, hold or settle."""
    return {
        "205": "resume", "209": "resume", "206": "partial", "207": "pause", "208": "pause",
        "210": "stop", "213": "stop", "211": "hold", "212": "settle",
    }.get(code, "note")  # fmt: skip


def dispute_reason(code: str, reason_code: str) -> str:
    """The dispute reason a status and its reason code mean (the code itself is shown)."""
    if code == "208":
        return DisputeReason.ADMINISTRATIVE
    if code == "213":
        return DisputeReason.ADMINISTRATIVE
    key = reason_code.upper()
    for words, reason in (
        (("DOUBLON", "DUPL"), DisputeReason.DUPLICATE),
        (("CMD", "COMMANDE", "ORDER", "PO_"), DisputeReason.PURCHASE_ORDER),
        (("ADR", "ADDRESS"), DisputeReason.ADDRESS),
        (("QTE", "QUANT"), DisputeReason.QUANTITY),
        (("PRIX", "PRICE", "MONTANT", "AMOUNT", "TVA", "VAT", "REMISE"), DisputeReason.PRICE),
        (("LIVR", "DELIV"), DisputeReason.DELIVERY),
        (("QUAL",), DisputeReason.QUALITY),
        (("RECU", "RECEIV"), DisputeReason.NOT_RECEIVED),
    ):
        if any(w in key for w in words):
            return reason
    return DisputeReason.OTHER


@dataclass(frozen=True)
class StatusRow:
    number: str
    code: str
    date: dt.date
    amount: Decimal | None = None
    reason_code: str = ""
    reason: str = ""
    row: int | None = None

    def key(self) -> tuple[str, str, str, str]:
        return (self.number, self.code, self.date.isoformat(), str(self.amount or ""))


# -- reading ----------------------------------------------------------------------------

_COLUMNS = {
    "invoice": "number", "facture": "number", "invoice_number": "number", "numero": "number",
    "status": "code", "statut": "code", "status_code": "code", "code": "code",
    "date": "date", "status_date": "date", "date_statut": "date",
    "amount": "amount", "montant": "amount",
    "reason_code": "reason_code", "code_motif": "reason_code", "motif_code": "reason_code",
    "reason": "reason", "motif": "reason",
}  # fmt: skip


def _plain(text: str) -> str:
    import unicodedata

    flat = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[\s\-]+", " ", flat.strip().lower())


def _column(header: str) -> str | None:
    return _COLUMNS.get(_plain(header).replace(" ", "_"))


def is_status_file(path: Path) -> bool:
    """A CDAR message, or a CSV/JSON export whose columns are all status columns."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \r\n\t")
    if text.startswith("<"):
        return "CrossDomainAcknowledgementAndResponse" in text
    if text.startswith(("[", "{")):
        return path.suffix.lower() == ".json"
    first = text.splitlines()[0] if text else ""
    delimiter = max(";,\t|", key=first.count)
    headers = [h.strip().strip('"') for h in first.split(delimiter)]
    names = [_column(h) for h in headers]
    return None not in names and {"number", "code", "date"} <= set(names)


def _column_name(name: str) -> str:
    """A column of a status file, as its problems name it: in the user's language."""
    names = {
        "invoice": pgettext("status file column", "invoice"),
        "status": pgettext("status file column", "status"),
        "date": pgettext("status file column", "date"),
        "amount": pgettext("status file column", "amount"),
    }
    return names[name]


def read_statuses(path: Path) -> list[StatusRow]:
    """The statuses of a file; ImportFailed with every problem (file, row, field)."""
    problems = Problems(path.name)
    if path.stat().st_size > MAX_BYTES:
        raise problems.fail(None, None, _("too large for a status file"))
    data = path.read_bytes()
    text_head = data[:200].lstrip(b"\xef\xbb\xbf \r\n\t")
    if text_head.startswith(b"<"):
        rows = _cdar(data, problems)
    elif text_head.startswith((b"[", b"{")):
        try:
            records = json.loads(data)
        except (ValueError, RecursionError) as error:  # nested deeper than Python recurses
            raise problems.fail(
                None, None, _("not valid JSON: %(error)s") % {"error": error}
            ) from None
        if isinstance(records, dict):
            records = records.get("statuses", records.get("items", [records]))
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise problems.fail(None, None, _("a JSON list of statuses is expected"))
        rows = [
            _row({_column(str(k)) or str(k): v for k, v in r.items()}, n, problems)
            for n, r in enumerate(records, 1)
        ]
    else:
        del data  # read again by the imports' table reader, with its encodings and limits
        table = read_table(path)
        names = [_column(h) or h for h in table.header]
        rows = [_row(dict(zip(names, cells, strict=True)), line, problems)
                for line, cells in table.rows]  # fmt: skip
    problems.raise_if_any()
    return [r for r in rows if r is not None]


def _row(values: dict[str, Any], row: int, problems: Problems) -> StatusRow | None:
    number = str(values.get("number") or "").strip()
    raw_code = str(values.get("code") or "").strip()
    code = raw_code if raw_code in PlatformStatus.values else _NAMES.get(_plain(raw_code), "")
    ok = True
    if not number:
        problems.add(row, _column_name("invoice"), _("is empty"))
        ok = False
    if not code:
        problems.add(
            row, _column_name("status"),
            _("%(value)s is not a life-cycle status (200 to 213)") % {"value": repr(raw_code)},
        )  # fmt: skip
        ok = False
    try:
        day = parse_date(str(values.get("date") or "").strip()[:10])
    except ValueError as error:
        problems.add(row, _column_name("date"), str(error))
        ok = False
    amount = None
    if (raw := str(values.get("amount") or "").strip()) != "":
        # Read as every file's amounts are (French or not, two decimals at most), within
        # what the ledger holds: a 212 of 1E+20 became a payment no column could hold.
        try:
            amount = parse_money(raw)
        except ValueError as error:
            problem = str(error)
        else:
            # A 206 may approve nothing (0); any other amount is a positive one.
            if amount < 0 or (amount == 0 and code != PARTLY):
                problem = _("%(value)s is not a positive amount") % {"value": repr(raw)}
            elif amount >= (bound := max_amount(Payment, "amount")):
                problem = too_large(amount, bound)
            else:
                problem = ""
        if problem:
            problems.add(row, _column_name("amount"), problem)
            ok = False
    if not ok:
        return None
    return StatusRow(number, code, day, amount, str(values.get("reason_code") or "").strip(),
                     str(values.get("reason") or "").strip()[:500], row)  # fmt: skip


def _cdar(data: bytes, problems: Problems) -> list[StatusRow | None]:
    """Each referenced invoice of a CDAR message: its number (IssuerAssignedID), status
    (ProcessConditionCode), date, reason and amount."""
    try:
        root = parse_xml(data, problems.file)
    except NotAnInvoice as failure:
        raise problems.fail(None, None, failure.problems[0][1]) from None
    if etree_local(root) != "CrossDomainAcknowledgementAndResponse":
        raise problems.fail(
            None, None,
            _("<%(name)s> is not a CDAR status message") % {"name": etree_local(root)},
        )  # fmt: skip
    if (namespace := etree_namespace(root)) != CDAR_NAMESPACE:
        # Another document that bears the name, as an e-invoice's root of another namespace.
        raise problems.fail(None, None, _(
            "<CrossDomainAcknowledgementAndResponse> of the namespace %(namespace)s is not a "
            "CDAR status message: its namespace is %(expected)s"
        ) % {"namespace": repr(namespace), "expected": CDAR_NAMESPACE})  # fmt: skip
    rows: list[StatusRow | None] = []
    for n, ref in enumerate(root.iter("{*}ReferenceReferencedDocument"), 1):

        def text(*paths: str, node: Any = ref) -> str:
            for path in paths:
                found = node.find("/".join("{*}" + p for p in path.split("/")))
                if found is not None and (found.text or "").strip():
                    return str(found.text).strip()
            return ""

        raw_date = text(
            "StatusDateTime/DateTimeString",
            "ReceiptDateTime/DateTimeString",
            "IssueDateTime/DateTimeString",
            "FormattedIssueDateTime/DateTimeString",
        )
        if not raw_date:
            raw_date = text("AcknowledgementDocument/IssueDateTime/DateTimeString", node=root)
        if re.fullmatch(r"\d{8}(\d{4,6})?", raw_date):
            raw_date = f"{raw_date[:4]}-{raw_date[4:6]}-{raw_date[6:8]}"
        values = {
            "number": text("IssuerAssignedID"),
            "code": text("ProcessConditionCode", "SpecifiedDocumentStatus/ProcessConditionCode",
                         "StatusCode"),
            "date": raw_date,
            "amount": text("SpecifiedDocumentStatus/IncludedNote/Amount",
                           "SpecifiedDocumentStatus/SpecifiedDocumentCharacteristic/"
                           "ValueAmount", "Amount"),
            "reason_code": text("SpecifiedDocumentStatus/ReasonCode", "ReasonCode",
                                "StatusReasonCode"),
            "reason": text("SpecifiedDocumentStatus/Reason", "Reason", "StatusReason"),
        }  # fmt: skip
        rows.append(_row(values, n, problems))
    if not rows:
        problems.add(None, None, _("a CDAR message without any referenced invoice"))
    return rows


def etree_namespace(element: Any) -> str:
    from lxml import etree

    return str(etree.QName(element).namespace or "")


def etree_local(element: Any) -> str:
    from lxml import etree

    return str(etree.QName(element).localname)


# -- applying ---------------------------------------------------------------------------


@transaction.atomic
def apply_statuses(
    organisation: Organisation,
    rows: list[StatusRow],
    *,
    file: str,
    user_id: int | None = None,
) -> list[dict[str, Any]]:
    """Apply the statuses in date order; one report per row (``applied`` with what was
    done, or ``already applied``). Raises ImportFailed, applying nothing, when a row names
    an invoice the ledger does not hold or an action the ledger refuses."""
    problems = Problems(file)
    # Read in chunks: a file of tens of thousands of invoices would pass SQLite's limit of
    # variables in one statement (32,766 in its default build).
    numbers = sorted({r.number for r in rows})
    invoices = {
        i.number: i
        for start in range(0, len(numbers), CHUNK)
        for i in Invoice.objects.filter(
            organisation=organisation, number__in=numbers[start : start + CHUNK]
        ).select_related("customer", "customer__organisation")
    }
    for r in rows:
        if r.number not in invoices:
            problems.add(
                r.row, _column_name("invoice"),
                _("no invoice %(number)s in the ledger") % {"number": repr(r.number)},
            )  # fmt: skip
    problems.raise_if_any()
    ids = sorted(i.pk for i in invoices.values())
    seen = {
        tuple(d.get("key") or ())
        for start in range(0, len(ids), CHUNK)
        for d in TimelineEvent.objects.filter(
            organisation=organisation, kind=EVENT, invoice_id__in=ids[start : start + CHUNK]
        ).values_list("data", flat=True)
        if isinstance(d, dict)
    }
    reports = []
    for r in sorted(rows, key=lambda r: (r.date, r.row or 0)):
        invoice = invoices[r.number]
        report: dict[str, Any] = {"row": r.row, "invoice": r.number, "status": r.code,
                                  "date": r.date.isoformat()}  # fmt: skip
        if r.key() in seen:
            reports.append(report | {"result": "already applied"})
            continue
        seen.add(r.key())
        try:
            done = _apply(organisation, invoice, r, user_id)
        except pauses.PauseError as error:
            problems.add(r.row, _column_name("status"), f"{r.number}: {error}")
            continue
        _timeline(invoice, r, done, user_id)
        reports.append(report | {"result": "applied", "effect": effect(r.code), "done": done})
    if problems:
        transaction.set_rollback(True)
        problems.raise_if_any()
    return reports


def _apply(organisation: Organisation, invoice: Invoice, r: StatusRow, user_id: int | None) -> str:
    kind = effect(r.code)
    shown = f" ({r.reason_code})" if r.reason_code else ""
    note = f"Platform status {r.code} {PlatformStatus(r.code).label}{shown}" + (
        f": {r.reason}" if r.reason else ""
    )
    if kind in ("pause", "stop", "partial"):
        amount, reason = None, dispute_reason(r.code, r.reason_code)
        if kind == "partial":
            if r.amount is None or not 0 <= r.amount < invoice.amount:
                raise pauses.PauseError(
                    f"a partly approved invoice needs the amount approved, from 0 to less "
                    f"than {invoice.amount}"
                )
            # The part not approved: a dispute that suspends nothing (relance.dunning.owed).
            amount, reason = invoice.amount - r.amount, DisputeReason.NOT_APPROVED
            _resolve(invoice, [PARTLY], r, f"{note}: replaced by the amount approved now",
                     "", user_id)  # fmt: skip
        dispute = pauses.open_dispute(
            invoice, reason=reason, on=r.date, amount=amount,
            note=note, user_id=user_id, group=f"{SOURCE}-{r.code}",
        )  # fmt: skip
        Dispute.objects.filter(pk=dispute.pk).update(source=SOURCE)
        return f"dispute {dispute.pk}" + (f" on {amount}" if amount else "")
    if kind == "resume":
        # 205: approved in full, which also lifts a partial approval; 209 ends a 208.
        codes = [*PAUSING, PARTLY] if r.code == "205" else [*PAUSING]
        outcome = DisputeOutcome.REJECTED if r.code == "205" else ""
        resolved = _resolve(invoice, codes, r, note, outcome, user_id)
        return f"disputes resolved: {', '.join(resolved)}" if resolved else "nothing paused"
    if kind == "hold":
        hold = pauses.place_hold(
            invoice.customer, kind=HoldKind.MANUAL, start=r.date,
            end=r.date + dt.timedelta(days=PAYMENT_SENT_DAYS),
            reason=f"{r.code} {invoice.number}: {note}", user_id=user_id,
        )  # fmt: skip
        return f"hold {hold.pk} until {hold.end_date}"
    if kind == "settle":
        if r.amount is not None and r.amount > invoice.amount:
            raise pauses.PauseError(
                f"a payment of {r.amount} is more than the invoice's {invoice.amount}"
            )
        for hold in Hold.objects.filter(
            customer=invoice.customer, reason__startswith=f"211 {invoice.number}:"
        ):
            if hold.end_date is None or hold.end_date > r.date:
                pauses.release_hold(hold, on=r.date, user_id=user_id)
        invoice.refresh_from_db(fields=["balance"])
        amount = r.amount if r.amount is not None else invoice.balance
        if amount <= 0:
            return "nothing owed"
        payment, _allocated = payments.record(
            organisation.pk, invoice.customer_id, reference=f"{invoice.number}/212/{r.date}",
            date=r.date, currency=invoice.currency, amount=amount, invoice_ids=[invoice.pk],
            method="transfer", memo=note[:200], source=SOURCE,
        )  # fmt: skip
        invoice.refresh_from_db(fields=["balance"])
        if invoice.balance <= organisation.min_balance:
            # Paid: the partial approval has nothing left to limit.
            _resolve(invoice, [PARTLY], r, note, DisputeOutcome.SETTLED, user_id)
        return f"payment {payment.reference} of {amount}"
    return "noted"


def _resolve(
    invoice: Invoice, codes: list[str], r: StatusRow, note: str, outcome: str,
    user_id: int | None,
) -> list[str]:  # fmt: skip
    """Resolve the open disputes the platform's statuses ``codes`` opened on the invoice."""
    open_ = Dispute.objects.filter(
        invoice=invoice, resolved_on__isnull=True, source=SOURCE,
        group__in=[f"{SOURCE}-{c}" for c in codes],
    ).order_by("pk")  # fmt: skip
    resolved = []
    for dispute in open_:
        pauses.resolve_dispute(
            dispute, on=max(r.date, dispute.opened_on), resolution=note, outcome=outcome,
            user_id=user_id,
        )  # fmt: skip
        resolved.append(str(dispute.pk))
    return resolved


def _timeline(invoice: Invoice, r: StatusRow, done: str, user_id: int | None) -> None:
    summary = Text(
        gettext_noop("Platform status %(code)s, %(status)s, on %(number)s%(reason)s"),
        {"code": r.code, "status": label(PlatformStatus, r.code), "number": invoice.number,
         "reason": f" ({r.reason_code}{': ' + r.reason if r.reason else ''})"
         if r.reason_code or r.reason else ""},
    )  # fmt: skip
    timeline.record(
        invoice.customer.organisation, invoice.customer_id, EVENT, summary,
        data={"key": list(r.key()), "code": r.code, "reason_code": r.reason_code,
              "reason": r.reason, "amount": r.amount, "effect": effect(r.code), "done": done},
        invoice_id=invoice.pk, actor_id=user_id,
    )  # fmt: skip


def import_statuses(
    organisation: Organisation, path: Path, *, dry_run: bool = False, user_id: int | None = None
) -> list[dict[str, Any]]:
    """Read a status file and apply it (or, dry, check it and roll back)."""
    rows = read_statuses(path)
    with transaction.atomic():
        reports = apply_statuses(organisation, rows, file=path.name, user_id=user_id)
        transaction.set_rollback(dry_run)
    return reports


__all__ = ["ImportFailed", "PlatformStatus", "apply_statuses", "import_statuses"]
