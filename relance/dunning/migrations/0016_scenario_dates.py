"""Triggers that forget the dates the run reads by (``Invoice.moves_on``) when the customer's
scenario choice may change, whoever writes.

The run dates each open item by its customer's scenario (relance.dunning.loading,
``moves``), so whatever may give a customer another scenario must forget the dates of its
open items, and the next run reads them all:

- an explicit choice (``CustomerScenario``) made, changed or removed;
- the customer's risk class or "customer since" changed;
- an item at or above an amount rule's threshold (``SegmentRule.min_invoice_amount``)
  deleted, paid or credited (the customer's largest open item may cross it), or an invoice
  moved to another customer (both customers, and the invoice itself);
- an item reopened (its date may have been computed under a scenario since left).

The rules, the default scenario and the scenarios' steps are in the run's signature
(``loading.signature``: every date of the organisation is forgotten once), the seniority
that moves with the date in the dates themselves (no later than the next anniversary), and
a new item at or above a threshold in the run's reading (it has no date yet: the run reads
every item of its customer). Not a trigger on INSERT: on SQLite any row trigger on INSERT
made a bulk insert of invoices four times slower (25 µs a row, measured on 2026-11-30).

A later migration that rebuilds ``ledger_invoice`` or ``ledger_customer`` on SQLite
(altering a column) drops these triggers with it: it must create them again (``SQLITE``
below). tests/test_engine_scenario_dates.py checks each cause.
"""

from __future__ import annotations

from typing import Any

from relance.lib.migrating import by_vendor
from django.db import migrations

INVOICES = "ledger_invoice"
OPEN = "balance > '0' AND moves_on IS NOT NULL"


def _forget(org: str, customer: str) -> str:
    return (
        f"UPDATE {INVOICES} SET moves_on = NULL WHERE organisation_id = {org}"
        f" AND customer_id = {customer} AND {OPEN};"
    )


def _amount_rule(org: str, *balances: str) -> str:
    touched = " OR ".join(f"{b} >= r.min_invoice_amount" for b in balances)
    return (
        f"EXISTS (SELECT 1 FROM dunning_segmentrule r WHERE r.organisation_id = {org}"
        f" AND r.min_invoice_amount IS NOT NULL AND ({touched}))"
    )


SQLITE = [
    f"""
    CREATE TRIGGER customer_scenario_chosen AFTER INSERT ON dunning_customerscenario
    BEGIN {_forget("NEW.organisation_id", "NEW.customer_id")} END;
    """,
    f"""
    CREATE TRIGGER customer_scenario_changed AFTER UPDATE ON dunning_customerscenario
    BEGIN {_forget("OLD.organisation_id", "OLD.customer_id")}
    {_forget("NEW.organisation_id", "NEW.customer_id")} END;
    """,
    f"""
    CREATE TRIGGER customer_scenario_dropped AFTER DELETE ON dunning_customerscenario
    BEGIN {_forget("OLD.organisation_id", "OLD.customer_id")} END;
    """,
    f"""
    CREATE TRIGGER customer_facts_changed AFTER UPDATE OF risk_class, customer_since
    ON ledger_customer WHEN NEW.risk_class IS NOT OLD.risk_class
    OR NEW.customer_since IS NOT OLD.customer_since
    BEGIN {_forget("NEW.organisation_id", "NEW.id")} END;
    """,
    f"""
    CREATE TRIGGER invoice_reopened AFTER UPDATE OF balance ON {INVOICES}
    WHEN OLD.balance <= 0 AND NEW.balance > 0
    BEGIN UPDATE {INVOICES} SET moves_on = NULL WHERE id = NEW.id; END;
    """,
    f"""
    CREATE TRIGGER invoice_largest_changed AFTER UPDATE OF balance ON {INVOICES}
    WHEN NEW.balance IS NOT OLD.balance
    AND {_amount_rule("NEW.organisation_id", "OLD.balance", "NEW.balance")}
    BEGIN {_forget("NEW.organisation_id", "NEW.customer_id")} END;
    """,
    f"""
    CREATE TRIGGER invoice_large_deleted AFTER DELETE ON {INVOICES}
    WHEN {_amount_rule("OLD.organisation_id", "OLD.balance")}
    BEGIN {_forget("OLD.organisation_id", "OLD.customer_id")} END;
    """,
    f"""
    CREATE TRIGGER invoice_customer_changed AFTER UPDATE OF customer_id ON {INVOICES}
    WHEN NEW.customer_id IS NOT OLD.customer_id
    BEGIN UPDATE {INVOICES} SET moves_on = NULL WHERE id = NEW.id;
    {_forget("OLD.organisation_id", "OLD.customer_id")}
    {_forget("NEW.organisation_id", "NEW.customer_id")} END;
    """,
]
SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {name};"
    for name in [
        "customer_scenario_chosen", "customer_scenario_changed", "customer_scenario_dropped",
        "customer_facts_changed", "invoice_reopened", "invoice_largest_changed",
        "invoice_large_deleted", "invoice_customer_changed",
    ]
]  # fmt: skip

