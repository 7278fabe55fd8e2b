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
