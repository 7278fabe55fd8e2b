"""Small helpers for the hot paths (imports, the run)."""

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
