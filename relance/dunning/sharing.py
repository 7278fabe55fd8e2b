"""How a run uses the machine: how many processes share its customers, and the SQLite
tuning of the connection that reads and writes. The rest of the run does not know either exists.

Large organisations' customers are shared between processes (one per core, up to
``MAX_JOBS``, from ``PARALLEL_FROM`` open items; ``relance run --jobs``), each reading on a
connection of its own and writing its own chunks, so the work is the same as one
process's, customer by customer.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections

from relance.accounts.models import Organisation
from relance.ledger.models import Invoice
from relance.lib import shares as lib_shares
from relance.lib.perf import sqlite_setting

PARALLEL_FROM = 200_000  # open items: below, forking costs more than it saves
MAX_JOBS = 4
ITEMS_PER_PART = 250_000  # a run on the queue: a million open items in four parts
MAX_PARTS = 64
WRITE_CACHE_KIB = 256 * 1024
READ_MAP_BYTES = 1 << 30

Report = lib_shares.Report
ShareFailed = lib_shares.ShareFailed


def how_many(org: Organisation, jobs: int | None, day: dt.date | None = None) -> int:
    """How many processes share the run. One inside a transaction (the others could not see
    its rows), on an in-memory database (theirs would be empty) or where fork is missing.
    Given the run's ``day``, counted on the open items that may move that day (those
    without a date, or whose date has come: relance.dunning.loading), not every open item:
    the next day's run reads few and forks none."""
    if connection.in_atomic_block or _in_memory() or os.name != "posix":
        return 1
    if jobs is not None:
        return max(1, jobs)
    cores = os.cpu_count() or 1
    if cores < 2:
        return 1
    if day is not None:
        from relance.dunning.loading import how_many_may_move

        open_items = how_many_may_move(org, day)
    else:
        open_items = Invoice.objects.filter(organisation=org, balance__gt=org.min_balance).count()
    return min(cores, MAX_JOBS) if open_items >= PARALLEL_FROM else 1


def _in_memory() -> bool:
    name = str(connection.settings_dict["NAME"])
    return connection.vendor == "sqlite" and (name == ":memory:" or "mode=memory" in name)


class Checkpoints:
    """On a SQLite file, the checkpoints of the run's commits made by a thread on a
    connection of its own, while the run goes on (``after_commit``), rather than by the
    commit that crosses ``wal_autocheckpoint``: their syncs (the WAL's, then the database
    file's after its pages are copied) wait on the disk while the run computes (sqlite3
    releases the GIL). The same checkpoints, PASSIVE as the automatic one, with the same
    syncs: ``synchronous=NORMAL`` in WAL may lose a commit on power failure, never corrupts
    the database. Leaving the block waits for the thread and checkpoints what is left, so
    the run still pays for its own writes. Nothing elsewhere (another database, inside a
    transaction: nothing committed to checkpoint)."""

    def __init__(self, enabled: bool = True) -> None:
        self._enabled = enabled
        self._asks: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._errors: list[BaseException] = []
        self._idle = threading.Event()
        self._idle.set()
        self._before = 0

    def __enter__(self) -> Checkpoints:
        if not self._enabled or connection.vendor != "sqlite":
            return self
        if connection.in_atomic_block or _in_memory():
            return self
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint")
            row = cursor.fetchone()
            self._before = row[0] if row else 0
            cursor.execute("PRAGMA wal_autocheckpoint = 0")
        path = str(connection.settings_dict["NAME"])
        self._thread = threading.Thread(target=self._work, args=(path,), name="checkpoints")
        self._thread.start()
        return self

    def after_commit(self) -> None:
        """The run committed: the thread checkpoints it, once done with the checkpoint before
        (the WAL is reset only by a write after a whole checkpoint: waiting keeps it to
        about two chunks' pages on a first run of many chunks)."""
        if self._thread is not None:
            self._idle.wait()
            self._idle.clear()
            self._asks.put(True)

    def _work(self, path: str) -> None:
        try:
            with closing(sqlite3.connect(path, timeout=60, isolation_level=None)) as db:
                while self._asks.get():
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self._idle.set()
        except BaseException as error:  # raised by __exit__ in the run's thread
            self._errors.append(error)
        finally:
            self._idle.set()

    def __exit__(self, kind: object, *exc: object) -> None:
        self.close(checkpoint=kind is None)

    def close(self, checkpoint: bool = True) -> None:
        """Wait for the thread, then checkpoint what was committed after its last one (before
        a fork, too: a child must not inherit a thread mid-statement)."""
        if self._thread is None:
            return
        self._asks.put(False)
        self._thread.join()
        self._thread = None
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint = {int(self._before)}")
            if checkpoint:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cursor.fetchall()
        if self._errors and checkpoint:
            raise self._errors.pop()


