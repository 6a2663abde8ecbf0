"""A small consortium served in-process: the web tests talk to the app through httpx's ASGI
transport (no sockets), with cheap password hashing so logins cost milliseconds.

``world`` registers a mill, a grain lab, a carrier, a shop, a bank and a customer, gives
some of them web logins, and records one batch with a production event, so every read
has data. RSA keys are made once per session (RSA so the customer-data tests work).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from supplyledger.api import ApiSettings, LedgerService, create_app
from supplyledger.api.links import LINKS, build_event
from supplyledger.contracts.runtime import Contract
from supplyledger.gs1 import gtin_check_digit
from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.ledger.keyfile import KdfParams
from supplyledger.ledger.tx import make_tx
from supplyledger.node.bootstrap import init_ledger
from supplyledger.node.service import Node, wall_clock_ms
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME

CHAIN = "api-test"
CHEAP = ApiSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1,
                    seal_log2_n=10, login_rate=1000, sse_heartbeat_s=0.2)
PASSWORDS = {"admin": "admin-pass-1", "mill": "mill-pass-12", "inspector": "insp-pass-12",
             "customer": "cust-pass-12", "driver": "drive-pass-1"}
WHEAT = "690123400001" + str(gtin_check_digit("690123400001"))


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def rsa_keys() -> list[PrivateKey]:
    return [generate("rsa") for _ in range(6)]


@dataclass
class World:
    dir: Path
    node: Node
    service: LedgerService
    keys: dict[str, PrivateKey]
    batch: str = ""
    nonce: Any = field(default_factory=lambda: itertools.count(1))

    def did(self, who: str) -> str:
        return self.keys[who].did

    def tx(self, who: str, contract: str, method: str, args: dict[str, Any], *,
           chain: str = CHAIN, time_ms: int | None = None) -> bytes:
        return make_tx(self.keys[who], chain=chain, contract=contract, method=method,
                       args=args, time_ms=time_ms or wall_clock_ms(),
                       nonce=next(self.nonce)).raw

    def ok(self, who: str, contract: str, method: str, args: dict[str, Any]) -> Any:
        r = self.node.submit(self.tx(who, contract, method, args)).result(30)
        assert r.ok, r.error
        return r.result

    def snapshot(self) -> tuple[int, list[Any]]:
        """Height and every state row, read from the file itself."""
        conn = sqlite3.connect(f"file:{self.dir / DB_NAME}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT key, value FROM state ORDER BY key").fetchall()
            height = conn.execute("SELECT MAX(height) FROM blocks").fetchone()[0]
            return int(height), rows
        finally:
            conn.close()


def build_world(d: Path, rsa: list[PrivateKey],
                contracts: Mapping[str, Contract] | None = None) -> World:
    keys = {"admin": generate("ed25519"), "mill": rsa[0], "inspector": rsa[1],
            "customer": rsa[2], "driver": rsa[3], "bank": generate("ed25519"),
            "shop": rsa[4]}
    node_key = generate("ed25519")
    init_ledger(d, chain=CHAIN, time_ms=wall_clock_ms(), node_password="node-pw",
                admins=[("admin", keys["admin"], None)], node_key=node_key,
                kdf=KdfParams(n=2**10), contracts=contracts)
    node = Node(Settings(d, verify_workers=0, block_max_ms=2), node_key).start()
    svc = LedgerService(node, CHEAP)
    w = World(d, node, svc, keys)
    for org, roles in (("mill", ["manufacturer", "warehouse"]), ("qa", ["inspector"]),
                       ("carrier", ["transporter"]), ("shop", ["platform", "customer"]),
                       ("bank", ["settlement"]), ("customers", ["customer"])):
        w.ok("admin", "identity", "register_org", {"id": org, "name": org.title(),
                                                   "roles": roles})
    for who, org, roles in (("mill", "mill", ["manufacturer", "warehouse"]),
                            ("inspector", "qa", ["inspector"]),
                            ("driver", "carrier", ["transporter"]),
                            ("shop", "shop", ["platform", "customer"]),
                            ("bank", "bank", ["settlement"]),
                            ("customer", "customers", ["customer"])):
        w.ok("admin", "identity", "register_member", {
            "org": org, "public_key": keys[who].public.b64, "name": who.title(),
            "roles": roles})
    for who, pw in PASSWORDS.items():
        svc.accounts.create(keys[who].did, who, pw, keys[who])
    w.ok("mill", "products", "create_product", {"gtin": WHEAT, "name": "Wheat"})
    w.batch = w.ok("mill", "products", "create_batch", {
        "gtin": WHEAT, "lot": "L20260101", "quantity": "1000", "uom": "KGM"})["batch"]
    w.ok("mill", "trace", "record_event", {"batch": w.batch, "event": build_event(
        LINKS["production"], batch=w.batch, time_ms=wall_clock_ms(), quantity=1000)})
    return w


@pytest.fixture
def world(tmp_path: Path, rsa_keys: list[PrivateKey]) -> Iterator[World]:
    w = build_world(tmp_path / "ledger", rsa_keys)
    yield w
    w.node.stop()
    w.service.close()


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(world.service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as c:
        yield c


async def login(c: httpx.AsyncClient, who: str) -> dict[str, str]:
    """Log in with the cookie; returns headers carrying the session's CSRF token."""
    r = await c.post("/api/auth/login", json={"login": who, "password": PASSWORDS[who]})
    assert r.status_code == 200, r.text
    return {"X-CSRF-Token": r.json()["csrf"]}


async def bearer(c: httpx.AsyncClient, who: str) -> dict[str, str]:
    r = await c.post("/api/auth/token", json={"login": who, "password": PASSWORDS[who]})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}
