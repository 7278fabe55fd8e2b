"""A 100,000-line bank statement (CAMT.053) matched against 100,000 open items, beside its
floor: the same file parsed by lxml and the same rows inserted by the database driver
alone, in the same run. Prints Markdown for docs/performance.md.

    .venv/bin/python -m bench.bank [--lines 100000] [--customers 20000]

SQLite, in a temporary RELANCE_DATA_DIR. Each run's CPU time (this process's: SQLite runs
in it) is printed beside its wall-clock time: the ratio of CPU times holds on a loaded
machine, where the wall clock does not.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import tempfile
import time
from decimal import Decimal
from pathlib import Path

DAY = dt.date(2026, 11, 23)
NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"


def write_statement(path: Path, credits: list[tuple[str, Decimal, str, str, str]]) -> None:
    """credits: (bank reference, amount, Ustrd, Strd reference, debtor IBAN)."""
    with path.open("w", encoding="utf-8") as out:
        out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NS}">'
                  f"<BkToCstmrStmt><GrpHdr><MsgId>B</MsgId><CreDtTm>{DAY}T08:00:00</CreDtTm>"
                  f"</GrpHdr><Stmt><Id>S</Id><CreDtTm>{DAY}T08:00:00</CreDtTm><Acct><Id><IBAN>"
                  "FR7630006000011234567890189</IBAN></Id></Acct>\n")  # fmt: skip
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


def floor(path: Path, payments: int) -> float:
    """lxml and sqlite3 alone: read each entry's fields, insert the lines, the payments and
    their allocations into tables of the same shape, one transaction."""
    from lxml import etree

    started = time.perf_counter()
    ns = {"c": NS}
    rows = []
    for _, entry in etree.iterparse(str(path), tag=f"{{{NS}}}Ntry", resolve_entities=False,
                                    no_network=True):  # fmt: skip
        rows.append((
            entry.findtext("c:AcctSvcrRef", "", ns), entry.findtext("c:Amt", "", ns),
            entry.findtext("c:BookgDt/c:Dt", "", ns), entry.findtext("c:AddtlNtryInf", "", ns),
            entry.findtext("c:NtryDtls/c:TxDtls/c:RmtInf/c:Ustrd", "", ns),
            entry.findtext("c:NtryDtls/c:TxDtls/c:RltdPties/c:DbtrAcct/c:Id/c:IBAN", "", ns),
        ))  # fmt: skip
        entry.clear()
        while entry.getprevious() is not None:
            del entry.getparent()[0]
    with tempfile.TemporaryDirectory() as folder:
        db = sqlite3.connect(Path(folder) / "floor.sqlite3")
        db.execute("CREATE TABLE line (id INTEGER PRIMARY KEY, key TEXT UNIQUE, amount DECIMAL,"
                   " date DATE, label TEXT, remittance TEXT, iban TEXT, status TEXT)")  # fmt: skip
        db.execute("CREATE TABLE payment (id INTEGER PRIMARY KEY, reference TEXT UNIQUE,"
                   " amount DECIMAL, date DATE)")  # fmt: skip
        db.execute("CREATE TABLE allocation (id INTEGER PRIMARY KEY, payment INTEGER,"
                   " amount DECIMAL)")  # fmt: skip
        with db:
            db.executemany("INSERT INTO line VALUES (NULL, ?, ?, ?, ?, ?, ?, 'x')", rows)
            db.executemany("INSERT INTO payment VALUES (NULL, ?, ?, ?)",
                           [(r[0], r[1], r[2]) for r in rows[:payments]])  # fmt: skip
            db.executemany("INSERT INTO allocation VALUES (NULL, ?, ?)",
                           [(i + 1, r[1]) for i, r in enumerate(rows[:payments])])  # fmt: skip
        db.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="relance-bench-bank-"))
    os.environ["RELANCE_DATA_DIR"] = str(folder)
    os.environ["DATABASE_URL"] = ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relance.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from relance.accounts.identity import payment_reference
    from relance.accounts.services import create_organisation
    from relance.bank import services
    from relance.ledger.models import Customer, Invoice

    org = create_organisation("bench", name="Bench SAS")
    n, per = args.lines, max(1, args.lines // args.customers)
    Customer.objects.bulk_create(
        Customer(organisation=org, reference=f"C{c:06d}", legal_name=f"Client {c}",
                 iban=f"FR76{c:023d}")
        for c in range(args.customers)
    )  # fmt: skip
    customers = list(Customer.objects.filter(organisation=org).order_by("reference"))
    Invoice.objects.bulk_create(
        (Invoice(organisation=org, customer=customers[(i // per) % len(customers)],
                 number=f"FA{i:07d}", issue_date=DAY - dt.timedelta(40),
                 due_date=DAY - dt.timedelta(10), currency="EUR",
                 amount=Decimal("100.25") + i, balance=Decimal("100.25") + i)
         for i in range(n)),
        batch_size=5000,
    )  # fmt: skip
    credits = []
    for i in range(n):
        customer = customers[(i // per) % len(customers)]
        amount, ustrd, strd, iban = Decimal("100.25") + i, "", "", ""
        kind = i % 10
        if kind < 5:  # the invoice number: exact
            ustrd = f"FACTURE FA{i:07d}"
        elif kind < 7:  # the RF reference, an invoice's amount: exact
            strd = payment_reference(customer)
        elif kind == 7:  # part of an invoice: probable
            ustrd, amount = f"ACOMPTE FA{i:07d}", amount - 50
        elif kind == 8:  # the IBAN: probable
            iban = customer.iban
        else:  # nothing: no match
            amount = Decimal("7.77")
        credits.append((f"BQ{i:08d}", amount, ustrd, strd, iban))
    path = folder / "statement.xml"
    write_statement(path, credits)
    size = path.stat().st_size / 1e6

    started, cpu = time.perf_counter(), time.process_time()
    first = services.import_statement(org, path, as_of=DAY)
    first_s, first_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    again = services.import_statement(org, path, as_of=DAY)
    again_s, again_cpu = time.perf_counter() - started, time.process_time() - cpu
    cpu = time.process_time()
    floor_s = floor(path, first.matched)
    floor_cpu = time.process_time() - cpu

    print(f"A CAMT.053 statement of {n:,} credits ({size:.0f} MB) against {n:,} open items "
          f"of {args.customers:,} customers, SQLite, on {os.cpu_count()} cores:\n")  # fmt: skip
    print("| run | time | CPU | matched | to review | already imported |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(f"| first import | {first_s:.1f} s | {first_cpu:.1f} s | {first.matched:,} | "
          f"{first.proposed + first.unmatched:,} | {first.duplicates:,} |")  # fmt: skip
    print(f"| the same file again | {again_s:.1f} s | {again_cpu:.1f} s | {again.matched:,} | "
          f"{again.proposed + again.unmatched:,} | {again.duplicates:,} |")  # fmt: skip
    print(f"| floor: lxml + sqlite3 alone | {floor_s:.1f} s | {floor_cpu:.1f} s | | | |")
    phases = ", ".join(f"{name} {value:.1f} s" for name, value in first.cpu.items())
    print(f"\nFirst import, CPU: {phases} (read: the file parsed; match: the open items loaded "
          "and every credit matched; write: the rest, in one transaction).")  # fmt: skip
    print(f"First import: {first_cpu / floor_cpu:.1f} times the floor in CPU time "
          f"({first_s / floor_s:.1f} in wall-clock time), {first_cpu / n * 1e6:.0f} µs of CPU "
          f"a line; the same file again {again_cpu / floor_cpu:.1f} times.")  # fmt: skip


if __name__ == "__main__":
    main()
