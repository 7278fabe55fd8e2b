"""Triggers that forget the dates the run reads by (``Invoice.moves_on``) when a reminder
that held a customer's items back stops holding them, whoever writes.

The run dates an item no sooner than the contact gap lets a step ahead go: each step ahead
goes by a channel on which the customer was reminded less than ``contact_gap`` days ago
(relance.dunning.loading, ``moves`` and ``Bounds.after_contacts``). A reminder counts while
it is not cancelled (``loading._last_contacts``); so the customer's dates are forgotten,
and the next run reads its open items, when a reminder is cancelled, deleted, sent earlier
(its ``send_on`` moved back), or changes channel, purpose, courtesy or customer. A new
reminder only holds items back longer: no trigger on INSERT. The organisation's contact
gap is in the run's signature (``loading.signature``).

No table is rebuilt here. tests/test_engine_nextday.py checks each cause.
"""

from __future__ import annotations

from typing import Any

from relance.lib.migrating import by_vendor
from django.db import migrations

COMMUNICATIONS = "dunning_communication"
WITHDRAWN = (
    "NEW.status = 'cancelled' OR NEW.send_on < OLD.send_on OR NEW.channel <> OLD.channel"
    " OR NEW.purpose <> OLD.purpose OR NEW.pre_due <> OLD.pre_due"
    " OR NEW.customer_id <> OLD.customer_id"
)
HELD = "{row}.purpose = 'reminder' AND NOT {row}.pre_due AND {row}.status <> 'cancelled'"
COLUMNS = "status, send_on, channel, purpose, pre_due, customer_id"


def _forget(org: str, customer: str) -> str:
    return (
        f"UPDATE ledger_invoice SET moves_on = NULL WHERE organisation_id = {org}"
        f" AND customer_id = {customer} AND balance > '0' AND moves_on IS NOT NULL;"
    )


SQLITE = [
    f"""
    CREATE TRIGGER reminder_withdrawn AFTER UPDATE OF {COLUMNS} ON {COMMUNICATIONS}
    WHEN {HELD.format(row="OLD")} AND ({WITHDRAWN})
    BEGIN {_forget("OLD.organisation_id", "OLD.customer_id")} END;
    """,
    f"""
    CREATE TRIGGER reminder_deleted AFTER DELETE ON {COMMUNICATIONS}
    WHEN {HELD.format(row="OLD")}
    BEGIN {_forget("OLD.organisation_id", "OLD.customer_id")} END;
    """,
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS reminder_withdrawn;",
    "DROP TRIGGER IF EXISTS reminder_deleted;",
]

# PostgreSQL: the same with functions (relance_forget_dates: dunning 0016_scenario_dates);
# the deletes followed per statement (transition tables: one set-based UPDATE).
POSTGRESQL = [
    """
    CREATE FUNCTION reminder_withdrawn() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM relance_forget_dates(OLD.organisation_id, OLD.customer_id);
        RETURN NULL;
    END
    $$;
    """,
    f"""
    CREATE TRIGGER reminder_withdrawn AFTER UPDATE OF {COLUMNS} ON {COMMUNICATIONS}
    FOR EACH ROW WHEN ({HELD.format(row="OLD")}
                       AND ({WITHDRAWN.replace("<>", "IS DISTINCT FROM")}))
    EXECUTE FUNCTION reminder_withdrawn();
    """,
    f"""
    CREATE FUNCTION reminder_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE ledger_invoice i SET moves_on = NULL
        FROM (SELECT DISTINCT organisation_id, customer_id FROM deleted
              WHERE {HELD.format(row="deleted")}) t
        WHERE i.organisation_id = t.organisation_id AND i.customer_id = t.customer_id
        AND i.balance > 0 AND i.moves_on IS NOT NULL;
        RETURN NULL;
    END
    $$;
    """,
    f"""
    CREATE TRIGGER reminder_deleted AFTER DELETE ON {COMMUNICATIONS}
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT
    EXECUTE FUNCTION reminder_deleted();
    """,
]
POSTGRESQL_REVERSE = [
    f"DROP TRIGGER IF EXISTS reminder_withdrawn ON {COMMUNICATIONS};",
    f"DROP TRIGGER IF EXISTS reminder_deleted ON {COMMUNICATIONS};",
    "DROP FUNCTION IF EXISTS reminder_withdrawn();",
    "DROP FUNCTION IF EXISTS reminder_deleted();",
]


class Migration(migrations.Migration):
    dependencies = [("dunning", "0018_held_back")]

    operations = [
        migrations.RunPython(
            by_vendor({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            by_vendor({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
