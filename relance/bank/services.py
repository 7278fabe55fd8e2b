"""Bank statements in: read, de-duplicated, matched, exact matches allocated; the rest kept
for a person (``queue``, ``apply_line``). The one entry point for the CLI and the console.

Payments are written as ``relance.ledger.payments.record`` writes one (a ``Payment``, its
``Allocation`` rows, each at most what the invoice owes by ``payments.spread``, then
``balances.refresh``), in bulk: one statement is one transaction, whatever its size.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from relance.accounts.identity import customers_by_reference
from relance.accounts.models import Organisation
from relance.audit import trail
from relance.bank import matching
from relance.bank.camt import is_camt, read_camt
from relance.bank.exports import BankMapping, read_export
from relance.bank.lines import StatementLine, assign_keys, clashes, compact_iban
from relance.bank.models import BankLine, BankStatement, LineStatus
from relance.channels.formatting import lazy_money
from relance.dunning import pauses, policy
from relance.ledger import balances
from relance.ledger.imports import archives, messages
from relance.ledger.imports.apply import log_run
from relance.ledger.imports.records import ImportFailed, Problem
from relance.ledger.models import (
    Allocation,
    Customer,
    Hold,
    HoldKind,
    ImportRun,
    Invoice,
    Payment,
    PaymentKind,
)
from relance.ledger.payments import spread
from relance.ledger.timeline import Text, label
from relance.lib import bulk
from relance.lib.amounts import AmountError, Bound, check_amount
from relance.lib.bulk import plain
from relance.lib.locks import organisation_lock
from relance.lib.output import render_json

FORMATS = ("camt053", "csv")
CHUNK = 5000
MAX_ZIP_FILES = 1000
MAX_ZIP_MEMBER = 500 * 1024 * 1024
ZERO = Decimal("0.00")


class BankError(ValueError):
    """A request about the queue refused; nothing was written."""


@dataclass
class BankImportResult:
    file: str
    format: str
    statement_id: int | None = None
    credits: int = 0
    debits: int = 0
    duplicates: int = 0
    matched: int = 0
    proposed: int = 0
    unmatched: int = 0
    allocated: Decimal = ZERO
    holds: list[str] = field(default_factory=list)  # customers whose dunning is now held
    seconds: dict[str, float] = field(default_factory=dict)  # read, match, write: where time goes
    cpu: dict[str, float] = field(default_factory=dict)  # the same in this process's CPU time
    dry_run: bool = False
    files: list[str] = field(default_factory=list)  # the statements of a ZIP
    run_id: int | None = None  # the import log's record (relance.ledger ImportRun)

    def run_counts(self) -> dict[str, int]:
        """The counts the import log shows (``ImportRun.counts``): whole numbers, none zero."""
        counts = {
            "bank_credits": self.credits, "bank_matched": self.matched,
            "bank_proposed": self.proposed, "bank_unmatched": self.unmatched,
            "bank_duplicates": self.duplicates, "bank_holds": len(self.holds),
        }  # fmt: skip
        return {key: n for key, n in counts.items() if n}

    def counts(self) -> dict[str, Any]:
        return {
            "credits": self.credits, "debits": self.debits, "duplicates": self.duplicates,
            "matched": self.matched, "proposed": self.proposed, "unmatched": self.unmatched,
            "allocated": self.allocated, "holds": self.holds,
        }  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        """What ``relance bank import --json`` and ``relance import --json`` print."""
        return {
            "file": self.file, "format": self.format, "dry_run": self.dry_run,
            "statement": self.statement_id, "run_id": self.run_id, **self.counts(),
            **({"files": self.files} if self.files else {}),
        }  # fmt: skip


def guess_format(path: Path) -> str:
    if zipfile.is_zipfile(path):
        return "camt053"
    with path.open("rb") as fh:
        head = fh.read(4096)
    return "camt053" if is_camt(head) or path.suffix.lower() == ".xml" else "csv"


def read_statement(
    path: Path, *, format: str | None = None, mapping: BankMapping | None = None,
    currency: str = "EUR", members: list[str] | None = None,
) -> tuple[str, list[StatementLine]]:  # fmt: skip
    """The format and the lines of a statement; a ZIP's statements are listed in
    ``members``."""
    if not path.is_file():
        raise ImportFailed([Problem(path.name, None, None, _("no such file"))])
    fmt = format or guess_format(path)
    if fmt not in FORMATS:
        raise ImportFailed(
            [Problem(path.name, None, None, _("unknown format %(format)s") % {"format": repr(fmt)})]
        )
    if fmt == "camt053" and zipfile.is_zipfile(path):
        read = list(zip_statements(path))
        if members is not None:
            members += [name for name, _ in read]
        return fmt, [line for _, lines in read for line in lines]
    if fmt == "camt053":
        lines = read_camt(path)
    else:
        lines = read_export(path, mapping or BankMapping(), currency)
    assign_keys(lines)
    refuse_clashes(path.name, lines)
    return fmt, lines


def refuse_clashes(file: str, lines: list[StatementLine]) -> None:
    """ImportFailed naming the rows of ``file`` that give one bank reference to two
    different movements (``lines.clashes``)."""
    found = [Problem(file, row, "reference", message) for row, message in clashes(lines)]
    if found:
        raise ImportFailed(found)


def refuse_changed(organisation: Organisation, file: str, credits: list[StatementLine]) -> None:
    """ImportFailed naming each credit whose bank reference an earlier statement gave to
    another movement (another amount or date): counted as already imported, it would be
    left out unseen. The same movement again (a statement read twice) is no problem."""
    by_key = {line.key: line for line in credits if line.bank_reference}
    found = []
    keys = list(by_key)
    for start in range(0, len(keys), CHUNK):
        for key, day, amount in BankLine.objects.filter(
            organisation=organisation, key__in=keys[start : start + CHUNK]
        ).values_list("key", "date", "amount"):
            line = by_key[key]
            if (day, amount) != (line.date, line.amount):
                found.append(Problem(file, line.row, "reference", _(
                    "the bank reference %(reference)s was imported before for %(amount)s on "
                    "%(date)s: two movements cannot have one reference"
                ) % {"reference": repr(line.bank_reference), "amount": f"{amount:.2f}",
                     "date": day}))  # fmt: skip
    if found:
        raise ImportFailed(found)


def zip_statements(path: Path) -> Iterator[tuple[str, list[StatementLine]]]:
    """The CAMT.053 statements of a ZIP, each read and keyed as a file of its own (a credit
    in two statements of the ZIP is one credit); every member's problems at once."""
    problems: list[Problem] = []
    try:
        archive = archives.open_zip(path)
    except archives.Unreadable as error:
        raise ImportFailed([Problem(path.name, None, None, str(error))]) from None
    with archive, tempfile.TemporaryDirectory(prefix="relance-bank-") as scratch:
        try:
            members = archives.members(archive)
        except archives.Unreadable as error:
            raise ImportFailed([Problem(path.name, None, None, str(error))]) from None
        if len(members) > MAX_ZIP_FILES:
            raise ImportFailed([Problem(path.name, None, None,
                                        _("more than %(limit)s files")
                                        % {"limit": f"{MAX_ZIP_FILES:,}"})])  # fmt: skip
        found = []
        for n, member in enumerate(members):
            name = f"{path.name}/{member.filename}"
            target = Path(scratch) / f"{n}.xml"
            try:
                archives.refuse_inner_zip(archive, member)
                with target.open("wb") as out:
                    out.writelines(archives.chunks(archive, member, MAX_ZIP_MEMBER))
            except archives.TooLarge:
                problems.append(Problem(name, None, None, _("too large for a bank statement")))
                continue
            except archives.Unreadable as error:
                problems.append(Problem(name, None, None, str(error)))
                continue
            try:
                lines = read_camt(target)
            except ImportFailed as failure:
                problems += [Problem(name, p.row, p.field, p.message) for p in failure.problems]
                continue
            finally:
                target.unlink()
            assign_keys(lines)
            try:
                refuse_clashes(name, lines)
            except ImportFailed as failure:
                problems += failure.problems
                continue
            found.append((member.filename, lines))
    if problems:
        raise ImportFailed(problems)
    if not found:
        raise ImportFailed([Problem(path.name, None, None, _("the ZIP holds no statement"))])
    yield from found


