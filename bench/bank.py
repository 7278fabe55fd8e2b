"""A 100,000-line bank statement (CAMT.053) matched against 100,000 open items, beside its
floor: the same file parsed by lxml and the same rows written by the database driver alone
into the real tables of another organisation of the same database, in the same run (see
``floor``). Prints Markdown for docs/performance.md.

    .venv/bin/python -m bench.bank [--lines 100000] [--customers 20000] [--db sqlite|postgres]

SQLite in a temporary RELANCE_DATA_DIR, or PostgreSQL in a throw-away cluster
(scripts/pg-cluster). Each run's CPU time (this process's, and on PostgreSQL its server
process's) is printed beside its wall-clock time: the ratio of CPU times holds on a loaded
machine, where the wall clock does not.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

DAY = dt.date(2026, 11, 23)
ACCOUNT = "FR7630006000011234567890189"  # the statement's, ours
NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"


def write_statement(path: Path, credits: list[tuple[str, Decimal, str, str, str]]) -> None:
    """credits: (bank reference, amount, Ustrd, Strd reference, debtor IBAN)."""
    with path.open("w", encoding="utf-8") as out:
        out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NS}">'
                  f"<BkToCstmrStmt><GrpHdr><MsgId>B</MsgId><CreDtTm>{DAY}T08:00:00</CreDtTm>"
                  f"</GrpHdr><Stmt><Id>S</Id><CreDtTm>{DAY}T08:00:00</CreDtTm><Acct><Id><IBAN>"
                  f"{ACCOUNT}</IBAN></Id></Acct>\n")  # fmt: skip
        for ref, amount, ustrd, strd, iban in credits:
            rmt = f"<Ustrd>{ustrd}</Ustrd>" if ustrd else ""
            if strd:
                rmt += f"<Strd><CdtrRefInf><Ref>{strd}</Ref></CdtrRefInf></Strd>"
            acct = f"<DbtrAcct><Id><IBAN>{iban}</IBAN></Id></DbtrAcct>" if iban else ""
            out.write(
                f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
                f"<BookgDt><Dt>{DAY}</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef>"
                f"<NtryDtls><TxDtls><RltdPties><Dbtr><Pty><Nm>PAYER</Nm></Pty></Dbtr>{acct}"
                f"</RltdPties><RmtInf>{rmt}</RmtInf></TxDtls></NtryDtls>"
                f"<AddtlNtryInf>VIR SEPA</AddtlNtryInf></Ntry>\n"
            )
        out.write("</Stmt></BkToCstmrStmt></Document>\n")


def _template(model: Any, given: Sequence[str]) -> tuple[list[str], tuple[Any, ...]]:
    """The columns of ``model`` with ``given`` first, and the values of the others (their
    defaults, an ``auto_now`` as now), computed once: each row is its values + the tail."""
    from django.db.models import JSONField

    from relance.lib import bulk

    now = bulk.db_datetime(dt.datetime.now(dt.UTC))
    rest = [f for f in model._meta.concrete_fields
            if f.attname not in given and not f.primary_key]  # fmt: skip
    tail = tuple(now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
                 else json.dumps(f.get_default()) if isinstance(f, JSONField)
                 else f.get_default() for f in rest)  # fmt: skip
    by_name = {f.attname: f.column for f in model._meta.concrete_fields}
    return [by_name[name] for name in given] + [f.column for f in rest], tail


def floor(path: Path, org_id: int, plan: list[tuple[str, str, str]]) -> dict[str, int]:
    """The same work as the import, by lxml and the driver alone (``relance.lib.bulk``:
    executemany on SQLite, COPY on PostgreSQL), into the real tables of another organisation
    of the same database with the same open items, in one transaction: the statement, its
    lines, a payment per allocated credit, its allocation, the settled invoices' balance and
    paid date, an ``invoice_paid`` event each. ``plan`` is what the bench made each credit
    (status, the invoice it names, its customer): no matching, no checks."""
    from django.db import connection, transaction
    from lxml import etree

    from relance.bank.models import BankLine, BankStatement
    from relance.ledger.models import Allocation, Invoice, Payment, TimelineEvent
    from relance.lib import bulk

    ns = {"c": NS}
    entries = []
    for _, entry in etree.iterparse(str(path), tag=f"{{{NS}}}Ntry", resolve_entities=False,
                                    no_network=True):  # fmt: skip
        entries.append((
            entry.findtext("c:AcctSvcrRef", "", ns), entry.findtext("c:Amt", "", ns),
            entry.findtext("c:BookgDt/c:Dt", "", ns), entry.findtext("c:AddtlNtryInf", "", ns),
            entry.findtext("c:NtryDtls/c:TxDtls/c:RmtInf/c:Ustrd", "", ns),
            entry.findtext("c:NtryDtls/c:TxDtls/c:RmtInf/c:Strd/c:CdtrRefInf/c:Ref", "", ns),
            entry.findtext("c:NtryDtls/c:TxDtls/c:RltdPties/c:Dbtr/c:Pty/c:Nm", "", ns),
            entry.findtext("c:NtryDtls/c:TxDtls/c:RltdPties/c:DbtrAcct/c:Id/c:IBAN", "", ns),
        ))  # fmt: skip
        entry.clear()
        while entry.getprevious() is not None:
            del entry.getparent()[0]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT number, id, customer_id FROM ledger_invoice"
                       " WHERE organisation_id = %s", [org_id])  # fmt: skip
        invoices = {number: (pk, customer) for number, pk, customer in cursor.fetchall()}
        cursor.execute("SELECT reference, id FROM ledger_customer WHERE organisation_id = %s",
                       [org_id])  # fmt: skip
        customers = dict(cursor.fetchall())
        columns, tail = _template(BankStatement, ["organisation_id", "file", "format", "sha256"])
        bulk.insert(BankStatement._meta.db_table, columns,
                    [(org_id, path.name, "camt053", "0" * 64, *tail)])  # fmt: skip
        cursor.execute(f"SELECT max(id) FROM {BankStatement._meta.db_table}")
        [statement] = cursor.fetchone()
        paid = [(entry, invoices[number], number) for entry, (status, number, _)
                in zip(entries, plan, strict=True) if status == "matched"]  # fmt: skip
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {Payment._meta.db_table}")
        [before] = cursor.fetchone()
        columns, tail = _template(Payment, ["organisation_id", "customer_id", "kind",
                                            "reference", "date", "currency", "amount",
                                            "method", "memo", "source"])  # fmt: skip
        bulk.insert(Payment._meta.db_table, columns, (
            (org_id, customer, "payment", f"BANK:{ref}", day, "EUR", amount, "transfer",
             (ustrd or label)[:200], "bank", *tail)
            for (ref, amount, day, label, ustrd, *_), (_, customer), _ in paid
        ))  # fmt: skip
        cursor.execute(f"SELECT reference, id FROM {Payment._meta.db_table}"
                       " WHERE organisation_id = %s AND id > %s", [org_id, before])  # fmt: skip
        payments = dict(cursor.fetchall())
        columns, tail = _template(Allocation, ["organisation_id", "payment_id", "invoice_id",
                                               "amount", "date"])  # fmt: skip
        bulk.insert(Allocation._meta.db_table, columns, (
            (org_id, payments[f"BANK:{entry[0]}"], invoice, entry[1], entry[2], *tail)
            for entry, (invoice, _), _ in paid
        ))  # fmt: skip
        bulk.update(Invoice._meta.db_table, ["balance", "settled_on"], ["id"],
                    [("0.00", entry[2], invoice) for entry, (invoice, _), _ in paid])  # fmt: skip
        when = bulk.db_datetime(dt.datetime.now(dt.UTC))
        bulk.insert(TimelineEvent._meta.db_table,
                    ("organisation_id", "customer_id", "at", "kind", "summary", "data",
                     "invoice_id", "actor_id"), (
            (org_id, customer, when, "invoice_paid", f"Invoice {number} paid",
             f'{{"number": "{number}", "amount": "{entry[1]}", "currency": "EUR",'
             f' "settled_on": "{entry[2]}"}}', invoice, None)
            for entry, (invoice, customer), number in paid
        ))  # fmt: skip
        columns, tail = _template(
            BankLine,
            [
                "organisation_id",
                "statement_id",
                "key",
                "row",
                "account",
                "bank_reference",
                "date",
                "amount",
                "currency",
                "label",
                "remittance",
                "debtor_name",
                "debtor_iban",
                "status",
                "confidence",
                "evidence",
                "customer_id",
                "proposal",
                "payment_id",
            ],
        )
        rule = {"matched": "invoice_number", "proposed": "iban", "unmatched": ""}
        confidence = {"matched": "exact", "proposed": "probable", "unmatched": ""}
        bulk.insert(BankLine._meta.db_table, columns, (
            (org_id, statement, ref, row, ACCOUNT, ref, day, amount, "EUR", label,
             f"{strd} {ustrd}".strip(), debtor, iban, status, confidence[status],
             f'[{{"rule": "{rule[status]}", "value": "{number}"}}]' if status != "unmatched"
             else "[]", customers.get(customer),
             f'[[{invoices[number][0]}, "{amount}"]]' if number else "[]",
             payments.get(f"BANK:{ref}") if status == "matched" else None, *tail)
            for row, ((ref, amount, day, label, ustrd, strd, debtor, iban),
                      (status, number, customer)) in enumerate(zip(entries, plan, strict=True), 1)
        ))  # fmt: skip
    return {"lines": len(entries), "payments": len(payments), "allocations": len(paid),
            "settled": len(paid), "events": len(paid)}  # fmt: skip


def cpu_time() -> float:
    """This process's CPU seconds, and on PostgreSQL its server process's too (the import
    and the floor both run on Django's one connection; the cluster is local)."""
    from django.db import connection

    spent = time.process_time()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            [pid] = cursor.fetchone()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        spent += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return spent


def ledger(slug: str, n: int, customers: int) -> tuple[Any, list[Any]]:
    """An organisation of ``customers`` customers and ``n`` open invoices, FA0000000 on."""
    from relance.accounts.services import create_organisation
    from relance.ledger.models import Customer, Invoice

    org = create_organisation(slug, name=f"{slug} SAS")
    per = max(1, n // customers)
    Customer.objects.bulk_create(
        (Customer(organisation=org, reference=f"C{c:06d}", legal_name=f"Client {c}",
                  iban=f"FR76{c:023d}") for c in range(customers)),
        batch_size=5000,
    )  # fmt: skip
    found = list(Customer.objects.filter(organisation=org).order_by("reference"))
    Invoice.objects.bulk_create(
        (Invoice(organisation=org, customer=found[(i // per) % len(found)],
                 number=f"FA{i:07d}", issue_date=DAY - dt.timedelta(40),
                 due_date=DAY - dt.timedelta(10), currency="EUR",
                 amount=Decimal("100.25") + i, balance=Decimal("100.25") + i)
         for i in range(n)),
        batch_size=5000,
    )  # fmt: skip
    return org, found


def written(org: Any) -> dict[str, int]:
    """The rows an import of the statement wrote into ``org``, counted in the database."""
    from relance.bank.models import BankLine
    from relance.ledger.models import Allocation, Invoice, Payment, TimelineEvent

    return {
        "lines": BankLine.objects.filter(organisation=org).count(),
        "payments": Payment.objects.filter(organisation=org).count(),
        "allocations": Allocation.objects.filter(organisation=org).count(),
        "settled": Invoice.objects.filter(organisation=org, settled_on__isnull=False).count(),
        "events": TimelineEvent.objects.filter(organisation=org, kind="invoice_paid").count(),
    }


def statement(customers: list[Any], n: int) -> tuple[list[Any], list[tuple[str, str, str]]]:
    """The credits of the statement (``write_statement``), and what each is (``floor``'s
    plan): its status, the invoice it names, its customer's reference."""
    from relance.accounts.identity import payment_reference

    per = max(1, n // len(customers))
    credits, plan = [], []
    for i in range(n):
        customer = customers[(i // per) % len(customers)]
        amount, ustrd, strd, iban = Decimal("100.25") + i, "", "", ""
        kind, status, named = i % 10, "matched", f"FA{i:07d}"
        if kind < 5:  # the invoice number: exact
            ustrd = f"FACTURE FA{i:07d}"
        elif kind < 7:  # the RF reference, an invoice's amount: exact
            strd = payment_reference(customer)
        elif kind == 7:  # part of an invoice: probable
            ustrd, amount, status = f"ACOMPTE FA{i:07d}", amount - 50, "proposed"
        elif kind == 8:  # the IBAN: probable
            iban, status = customer.iban, "proposed"
        else:  # nothing: no match
            amount, status, named = Decimal("7.77"), "unmatched", ""
        credits.append((f"BQ{i:08d}", amount, ustrd, strd, iban))
        plan.append((status, named, customer.reference if named else ""))
    return credits, plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    from bench.__main__ import DATABASES

    with DATABASES[args.db]() as database:
        os.environ.update(database.env)
        run(args, database.name, database.version)


def run(args: argparse.Namespace, db: str, version: str) -> None:
    folder = Path(os.environ["RELANCE_DATA_DIR"])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relance.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from relance.bank import services

    n = args.lines
    org, customers = ledger("bench", n, args.customers)
    floor_org, _ = ledger("floor", n, args.customers)  # the same open items, for the floor
    credits, plan = statement(customers, n)
    path = folder / "statement.xml"
    write_statement(path, credits)
    size = path.stat().st_size / 1e6

    started, cpu = time.perf_counter(), cpu_time()
    first = services.import_statement(org, path, as_of=DAY)
    first_s, first_cpu = time.perf_counter() - started, cpu_time() - cpu
    wrote = written(org)  # the rows the import wrote, which the floor must write as many of
    assert wrote["lines"] == first.credits and wrote["payments"] == first.matched
    started, cpu = time.perf_counter(), cpu_time()
    again = services.import_statement(org, path, as_of=DAY)
    again_s, again_cpu = time.perf_counter() - started, cpu_time() - cpu
    started, cpu = time.perf_counter(), cpu_time()
    floor(path, floor_org.pk, plan)
    floor_s, floor_cpu = time.perf_counter() - started, cpu_time() - cpu
    if (floor_rows := written(floor_org)) != wrote:
        raise SystemExit(f"the floor wrote {floor_rows}, the import {wrote}")

    label = {"sqlite": f"SQLite {version}", "postgres": f"PostgreSQL {version}"}[db]
    driver = {"sqlite": "sqlite3", "postgres": "psycopg"}[db]
    print(f"A CAMT.053 statement of {n:,} credits ({size:.0f} MB) against {n:,} open items "
          f"of {args.customers:,} customers, {label}, on {os.cpu_count()} cores "
          f"(load average {os.getloadavg()[0]:.1f}):\n")  # fmt: skip
    print("| run | time | CPU | matched | to review | already imported |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(f"| first import | {first_s:.1f} s | {first_cpu:.1f} s | {first.matched:,} | "
          f"{first.proposed + first.unmatched:,} | {first.duplicates:,} |")  # fmt: skip
    print(f"| the same file again | {again_s:.1f} s | {again_cpu:.1f} s | {again.matched:,} | "
          f"{again.proposed + again.unmatched:,} | {again.duplicates:,} |")  # fmt: skip
    print(f"| floor: lxml + {driver} alone | {floor_s:.1f} s | {floor_cpu:.1f} s | | | |")
    rows = ", ".join(f"{value:,} {name}" for name, value in wrote.items())
    print(f"\nBoth wrote {rows}.")
    phases = ", ".join(f"{name} {value:.1f} s" for name, value in first.cpu.items())
    print(f"First import, CPU of this process: {phases} (read: the file parsed; match: the "
          "open items loaded and every credit matched; write: the rest, in one "
          "transaction).")  # fmt: skip
    print(f"First import: {first_cpu / floor_cpu:.1f} times the floor in CPU time "
          f"({first_s / floor_s:.1f} in wall-clock time), {first_cpu / n * 1e6:.0f} µs of CPU "
          f"a line; the same file again {again_cpu / floor_cpu:.1f} times.")  # fmt: skip


if __name__ == "__main__":
    main()
