"""The debtor's portal: the personal links that open it, and what debtors did there.

A link's token is never stored: only its SHA-256 (to find the link) and the random seed
the token is derived from with the server's secret (to give the same link again in the
next message); see ``relance.portal.links``."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PortalLink(models.Model):
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey("ledger.Customer", on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    seed = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["customer", "expires_at"], name="portal_link_live")]

    def __str__(self) -> str:
        return f"portal link {self.pk} of customer {self.customer_id}"


class PortalAction(models.Model):
    """One thing a debtor did on the portal, keyed by the form's one-time key so that a
    form sent twice (a double click, a page sent again) is done once."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey("ledger.Customer", on_delete=models.CASCADE, related_name="+")
    link = models.ForeignKey(PortalLink, on_delete=models.CASCADE, related_name="actions")
    key = models.CharField(max_length=64)
    action = models.CharField(max_length=16)  # paid, promise, dispute, plan, contact
    data = models.JSONField(default=dict, blank=True)
    # What the action made, for a person deciding on it later (a proposed plan's hold).
    hold = models.ForeignKey(
        "ledger.Hold", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    plan = models.ForeignKey(
        "dunning.PaymentPlan", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "key"], name="portal_action_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.action} by customer {self.customer_id}"
