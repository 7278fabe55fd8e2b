"""The one set of builders tests make their data with.

Balances are never typed in: an invoice starts at its amount and every payment or credit
note goes through an allocation and ``balances.refresh``, the code the imports use, so a
test sees the balances the product would compute. Pauses go through the services of
``relance.dunning.pauses`` (which also write the timeline), scenarios through the models.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from relance.accounts.models import Organisation
from relance.dunning import pauses
from relance.dunning.models import PaymentPlan, Promise, Scenario, Step
from relance.ledger import balances
from relance.ledger.models import Allocation, Contact, Customer, Dispute, Hold, Invoice, Payment

_serial = itertools.count(1)

# The contract's worked example: J-5 e-mail, J+5 e-mail, J+8 call, J+15 e-mail, J+30 letter
# as (offset, min_gap, channel, template).
EXAMPLE_STEPS: tuple[tuple[int, int, str, str], ...] = (
    (-5, 0, "email", "courtesy"),
    (5, 3, "email", "first_reminder"),
    (8, 3, "call", "call"),
    (15, 5, "email", "firm_reminder"),
    (30, 10, "letter", "registered_letter"),
)


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def money(value: str | int | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def organisation(slug: str = "acme", **fields: Any) -> Organisation:
    from relance.accounts.services import create_organisation

    name = fields.pop("name", f"{slug.title()} SAS")
    # A reply address, as a run requires one; pass email="" for an organisation without.
    fields.setdefault("email", f"compta@{slug}.test")
    org = create_organisation(slug, name=name)
    if fields:
        for key, value in fields.items():
            setattr(org, key, value)
        org.save()
    return org


def customer(org: Organisation, reference: str | None = None, **fields: Any) -> Customer:
    reference = reference or f"C{next(_serial)}"
    fields.setdefault("legal_name", f"Client {reference} SAS")
    return Customer.objects.create(organisation=org, reference=reference, **fields)


def invoice(
    customer: Customer,
    number: str | None = None,
    *,
    due: dt.date,
    amount: str | int | Decimal = "100.00",
    issued: dt.date | None = None,
    currency: str = "EUR",
    **fields: Any,
) -> Invoice:
    """An open invoice whose balance is its amount; pay it with ``pay``/``credit``."""
    number = number or f"F{next(_serial):05d}"
    value = money(amount)
    return Invoice.objects.create(
        organisation_id=customer.organisation_id, customer=customer, number=number,
        issue_date=issued or due - days(30), due_date=due, currency=currency, amount=value,
        balance=value, **fields,
    )  # fmt: skip


def pay(
    invoice: Invoice,
    amount: str | int | Decimal | None = None,
    *,
    on: dt.date,
    kind: str = "payment",
    reference: str | None = None,
) -> Payment:
    """A payment (or, with ``kind="credit_note"``, a credit note) allocated to ``invoice``
    on ``on``; the balance is recomputed by the product's own code. Without an amount it
    pays what is left."""
    invoice.refresh_from_db()
    value = invoice.balance if amount is None else money(amount)
    payment = Payment.objects.create(
        organisation_id=invoice.organisation_id, customer_id=invoice.customer_id, kind=kind,
        reference=reference or f"{kind.upper()}-{next(_serial)}", date=on,
        currency=invoice.currency, amount=value,
    )  # fmt: skip
    Allocation.objects.create(
        organisation_id=invoice.organisation_id, payment=payment, invoice=invoice,
        amount=value, date=on,
    )  # fmt: skip
    balances.refresh(invoice.organisation_id, [invoice.pk])
    invoice.refresh_from_db()
    return payment


def credit(invoice: Invoice, amount: str | int | Decimal, *, on: dt.date) -> Payment:
    return pay(invoice, amount, on=on, kind="credit_note")


def scenario(
    org: Organisation,
    steps: Iterable[tuple[Any, ...]] = EXAMPLE_STEPS,
    *,
    slug: str = "example",
    default: bool = True,
    replace: bool = True,
    **fields: Any,
) -> Scenario:
    """A scenario from (offset, min_gap, channel, template[, mode[, min_amount]]) tuples.
    By default it replaces the scenarios every organisation gets and becomes the default."""
    if replace:
        Scenario.objects.filter(organisation=org).delete()
    made = Scenario.objects.create(
        organisation=org, slug=slug, name=fields.pop("name", slug.title()), is_default=default,
        **fields,
    )  # fmt: skip
    for position, step in enumerate(steps, start=1):
        offset, gap, channel, template, *rest = step
        extra: dict[str, Any] = {}
        if rest:
            extra["mode"] = rest[0]
        if len(rest) > 1 and rest[1] is not None:
            extra["min_amount"] = money(rest[1])
        Step.objects.create(
            organisation=org, scenario=made, position=position, name=template, offset=offset,
            min_gap=gap, channel=channel, template=template, **extra,
        )  # fmt: skip
    return made


def dispute(invoice: Invoice, *, on: dt.date, reason: str = "quality", **kw: Any) -> Dispute:
    return pauses.open_dispute(invoice, reason=reason, on=on, **kw)


def promise(
    customer: Customer, *, promised_on: dt.date, invoice: Invoice | None = None, **kw: Any
) -> Promise:
    return pauses.record_promise(customer, promised_on=promised_on, invoice=invoice, **kw)


def hold(customer: Customer, *, start: dt.date, kind: str = "manual", **kw: Any) -> Hold:
    return pauses.place_hold(customer, kind=kind, start=start, **kw)


def plan(
    customer: Customer,
    invoices: Sequence[Invoice],
    instalments: Sequence[tuple[dt.date, str | int | Decimal]],
    *,
    on: dt.date,
) -> PaymentPlan:
    return pauses.agree_plan(
        customer, invoices, [(when, money(amount)) for when, amount in instalments], on=on
    )


LEDGER_MAPPING = """
name: ledger-csv
record: invoice
columns:
  customer.reference: Client
  customer.legal_name: Nom
  customer.email: Email
  invoice.number: Facture
  invoice.issue_date: Date
  invoice.due_date: Echeance
  invoice.amount: Montant
  invoice.disputed: Litige
