"""Small helpers for the hot paths (imports, the run): Python's cycle collector kept off
the objects they make, in one of two ways. ``collector_paused`` turns it off for a stretch
that makes many objects and no cycles (the run, a file's reading); ``collector_spared``
keeps collecting young objects but stops walking old ones, for a long piece of work whose
code may make cycles (a table's import, with the ORM)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


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