def import_statement(
    organisation: Organisation,
    path: Path,
    *,
    format: str | None = None,
    mapping: BankMapping | None = None,
    as_of: dt.date | None = None,
    user_id: int | None = None,
    dry_run: bool = False,
) -> BankImportResult:
    """Read the file (a CAMT.053, a ZIP of them, a bank CSV), then in one transaction keep
    its new credits, allocate the exact matches and queue the others; a file refused writes
    nothing. A dry run does all of it and rolls it back: what the import would do."""
    clock, cpu = time.perf_counter(), time.process_time()
    started = timezone.now()
    members: list[str] = []
    try:
        fmt, lines = read_statement(path, format=format, mapping=mapping,
                                    currency=organisation.currency, members=members)  # fmt: skip
        refuse_changed(organisation, path.name, [line for line in lines if line.amount > 0])
    except ImportFailed as failure:
        if not dry_run:
            _record_refusal(organisation, path, format, failure, started, user_id)
        raise
    read_at, read_cpu = time.perf_counter(), time.process_time()
    as_of = as_of or timezone.localdate()
    result = BankImportResult(file=path.name, format=fmt, dry_run=dry_run, files=members)
    credits = [line for line in lines if line.amount > 0]
    result.debits = sum(1 for line in lines if line.amount < 0)
    with organisation_lock(organisation.slug, "import"), transaction.atomic():
        known = _known_keys(organisation, [line.key for line in credits])
        new: list[StatementLine] = []
        for line in credits:
            if line.key in known:
                result.duplicates += 1
            else:
                known.add(line.key)
                new.append(line)
        result.credits = len(new)
        matched_from, match_cpu = time.perf_counter(), time.process_time()
        ledger = load_ledger(organisation, new)
        matches = matching.match_all(new, ledger)
        matched_at, matched_cpu = time.perf_counter(), time.process_time()
        statement = BankStatement.objects.create(
            organisation=organisation, file=path.name[:255], format=fmt,
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(), imported_by_id=user_id,
        )  # fmt: skip
        exact = [(line, m) for line, m in zip(new, matches, strict=True)
                 if m.confidence == matching.EXACT]  # fmt: skip
        payments = write_payments(organisation, [
            PaymentSpec(m.customer_id, line, m.allocations) for line, m in exact
            if m.customer_id is not None
        ])  # fmt: skip
        paid = {line.key: payment for (line, _), payment in zip(exact, payments, strict=True)}
        rows: list[dict[str, Any]] = []
        for line, m in zip(new, matches, strict=True):
            if m.confidence == matching.EXACT:
                status = LineStatus.MATCHED
                result.matched += 1
                for _, part in m.allocations:
                    result.allocated += part
            elif m.confidence:
                status = LineStatus.PROPOSED
                result.proposed += 1
            else:
                status = LineStatus.UNMATCHED
                result.unmatched += 1
            rows.append(_line_row(organisation, statement, line, m, status, paid.get(line.key)))
        bulk.create(BankLine, rows)
        touched = {m.customer_id for m in matches if m.customer_id is not None
                   and m.confidence == matching.EXACT}  # fmt: skip
        learn_ibans(organisation, [(m.customer_id, line.debtor_iban) for line, m in exact])
        result.holds = update_cash_holds(organisation, touched, as_of, user_id=user_id)
        result.statement_id = statement.pk
        statement.counts = json.loads(render_json(result.counts()))
        statement.save(update_fields=["counts"])
        trail.record(
            organisation, "bank.imported", user_id=user_id, target=statement,
            summary=Text(gettext_noop("%(file)s: %(matched)s matched, %(proposed)s to review, "
                                 "%(unmatched)s without a match, %(duplicates)s already "
                                 "imported"),
                         {"file": path.name, "matched": result.matched,
                          "proposed": result.proposed, "unmatched": result.unmatched,
                          "duplicates": result.duplicates}),
            data={"file": path.name, "format": fmt, **result.counts()},
        )  # fmt: skip
        if dry_run:
            transaction.set_rollback(True)
            result.statement_id = None
        else:
            result.run_id = log_run(
                organisation, file=path.name[:300], format=_logged(fmt),
                sha256=statement.sha256, status=ImportRun.Status.DONE,
                counts=result.run_counts(), error="", started=started, user_id=user_id,
            ).pk  # fmt: skip
    result.seconds = {
        "read": read_at - clock, "match": matched_at - matched_from,
        "write": time.perf_counter() - matched_at + (matched_from - read_at),
    }  # fmt: skip
    result.cpu = {
        "read": read_cpu - cpu, "match": matched_cpu - match_cpu,
        "write": time.process_time() - matched_cpu + (match_cpu - read_cpu),
    }  # fmt: skip
    return result


