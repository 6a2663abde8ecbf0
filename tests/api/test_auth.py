"""Logins, sessions, bearer tokens, CSRF, rate limiting, lockout and key handling."""

from __future__ import annotations

import base64

import httpx
import pytest

from supplyledger.api import LedgerService, create_app
from supplyledger.api.errors import status_for
from supplyledger.errors import SupplyLedgerError
from supplyledger.ledger.keyfile import unseal
from supplyledger.store.sqlite import DB_NAME

from .conftest import CHEAP, PASSWORDS, World, bearer, login

pytestmark = pytest.mark.anyio


async def test_login_sets_a_strict_httponly_cookie(client: httpx.AsyncClient,
                                                   world: World) -> None:
    r = await client.post("/api/auth/login", json={"login": "mill",
                                                   "password": PASSWORDS["mill"]})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    me = await client.get("/api/auth/me")
    assert me.json()["did"] == world.did("mill")
    assert me.json()["key_unlocked"] is True
    assert "manufacturer" in me.json()["roles"]


async def test_login_by_participant_id_works(client: httpx.AsyncClient, world: World) -> None:
    r = await client.post("/api/auth/token", json={"login": world.did("inspector"),
                                                   "password": PASSWORDS["inspector"]})
    assert r.status_code == 200 and r.json()["did"] == world.did("inspector")


async def test_wrong_password_and_unknown_login_look_the_same(
        client: httpx.AsyncClient) -> None:
    a = await client.post("/api/auth/login", json={"login": "mill", "password": "nope"})
    b = await client.post("/api/auth/login", json={"login": "ghost", "password": "nope"})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()
    assert a.json()["error"]["code"] == "unauthenticated"


