"""What the endpoints share: the organisation of the key, lookups that answer 404 for
anything of another organisation, amounts as strings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, TypeVar

from django.db.models import Manager, Model, QuerySet
from django.http import HttpRequest

from relance.accounts.models import Organisation
from relance.api.auth import key_of
from relance.api.problems import ERROR_STATUSES, Problem, not_found
from relance.insights.management.commands.report import today_for

_M = TypeVar("_M", bound=Model)

_CENT = Decimal("0.01")
ERRORS: dict[Any, Any] = {frozenset(ERROR_STATUSES): Problem}


def org_of(request: HttpRequest) -> Organisation:
    return key_of(request).organisation


def user_id_of(request: HttpRequest) -> int | None:
    """Services record who acted: the member who created the key (docs/api.md)."""
    return key_of(request).created_by_id


def today(request: HttpRequest) -> dt.date:
    return today_for(org_of(request))


def one(queryset: QuerySet[_M] | Manager[_M], organisation: Organisation, pk: int, what: str) -> _M:
    """The organisation's row ``pk``: a 404 for another organisation's as for none."""
    found = queryset.filter(organisation=organisation, pk=pk).first()
    if found is None:
        raise not_found(what, pk)
    return found


def money(value: Decimal | None) -> str | None:
    return None if value is None else format(Decimal(value).quantize(_CENT), "f")


def responses(ok: Any, status: int = 200) -> dict[Any, Any]:
    return {status: ok, **ERRORS}