def _logged(fmt: str | None) -> str:
    """A statement's format as the import log names it (a CSV is a bank's, not a ledger's)."""
    return "bank-csv" if fmt == "csv" else "camt053"


def _record_refusal(
    organisation: Organisation, path: Path, fmt: str | None, failure: ImportFailed,
    started: dt.datetime, user_id: int | None,
) -> None:  # fmt: skip
    """A statement refused (nothing written) in the import log, with its problems, as a
    ledger file refused is."""
    try:
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        fmt = fmt or guess_format(path)
    except OSError:
        sha256 = ""
    run = log_run(
        organisation, file=path.name[:300], format=_logged(fmt), sha256=sha256,
        status=ImportRun.Status.FAILED, counts={}, error=str(failure), started=started,
        user_id=user_id,
    )  # fmt: skip
    trail.record(
        organisation, "bank.refused", user_id=user_id, target=run,
        summary=Text(gettext_noop("%(file)s: %(error)s"),
                     {"file": path.name, "error": str(failure)[:300]}),
        data={"file": path.name, "format": run.format, "error": str(failure)[:2000]},
    )  # fmt: skip


def _known_keys(organisation: Organisation, keys: Sequence[str]) -> set[str]:
    """The keys of ``keys`` already imported, read by the driver a chunk at a time."""
    known: set[str] = set()
    table = BankLine._meta.db_table
    with connection.cursor() as cursor:
        for start in range(0, len(keys), CHUNK):
            among, params = bulk.among('"key"', keys[start : start + CHUNK])
            cursor.execute(
                f'SELECT "key" FROM {table} WHERE organisation_id = %s AND {among}',
                [organisation.pk, *params],
            )
            known.update(key for (key,) in cursor.fetchall())
    return known


