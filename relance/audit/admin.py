"""The audit trail in Django's admin: to read, never to write."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from relance.accounts.models import Organisation
from relance.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    list_display = ("at", "organisation_shown", "actor", "action", "object_type", "object_id",
                    "summary")  # fmt: skip
    list_filter = ("organisation",)
    list_select_related = ("organisation", "user")
    search_fields = ("actor", "action", "summary", "object_id")
    date_hierarchy = "at"
    readonly_fields = tuple(
        "organisation_shown" if field.name == "organisation" else field.name
        for field in AuditEvent._meta.fields
    )
    fields = readonly_fields

    @admin.display(description=_("organisation"), ordering="organisation_id")
    def organisation_shown(self, event: AuditEvent) -> str:
        """The organisation, or its former id once deleted (its trail stays)."""
        if event.organisation_id is None:
            return "-"
        try:
            organisation = event.organisation  # joined in the list: None once deleted
        except Organisation.DoesNotExist:
            organisation = None
        return str(organisation) if organisation else f"#{event.organisation_id} (deleted)"

    # Append-only: nobody adds, changes or deletes an event here, a superuser neither.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
