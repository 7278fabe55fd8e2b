"""The portal and the console as an attacker sees them: control characters in what a debtor
types (a hole, closed), forms posted without their CSRF token, and every console address
given another organisation's ids (held: kept so by these tests)."""

from __future__ import annotations

import re

import factories as make
import pytest
import test_portal
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from test_api import world
from test_portal import post, text

from relance.ledger import customer_file
from relance.ledger.models import Address, Contact, Customer, Invoice, Payment, TimelineEvent
from relance.portal import links

pytestmark = pytest.mark.django_db
# The portal's fixtures: its clock, an organisation and a customer with two open invoices.
clock, acme, today, durand = (
    test_portal.clock,
    test_portal.acme,
    test_portal.today,
    test_portal.durand,
)


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [("name", "Paul\r\nBcc: evil@x.test", "U+000D"), ("line1", "3 rue\nX", "U+000A"),
     ("city", "Ly\u2028on", "U+2028")],
    ids=["name", "address", "city"],
)  # fmt: skip
def test_the_portal_refuses_a_contact_detail_of_more_than_one_line(
    client, durand, field, value, code
):
    # A dunning contact named "Paul\r\nBcc: ..." was kept, and every e-mail to the customer
    # failed from then on ("address parts cannot contain newlines").
    data = {"name": "Paul Durand", "email": "paul@durand.test", "preferred_channel": "email",
            "line1": "3 rue des Lilas", "postcode": "69003", "city": "Lyon"}  # fmt: skip
    data[field] = value
    answer = post(client, links.url_for(durand), "contact", data)
    assert answer.status_code == 400
    page = text(answer)
    assert f'id="id_{field}-error"' in page and f"({code})" in page  # in the customer's French
    assert list(Contact.objects.filter(customer=durand).values_list("name", flat=True)) == [
        "Marie Durand"
    ]
    assert not Address.objects.filter(customer=durand, kind="dunning").exists()


def test_the_customer_file_refuses_a_contact_of_more_than_one_line(durand):
    with pytest.raises(customer_file.Refused, match=r"\(U\+000A\)"):
        customer_file.add_contact(durand, name="Paul\nDurand", email="paul@durand.test")
    assert Contact.objects.filter(customer=durand).count() == 1


# -- the console ------------------------------------------------------------------------------


def console_routes() -> list[tuple[str, list[str]]]:
    """The console's named addresses that take ids, with the names of their ids."""
    found = []

    def walk(patterns, namespace):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, p.namespace or namespace)
            elif isinstance(p, URLPattern) and namespace == "console" and p.name:
                params = re.findall(r"<(\w+):(\w+)>", str(p.pattern))
                if params and all(kind == "int" for kind, _ in params):
                    found.append((p.name, [name for _, name in params]))

    walk(get_resolver().url_patterns, None)
    return found


def state(org) -> tuple:
    """What a change to another organisation would show in."""
    return (
        sorted(Invoice.objects.filter(organisation=org).values_list("number", "balance")),
        Customer.objects.filter(organisation=org).count(),
        Payment.objects.filter(organisation=org).count(),
        TimelineEvent.objects.filter(organisation=org).count(),
    )


def test_every_console_address_given_another_organisations_ids_serves_and_changes_nothing(
    org, other_org
):
    theirs = world(other_org, "THEIRS")  # their rows first: their ids are not ours
    world(org, "OURS")
    client = Client()
    client.force_login(make.member(org, "alice@acme.test", "admin"))
    before = state(other_org)
    routes = console_routes()
    assert len(routes) > 30
    for name, params in routes:
        for pk in sorted(set(theirs.values())):
            url = reverse(f"console:{name}", kwargs=dict.fromkeys(params, pk))
            for method in (client.get, client.post):
                answer = method(url, {"note": "x", "outcome": "reached", "text": "x"})
                body = getattr(answer, "content", b"")
                # An id of theirs may be one of ours in another table: a page of ours then
                # (each table numbers its rows). Never theirs, never a 403 that would tell
                # their row exists, never a server error.
                assert answer.status_code not in (403, 500), (url, answer.status_code)
                assert b"THEIRS" not in body, url
    assert state(other_org) == before


def test_every_console_write_without_its_csrf_token_is_refused(org):
    ours = world(org, "OURS")
    client = Client(enforce_csrf_checks=True)
    client.force_login(make.member(org, "alice@acme.test", "admin"))
    before = state(org)
    for name, params in console_routes():
        url = reverse(f"console:{name}", kwargs=dict.fromkeys(params, ours["customers"]))
        answer = client.post(url, {"note": "x", "outcome": "paid", "text": "x"})
        assert answer.status_code == 403, (url, answer.status_code)
    assert state(org) == before