"""


# The open items of an accounting export, as the import tests write them.
OPEN_ITEMS_MAPPING = """
name: open-items
record: invoice
columns:
  customer.reference: Client
  invoice.number: Facture
  invoice.issue_date: Date
  invoice.due_date: Echeance
  invoice.amount: Montant
"""
OPEN_ITEMS_HEADER = "Client;Facture;Date;Echeance;Montant"


def text_file(
    path: Path, lines: Iterable[str], *, encoding: str = "utf-8", newline: str = "\n"
) -> Path:
    """A file of ``lines``, each ended by ``newline``, as an export writes it."""
    path.write_bytes("".join(line + newline for line in lines).encode(encoding))
    return path


def mapping_file(path: Path, text: str) -> Path:
    """An import mapping's YAML ``text`` written to ``path``."""
    path.write_text(text, encoding="utf-8")
    return path


def ledger_by_keys(
    org: Organisation, *, log: bool = False, fingerprints: bool = True
) -> dict[str, list[tuple[str, ...]]]:
    """What an import writes into ``org``'s ledger, by natural keys and as text, to compare
    two organisations or a ledger before and after; with ``log``, its import log, audit
    trail and timeline too; without ``fingerprints``, not the invoices' import fingerprints
    (for a ledger whose fingerprints a test erased)."""
    from relance.audit.models import AuditEvent
    from relance.ledger.models import ImportRun, TimelineEvent

    mine = {"organisation": org}
    rows = {
        "customers": Customer.objects.filter(**mine).values_list(
            "reference", "legal_name", "siren", "currency", "payment_terms_days", "source"
        ),
        "contacts": Contact.objects.filter(**mine).values_list(
            "customer__reference", "name", "email", "is_primary"
        ),
        "invoices": Invoice.objects.filter(**mine).values_list(
            "number", "customer__reference", "issue_date", "due_date", "due_date_derived",
            "amount", "amount_excl_tax", "tax_amount", "balance", "settled_on", "source",
            "moves_on", *(["import_fingerprint"] if fingerprints else []),
        ),
        "payments": Payment.objects.filter(**mine).values_list(
            "reference", "customer__reference", "kind", "date", "amount", "memo", "source"
        ),
        "allocations": Allocation.objects.filter(**mine).values_list(
            "payment__reference", "invoice__number", "amount", "date"
        ),
        "disputes": Dispute.objects.filter(**mine).values_list(
            "invoice__number", "opened_on", "resolved_on", "resolution", "note"
        ),
    }  # fmt: skip
    if log:
        rows |= {
            "runs": ImportRun.objects.filter(**mine).values_list(
                "file_name", "format", "sha256", "status", "counts", "error"
            ),
            "audit": AuditEvent.objects.filter(**mine, action__startswith="import.")
            .values_list("action", "summary", "data"),
            "timeline": TimelineEvent.objects.filter(**mine).values_list(
                "customer__reference", "kind", "summary", "data"
            ),
        }  # fmt: skip
    # JSON objects compared as such (PostgreSQL's jsonb keeps no order of keys).
    return {name: sorted(tuple(map(_text, r)) for r in values) for name, values in rows.items()}


