"""Cursor pagination: items in id order, ``next_cursor`` opaque (base64 of the last id),
``limit`` at most MAX_LIMIT. A cursor stays valid whatever is added meanwhile."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import Model, QuerySet

from relance.api.problems import ApiProblem, item

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_T = TypeVar("_T", bound=Model)


def encode(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, number = text.partition(":")
        value = int(number)
        if version != "v1" or value < 0 or not number.isdigit():
            raise ValueError
        return value
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiProblem(
            400, "the cursor is not one this API gave", [item("cursor", "is not a valid cursor")]
        ) from None


def page(
    queryset: QuerySet[_T],
    cursor: str | None,
    limit: int,
    describe: Callable[[_T], dict[str, Any]],
) -> dict[str, Any]:
    """One page of ``queryset`` as ``{"items": [...], "next_cursor": ...}``."""
    rows = queryset.order_by("pk")
    if cursor:
        rows = rows.filter(pk__gt=decode(cursor))
    found = list(rows[: limit + 1])
    more = len(found) > limit
    found = found[:limit]
    return {
        "items": [describe(row) for row in found],
        "next_cursor": encode(found[-1].pk) if more and found else None,
    }
