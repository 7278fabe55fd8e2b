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


# Commands that serve web requests: a request that finds the SQLite database locked gives up
# after a few seconds rather than hang. Every other command waits its turn (settings.py).
SERVERS = {"serve", "runserver", "demo"}

# One-shot commands whose process, run as the program, ends without freeing what their
# work kept (relance.lib.perf.left_to_exit): an import's million rows.
UNFREED = {"import"}


def ensure_migrated() -> None:
    """Migrate a fresh or older database. Several commands started at once on a fresh
    database take turns: the first migrates, the others find it done."""
    from django.core.management import call_command

    from relance.lib.locks import migration_lock

    if not _migrations_pending():  # the everyday path: one query, no lock
        return
    with migration_lock():
        if _migrations_pending():
            print("Preparing the database (first use or upgrade)...", file=sys.stderr)
            call_command("migrate", verbosity=0, interactive=False)


def _migrations_pending() -> bool:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)  # reads what is applied now
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relance.settings")
    program = argv is None  # the process's own command, not a call from a test or a tool
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] not in SERVERS:
        os.environ["RELANCE_COMMAND"] = argv[0]
    else:  # a server inherits no command's settings (a parent's import leaves out the API)
        os.environ.pop("RELANCE_COMMAND", None)
    import django
    from django.core.management import execute_from_command_line

    django.setup()
    if argv and argv[0] not in NO_AUTO_MIGRATE:
        ensure_migrated()
    from relance.lib import perf

    if program and argv and argv[0] in UNFREED:
        perf.ending_unfreed()
    execute_from_command_line(["relance", *argv])
    if program:
        perf.exit_unfreed()


if __name__ == "__main__":
    main()