# PostgreSQL: the same, with functions; the deletes are followed per statement (transition
# tables: one set-based UPDATE).
_DELETED = """
    UPDATE ledger_invoice i SET moves_on = NULL
    FROM (SELECT DISTINCT c.organisation_id, c.customer_id FROM {rows} c
          JOIN dunning_segmentrule r ON r.organisation_id = c.organisation_id
          AND r.min_invoice_amount IS NOT NULL AND c.balance >= r.min_invoice_amount) t
    WHERE i.organisation_id = t.organisation_id AND i.customer_id = t.customer_id
    AND i.balance > 0 AND i.moves_on IS NOT NULL;
"""
POSTGRESQL = [
    f"""
    CREATE FUNCTION relance_forget_dates(org bigint, customer bigint) RETURNS void
    LANGUAGE sql AS $$ {_forget("org", "customer")} $$;
    """,
    """
    CREATE FUNCTION customer_scenario_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            PERFORM relance_forget_dates(OLD.organisation_id, OLD.customer_id);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM relance_forget_dates(NEW.organisation_id, NEW.customer_id);
        END IF;
        RETURN NULL;
    END
    $$;
    """,
    """
    CREATE TRIGGER customer_scenario_changed AFTER INSERT OR UPDATE OR DELETE
    ON dunning_customerscenario FOR EACH ROW EXECUTE FUNCTION customer_scenario_changed();
    """,
    """
    CREATE FUNCTION customer_facts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM relance_forget_dates(NEW.organisation_id, NEW.id);
        RETURN NULL;
    END
    $$;
    """,
    """
    CREATE TRIGGER customer_facts_changed AFTER UPDATE OF risk_class, customer_since
    ON ledger_customer FOR EACH ROW
    WHEN (NEW.risk_class IS DISTINCT FROM OLD.risk_class
          OR NEW.customer_since IS DISTINCT FROM OLD.customer_since)
    EXECUTE FUNCTION customer_facts_changed();
    """,
    """
    CREATE FUNCTION invoice_undated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.moves_on := NULL;
        RETURN NEW;
    END
    $$;
    """,
    f"""
    CREATE TRIGGER invoice_reopened BEFORE UPDATE OF balance, customer_id ON {INVOICES}
    FOR EACH ROW WHEN ((OLD.balance <= 0 AND NEW.balance > 0)
                       OR NEW.customer_id IS DISTINCT FROM OLD.customer_id)
    EXECUTE FUNCTION invoice_undated();
    """,
    f"""
    CREATE FUNCTION invoice_largest_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.customer_id IS DISTINCT FROM OLD.customer_id THEN
            PERFORM relance_forget_dates(OLD.organisation_id, OLD.customer_id);
            PERFORM relance_forget_dates(NEW.organisation_id, NEW.customer_id);
        ELSIF {_amount_rule("NEW.organisation_id", "OLD.balance", "NEW.balance")} THEN
            PERFORM relance_forget_dates(NEW.organisation_id, NEW.customer_id);
        END IF;
        RETURN NULL;
    END
    $$;
    """,
    f"""
    CREATE TRIGGER invoice_largest_changed AFTER UPDATE OF balance, customer_id ON {INVOICES}
    FOR EACH ROW WHEN (NEW.balance IS DISTINCT FROM OLD.balance
                       OR NEW.customer_id IS DISTINCT FROM OLD.customer_id)
    EXECUTE FUNCTION invoice_largest_changed();
    """,
    f"""
    CREATE FUNCTION invoice_large_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_DELETED.format(rows="deleted")}
        RETURN NULL;
    END
    $$;
    """,
    f"""
    CREATE TRIGGER invoice_large_deleted AFTER DELETE ON {INVOICES}
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT
    EXECUTE FUNCTION invoice_large_deleted();
    """,
]
POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS customer_scenario_changed ON dunning_customerscenario;",
    "DROP TRIGGER IF EXISTS customer_facts_changed ON ledger_customer;",
    f"DROP TRIGGER IF EXISTS invoice_reopened ON {INVOICES};",
    f"DROP TRIGGER IF EXISTS invoice_largest_changed ON {INVOICES};",
    f"DROP TRIGGER IF EXISTS invoice_large_deleted ON {INVOICES};",
    "DROP FUNCTION IF EXISTS customer_scenario_changed();",
    "DROP FUNCTION IF EXISTS customer_facts_changed();",
    "DROP FUNCTION IF EXISTS invoice_undated();",
    "DROP FUNCTION IF EXISTS invoice_largest_changed();",
    "DROP FUNCTION IF EXISTS invoice_large_deleted();",
    "DROP FUNCTION IF EXISTS relance_forget_dates(bigint, bigint);",
]


class Migration(migrations.Migration):
    dependencies = [("dunning", "0015_nextday"), ("ledger", "0017_fastimport")]

    operations = [
        migrations.RunPython(
            by_vendor({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            by_vendor({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
