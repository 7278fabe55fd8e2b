"""`relance db citus-layout`: the SQL that distributes the database by organisation with
Citus, derived from the models. There is no Citus here: on PostgreSQL the statements run on
the test database up to the Citus calls, which run against stand-ins that check their
arguments, and the keys they leave are checked against Citus's rules."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection, transaction

from relance.lib import citus, tenancy

pytestmark = pytest.mark.django_db


def layout_json() -> dict:
    out = StringIO()
    call_command("db", "citus-layout", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_it_distributes_every_tenant_table_once_and_copies_the_global_ones():
    data = layout_json()
    distributed = data["distributed"]
    assert len(distributed) == len(set(distributed))
    tenant_tables = {
        m._meta.db_table
        for m in apps.get_models(include_auto_created=True)
        if m._meta.app_config.name.startswith("relance.")
        and (field := tenancy.organisation_field(m)) is not None
        and not field.null
    }
    assert set(distributed) == tenant_tables
    assert {"ledger_invoice", "dunning_itemstate", "dunning_communicationitem",
            "dunning_paymentplan_invoices"} <= set(distributed)  # fmt: skip
    # The organisations, the rates and the users (tenant tables point to them) are copied to
    # every node; the tables of rows of no organisation, and the task queue, stay put.
    assert {"accounts_organisation", "dunning_rate", "auth_user"} <= set(data["reference"])
    assert {"replies_mailboxseen", "audit_auditevent", "django_session"} <= set(data["coordinator"])
    assert any(t.startswith("django_tasks") for t in data["coordinator"])
    placed = distributed + data["reference"] + data["coordinator"]
    assert len(placed) == len(set(placed))
    for table in data["reference"] + data["coordinator"]:
        assert data["reasons"][table]
    # One create_distributed_table per tenant table, all colocated with the first.
    calls = data["statements"]["distribute"]
    anchor = data["colocate_with"]
    assert calls[0] == f"SELECT create_distributed_table('{anchor}', 'organisation_id');"
    named = [re.match(r"SELECT create_distributed_table\('(\w+)'", s).group(1) for s in calls]
    assert sorted(named) == sorted(distributed)
    assert all(f"colocate_with => '{anchor}'" in s for s in calls[1:])
    assert data["statements"]["create_reference"] == [
        f"SELECT create_reference_table('{t}');" for t in data["reference"]
    ]


def test_it_puts_the_organisation_in_the_keys_citus_requires():
    data = layout_json()["statements"]
    fixed = "\n".join(data["fix_keys"])
    # The item state's key is its invoice: it becomes (organisation, invoice).
    assert (
        'ALTER TABLE "dunning_itemstate" ADD CONSTRAINT "dunning_itemstate_pkey" PRIMARY KEY'
        ' (organisation_id, "invoice_id");' in fixed
    )
    assert '"communication_item_unique" UNIQUE ("organisation_id", "communication_id"' in fixed
    # A unique key that holds the organisation already is left alone.
    assert "invoice_number_unique" not in fixed
    added = [s for s in data["add_keys"] if '"ledger_invoice" ADD' in s]
    assert added == [
        'ALTER TABLE "ledger_invoice" ADD CONSTRAINT '
        '"ledger_invoice_customer_id_0ef025d2_fk_ledger_customer_id" FOREIGN KEY '
        '(organisation_id, "customer_id") REFERENCES "ledger_customer" (organisation_id, "id")'
        " DEFERRABLE INITIALLY DEFERRED;"
    ]
    # Each dropped foreign key comes back, with the organisation.
    assert len(data["drop_keys"]) == len(data["add_keys"])


def test_it_prints_the_sql_in_order_for_people():
    out = StringIO()
    call_command("db", "citus-layout", stdout=out)
    text = out.getvalue()
    order = [text.index(f"-- {n}.") for n in range(1, 6)]
    assert order == sorted(order)
    assert text.count("create_distributed_table(") == len(citus.layout().distributed)


def test_it_refuses_a_tenant_table_without_organisation(monkeypatch):
    monkeypatch.delitem(tenancy.GLOBAL, "dunning.Rate")
    with pytest.raises(citus.LayoutError, match=r"dunning.Rate has no organisation"):
        citus.layout()


# Stand-ins for Citus's two functions: they check that the table exists, that the
# distribution column is there and required, and the colocation named.
STAND_INS = """
CREATE FUNCTION pg_temp.create_reference_table(t regclass) RETURNS void LANGUAGE sql AS $$
  SELECT NULL::void $$;
CREATE FUNCTION pg_temp.create_distributed_table(t regclass, col text,
    colocate_with text DEFAULT 'default') RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = t AND attname = col
                 AND attnotnull) THEN
    RAISE EXCEPTION '%: no required column %', t, col;
  END IF;
  IF colocate_with <> 'default' THEN PERFORM colocate_with::regclass; END IF;
END $$;
"""


@pytest.mark.skipif(connection.vendor != "postgresql", reason="Citus runs on PostgreSQL")
def test_it_runs_on_postgresql_and_leaves_the_keys_citus_accepts():
    layout = citus.layout()
    statements = layout.statements()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(STAND_INS)
        for statement in statements:
            cursor.execute(statement.replace("SELECT create_", "SELECT pg_temp.create_"))
        distributed = layout.distributed
        # Every unique index of a distributed table includes the distribution column.
        cursor.execute(
            "SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text FROM pg_index i"
            " WHERE i.indisunique AND i.indrelid::regclass::text = ANY(%s) AND NOT EXISTS ("
            "  SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid"
            "  AND a.attname = 'organisation_id' AND a.attnum = ANY(i.indkey))",
            [distributed],
        )
        assert cursor.fetchall() == []
        # Every foreign key between distributed tables includes it on both sides; none
        # points from a reference or coordinator table to a distributed one.
        cursor.execute(
            "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text, c.conname,"
            " ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = c.conrelid"
            "       AND attnum = ANY(c.conkey)),"
            " ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = c.confrelid"
            "       AND attnum = ANY(c.confkey))"
            " FROM pg_constraint c WHERE c.contype = 'f' AND c.confrelid::regclass::text = ANY(%s)",
            [distributed],
        )
        keys = cursor.fetchall()
        assert keys, "foreign keys between distributed tables are kept"
        for source, _target, name, columns, referenced in keys:
            assert source in distributed, (source, name)
            assert "organisation_id" in columns and "organisation_id" in referenced, name
        transaction.set_rollback(True)
