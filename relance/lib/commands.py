"""What the `relance` commands share: reading their options the same way."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import TYPE_CHECKING

from django.core.management.base import CommandError

if TYPE_CHECKING:
    from relance.accounts.models import Organisation


def iso_date(text: str) -> dt.date:
    """An argparse type: a bad date is a usage error that names the value."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None


def organisation_option(
    slug: str | None, *, create: bool = False, defaults: dict[str, str] | None = None
) -> Organisation:
    """The organisation of ``--org``, or a failed command that says why."""
    from relance.accounts.services import OrganisationNotFound, resolve_organisation

    try:
        return resolve_organisation(slug, create=create, defaults=defaults)
    except OrganisationNotFound as exc:
        raise CommandError(str(exc)) from None
