"""White label: the collection agency or credit insurer writing the organisation's letters
and e-mails in its own name, for it. One per organisation; set, shown and switched off by
``relance agent`` and the console's settings, checked here (the same checks as the
organisation's own identity), recorded in the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from relance.accounts import identity
from relance.accounts.identity import IdentityError
from relance.accounts.models import Agent, AgentKind, Organisation
from relance.audit import trail

FIELDS = ("kind", "name", "legal_name", "address", "siren", "phone", "email", "letterhead",
          "iban", "bic")  # fmt: skip
REQUIRED = frozenset({"kind", "name", "address"})


def agent_of(organisation: Organisation) -> Agent | None:
    """The agent writing for the organisation now (an active one), or None."""
    return Agent.objects.filter(organisation_id=organisation.pk, active=True).first()


def _kind(value: str) -> str:
    value = value.strip().lower()
    if value not in AgentKind.values:
        raise ValueError(f"one of {', '.join(AgentKind.values)}")
    return value


def clean(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The values as they will be stored, or ``IdentityError`` naming every bad field."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in FIELDS:
            errors[name] = "not a field of an agent"
            continue
        text = "" if value is None else str(value)
        if not text.strip():
            if name in REQUIRED:
                errors[name] = "required"
            else:
                cleaned[name] = ""
            continue
        try:
            cleaned[name] = _kind(text) if name == "kind" else identity.CLEANERS[name](text)
        except ValueError as error:
            errors[name] = str(error)
    if errors:
        raise IdentityError(errors)
    return cleaned


def set_agent(
    organisation: Organisation, changes: Mapping[str, Any], *, user: Any = None, request: Any = None
) -> Agent:
    """Create or change the agent and make it active: all the changes, or none."""
    existing = Agent.objects.filter(organisation_id=organisation.pk).first()
    if existing is None:
        missing = {name: "required" for name in REQUIRED if not str(changes.get(name) or "")}
        if missing:
            raise IdentityError(missing)
    cleaned = clean(changes)
    with transaction.atomic():
        agent = existing or Agent(organisation=organisation)
        old = {name: getattr(agent, name) for name in cleaned} if existing else {}
        for name, value in cleaned.items():
            setattr(agent, name, value)
        agent.active = True
        agent.save()
        trail.record(
            organisation, "organisation.agent_set", user=user, request=request, target=agent,
            summary=f"letters written by {agent.name}",
            data={"changes": {n: {"old": old.get(n, ""), "new": v} for n, v in cleaned.items()}},
        )  # fmt: skip
    return agent


def stop_agent(organisation: Organisation, *, user: Any = None, request: Any = None) -> bool:
    """The organisation writes in its own name again (the agent is kept, inactive)."""
    with transaction.atomic():
        stopped = Agent.objects.filter(organisation_id=organisation.pk, active=True).update(
            active=False
        )
        if stopped:
            trail.record(organisation, "organisation.agent_stopped", user=user, request=request,
                         summary="letters written in the organisation's own name")  # fmt: skip
    return bool(stopped)


def describe(agent: Agent | None) -> dict[str, Any] | None:
    if agent is None:
        return None
    return {"active": agent.active, **{name: getattr(agent, name) for name in FIELDS}}
