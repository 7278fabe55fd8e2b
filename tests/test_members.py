"""Members and roles: the services, `relance member` and the members page; the last
administrator is never removed nor demoted; a role changed takes effect on the next page;
a new member chooses their password from an e-mail received over real SMTP."""

from __future__ import annotations

import json
import re
from io import StringIO

import factories as make
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from relance.accounts import services
from relance.accounts.models import Membership
from relance.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

MEMBERS = reverse("console:settings_members")


def roles(org):
    return dict(Membership.objects.filter(organisation=org).values_list("user__username", "role"))


def member_command(*args, **kw):
    out = StringIO()
    call_command("member", *args, "--json", stdout=out, stderr=StringIO(), **kw)
    return json.loads(out.getvalue())


# -- services ------------------------------------------------------------------------------


def test_it_adds_changes_and_removes_a_member_with_an_event_each(org, owner):
    services.add_member(org, "Bob@Acme.test", "collector", by=owner)
    services.change_role(org, "bob@acme.test", "manager", by=owner)
    services.remove_member(org, "bob@acme.test", by=owner)
    assert roles(org) == {"alice@acme.test": "admin"}
    events = AuditEvent.objects.filter(action__startswith="member.", actor="alice@acme.test")
    assert list(events.order_by("pk").values_list("action", "data__role")) == [
        ("member.added", "collector"), ("member.changed", "manager"),
        ("member.removed", "manager"),
    ]  # fmt: skip
    assert get_user_model().objects.filter(username="bob@acme.test").exists()  # the user stays


def test_it_never_removes_nor_demotes_the_last_administrator(org, owner):
    with pytest.raises(services.MemberRefused, match="last administrator"):
        services.remove_member(org, "alice@acme.test", by=owner)
    with pytest.raises(services.MemberRefused, match="last administrator"):
        services.change_role(org, "alice@acme.test", "manager", by=owner)
    with pytest.raises(services.MemberRefused, match="last administrator"):
        services.add_member(org, "alice@acme.test", "viewer")
    assert roles(org) == {"alice@acme.test": "admin"}
    # With a second administrator, either may go.
    services.add_member(org, "bob@acme.test", "admin")
    services.change_role(org, "alice@acme.test", "viewer")
    with pytest.raises(services.MemberRefused):
        services.remove_member(org, "bob@acme.test")
    assert roles(org) == {"alice@acme.test": "viewer", "bob@acme.test": "admin"}


def test_it_refuses_an_unknown_member_role_or_address(org, owner, other_org, outsider):
    with pytest.raises(services.MemberRefused, match="not a member"):
        services.remove_member(org, "mallory@globex.test")  # a member elsewhere only
    with pytest.raises(services.MemberRefused, match="unknown role"):
        services.change_role(org, "alice@acme.test", "owner")
    with pytest.raises(services.MemberRefused, match="not an e-mail"):
        services.add_member(org, "bob-at-acme", "viewer")


def test_it_lists_members_administrators_first_with_their_last_sign_in(client, org, owner):
    make.member(org, "aaron@acme.test", "viewer")
    client.post("/login/", {"username": "alice@acme.test", "password": make.PASSWORD})
    listed = services.members_of(org)
    assert [(m.email, m.role) for m in listed] == [
        ("alice@acme.test", "admin"), ("aaron@acme.test", "viewer"),
    ]  # fmt: skip
    assert listed[0].last_login is not None and listed[1].last_login is None


# -- the command ---------------------------------------------------------------------------


def test_it_manages_members_from_the_command_line(org, owner):
    added = member_command("add", "bob@acme.test", "--role", "collector")
    assert (added["email"], added["role"], added["invited"]) == ("bob@acme.test", "collector",
                                                                 False)  # fmt: skip
    assert [m["email"] for m in added["members"]] == ["alice@acme.test", "bob@acme.test"]
    member_command("role", "bob@acme.test", "manager")
    assert roles(org)["bob@acme.test"] == "manager"
    listed = member_command("list")
    assert listed["members"][1] == {"email": "bob@acme.test", "role": "manager",
                                    "last_login": None,
                                    "joined": listed["members"][1]["joined"]}  # fmt: skip
    assert member_command("remove", "bob@acme.test")["removed"] is True
    assert roles(org) == {"alice@acme.test": "admin"}
    assert AuditEvent.objects.filter(action="member.removed", actor__startswith="cli").exists()


def test_it_exits_1_when_refused_and_2_on_a_usage_error():
    from commands import in_process as relance

    assert relance("createorg", "acme", "--name", "Acme SAS").returncode == 0
    created = relance("createuser", "alice@acme.test", "--password-stdin",
                      stdin="a-long-enough-secret-42\n")  # fmt: skip
    assert created.returncode == 0, created.stderr
    refused = relance("member", "remove", "alice@acme.test")
    assert refused.returncode == 1 and "last administrator" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert relance("member", "role", "alice@acme.test", "owner").returncode == 2


