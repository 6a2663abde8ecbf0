"""Review 21: the device client's ``seq`` after a refusal. A batch the node refused before
any block used up its number in :class:`DeviceClient` but not on the ledger, so every later
batch was recorded as refused, "out of order: expected N", until the device's owner fixed
the counter by hand. :meth:`DeviceClient.resync` takes N from that committed refusal and
signs the refused readings again as batch N.

Over HTTP (the app in-process) against the sensors world's real node and pinned clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from supplyledger.api import ApiSettings, LedgerService, create_app
from supplyledger.ingest.device import HTTP_PATH
from supplyledger.ledger.tx import SignedTx

from ._sensors_world import MIN, T0, World, temps, world

__all__ = ["world"]
pytestmark = pytest.mark.anyio
CHEAP = ApiSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1,
                    seal_log2_n=10)


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    service = LedgerService(world.c.node, CHEAP)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(service)),
                                     base_url="http://test") as c:
            yield c
    finally:
        service.close()


async def _post(c: httpx.AsyncClient, tx: SignedTx) -> tuple[int, dict[str, Any]]:
    r = await c.post(HTTP_PATH, content=tx.raw, headers={"content-type": "application/json"})
    return r.status_code, r.json()


def _recorded(world: World) -> list[tuple[int, int]]:
    """(seq, readings) of the device's recorded batches."""
    rows = world.c.node.store.reader().execute(
        "SELECT seq, count FROM sensor_batches WHERE device=? ORDER BY seq",
        (world.device.did,)).fetchall()
    return [(int(r[0]), int(r[1])) for r in rows]


async def test_a_refusal_before_any_block_no_longer_sticks_the_numbering(
        world: World, client: httpx.AsyncClient) -> None:
    dev = world.device
    world.clock.t = T0 + 10 * MIN
    status, _ = await _post(client, dev.sign(temps(T0 + MIN, 5000)))
    assert status == 200 and dev.seq == 1
    # signed with a stale time: refused before any block, batch 2 is not on the ledger
    stale = dev.sign(temps(T0 + 2 * MIN, 5000), time_ms=T0 + 3 * MIN)
    status, body = await _post(client, stale)
    assert status == 422 and "receipt" not in body and dev.seq == 2
    assert dev.resync(stale, body) is None  # nothing committed: no number to take
    # the next batch is recorded as refused: out of order, the ledger expects 2
    world.clock.t = T0 + 12 * MIN
    late = dev.sign(temps(T0 + 11 * MIN, 5100, 5200, step=MIN // 2))
    status, body = await _post(client, late)
    assert status == 409 and body["error"]["details"]["expected"] == 2
    assert body["receipt"]["ok"] is False and _recorded(world) == [(1, 1)]
    again = dev.resync(late, body)
    assert again is not None and again.args["seq"] == 2 and dev.seq == 2
    assert again.args["readings"] == late.args["readings"]
    status, body = await _post(client, again)
    assert status == 200 and body["receipt"]["result"]["seq"] == 2
    # and the device numbers on from there
    world.clock.t = T0 + 14 * MIN
    status, body = await _post(client, dev.sign(temps(T0 + 13 * MIN, 5000)))
    assert status == 200 and body["receipt"]["result"]["seq"] == 3
    assert _recorded(world) == [(1, 1), (2, 2), (3, 1)]


async def test_only_an_out_of_order_refusal_of_the_last_batch_renumbers(
        world: World, client: httpx.AsyncClient) -> None:
    dev = world.device
    world.clock.t = T0 + 10 * MIN
    first = dev.sign(temps(T0 + MIN, 5000))
    status, ok = await _post(client, first)
    assert status == 200 and dev.resync(first, ok) is None  # recorded: nothing to do
    # a number already recorded: another refusal, not "out of order"
    dup = dev.sign(temps(T0 + 2 * MIN, 5000), seq=1)
    status, body = await _post(client, dup)
    assert status == 409 and body["error"]["code"] == "already_exists"
    assert dev.resync(dup, body) is None and dev.seq == 1
    skipped = dev.sign(temps(T0 + 3 * MIN, 5000), seq=5)
    status, body = await _post(client, skipped)
    assert status == 409 and body["error"]["details"]["expected"] == 2
    assert dev.resync(first, body) is None  # the answer is about another batch
    # a batch signed since: its own answer decides, this one renumbers nothing
    later = dev.sign(temps(T0 + 4 * MIN, 5000))
    assert dev.resync(skipped, body) is None and dev.seq == later.args["seq"] == 2
    other = world.new_device(bind_to=world.batch)
    other.seq = 5
    assert other.resync(skipped, body) is None and other.seq == 5  # another device's batch
    # the committed receipt (as MQTT answers carry it) works as the HTTP body does
    dev.seq = 5
    again = dev.resync(skipped, body["receipt"])
    assert again is not None and again.args["seq"] == 2
    assert _recorded(world) == [(1, 1)]
