"""The client's address, as sign-in throttling and the audit trail both see it."""

from __future__ import annotations

from ipaddress import ip_address
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or behind ``RELANCE_PROXY_COUNT`` reverse proxies the address the
    farthest of them saw: that many entries from the right of X-Forwarded-For. Entries
    further left are written by the client and never trusted (a forged header must not
    buy an attacker a fresh address per try)."""
    count: int = getattr(settings, "RELANCE_PROXY_COUNT", 0)
    address = request.META.get("REMOTE_ADDR") or None
    if count > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [hop for hop in hops if hop]
        if len(hops) >= count:
            address = hops[-count]
    if address is None:
        return None
    try:
        return str(ip_address(address))
    except ValueError:
        return None
