"""The solo orderer: lists in, blocks out, in order, cut at max_txs or after max_wait."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from supplyledger.node.orderer import SoloOrderer


def _blocks(o: SoloOrderer, producers: int) -> Iterator[list[Any]]:
    """Whole blocks, joined from the parts the orderer hands over."""
    block: list[Any] = []
    for part, last in o.parts(producers):
        block.extend(part)
        if last:
            yield block
            block = []


def test_lists_are_cut_into_blocks_of_at_most_max_txs_in_arrival_order() -> None:
    o = SoloOrderer(max_txs=4, max_wait=0.05)
    o.put_many(list(range(5)))
    o.put_many([])  # nothing to order: no empty block
    o.put_many(list(range(5, 12)))
    o.close_one()
    blocks = list(_blocks(o, 1))
    assert [x for b in blocks for x in b] == list(range(12))
    assert all(0 < len(b) <= 4 for b in blocks)
    assert blocks[0] == [0, 1, 2, 3]  # a full block is cut at once


def test_a_block_waits_for_more_until_max_wait_and_every_producer_must_close() -> None:
    o = SoloOrderer(max_txs=100, max_wait=5.0)
    out: list[list[int]] = []
    t = threading.Thread(target=lambda: out.extend(_blocks(o, 2)))
    t.start()
    o.put_many([1, 2])
    o.close_one()
    o.put_many([3])  # the second producer is still open: this joins the same block
    o.close_one()
    t.join(timeout=10)
    assert not t.is_alive()
    assert out == [[1, 2, 3]]


def test_parts_of_a_full_block_stop_at_max_txs() -> None:
    o = SoloOrderer(max_txs=3, max_wait=5.0)
    o.put_many([1, 2])
    o.put_many([3, 4, 5, 6, 7])
    o.close_one()
    assert list(_blocks(o, 1)) == [[1, 2, 3], [4, 5, 6], [7]]
