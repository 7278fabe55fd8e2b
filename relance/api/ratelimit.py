"""Requests per API key: a token bucket in Django's cache (docs/api.md).

A key holds up to ``RELANCE_API_BURST`` requests and gains ``RELANCE_API_RATE`` per
minute; a request finding the bucket empty is refused with 429 and ``Retry-After``. The
cache is the process's memory unless CACHES says otherwise: with several server
processes, configure a shared cache (e.g. the database cache) for the limit to be global.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache


def limits() -> tuple[float, float]:
    """(burst, per second)."""
    burst = float(getattr(settings, "RELANCE_API_BURST", 120))
    per_minute = float(getattr(settings, "RELANCE_API_RATE", 600))
    return burst, per_minute / 60


def take(key_id: int, now: float | None = None) -> int:
    """Take one request from the key's bucket: 0 when allowed, else the seconds to wait."""
    burst, rate = limits()
    if burst <= 0 or rate <= 0:
        return 0  # limit switched off
    now = time.time() if now is None else now
    name = f"relance-api-bucket:{key_id}"
    tokens, last = cache.get(name, (burst, now))
    tokens = min(burst, tokens + max(0.0, now - last) * rate)
    if tokens < 1:
        cache.set(name, (tokens, now), timeout=int(burst / rate) + 60)
        return max(1, math.ceil((1 - tokens) / rate))
    cache.set(name, (tokens - 1, now), timeout=int(burst / rate) + 60)
    return 0