class Alongside:
    """``work()`` done beside the run rather than after it: on PostgreSQL, by a thread on a
    connection of its own while the run decides and writes its customers (the server
    works for both at once, and the thread waits on the socket without holding the GIL);
    elsewhere (SQLite, whose writers take turns on the database's lock; inside a
    transaction, whose rows another connection cannot see), after the run's customers,
    where the block ends. Its error, if any, is raised where the block ends, once the run's
    own work is done."""

    def __init__(self, work: Callable[[], None], enabled: bool = True) -> None:
        self._work = work
        self._enabled = enabled
        self._thread: threading.Thread | None = None
        self._errors: list[BaseException] = []

    def __enter__(self) -> Alongside:
        if self._enabled and connection.vendor == "postgresql" and not connection.in_atomic_block:
            self._thread = threading.Thread(target=self._beside, name="alongside")
            self._thread.start()
        return self

    def _beside(self) -> None:
        try:
            self._work()
        except BaseException as error:  # raised by __exit__ in the run's thread
            self._errors.append(error)
        finally:
            connection.close()  # the thread's own

    def __exit__(self, kind: object, *exc: object) -> None:
        if self._thread is not None:
            self._thread.join()
            if self._errors and kind is None:
                raise self._errors.pop()
        elif self._enabled and kind is None:
            self._work()


def parts(org: Organisation, wanted: int | None) -> int:
    """How many parts a run on the queue is cut into (relance.dunning.run_tasks): from
    ``PARALLEL_FROM`` open items, one per ``ITEMS_PER_PART`` (at least two), whatever the
    cores of the machine that begins it: the workers that take them may be many."""
    if wanted is not None:
        return max(1, min(wanted, MAX_PARTS))
    open_items = Invoice.objects.filter(organisation=org, balance__gt=org.min_balance).count()
    if open_items < PARALLEL_FROM:
        return 1
    return min(MAX_PARTS, max(2, -(-open_items // ITEMS_PER_PART)))


def share_out(
    shares: int, work: Callable[[int, int, Report, Any], Any], progress: Report | None
) -> list[Any]:
    """``work(k, shares, report, reader)`` in ``shares`` processes, each reading on a
    connection of its own: SQLite does not let a connection whose read snapshot another
    process has since written past start writing, and a share writes between reads.
    Raises ``ShareFailed`` when one failed (what the others wrote stands)."""

    def share(k: int, n: int, report: Report) -> Any:
        reader = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            return work(k, n, report, reader)
        finally:
            reader.close()

    return lib_shares.run(shares, share, progress=progress)


@contextmanager
def write_cache() -> Iterator[None]:
    """A larger SQLite page cache for the writing connection while the run writes: the item
    state, the items and their indexes outgrow the default 64 MiB on a first run, and
    spilling them costs about a second per million items. Restored afterwards, so that a
    long-lived process does not keep it."""
    with sqlite_setting("cache_size", -WRITE_CACHE_KIB):
        yield


@contextmanager
def mapped_reads() -> Iterator[None]:
    """SQLite reads the database through a memory map during the run: the run's reads are
    scattered over the invoices, their item states and the customers, and without a map
    each page costs a system call copying it into SQLite's cache. The pages touched count
    in the process's resident memory (shared with the system's file cache). Restored
    afterwards, so that a long-lived process does not keep the map."""
    with sqlite_setting("mmap_size", READ_MAP_BYTES):
        yield
