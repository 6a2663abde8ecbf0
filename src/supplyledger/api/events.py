"""Server-sent events: one ``block`` event per committed block, resumable from a height.

The node calls ``on_block(height)`` on its committer thread after each durable commit; the
feed turns that into wake-ups for the asyncio tasks serving streams. A stream first replays
the committed blocks from the requested height (the browser's ``Last-Event-ID`` + 1 when it
reconnects, else ``from_height``: a reconnection resends the URL it opened), then follows
live ones, so a client that reconnects misses nothing and sees nothing twice.

The login is checked when the stream opens and again before each block it sends (and each
keep-alive): a session logged out or expired, or a participant revoked on the ledger, while
its stream is open gets one last ``end`` event saying why (``{"code", "message"}``, the
error body's fields) and the stream closes; a browser's reconnection is then refused (401).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from supplyledger.api.errors import Unauthenticated
from supplyledger.api.service import LedgerService, Principal
from supplyledger.ledger.block import Header
from supplyledger.node.service import Node

__all__ = ["BlockFeed", "Check", "still_logged_in"]

# Why a stream must end now, or None while it may go on.
Check = Callable[[], Unauthenticated | None]


def still_logged_in(svc: LedgerService, who: Principal) -> Check:
    """The check of ``who``'s login as the request made it: the session still open (not
    logged out, not expired) and its participant not revoked. Two small reads."""
    def check() -> Unauthenticated | None:
        try:
            svc.principal(svc.accounts.session(who.session.token), via_cookie=who.via_cookie)
        except Unauthenticated as exc:
            return exc
        return None

    return check


def _end(why: Unauthenticated) -> str:
    return f"event: end\ndata: {json.dumps({'code': why.code, 'message': why.message})}\n\n"


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

    @property
    def listeners(self) -> int:
        """Streams open now."""
        with self._lock:
            return len(self._waiters)

    async def stream(self, start: int, *, max_events: int | None, heartbeat_s: float,
                     allowed: Check | None = None) -> AsyncIterator[str]:
        """Block events from height ``start``; ``allowed`` is checked before each block and
        keep-alive, and ends the stream (with an ``end`` event) once it gives a reason."""
        def refused() -> str | None:  # the last event, once the login no longer holds
            why = allowed() if allowed is not None else None
            return None if why is None else _end(why)

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
                    if (last := refused()) is not None:
                        yield last
                        return
                    yield f"id: {nxt}\nevent: block\ndata: {json.dumps(doc)}\n\n"
                    sent += 1
                    nxt += 1
                if max_events is not None and sent >= max_events:
                    return
                try:
                    await asyncio.wait_for(ev.wait(), heartbeat_s)
                except TimeoutError:
                    if (last := refused()) is not None:
                        yield last
                        return
                    yield ": keep-alive\n\n"
        finally:
            with self._lock:
                self._waiters.discard(entry)
