"""Locks between commands that meet: two runs of one organisation, a run and an import, two
commands migrating a fresh database. The second waits for the first, says so in one line on
stderr, then goes on; it never fails because the other was there first.

One seam for both databases:

- PostgreSQL: session-level advisory locks (``pg_advisory_lock``). An organisation's is held
  on a connection of its own, which the run's closing and forking of connections leave
  alone; released at the end, or by the server when the process dies.
- SQLite: ``flock`` on a file in ``<database>-locks/`` beside the database file, released
  when the process ends however it ends. The file says who holds it, so that the one who
  waits can say what it waits for. (SQLite's own write lock cannot serve: a run commits
  chunk by chunk, and an organisation's lock must cover the whole run.)

A run on the task queue (relance.dunning.run_tasks) is cut into parts that workers on
several machines take at once: each part holds its organisation *shared*
(``pg_advisory_lock_shared``, ``flock(LOCK_SH)``), so that parts run together while an
import, which holds it alone, waits for the part in hand; and between parts, an exclusive
holder also waits while the run is unfinished (``spanning``: checks that other modules
register, since such a run is in no process's hands).

Locks are reentrant within a process (a command that holds an organisation may call code
that takes it again) and inherited by the processes a run forks to share its customers.
An in-memory SQLite database (the test suite's) is one process's alone: nothing to lock.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from django.db import DEFAULT_DB_ALIAS, connection, connections

# Advisory lock keys: organisations take (ORGANISATIONS, crc32 of the slug), migrating takes
# MIGRATING (the one-key form: the two forms never conflict). A collision between two slugs
# only makes their organisations take turns.
ORGANISATIONS = 0x52454C  # "REL"
MIGRATING = 0x52454C414E4345  # "RELANCE"

Notice = Callable[[str], None]
# Holders of organisations that outlive a process (a run on the queue, between its parts):
# each check says what holds organisation ``slug``, or None.
Spanning = Callable[[str], "str | None"]
spanning: list[Spanning] = []
SPANNING_POLL = 1.0  # seconds between two looks while such a holder is at work
_held: Counter[str] = Counter()  # the locks this process holds, by name
_files: dict[str, IO[str]] = {}


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextmanager
def organisation_lock(
    slug: str, purpose: str, notice: Notice = _stderr, *, shared: bool = False
) -> Iterator[None]:
    """Hold organisation ``slug`` for ``purpose`` (``run``, ``import``): one writer of its
    ledger and its dunning at a time. Taken before the work reads anything, so that the
    second sees the first one's result. ``shared``: the parts of one run on the queue,
    which hold it together (and exclude the others)."""
    what = f"organisation {slug}"
    key = (ORGANISATIONS, _int4(slug))
    name = f"org-{_safe(slug)}"
    if shared or _held[name]:
        with _lock(name, key, what, purpose, notice, own_connection=True, shared=shared):
            yield
        return
    told = False
    while True:
        with _lock(name, key, what, purpose, notice, own_connection=True):
            holder = next((h for check in spanning if (h := check(slug))), None)
            if holder is None:
                yield
                return
        if not told:  # released while that holder's next part runs; then tried again
            notice(f"waiting for {holder} on {what} to finish...")
            told = True
        time.sleep(SPANNING_POLL)


@contextmanager
def migration_lock(notice: Notice = _stderr) -> Iterator[None]:
    """Hold the database's schema while checking and applying migrations."""
    with _lock("migrate", (MIGRATING,), "the database", "migration", notice):
        yield


@contextmanager
def _lock(
    name: str,
    key: tuple[int, ...],
    what: str,
    purpose: str,
    notice: Notice,
    own_connection: bool = False,
    shared: bool = False,
) -> Iterator[None]:
    if _held[name]:  # reentrant: the outer holder releases
        _held[name] += 1
        try:
            yield
        finally:
            _held[name] -= 1
        return
    if connection.vendor == "postgresql":
        acquire, release = _advisory(key, what, notice, own_connection, shared)
    elif (directory := _lock_directory()) is not None:
        acquire, release = _file(directory / f"{name}.lock", what, purpose, notice, shared)
    else:
        acquire = release = _nothing
    acquire()
    _held[name] += 1
    try:
        yield
    finally:
        _held[name] -= 1
        release()


def _nothing() -> None:
    pass


def _advisory(
    key: tuple[int, ...], what: str, notice: Notice, own_connection: bool, shared: bool = False
) -> tuple[Callable[[], None], Callable[[], None]]:
    args = ", ".join(["%s"] * len(key))
    holder = _lock_connection() if own_connection else connection
    mode = "_shared" if shared else ""

    def acquire() -> None:
        with holder.cursor() as cursor:
            cursor.execute(f"SELECT pg_try_advisory_lock{mode}({args})", key)
            if cursor.fetchone()[0]:
                return
            notice(f"waiting for another command on {what} to finish...")
            cursor.execute(f"SELECT pg_advisory_lock{mode}({args})", key)

    def release() -> None:
        if own_connection and not os.environ.get("RELANCE_COMMAND") and not +_held:
            _close_lock_connection()  # the server releases the lock with the session
        elif holder.connection is not None:  # (closed: the server released it already)
            with holder.cursor() as cursor:
                cursor.execute(f"SELECT pg_advisory_unlock{mode}({args})", key)

    return acquire, release


_holder: Any = None


def _lock_connection() -> Any:
    """The connection for organisations' locks. A command (relance.cli sets
    RELANCE_COMMAND) keeps it for its life: a connection costs tens of milliseconds, and a
    run of every organisation takes a lock per organisation. Elsewhere (web requests, the
    test suite, which drops its database at the end) it closes with the lock."""
    global _holder
    if _holder is not None and _holder.connection is not None and not _holder.is_usable():
        _close_lock_connection()
    if _holder is None:
        _holder = connections.create_connection(DEFAULT_DB_ALIAS)
    return _holder


def _close_lock_connection() -> None:
    global _holder
    if _holder is not None:
        _holder.close()
        _holder = None


def _file(
    path: Path, what: str, purpose: str, notice: Notice, shared: bool = False
) -> tuple[Callable[[], None], Callable[[], None]]:
    name = path.stem
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX

    def acquire() -> None:
        handle = path.open("a+", encoding="utf-8")  # held until release
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another command"
            notice(f"waiting for {holder} on {what} to finish...")
            fcntl.flock(handle, mode)
        if not shared:  # shared holders are many: the file names the one exclusive holder
            handle.seek(0)
            handle.truncate()
            handle.write(f"the {purpose} of process {os.getpid()}")
            handle.flush()
        _files[name] = handle

    def release() -> None:
        handle = _files.pop(name)
        if not shared:
            handle.truncate(0)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()

    return acquire, release


def _lock_directory() -> Path | None:
    """``<database>-locks`` beside a SQLite file; None for an in-memory database."""
    name = str(connection.settings_dict["NAME"])
    if name == ":memory:" or "mode=memory" in name or not name:
        return None
    path = Path(name.removeprefix("file:").split("?")[0])
    directory = path.with_name(f"{path.name}-locks")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _int4(text: str) -> int:
    """A signed 32-bit key for ``text``."""
    return zlib.crc32(text.encode()) - 2**31


def _safe(slug: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", slug)
