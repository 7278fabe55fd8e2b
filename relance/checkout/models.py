"""A debtor's visit to the provider's checkout, and the provider's events already handled."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from relance.accounts.models import Organisation
from relance.ledger.models import Customer, Invoice, Payment


class Status(models.TextChoices):
    # Written before Stripe is asked (record, then send); ``open`` once Stripe answered.
    PENDING = "pending", _("Being created")
    OPEN = "open", _("Open")
    # Completed with a payment method that settles later (a SEPA debit): not paid yet.
    PROCESSING = "processing", _("Payment processing")
    PAID = "paid", _("Paid")
    FAILED = "failed", _("Payment failed")
    EXPIRED = "expired", _("Expired")
    # Stripe refused the session or could not be reached: no page to send the debtor to.
    ERROR = "error", _("Not created")


class CheckoutSession(models.Model):
    """One "Pay online" of a customer: the invoices it pays, the amount asked, and what the
    provider said of it. Found back by the provider's id when its webhook comes."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="checkout_sessions"
    )
    provider = models.CharField(max_length=16, default="stripe")
    # Stripe's ``cs_...``; empty until Stripe answered.
    provider_id = models.CharField(_("provider id"), max_length=255, blank=True)
    url = models.URLField(max_length=2000, blank=True)
    idempotency_key = models.CharField(max_length=64)
    invoices: models.ManyToManyField[Invoice, CheckoutInvoice] = models.ManyToManyField(
        Invoice, through="CheckoutInvoice", related_name="+"
    )
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    error = models.CharField(max_length=300, blank=True)
    # The payment the provider confirmed, as recorded in the ledger.
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "provider", "provider_id"],
                condition=~Q(provider_id=""),
                name="checkout_provider_id_unique",
            )
        ]
        indexes = [models.Index(fields=["organisation", "customer"], name="checkout_by_customer")]

    def __str__(self) -> str:
        return f"{self.provider} {self.provider_id or self.pk} ({self.status})"


class CheckoutInvoice(models.Model):
    """An invoice a session pays, with what it owed when the debtor chose to pay."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    session = models.ForeignKey(CheckoutSession, on_delete=models.CASCADE, db_index=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="+")
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    position = models.PositiveSmallIntegerField()  # the order money is allocated in

    class Meta:
        ordering = ["session", "position"]
        constraints = [
            models.UniqueConstraint(fields=["session", "invoice"], name="checkout_invoice_unique")
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id} in {self.session_id}"


class ProviderEvent(models.Model):
    """A webhook event handled once: a replay of its id changes nothing. Written in the
    transaction of what the event did, so that a crash leaves it to be handled again."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    provider = models.CharField(max_length=16, default="stripe")
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    outcome = models.CharField(max_length=32)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "provider", "event_id"], name="provider_event_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id} ({self.type})"
