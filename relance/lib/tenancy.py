"""Tenancy: every table of the relance apps carries its organisation, so that PostgreSQL can
be distributed by organisation (Citus) without a rewrite (docs/deployment.md). The few
tables that do not are listed here with their reason; ``relance db citus-layout``
(``relance.lib.citus``) and the suite's test of the rule read this list.

A child row's organisation is its parent's (an item state's is its invoice's). The code that
writes such rows passes it; ``FromParent`` fills it in for the ORM's own writes (``save``,
``bulk_create``, a many-to-many ``add``) that leave it out, from the parent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db import models

REFERENCE = "reference"  # copied to every node (small, read with every tenant's rows)
COORDINATOR = "coordinator"  # kept on the coordinator alone


@dataclass(frozen=True)
class Global:
    placement: str  # REFERENCE or COORDINATOR
    reason: str


# The models of the relance apps without an organisation, and why. Django's and third-party
# tables are placed by ``relance.lib.citus`` from the foreign keys that point to them.
GLOBAL: dict[str, Global] = {
    "accounts.Organisation": Global(REFERENCE, "the tenant itself"),
    "dunning.Rate": Global(REFERENCE, "reference data: the published late-payment rates"),
    "replies.MailboxSeen": Global(
        COORDINATOR,
        "the installation's IMAP mailbox (RELANCE_IMAP_*), which may serve every "
        "organisation: its messages are routed to one by their address",
    ),
}


def organisation_field(model: type[models.Model]) -> models.Field[Any, Any] | None:
    try:
        field = model._meta.get_field("organisation")
    except Exception:  # FieldDoesNotExist
        return None
    return field if isinstance(field, models.ForeignKey) else None


class FromParentQuerySet(models.QuerySet[Any]):
    """``bulk_create`` that fills the organisation of rows that leave it out (a many-to-many
    ``add`` goes through the query set, not the manager)."""

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        objs = list(objs)
        fill_organisation(self.model, objs)
        return super().bulk_create(objs, *args, **kwargs)


FromParentManager = models.Manager.from_queryset(FromParentQuerySet)


class FromParent(models.Model):
    """A row whose organisation is its parent's (``organisation_parent``, a foreign key)."""

    organisation_parent: ClassVar[str]
    objects = FromParentManager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        fill_organisation(type(self), [self])
        super().save(*args, **kwargs)


def fill_organisation(model: type[Any], objs: Sequence[Any]) -> None:
    """Set the organisation of ``objs`` that have none to their parent's: from the parent
    when it is at hand, else with one query for all of them."""
    parent = model._meta.get_field(model.organisation_parent)
    missing = [obj for obj in objs if obj.organisation_id is None]
    lookup: dict[Any, int] = {}
    for obj in missing:
        cached = parent.get_cached_value(obj, default=None)
        if cached is not None:
            obj.organisation_id = cached.organisation_id
    ids = {getattr(obj, parent.attname) for obj in missing if obj.organisation_id is None}
    if ids:
        lookup = dict(
            parent.related_model._default_manager.filter(pk__in=ids).values_list(
                "pk", "organisation_id"
            )
        )
        for obj in missing:
            if obj.organisation_id is None:
                obj.organisation_id = lookup.get(getattr(obj, parent.attname))
