"""The `relance` console command: Django's management commands, with the database brought
up to date on first use so that every command works on a fresh install."""

from __future__ import annotations

import os
import sys

# Commands that need no database, or manage its schema themselves.
NO_AUTO_MIGRATE = {
    "migrate",
    "makemigrations",
    "help",
    "version",
    "--help",
    "-h",
    "check",
    "compilemessages",
    "makemessages",
    "collectstatic",
    "test",
}


def ensure_migrated() -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        print("Preparing the database (first use or upgrade)...", file=sys.stderr)
        call_command("migrate", verbosity=0, interactive=False)


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relance.settings")
    argv = sys.argv[1:] if argv is None else argv
    import django
    from django.core.management import execute_from_command_line

    django.setup()
    if argv and argv[0] not in NO_AUTO_MIGRATE:
        ensure_migrated()
    execute_from_command_line(["relance", *argv])


if __name__ == "__main__":
    main()
