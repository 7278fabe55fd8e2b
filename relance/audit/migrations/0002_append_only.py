"""The database itself refuses to change or delete an audit event.

PostgreSQL: a row trigger refuses UPDATE and DELETE. TRUNCATE is a statement of its own
that no row trigger sees: the test suite's flush between transactional tests (Django
flushes with TRUNCATE there) and a deliberate wipe of the whole database still work.

SQLite: a trigger refuses UPDATE. DELETE is not refused in the database, because Django
empties tables with DELETE on SQLite (the test suite's flush, ``relance flush``) and SQLite
has no TRUNCATE nor any way to tell such a wipe from a delete; the model and its queryset
refuse deletes (``AppendOnly``).

On both, the one change allowed is the user's link set to NULL when that user is deleted
(``on_delete=SET_NULL``): the event stays, and its ``actor`` still says who it was. The
organisation's link has no constraint (first operation): an organisation deleted leaves its
trail under its former id, where a cascade or a SET NULL would have to rewrite it.

A later migration that rebuilds this table on SQLite (altering a column) drops the
triggers with it: it must create them again (``SQLITE`` below).
"""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from relance.lib.migrating import by_vendor
from django.db import migrations, models

TABLE = "audit_auditevent"
# Every column but the user's; a new column must be added here (and the triggers renewed).
FROZEN = (
    "id", "organisation_id", "at", "actor", "action", "object_type", "object_id", "summary",
    "data", "ip",
)  # fmt: skip

POSTGRESQL = [
    """
    CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.user_id IS NULL
           AND (to_jsonb(NEW) - 'user_id') = (to_jsonb(OLD) - 'user_id') THEN
            RETURN NEW;  -- the user was deleted: the event stays
        END IF;
        RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
            USING ERRCODE = 'restrict_violation';  -- an IntegrityError, as on SQLite
    END
    $$;
    """,
    f"""
    CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
    """,
]
POSTGRESQL_REVERSE = [
    f"DROP TRIGGER IF EXISTS audit_event_append_only ON {TABLE};",
    "DROP FUNCTION IF EXISTS audit_event_append_only();",
]

SQLITE = [
    # UPDATE OF: fires when the statement sets one of these columns, changed or not.
    f"""
    CREATE TRIGGER audit_event_no_update BEFORE UPDATE OF {", ".join(FROZEN)} ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only (UPDATE refused)'); END;
    """,
    f"""
    CREATE TRIGGER audit_event_no_new_user BEFORE UPDATE OF user_id ON {TABLE}
    WHEN NEW.user_id IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only (UPDATE refused)'); END;
    """,
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS audit_event_no_update;",
    "DROP TRIGGER IF EXISTS audit_event_no_new_user;",
]


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_identity"), ("audit", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="organisation",
            field=models.ForeignKey(
                blank=True, db_constraint=False, null=True,
                on_delete=django.db.models.deletion.DO_NOTHING, to="accounts.organisation",
            ),
        ),
        migrations.RunPython(
            by_vendor({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            by_vendor({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
        )
    ]
