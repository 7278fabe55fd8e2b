"""The audit trail: who did what, per organisation, append-only."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AppendOnly(Exception):
    """An audit event is never changed nor deleted."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnly("audit events are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnly("audit events are append-only")


class AuditEvent(models.Model):
    # Null for what happens before an organisation is known (a failed sign-in). Without a
    # constraint: an organisation deleted leaves its trail, under its former id (the trail is
    # append-only, so it can neither cascade nor be set to null).
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.DO_NOTHING, db_constraint=False,
        null=True, blank=True,
    )  # fmt: skip
    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)
    # The user when there is one; ``actor`` always says who: a user name, "cli:<login>",
    # "webhook:<provider>", "system".
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    actor = models.CharField(_("actor"), max_length=150)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    # What the action was done to, e.g. ("communication", "42").
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    summary = models.CharField(_("summary"), max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["organisation", "-at"], name="audit_org_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.summary}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnly("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnly("audit events are append-only")