def _text(value: Any) -> str:
    return str(sorted(value.items()) if isinstance(value, dict) else value)


def import_ledger(
    org: Organisation,
    folder: Any,
    invoices: Iterable[Invoice],
    *,
    disputed: Iterable[str] = (),
    on: dt.date,
) -> Any:
    """Import a CSV listing ``invoices`` (as they are) through the product's import path,
    with the dispute column set for the invoice numbers in ``disputed``."""
    from relance.ledger.imports import import_file
    from relance.ledger.imports.mapping import load_mapping

    flagged = set(disputed)
    lines = ["Client;Nom;Email;Facture;Date;Echeance;Montant;Litige"]
    for inv in invoices:
        cust = inv.customer
        lines.append(
            f"{cust.reference};{cust.legal_name};{cust.email};{inv.number};"
            f"{inv.issue_date:%d/%m/%Y};{inv.due_date:%d/%m/%Y};{inv.amount};"
            f"{'oui' if inv.number in flagged else 'non'}"
        )
    path = text_file(Path(folder) / f"ledger-{on.isoformat()}.csv", lines)
    mapping = mapping_file(Path(folder) / "ledger-mapping.yaml", LEDGER_MAPPING)
    return import_file(org, path, mapping=load_mapping(mapping), as_of=on)


def communication(
    customer: Customer,
    invoices: Sequence[Invoice],
    *,
    on: dt.date,
    channel: str = "email",
    template: str = "first_reminder",
    **fields: Any,
) -> Any:
    """A communication queued on ``on`` listing ``invoices`` at step 1, as a run plans it."""
    from relance.dunning.models import CommStatus, Communication, CommunicationItem

    fields.setdefault("status", CommStatus.QUEUED)
    comm = Communication.objects.create(
        organisation_id=customer.organisation_id, customer=customer, channel=channel,
        run_date=on, send_on=on, template=template, language=customer.language, **fields,
    )  # fmt: skip
    CommunicationItem.objects.bulk_create(
        CommunicationItem(organisation_id=comm.organisation_id, communication=comm,
                          invoice=invoice, step_position=1,
                          days_overdue=(on - invoice.due_date).days, balance=invoice.balance)
        for invoice in invoices
    )  # fmt: skip
    return comm


def received(
    customer: Customer,
    amount: str | int | Decimal,
    *,
    on: dt.date,
    allocations: Iterable[tuple[Invoice, str | int | Decimal, dt.date]] = (),
    kind: str = "payment",
    reference: str | None = None,
    currency: str = "EUR",
) -> Payment:
    """A payment received on ``on``, matched to invoices by ``allocations`` [(invoice,
    amount, date matched)] (none: an unallocated credit), the balances recomputed by the
    product's own code. ``pay`` is the common case: one invoice, matched the day it is paid."""
    payment = Payment.objects.create(
        organisation_id=customer.organisation_id, customer=customer, kind=kind,
        reference=reference or f"{kind.upper()}-{next(_serial)}", date=on, currency=currency,
        amount=money(amount),
    )  # fmt: skip
    matched = [
        Allocation(organisation_id=customer.organisation_id, payment=payment, invoice=invoice,
                   amount=money(part), date=when)
        for invoice, part, when in allocations
    ]  # fmt: skip
    if matched:
        Allocation.objects.bulk_create(matched)
        balances.refresh(customer.organisation_id, [a.invoice_id for a in matched])
    return payment


