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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections

from relance.accounts.models import Organisation
from relance.ledger.models import Invoice
from relance.lib import shares as lib_shares

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
    name = str(connection.settings_dict["NAME"])
    in_memory = connection.vendor == "sqlite" and (name == ":memory:" or "mode=memory" in name)
    if connection.in_atomic_block or in_memory:
        return 1
    if os.name != "posix":
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
    with _sqlite_pragma("cache_size", -WRITE_CACHE_KIB):
        yield


@contextmanager
def mapped_reads() -> Iterator[None]:
    """SQLite reads the database through a memory map during the run: the run's reads are
    scattered over the invoices, their item states and the customers, and without a map
    each page costs a system call copying it into SQLite's cache. The pages touched count
    in the process's resident memory (shared with the system's file cache). Restored
    afterwards, so that a long-lived process does not keep the map."""
    with _sqlite_pragma("mmap_size", READ_MAP_BYTES):
        yield


@contextmanager
def _sqlite_pragma(name: str, value: int) -> Iterator[None]:
    """The connection's SQLite setting ``name`` at ``value`` within the block, then as it
    was (nothing on another database)."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA {name}")
        row = cursor.fetchone()
        before = row[0] if row else 0
        cursor.execute(f"PRAGMA {name} = {int(value)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA {name} = {int(before)}")
