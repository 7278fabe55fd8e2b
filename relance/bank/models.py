"""Bank statements imported, and each credit line with what matching made of it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from relance.accounts.models import Organisation
from relance.ledger.models import Customer, Payment


class BankStatement(models.Model):
    """One file imported (``relance bank import``): what it held and what came of it."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    file = models.CharField(max_length=255)
    format = models.CharField(max_length=16)  # camt053 | csv
    sha256 = models.CharField(max_length=64)
    imported_at = models.DateTimeField(auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    counts = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["organisation", "imported_at"])]

    def __str__(self) -> str:
        return self.file


class LineStatus(models.TextChoices):
    # Allocated automatically (an exact match).
    MATCHED = "matched", pgettext_lazy("bank line", "Matched")
    # A probable or possible match, for a person.
    PROPOSED = "proposed", pgettext_lazy("bank line", "To review")
    UNMATCHED = "unmatched", pgettext_lazy("bank line", "No match")  # no candidate: for a person
    APPLIED = "applied", pgettext_lazy("bank line", "Applied")  # applied by a person
    # Left on the customer's account by a person.
    UNAPPLIED = "unapplied", pgettext_lazy("bank line", "Unapplied cash")


class Confidence(models.TextChoices):
    EXACT = "exact", _("Exact")
    PROBABLE = "probable", _("Probable")
    POSSIBLE = "possible", _("Possible")
    NONE = "", _("None")


class BankLine(models.Model):
    """A credit of a statement. ``key`` is what makes it the same line in another file
    (the bank's reference, else a hash of account, date, amount and label): a line is
    imported once, whatever the files that repeat it."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    statement = models.ForeignKey(BankStatement, on_delete=models.CASCADE, related_name="lines")
    key = models.CharField(max_length=64)
    row = models.PositiveIntegerField()  # the entry's number in the file, or its CSV line
    account = models.CharField(max_length=34, blank=True)  # our account it was paid to
    bank_reference = models.CharField(max_length=64, blank=True)
    date = models.DateField()
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    currency = models.CharField(max_length=3)
    label = models.CharField(max_length=500, blank=True)
    remittance = models.CharField(max_length=500, blank=True)
    debtor_name = models.CharField(max_length=200, blank=True)
    debtor_iban = models.CharField(max_length=34, blank=True)
    status = models.CharField(max_length=16, choices=LineStatus.choices)
    confidence = models.CharField(max_length=16, choices=Confidence.choices, blank=True)
    # Why: [{"rule": "rf_reference" | "invoice_number" | "iban" | "amount", "value": ...}]
    evidence = models.JSONField(default=list)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The allocations proposed: [[invoice id, "amount"], ...]
    proposal = models.JSONField(default=list)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="bank_line_key_unique")
        ]
        indexes = [models.Index(fields=["organisation", "status"])]

    def __str__(self) -> str:
        return f"{self.date} {self.amount} {self.currency} {self.label}"