def _example_spec() -> Any:
    from relance.dunning.policy import ScenarioSpec, StepSpec

    return ScenarioSpec(1, "example", tuple(
        StepSpec(position, template.replace("_", " "), offset, gap, channel, template)
        for position, (offset, gap, channel, template) in enumerate(EXAMPLE_STEPS, start=1)
    ))  # fmt: skip


# The contract's example scenario as the pure policy sees it, for tests without a database.
EXAMPLE_SPEC = _example_spec()


def contact(customer: Customer, name: str, email: str, *, primary: bool = True) -> Contact:
    """A person at the customer; reminders go to the primary one's address."""
    return Contact.objects.create(
        organisation_id=customer.organisation_id, customer=customer, name=name, email=email,
        is_primary=primary,
    )  # fmt: skip


def member(org: Organisation, email: str, role: str = "admin") -> Any:
    """A user of ``org`` with ``role``; their password is ``PASSWORD``."""
    from relance.accounts.services import add_member

    return add_member(org, email, role, password=PASSWORD)


PASSWORD = "correct-horse-battery"


def lived_in(org: Organisation, folder: Any, *, today: dt.date, name: str) -> dict[str, list[str]]:
    """A small ledger as a credit team lives it, for tests that walk the console: customers
    with open items of every age, a payment, a credit note, a dispute, a promise, a hold, a
    payment plan, the run of ``today`` (its communications, tasks, timeline), a message
    awaiting approval, an open task, an import, members of each role (``<role>@<slug>.test``,
    the collector assigned to two customers). Names start with ``name``, invoice numbers
    with its first four letters, and amounts have odd cents, so that a page showing
    anything of it can be told. Answers what identifies it: names, numbers, amounts."""
    from relance.dunning import engine, tasks
    from relance.dunning.models import CommStatus, StepChannel
    from relance.dunning.task_titles import handed_over

    tag = name[:4].upper()
    users = {role: member(org, f"{role}@{org.slug}.test", role)
             for role in ("viewer", "collector", "manager", "admin")}  # fmt: skip
    people = [
        customer(org, f"{tag}-{n}", legal_name=f"{name} {what}", email=f"ap{n}@{org.slug}.test",
                 risk_class=risk, collector=users["collector"] if n < 2 else None)
        for n, (what, risk) in enumerate([("Industrie", "high"), ("Transports", "medium"),
                                         ("Boulangerie", "low"), ("Optique", "high")])
    ]  # fmt: skip
    # Amounts of its own: two ledgers built here never share one.
    shift = Decimal(sum(map(ord, name)) % 89 + 1) * 111
    base = ["7413.29", "6121.87", "5839.53", "4657.19", "3271.43", "2983.61", "1892.77"]
    amounts = [str(Decimal(a) + shift) for a in base]
    ages = [-10, 5, 20, 45, 75, 120, 200]
    items = [
        invoice(people[n % len(people)], f"{tag}-F{n:03d}", due=today - days(age), amount=amt)
        for n, (age, amt) in enumerate(zip(ages, amounts, strict=True))
    ]
    pay(items[2], "839.53", on=today - days(3))
    credit(items[6], "92.77", on=today - days(2))
    dispute(items[4], on=today - days(10), reason="quality")
    promise(people[1], promised_on=today + days(4), amount=money(amounts[1]))
    hold(people[3], start=today - days(1))
    schedule = [(today + days(10), "1000.00"), (today + days(40), str(Decimal(amounts[5]) - 1000))]
    plan(items[5].customer, [items[5]], schedule, on=today - days(1))
    Path(folder).mkdir(parents=True, exist_ok=True)
    import_ledger(org, folder, [items[0], items[1]], on=today - days(1))
    engine.run(org, today)
    communication(people[0], [items[3]], on=today, status=CommStatus.AWAITING_APPROVAL,
                  template="firm_reminder")  # fmt: skip
    # Titled as the outbox titles a call, in the organisation's language.
    title = handed_over(StepChannel.CALL, "call", people[0].legal_name, 1,
                        [(Decimal(amounts[3]), items[3].currency)])  # fmt: skip
    tasks.open_task(org, key=f"walk:{tag}", customer_id=people[0].pk, kind="call", title=title,
                    due_on=today)  # fmt: skip
    return {
        "names": [c.legal_name for c in people] + [org.name],
        "numbers": [i.number for i in items],
        "amounts": amounts,
    }