async def test_reads_need_a_session(client: httpx.AsyncClient) -> None:
    for path in ("/api/blocks", "/api/tx", "/api/participants", "/api/contracts",
                 "/api/status", "/api/auth/me"):
        r = await client.get(path)
        assert r.status_code == 401, path
        assert r.json()["error"]["code"] == "unauthenticated"
        assert "bearer" in r.headers["www-authenticate"].lower()
    r = await client.get("/api/blocks", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401


async def test_cookie_writes_need_the_csrf_token_bearer_writes_do_not(
        client: httpx.AsyncClient, world: World) -> None:
    h = await login(client, "admin")
    args = {"id": "acme", "name": "Acme", "roles": ["supplier"]}
    r = await client.post("/api/contracts/identity/register_org", json=args)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = await client.post("/api/contracts/identity/register_org", json=args,
                          headers={"X-CSRF-Token": "0" * 40})
    assert r.status_code == 403
    r = await client.post("/api/contracts/identity/register_org", json=args, headers=h)
    assert r.status_code == 200, r.text
    client.cookies.clear()
    b = await bearer(client, "admin")
    r = await client.post("/api/contracts/identity/register_org",
                          json={**args, "id": "acme2"}, headers=b)
    assert r.status_code == 200, r.text


async def test_logout_ends_the_session(client: httpx.AsyncClient) -> None:
    b = await bearer(client, "mill")
    assert (await client.get("/api/status", headers=b)).status_code == 200
    assert (await client.post("/api/auth/logout", headers=b)).status_code == 200
    assert (await client.get("/api/status", headers=b)).status_code == 401


async def test_login_attempts_are_rate_limited_per_client(world: World) -> None:
    svc = LedgerService(world.node, type(CHEAP)(**{**_fields(CHEAP), "login_rate": 3}))
    app = create_app(svc)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as c:
        for _ in range(3):
            r = await c.post("/api/auth/login", json={"login": "ghost", "password": "x"})
            assert r.status_code == 401
        r = await c.post("/api/auth/login", json={"login": "mill",
                                                  "password": PASSWORDS["mill"]})
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited"
        assert int(r.headers["retry-after"]) >= 1
    svc.close()


async def test_account_locks_after_repeated_failures(client: httpx.AsyncClient) -> None:
    for _ in range(CHEAP.lockout_after):
        r = await client.post("/api/auth/login", json={"login": "driver", "password": "bad"})
        assert r.status_code == 401
    r = await client.post("/api/auth/login", json={"login": "driver",
                                                   "password": PASSWORDS["driver"]})
    assert r.status_code == 429 and "locked" in r.json()["error"]["message"]
    # Other accounts are unaffected.
    r = await client.post("/api/auth/login", json={"login": "mill",
                                                   "password": PASSWORDS["mill"]})
    assert r.status_code == 200


async def test_key_retrieval_returns_only_the_sealed_key(client: httpx.AsyncClient,
                                                         world: World) -> None:
    b = await bearer(client, "customer")
    r = await client.get("/api/auth/key", headers=b)
    assert r.status_code == 200
    sealed = base64.b64decode(r.json()["key_file_b64"])
    assert b"PRIVATE KEY" not in sealed
    key = unseal(sealed, PASSWORDS["customer"])
    assert key.did == world.did("customer")
    # Nothing under the ledger directory holds the private key in plaintext.
    der = world.keys["customer"].pkcs8_der()
    for f in world.dir.rglob("*"):
        if f.is_file():
            assert der[-64:] not in f.read_bytes(), f


async def test_after_a_restart_signing_needs_the_password_again(
        client: httpx.AsyncClient, world: World) -> None:
    b = await bearer(client, "mill")
    fresh = LedgerService(world.node, CHEAP)  # a new process: no wrapped keys in memory
    app = create_app(fresh)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as c:
        assert (await c.get("/api/status", headers=b)).status_code == 200
        args = {"gtin": "06901234000023", "name": "Flour"}
        r = await c.post("/api/contracts/products/create_product", json=args, headers=b)
        assert r.status_code == 401 and r.json()["error"]["code"] == "key_locked"
        r = await c.post("/api/auth/unlock", json={"password": "wrong"}, headers=b)
        assert r.status_code == 401
        r = await c.post("/api/auth/unlock", json={"password": PASSWORDS["mill"]}, headers=b)
        assert r.status_code == 200 and r.json()["key_unlocked"]
        r = await c.post("/api/contracts/products/create_product", json=args, headers=b)
        assert r.status_code == 200, r.text
    fresh.close()


async def test_password_change_reseals_the_key(client: httpx.AsyncClient,
                                               world: World) -> None:
    b = await bearer(client, "inspector")
    r = await client.post("/api/auth/password", headers=b, json={
        "old_password": PASSWORDS["inspector"], "new_password": "a-new-pass-123"})
    assert r.status_code == 200
    sealed = base64.b64decode((await client.get("/api/auth/key", headers=b)).json()[
        "key_file_b64"])
    assert unseal(sealed, "a-new-pass-123").did == world.did("inspector")
    r = await client.post("/api/auth/token", json={"login": "inspector",
                                                   "password": PASSWORDS["inspector"]})
    assert r.status_code == 401


async def test_admin_enrols_a_member_with_a_login(client: httpx.AsyncClient,
                                                  world: World) -> None:
    b = await bearer(client, "admin")
    body = {"org": "carrier", "name": "Night driver", "roles": ["transporter"],
            "login": "night", "password": "night-pass-1"}
    r = await client.post("/api/accounts", json=body, headers=b)
    assert r.status_code == 200, r.text
    r = await client.post("/api/auth/token", json={"login": "night",
                                                   "password": "night-pass-1"})
    assert r.status_code == 200
    listed = (await client.get("/api/accounts", headers=b)).json()["items"]
    assert "night" in {a["login"] for a in listed}
    m = await bearer(client, "mill")
    r = await client.post("/api/accounts", json={**body, "login": "night2"}, headers=m)
    assert r.status_code == 403 and r.json()["error"]["code"] == "role_denied"
    assert (await client.get("/api/accounts", headers=m)).status_code == 403


async def test_a_key_file_holder_can_import_a_login(client: httpx.AsyncClient,
                                                    world: World) -> None:
    from supplyledger.ledger.keyfile import KdfParams, seal

    sealed = seal(world.keys["bank"], "bank-pass-12", KdfParams(n=2**10)).decode()
    r = await client.post("/api/accounts/import", json={
        "login": "bank", "password": "wrong-pass", "key_file": sealed})
    assert r.status_code == 401
    r = await client.post("/api/accounts/import", json={
        "login": "bank", "password": "bank-pass-12", "key_file": sealed})
    assert r.status_code == 200 and r.json()["did"] == world.did("bank")
    r = await client.post("/api/auth/token", json={"login": "bank", "password": "bank-pass-12"})
    assert r.status_code == 200


def test_every_error_code_maps_to_a_client_status() -> None:
    """Bad input is never a 5xx: only a storage failure (500) and an unavailable node
    (503) are server errors."""

    def walk(cls: type[SupplyLedgerError]) -> list[type[SupplyLedgerError]]:
        return [cls, *[c for sub in cls.__subclasses__() for c in walk(sub)]]

    for cls in walk(SupplyLedgerError):
        status = status_for(cls)
        if cls.code in ("store_error", "migration_error"):
            assert status == 500
        elif cls.code in ("node_error", "node_stopped", "overloaded"):
            assert status == 503
        else:
            assert 400 <= status < 500, (cls, status)


def _fields(s: object) -> dict[str, object]:
    return {f: getattr(s, f) for f in s.__dataclass_fields__}  # type: ignore[attr-defined]


def test_no_plaintext_private_key_in_the_database(world: World) -> None:
    data = (world.dir / DB_NAME).read_bytes()
    for who in PASSWORDS:
        assert world.keys[who].pkcs8_der()[-48:] not in data


def test_login_throttle_forgets_clients_past_their_window(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from supplyledger.api import accounts as acc

    monkeypatch.setattr(acc, "_MAX_CLIENTS", 50)
    svc = LedgerService(world.node, type(CHEAP)(**{**_fields(CHEAP), "login_rate": 3}))
    now = [1_000.0]
    svc.accounts.clock = lambda: now[0]
    try:
        for i in range(200):  # a client per address, each within the window when it came
            svc.accounts._throttle(f"10.0.{i // 256}.{i % 256}")
            now[0] += svc.settings.login_window_s / 40
        assert len(svc.accounts._attempts) <= 51  # not 200: expired ones were dropped
        for _ in range(3):
            svc.accounts._throttle("10.9.9.9")
        with pytest.raises(SupplyLedgerError, match="too many login attempts"):
            svc.accounts._throttle("10.9.9.9")  # the limit itself still holds
    finally:
        svc.close()
