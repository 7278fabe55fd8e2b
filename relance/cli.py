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

    if _all_recorded():
        return False
    executor = MigrationExecutor(connection)  # reads what is applied now
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def _all_recorded() -> bool:
    """Whether every migration file of every app is recorded as applied: then nothing is
    pending, without importing the ~60 files and building their graph (a tenth of a second
    of each command's start). A squash is recorded once all it replaces are (`migrate`
    records both), so a database fully migrated answers yes; any file not recorded (an
    upgrade, a fresh or part-way install) answers no, and the graph decides as before."""
    import pkgutil
    from importlib import import_module

    from django.apps import apps
    from django.db import DatabaseError, connection
    from django.db.migrations.loader import MigrationLoader

    on_disk: set[tuple[str, str]] = set()
    for config in apps.get_app_configs():
        name, _ = MigrationLoader.migrations_module(config.label)
        if name is None:
            continue
        try:
            package = import_module(name)
        except ModuleNotFoundError:
            continue  # an app without migrations
        paths = getattr(package, "__path__", None)
        if paths is None:
            return False  # a module, not a package: let the loader judge
        on_disk.update(
            (config.label, found)  # the files the loader reads (MigrationLoader.load_disk)
            for _, found, is_package in pkgutil.iter_modules(paths)
            if not is_package and found[0] not in "_~"
        )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT app, name FROM django_migrations")
            recorded = set(cursor.fetchall())
    except DatabaseError:  # no table yet: a fresh database
        return False
    return on_disk <= recorded


def _without_checks(argv: list[str]) -> list[str]:
    """``argv`` with ``--skip-checks`` for Relance's own commands but the servers: Django's
    system checks import every URL and the API's schemas (about 0.4 s of CPU at each start
    of a worker, a run, a `relance customer show`) and say nothing about such a command's
    work. `relance check` runs them, and so does every server as it starts."""
    from django.core.management import get_commands, load_command_class

    app = get_commands().get(argv[0]) if argv else None
    if app is None or not app.startswith("relance.") or argv[0] in SERVERS:
        return argv
    if not load_command_class(app, argv[0]).requires_system_checks or "--skip-checks" in argv:
        return argv  # none to skip (the import's), or skipped already
    return [argv[0], "--skip-checks", *argv[1:]]


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
    execute_from_command_line(["relance", *_without_checks(argv)])
    if program:
        perf.exit_unfreed()


if __name__ == "__main__":
    main()
