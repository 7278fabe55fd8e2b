"""From the timeline to deliveries: zero cost on the paths that write the timeline.

``dispatch(organisation)`` reads the organisation's timeline events after its cursor, of
the kinds some active endpoint subscribes to, in batches by primary key, and creates one
``Delivery`` per (endpoint, event) in bulk. The unique constraint on (endpoint, event)
makes it idempotent: run twice, or twice at once, it creates each delivery once.

Why a checkpoint and not simply the highest id read: on PostgreSQL ids are handed out when
rows are written, not when their transactions commit, so an event with a lower id may
become visible after a higher one was read. The cursor therefore moves up to what was seen
only ``SETTLE`` after it was seen, and until then every dispatch reads those events again
(the constraint ignores what already has its delivery). A transaction that stays open
longer than ``SETTLE`` after writing to a timeline could be missed; none does (a run's chunk
commits in seconds). On SQLite writers take turns and ids commit in order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Max
from django.utils import timezone

from relance.hooks import events
from relance.hooks.models import Cursor, Delivery, Endpoint
from relance.ledger.models import TimelineEvent

SETTLE = dt.timedelta(minutes=5)
BATCH = 2000


def organisations_with_endpoints() -> list[int]:
    return list(
        Endpoint.objects.filter(active=True)
        .order_by("organisation_id")
        .values_list("organisation_id", flat=True)
        .distinct()
    )


def last_event_id() -> int:
    return int(TimelineEvent.objects.aggregate(top=Max("pk"))["top"] or 0)


def dispatch(organisation_id: int, *, now: dt.datetime | None = None, batch: int = BATCH) -> int:
    """Create the deliveries of the organisation's new events; returns how many."""
    now = now or timezone.now()
    endpoints = list(Endpoint.objects.filter(organisation_id=organisation_id, active=True))
    if not endpoints:
        return 0
    cursor, _ = Cursor.objects.get_or_create(
        organisation_id=organisation_id,
        defaults={"position": min(e.start_after for e in endpoints)},
    )
    position = cursor.position
    checkpoint, checkpoint_at = cursor.checkpoint, cursor.checkpoint_at
    if checkpoint is not None and checkpoint_at is not None and checkpoint_at <= now - SETTLE:
        position, checkpoint = max(position, checkpoint), None
    kinds = set().union(*(events.kinds_of(e.event_types) for e in endpoints))
    created, top = 0, position
    while True:
        rows = list(
            TimelineEvent.objects.filter(
                organisation_id=organisation_id, pk__gt=top, kind__in=sorted(kinds)
            )
            .order_by("pk")
            .only("pk", "customer_id", "invoice_id", "at", "kind", "summary", "data")[:batch]
        )
        if not rows:
            break
        top = rows[-1].pk
        created += _deliveries(organisation_id, endpoints, rows, now)
        if len(rows) < batch:
            break
    fields: dict[str, Any] = {"position": position}
    if checkpoint is None:
        fields.update(checkpoint=top, checkpoint_at=now)
    Cursor.objects.filter(pk=organisation_id, position__lte=position).update(**fields)
    return created


def _deliveries(
    organisation_id: int, endpoints: list[Endpoint], rows: list[TimelineEvent], now: dt.datetime
) -> int:
    # Rows read again (within ``SETTLE``) already have theirs: skip them before building
    # payloads; the constraint settles a race with another dispatcher.
    done = set(
        Delivery.objects.filter(
            endpoint__in=endpoints, event_id__in=[row.pk for row in rows]
        ).values_list("endpoint_id", "event_id")
    )
    fresh = [
        (row, endpoint, events.TYPE_OF_KIND[row.kind])
        for row in rows
        for endpoint in endpoints
        if row.pk > endpoint.start_after
        and endpoint.receives(events.TYPE_OF_KIND[row.kind])
        and (endpoint.pk, row.pk) not in done
    ]
    if not fresh:
        return 0
    payloads = events.Payloads(organisation_id, list({row.pk: row for row, _, _ in fresh}.values()))
    built: dict[int, dict[str, Any]] = {}
    new = []
    for row, endpoint, type_ in fresh:
        payload = built.get(row.pk) or built.setdefault(row.pk, payloads.payload(row))
        new.append(
            Delivery(
                organisation_id=organisation_id,
                endpoint=endpoint,
                event_id=row.pk,
                message_id=payload["id"],
                type=type_,
                payload=payload,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    Delivery.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
    return len(new)
