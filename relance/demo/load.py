"""Write the demo organisation, its user, its ledger and its past into the database.

The ledger arrives over the last weeks and Relance works on it day by day
(``relance.demo.past``): the demo opens on reminders sent, calls made, promises, disputes,
a payment plan and approvals waiting, as a credit manager finds them any morning.

Loading twice for the same day changes nothing. Loading for another day (or after the
generator changed) deletes the organisation's ledger and everything Relance did with it, and
replays it from scratch: the invoices of the new data set are not the old ones under new
dates, so updating them in place would mix two histories.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from relance.accounts.models import Organisation, Role
from relance.accounts.services import add_member, create_organisation
from relance.channels.models import RegisteredLetter
from relance.demo.generator import DemoData, generate
from relance.demo.past import Past, replay
from relance.documents.models import Letter, PrintBatch
from relance.dunning.models import (
    Communication,
    CommunicationItem,
    ItemState,
    PaymentPlan,
    Promise,
    Task,
)
from relance.ledger.models import (
    Allocation,
    Customer,
    Dispute,
    Hold,
    ImportRun,
    Invoice,
    Payment,
    TimelineEvent,
)

ORGANISATION_NAME = "Démo Industrie SAS"
USER_EMAIL = "demo@relance.example"
USER_PASSWORD = "relance-demo"
# The credit team around the demo user (an administrator): who works which customers,
# so that the console shows a team's day. They sign in with the demo password too.
TEAM = (
    ("camille.martin@demo-industrie.example", Role.COLLECTOR),
    ("hugo.bernard@demo-industrie.example", Role.COLLECTOR),
    ("ines.moreau@demo-industrie.example", Role.MANAGER),
    ("lea.petit@demo-industrie.example", Role.VIEWER),
)

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
    "signature": "Service recouvrement\nDémo Industrie SAS",  # address and phone follow it
    # A made-up bank (code 99999) with valid check digits: RIB key and IBAN.
    "iban": "FR7699999000010001234567809",
    "bic": "DEMOFRPP",
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
    return load(today, slug=slug, seed=seed, customers=customers, progress=progress)[0]


def load(
    today: dt.date,
    *,
    slug: str = "demo",
    seed: int = 2026,
    customers: int = 300,
    progress: Progress | None = None,
) -> tuple[Organisation, Past | None]:
    """The demo as of ``today``, and what its replay did (None: it was loaded already)."""
    data = generate(today, seed=seed, customers=customers)
    with transaction.atomic():
        organisation = ensure_organisation(slug)
        add_member(organisation, USER_EMAIL, Role.ADMIN, password=USER_PASSWORD)
        if is_loaded(organisation, data):
            return organisation, None
        clear(organisation)
        user = get_user_model().objects.get(email=USER_EMAIL)
        mail = mail_root() / slug / data.batch.sha256[:16]
        shutil.rmtree(mail, ignore_errors=True)
        past = replay(organisation, data, mail_dir=mail, user_id=user.pk, progress=progress)
        assign_collectors(organisation)
        # The files are not in the transaction: older data sets' go once this one is in.
        transaction.on_commit(lambda: _remove_others(mail))
    return organisation, past


def assign_collectors(organisation: Organisation) -> None:
    """The team's members, and the customers each collector works: two in five each, by
    account, the fifth left to whoever picks it up (as small teams share them)."""
    team = {
        email: add_member(organisation, email, role, password=USER_PASSWORD) for email, role in TEAM
    }
    collectors = [team[email].pk for email, role in TEAM if role == Role.COLLECTOR]
    customers = list(
        Customer.objects.filter(organisation=organisation)
        .order_by("reference")
        .values_list("pk", flat=True)
    )
    for index, collector in enumerate(collectors):
        chosen = [pk for n, pk in enumerate(customers) if n % 5 in (2 * index, 2 * index + 1)]
        Customer.objects.filter(pk__in=chosen).update(collector_id=collector)


def mail_root() -> Path:
    return Path(settings.DATA_DIR) / "demo-mail"


def mail_dir(organisation: Organisation) -> Path | None:
    """Where the demo's e-mails were written instead of being sent: one directory per data
    set (the replay writes them as it goes; they outlive a failed load)."""
    run = (
        ImportRun.objects.filter(organisation=organisation, format="demo")
        .order_by("-pk")
        .values_list("sha256", flat=True)
        .first()
    )
    return mail_root() / organisation.slug / run[:16] if run else None


def _remove_others(kept: Path) -> None:
    for other in kept.parent.iterdir():
        if other != kept:
            shutil.rmtree(other, ignore_errors=True)


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


def is_loaded(organisation: Organisation, data: DemoData) -> bool:
    """True when the organisation holds this very data set, replayed to its end (the replay
    is one transaction)."""
    return ImportRun.objects.filter(
        organisation=organisation, format=data.batch.format, sha256=data.batch.sha256,
        status=ImportRun.Status.DONE,
    ).exists()  # fmt: skip


def clear(organisation: Organisation) -> None:
    """Delete the ledger and what Relance did with it, children first: invoices and
    payments protect their customer. Set-based deletes: a cascade through the ORM would
    fetch every row first."""
    org = organisation
    # Letters and registered letters name their communication: they go first.
    RegisteredLetter.objects.filter(organisation=org).delete()
    Letter.objects.filter(organisation=org).delete()
    PrintBatch.objects.filter(organisation=org).delete()
    CommunicationItem.objects.filter(communication__organisation=org)._raw_delete("default")
    Task.objects.filter(organisation=org).delete()
    Communication.objects.filter(organisation=org)._raw_delete("default")
    TimelineEvent.objects.filter(organisation=org)._raw_delete("default")
    Promise.objects.filter(organisation=org).delete()
    PaymentPlan.objects.filter(organisation=org).delete()
    ItemState.objects.filter(invoice__organisation=org)._raw_delete("default")
    Dispute.objects.filter(organisation=org).delete()
    Hold.objects.filter(organisation=org).delete()
    Allocation.objects.filter(organisation=org)._raw_delete("default")
    Payment.objects.filter(organisation=org)._raw_delete("default")
    Invoice.objects.filter(organisation=org).delete()
    Customer.objects.filter(organisation=org).delete()
    ImportRun.objects.filter(organisation=org, format="demo").delete()
