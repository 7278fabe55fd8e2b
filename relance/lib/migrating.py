"""What the migrations that write raw SQL (triggers, functions) share."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def by_vendor(statements: dict[str, list[str]]) -> Callable[[Any, Any], None]:
    """A ``RunPython`` function that executes the statements written for the database it
    runs on (``statements`` by vendor: "postgresql", "sqlite"), none on another."""

    def run(apps: Any, schema_editor: Any) -> None:
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, params=None)  # '%' is not a placeholder

    return run


def replaced(module: str, index: int) -> Any:
    """Operation ``index`` of the migration ``module`` (its dotted path), as written there.

    A squashed migration (its ``replaces``) runs the raw SQL and the data steps of the
    migrations it replaces through this, so that their code, and the documentation of why,
    stay in one place: the replaced migration's file."""
    return importlib.import_module(module).Migration.operations[index]


def without_foreign_key(table: str, column: str, target: str) -> Any:
    """The operation that drops the database constraint of the foreign key ``column`` of
    ``table`` (to ``target``'s id) on PostgreSQL, and adds it back when unapplied; the
    field's state says ``db_constraint=False`` (a ``SeparateDatabaseAndState`` beside it).
    SQLite keeps its constraint: dropping it rebuilds the table, and drops its triggers."""
    from django.db import migrations

    drop = (
        "DO $$DECLARE name text; BEGIN FOR name IN SELECT conname FROM pg_constraint"
        f" WHERE conrelid = '{table}'::regclass AND contype = 'f' AND conkey = ARRAY["
        f"(SELECT attnum FROM pg_attribute WHERE attrelid = '{table}'::regclass"
        f" AND attname = '{column}')] LOOP EXECUTE format('ALTER TABLE {table}"
        " DROP CONSTRAINT %I', name); END LOOP; END$$"
    )
    add = (
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fk FOREIGN KEY ({column})"
        f" REFERENCES {target} (id) DEFERRABLE INITIALLY DEFERRED"
    )
    return migrations.RunPython(by_vendor({"postgresql": [drop]}), by_vendor({"postgresql": [add]}))
