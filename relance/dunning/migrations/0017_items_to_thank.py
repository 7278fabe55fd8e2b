"""The items the run may thank (``ItemToThank``), kept by triggers whoever writes, so that
the run reads the items paid since it last thanked instead of every state not thanked
(887,429 at a million open items; relance.dunning.loading, ``_settled``).

A row for every item whose invoice's balance is at or under its organisation's
``min_balance`` while its state is not thanked and at a level of 1 or more, added when that
becomes true, whichever of the three changes makes it so:

- the invoice's balance falls to the minimum or under (a payment, a credit note, an import);
- the item's state is written not thanked at a level of 1 or more (a new state, a level
  reached, a thank-you given back);
- the organisation's minimum changes (its rows are computed again, once).

Rows go when the item is thanked, its level goes back to 0 or its balance rises over the
minimum again. What stays besides (an item deleted, a paid item never reminded, a scenario
that thanks nobody) is harmless: the run checks every row against the item and its
reminders, as it checked every state. Not a trigger on inserting invoices: a new invoice
has no state yet (and on SQLite a row trigger on INSERT slows the bulk inserts of invoices,
see dunning 0016_scenario_dates).

A later migration that rebuilds ``ledger_invoice``, ``dunning_itemstate`` or
``accounts_organisation`` on SQLite (altering a column) drops these triggers with it: it
must create them again (``SQLITE`` below). tests/test_engine_thanks.py checks each path.
"""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from relance.lib.migrating import by_vendor
from django.db import migrations, models

import relance.lib.fields

TO_THANK = "dunning_itemtothank"
INVOICES = "ledger_invoice"
STATES = "dunning_itemstate"


def _minimum(org: str) -> str:
    return f"(SELECT o.min_balance FROM accounts_organisation o WHERE o.id = {org})"


# The invoice's row when its balance is at or under the minimum.
_PAID_INVOICE = (
    f"SELECT i.id, i.organisation_id FROM {INVOICES} i WHERE i.id = NEW.invoice_id"
    f" AND i.balance <= {_minimum('i.organisation_id')}"
)
# Every item of the organisation ``org`` to thank, under the minimum ``minimum``.
_ALL = (
    f"SELECT s.invoice_id, i.organisation_id FROM {STATES} s"
    f" JOIN {INVOICES} i ON i.id = s.invoice_id"
    " WHERE i.organisation_id = {org} AND s.thanked = FALSE AND s.level >= 1"
    " AND i.balance <= {minimum}"
)

SQLITE = [
    f"""
    CREATE TRIGGER item_paid AFTER UPDATE OF balance ON {INVOICES}
    WHEN NEW.balance < OLD.balance AND NEW.balance <= {_minimum("NEW.organisation_id")}
    AND OLD.balance > {_minimum("NEW.organisation_id")}
    BEGIN INSERT OR IGNORE INTO {TO_THANK} (invoice_id, organisation_id)
    SELECT invoice_id, NEW.organisation_id FROM {STATES}
    WHERE invoice_id = NEW.id AND thanked = 0 AND level >= 1; END;
    """,
    f"""
    CREATE TRIGGER item_unpaid AFTER UPDATE OF balance ON {INVOICES}
    WHEN NEW.balance > OLD.balance AND NEW.balance > {_minimum("NEW.organisation_id")}
    BEGIN DELETE FROM {TO_THANK} WHERE invoice_id = NEW.id; END;
    """,
    f"""
    CREATE TRIGGER item_state_to_thank AFTER INSERT ON {STATES}
    WHEN NEW.thanked = 0 AND NEW.level >= 1
    BEGIN INSERT OR IGNORE INTO {TO_THANK} (invoice_id, organisation_id) {_PAID_INVOICE}; END;
    """,
    f"""
    CREATE TRIGGER item_state_now_to_thank AFTER UPDATE OF level, thanked ON {STATES}
    WHEN NEW.thanked = 0 AND NEW.level >= 1 AND (OLD.thanked <> 0 OR OLD.level < 1)
    BEGIN INSERT OR IGNORE INTO {TO_THANK} (invoice_id, organisation_id) {_PAID_INVOICE}; END;
    """,
    f"""
    CREATE TRIGGER item_state_not_to_thank AFTER UPDATE OF level, thanked ON {STATES}
    WHEN NEW.thanked <> 0 OR NEW.level < 1
    BEGIN DELETE FROM {TO_THANK} WHERE invoice_id = NEW.invoice_id; END;
    """,
    f"""
    CREATE TRIGGER minimum_balance_changed AFTER UPDATE OF min_balance ON accounts_organisation
    WHEN NEW.min_balance IS NOT OLD.min_balance
    BEGIN DELETE FROM {TO_THANK} WHERE organisation_id = NEW.id;
    INSERT INTO {TO_THANK} (invoice_id, organisation_id)
    {_ALL.format(org="NEW.id", minimum="NEW.min_balance")}; END;
    """,
]
SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {name};"
    for name in [
        "item_paid", "item_unpaid", "item_state_to_thank", "item_state_now_to_thank",
        "item_state_not_to_thank", "minimum_balance_changed",
    ]
]  # fmt: skip