def address(
    customer: Customer,
    line1: str = "4 avenue des Tilleuls",
    *,
    postcode: str = "69003",
    city: str = "Lyon",
    kind: str = "billing",
    **fields: Any,
) -> Any:
    """A postal address of the customer (letters go to the dunning one, else billing)."""
    from relance.ledger.models import Address

    return Address.objects.create(
        organisation_id=customer.organisation_id, customer=customer, kind=kind, line1=line1,
        postcode=postcode, city=city, **fields,
    )  # fmt: skip


def pdf(title: str = "Letter", pages: int = 1) -> bytes:
    """A small valid PDF (pypdf), its title in its metadata."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)  # A4 in points
    writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def postal_address(customer: Customer, **fields: Any) -> Any:
    """The customer's billing address (line1, postcode, city; ``fields`` override them)."""
    values = {"line1": "12 rue des Lilas", "postcode": "69003", "city": "Lyon", **fields}
    return address(customer, **values)


def registered_letter(customer: Customer, *, provider: str = "", **kw: Any) -> Any:
    """A registered letter prepared for ``customer`` (an address is given it if it has
    none), through ``provider`` ("" = posted by hand)."""
    from relance.channels import registered_mail

    recipient = registered_mail.PostalAddress.of_customer(customer)
    if recipient is None:
        postal_address(customer)
        recipient = registered_mail.PostalAddress.of_customer(customer)
    assert recipient is not None
    return registered_mail.prepare(
        kw.pop("communication", None), customer.organisation, customer,
        kw.pop("pdf", None) or pdf(f"Mise en demeure {customer.reference}"), recipient,
        kw.pop("acknowledgement", True), provider_name=provider, **kw,
    )  # fmt: skip


def mobile_contact(customer: Customer, name: str, phone: str, *, primary: bool = True) -> Contact:
    """A person at the customer with a phone number (texts go to the primary one's)."""
    return Contact.objects.create(
        organisation_id=customer.organisation_id, customer=customer, name=name, phone=phone,
        is_primary=primary,
    )  # fmt: skip


def reply(
    customer: Customer,
    text: str,
    *,
    subject: str = "RE: Relance",
    sender: str | None = None,
    received: dt.datetime | None = None,
) -> Any:
    """A reply from the customer's first contact (or ``sender``) to the organisation's
    reply-to address, received by the product's own intake (routed, read, on the
    timeline, the customer's reminders paused until read)."""
    import email.utils
    from email.message import EmailMessage

    from relance.replies import intake

    contact = customer.contacts.order_by("pk").first()
    message = EmailMessage()
    message["From"] = sender or (contact.email if contact else customer.email)
    message["To"] = customer.organisation.reply_to or customer.organisation.email
    message["Subject"] = subject
    message["Message-ID"] = email.utils.make_msgid(idstring=f"reply{next(_serial)}")
    if received is not None:
        message["Date"] = email.utils.format_datetime(received)
    message.set_content(text)
    outcome = intake.receive(intake.incoming(message), source="test")
    assert outcome.reply is not None, outcome
    return outcome.reply


def many_invoices(
    customer: Customer, count: int, *, due: dt.date, prefix: str = "FM-", amount: str = "100.00"
) -> list[str]:
    """``count`` open invoices of ``customer`` numbered ``{prefix}{n:06d}``, inserted in bulk
    (as ``invoice`` makes one), for tests at the scale of a large file; their numbers."""
    value = money(amount)
    numbers = [f"{prefix}{n:06d}" for n in range(count)]
    Invoice.objects.bulk_create(
        (Invoice(organisation_id=customer.organisation_id, customer=customer, number=number,
                 issue_date=due - days(30), due_date=due, currency="EUR", amount=value,
                 balance=value) for number in numbers),
        batch_size=5000,
    )  # fmt: skip
    return numbers
