"""The receivables ledger: customers, their contacts, invoices, payments and credit notes,
the allocations between them (French *lettrage*), disputes, holds and the timeline.

The balance of an item is derived from its allocations. It is also stored on the invoice
(``balance``, ``settled_on``) because the dunning run reads a million of them at once;
``relance.ledger.balances.refresh`` is the one place that recomputes it, set-based, in the
transaction that changed the allocations.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from relance.accounts.models import Organisation
from relance.lib.fields import RowIdAutoField


class Language(models.TextChoices):
    FR = "fr", "Français"
    EN = "en", "English"


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("Text message")
    LETTER = "letter", _("Letter")
    PHONE = "phone", _("Phone")


class RiskClass(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class Customer(models.Model):
    """A debtor of the organisation."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # The customer's account in the organisation's books (FEC ``CompAuxNum``, ERP code).
    reference = models.CharField(_("account"), max_length=64)
    legal_name = models.CharField(_("legal name"), max_length=200)
    trade_name = models.CharField(_("trade name"), max_length=200, blank=True)
    siren = models.CharField("SIREN", max_length=9, blank=True)
    siret = models.CharField("SIRET", max_length=14, blank=True)
    vat_number = models.CharField(_("VAT number"), max_length=20, blank=True)
    email = models.EmailField(_("billing e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default=Language.FR
    )
    country = models.CharField(_("country"), max_length=2, default="FR")
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    # French legal default (L441-10): 30 days when nothing is agreed.
    payment_terms_days = models.PositiveSmallIntegerField(_("payment terms (days)"), default=30)
    credit_limit = models.DecimalField(
        _("credit limit"), null=True, blank=True, max_digits=18, decimal_places=2
    )
    risk_class = models.CharField(
        _("risk class"), max_length=8, choices=RiskClass.choices, default=RiskClass.MEDIUM
    )
    customer_since = models.DateField(_("customer since"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # The account the customer pays from, compact (relance.bank matches transfers by it).
    iban = models.CharField("IBAN", max_length=34, blank=True)
    # The member who works this customer; a collector works theirs and the unassigned.
    collector = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("collector"),
    )  # fmt: skip
    source = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["legal_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "reference"], name="customer_reference_unique"
            )
        ]
        indexes = [
            models.Index(fields=["organisation", "collector"], name="customer_collector"),
            # The console's list sorted by name, a page at a time.
            models.Index(fields=["organisation", "legal_name"], name="customer_by_name"),
            # The list filtered by risk class: few customers are high risk.
            models.Index(fields=["organisation", "risk_class"], name="customer_by_risk"),
        ]

    def __str__(self) -> str:
        return self.legal_name


class AddressKind(models.TextChoices):
    BILLING = "billing", _("Billing")
    DUNNING = "dunning", _("Dunning (letters)")
    DELIVERY = "delivery", _("Delivery")


class Address(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="addresses")
    kind = models.CharField(max_length=16, choices=AddressKind.choices)
    line1 = models.CharField(_("address"), max_length=200)
    line2 = models.CharField(_("address (continued)"), max_length=200, blank=True)
    postcode = models.CharField(_("postcode"), max_length=16, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, default="FR")
    valid = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "kind"], name="address_kind_unique")
        ]

    def __str__(self) -> str:
        return ", ".join(p for p in (self.line1, self.line2, self.postcode, self.city) if p)