def load_ledger(organisation: Organisation, lines: Sequence[StatementLine]) -> matching.Ledger:
    """The open items, RF references and customer IBANs the lines may name, read in bulk."""
    open_items = (
        Invoice.objects.filter(organisation=organisation, balance__gt=0)
        .annotate(owed=balances.cents("balance"))
        .values_list("pk", "customer_id", "number", "owed", "currency", "due_date")
    )  # fmt: skip
    # Read by the driver, without Django's converters: a decimal and a date per row cost
    # more than the query (the balance comes as exact cents, the date as ISO text on SQLite).
    sql, params = open_items.query.sql_with_params()
    items: list[matching.OpenItem] = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(10000):
            items += [
                matching.OpenItem(pk, customer, number, Decimal(owed).scaleb(-2), currency,
                                  due if isinstance(due, dt.date) else dt.date.fromisoformat(due))
                for pk, customer, number, owed, currency, due in rows
            ]  # fmt: skip
    wanted = {ref for line in lines for ref in matching.references(line)}
    owners = customers_by_reference(organisation, wanted)
    rf_owners = {ref: [c.pk for c in customers] for ref, customers in owners.items()}
    iban_owners: dict[str, list[int]] = defaultdict(list)
    if any(line.debtor_iban for line in lines):
        for pk, iban in (Customer.objects.filter(organisation=organisation).exclude(iban="")
                         .values_list("pk", "iban")):  # fmt: skip
            iban_owners[compact_iban(iban)].append(pk)
    return matching.Ledger(items, rf_owners, dict(iban_owners))


