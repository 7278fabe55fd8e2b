"""Write the demo organisation, its user and its ledger into the database.

Loading twice for the same day changes nothing. Loading for another day (or after the
generator changed) regenerates the ledger from scratch: the invoices of the new data set
are not the old ones under new dates, so updating them in place would mix two histories.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import transaction

from relance.accounts.models import Organisation, Role
from relance.accounts.services import add_member, create_organisation
from relance.demo.generator import DemoData, DisputeSpec, HoldSpec, generate
from relance.ledger.imports.apply import apply_batch
from relance.ledger.models import (
    Allocation,
    Customer,
    Dispute,
    Hold,
    ImportRun,
    Invoice,
    Payment,
)

ORGANISATION_NAME = "Démo Industrie SAS"
USER_EMAIL = "demo@relance.example"
USER_PASSWORD = "relance-demo"

# The creditor: an industrial supplier in Lyon. Its SIREN and VAT number are made up but
# carry valid check digits, as letters print them.
ORGANISATION_FIELDS = {
    "name": ORGANISATION_NAME,
    "legal_name": ORGANISATION_NAME,
    "siren": "900000019",
    "vat_number": "FR25900000019",
    "country": "FR",
    "currency": "EUR",
    "language": "fr",
    "timezone": "Europe/Paris",
    "email": "relances@demo-industrie.example",
    "phone": "04 72 00 00 00",
    "address": "12 rue de l'Industrie\n69007 Lyon",
}

Progress = Callable[[str, int, int], None]


def load_demo(
    today: dt.date,
    *,
    slug: str = "demo",
    seed: int = 2026,
    customers: int = 300,
    progress: Progress | None = None,
) -> Organisation:
    data = generate(today, seed=seed, customers=customers)
    with transaction.atomic():
        organisation = ensure_organisation(slug)
        add_member(organisation, USER_EMAIL, Role.ADMIN, password=USER_PASSWORD)
        if is_stale(organisation, data):
            clear_ledger(organisation)
        apply_batch(organisation, data.batch, as_of=today, progress=progress)
        describe_disputes(organisation, data.disputes)
        create_holds(organisation, data.holds)
    return organisation


def ensure_organisation(slug: str) -> Organisation:
    organisation = Organisation.objects.filter(slug=slug).first()
    if organisation is None:
        fields = {k: v for k, v in ORGANISATION_FIELDS.items() if k != "name"}
        return create_organisation(slug, name=ORGANISATION_NAME, **fields)
    changed = [k for k, v in ORGANISATION_FIELDS.items() if getattr(organisation, k) != v]
    for name in changed:
        setattr(organisation, name, ORGANISATION_FIELDS[name])
    if changed:
        organisation.save(update_fields=changed)
    return organisation


def is_stale(organisation: Organisation, data: DemoData) -> bool:
    """True when the ledger holds demo data generated differently (another day)."""
    last = (
        ImportRun.objects.filter(
            organisation=organisation, format=data.batch.format, status=ImportRun.Status.DONE
        )
        .order_by("-started_at", "-pk")
        .first()
    )
    return last is not None and last.sha256 != data.batch.sha256


def clear_ledger(organisation: Organisation) -> None:
    """Delete the ledger, children first: invoices and payments protect their customer."""
    Allocation.objects.filter(organisation=organisation).delete()
    Payment.objects.filter(organisation=organisation).delete()
    Invoice.objects.filter(organisation=organisation).delete()
    Customer.objects.filter(organisation=organisation).delete()


def describe_disputes(organisation: Organisation, specs: list[DisputeSpec]) -> None:
    """The import opens a bare dispute for each flagged invoice; give it the demo's story."""
    by_number = {spec.invoice: spec for spec in specs}
    disputes = list(
        Dispute.objects.filter(
            organisation=organisation, source="demo", invoice__number__in=list(by_number)
        ).select_related("invoice")
    )
    changed = []
    for dispute in disputes:
        spec = by_number[dispute.invoice.number]
        values = {
            "reason": spec.reason,
            "opened_on": spec.opened_on,
            "note": spec.note,
            "amount": spec.amount,
        }
        if any(getattr(dispute, k) != v for k, v in values.items()):
            for name, value in values.items():
                setattr(dispute, name, value)
            changed.append(dispute)
    Dispute.objects.bulk_update(changed, ["reason", "opened_on", "note", "amount"])


def create_holds(organisation: Organisation, specs: list[HoldSpec]) -> None:
    ids = dict(
        Customer.objects.filter(
            organisation=organisation, reference__in=[s.customer for s in specs]
        ).values_list("reference", "pk")
    )
    for spec in specs:
        Hold.objects.update_or_create(
            organisation=organisation,
            customer_id=ids[spec.customer],
            kind=spec.kind,
            start_date=spec.start_date,
            defaults={
                "reason": spec.reason,
                "end_date": spec.end_date,
                "published_on": spec.published_on,
            },
        )
