"""Webhook endpoints an organisation subscribes, the deliveries made to them, and where
the dispatcher has read each organisation's timeline up to."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from relance.accounts.models import Organisation


class Endpoint(models.Model):
    """A URL that receives an organisation's events: every type, or those listed."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(_("URL"), max_length=2000)
    description = models.CharField(_("description"), max_length=200, blank=True)
    # Event types ("invoice.paid", ...); empty: every type, those added later too.
    event_types = models.JSONField(default=list, blank=True)
    # "whsec_" + base64 of 32 random bytes (Standard Webhooks); the previous one signs too
    # until ``previous_secret_until`` after a rotation, so receivers can switch calmly.
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    # Only the timeline's events after this one reach the endpoint (none from before it).
    start_after = models.BigIntegerField(default=0)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # The first failure since the last success: failing for days disables the endpoint.
    failing_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.url

    def receives(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class Delivery(models.Model):
    """One event for one endpoint, with the outcome of its last attempt."""

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("webhook delivery", "Pending")
        SUCCEEDED = "succeeded", pgettext_lazy("webhook delivery", "Succeeded")
        # Refused by the receiver: not retried.
        FAILED = "failed", pgettext_lazy("webhook delivery", "Failed")
        DEAD = "dead", pgettext_lazy("webhook delivery", "Dead")  # every retry failed

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    # The timeline's event (none for a test message); removed with it (a customer erased).
    event = models.ForeignKey(
        "ledger.TimelineEvent",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )
    message_id = models.CharField(max_length=64)  # webhook-id, and the payload's "id"
    type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=1000, blank=True)
    replays = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            # The dispatcher may read an event twice (twice at once too): one delivery.
            models.UniqueConstraint(fields=["endpoint", "event"], name="hooks_delivery_once"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="hooks_delivery_due"),
            models.Index(fields=["organisation", "created_at"], name="hooks_delivery_by_org"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.message_id}"


class Cursor(models.Model):
    """How far the dispatcher has read an organisation's timeline: ``position`` is settled
    (every event up to it has its deliveries); ``checkpoint`` is the last event seen at
    ``checkpoint_at``, which becomes the position once old enough that no transaction
    still writing an event below it can be open (docs/webhooks.md)."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, related_name="+", primary_key=True
    )
    position = models.BigIntegerField(default=0)
    checkpoint = models.BigIntegerField(null=True, blank=True)
    checkpoint_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.organisation_id}: {self.position}"