@dataclass
class PaymentSpec:
    customer_id: int
    line: StatementLine | BankLine
    allocations: list[tuple[int, Decimal]]


def write_payments(organisation: Organisation, specs: Sequence[PaymentSpec]) -> list[int]:
    """One payment per credit, with its allocations, then the balances by their one code;
    the payments' ids, in the order of ``specs``. Written as plain rows by the driver
    (``relance.lib.bulk``: COPY on PostgreSQL, executemany on SQLite), as an import writes
    its payments: the columns ``relance.ledger.payments.record`` gives one."""
    if not specs:
        return []
    org = organisation.pk
    references = [f"BANK:{spec.line.key}" for spec in specs]
    before = bulk.create(Payment, (
        {"organisation_id": org, "customer_id": spec.customer_id,
         "kind": PaymentKind.PAYMENT.value, "reference": reference,
         "date": plain(spec.line.date), "currency": spec.line.currency,
         "amount": plain(spec.line.amount), "method": "transfer",
         "memo": (spec.line.remittance or spec.line.label)[:200], "source": "bank"}
        for spec, reference in zip(specs, references, strict=True)
    ))  # fmt: skip
    # The new payments of the organisation (whose lock is held): none but these.
    ids = dict(Payment.objects.filter(organisation=organisation, pk__gt=before)
               .values_list("reference", "pk"))  # fmt: skip
    payment_ids = [ids[reference] for reference in references]
    bulk.create(Allocation, (
        {"organisation_id": org, "payment_id": payment_id, "invoice_id": invoice_id,
         "amount": plain(part), "date": plain(spec.line.date)}
        for spec, payment_id in zip(specs, payment_ids, strict=True)
        for invoice_id, part in spec.allocations
    ))  # fmt: skip
    invoice_ids = sorted({pk for spec in specs for pk, _ in spec.allocations})
    customer_ids = sorted({spec.customer_id for spec in specs})
    balances.refresh(organisation.pk, invoice_ids, customer_ids)
    return payment_ids


def _line_row(
    organisation: Organisation, statement: BankStatement, line: StatementLine,
    m: matching.Match, status: str, payment_id: int | None,
) -> dict[str, Any]:  # fmt: skip
    """A ``BankLine`` as the plain row ``bulk.create`` writes."""
    return {
        "organisation_id": organisation.pk, "statement_id": statement.pk, "key": line.key,
        "row": line.row, "account": line.account[:34],
        "bank_reference": line.bank_reference[:64], "date": plain(line.date),
        "amount": plain(line.amount), "currency": line.currency, "label": line.label[:500],
        "remittance": " ".join([*line.structured, line.remittance])[:500],
        "debtor_name": line.debtor_name[:200], "debtor_iban": line.debtor_iban[:34],
        "status": status, "confidence": m.confidence, "evidence": m.evidence,
        "customer_id": m.customer_id,
        "proposal": [[pk, str(part)] for pk, part in m.allocations], "payment_id": payment_id,
    }  # fmt: skip


def learn_ibans(organisation: Organisation, payers: Iterable[tuple[int | None, str]]) -> None:
    """A customer certain to have paid from an IBAN (an exact match, a person's decision)
    and without one yet gets it: their next transfer is recognised by it."""
    found: dict[int, str] = {}
    for customer_id, iban in payers:
        if customer_id is not None and iban:
            found.setdefault(customer_id, iban)
    unknown = Customer.objects.filter(organisation=organisation, pk__in=list(found), iban="")
    customers = list(unknown.only("pk", "iban"))
    for customer in customers:
        customer.iban = found[customer.pk]
    Customer.objects.bulk_update(customers, ["iban"], batch_size=CHUNK)


