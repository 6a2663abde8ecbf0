"""Review 12b: ``/api/events`` checked the login only when the stream opened, so a
participant revoked on the ledger (identity.revoke) or a session logged out while its stream
was open kept receiving block headers. The stream now checks again before each block and
ends with an ``end`` event saying why; a live participant's stream goes on. Streams run
in-process over httpx's ASGI transport, on the test consortium's real node and SQLite file;
each asks for a bounded number of events, so on the old code it ends too (with the blocks
it should not have had) instead of hanging."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

from supplyledger.api import create_app

from .conftest import WHEAT, World, bearer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def app_client(world: World) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(world.service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as c:
        yield app, c


def _ids(text: str) -> list[int]:
    return [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")]


def _end(text: str) -> dict[str, Any] | None:
    """The data of the stream's ``end`` event, if it has one (the last event)."""
    events = [e for e in text.split("\n\n") if e.strip()]
    last = events[-1].splitlines() if events else []
    if last[:1] != ["event: end"]:
        return None
    return dict(json.loads(last[1].removeprefix("data: ")))


async def _open(app: FastAPI, *streams: asyncio.Task[httpx.Response]) -> None:
    """Wait until every stream has opened (is following the feed)."""
    with anyio.fail_after(30):
        while app.state.feed.listeners < len(streams):
            assert not any(s.done() for s in streams), [s.result().text for s in streams
                                                        if s.done()]
            await asyncio.sleep(0.01)


def _blocks(world: World, n: int) -> None:
    for i in range(n):  # one committed block each
        world.ok("mill", "products", "create_batch", {"gtin": WHEAT, "lot": f"SSE{i}",
                                                      "quantity": "1", "uom": "KGM"})


def _stream(c: httpx.AsyncClient, start: int, n: int,
            headers: dict[str, str]) -> asyncio.Task[httpx.Response]:
    return asyncio.create_task(c.get("/api/events", headers=headers,
                                     params={"from_height": start, "max_events": n}))


async def test_a_revoked_participants_stream_ends_a_live_ones_goes_on(
        app_client: tuple[FastAPI, httpx.AsyncClient], world: World) -> None:
    app, c = app_client
    insp, mill = await bearer(c, "inspector"), await bearer(c, "mill")
    h = world.node.height
    revoked, live = _stream(c, h, 5, insp), _stream(c, h, 5, mill)
    await _open(app, revoked, live)
    world.ok("admin", "identity", "revoke", {"did": world.did("inspector"),
                                             "reason": "left the company"})
    _blocks(world, 4)
    gone, kept = await revoked, await live
    assert gone.status_code == 200
    assert max(_ids(gone.text), default=h) == h  # nothing from the revocation's block on
    end = _end(gone.text)
    assert end is not None, gone.text
    assert end["code"] == "unauthenticated" and "revoked" in end["message"]
    assert _ids(kept.text) == list(range(h, h + 5)) and _end(kept.text) is None
    # the browser's reconnection is refused
    r = await c.get("/api/events", headers=insp, params={"max_events": 1})
    assert r.status_code == 401


async def test_a_stream_ends_when_its_session_logs_out(
        app_client: tuple[FastAPI, httpx.AsyncClient], world: World) -> None:
    app, c = app_client
    mill = await bearer(c, "mill")
    h = world.node.height
    stream = _stream(c, h, 3, mill)
    await _open(app, stream)
    assert (await c.post("/api/auth/logout", headers=mill)).status_code == 200
    _blocks(world, 2)
    r = await stream
    assert max(_ids(r.text), default=h) == h  # nothing committed after the logout
    end = _end(r.text)
    assert end is not None, r.text
    assert end["code"] == "unauthenticated" and "not logged in" in end["message"]
