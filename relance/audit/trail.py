"""The one way to write the audit trail: ``record``."""

from __future__ import annotations

import getpass
import json
import re
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import models
from django.utils import translation

from relance.audit.models import AuditEvent
from relance.ledger import timeline
from relance.ledger.timeline import Text
from relance.lib.output import jsonable

if TYPE_CHECKING:
    from django.http import HttpRequest

    from relance.accounts.models import Organisation

# Never written to the trail, whoever passes them: a text under such a key is replaced (a
# flag such as ``password_set`` says nothing secret and stays).
_SECRET = re.compile(r"password|secret|token|otp_key", re.IGNORECASE)
REDACTED = "[redacted]"


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
    user_id: int | None = None,
    actor: str | None = None,
    target: models.Model | tuple[str, object] | None = None,
    summary: Text | str = "",
    data: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Appends one event. ``actor`` defaults to the user's name (``user``, or the user whose
    id is ``user_id``, as the services receive it), else the command's login. ``target`` is a
    model instance or a (type, id) pair. ``data`` may hold Decimals and dates (written as
    exact strings and ISO dates); a text under a key that names a secret is redacted.
    ``summary`` a ``timeline.Text`` is written in English, the trail's language, and kept
    in ``data`` as a customer's timeline keeps it: a page says it again in its reader's
    language (``timeline.shown``); a value under a key that names a secret is redacted there
    too, in the summary written and in the text kept."""
    if not isinstance(summary, str):
        summary = _redacted(summary)
    text = summary
    if not isinstance(summary, str):
        with translation.override("en"):
            summary = timeline.render(summary)
    request_user = getattr(request, "user", None)
    if user is None and request_user is not None and request_user.is_authenticated:
        user = request_user
    if user is not None:
        user_id = user.pk
    if actor is None:
        if user is not None:
            actor = user.get_username()
        elif user_id is not None:
            users = get_user_model()._default_manager.filter(pk=user_id)
            actor = users.values_list(get_user_model().USERNAME_FIELD, flat=True).first()
        actor = actor or command_actor()
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
        user_id=user_id,
        actor=actor[:150],
        action=action,
        object_type=object_type[:64],
        object_id=object_id[:64],
        summary=summary[:500],
        data=timeline.with_kept(_plain(data or {}), text),
        ip=_client_ip(request),
    )


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """JSON values only (amounts as exact strings, dates ISO), secrets redacted."""
    plain: dict[str, Any] = json.loads(json.dumps(data, default=jsonable))
    return _redact(plain)


def _redacted(text: Text) -> Text:
    """``text`` with any value under a key that names a secret (whatever its type) redacted."""
    params = text.params or {}
    if not any(_SECRET.search(str(key)) for key in params):
        return text
    return Text(text.message, {k: REDACTED if _SECRET.search(str(k)) else v
                               for k, v in params.items()})  # fmt: skip


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(v, str) and _SECRET.search(str(k)) else _redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _client_ip(request: HttpRequest | None) -> str | None:
    from relance.lib.clientip import client_ip  # the address sign-in throttling counts

    return client_ip(request) if request is not None else None