# -- the hold of unapplied cash ------------------------------------------------------------


def update_cash_holds(
    organisation: Organisation, customer_ids: Iterable[int], as_of: dt.date,
    *, user_id: int | None = None,
) -> list[str]:  # fmt: skip
    """Place the ``unapplied`` hold on the customers whose unapplied cash covers their overdue
    items (``matching.cash_holds_dunning``), and release it from those whose cash no longer
    does; through ``pauses.place_hold``/``release_hold``, read by the run as every hold.
    The references of the customers now held."""
    ids = sorted(set(customer_ids))
    if not ids:
        return []
    received = _cents_by(Payment.objects.filter(
        organisation=organisation, customer_id__in=ids, kind=PaymentKind.PAYMENT,
    ), "customer_id", "amount")  # fmt: skip
    applied = _cents_by(Allocation.objects.filter(
        organisation=organisation, payment__customer_id__in=ids,
        payment__kind=PaymentKind.PAYMENT,
    ), "payment__customer_id", "amount")  # fmt: skip
    overdue = _cents_by(Invoice.objects.filter(
        organisation=organisation, customer_id__in=ids, balance__gt=0, due_date__lt=as_of,
    ), "customer_id", "balance")  # fmt: skip
    active: dict[int, Hold] = {}
    for hold in Hold.objects.filter(
        organisation=organisation, customer_id__in=ids, kind=HoldKind.UNAPPLIED
    ).order_by("pk"):
        if policy.hold_active(hold.start_date, hold.end_date, as_of) or hold.start_date > as_of:
            active[hold.customer_id] = hold
    held: list[str] = []
    decided = {}
    for pk in ids:
        cash = received.get(pk, ZERO) - applied.get(pk, ZERO)
        due = overdue.get(pk, ZERO)
        decided[pk] = (cash, due, matching.cash_holds_dunning(cash, due))
    # Only the customers to hold are read as models (a statement touches thousands).
    customers = Customer.objects.in_bulk(
        [pk for pk, (_, _, should) in decided.items() if should and pk not in active]
    )
    for pk, (cash, due, should) in decided.items():
        if should and pk not in active:
            pauses.place_hold(
                customers[pk], kind=HoldKind.UNAPPLIED, start=as_of, user_id=user_id,
                reason=f"unapplied cash {cash} {customers[pk].currency} covers the overdue "
                f"{due}: apply it (relance bank queue)",
            )  # fmt: skip
            held.append(customers[pk].reference)
        elif not should and pk in active:
            pauses.release_hold(active[pk], on=as_of, user_id=user_id)
    return held


def _cents_by(query: Any, key: str, amount: str) -> dict[int, Decimal]:
    rows = query.values(key).annotate(total=balances.sum_cents(amount)).values_list(key, "total")
    return {pk: balances.from_cents(total) for pk, total in rows}


# -- the queue -------------------------------------------------------------------------------

REVIEW = (LineStatus.PROPOSED, LineStatus.UNMATCHED)


def parse_parts(text: str) -> list[tuple[str, Decimal | None]]:
    """``"FA-1=120,50 FA-2"`` or ``"FA-1=120.50, FA-2"``: invoice numbers, each with the
    amount it takes or none (what is left)."""
    parts: list[tuple[str, Decimal | None]] = []
    for word in text.replace(";", " ").split():
        word = word.rstrip(",")
        if not word:
            continue
        number, _equals, value = word.partition("=")
        if not number:
            raise BankError(
                _("%(word)s: give an invoice number, NUMBER[=AMOUNT]") % {"word": repr(word)}
            )
        parts.append((number, _amount(value, number) if value else None))
    if not parts:
        raise BankError(_("name at least one invoice"))
    return parts