class Contact(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(_("name"), max_length=200)
    role = models.CharField(_("role"), max_length=100, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    preferred_channel = models.CharField(
        _("preferred channel"), max_length=8, choices=Channel.choices, default=Channel.EMAIL
    )
    # The contact reminders go to; others are copied or kept for calls.
    is_primary = models.BooleanField(_("dunning contact"), default=False)
    email_valid = models.BooleanField(default=True)
    phone_valid = models.BooleanField(default=True)

    class Meta:
        ordering = ["-is_primary", "name"]

    def __str__(self) -> str:
        return self.name


class HoldKind(models.TextChoices):
    MANUAL = "manual", _("Manual hold")
    NEGOTIATION = "negotiation", _("Under negotiation")
    INSOLVENCY = "insolvency", _("Collective proceedings")
    # A customer's reply nobody has read yet (relance.replies): lifted when a person reads it.
    REPLY = "reply", _("Reply to read")
    # Money received and not yet applied that covers the overdue items (relance.bank):
    # lifted when the cash is applied.
    UNAPPLIED = "unapplied", _("Unapplied cash")


class Hold(models.Model):
    """A reason to stop dunning a whole customer, for a while or for good."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="holds")
    kind = models.CharField(max_length=16, choices=HoldKind.choices)
    reason = models.TextField(_("reason"), blank=True)
    start_date = models.DateField(_("from"))
    end_date = models.DateField(_("until"), null=True, blank=True)
    # Collective proceedings: publication in the BODACC starts the two months to declare.
    published_on = models.DateField(_("published on"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["organisation", "customer"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.start_date}"


class InvoiceKind(models.TextChoices):
    INVOICE = "invoice", _("Invoice")
    DEBIT_NOTE = "debit_note", _("Debit note")


class OddText(models.Lookup[Any]):
    """``field__odd=True``: text holding other characters than printable ASCII, or a space
    (an accent, a tab, a control). A constant condition in SQL, no parameter: a partial index
    on it serves only a query saying it the same way."""

    lookup_name = "odd"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, params = compiler.compile(self.lhs)
        if connection.vendor == "postgresql":
            return f"{lhs} ~ '[^!-~]'", list(params)
        return f"{lhs} GLOB '*[^!-~]*'", list(params)


models.CharField.register_lookup(OddText)


class Invoice(models.Model):
    """An item the customer owes: an invoice or a debit note."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    kind = models.CharField(max_length=16, choices=InvoiceKind.choices, default="invoice")
    number = models.CharField(_("number"), max_length=64)
    issue_date = models.DateField(_("issue date"))
    due_date = models.DateField(_("due date"))
    # True when the file had no due date: it is issue date + the customer's terms.
    due_date_derived = models.BooleanField(default=False)
    currency = models.CharField(_("currency"), max_length=3)
    # Unknown (null) when the file gives only the total, as FEC payments and many exports do.
    amount_excl_tax = models.DecimalField(
        _("amount excl. tax"), null=True, blank=True, max_digits=18, decimal_places=2
    )
    tax_amount = models.DecimalField(
        _("tax"), null=True, blank=True, max_digits=18, decimal_places=2
    )
    amount = models.DecimalField(_("amount incl. tax"), max_digits=18, decimal_places=2)
    balance = models.DecimalField(_("balance"), max_digits=18, decimal_places=2)
    settled_on = models.DateField(_("settled on"), null=True, blank=True)
    po_reference = models.CharField(_("purchase order"), max_length=64, blank=True)
    source = models.CharField(max_length=64, blank=True)
    # A 64-bit hash of the file row (and mapping) the invoice was last imported from: a
    # re-import skips a row whose hash is the invoice's, unparsed (relance.ledger.imports).
    # Any other write of the invoice's fields through an import clears it.
    import_fingerprint = models.BigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The first run date on which the dunning run may move the item, as the run computed it
    # (relance.dunning.loading.Bounds); NULL: not computed yet (a new invoice, a due date
    # changed, a level given back), the next run reads it. Set by the run only.
    moves_on = models.DateField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["due_date", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "number"], name="invoice_number_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="invoice_amount_positive"),
        ]
        indexes = [
            models.Index(
                fields=["organisation", "due_date"],
                name="invoice_open_by_due",
                condition=Q(balance__gt=0),
            ),
            # What customer balances sum (relance.ledger.summaries), read from the index alone.
            models.Index(
                fields=["organisation", "customer", "currency", "due_date", "balance"],
                name="invoice_open_by_customer",
                condition=Q(balance__gt=0),
            ),
            # What the next run reads: the open items whose date has come (or is unknown).
            models.Index(
                fields=["organisation", "moves_on"],
                name="invoice_open_by_move",
                condition=Q(balance__gt=0),
            ),
            # The numbers of more than printable ASCII without spaces, few or none: with them
            # an import finds the look-alikes of its new numbers without reading every number
            # (relance.ledger.imports.apply.lookalikes_in_ledger).
            models.Index(
                fields=["organisation", "number"],
                name="invoice_odd_number",
                condition=Q(number__odd=True),
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        return self.balance > 0


class PaymentKind(models.TextChoices):
    PAYMENT = "payment", _("Payment")
    CREDIT_NOTE = "credit_note", _("Credit note")
    # Recorded when an item vanished from an imported snapshot of open items: the source
    # system settled it, we do not know how.
    SETTLEMENT = "settlement", _("Settled in the source system")
    WRITE_OFF = "write_off", _("Write-off")


class Payment(models.Model):
    """Money or a credit that reduces what a customer owes: payment, credit note, ..."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=16, choices=PaymentKind.choices, default="payment")
    reference = models.CharField(_("reference"), max_length=96)
    date = models.DateField(_("date"))
    currency = models.CharField(_("currency"), max_length=3)
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2)
    method = models.CharField(_("method"), max_length=32, blank=True)
    memo = models.CharField(_("memo"), max_length=200, blank=True)
    source = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["date", "reference"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "reference"], name="payment_reference_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
        ]
        # The money received in a month (the dashboard's "collected", the payments list).
        indexes = [
            models.Index(fields=["organisation", "date"], name="payment_by_date"),
            # A customer's timeline, newest first, a page at a time.
            models.Index(fields=["customer", "-date", "-id"], name="payment_by_customer"),
        ]

    def __str__(self) -> str:
        return self.reference


class Allocation(models.Model):
    """Part of a payment or credit note set against an invoice (*lettrage*)."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # Indexed by the unique (payment, invoice) key.
    payment = models.ForeignKey(
        Payment, on_delete=models.CASCADE, related_name="allocations", db_index=False
    )
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="allocations")
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    # The day the money counts against the item: the payment's date unless matched later.
    date = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["payment", "invoice"], name="allocation_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_positive"),
        ]
        indexes = [models.Index(fields=["organisation", "invoice"])]

    def __str__(self) -> str:
        return f"{self.amount} of {self.payment_id} on {self.invoice_id}"


