"""Settings › API keys: administrators create (the secret shown once), list and revoke the
organisation's keys; nobody else reaches the page; another organisation's key stays."""

from __future__ import annotations

import re

import factories as make
import pytest
from django.test import Client
from django.urls import reverse

from relance.api import keys
from relance.api.models import ApiKey
from relance.audit.models import AuditEvent

URL = "/settings/api-keys/"


@pytest.fixture
def admin(client, org, owner):
    client.force_login(owner)
    return client


def test_it_creates_a_key_showing_its_secret_once(admin, org):
    answer = admin.post(URL, {"action": "create", "name": "ERP sync", "scopes": ["read", "bulk"]})
    assert answer.status_code == 200
    assert answer["Cache-Control"] == "no-store"
    token = re.search(r'value="(rl_[0-9a-f]+_[^"]+)"', answer.content.decode()).group(1)
    key = ApiKey.objects.get(organisation=org)
    assert (key.name, key.scopes) == ("ERP sync", ["read", "bulk"])
    api = Client().get("/api/v1/customers", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    page = admin.get(URL).content.decode()
    assert f"rl_{key.prefix}" in page and token not in page
    assert AuditEvent.objects.filter(action="apikey.created", user__isnull=False).exists()
    # Its scopes in the reader's words, not as the API names them.
    assert '<td data-label="Autorisations">Lecture, En masse</td>' in page


@pytest.mark.usefixtures("in_english")
def test_it_creates_a_key_for_a_number_of_days(admin, org, time_machine):
    time_machine.move_to("2026-11-02 09:00Z", tick=False)
    admin.post(URL, {"action": "create", "name": "Auditor", "scopes": ["read"], "days": "7"})
    key = ApiKey.objects.get(organisation=org)
    assert key.expires_at.isoformat() == "2026-11-09T09:00:00+00:00"
    assert "until 11/09/2026" in admin.get(URL).content.decode()
    time_machine.move_to("2026-11-10 09:00Z", tick=False)
    assert "expired on 11/09/2026" in admin.get(URL).content.decode()
    refused = admin.post(URL, {"action": "create", "name": "X", "scopes": ["read"], "days": "0"})
    assert 'id="id_days_error"' in refused.content.decode()
    assert ApiKey.objects.count() == 1


def test_it_refuses_a_key_without_a_scope_or_a_name(admin, org):
    answer = admin.post(URL, {"action": "create", "name": "", "scopes": []})
    assert answer.status_code == 200 and "field-error" in answer.content.decode()
    assert not ApiKey.objects.exists()


def test_it_revokes_a_key_of_the_organisation_only(admin, org, other_org):
    mine, token = keys.create(org, "ERP", ["read"])
    theirs, their_token = keys.create(other_org, "BI", ["read"])
    answer = admin.post(URL, {"action": "revoke", "prefix": mine.prefix})
    assert answer.status_code == 302
    mine.refresh_from_db()
    assert mine.revoked_at is not None
    bearer = {"Authorization": f"Bearer {token}"}
    assert Client().get("/api/v1/customers", headers=bearer).status_code == 401
    refused = admin.post(URL, {"action": "revoke", "prefix": theirs.prefix}, follow=True)
    assert "no API key" in refused.content.decode()
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert f'data-key="rl_{theirs.prefix}"' not in admin.get(URL).content.decode()
    assert Client().get("/api/v1/customers", headers={
        "Authorization": f"Bearer {their_token}"}).status_code == 200  # fmt: skip


@pytest.mark.parametrize("role", ["viewer", "collector", "manager"])
def test_it_is_for_administrators_only(client, org, role):
    user = make.member(org, f"{role}@acme.test", role)
    client.force_login(user)
    key, _ = keys.create(org, "ERP", ["read"])
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"action": "revoke", "prefix": key.prefix}).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None
    settings_page = client.get(reverse("console:settings")).content.decode()
    assert URL not in settings_page
