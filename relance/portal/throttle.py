"""Requests to the portal counted in the cache, per link token and per client address:
past the limit in a minute, the portal answers 429 until the minute is over. A wrong token
counts for its address like a right one, so guessing links is as slow as reading them.

The counts live in Django's cache: the default in-memory one counts per server process;
several processes share a count through a shared cache (CACHES, docs/portal.md)."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache

WINDOW = 60  # seconds
TOKEN_LIMIT = 30
ADDRESS_LIMIT = 60


def _count(key: str, window: int) -> int:
    if cache.add(key, 1, timeout=window + 1):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window + 1)
        return 1


def allowed(token: str, address: str | None) -> bool:
    """Count this request; whether it is within both limits."""
    minute = int(time.time() // WINDOW)
    token_limit = int(getattr(settings, "RELANCE_PORTAL_RATE_LIMIT", TOKEN_LIMIT))
    address_limit = int(getattr(settings, "RELANCE_PORTAL_ADDRESS_RATE_LIMIT", ADDRESS_LIMIT))
    digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:32]
    by_token = _count(f"portal:t:{digest}:{minute}", WINDOW)
    by_address = _count(f"portal:a:{address or '-'}:{minute}", WINDOW)
    return by_token <= token_limit and by_address <= address_limit
