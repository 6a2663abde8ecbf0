"""Review 10: web access ends with the participant. A participant revoked on the ledger
(left the consortium, key stolen) kept its web sessions and could log in again, reading
every table, block and trace with no roles; it now gets 401 like a stranger."""

from __future__ import annotations

import httpx
import pytest

from .conftest import PASSWORDS, World, bearer

pytestmark = pytest.mark.anyio


async def test_a_revoked_participant_loses_web_access(client: httpx.AsyncClient,
                                                      world: World) -> None:
    token = await bearer(client, "mill")
    assert (await client.get("/api/tables/orders", headers=token)).status_code == 200
    world.ok("admin", "identity", "revoke", {"did": world.did("mill"), "reason": "left"})
    r = await client.get("/api/tables/orders", headers=token)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    for path in ("/api/auth/token", "/api/auth/login"):
        r = await client.post(path, json={"login": "mill", "password": PASSWORDS["mill"]})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert "sl_session" not in client.cookies
    form = await client.get("/login")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    r = await client.post("/login", data={"login": "mill", "password": PASSWORDS["mill"],
                                          "csrf": csrf, "next": "/"})
    assert r.status_code == 401 and "sl_session" not in client.cookies
    # Others are unaffected.
    assert (await client.get("/api/tables/orders",
                             headers=await bearer(client, "inspector"))).status_code == 200


async def test_the_accounts_list_is_paged(client: httpx.AsyncClient) -> None:
    """``GET /api/accounts`` took ``limit`` from nobody and answered every account at
    once: a node with thousands of customer logins sent them all in one page."""
    token = await bearer(client, "admin")
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        r = await client.get("/api/accounts", headers=token,
                             params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [it["login"] for it in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(PASSWORDS)
    r = await client.get("/api/accounts", headers=token, params={"limit": 501})
    assert r.status_code == 422
    r = await client.get("/api/accounts", headers=token, params={"cursor": "bogus"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
