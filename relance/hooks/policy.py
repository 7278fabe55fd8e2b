"""What to do after an attempt: the decisions of delivery, as pure functions of plain
values (no clock, no database, no network), so that tests state them directly.

- 2xx: delivered.
- Network errors, time-outs, 408, 425, 429 and 5xx: retried after 1 min, 5 min, 30 min,
  2 h, 5 h and 10 h (each lengthened by up to ``JITTER``, so that retries spread), then
  dead. A ``Retry-After`` longer than the next delay is honoured, up to ``MAX_RETRY_AFTER``.
- 410 Gone: the receiver says the endpoint is no more: failed, and the endpoint disabled.
- Any other status (3xx: redirects are not followed; 4xx): the receiver refuses the
  message; sending it again unchanged would be refused again: failed, not retried (a person
  replays it once the receiver is fixed).
- An endpoint failing without a success for ``disable_after`` is disabled.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import NamedTuple

SCHEDULE: tuple[dt.timedelta, ...] = tuple(
    dt.timedelta(minutes=m) for m in (1, 5, 30, 120, 300, 600)
)
JITTER = 0.2  # a delay is lengthened by up to a fifth
MAX_RETRY_AFTER = dt.timedelta(hours=24)
RETRIED = frozenset({408, 425, 429})

PENDING, SUCCEEDED, FAILED, DEAD = "pending", "succeeded", "failed", "dead"


class Verdict(NamedTuple):
    status: str
    next_attempt_at: dt.datetime | None = None
    disable: bool = False  # the endpoint is to be disabled


def judge(
    *,
    attempts: int,
    status_code: int | None,
    now: dt.datetime,
    jitter: float = 0.0,
    retry_after: dt.timedelta | None = None,
) -> Verdict:
    """The outcome of attempt number ``attempts`` (1 for the first) that got
    ``status_code`` (None: no answer, a network error or a time-out). ``jitter`` in [0, 1)
    spreads the retries."""
    if status_code is not None and 200 <= status_code < 300:
        return Verdict(SUCCEEDED)
    if status_code == 410:
        return Verdict(FAILED, disable=True)
    if status_code is not None and status_code not in RETRIED and status_code < 500:
        return Verdict(FAILED)
    if attempts > len(SCHEDULE):
        return Verdict(DEAD)
    delay = SCHEDULE[attempts - 1] * (1 + JITTER * jitter)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return Verdict(PENDING, now + delay)


def retry_after(value: str | None, now: dt.datetime) -> dt.timedelta | None:
    """A ``Retry-After`` header, in seconds or as an HTTP date; None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return dt.timedelta(seconds=int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when - now, dt.timedelta(0))


def should_disable(
    failing_since: dt.datetime | None, now: dt.datetime, after: dt.timedelta
) -> bool:
    """An endpoint that has failed since ``failing_since`` without one success."""
    return failing_since is not None and now - failing_since >= after
