"""What the `relance` commands share: reading their options the same way."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.core.management.base import CommandError

from relance.lib.dates import out_of_range

if TYPE_CHECKING:
    from relance.accounts.models import Organisation


def iso_date(text: str) -> dt.date:
    """An argparse type: a bad date, or one outside the range Relance computes with
    (relance.lib.dates), is a usage error that names the value."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None
    if problem := out_of_range(day):
        raise argparse.ArgumentTypeError(problem)
    return day


def organisation_option(
    slug: str | None, *, create: bool = False, defaults: dict[str, str] | None = None
) -> Organisation:
    """The organisation of ``--org``, or a failed command that says why."""
    from relance.accounts.services import OrganisationNotFound, resolve_organisation

    try:
        return resolve_organisation(slug, create=create, defaults=defaults)
    except OrganisationNotFound as exc:
        raise CommandError(str(exc)) from None


def amount(text: str) -> Decimal:
    """An argparse type: an amount above zero, in cents at most (``1234.56`` or ``1234,56``)."""
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        value = Decimal(-1)
    # Sixteen digits before the point: what the database's amounts hold.
    too_big = value.is_finite() and value >= Decimal("1e16")
    if too_big or not value.is_finite() or value <= 0 or value != round(value, 2):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an amount above zero with at most two decimals"
        )
    return value.quantize(Decimal("0.01"))


def scope_options(*parsers: argparse.ArgumentParser) -> None:
    """``--org`` and ``--json`` on each of a command's verbs, said the same way everywhere."""
    for parser in parsers:
        parser.add_argument("--org", help="organisation slug")
        parser.add_argument("--json", action="store_true", help="print one JSON document")


@contextmanager
def refused(*errors: type[Exception]) -> Iterator[None]:
    """Inside it, ``errors`` (a service refusing its input, having written nothing) fail the
    command with their message on stderr and exit 1, without a traceback."""
    try:
        yield
    except errors as exc:
        raise CommandError(str(exc)) from None
