"""Who may see and do what in the console: roles, the current organisation, and objects
loaded only within it (relance/console/access.py)."""

from __future__ import annotations

import datetime as dt

import factories as f
import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import RequestFactory

from relance.console.access import Can, Console, console_of, memberships_of
from relance.dunning.models import Instalment
from relance.ledger.models import Customer, Invoice

pytestmark = pytest.mark.django_db
D = dt.date(2026, 11, 20)


def console(org, user) -> Console:
    [membership] = [m for m in memberships_of(user) if m.organisation_id == org.pk]
    return Console(user, org, membership.role, memberships_of(user))


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("viewer", {Can.READ}),
        ("collector", {Can.READ, Can.WORK}),
        ("manager", {Can.READ, Can.WORK, Can.APPROVE, Can.EDIT_SCENARIOS, Can.ASSIGN}),
        ("admin", set(Can)),
    ],
)
def test_it_gives_each_role_what_it_may_do(org, role, allowed):
    seen = console(org, f.member(org, f"{role}@acme.test", role))
    assert {what for what in Can if seen.can(what)} == allowed
    for what in set(Can) - allowed:
        with pytest.raises(PermissionDenied):
            seen.require(what)


def test_it_lets_a_collector_work_their_customers_and_the_unassigned(org):
    collector = f.member(org, "carl@acme.test", "collector")
    other = f.member(org, "olga@acme.test", "collector")
    mine, nobodys, theirs = f.customer(org), f.customer(org), f.customer(org)
    Customer.objects.filter(pk=mine.pk).update(collector=collector)
    Customer.objects.filter(pk=theirs.pk).update(collector=other)
    seen = console(org, collector)
    workable = set(seen.objects(Customer).filter(seen.workable()).values_list("pk", flat=True))
    assert workable == {mine.pk, nobodys.pk}
    theirs.refresh_from_db()
    with pytest.raises(PermissionDenied):
        seen.require_work(theirs)
    viewer = console(org, f.member(org, "vera@acme.test", "viewer"))
    assert not viewer.objects(Customer).filter(viewer.workable()).exists()
    manager = console(org, f.member(org, "max@acme.test", "manager"))
    assert manager.may_work(theirs)


def test_it_loads_nothing_of_another_organisation(org, other_org):
    ours = f.invoice(f.customer(org), due=D, amount="100.00")
    theirs = f.invoice(f.customer(other_org), due=D, amount="100.00")
    plan = f.plan(theirs.customer, [theirs], [(D, "100.00")], on=D)
    seen = console(org, f.member(org, "alice@acme.test", "admin"))
    assert seen.get(Invoice, ours.pk) == ours
    for model, pk in ((Invoice, theirs.pk), (Customer, theirs.customer_id), (Invoice, "x"),
                      (Instalment, plan.instalments.get().pk)):  # fmt: skip
        with pytest.raises(Http404):
            seen.get(model, pk)
    # Rows without an organisation of their own are reached through their parent's.
    assert not seen.objects(Instalment).exists()


def test_it_keeps_the_organisation_the_user_chose_while_they_belong_to_it(org, other_org):
    user = f.member(org, "alice@acme.test", "admin")
    f.member(other_org, "alice@acme.test", "viewer")
    request = RequestFactory().get("/")
    request.user = user
    request.session = {}
    assert console_of(request).organisation == org  # the first by name: Acme
    request.session["relance_organisation"] = other_org.pk
    assert (console_of(request).organisation, console_of(request).role) == (other_org, "viewer")
    request.session["relance_organisation"] = 987654  # not theirs: back to the first
    assert console_of(request).organisation == org


def test_it_switches_only_to_the_users_organisations(client, org, other_org):
    user = f.member(org, "alice@acme.test", "admin")
    f.member(other_org, "alice@acme.test", "viewer")
    stranger = f.organisation("initech", name="Initech")
    client.force_login(user)
    assert client.post("/switch/", {"organisation": stranger.pk}).status_code == 404
    response = client.post("/switch/", {"organisation": org.pk})
    assert response.status_code == 302
    assert client.session["relance_organisation"] == org.pk
    assert client.get("/switch/").status_code == 405


def test_it_refuses_any_change_from_a_viewer(client, org):
    client.force_login(f.member(org, "vera@acme.test", "viewer"))
    assert client.get("/").status_code == 200
    assert client.post("/", {}).status_code == 403


def test_it_sends_strangers_to_sign_in_and_refuses_users_without_an_organisation(client, db):
    assert client.get("/").status_code == 302
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("lone@nowhere.test"))
    assert client.get("/").status_code == 403
