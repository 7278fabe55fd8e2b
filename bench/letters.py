"""Letters: formal notices with ten invoices each, one by one as ``relance letter`` and the
letter channel write them (floor: Typst alone on the same data, in a process of its own),
and the print batch of 10,000 filed letters (floor: PDFium joining the same files); on one
core.

    .venv/bin/python -m bench.letters [--customers 500] [--batch 10000]

A SQLite database in a temporary RELANCE_DATA_DIR; prints Markdown for docs/performance.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
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


def typst_alone(root: str, letters: list[tuple[str, dict]]) -> float:
    """The floor of the formal notices: the ``typst`` module compiling the same data, one
    PDF each, in a process of its own (Typst memoizes what it laid out: a second
    typesetting in this process would cost less than a first one)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump({"root": root, "letters": letters}, file, default=str)
    out = subprocess.run(
        [sys.executable, "-m", "bench.letters", "--floor", file.name],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    os.unlink(file.name)
    return float(out.stdout.strip())


def floor_process(path: str) -> None:
    import typst

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with open(path) as file:
        job = json.load(file)
    compiler = typst.Compiler(root=job["root"], ignore_system_fonts=True)

    def compile_one(module: str, data: dict) -> bytes:
        main = (
            '#import "/relance.typ": letters\n'
            f'#import "/{module}.typ" as t0\n'
            "#letters(json(bytes(sys.inputs.data)), (t0,))\n"
        )
        payload = {"title": "t", "author": "a", "letters": [{**data, "template": 0}]}
        return compiler.compile(
            input=main.encode(), format="pdf", timestamp=0,
            sys_inputs={"data": json.dumps(payload, ensure_ascii=False)},
        )  # fmt: skip

    first, *rest = job["letters"]
    compile_one(*first)  # loading the fonts: not counted, as in the measured run
    start = time.perf_counter()
    for module, data in rest:
        compile_one(module, data)
    print(time.perf_counter() - start)


def pdfium_alone(paths: list[str]) -> float:
    """The floor of the batch: the same files read and joined by PDFium alone."""
    import pypdfium2

    start = time.perf_counter()
    joined = pypdfium2.PdfDocument.new()
    for path in paths:
        with open(path, "rb") as file:
            source = pypdfium2.PdfDocument(file.read())
        joined.import_pages(source)
        source.close()
    out = io.BytesIO()
    joined.save(out)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        return floor_process(args.floor)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    setup()
    from django.core.files.storage import default_storage

    from relance.accounts.services import create_organisation
    from relance.documents import letters, printing
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
    first, _pdf = letters.write(requests[0])  # loading the fonts: not counted
    start = time.perf_counter()
    built = [letters.write(request) for request in requests[1:]]
    notices = time.perf_counter() - start
    notices_floor = typst_alone(
        str(letters.project_of(org).root),
        [(letter.module, letter.data) for letter in [first, *(letter for letter, _ in built)]],
    )

    # The print batch: 10,000 letters filed (each its PDF), joined in postal order.
    rows = []
    for k in range(args.batch):
        letter, pdf = built[k % len(built)]
        name = default_storage.save(f"letters/bench/{k}.pdf", io.BytesIO(pdf))
        rows.append(
            Letter(organisation=org, customer_id=letter.request.customer.pk,
                   template="formal_notice", module=letter.module, language="fr", day=day,
                   recipient=letter.data["to"], country="FR", postcode=letter.data["postcode"],
                   data=letter.data, pdf=name)
        )  # fmt: skip
    Letter.objects.bulk_create(rows, batch_size=1000)
    start = time.perf_counter()
    made = printing.make_batch(org, day)
    batch = time.perf_counter() - start
    order = Letter.objects.filter(batch=made.batch).order_by(*printing.POSTAL_ORDER)
    batch_floor = pdfium_alone([default_storage.path(row.pdf.name) for row in order])

    n = len(built)
    print(f"\n### Letters ({platform.processor() or platform.machine()}, one core, "
          f"Python {platform.python_version()}, SQLite)\n")  # fmt: skip
    print("| work | letters | seconds | letters/s | floor, s | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| formal notices, 10 invoices each, one PDF each (floor: Typst alone) | {n:,} | "
        f"{notices:.2f} | "
        f"{n / notices:,.0f} | {notices_floor:.2f} | {notices / notices_floor:.2f} |"
    )
    count = made.batch.count
    print(f"| print batch, the filed PDFs joined (floor: PDFium alone) | {count:,} | {batch:.2f} | "
          f"{count / batch:,.0f} | {batch_floor:.2f} | {batch / batch_floor:.2f} |")  # fmt: skip
    print(f"\nbatch PDF: {len(made.pdf) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
