"""The floor of an import: the receivables file of bench/generate.py parsed with the csv
module and a few string operations, and the rows an import of it creates inserted by the
database driver alone (``relance.lib.bulk``: executemany on SQLite, COPY on PostgreSQL),
into a new organisation, in one transaction. No checks, no comparison, no balances code,
no audit: what an import cannot go below on this machine.

    python -m bench.floor FILE ORG_SLUG      (RELANCE_DATA_DIR / DATABASE_URL as for relance)
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any


def _money(text: str) -> Decimal:
    return Decimal(text.replace("\u202f", "").replace(" ", "").replace(",", "."))


def _date(text: str) -> dt.date:
    return dt.date(int(text[6:10]), int(text[3:5]), int(text[:2]))


def floor(path: Path, slug: str) -> dict[str, int]:
    from django.db import transaction

    from relance.accounts.services import create_organisation
    from relance.ledger.models import Allocation, Customer, Invoice, Payment
    from relance.lib import bulk

    org = create_organisation(slug, name="Floor", email="floor@bench.test")
    today = dt.date.today()
    customers: dict[str, tuple[str, str]] = {}
    invoices: list[tuple[Any, ...]] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter=";")
        next(reader)
        for ref, name, siren, number, issued, due, excl, amount, left in reader:
            customers[ref] = (name, siren)
            total = _money(amount)
            invoices.append((ref, number, _date(issued), _date(due), _money(excl), total,
                             _money(left)))  # fmt: skip
    with transaction.atomic():
        p = bulk.plain
        bulk.create(Customer, ({"organisation_id": org.pk, "reference": ref, "legal_name": name,
                                "siren": siren, "currency": "EUR"}
                               for ref, (name, siren) in customers.items()))  # fmt: skip
        ids = dict(Customer.objects.filter(organisation=org).values_list("reference", "pk"))
        bulk.create(Invoice, ({"organisation_id": org.pk, "customer_id": ids[ref],
                               "number": number, "issue_date": p(issued), "due_date": p(due),
                               "currency": "EUR", "amount": p(amount), "amount_excl_tax": p(excl),
                               "tax_amount": p(amount - excl), "balance": p(left)}
                              for ref, number, issued, due, excl, amount, left
                              in invoices))  # fmt: skip
        paid = [(ids[ref], number, amount - left) for ref, number, _, _, _, amount, left
                in invoices if left < amount]  # fmt: skip
        bulk.create(Payment, ({"organisation_id": org.pk, "customer_id": cid,
                               "reference": f"{number}/paid", "kind": "settlement",
                               "date": p(today), "currency": "EUR", "amount": p(amount)}
                              for cid, number, amount in paid))  # fmt: skip
        invoice_ids = dict(Invoice.objects.filter(organisation=org).values_list("number", "pk"))
        payment_ids = dict(Payment.objects.filter(organisation=org).values_list("reference", "pk"))
        bulk.create(Allocation, ({"organisation_id": org.pk,
                                  "payment_id": payment_ids[f"{number}/paid"],
                                  "invoice_id": invoice_ids[number], "amount": p(amount),
                                  "date": p(today)}
                                 for _, number, amount in paid))  # fmt: skip
    return {"rows": len(invoices), "customers": len(customers), "invoices": len(invoices),
            "payments": len(paid), "allocations": len(paid)}  # fmt: skip


def main() -> None:
    import django

    django.setup()
    print(json.dumps(floor(Path(sys.argv[1]), sys.argv[2])))


if __name__ == "__main__":
    main()
