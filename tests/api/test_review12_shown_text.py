"""Review 12: a hand-over's reason (payments rules v3) is free text shown to people, checked
as identity checks names; the API signed one holding a bidi control and the ledger kept it
for good as a failed transaction."""

from __future__ import annotations

import httpx
import pytest

from .conftest import World, bearer

pytestmark = pytest.mark.anyio


async def test_a_misleading_hand_over_reason_is_refused_before_signing(
        client: httpx.AsyncClient, world: World) -> None:
    before = world.snapshot()
    b = await bearer(client, "admin")
    args = {"account": world.did("driver"), "to": "org:logistics",
            "reason": "key stolen\u202e"}
    r = await client.post("/api/contracts/payments/hand_over_balance", json=args, headers=b)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "validation_error"), r.text
    assert "bidi control U+202E" in r.json()["error"]["message"] and "receipt" not in r.json()
    assert world.snapshot() == before
    # A plain reason is signed: the contract decides (the driver is not revoked).
    r = await client.post("/api/contracts/payments/hand_over_balance",
                          json={**args, "reason": "key stolen"}, headers=b)
    assert r.json()["receipt"]["ok"] is False, r.text
    assert world.snapshot()[0] == before[0] + 1


async def test_a_misleading_goods_hand_over_reason_is_refused_before_signing(
        client: httpx.AsyncClient, world: World) -> None:
    # Custody rules v3's hand_over_goods has a reason shown to people too.
    before = world.snapshot()
    b = await bearer(client, "admin")
    args = {"batch": "https://id.gs1.org/01/09506000134352/10/NOPE",
            "account": world.did("driver"), "to": world.did("admin"),
            "reason": "left the company\u202e"}
    r = await client.post("/api/contracts/custody/hand_over_goods", json=args, headers=b)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "validation_error"), r.text
    assert "bidi control U+202E" in r.json()["error"]["message"] and "receipt" not in r.json()
    assert world.snapshot() == before
