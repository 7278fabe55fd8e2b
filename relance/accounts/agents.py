"""White label: the collection agency or credit insurer writing the organisation's letters
and e-mails in its own name, for it. One per organisation; set, shown and switched off by
``relance agent`` and the console's settings, checked here (the same checks as the
organisation's own identity), recorded in the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from relance.accounts import identity
from relance.accounts.identity import IdentityError
from relance.accounts.models import Agent, AgentKind, Organisation
from relance.audit import trail
from relance.ledger.timeline import Text

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
            summary=Text(gettext_noop("letters written by %(agent)s"), {"agent": agent.name}),
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
                         summary=Text(gettext_noop("letters written in the organisation's "
                                                   "own name")))  # fmt: skip
    return bool(stopped)


def describe(agent: Agent | None) -> dict[str, Any] | None:
    if agent is None:
        return None
    return {"active": agent.active, **{name: getattr(agent, name) for name in FIELDS}}


# L111-8 of the Code des procédures civiles d'exécution, paragraphs 2 and 3, which R124-4
# requires an agency's letters to reproduce (the statute's words, in French).
L111_8 = (
    "Les frais de recouvrement entrepris sans titre exécutoire restent à la charge du "
    "créancier, sauf s'ils concernent un acte dont l'accomplissement est prescrit par la loi "
    "au créancier. Toute stipulation contraire est réputée non écrite, sauf disposition "
    "législative contraire.",
    "Cependant, le créancier qui justifie du caractère dû des sommes réclamées peut demander "
    "au juge de l'exécution de laisser tout ou partie des frais ainsi exposés à la charge du "
    "débiteur de mauvaise foi.",
)


def mentions(org: Organisation, agent: Agent | None) -> dict[str, Any] | None:
    """What the law asks of a letter or message an agency writes for a creditor (R124-4
    CPCE), in the active language: its name and that it collects debts amicably, the
    creditor's name and address (``intro``), and L111-8's paragraphs 2 and 3
    (``mentions``); the sums by kind and how to pay are the letter's own tables."""
    if agent is None:
        return None
    creditor = org.legal_name or org.name
    where = ", ".join(line.strip() for line in org.address.splitlines() if line.strip())
    if agent.kind == "insurer":
        intro = _(
            "%(agent)s, credit insurer of %(creditor)s (%(address)s), writes to you on its "
            "behalf about the sums below."
        )
    else:
        intro = _(
            "%(agent)s, a company collecting debts amicably, writes to you on behalf of its "
            "client %(creditor)s (%(address)s), who has entrusted it with the sums below."
        )
    values = {"agent": agent.legal_name or agent.name, "creditor": creditor, "address": where}
    return {
        "kind": agent.kind,
        "name": agent.legal_name or agent.name,
        "address": agent.address,
        "email": agent.email,
        "phone": agent.phone,
        "intro": intro % values,
        "mentions": [
            _(
                "Amicable debt collection on behalf of %(creditor)s. Article L111-8 of the "
                "French Code of civil enforcement procedures, paragraphs 2 and 3:"
            )
            % {"creditor": creditor},
            *L111_8,
        ],
    }
