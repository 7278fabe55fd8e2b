"""The personal links to the debtor's portal: made, found, revoked.

A token is 43 URL-safe characters (256 bits): ``HMAC-SHA256(secret, seed)`` of a random
seed (``secrets.token_urlsafe(32)``) under the server's secret key. The database keeps the
token's SHA-256, to find its link in one indexed lookup (no comparison of secrets in
Python, so no timing to measure), and the seed, so that the next message gives the same
link again rather than a new one each time; the database alone makes no link. Nothing in
the address names the organisation, the customer or an invoice.

A link lives ``RELANCE_PORTAL_LINK_DAYS`` (60) days. A message reuses the customer's live
link while it has at least half of that left, so that a link read weeks later still
opens; a revoked link is never given again.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_noop

from relance.audit import trail
from relance.channels.formatting import lazy_short_date
from relance.ledger.models import Customer
from relance.ledger.timeline import Text
from relance.portal.models import PortalLink

DEFAULT_DAYS = 60
MAX_DAYS = 366
# What a token looks like: anything else is turned away before the database is asked.
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def lifetime_days() -> int:
    return int(getattr(settings, "RELANCE_PORTAL_LINK_DAYS", DEFAULT_DAYS))


def base_url() -> str:
    return str(getattr(settings, "RELANCE_BASE_URL", "") or "http://localhost:8000").rstrip("/")


def token_of(seed: str) -> str:
    digest = salted_hmac("relance.portal.link", seed, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def hash_of(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def address(token: str) -> str:
    return base_url() + reverse("portal:home", args=[token])


def _new(customer_id: int, organisation_id: int, now: dt.datetime, days: int,
         user_id: int | None = None) -> tuple[PortalLink, str]:  # fmt: skip
    seed = secrets.token_urlsafe(32)
    token = token_of(seed)
    link = PortalLink(
        organisation_id=organisation_id, customer_id=customer_id, token_hash=hash_of(token),
        seed=seed, created_at=now, expires_at=now + dt.timedelta(days=days),
        created_by_id=user_id,
    )  # fmt: skip
    return link, token


def _check_days(days: int) -> int:
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"a link lives 1 to {MAX_DAYS} days, not {days}")
    return days


def url_for(customer: Customer, *, days: int | None = None, user: Any = None) -> str:
    """The absolute address of the customer's portal: its live link, or a new one. With
    ``days``, always a new link living that many days (``relance portal link --days``)."""
    if days is None:
        return urls_for([customer])[customer.pk]
    link, token = _new(customer.pk, customer.organisation_id, timezone.now(), _check_days(days),
                       getattr(user, "pk", None))  # fmt: skip
    with transaction.atomic():
        link.save()
        _audit_created(link, customer, user=user)
    return address(token)


def links_of(customer: Customer) -> list[PortalLink]:
    return list(PortalLink.objects.filter(customer=customer).order_by("-created_at", "-pk"))


def urls_for(customers: Sequence[Customer]) -> dict[int, str]:
    """The portal address of each customer, by id (see ``urls_for_ids``)."""
    return urls_for_ids({c.pk: c.organisation_id for c in customers})


def urls_for_ids(owners: Mapping[int, int]) -> dict[int, str]:
    """The portal address of each customer (ids, with their organisation's id), for a
    batch of messages: one query for the live links, one insert for those missing (never
    one per customer), and one audit event per organisation."""
    if not owners:
        return {}
    now = timezone.now()
    days = lifetime_days()
    reusable_until = now + dt.timedelta(days=days / 2)
    found: dict[int, str] = {}
    for customer_id, seed in (
        PortalLink.objects.filter(
            customer_id__in=list(owners), revoked_at__isnull=True, expires_at__gt=reusable_until
        )
        .order_by("customer_id", "-expires_at")
        .values_list("customer_id", "seed")
    ):
        found.setdefault(customer_id, address(token_of(seed)))
    missing = [pk for pk in owners if pk not in found]
    if missing:
        made = [_new(pk, owners[pk], now, days) for pk in missing]
        with transaction.atomic():
            PortalLink.objects.bulk_create([link for link, _ in made])
            by_org: dict[int, list[int]] = {}
            for pk in missing:
                by_org.setdefault(owners[pk], []).append(pk)
            for org_id, made_for in by_org.items():
                trail.record(org_id, "portal.link_created",
                             summary=Text(gettext_noop("portal links made, customers: "
                                                       "%(count)s"), {"count": len(made_for)}),
                             data={"customers": made_for})  # fmt: skip
        found.update((pk, address(token)) for pk, (_, token) in zip(missing, made, strict=True))
    return found


def _audit_created(link: PortalLink, customer: Customer, *, user: Any = None) -> None:
    trail.record(customer.organisation_id, "portal.link_created", user=user, target=link,
                 summary=Text(gettext_noop("portal link made for %(customer)s, until %(date)s"),
                              {"customer": customer.reference,
                               "date": lazy_short_date(timezone.localdate(link.expires_at))}),
                 data={"customer": customer.reference})  # fmt: skip


def resolve(token: str) -> PortalLink | None:
    """The live link of ``token``; None for an unknown, expired or revoked one (alike)."""
    if not TOKEN.fullmatch(token or ""):
        return None
    link = (
        PortalLink.objects.filter(token_hash=hash_of(token))
        .select_related("customer", "organisation")
        .first()
    )
    if link is None or link.revoked_at is not None or link.expires_at <= timezone.now():
        return None
    return link


def language(link: PortalLink) -> str:
    """The language a link's pages speak: its customer's, else its organisation's."""
    return link.customer.language or link.organisation.language


def touch(link: PortalLink) -> None:
    """When the link was last used (at most once a minute: a page view writes little)."""
    now = timezone.now()
    if link.last_used_at is None or now - link.last_used_at > dt.timedelta(minutes=1):
        PortalLink.objects.filter(pk=link.pk).update(last_used_at=now)
        link.last_used_at = now


def revoke(target: Customer | PortalLink, *, user: Any = None) -> int:
    """Revoke one link, or every live link of a customer; returns how many were revoked."""
    now = timezone.now()
    if isinstance(target, PortalLink):
        links = PortalLink.objects.filter(pk=target.pk)
        customer = target.customer
    else:
        links = PortalLink.objects.filter(customer=target)
        customer = target
    with transaction.atomic():
        ids = list(links.filter(revoked_at__isnull=True).values_list("pk", flat=True))
        PortalLink.objects.filter(pk__in=ids).update(revoked_at=now)
        if ids:
            trail.record(
                customer.organisation_id, "portal.link_revoked", user=user,
                target=("portallink", ids[0]) if len(ids) == 1 else customer,
                summary=Text(gettext_noop("portal links of %(customer)s revoked: %(count)s"),
                             {"count": len(ids), "customer": customer.reference}),
                data={"customer": customer.reference, "links": ids},
            )  # fmt: skip
    return len(ids)