class AttachmentKind(models.TextChoices):
    INVOICE_PDF = "invoice_pdf", _("Invoice PDF")
    PROOF_OF_DELIVERY = "proof_of_delivery", _("Proof of delivery")
    CONTRACT = "contract", _("Contract or terms of sale")
    OTHER = "other", _("Other")


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"org-{instance.organisation_id}/invoices/{instance.invoice_id}/{filename}"


class Attachment(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="attachments")
    kind = models.CharField(max_length=24, choices=AttachmentKind.choices)
    file = models.FileField(upload_to=attachment_path)
    name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class DisputeReason(models.TextChoices):
    PRICE = "price", _("Price or amount")
    QUANTITY = "quantity", _("Quantity")
    QUALITY = "quality", _("Quality of the goods or service")
    NOT_RECEIVED = "not_received", _("Not received")
    DELIVERY = "delivery", _("Delivery (late, incomplete, damaged)")
    ADMINISTRATIVE = "administrative", _("Administrative (PO, address, ...)")
    PURCHASE_ORDER = "purchase_order", _("Administrative: purchase order")
    ADDRESS = "address", _("Administrative: billing address")
    DUPLICATE = "duplicate", _("Administrative: duplicate invoice")
    OTHER = "other", _("Other")
    # The part the buyer did not approve on the platform (status 206), its ``amount``: it
    # does not suspend the invoice, which is dunned for the rest (policy.amount_asked).
    NOT_APPROVED = "not_approved", _("Not approved by the buyer (partly approved)")


class DisputeOutcome(models.TextChoices):
    CREDIT_NOTE = "credit_note", _("Credit note")
    REJECTED = "rejected", _("Rejected: the invoice is due")
    SETTLED = "settled", _("Settled")