def _amount(text: str, number: str) -> Decimal:
    """The amount an invoice takes, typed as every amount is (``lib.amounts``): above
    zero, at most two decimals; the invoice named in what is wrong."""
    try:
        value = check_amount(text, number, Bound.ABOVE_ZERO)
    except AmountError as error:
        raise BankError(str(error)) from None
    if value is None:
        raise BankError(_("%(field)s: an amount is needed") % {"field": number})
    return value


def queue(organisation: Organisation, *, limit: int | None = None) -> list[dict[str, Any]]:
    """The credits waiting for a person, oldest first, with what matching proposes."""
    lines = list(
        BankLine.objects.filter(organisation=organisation, status__in=REVIEW)
        .select_related("customer").order_by("date", "pk")[:limit]
    )  # fmt: skip
    numbers = dict(Invoice.objects.filter(
        organisation=organisation, pk__in={int(pk) for ln in lines for pk, _ in ln.proposal},
    ).values_list("pk", "number"))  # fmt: skip
    return [describe(line, numbers) for line in lines]


def describe(line: BankLine, numbers: dict[int, str]) -> dict[str, Any]:
    return {
        "id": line.pk, "date": line.date, "amount": line.amount, "currency": line.currency,
        "label": line.label, "remittance": line.remittance, "debtor_name": line.debtor_name,
        "debtor_iban": line.debtor_iban, "bank_reference": line.bank_reference,
        "status": line.status, "confidence": line.confidence or None,
        "evidence": line.evidence,
        "customer": line.customer.reference if line.customer else None,
        "proposal": [{"invoice": numbers.get(int(pk), str(pk)), "amount": Decimal(part)}
                     for pk, part in line.proposal],
    }  # fmt: skip


def apply_line(
    organisation: Organisation,
    line_id: int,
    *,
    invoices: Sequence[tuple[str, Decimal | None]] = (),
    accept: bool = False,
    unapplied: bool = False,
    customer: str | None = None,
    as_of: dt.date | None = None,
    user_id: int | None = None,
) -> BankLine:
    """A person's decision on a credit of the queue: the proposal accepted, the credit split
    across invoices (``(number, amount or None for what is left)``, in that order), or left
    on the customer's account as unapplied cash (which ``invoices`` may apply later). Whatever
    the credit does not cover stays on the payment, unallocated."""
    if sum(map(bool, (invoices, accept, unapplied))) != 1:
        raise BankError(_("say one of: the invoices, accept the proposal, or leave it unapplied"))
    as_of = as_of or timezone.localdate()
    with organisation_lock(organisation.slug, "import"), transaction.atomic():
        line = (BankLine.objects.select_for_update()
                .filter(organisation=organisation, pk=line_id).first())  # fmt: skip
        if line is None:
            raise BankError(_("no bank line %(id)s") % {"id": line_id})
        if line.status == LineStatus.UNAPPLIED and invoices and line.payment is not None:
            # Cash left on account earlier, applied now: what its payment has not allocated.
            payment = line.payment
            allocated = Allocation.objects.filter(payment=payment).values_list("amount", flat=True)
            left = payment.amount - sum(allocated, ZERO)
            customer_id, allocations = _decide(organisation, line, invoices, False, None, left)
            if customer_id != payment.customer_id:
                raise BankError(
                    _("bank line %(id)s was left on another customer's account") % {"id": line_id}
                )
            Allocation.objects.bulk_create(
                Allocation(organisation=organisation, payment=payment, invoice_id=pk,
                           amount=part, date=as_of)
                for pk, part in allocations
            )  # fmt: skip
            balances.refresh(organisation.pk, [pk for pk, _ in allocations], [customer_id])
        elif line.status not in REVIEW:
            raise BankError(
                _("bank line %(id)s is already %(status)s")
                % {"id": line_id, "status": line.get_status_display().lower()}
            )
        else:
            customer_id, allocations = _decide(organisation, line, invoices, accept, customer,
                                               line.amount)  # fmt: skip
            (paid,) = write_payments(organisation, [PaymentSpec(customer_id, line, allocations)])
            payment = Payment.objects.get(pk=paid)
        line.payment = payment
        line.customer_id = customer_id
        line.status = LineStatus.APPLIED if allocations else LineStatus.UNAPPLIED
        line.save(update_fields=["payment", "customer", "status"])
        learn_ibans(organisation, [(customer_id, line.debtor_iban)])
        held = update_cash_holds(organisation, [customer_id], as_of, user_id=user_id)
        trail.record(
            organisation, "bank.applied", user_id=user_id, target=line,
            summary=Text(gettext_noop("bank line %(line)s (%(amount)s) %(status)s"),
                         {"line": line.pk, "amount": lazy_money(line.amount, line.currency),
                          "status": label(LineStatus, line.status)}),
            data={"line": line.pk, "status": line.status, "payment": payment.reference,
                  "allocations": [[pk, part] for pk, part in allocations], "holds": held},
        )  # fmt: skip
    return line


