"""White label: the agent writing for the organisation, set and stopped by the service, the
command and the console's settings (administrators only), checked as the organisation's own
identity, in the audit trail."""

from __future__ import annotations

import json
from io import StringIO

import factories as f
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from relance.accounts import agents
from relance.accounts.identity import IdentityError
from relance.audit.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]

RECOUVRA = {"kind": "agency", "name": "Recouvra", "address": "3 place Bellecour\n69002 Lyon",
            "siren": "443 061 841", "iban": "FR76 3000 6000 0112 3456 7890 189"}  # fmt: skip


def test_it_sets_checks_and_stops_the_agent(org):
    with pytest.raises(IdentityError) as refused:
        agents.set_agent(org, {**RECOUVRA, "siren": "443061842", "kind": "bank"})
    assert set(refused.value.errors) == {"siren", "kind"} and agents.agent_of(org) is None
    with pytest.raises(IdentityError, match="address: required"):
        agents.set_agent(org, {"kind": "insurer", "name": "Assure"})
    agent = agents.set_agent(org, RECOUVRA)
    assert (agent.siren, agent.iban) == ("443061841", "FR7630006000011234567890189")
    assert agents.agent_of(org) == agent
    assert agents.stop_agent(org) and agents.agent_of(org) is None
    assert agents.set_agent(org, {"phone": "04 72 00 00 00"}).active  # kept, used again
    actions = list(
        AuditEvent.objects.filter(organisation_id=org.pk).values_list("action", flat=True)
    )
    assert actions.count("organisation.agent_set") == 2 and "organisation.agent_stopped" in actions


def test_the_command_sets_shows_and_stops_it(org):
    out = StringIO()
    call_command("agent", "set", "--kind", "insurer", "--name", "Assure Crédit",
                 "--address", "1 rue X\n75001 Paris", "--json", stdout=out)  # fmt: skip
    assert json.loads(out.getvalue())["agent"]["kind"] == "insurer"
    with pytest.raises(CommandError, match="email"):
        call_command("agent", "set", "--email", "not an address")
    out = StringIO()
    call_command("agent", "stop", "--json", stdout=out)
    assert json.loads(out.getvalue())["agent"] is None


def test_the_settings_page_sets_it_for_administrators_only(client, org):
    url = reverse("console:settings_agent")
    client.force_login(f.member(org, "manager@acme.test", "manager"))
    assert 'data-testid="agent-inactive"' in client.get(url).content.decode()
    assert client.post(url, {**RECOUVRA, "action": "save"}).status_code == 403
    client.force_login(f.member(org, "admin@acme.test", "admin"))
    bad = client.post(url, {**RECOUVRA, "siren": "123", "action": "save"}).content.decode()
    assert "Nothing was saved" in bad and agents.agent_of(org) is None
    page = client.post(url, {**RECOUVRA, "action": "save"}, follow=True).content.decode()
    assert 'data-testid="agent-active"' in page and agents.agent_of(org).name == "Recouvra"
    client.post(url, {"action": "stop"})
    assert agents.agent_of(org) is None
