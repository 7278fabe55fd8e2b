"""The one way to write the audit trail: ``record``."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Any

from django.db import models

from relance.audit.models import AuditEvent

if TYPE_CHECKING:
    from django.http import HttpRequest

    from relance.accounts.models import Organisation


def command_actor() -> str:
    """Who runs a command: the operating-system login."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (a container without one)
        return "cli"


def record(
    organisation: Organisation | int | None,
    action: str,
    *,
    user: Any = None,
    actor: str | None = None,
    target: models.Model | tuple[str, object] | None = None,
    summary: str = "",
    data: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Appends one event. ``actor`` defaults to the user's name, else the command's login.
    ``target`` is a model instance or a (type, id) pair."""
    request_user = getattr(request, "user", None)
    if user is None and request_user is not None and request_user.is_authenticated:
        user = request_user
    if actor is None:
        actor = user.get_username() if user is not None else command_actor()
    object_type, object_id = "", ""
    if isinstance(target, models.Model):
        object_type, object_id = target._meta.model_name or "", str(target.pk)
    elif target is not None:
        object_type, object_id = target[0], str(target[1])
    org_id = (
        organisation if isinstance(organisation, int) or organisation is None else organisation.pk
    )
    return AuditEvent.objects.create(
        organisation_id=org_id,
        user=user,
        actor=actor[:150],
        action=action,
        object_type=object_type,
        object_id=object_id,
        summary=summary[:500],
        data=data or {},
        ip=_client_ip(request),
    )


def _client_ip(request: HttpRequest | None) -> str | None:
    from relance.lib.clientip import client_ip  # the address sign-in throttling counts

    return client_ip(request) if request is not None else None
