"""Reading the audit trail, one organisation at a time: the command line calls these, and
the console will."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db.models import QuerySet

from relance.audit.models import AuditEvent

if TYPE_CHECKING:
    from relance.accounts.models import Organisation


@dataclass(frozen=True)
class Filters:
    since: dt.date | None = None  # from this day on, in the organisation's time zone
    until: dt.date | None = None  # up to the end of this day
    action: str = ""  # actions starting with it: "dispute" or "dispute.opened"
    actor: str = ""  # actors containing it, any case


def zone_of(organisation: Organisation) -> ZoneInfo:
    try:
        return ZoneInfo(organisation.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def events_of(organisation: Organisation, filters: Filters = Filters()) -> QuerySet[AuditEvent]:
    """The organisation's events, newest first: never another organisation's, nor those
    of no organisation (a failed sign-in for an unknown login: the admin shows them)."""
    events = AuditEvent.objects.filter(organisation=organisation)
    zone = zone_of(organisation)
    if filters.since:
        events = events.filter(at__gte=dt.datetime.combine(filters.since, dt.time(), zone))
    if filters.until:
        next_day = filters.until + dt.timedelta(days=1)
        events = events.filter(at__lt=dt.datetime.combine(next_day, dt.time(), zone))
    if filters.action:
        events = events.filter(action__startswith=filters.action)
    if filters.actor:
        events = events.filter(actor__icontains=filters.actor)
    return events.select_related("user").order_by("-at", "-pk")


def describe(event: AuditEvent) -> dict[str, Any]:
    """An event as plain values; ``at`` is an aware datetime (UTC)."""
    target = (
        {"type": event.object_type, "id": event.object_id}
        if event.object_type or event.object_id
        else None
    )
    return {
        "id": event.pk, "at": event.at, "actor": event.actor,
        "user": event.user.get_username() if event.user else None,
        "action": event.action, "target": target, "summary": event.summary,
        "data": event.data, "ip": event.ip,
    }  # fmt: skip