def _decide(
    organisation: Organisation, line: BankLine, invoices: Sequence[tuple[str, Decimal | None]],
    accept: bool, customer: str | None, available: Decimal,
) -> tuple[int, list[tuple[int, Decimal]]]:  # fmt: skip
    if accept:
        if not line.proposal or line.customer_id is None:
            raise BankError(_("bank line %(id)s has no proposal to accept") % {"id": line.pk})
        owed = dict(Invoice.objects.filter(
            organisation=organisation, pk__in=[int(pk) for pk, _ in line.proposal],
        ).values_list("pk", "balance"))  # fmt: skip
        wanted = [(int(pk), min(Decimal(part), owed.get(int(pk), ZERO)))
                  for pk, part in line.proposal]  # fmt: skip
        return line.customer_id, [(pk, part) for pk, part in wanted if part > 0]
    if not invoices:  # left unapplied
        if customer:
            found = Customer.objects.filter(organisation=organisation, reference=customer).first()
            if found is None:
                raise BankError(_("no customer %(reference)s") % {"reference": repr(customer)})
            return found.pk, []
        if line.customer_id is None:
            raise BankError(
                _("bank line %(id)s has no customer: name one (--customer)") % {"id": line.pk}
            )
        return line.customer_id, []
    found_invoices = {
        inv.number: inv for inv in Invoice.objects.filter(
            organisation=organisation, number__in=[n for n, _ in invoices])
    }  # fmt: skip
    problems = [messages.no_invoice(n) for n, _part in invoices if n not in found_invoices]
    if problems:
        raise BankError("; ".join(problems))
    chosen = [found_invoices[n] for n, _ in invoices]
    customers = {inv.customer_id for inv in chosen}
    if len(customers) != 1:
        raise BankError(_("the invoices of one payment are those of one customer"))
    allocations: list[tuple[int, Decimal]] = []
    left = available
    for inv, (number, part) in zip(chosen, invoices, strict=True):
        if inv.currency != line.currency:
            raise BankError(
                _("invoice %(number)s is in %(currency)s, the credit in %(credit)s")
                % {"number": number, "currency": inv.currency, "credit": line.currency}
            )
        if part is not None:
            if part > inv.balance:
                raise BankError(
                    _("invoice %(number)s owes %(balance)s, not %(part)s")
                    % {"number": number, "balance": inv.balance, "part": part}
                )
            if part > left:
                raise BankError(
                    _("%(left)s is left to apply: %(number)s cannot take %(part)s")
                    % {"left": available, "number": number, "part": part}
                )
            allocations.append((inv.pk, part))
            left -= part
    rest = [(inv.pk, inv.balance) for inv, (_, part) in zip(chosen, invoices, strict=True)
            if part is None]  # fmt: skip
    allocations += spread(left, rest)
    return customers.pop(), [(pk, part) for pk, part in allocations if part > 0]
