"""Every tenant table carries the organisation, so that PostgreSQL can be distributed by it
(Citus): the rule over the models, the migration that filled it, and the write paths that
set it."""

from __future__ import annotations

import datetime as dt
import importlib

import factories as make
import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from factories import days

from relance.dunning import engine, plans
from relance.dunning.models import (
    CommunicationItem,
    Instalment,
    ItemState,
    PaymentPlan,
    PlanInvoice,
)
from relance.lib import tenancy

D = dt.date(2026, 11, 24)  # a Tuesday
MIGRATION = importlib.import_module("relance.dunning.migrations.0013_tenant")
BEFORE = ("dunning", "0012_plan_proposed")


def relance_models() -> list:
    return [
        m
        for m in apps.get_models(include_auto_created=True)
        if m._meta.app_config.name.startswith("relance.")
    ]


def test_it_gives_every_table_of_the_relance_apps_an_organisation_but_the_global_ones():
    missing = [
        m._meta.label
        for m in relance_models()
        if tenancy.organisation_field(m) is None and m._meta.label not in tenancy.GLOBAL
    ]
    assert missing == [], "add an organisation, or list the table in tenancy.GLOBAL with why"
    # The global list stays exact: each entry is a model, without an organisation, with a
    # reason and a placement.
    labels = {m._meta.label: m for m in relance_models()}
    for label, entry in tenancy.GLOBAL.items():
        assert label in labels and tenancy.organisation_field(labels[label]) is None
        assert entry.reason and entry.placement in (tenancy.REFERENCE, tenancy.COORDINATOR)
    # The tables added for this rule hold a required organisation, a foreign key.
    for model in (ItemState, Instalment, CommunicationItem, PlanInvoice):
        field = tenancy.organisation_field(model)
        assert field is not None and not field.null


def children_out_of_step() -> dict[str, tuple[int, int]]:
    """Per child table: its rows, and those whose organisation is not their parent's."""
    counts = {}
    with connection.cursor() as cursor:
        for table, parent, column in MIGRATION.CHILDREN:
            cursor.execute(
                f"SELECT COUNT(*), SUM(CASE WHEN c.organisation_id = p.organisation_id THEN 0"
                f" ELSE 1 END) FROM {table} c JOIN {parent} p ON p.id = c.{column}"
            )
            rows, wrong = cursor.fetchone()
            counts[table] = (rows, wrong or 0)
    return counts


def two_organisations_at_work() -> None:
    """A run, a payment plan confirmed and an instalment reminded, in two organisations
    (the second's ids differ from the first's)."""
    for slug in ("acme", "globex"):
        org = make.organisation(slug)
        make.scenario(org)
        customer = make.customer(org, "C1", email=f"ap@{slug}.test")
        late = [make.invoice(customer, f"F{n}", due=D - days(40 + n)) for n in range(3)]
        engine.run(org, D)
        other = make.customer(org, "C2", email=f"ap2@{slug}.test")
        owed = make.invoice(other, "P1", due=D - days(60), amount="600.00")
        plan = make.plan(other, [owed], [(D + days(1), "300.00"), (D + days(31), "300.00")], on=D)
        plans.confirm(plan, on=D)
        engine.run(org, D + days(7))  # a Tuesday, the first instalment 6 days late
        assert late and plan.instalments.count() == 2


@pytest.mark.django_db
def test_it_sets_the_organisation_on_every_write_path():
    two_organisations_at_work()
    counts = children_out_of_step()
    assert all(rows > 0 for rows, _ in counts.values()), counts
    assert {table: wrong for table, (_, wrong) in counts.items()} == dict.fromkeys(counts, 0)
    assert CommunicationItem.objects.filter(communication__purpose="instalment").exists()


@pytest.mark.django_db
def test_it_fills_the_organisation_of_rows_written_without_it():
    # Code that leaves it out (a test's ItemState.objects.create, a many-to-many add) gets
    # the parent's, one row or many.
    org = make.organisation("globex")
    customer = make.customer(org, "C1")
    a, b = make.invoice(customer, "F1", due=D), make.invoice(customer, "F2", due=D)
    state = ItemState.objects.create(invoice=a, level=1)
    assert state.organisation_id == org.pk
    plan = PaymentPlan.objects.create(organisation=org, customer=customer, agreed_on=D)
    plan.invoices.add(a, b)
    Instalment.objects.bulk_create([Instalment(plan_id=plan.pk, due_date=D, amount=1)])
    assert set(PlanInvoice.objects.values_list("organisation_id", flat=True)) == {org.pk}
    assert Instalment.objects.get().organisation_id == org.pk


@pytest.mark.django_db(transaction=True)
def test_it_fills_the_organisation_from_the_parent_when_migrating():
    two_organisations_at_work()
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    try:
        with connection.cursor() as cursor:
            columns = [
                c.name
                for c in connection.introspection.get_table_description(cursor, "dunning_itemstate")
            ]
        assert "organisation_id" not in columns  # truly back before the change
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    counts = children_out_of_step()
    assert all(rows > 0 for rows, _ in counts.values()), counts
    assert {table: wrong for table, (_, wrong) in counts.items()} == dict.fromkeys(counts, 0)


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="SQLite keeps its constraints")
def test_the_organisation_copied_from_the_customer_has_no_database_constraint_of_its_own(db):
    """The rows a run writes by the thousand carry their customer's organisation, whose
    check at each commit cost the run: the customer's row keeps its own constraint."""
    from relance.dunning.models import Communication, HeldBack
    from relance.ledger.models import TimelineEvent

    with connection.cursor() as cursor:
        for model in (Communication, HeldBack, TimelineEvent):
            constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
            keys = {tuple(c["columns"]) for c in constraints.values() if c["foreign_key"]}
            assert ("organisation_id",) not in keys, model
            assert ("customer_id",) in keys, model
