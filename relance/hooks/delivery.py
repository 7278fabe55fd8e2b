"""Sending deliveries: claim, sign, POST, record; retried as ``policy`` decides.

A delivery is claimed by compare-and-swap before it leaves (``next_attempt_at`` moved
``LEASE`` ahead, only if still what was read), so overlapping workers and tasks send it
once; a process that dies mid-request leaves a lease that expires, and the delivery is
tried again (receivers deduplicate by ``webhook-id``, as the specification asks). Requests
have short time-outs, follow no redirect and read at most ``EXCERPT`` bytes of the answer.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
from collections import Counter
from typing import Any, NamedTuple

import requests
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from relance.hooks import policy, signing, targets
from relance.hooks.models import Delivery, Endpoint

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=2)
EXCERPT = 1000
CONNECT_TIMEOUT = 5
USER_AGENT = "Relance-Webhooks/1.0"
BATCH = 200


class Attempt(NamedTuple):
    status_code: int | None
    error: str = ""
    excerpt: str = ""
    retry_after: str | None = None
    refused: bool = False  # the URL may no longer be reached: not retried


def body_of(payload: dict[str, Any]) -> bytes:
    """The bytes sent and signed: compact JSON, keys sorted, the same on every attempt."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def secrets_of(endpoint: Endpoint, now: dt.datetime) -> list[str]:
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and until > now:
        return [endpoint.secret, endpoint.previous_secret]
    return [endpoint.secret]


def send(
    delivery: Delivery, endpoint: Endpoint, session: requests.Session, now: dt.datetime
) -> Attempt:
    try:
        targets.check(endpoint.url)
    except targets.Refused as refused:
        return Attempt(None, str(refused)[:500], refused=True)
    body = body_of(delivery.payload)
    headers = signing.headers(
        secrets_of(endpoint, now), delivery.message_id, int(now.timestamp()), body
    )
    headers.update({"content-type": "application/json", "user-agent": USER_AGENT})
    timeout = (CONNECT_TIMEOUT, settings.RELANCE_WEBHOOKS_TIMEOUT)
    try:
        with session.post(
            endpoint.url,
            data=body,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            excerpt = next(response.iter_content(EXCERPT), b"")[:EXCERPT]
            return Attempt(
                response.status_code,
                "",
                excerpt.decode("utf-8", "replace"),
                response.headers.get("retry-after"),
            )
    except requests.Timeout:
        return Attempt(None, f"no answer within {timeout[1]} s")
    except requests.RequestException as exc:
        return Attempt(None, f"{type(exc).__name__}: {exc}"[:500])


def due_ids(
    now: dt.datetime | None = None, *, organisation_id: int | None = None, limit: int = 1000
) -> list[int]:
    rows = Delivery.objects.filter(
        status=Delivery.Status.PENDING,
        next_attempt_at__lte=now or timezone.now(),
        endpoint__active=True,
    )
    if organisation_id is not None:
        rows = rows.filter(organisation_id=organisation_id)
    return list(rows.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])


def deliver(ids: list[int], *, session: requests.Session | None = None) -> Counter[str]:
    """Attempt the pending deliveries among ``ids`` that are due; counts by outcome."""
    counts: Counter[str] = Counter()
    own = session is None
    session = session or requests.Session()
    try:
        rows = Delivery.objects.filter(pk__in=ids).select_related("endpoint").order_by("pk")
        for delivery in rows:  # in the order of the events
            counts[_one(delivery, session)] += 1
    finally:
        if own:
            session.close()
    return counts


def deliver_due(*, organisation_id: int | None = None, limit: int = 1000) -> Counter[str]:
    counts: Counter[str] = Counter()
    ids = due_ids(organisation_id=organisation_id, limit=limit)
    with requests.Session() as session:
        for start in range(0, len(ids), BATCH):
            counts += deliver(ids[start : start + BATCH], session=session)
    return counts


def _one(delivery: Delivery, session: requests.Session) -> str:
    now = timezone.now()
    endpoint = delivery.endpoint
    due = delivery.next_attempt_at
    if (
        delivery.status != Delivery.Status.PENDING
        or not endpoint.active
        or due is None
        or due > now
    ):
        return "skipped"
    # Its endpoint still active too: one disabled earlier in this batch (410) gets no more.
    claimed = Delivery.objects.filter(
        pk=delivery.pk, status=Delivery.Status.PENDING, next_attempt_at=due, endpoint__active=True
    ).update(next_attempt_at=now + LEASE)
    if not claimed:
        return "skipped"  # another worker has it
    attempt = send(delivery, endpoint, session, now)
    return record(delivery, endpoint, attempt, now)


def record(delivery: Delivery, endpoint: Endpoint, attempt: Attempt, now: dt.datetime) -> str:
    """The attempt's outcome on the delivery and its endpoint; returns the new status."""
    attempts = delivery.attempts + 1
    if attempt.refused:
        verdict = policy.Verdict(policy.FAILED)
    else:
        verdict = policy.judge(
            attempts=attempts,
            status_code=attempt.status_code,
            now=now,
            jitter=random.random(),
            retry_after=policy.retry_after(attempt.retry_after, now),
        )
    error = attempt.error or (
        "" if verdict.status == policy.SUCCEEDED else f"HTTP {attempt.status_code}"
    )
    Delivery.objects.filter(pk=delivery.pk).update(
        status=verdict.status,
        attempts=F("attempts") + 1,
        next_attempt_at=verdict.next_attempt_at,
        last_attempt_at=now,
        last_status_code=attempt.status_code,
        last_error=error[:500],
        response_excerpt=attempt.excerpt[:EXCERPT],
        updated_at=now,
    )
    delivery.refresh_from_db()
    if verdict.status == policy.SUCCEEDED:
        Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=False).update(
            failing_since=None
        )
        return verdict.status
    Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    endpoint.refresh_from_db(fields=["failing_since", "active"])
    after = dt.timedelta(days=settings.RELANCE_WEBHOOKS_DISABLE_AFTER_DAYS)
    if endpoint.active and (
        verdict.disable or policy.should_disable(endpoint.failing_since, now, after)
    ):
        from relance.hooks import endpoints

        reason = (
            "the receiver answered 410 Gone"
            if verdict.disable
            else f"every delivery failed for {settings.RELANCE_WEBHOOKS_DISABLE_AFTER_DAYS} days"
        )
        endpoints.disable(endpoint, reason=reason, automatic=True)
    log.info("webhook %s to %s: %s (%s)", delivery.message_id, endpoint.url, verdict.status, error)
    return verdict.status


def prune(
    *, keep: dt.timedelta, organisation_id: int | None = None, now: dt.datetime | None = None
) -> int:
    """Forget the deliveries settled (succeeded, failed or dead) more than ``keep`` ago;
    pending ones stay whatever their age. Returns how many went."""
    before = (now or timezone.now()) - keep
    old = Delivery.objects.filter(updated_at__lt=before).exclude(status=Delivery.Status.PENDING)
    if organisation_id is not None:
        old = old.filter(organisation_id=organisation_id)
    count, _ = old.delete()
    return count
