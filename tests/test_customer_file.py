"""What a person records in a customer's file (notes, contacts, the collector, a dispute on
several invoices), `relance customer assign`, and the scenario filter of the customer list
agreeing with the scenario each customer follows."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import factories as make
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relance.audit.models import AuditEvent
from relance.dunning import dispute_group
from relance.dunning.models import CustomerScenario, SegmentRule
from relance.dunning.segment_query import following, years_before
from relance.dunning.segments import CustomerFacts, choose_scenario, load_rules, seniority
from relance.ledger import customer_file
from relance.ledger.models import Contact, Customer, Dispute, Invoice, TimelineEvent

D = date(2026, 11, 23)


@pytest.fixture
def acme(db):
    org = make.organisation("acme")
    make.scenario(org)
    return org


@pytest.fixture
def durand(acme):
    return make.customer(acme, "C001", legal_name="Durand SARL")


# -- notes and contacts -----------------------------------------------------------------


def test_it_writes_a_note_whole_on_the_timeline(durand):
    user = make.member(durand.organisation, "ann@acme.test", "collector")
    text = "Spoke to the accountant.\n" + "x" * 400
    customer_file.add_note(durand, f"  {text}  ", user=user)
    event = TimelineEvent.objects.get(customer=durand, kind="note")
    assert event.data["text"] == text and event.summary == text[:300]
    assert event.actor == user
    audit = AuditEvent.objects.get(action="customer.note_added")
    assert audit.data["text"] == text and audit.actor == "ann@acme.test"


@pytest.mark.parametrize("text", ["", "   \n", "x" * 5001])
def test_it_refuses_an_empty_or_endless_note(durand, text):
    with pytest.raises(customer_file.Refused):
        customer_file.add_note(durand, text)
    assert not TimelineEvent.objects.exists()
    assert not AuditEvent.objects.filter(action="customer.note_added").exists()


def test_it_adds_a_contact_and_says_so(durand):
    contact = customer_file.add_contact(
        durand, name=" Paul Roux ", role="DAF", email="PAUL@durand.test", phone="0123456789",
        preferred_channel="email", dunning_contact=True,
    )  # fmt: skip
    assert (contact.name, contact.email, contact.is_primary) == (
        "Paul Roux",
        "paul@durand.test",
        True,
    )
    event = TimelineEvent.objects.get(customer=durand, kind="contact_added")
    assert "Paul Roux" in event.summary and event.data["dunning_contact"] is True
    assert AuditEvent.objects.get(action="contact.added").object_id == str(contact.pk)


@pytest.mark.parametrize(
    "fields",
    [
        {"name": ""},
        {"name": "X", "email": "not-an-address"},
        {"name": "X", "preferred_channel": "pigeon"},
        {"name": "X", "dunning_contact": True},  # reminded by e-mail, without an address
        {"name": "X" * 201},
    ],
)
def test_it_refuses_a_contact_that_cannot_be(durand, fields):
    with pytest.raises(customer_file.Refused):
        customer_file.add_contact(durand, **fields)
    assert not Contact.objects.exists() and not TimelineEvent.objects.exists()


# -- collectors -----------------------------------------------------------------------------


def test_it_assigns_a_member_and_unassigns(durand):
    org = durand.organisation
    bob = make.member(org, "bob@acme.test", "collector")
    boss = make.member(org, "boss@acme.test", "manager")
    customer_file.assign_collector(durand, bob, by=boss)
    durand.refresh_from_db()
    assert durand.collector == bob
    customer_file.assign_collector(durand, bob, by=boss)  # already: nothing written
    assert TimelineEvent.objects.filter(kind="collector_assigned").count() == 1
    customer_file.assign_collector(durand, None, by=boss)
    durand.refresh_from_db()
    assert durand.collector is None
    trail = list(AuditEvent.objects.filter(action="customer.assigned").order_by("pk"))
    assert [(a.data["collector"], a.data["previous"], a.actor) for a in trail] == [
        ("bob@acme.test", None, "boss@acme.test"), (None, "bob@acme.test", "boss@acme.test"),
    ]  # fmt: skip


def test_it_refuses_a_collector_outside_the_organisation_or_a_viewer(durand):
    outsider = make.member(make.organisation("globex"), "eve@globex.test", "collector")
    viewer = make.member(durand.organisation, "view@acme.test", "viewer")
    for user in (outsider, viewer):
        with pytest.raises(customer_file.Refused):
            customer_file.assign_collector(durand, user)
    durand.refresh_from_db()
    assert (
        durand.collector is None
        and not AuditEvent.objects.filter(action="customer.assigned").exists()
    )


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("customer", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_assigns_from_the_command_line(durand):
    bob = make.member(durand.organisation, "bob@acme.test", "collector")
    out, _ = run("assign", "C001", "--collector", "Bob@acme.test", "--json")
    assert json.loads(out) == {"customer": "C001", "collector": "bob@acme.test"}
    durand.refresh_from_db()
    assert durand.collector == bob
    assert AuditEvent.objects.get(action="customer.assigned").actor.startswith("cli")
    out, _ = run("assign", "C001", "--collector", "none")
    assert "nobody" in out
    durand.refresh_from_db()
    assert durand.collector is None


@pytest.mark.parametrize(
    "args",
    [
        ("assign", "C001", "--collector", "nobody@acme.test"),  # no such user
        ("assign", "C001", "--collector", "eve@globex.test"),  # not a member
        ("assign", "C999", "--collector", "none"),  # no such customer
    ],
)
def test_it_refuses_an_assignment_with_exit_1(durand, args):
    make.member(make.organisation("globex"), "eve@globex.test", "collector")
    with pytest.raises(CommandError) as caught:
        run(*args)
    assert caught.value.returncode == 1
    durand.refresh_from_db()
    assert durand.collector is None


def test_it_keeps_customer_show_working(durand):
    make.invoice(durand, due=D - timedelta(days=10))
    out, _ = run("show", "C001", "--date", D.isoformat(), "--json")
    assert json.loads(out)["customer"]["reference"] == "C001"


# -- a dispute on several invoices ------------------------------------------------------------


def test_it_opens_grouped_disputes_and_refuses_all_or_nothing(durand, acme):
    one = make.invoice(durand, due=D, amount="100.00")
    two = make.invoice(durand, due=D, amount="200.00")
    paid = make.invoice(durand, due=D)
    make.pay(paid, on=D)
    theirs = make.invoice(make.customer(acme), due=D)
    refused = (([one, paid], {}), ([one, theirs], {}), ([one, two], {"amount": Decimal(5)}),
               ([], {}), ([one, one], {}))  # fmt: skip
    for invoices, kw in refused:
        with pytest.raises(dispute_group.Refused):
            dispute_group.open_disputes(durand, invoices, reason="price", on=D, **kw)
    assert (
        not Dispute.objects.exists()
        and not TimelineEvent.objects.filter(kind="dispute_opened").exists()
    )
    disputes = dispute_group.open_disputes(durand, [two, one], reason="duplicate", on=D, note="n")
    assert [d.invoice for d in disputes] == [one, two]  # by due date and number
    groups = set(Dispute.objects.values_list("group", flat=True))
    assert len(groups) == 1 and groups != {""}
    assert AuditEvent.objects.filter(action="dispute.opened").count() == 2


# -- the scenario filter agrees with the scenario each customer follows ----------------------


def test_it_counts_years_back_from_29_february():
    assert years_before(date(2028, 2, 29), 1) == date(2027, 2, 28)
    for since in (date(2027, 2, 28), date(2027, 3, 1)):
        assert (seniority(since, date(2028, 2, 29)) >= 1) == (since <= date(2027, 2, 28))


def test_it_filters_on_the_first_rule_that_matches(acme):
    default = acme_default(acme)
    s1, s2 = acme_scenario(acme, "s1"), acme_scenario(acme, "s2")
    SegmentRule.objects.create(organisation=acme, position=1, name="risky", scenario=s1,
                               risk_class="high")  # fmt: skip
    SegmentRule.objects.create(organisation=acme, position=2, name="loyal", scenario=s2,
                               min_years=2)  # fmt: skip
    SegmentRule.objects.create(organisation=acme, position=3, name="large", scenario=s1,
                               min_invoice_amount=Decimal("1000.00"))  # fmt: skip
    old, new = D - timedelta(days=1000), D - timedelta(days=100)
    make.customer(acme, "A", risk_class="high", customer_since=old)
    make.customer(acme, "B", customer_since=old)
    large = make.customer(acme, "C", customer_since=new)
    make.invoice(large, due=D, amount="1500.00")
    small = make.customer(acme, "D", customer_since=new)
    make.invoice(small, due=D, amount="500.00")
    make.customer(acme, "E")
    chosen = make.customer(acme, "F", risk_class="high")
    CustomerScenario.objects.create(organisation=acme, customer=chosen, scenario=default)

    def following_it(scenario):
        rows = Customer.objects.filter(following(acme, scenario.pk, D), organisation=acme)
        return set(rows.values_list("reference", flat=True))

    assert following_it(s1) == {"A", "C"}  # A also loyal: the first rule wins
    assert following_it(s2) == {"B"}
    assert following_it(default) == {"D", "E", "F"}


facts = st.tuples(
    st.sampled_from(["low", "medium", "high"]),
    st.one_of(st.none(), st.integers(min_value=-400, max_value=4000)),  # days a customer
    st.one_of(
        st.none(), st.sampled_from([Decimal("50.00"), Decimal("500.00"), Decimal("5000.00")])
    ),
    st.booleans(),  # an explicit choice
)
rules = st.lists(
    st.tuples(
        st.sampled_from(["", "low", "high"]),
        st.one_of(st.none(), st.sampled_from([Decimal("100.00"), Decimal("1000.00")])),
        st.one_of(st.none(), st.integers(min_value=0, max_value=5)),
        st.one_of(st.none(), st.integers(min_value=0, max_value=8)),
        st.integers(min_value=0, max_value=2),  # which scenario
    ),
    max_size=4,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(customers=st.lists(facts, min_size=1, max_size=8), rule_specs=rules)
def test_it_filters_on_the_scenario_choose_scenario_chooses(acme, customers, rule_specs):
    """Customer by customer, ``following`` keeps exactly those ``choose_scenario`` gives
    the scenario."""
    Invoice.objects.filter(organisation=acme).delete()
    Customer.objects.filter(organisation=acme).delete()
    SegmentRule.objects.filter(organisation=acme).delete()
    scenarios = [acme_default(acme), acme_scenario(acme, "s1"), acme_scenario(acme, "s2")]
    for position, (risk, minimum, lo, hi, which) in enumerate(rule_specs, start=1):
        SegmentRule.objects.create(
            organisation=acme, position=position, name=f"r{position}",
            scenario=scenarios[which], risk_class=risk, min_invoice_amount=minimum,
            min_years=lo, max_years=hi,
        )  # fmt: skip
    made = []
    for n, (risk, days, largest, explicit) in enumerate(customers):
        since = None if days is None else D - timedelta(days=days)
        c = make.customer(acme, f"H{n}", risk_class=risk, customer_since=since)
        if largest is not None:
            make.invoice(c, due=D, amount=largest)
            make.invoice(c, due=D, amount="10.00")
        if explicit:
            CustomerScenario.objects.create(organisation=acme, customer=c, scenario=scenarios[2])
        made.append((c, largest))
    loaded, default_id, chosen = load_rules(acme)
    for scenario in scenarios:
        kept = set(
            Customer.objects.filter(following(acme, scenario.pk, D), organisation=acme)
            .values_list("pk", flat=True)
        )  # fmt: skip
        expected = {
            c.pk for c, largest in made
            if choose_scenario(CustomerFacts(c.risk_class, c.customer_since, largest, D),
                               loaded, default_id, chosen.get(c.pk)).scenario_id == scenario.pk
        }  # fmt: skip
        assert kept == expected


def acme_default(org):
    from relance.dunning.models import Scenario

    return Scenario.objects.get(organisation=org, is_default=True)


def acme_scenario(org, slug):
    from relance.dunning.models import Scenario

    found = Scenario.objects.filter(organisation=org, slug=slug).first()
    return found or make.scenario(org, (), slug=slug, default=False, replace=False)
