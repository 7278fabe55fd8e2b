"""perf.collector_spared: within the block a full collection freezes what has lived that
long instead of walking it; everything goes back to the collector at the end of the block,
however the block ends."""

from __future__ import annotations

import gc
import weakref

import pytest

from relance.lib import perf


class Node:
    pass


def test_a_full_collection_in_the_block_freezes_what_it_would_walk():
    assert gc.get_freeze_count() == 0
    with perf.collector_spared():
        kept = [[] for _ in range(1000)]
        frozen = gc.get_freeze_count()
        gc.collect()
        assert gc.get_freeze_count() >= frozen + len(kept)
    assert gc.get_freeze_count() == 0
    assert gc.callbacks.count(perf._freeze_full_collections) == 0


def test_the_young_generations_are_still_collected():
    with perf.collector_spared():
        node = Node()
        node.self = node  # type: ignore[attr-defined]
        alive = weakref.ref(node)
        del node
        gc.collect(0)
        assert alive() is None


def test_the_objects_go_back_when_the_block_fails():
    with pytest.raises(ZeroDivisionError), perf.collector_spared():
        assert gc.get_freeze_count() > 0
        1 / 0  # noqa: B018
    assert gc.get_freeze_count() == 0
    assert perf._freeze_full_collections not in gc.callbacks


def test_a_cycle_spared_is_collected_after_the_block():
    with perf.collector_spared():
        node = Node()
        node.self = node  # type: ignore[attr-defined]
        alive = weakref.ref(node)
        gc.collect()  # a full collection: frozen, not walked
        del node
        gc.collect()
        assert alive() is not None  # spared: not collected within the block
    gc.collect()
    assert alive() is None
