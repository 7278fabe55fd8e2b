"""An organisation's own wording of its messages, edited in the console."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class TemplatePart(models.TextChoices):
    SUBJECT = "subject.txt", _("Subject")
    TEXT = "txt", _("Text")
    HTML = "html", _("HTML")
    TYP = "typ", _("Typst")  # a letter's template (relance.documents.typesetting)


class MessageTemplate(models.Model):
    """One part of one template, overriding the shipped wording for one organisation:
    served to the template engine as ``org-<slug>/channels/<channel>/<lang>/<slug>.<part>``
    (see relance.channels.templates)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    channel = models.CharField(max_length=24)
    language = models.CharField(max_length=8)
    slug = models.SlugField(max_length=64)
    part = models.CharField(max_length=16, choices=TemplatePart.choices)
    body = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "channel", "language", "slug", "part"],
                name="message_template_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel}/{self.language}/{self.slug}.{self.part}"


class RegisteredStatus(models.TextChoices):
    """Where a registered letter is; each step only moves forward (registered_mail.RANK)."""

    # Written, not yet handed to the post or a provider.
    PREPARED = "prepared", pgettext_lazy("registered letter", "Prepared")
    # Accepted by the provider, not yet posted.
    SUBMITTED = "submitted", pgettext_lazy("registered letter", "Submitted")
    # In La Poste's hands: tracking number known.
    POSTED = "posted", pgettext_lazy("registered letter", "Posted")
    # Handed over, no signed AR (yet).
    DELIVERED = "delivered", pgettext_lazy("registered letter", "Delivered")
    # AR signed, with its date.
    ACKNOWLEDGED = "acknowledged", pgettext_lazy("registered letter", "Acknowledged")
    # Refused, not collected, undeliverable.
    RETURNED = "returned", pgettext_lazy("registered letter", "Returned")
    # The provider refused it: a person decides.
    FAILED = "failed", pgettext_lazy("registered letter", "Failed")


class ReturnReason(models.TextChoices):
    REFUSED = "refused", _("Refused by the addressee")
    NOT_COLLECTED = "not_collected", _("Not collected (pli avisé non réclamé)")
    UNDELIVERABLE = "undeliverable", _("Undeliverable (address unknown or incomplete)")
    OTHER = "other", _("Other")


def registered_path(instance: RegisteredLetter, filename: str) -> str:
    return f"org-{instance.organisation_id}/registered/{filename}"


class RegisteredLetter(models.Model):
    """One registered letter (lettre recommandée) sent to a customer: posted by hand
    (``provider`` empty, its tracking number and receipt entered by a person) or through an
    online provider that prints and posts it (relance.channels.registered_mail)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey(
        "ledger.Customer", on_delete=models.CASCADE, related_name="registered_letters"
    )
    communication = models.ForeignKey(
        "dunning.Communication", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="registered_letters",
    )  # fmt: skip
    # The address as sent (registered_mail.PostalAddress.as_dict): what the proof names.
    recipient = models.JSONField()
    acknowledgement = models.BooleanField(default=True)  # avis de réception asked for
    letter = models.FileField(upload_to=registered_path)  # the PDF as sent
    provider = models.CharField(max_length=32, blank=True)  # "" = posted by hand
    provider_id = models.CharField(max_length=128, blank=True)
    # What the provider needs to find it again (e.g. Maileva's recipient id).
    provider_data = models.JSONField(default=dict, blank=True)
    tracking_number = models.CharField(max_length=32, blank=True)
    status = models.CharField(
        max_length=16, choices=RegisteredStatus.choices, default=RegisteredStatus.PREPARED
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    posted_on = models.DateField(null=True, blank=True)
    presented_on = models.DateField(null=True, blank=True)  # first presentation (avisé)
    delivered_on = models.DateField(null=True, blank=True)
    acknowledged_on = models.DateField(null=True, blank=True)  # the date signed on the AR
    returned_on = models.DateField(null=True, blank=True)
    return_reason = models.CharField(max_length=16, choices=ReturnReason.choices, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    # The AR scan, the provider's proof of delivery or of deposit.
    proof = models.FileField(upload_to=registered_path, blank=True)
    events = models.JSONField(default=list, blank=True)  # the provider's tracking events
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["communication"],
                condition=models.Q(communication__isnull=False),
                name="registered_letter_per_communication",
            )
        ]
        indexes = [
            models.Index(fields=["organisation", "status"], name="registered_by_status"),
        ]

    def __str__(self) -> str:
        return f"{self.tracking_number or self.pk} ({self.status})"

    @property
    def receipt_date(self) -> dt.date | None:
        """The day the formal notice's deadline counts from (registered_mail.receipt_date)."""
        from relance.channels.registered_mail import receipt_date

        return receipt_date(self)


class OptOutSource(models.TextChoices):
    MANUAL = "manual", _("Recorded by hand")
    INBOUND = "inbound", _("Texted STOP")


class SmsOptOut(models.Model):
    """A number that asked for no more text messages: from one organisation, or (no
    organisation) from every one, when it texted STOP to the number they all send from."""

    organisation = models.ForeignKey(
        "accounts.Organisation", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    number = models.CharField(max_length=16)  # E.164, with its +
    source = models.CharField(max_length=16, choices=OptOutSource.choices)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "number"], name="sms_optout_unique"),
            models.UniqueConstraint(
                fields=["number"],
                condition=models.Q(organisation__isnull=True),
                name="sms_optout_everyone_unique",
            ),
        ]
        indexes = [models.Index(fields=["number"], name="sms_optout_number")]

    def __str__(self) -> str:
        return self.number


class SmsReceipt(models.Model):
    """What the provider's delivery receipts said of a text message to one number: one row
    per outcome (a receipt repeated, or one per segment, changes nothing)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    communication = models.ForeignKey(
        "dunning.Communication", on_delete=models.CASCADE, related_name="+"
    )
    number = models.CharField(max_length=16)
    outcome = models.CharField(max_length=16)  # delivered, failed, pending
    status = models.CharField(max_length=16)  # the provider's word
    error_code = models.CharField(max_length=8, blank=True)
    provider_id = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["communication", "number", "outcome"], name="sms_receipt_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.outcome}"
