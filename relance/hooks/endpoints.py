"""Endpoints and replays: what the command and the console call, each change in the audit
trail (``webhooks.*``), every lookup scoped to the organisation."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

import requests
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.template import loader
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from relance.accounts.models import Membership, Organisation, Role
from relance.audit import trail
from relance.channels.formatting import lazy_short_date
from relance.hooks import delivery, dispatch, events, signing
from relance.hooks.models import Delivery, Endpoint
from relance.hooks.targets import Refused, check
from relance.ledger.timeline import Text, label

log = logging.getLogger(__name__)

ROTATION_OVERLAP = dt.timedelta(hours=24)  # both secrets sign for this long after a rotation


def parse_types(values: Iterable[str]) -> list[str]:
    """Event types from ``--events a,b`` or a form's choices; refuses an unknown one."""
    types = sorted({v.strip() for value in values for v in value.split(",") if v.strip()})
    unknown = [t for t in types if t not in events.TYPES]
    if unknown:
        raise Refused(f"unknown event type {', '.join(unknown)}: one of {', '.join(events.TYPES)}")
    return types


def get(organisation: Organisation, pk: Any) -> Endpoint:
    try:
        return Endpoint.objects.get(organisation=organisation, pk=int(pk))
    except (Endpoint.DoesNotExist, TypeError, ValueError):
        raise Refused(f"no webhook endpoint {pk} in {organisation.slug}") from None


def add(
    organisation: Organisation,
    url: str,
    *,
    event_types: Sequence[str] = (),
    description: str = "",
    user: Any = None,
    request: HttpRequest | None = None,
) -> Endpoint:
    url = url.strip()
    check(url)
    types = parse_types(event_types)
    endpoint = Endpoint.objects.create(
        organisation=organisation,
        url=url,
        description=description.strip()[:200],
        event_types=types,
        secret=signing.new_secret(),
        start_after=dispatch.last_event_id(),
    )
    trail.record(
        organisation,
        "webhooks.endpoint_added",
        user=user,
        request=request,
        target=endpoint,
        summary=Text(gettext_noop("webhook endpoint %(url)s added"), {"url": url}),
        data={"url": url, "events": types or "all"},
    )
    return endpoint


def remove(
    organisation: Organisation, pk: Any, *, user: Any = None, request: HttpRequest | None = None
) -> Endpoint:
    endpoint = get(organisation, pk)
    trail.record(
        organisation,
        "webhooks.endpoint_removed",
        user=user,
        request=request,
        target=endpoint,
        summary=Text(gettext_noop("webhook endpoint %(url)s removed"), {"url": endpoint.url}),
        data={"url": endpoint.url},
    )
    endpoint.delete()
    return endpoint


def enable(
    organisation: Organisation, pk: Any, *, user: Any = None, request: HttpRequest | None = None
) -> Endpoint:
    """Active again: what is pending is sent, and new events reach it (those that came
    while it was disabled do not: replay them)."""
    endpoint = get(organisation, pk)
    if endpoint.active:
        return endpoint
    endpoint.active, endpoint.disabled_at, endpoint.disabled_reason = True, None, ""
    endpoint.failing_since = None
    endpoint.start_after = max(endpoint.start_after, dispatch.last_event_id())
    endpoint.save()
    trail.record(
        organisation,
        "webhooks.endpoint_enabled",
        user=user,
        request=request,
        target=endpoint,
        summary=Text(gettext_noop("webhook endpoint %(url)s enabled"), {"url": endpoint.url}),
    )
    return endpoint


def disable(
    endpoint: Endpoint,
    *,
    reason: str,
    automatic: bool = False,
    user: Any = None,
    request: HttpRequest | None = None,
) -> Endpoint:
    """Stop sending to ``endpoint``: by a person, or by delivery (410 Gone, failing for
    days), in which case the organisation's administrators are told by e-mail."""
    changed = Endpoint.objects.filter(pk=endpoint.pk, active=True).update(
        active=False, disabled_at=timezone.now(), disabled_reason=reason[:300]
    )
    endpoint.refresh_from_db()
    if not changed:
        return endpoint
    trail.record(
        endpoint.organisation_id,
        "webhooks.endpoint_disabled",
        user=user,
        request=request,
        actor="webhooks" if automatic else None,
        target=endpoint,
        summary=Text(
            gettext_noop("webhook endpoint %(url)s disabled: %(reason)s"),
            {"url": endpoint.url, "reason": reason},
        ),
        data={"url": endpoint.url, "reason": reason},
    )
    if automatic:
        _tell_administrators(endpoint)
    return endpoint


