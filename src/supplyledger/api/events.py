"""Server-sent events: one ``block`` event per committed block, resumable from a height.

The node calls ``on_block(height)`` on its committer thread after each durable commit; the
feed turns that into wake-ups for the asyncio tasks serving streams. A stream first replays
the committed blocks from the requested height (``from_height`` or the browser's
``Last-Event-ID`` + 1), then follows live ones, so a client that reconnects misses nothing.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

from supplyledger.ledger.block import Header
from supplyledger.node.service import Node

__all__ = ["BlockFeed"]


class BlockFeed:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        node.on_block(self._on_block)

    def _on_block(self, height: int) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, ev in waiters:
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:  # that loop has closed; its stream is gone
                with self._lock:
                    self._waiters.discard((loop, ev))

    def block_event(self, height: int) -> dict[str, Any] | None:
        found = self.node.store.block(height)
        if found is None:
            return None
        hd = Header.decode(found[1])
        return {"height": height, "hash": found[0], "time": hd.time, "tx_count": hd.tx_count}

    async def stream(self, start: int, *, max_events: int | None,
                     heartbeat_s: float) -> AsyncIterator[str]:
        ev = asyncio.Event()
        entry = (asyncio.get_running_loop(), ev)
        with self._lock:
            self._waiters.add(entry)
        sent = 0
        nxt = max(0, start)
        try:
            yield "retry: 3000\n\n"
            while max_events is None or sent < max_events:
                ev.clear()
                while nxt <= self.node.store.height() and (max_events is None
                                                          or sent < max_events):
                    doc = self.block_event(nxt)
                    if doc is None:
                        break
                    yield f"id: {nxt}\nevent: block\ndata: {json.dumps(doc)}\n\n"
                    sent += 1
                    nxt += 1
                if max_events is not None and sent >= max_events:
                    return
                try:
                    await asyncio.wait_for(ev.wait(), heartbeat_s)
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            with self._lock:
                self._waiters.discard(entry)