# PostgreSQL: the same, with functions, a row at a time (COPY fires them too).
POSTGRESQL = [
    f"""
    CREATE FUNCTION item_paid() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE minimum numeric := {_minimum("NEW.organisation_id")};
    BEGIN
        IF NEW.balance <= minimum AND OLD.balance > minimum THEN
            INSERT INTO {TO_THANK} (invoice_id, organisation_id)
            SELECT invoice_id, NEW.organisation_id FROM {STATES}
            WHERE invoice_id = NEW.id AND NOT thanked AND level >= 1 ON CONFLICT DO NOTHING;
        ELSIF NEW.balance > minimum AND OLD.balance <= minimum THEN
            DELETE FROM {TO_THANK} WHERE invoice_id = NEW.id;
        END IF;
        RETURN NULL;
    END
    $$;
    """,
    f"""
    CREATE TRIGGER item_paid AFTER UPDATE OF balance ON {INVOICES}
    FOR EACH ROW WHEN (NEW.balance IS DISTINCT FROM OLD.balance)
    EXECUTE FUNCTION item_paid();
    """,
    f"""
    CREATE FUNCTION item_state_to_thank() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.thanked OR NEW.level < 1 THEN
            DELETE FROM {TO_THANK} WHERE invoice_id = NEW.invoice_id;
        ELSE
            INSERT INTO {TO_THANK} (invoice_id, organisation_id) {_PAID_INVOICE}
            ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END
    $$;
    """,
    f"""
    CREATE TRIGGER item_state_to_thank AFTER INSERT ON {STATES}
    FOR EACH ROW WHEN (NOT NEW.thanked AND NEW.level >= 1)
    EXECUTE FUNCTION item_state_to_thank();
    """,
    f"""
    CREATE TRIGGER item_state_changed AFTER UPDATE OF level, thanked ON {STATES}
    FOR EACH ROW WHEN (NEW.thanked IS DISTINCT FROM OLD.thanked
                       OR (NEW.level >= 1) IS DISTINCT FROM (OLD.level >= 1))
    EXECUTE FUNCTION item_state_to_thank();
    """,
    f"""
    CREATE FUNCTION minimum_balance_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM {TO_THANK} WHERE organisation_id = NEW.id;
        INSERT INTO {TO_THANK} (invoice_id, organisation_id)
        {_ALL.format(org="NEW.id", minimum="NEW.min_balance")};
        RETURN NULL;
    END
    $$;
    """,
    """
    CREATE TRIGGER minimum_balance_changed AFTER UPDATE OF min_balance ON accounts_organisation
    FOR EACH ROW WHEN (NEW.min_balance IS DISTINCT FROM OLD.min_balance)
    EXECUTE FUNCTION minimum_balance_changed();
    """,
]
POSTGRESQL_REVERSE = [
    f"DROP TRIGGER IF EXISTS item_paid ON {INVOICES};",
    f"DROP TRIGGER IF EXISTS item_state_to_thank ON {STATES};",
    f"DROP TRIGGER IF EXISTS item_state_changed ON {STATES};",
    "DROP TRIGGER IF EXISTS minimum_balance_changed ON accounts_organisation;",
    "DROP FUNCTION IF EXISTS item_paid();",
    "DROP FUNCTION IF EXISTS item_state_to_thank();",
    "DROP FUNCTION IF EXISTS minimum_balance_changed();",
]
# The items to thank already there, every organisation's.
FILL = (
    f"INSERT INTO {TO_THANK} (invoice_id, organisation_id)"
    f" {_ALL.format(org='i.organisation_id', minimum=_minimum('i.organisation_id'))}"
)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_agent"),
        ("dunning", "0016_scenario_dates"),
        ("ledger", "0017_fastimport"),
    ]

    operations = [
        migrations.CreateModel(
            name="ItemToThank",
            fields=[
                (
                    "invoice",
                    relance.lib.fields.RowIdOneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="ledger.invoice",
                    ),
                ),
                (
                    "organisation",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.organisation",
                    ),
                ),
            ],
            options={"abstract": False},
        ),
        migrations.RunPython(
            by_vendor({"postgresql": [*POSTGRESQL, FILL], "sqlite": [*SQLITE, FILL]}),
            by_vendor({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