def _tell_administrators(endpoint: Endpoint) -> None:
    organisation = endpoint.organisation
    emails = list(
        Membership.objects.filter(organisation=organisation, role=Role.ADMIN)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if not emails:
        return
    context = {"endpoint": endpoint, "organisation": organisation}
    with translation.override(organisation.language):
        subject = "".join(
            loader.render_to_string("hooks/endpoint_disabled_subject.txt", context).splitlines()
        )
        body = loader.render_to_string("hooks/endpoint_disabled.txt", context)
    try:
        EmailMultiAlternatives(subject, body, None, emails).send()
    except Exception:  # the endpoint is disabled and audited; the console shows it too
        log.exception("could not tell %s that a webhook endpoint was disabled", organisation.slug)


def rotate(
    organisation: Organisation, pk: Any, *, user: Any = None, request: HttpRequest | None = None
) -> Endpoint:
    """A new secret; the old one signs too for ``ROTATION_OVERLAP``."""
    endpoint = get(organisation, pk)
    endpoint.previous_secret, endpoint.secret = endpoint.secret, signing.new_secret()
    endpoint.previous_secret_until = timezone.now() + ROTATION_OVERLAP
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
    trail.record(
        organisation,
        "webhooks.secret_rotated",
        user=user,
        request=request,
        target=endpoint,
        summary=Text(
            gettext_noop("secret of webhook endpoint %(url)s rotated"), {"url": endpoint.url}
        ),
        data={"previous_valid_until": endpoint.previous_secret_until},
    )
    return endpoint


def reveal(
    organisation: Organisation, pk: Any, *, user: Any = None, request: HttpRequest | None = None
) -> str:
    """An endpoint's secret, for an administrator; audited."""
    endpoint = get(organisation, pk)
    trail.record(
        organisation,
        "webhooks.secret_revealed",
        user=user,
        request=request,
        target=endpoint,
        summary=Text(
            gettext_noop("secret of webhook endpoint %(url)s shown"), {"url": endpoint.url}
        ),
    )
    return endpoint.secret


def deliveries_of(
    organisation: Organisation, *, status: str | None = None, endpoint: Any = None
) -> Any:
    rows = Delivery.objects.filter(organisation=organisation).select_related("endpoint")
    if status:
        if status not in Delivery.Status.values:
            raise Refused(f"unknown status {status!r}: one of {', '.join(Delivery.Status.values)}")
        rows = rows.filter(status=status)
    if endpoint is not None:
        rows = rows.filter(endpoint=get(organisation, endpoint))
    return rows.order_by("-pk")


@transaction.atomic
def replay(
    organisation: Organisation,
    *,
    ids: Sequence[Any] = (),
    since: dt.date | None = None,
    endpoint: Any = None,
    status: str | None = None,
    user: Any = None,
    request: HttpRequest | None = None,
) -> list[int]:
    """Deliveries sent again, from the first attempt of the schedule: the same event id
    (``webhook-id``), a new timestamp and signature. By ids, or every delivery created on
    or after ``since`` (of an endpoint, of a status). Returns their ids."""
    if not ids and since is None:
        raise Refused("replay what: a delivery id or --since DATE")
    rows = deliveries_of(organisation, status=status, endpoint=endpoint)
    if ids:
        try:
            wanted = {int(pk) for pk in ids}
        except (TypeError, ValueError):
            raise Refused(f"not a delivery id: {', '.join(map(str, ids))}") from None
        rows = rows.filter(pk__in=wanted)
        found = set(rows.values_list("pk", flat=True))
        if missing := sorted(wanted - found):
            raise Refused(f"no delivery {', '.join(map(str, missing))} in {organisation.slug}")
    if since is not None:
        start = dt.datetime.combine(since, dt.time(), tzinfo=timezone.get_current_timezone())
        rows = rows.filter(created_at__gte=start)
    chosen = sorted(rows.values_list("pk", flat=True))
    now = timezone.now()
    Delivery.objects.filter(pk__in=chosen).update(
        status=Delivery.Status.PENDING,
        attempts=0,
        next_attempt_at=now,
        replays=F("replays") + 1,
        updated_at=now,
    )
    what = (
        Text(gettext_noop("%(count)s webhook deliveries replayed (since %(since)s)"),
             {"count": len(chosen), "since": lazy_short_date(since)})
        if since
        else Text(gettext_noop("%(count)s webhook deliveries replayed (%(ids)s)"),
                  {"count": len(chosen), "ids": ", ".join(map(str, chosen))})
    )  # fmt: skip
    trail.record(
        organisation,
        "webhooks.replayed",
        user=user,
        request=request,
        target=("delivery", chosen[0] if len(chosen) == 1 else None),
        summary=what,
        data={
            "deliveries": chosen[:1000],
            "count": len(chosen),
            "since": since,
            "status": status,
            "endpoint": endpoint,
        },
    )
    return chosen


def test(
    organisation: Organisation, pk: Any, *, user: Any = None, request: HttpRequest | None = None
) -> Delivery:
    """Send a ``webhook.test`` message to the endpoint now; the delivery says how it went."""
    endpoint = get(organisation, pk)
    now = timezone.now()
    message = f"evt_test_{secrets.token_hex(10)}"
    payload = events.envelope(
        message,
        events.TEST,
        now.isoformat(),
        {"endpoint": endpoint.pk, "organisation": organisation.slug},
    )
    row = Delivery.objects.create(
        organisation=organisation,
        endpoint=endpoint,
        message_id=message,
        type=events.TEST,
        payload=payload,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    with requests.Session() as session:
        attempt = delivery.send(row, endpoint, session, now)
    # A test is attempted once: not retried, so its outcome is final.
    status = (
        Delivery.Status.SUCCEEDED
        if attempt.status_code and 200 <= attempt.status_code < 300
        else Delivery.Status.FAILED
    )
    Delivery.objects.filter(pk=row.pk).update(
        status=status,
        attempts=1,
        next_attempt_at=None,
        last_attempt_at=now,
        last_status_code=attempt.status_code,
        last_error=attempt.error
        or ("" if status == Delivery.Status.SUCCEEDED else f"HTTP {attempt.status_code}"),
        response_excerpt=attempt.excerpt[: delivery.EXCERPT],
        updated_at=now,
    )
    row.refresh_from_db()
    trail.record(
        organisation,
        "webhooks.tested",
        user=user,
        request=request,
        target=endpoint,
        summary=Text(
            gettext_noop("test message to %(url)s: %(status)s"),
            {"url": endpoint.url, "status": label(Delivery.Status, status)},
        ),
    )
    return row
