"""`relance` run as a person runs it: a child process on its own SQLite data directory (or,
for what needs no process of its own, in the test's process: ``in_process``).

A fresh directory costs the first use's migrations (about ten seconds); the helpers start
from a copy of one directory migrated once per test process, unless a test is about that
first use (``fresh=True``)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_migrated: Path | None = None


def environment(data_dir: Path) -> dict[str, str]:
    return {"RELANCE_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "DATABASE_URL": ""}


def ready(data_dir: Path) -> Path:
    """``data_dir`` with a migrated database, unless it has one already."""
    global _migrated
    if (data_dir / "relance.sqlite3").exists():
        return data_dir
    if _migrated is None:
        folder = Path(tempfile.mkdtemp(prefix="relance-migrated-"))
        subprocess.run([sys.executable, "-m", "relance", "migrate", "--verbosity", "0"],
                       env=environment(folder), check=True, capture_output=True)  # fmt: skip
        _migrated = folder
    shutil.copytree(_migrated, data_dir, dirs_exist_ok=True)
    return data_dir


def relance(
    data_dir: Path, *args: str, stdin: str = "", fresh: bool = False
) -> subprocess.CompletedProcess[str]:
    if not fresh:
        ready(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "relance", *args],
        env=environment(data_dir),
        capture_output=True,
        text=True,
        input=stdin,
    )


def in_process(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``relance ARGS`` run in the test's process, on the test's database: its exit status
    and its output as ``relance`` answers them, without the second or so a new process
    takes to start. An exception that would end a real process with a traceback is raised
    here, failing the test. What only a real process shows (its start-up, an exit through
    ``os._exit``, the status as the shell reads it) stays with ``relance`` above."""
    from unittest import mock

    import django
    from django.db import connections

    from relance import cli

    out, err = io.StringIO(), io.StringIO()
    command = os.environ.get("RELANCE_COMMAND")
    code: int | str | None = 0
    # pytest-django has set Django up (setting it up again would configure logging anew),
    # and a command's end closes the connections, which hold the test's transaction.
    with (
        mock.patch.object(django, "setup", lambda: None),
        mock.patch.object(connections, "close_all", lambda: None),
        mock.patch.object(sys, "stdin", io.StringIO(stdin)),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            cli.main(list(args))
        except SystemExit as exit:
            code = exit.code
        finally:
            if command is None:
                os.environ.pop("RELANCE_COMMAND", None)
            else:
                os.environ["RELANCE_COMMAND"] = command
    if isinstance(code, str):  # sys.exit("message"): printed, status 1
        err.write(code + "\n")
        code = 1
    return subprocess.CompletedProcess(
        ["relance", *args], code or 0, out.getvalue(), err.getvalue()
    )
