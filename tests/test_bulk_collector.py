"""bulk.collector_spared: the objects it spares the cycle collector go back to it at the
end of the block, however the block ends."""

from __future__ import annotations

import gc
import weakref

import pytest

from relance.lib import bulk


def test_the_objects_spared_go_back_to_the_collector_at_the_end():
    assert gc.get_freeze_count() == 0
    with bulk.collector_spared() as spare:
        kept = [[] for _ in range(1000)]
        spare()
        assert gc.get_freeze_count() >= len(kept)
    assert gc.get_freeze_count() == 0


def test_they_go_back_when_the_block_fails():
    with pytest.raises(ZeroDivisionError), bulk.collector_spared():
        assert gc.get_freeze_count() > 0
        1 / 0  # noqa: B018
    assert gc.get_freeze_count() == 0


def test_a_cycle_spared_is_collected_after_the_block():
    class Node:
        pass

    with bulk.collector_spared() as spare:
        node = Node()
        node.self = node  # type: ignore[attr-defined]
        alive = weakref.ref(node)
        spare()
        del node
        gc.collect()
        assert alive() is not None  # spared: not collected within the block
    gc.collect()
    assert alive() is None