class Dispute(models.Model):
    """A *litige* on an invoice: dunning of that invoice pauses while it is open."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="disputes")
    reason = models.CharField(max_length=16, choices=DisputeReason.choices, default="other")
    amount = models.DecimalField(
        _("disputed amount"), null=True, blank=True, max_digits=18, decimal_places=2
    )
    note = models.TextField(blank=True)
    opened_on = models.DateField(_("opened on"))
    resolved_on = models.DateField(_("resolved on"), null=True, blank=True)
    resolution = models.TextField(blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=DisputeOutcome.choices, blank=True
    )
    # Who follows it up; disputes opened together on several invoices share a group.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("assigned to"),
    )  # fmt: skip
    group = models.CharField(max_length=32, blank=True)
    # Where the dispute was learnt: an import only closes the disputes it opened.
    source = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organisation", "invoice"])]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} ({self.opened_on})"

    @property
    def is_open(self) -> bool:
        return self.resolved_on is None


class TimelineEvent(models.Model):
    """One line of a customer's history. Every part of Relance writes here."""

    id = RowIdAutoField(primary_key=True)
    # The customer's, carried for distribution by organisation: without a database
    # constraint of its own, which the customer's row has (its check at each commit cost the
    # next day's run a twentieth: docs/performance.md).
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False,
        db_constraint=False,
    )  # fmt: skip
    # Looked up through the (customer, at) index: a customer's history, newest first.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.SET_NULL)
    at = models.DateTimeField()
    kind = models.CharField(max_length=48)
    summary = models.CharField(max_length=300)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["customer", "at"], name="timeline_by_customer")]

    def __str__(self) -> str:
        return self.summary


class CustomerBalance(models.Model):
    """What one customer owes in one currency, aged as of a day, the organisation's
    (``BalanceDay``, kept there alone: aging the rows by a day moves the amounts of the
    items crossing a bucket's limit, not every row): the console's lists and figures read
    these rows rather than a million invoices (relance.ledger.summaries keeps them; nothing
    else writes them)."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="balances")
    currency = models.CharField(max_length=3)
    open_amount = models.DecimalField(max_digits=18, decimal_places=2)
    overdue_amount = models.DecimalField(max_digits=18, decimal_places=2)
    not_due = models.DecimalField(max_digits=18, decimal_places=2)
    days_1_30 = models.DecimalField(max_digits=18, decimal_places=2)
    days_31_60 = models.DecimalField(max_digits=18, decimal_places=2)
    days_61_90 = models.DecimalField(max_digits=18, decimal_places=2)
    over_90 = models.DecimalField(max_digits=18, decimal_places=2)
    open_items = models.PositiveIntegerField()
    overdue_items = models.PositiveIntegerField()
    oldest_due = models.DateField(null=True)  # of the open items

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "currency"], name="customer_balance_unique")
        ]
        indexes = [
            models.Index(fields=["organisation", "-overdue_amount"], name="balance_by_overdue"),
            models.Index(fields=["organisation", "oldest_due"], name="balance_by_oldest"),
            # The currencies an organisation's customers owe in, read from the index alone.
            models.Index(fields=["organisation", "currency"], name="balance_currencies"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.open_amount} {self.currency}"


class BalanceDay(models.Model):
    """The day an organisation's ``CustomerBalance`` rows are aged as of (null: not built
    yet). Its row is also the lock that aging and recomputing them take, so that two
    requests never age the same rows at once (relance.ledger.summaries)."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    as_of = models.DateField(null=True)
    # One more each time the ledger's invoices or allocations change: what is computed from
    # the whole ledger (the dashboard's DSO over twelve months) is kept under it.
    version = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.organisation_id}: {self.as_of}"


class ImportMapping(models.Model):
    """A column mapping a user defined once and reuses (see docs/imports.md)."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    name = models.SlugField(max_length=64)
    spec = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="mapping_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class ImportRun(models.Model):
    """The record of one import: what came in, what changed, or why it failed."""

    class Status(models.TextChoices):
        DONE = "done", pgettext_lazy("import", "Done")
        FAILED = "failed", pgettext_lazy("import", "Failed")

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    file_name = models.CharField(max_length=300)
    format = models.CharField(max_length=16)
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices)
    counts = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.status})"


ZERO = Decimal("0.00")