def test_it_invites_a_new_member_by_e_mail_from_the_command_line(org, owner, mail, client):
    added = member_command("add", "carol@acme.test", "--role", "viewer",
                           "--invite", "https://relance.example.com")  # fmt: skip
    assert added["invited"] is True
    [received] = mail.received
    assert received.rcpt_tos == ["carol@acme.test"]
    assert "Acme Industrie SAS" in received.subject
    assert re.search(r"https://relance\.example\.com/password-reset/\S+/\S+/", received.text())


# -- the page ------------------------------------------------------------------------------


def choose_password(client, text: str, password: str) -> None:
    link = re.search(r"https?://testserver(/password-reset/\S+/\S+/)", text)
    assert link, text
    form = client.get(link.group(1), follow=True)
    assert form.status_code == 200
    done = client.post(form.redirect_chain[-1][0],
                       {"new_password1": password, "new_password2": password})  # fmt: skip
    assert done.status_code == 302 and done["Location"] == "/password-reset/done/"


def test_it_adds_a_new_member_who_chooses_a_password_from_the_e_mail(client, org, owner, mail):
    client.force_login(owner)
    response = client.post(MEMBERS, {"action": "add", "email": "carol@acme.test",
                                     "role": "collector"})  # fmt: skip
    assert response.status_code == 302
    assert roles(org)["carol@acme.test"] == "collector"
    [received] = mail.received
    assert received.rcpt_tos == ["carol@acme.test"]
    assert "alice@acme.test" in received.text()  # who invited them
    client.logout()
    choose_password(client, received.text(), "a-much-longer-passphrase-42")
    signed = client.post("/login/", {"username": "carol@acme.test",
                                     "password": "a-much-longer-passphrase-42"})  # fmt: skip
    assert signed.status_code == 302
    assert client.get(reverse("console:today")).status_code == 200
    event = AuditEvent.objects.get(action="member.added", data__user="carol@acme.test")
    assert event.actor == "alice@acme.test" and event.organisation_id == org.pk


def test_it_adds_an_existing_user_without_an_e_mail(client, org, owner, other_org, outsider,
                                                    mail):  # fmt: skip
    client.force_login(owner)
    client.post(MEMBERS, {"action": "add", "email": "mallory@globex.test", "role": "viewer"})
    assert roles(org)["mallory@globex.test"] == "viewer"
    assert mail.received == []


def test_it_refuses_a_bad_address_naming_the_field(client, org, owner):
    client.force_login(owner)
    response = client.post(MEMBERS, {"action": "add", "email": "carol", "role": "viewer"})
    assert response.status_code == 200 and list(response.context["form"].errors) == ["email"]
    assert "carol" not in roles(org)


def test_a_role_change_takes_effect_on_the_next_page(client, org, owner):
    bob = make.member(org, "bob@acme.test", "collector")
    other = client.__class__()
    other.force_login(bob)
    assert other.get(MEMBERS).status_code == 403
    client.force_login(owner)
    client.post(MEMBERS, {"action": "role", "email": "bob@acme.test", "role": "admin"})
    assert other.get(MEMBERS).status_code == 200  # the same session, at once
    assert other.post(reverse("console:settings"), {"name": "Acme"}).status_code == 302
    client.post(MEMBERS, {"action": "role", "email": "bob@acme.test", "role": "viewer"})
    assert other.post(reverse("console:settings"), {"name": "Bob's"}).status_code == 403
    assert other.get(MEMBERS).status_code == 403


def test_the_page_keeps_the_last_administrator(client, org, owner):
    client.force_login(owner)
    response = client.post(MEMBERS, {"action": "remove", "email": "alice@acme.test"},
                           follow=True)  # fmt: skip
    assert "last administrator" in response.content.decode()
    response = client.post(MEMBERS, {"action": "role", "email": "alice@acme.test",
                                     "role": "viewer"}, follow=True)  # fmt: skip
    assert "last administrator" in response.content.decode()
    assert roles(org) == {"alice@acme.test": "admin"}


def test_it_removes_members_of_its_own_organisation_only(client, org, owner, other_org, outsider):
    make.member(org, "bob@acme.test", "viewer")
    client.force_login(outsider)  # an administrator of Globex only
    response = client.post(MEMBERS, {"action": "remove", "email": "bob@acme.test"}, follow=True)
    assert "not a member of globex" in response.content.decode()
    assert "bob@acme.test" in roles(org)
    client.force_login(owner)
    page = client.get(MEMBERS).content.decode()
    assert "bob@acme.test" in page and "mallory@globex.test" not in page
    client.post(MEMBERS, {"action": "remove", "email": "bob@acme.test"})
    assert "bob@acme.test" not in roles(org)
