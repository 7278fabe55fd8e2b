"""An organisation's own wording of its messages, edited in the console."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TemplatePart(models.TextChoices):
    SUBJECT = "subject.txt", _("Subject")
    TEXT = "txt", _("Text")
    HTML = "html", _("HTML")


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
