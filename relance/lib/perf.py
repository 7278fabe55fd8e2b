"""Small helpers for the hot paths (imports, the run): Python's cycle collector kept off
the objects they make, in one of two ways. ``collector_paused`` turns it off for a stretch
that makes many objects and no cycles (the run, a file's reading); ``collector_spared``
keeps collecting young objects but stops walking old ones, for a long piece of work whose
code may make cycles (a table's import, with the ORM). ``in_child`` runs a piece of work in
a forked process, on the machine's other core. ``sqlite_setting`` sets a SQLite pragma of the
connection for a block (a larger page cache while a large write goes on). ``left_to_exit``
keeps what a one-shot command made until its process ends (``exit_unfreed``), rather than
free it object by object."""

from __future__ import annotations

import gc
import logging
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import connection, connections

T = TypeVar("T")


@contextmanager
def collector_paused() -> Iterator[None]:
    """Imports and runs make millions of small objects and no reference cycles: the cyclic
    garbage collector would walk them over and over for nothing (a third of the time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def collector_spared() -> Iterator[None]:
    """Keep Python's cycle collector off the objects a long piece of work keeps, until the
    end of the block: each full collection walks every object alive, and an import's grew
    with the rows it had read. Within the block a full collection freezes what has lived
    that long instead of walking it (``gc.freeze``, from a ``gc.callbacks`` hook run as the
    collection starts); the young generations are still collected. Those objects are still
    freed by their reference counts; only cycles among them wait for the end of the block
    (``gc.unfreeze``: the whole process's objects, for that time)."""
    gc.freeze()
    gc.callbacks.append(_freeze_full_collections)
    try:
        yield
    finally:
        gc.callbacks.remove(_freeze_full_collections)
        gc.unfreeze()


def _freeze_full_collections(phase: str, info: dict[str, int]) -> None:
    if phase == "start" and info["generation"] == 2:
        gc.freeze()


@contextmanager
def in_child(work: Callable[[], T]) -> Iterator[Callable[[], T | None]]:
    """Start ``work`` in a forked process (it sees this one's memory as it is now, copied on
    write) and give what waits for its result, pickled back through a pipe: None if the
    child failed or none was started, the caller then doing the work itself. The child
    touches no file or connection of this process's but the pipe, and leaves by
    ``os._exit``: no atexit hook, no connection closed behind the parent's back. A child
    whose result was not waited for is ended with the block. None is started where fork
    is missing, or unsafe: with other threads running (a lock one of them holds would
    stay held in the child)."""
    if not may_fork():
        yield lambda: None
        return
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        status = 1
        try:
            os.close(read_end)
            value = work()
            with os.fdopen(write_end, "wb") as out:  # pickled as it is written: no copy
                pickle.dump(value, out, pickle.HIGHEST_PROTOCOL)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    pipe = os.fdopen(read_end, "rb")
    waited = False

    def result() -> T | None:
        nonlocal waited
        try:
            value: T | None = pickle.load(pipe)  # as it is read: no copy of the bytes
        except Exception:  # cut short: the child failed, as its status says
            value = None
        waited = True
        _, status = os.waitpid(pid, 0)
        return value if status == 0 else None

    try:
        yield result
    finally:
        pipe.close()
        if not waited:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def may_fork() -> bool:
    """Whether this process may fork: fork copies only the calling thread, and a lock another
    thread holds would stay held in the child."""
    return hasattr(os, "fork") and threading.active_count() == 1


@contextmanager
def sqlite_setting(name: str, value: int) -> Iterator[None]:
    """The connection's SQLite setting ``name`` at ``value`` within the block, then as it
    was (nothing on another database): set outside a transaction, so that the cache shrunk
    back holds no page the transaction changed."""
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


# What a one-shot command leaves to its process's end; None (nothing kept) unless the
# process ends by ``exit_unfreed`` (``ending_unfreed``): a console or API server frees it.
_LEFT: list[object] | None = None


def ending_unfreed() -> None:
    """This process runs one command and ends by ``exit_unfreed``: ``left_to_exit`` keeps."""
    global _LEFT
    _LEFT = []


def left_to_exit(*objects: object) -> None:
    """Keep ``objects`` (a re-import's million numbers, fingerprints and records) to the end
    of a process that ends by ``exit_unfreed``: freeing them one by one takes about a second
    the process has no use for. Elsewhere nothing is kept."""
    if _LEFT is not None:
        _LEFT.extend(objects)


def exit_unfreed() -> None:
    """End the process now, status 0, without freeing its objects, when something was left
    to it (else return, for the usual exit): its output flushed, logging shut down, the
    database connections closed (SQLite checkpoints its WAL). Not with other threads
    running, which the usual exit waits for; not when the output cannot be flushed, which
    the usual exit reports."""
    if not _LEFT or threading.active_count() > 1:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    logging.shutdown()
    connections.close_all()
    os._exit(0)
