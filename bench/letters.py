"""Letters: formal notices with ten invoices each, one by one as ``relance letter`` writes
them, and the print batch of 10,000 letters; on one core, with Typst alone on the same data
as the floor.

    .venv/bin/python -m bench.letters [--customers 500] [--batch 10000]

A SQLite database in a temporary RELANCE_DATA_DIR; prints Markdown for docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup() -> None:
    os.environ.setdefault("RELANCE_DATA_DIR", tempfile.mkdtemp(prefix="relance-bench-letters-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relance.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    setup()
    from relance.accounts.services import create_organisation
    from relance.documents import letters, printing, typesetting
    from relance.documents.models import Letter
    from relance.ledger.models import Address, Customer, Invoice

    day = date(2026, 3, 20)
    org = create_organisation("bench", name="Bench SAS")
    org.legal_name, org.siren, org.iban = (
        "Bench Industrie SAS",
        "732829320",
        "FR7630006000011234567890189",
    )
    org.address = "12 rue de la Paix\n75002 Paris"
    org.save()
    customers = Customer.objects.bulk_create(
        Customer(organisation=org, reference=f"C{i:05d}", legal_name=f"Client {i} SARL",
                 siren="552100554")
        for i in range(args.customers)
    )  # fmt: skip
    Address.objects.bulk_create(
        Address(organisation=org, customer=c, kind="billing", line1=f"{i} rue du Commerce",
                postcode=f"{10000 + (i * 7919) % 85000:05d}", city="Ville")
        for i, c in enumerate(customers)
    )  # fmt: skip
    Invoice.objects.bulk_create(
        Invoice(organisation=org, customer=c, number=f"F{i:05d}-{k}", issue_date=date(2025, 10, 1)
                + timedelta(days=7 * k), due_date=date(2025, 11, 1) + timedelta(days=7 * k),
                currency="EUR", amount=Decimal("1000.50") + k, balance=Decimal("1000.50") + k)
        for i, c in enumerate(customers) for k in range(10)
    )  # fmt: skip
    by_customer: dict[int, list[Invoice]] = {}
    for invoice in Invoice.objects.filter(organisation=org).order_by("due_date"):
        by_customer.setdefault(invoice.customer_id, []).append(invoice)

    # Formal notices, one by one (the first one pays for loading fonts: not counted).
    tables: dict = {}
    requests = [
        letters.Request(org, c, "formal_notice", day, by_customer[c.pk], tables=tables)
        for c in customers
    ]
    letters.write(requests[0])
    start = time.perf_counter()
    built = []
    for request in requests:
        letter, _pdf = letters.write(request)
        built.append(letter)
    notices = time.perf_counter() - start
    project = letters.project_of(org)
    start = time.perf_counter()
    for letter in built:
        typesetting.compile_letters(project, [(letter.module, letter.data)], title="t", author="a")
    # One core: the PDFs of the batch stay in memory, a few hundred megabytes at 10,000.
    notices_floor = time.perf_counter() - start

    # The print batch: 10,000 letters filed, typeset in one document in postal order.
    rows = [
        Letter(organisation=org, customer_id=letter.request.customer.pk,
               template="formal_notice", module=letter.module, language="fr", day=day,
               recipient=letter.data["to"], country="FR", postcode=letter.data["postcode"],
               data=letter.data, pdf="")
        for k in range(args.batch) for letter in [built[k % len(built)]]
    ]  # fmt: skip
    Letter.objects.bulk_create(rows, batch_size=1000)
    start = time.perf_counter()
    made = printing.make_batch(org, day)
    batch = time.perf_counter() - start
    start = time.perf_counter()
    for k in range(0, len(rows), printing.CHUNK):
        typesetting.compile_letters(
            project, [(row.module, row.data) for row in rows[k : k + printing.CHUNK]],
            title="t", author="a", tagged=False,
        )  # fmt: skip
    batch_floor = time.perf_counter() - start

    n = len(requests)
    print(f"\n### Letters ({platform.processor() or platform.machine()}, one core, "
          f"Python {platform.python_version()}, SQLite)\n")  # fmt: skip
    print("| work | letters | seconds | letters/s | floor: Typst alone, s | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| formal notices, 10 invoices each, one PDF each | {n:,} | {notices:.2f} | "
        f"{n / notices:,.0f} | {notices_floor:.2f} | {notices / notices_floor:.2f} |"
    )
    count = made.batch.count
    print(f"| print batch, one PDF in postal order | {count:,} | {batch:.2f} | "
          f"{count / batch:,.0f} | {batch_floor:.2f} | {batch / batch_floor:.2f} |")  # fmt: skip
    print(f"\nbatch PDF: {len(made.pdf) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
