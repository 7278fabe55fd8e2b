"""The first date on which the dunning run may move an open item (``Invoice.moves_on``),
indexed for the open items, and a trigger that forgets it when the due date changes.

The run computes the date from the item's due date and level (relance.dunning.loading); a
due date changed by any writer (an import, the API, a bulk UPDATE, COPY) makes it wrong, so
the database itself sets it back to NULL, and the next run reads the item.

A later migration that rebuilds ``ledger_invoice`` on SQLite (altering a column) drops the
trigger with it: it must create it again (``SQLITE`` below). tests/test_engine_nextday.py
checks that the trigger is there.
"""

from __future__ import annotations

from typing import Any

from relance.lib.migrating import by_vendor
from django.db import migrations, models

TABLE = "ledger_invoice"

POSTGRESQL = [
    """
    CREATE FUNCTION invoice_due_moved() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.moves_on := NULL;
        RETURN NEW;
    END
    $$;
    """,
    f"""
    CREATE TRIGGER invoice_due_moved BEFORE UPDATE OF due_date ON {TABLE}
    FOR EACH ROW WHEN (NEW.due_date IS DISTINCT FROM OLD.due_date)
    EXECUTE FUNCTION invoice_due_moved();
    """,
]
POSTGRESQL_REVERSE = [
    f"DROP TRIGGER IF EXISTS invoice_due_moved ON {TABLE};",
    "DROP FUNCTION IF EXISTS invoice_due_moved();",
]
SQLITE = [
    f"""
    CREATE TRIGGER invoice_due_moved AFTER UPDATE OF due_date ON {TABLE}
    WHEN NEW.due_date IS NOT OLD.due_date
    BEGIN UPDATE {TABLE} SET moves_on = NULL WHERE id = NEW.id; END;
    """,
]
SQLITE_REVERSE = ["DROP TRIGGER IF EXISTS invoice_due_moved;"]


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_agent"), ("ledger", "0014_bank")]

    operations = [
        migrations.AddField(
            model_name="invoice",
            name="moves_on",
            field=models.DateField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="invoice",
            index=models.Index(
                condition=models.Q(("balance__gt", 0)),
                fields=["organisation", "moves_on"],
                name="invoice_open_by_move",
            ),
        ),
        migrations.RunPython(
            by_vendor({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            by_vendor({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
