"""Who may see and do what in the console: the one place every view loads its organisation
and its objects through.

A signed-in user works in one organisation at a time (the session remembers which; the
switcher changes it among their memberships). Their role there decides:

- viewer: reads everything of the organisation, changes nothing;
- collector: also works (notes, calls, promises, disputes, holds) the customers assigned to
  them or to nobody;
- manager: works every customer, approves what awaits approval, edits scenarios and
  templates, assigns customers to collectors;
- admin: also manages members, the organisation's settings and its keys.

Views never filter by organisation themselves: they ask ``console.objects(Model)`` or
``console.get(Model, pk)``, and ``console.require(...)`` before they change anything.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse

from relance.accounts.models import Membership, Organisation, Role
from relance.ledger.models import Customer

SESSION_KEY = "relance_organisation"

M = TypeVar("M", bound=models.Model)

RANK = {Role.VIEWER: 0, Role.COLLECTOR: 1, Role.MANAGER: 2, Role.ADMIN: 3}


class Can(enum.Enum):
    """What a view may need, each with the lowest role that has it."""

    READ = Role.VIEWER
    WORK = Role.COLLECTOR  # on the customers one may work (``may_work``)
    APPROVE = Role.MANAGER
    EDIT_SCENARIOS = Role.MANAGER
    ASSIGN = Role.MANAGER
    ADMINISTER = Role.ADMIN  # members, settings, keys


@dataclass(frozen=True)
class Console:
    """The signed-in user in their current organisation."""

    user: Any
    organisation: Organisation
    role: str
    memberships: tuple[Membership, ...]

    def can(self, what: Can) -> bool:
        return RANK[Role(self.role)] >= RANK[what.value]

    def require(self, what: Can) -> None:
        if not self.can(what):
            raise PermissionDenied(what.name)

    # -- loading objects ----------------------------------------------------------------

    def objects(self, model: type[M]) -> QuerySet[M]:
        """Every row of ``model`` in the current organisation. Models without their own
        organisation column are reached through a parent that has one."""
        manager: Any = model._default_manager
        return manager.filter(**{_organisation_path(model): self.organisation})

    def get(self, model: type[M], pk: Any, queryset: QuerySet[M] | None = None) -> M:
        """One row of the organisation, or 404: an id of another organisation and an id
        that does not exist answer the same."""
        try:
            key = int(pk)
        except (TypeError, ValueError):
            raise Http404 from None
        rows = queryset if queryset is not None else self.objects(model)
        found = rows.filter(pk=key).first()
        if found is None:
            raise Http404
        return found

    # -- customers one works ------------------------------------------------------------

    def workable(self) -> Q:
        """The customers this user may work, as a condition on Customer."""
        if self.can(Can.APPROVE):
            return Q()
        if self.can(Can.WORK):
            return Q(collector__isnull=True) | Q(collector_id=self.user.pk)
        return Q(pk__in=[])

    def may_work(self, customer: Customer) -> bool:
        if self.can(Can.APPROVE):
            return True
        return self.can(Can.WORK) and customer.collector_id in (None, self.user.pk)

    def require_work(self, customer: Customer) -> None:
        """Before recording anything on a customer: notes, calls, promises, disputes."""
        if not self.may_work(customer):
            raise PermissionDenied("not a customer this user works")


def _organisation_path(model: type[models.Model]) -> str:
    """The lookup from ``model`` to its organisation: its own column, or its parent's."""
    names = {f.name for f in model._meta.get_fields()}
    if "organisation" in names:
        return "organisation"
    for parent in ("invoice", "customer", "plan", "communication", "payment"):
        if parent in names:
            related = model._meta.get_field(parent).related_model
            assert isinstance(related, type)
            return f"{parent}__{_organisation_path(related)}"
    raise TypeError(f"{model.__name__} has no way to its organisation")


def memberships_of(user: Any) -> tuple[Membership, ...]:
    return tuple(
        Membership.objects.filter(user=user)
        .select_related("organisation")
        .order_by("organisation__name", "pk")
    )


def console_of(request: HttpRequest) -> Console:
    """The user's current organisation: the one the session names if they still belong
    to it, else their first."""
    user = request.user
    memberships = memberships_of(user)
    if not memberships:
        raise PermissionDenied("no organisation")
    wanted = request.session.get(SESSION_KEY)
    current = next((m for m in memberships if m.organisation_id == wanted), memberships[0])
    return Console(user, current.organisation, current.role, memberships)


def switch(request: HttpRequest, organisation_id: Any) -> Organisation:
    """Make another of the user's organisations the current one; 404 for any other."""
    for membership in memberships_of(request.user):
        if str(membership.organisation_id) == str(organisation_id):
            request.session[SESSION_KEY] = membership.organisation_id
            return membership.organisation
    raise Http404


View = Callable[..., HttpResponse]


def console_view(what: Can = Can.READ, *, post: Can | None = None) -> Callable[[View], View]:
    """Signs in, loads the console into ``request.console`` and checks ``what``; a POST
    (or other unsafe method) also needs ``post`` (default: WORK, so a viewer changes
    nothing anywhere)."""
    needed_to_change = post or (what if RANK[what.value] > RANK[Role.VIEWER] else Can.WORK)

    def decorate(view: View) -> View:
        @login_required
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            console = console_of(request)
            console.require(what)
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                console.require(needed_to_change)
            request.console = console  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def context(request: HttpRequest) -> dict[str, Any]:
    """Templates see ``console`` (None outside the console's views), and ``Can`` to ask
    ``console.can`` in a template through the ``can`` filter."""
    return {"console": getattr(request, "console", None)}
