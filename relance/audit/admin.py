"""The audit trail in Django's admin: to read, never to write."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from relance.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    list_display = ("at", "organisation", "actor", "action", "object_type", "object_id",
                    "summary")  # fmt: skip
    list_filter = ("organisation",)
    list_select_related = ("organisation", "user")
    search_fields = ("actor", "action", "summary", "object_id")
    date_hierarchy = "at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    # Append-only: nobody adds, changes or deletes an event here, a superuser neither.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
