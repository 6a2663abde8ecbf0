"""Review 13, identity rules v3: a machine key signs only what names its role.

Many methods admit any registered participant and check inside that the signer acts for
the right party or organisation. A sensor logger is a member of its organisation with roles
["device"]; its key, lifted from the hardware, could accept and offer custody of goods,
dispatch orders, offer goods for sale or register its organisation's locations. Under
identity rules v3 (new ledgers start on it) a key whose roles are all machine roles signs
only methods naming its role (``sensors.record``) or open to machines (its own
``identity.rotate_key`` and ``identity.revoke``); the rest is ``role_denied`` with nothing
written, in the executor and, before signing, in ``tx submit`` and the web API. Ledgers on
identity v2 keep accepting those calls until an admin adopts v3 (and audit clean).

Real ledgers (embedded node, SQLite); the same-block adoption runs the executor alone."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from supplyledger.api import ApiSettings, LedgerService, create_app
from supplyledger.bench import consortium
from supplyledger.bench.consortium import Consortium, Party
from supplyledger.cli.main import app
from supplyledger.contracts.builtin.identity import ROLES, genesis_writes
from supplyledger.contracts.executor import Executor, encode_writes
from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import call_from_env
from supplyledger.errors import RoleDenied, SupplyLedgerError
from supplyledger.gs1 import gtin_check_digit
from supplyledger.ledger.crypto import generate
from supplyledger.ledger.encoding import canonical, decode
from supplyledger.ledger.tx import make_tx
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import init_ledger, write_key
from supplyledger.node.service import wall_clock_ms
from supplyledger.node.signers import registered_as

from .conftest import FAST_KDF, T0, counts

DAY = 86_400_000
GTIN = "400638000012" + str(gtin_check_digit("400638000012"))
GLN = "4006380000018"  # a location's GLN (check digit 8)
MACHINE = "identity rules v3: a machine key (roles device)"
CHEAP = ApiSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1,
                    seal_log2_n=10, login_rate=1000)


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


@dataclass
class World:
    c: Consortium
    clock: Clock
    maker: Party
    logger: Party  # a member of the maker's organisation with roles ["device"]
    shop: Party
    haul: Party
    lots: list[str]  # the maker's batches; the logger is bound to the first

    def refused(self, who: Any, contract: str, method: str, args: dict[str, Any]) -> (
            SupplyLedgerError):
        with pytest.raises(SupplyLedgerError) as info:
            self.c.ok(who, contract, method, args)
        return info.value

    def state(self) -> list[Any]:
        return self.c.rows("SELECT key, value FROM state ORDER BY key")

    def reading(self, seq: int, temp: int = 5_000) -> Any:
        self.clock.t += 60_000
        return self.c.ok(self.logger, "sensors", "record", {
            "seq": seq, "readings": [{"t": self.clock.t - 1_000, "temp": temp}]})

    def order(self, oid: str, batch: str, seller: Party) -> None:
        self.c.ok(self.shop, "orders", "place", {
            "id": oid, "seller": seller.did, "batch": batch, "quantity": 1,
            "unit_price": 1_000, "freight": 100, "currency": "EUR",
            "earliest": self.clock(), "latest": self.clock() + DAY})

    def hand_over(self, batch: str) -> None:
        """The maker offers ownership and custody of ``batch`` to its logger."""
        self.c.ok(self.maker, "custody", "propose", {"batch": batch, "to": self.logger.did,
                                                     "kind": "both"})


def build(c: Consortium, clock: Clock) -> World:
    for org, roles in (("maker", ["manufacturer", "device"]), ("shop", ["customer"]),
                       ("haul", ["transporter"]), ("bank", ["settlement"])):
        c.org(org, roles)
    maker = c.member("maker", "maker", ["manufacturer"])
    logger = c.member("logger", "maker", ["device"])
    shop = c.member("shop", "shop", ["customer"])
    haul = c.member("haul", "haul", ["transporter"])
    bank = c.member("bank", "bank", ["settlement"])
    c.ok(maker, "products", "create_product", {"gtin": GTIN, "name": "vaccine"})
    lots = [c.ok(maker, "products", "create_batch", {"gtin": GTIN, "lot": f"L{i}"})["batch"]
            for i in range(1, 6)]
    c.ok(c.admin, "sensors", "register_device", {"device": logger.did})
    c.ok(maker, "sensors", "bind", {"device": logger.did, "kind": "batch", "target": lots[0]})
    c.ok(bank, "payments", "deposit", {"account": shop.did, "currency": "EUR",
                                       "amount": 100_000})
    return World(c, clock, maker, logger, shop, haul, lots)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = Clock(T0)
    with Consortium(tmp_path / "ledger", chain="machines", clock=clock) as c:
        yield build(c, clock)


@pytest.fixture
def v2_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A ledger made by a release whose identity contract implements v1 and v2 (its genesis
    names identity v2), run by this release."""
    old = {n: dataclasses.replace(k, versions=(1, 2)) if n == "identity" else k
           for n, k in load_builtin().items()}
    monkeypatch.setattr(consortium, "init_ledger", partial(init_ledger, contracts=old))
    clock = Clock(T0)
    with Consortium(tmp_path / "ledger", chain="machines", clock=clock) as c:
        assert c.node.store.get_state("rules/v/identity") == canonical(2)
        yield build(c, clock)


def _role_denied(err: SupplyLedgerError, call: str) -> None:
    assert isinstance(err, RoleDenied), (call, err)
    assert MACHINE in err.message and call in err.message, err.message


def test_a_new_ledger_refuses_a_loggers_key_acting_for_its_organisation(
        world: World) -> None:
    w, c, lots = world, world.c, world.lots
    # (identity v4 to v6, newer than this test, change only the words of other role
    # refusals and refuse misleading shown text and unusable keys at admission)
    assert c.node.store.get_state("rules/v/identity") == canonical(6)
    c.ok(w.maker, "products", "declare_for_sale", {"id": lots[1]})
    w.order("O1", lots[1], w.maker)
    w.hand_over(lots[2])  # an offer to the logger: it may not take the goods either
    before = w.state()
    calls = [
        ("custody", "propose", {"batch": lots[3], "to": w.shop.did, "kind": "both"}),
        ("custody", "accept", {"proposal": c.rows(
            "SELECT id FROM custody_proposals WHERE batch = ?", lots[2])[0][0]}),
        ("orders", "dispatch", {"order": "O1", "transporter": w.haul.did,
                                "transport_no": "TN-1"}),
        ("products", "declare_for_sale", {"id": lots[3]}),
        ("products", "register_location", {"gln": GLN, "name": "Logger's yard"}),
    ]
    for contract, method, args in calls:
        _role_denied(w.refused(w.logger, contract, method, args), f"{contract}.{method}")
    assert w.state() == before  # nothing written (the refusals are recorded receipts)
    # What names its role, and its own key, it still signs.
    assert w.reading(1)["seq"] == 1
    new = generate("ed25519")
    c.ok(w.logger, "identity", "rotate_key", {"did": w.logger.did,
                                              "public_key": new.public.b64})
    raw = make_tx(new, chain=c.chain, contract="sensors", method="record", args={
        "seq": 2, "readings": [{"t": w.clock.t - 500, "temp": 5_000}]}, time_ms=w.clock(),
        nonce="after-rotation", signer=w.logger.did).raw
    assert c.node.submit(raw).result(30).ok
    raw = make_tx(new, chain=c.chain, contract="identity", method="revoke", args={
        "did": w.logger.did, "reason": "retired"}, time_ms=w.clock(), nonce="retire",
        signer=w.logger.did).raw
    assert c.node.submit(raw).result(30).ok
    # A member of the organisation does what the logger may not.
    c.ok(w.maker, "products", "register_location", {"gln": GLN, "name": "Yard"})
    report = run_audit(c.dir)
    assert report.ok, report.findings[:3]


def test_an_identity_v2_ledger_keeps_a_loggers_calls_until_v3_is_adopted(
        v2_world: World) -> None:
    w, c, lots = v2_world, v2_world.c, v2_world.lots
    for lot in lots[1:4]:
        w.hand_over(lot)
        [[pid]] = c.rows("SELECT id FROM custody_proposals WHERE batch = ?", lot)
        c.ok(w.logger, "custody", "accept", {"proposal": pid})
    # Under v2 the logger's key acts for the goods it was given, as it always did.
    for lot in lots[1:3]:
        c.ok(w.logger, "products", "declare_for_sale", {"id": lot})
    w.order("O1", lots[1], w.logger)
    w.order("O2", lots[2], w.logger)
    c.ok(w.logger, "orders", "dispatch", {"order": "O1", "transporter": w.haul.did,
                                          "transport_no": "TN-1"})
    c.ok(w.logger, "products", "register_location", {"gln": GLN, "name": "Logger's yard"})
    read = c.node.store.get_state
    assert registered_as(read, w.logger.key.public, c.node.contracts, "orders",
                         "dispatch") == w.logger.did
    assert c.ok(c.admin, "rules", "adopt", {"contract": "identity", "version": 3}) == {
        "contract": "identity", "version": 3, "previous": 2}
    before = w.state()
    for contract, method, args in (
            ("orders", "dispatch", {"order": "O2", "transporter": w.haul.did,
                                    "transport_no": "TN-2"}),
            ("custody", "propose", {"batch": lots[3], "to": w.maker.did, "kind": "both"}),
            ("products", "declare_for_sale", {"id": lots[3]})):
        _role_denied(w.refused(w.logger, contract, method, args), f"{contract}.{method}")
        with pytest.raises(RoleDenied, match="machine key"):  # tx submit's check too
            registered_as(read, w.logger.key.public, c.node.contracts, contract, method)
    assert w.state() == before
    assert w.reading(1)["seq"] == 1
    c.ok(w.logger, "identity", "rotate_key", {"did": w.logger.did,
                                              "public_key": generate("ed25519").public.b64})
    # Its organisation's people take over the goods' business.
    c.ok(w.maker, "products", "declare_for_sale", {"id": lots[4]})
    # The audit re-executes the v2 era (accepted) and the v3 era (refused) with this code.
    report = run_audit(c.dir)
    assert report.ok, report.findings[:3]


def test_an_adoption_counts_for_the_calls_after_it_in_the_same_block() -> None:
    admin, device = generate("ed25519"), generate("ed25519")
    people = [{"name": "admin", "org": "c", "roles": ["admin"], "public_key": admin.public.b64},
              {"name": "logger", "org": "c", "roles": ["device"],
               "public_key": device.public.b64}]
    state = encode_writes({**genesis_writes(people, [{"id": "c", "name": "C",
                                                      "roles": list(ROLES)}], T0),
                           "rules/v/identity": 2})
    contracts = load_builtin()
    ex = Executor(contracts, {k: v for k, v in state.items() if v is not None}.get)

    def block(height: int, *calls: tuple[Any, str, str, dict[str, Any]]) -> list[Any]:
        txs = [make_tx(key, chain="c", contract=ct, method=m, args=a, time_ms=T0,
                       nonce=f"{height}-{i}") for i, (key, ct, m, a) in enumerate(calls)]
        res = ex.execute([call_from_env(contracts, t.id, t.env, t.raw) for t in txs],
                         height=height)
        return [decode(r).get("error", {}).get("code", "ok") for r in res.receipts]

    place = ("products", "register_location")
    assert block(1, (device, *place, {"gln": GLN, "name": "A"}),
                 (admin, "rules", "adopt", {"contract": "identity", "version": 3}),
                 (device, *place, {"gln": "4006380000025", "name": "B"})) == [
        "ok", "ok", "role_denied"]
    assert block(2, (device, *place, {"gln": "4006380000032", "name": "C"})) == [
        "role_denied"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[World, Path]]:
    """A new ledger on the wall clock (the CLI's node stamps with it), stopped: the CLI
    opens its own node on the directory. The logger's key file is beside it."""
    clock = Clock(wall_clock_ms())
    c = Consortium(tmp_path / "ledger", chain="machines", clock=clock)
    try:
        w = build(c, clock)
    finally:
        c.stop()
    keyfile = tmp_path / "logger.key"
    write_key(keyfile, w.logger.key, "key-pw", FAST_KDF)
    yield w, keyfile


def _submit(data: Path, key: Path, contract: str, method: str, args: dict[str, Any]) -> Any:
    env = {"SUPPLYLEDGER_NODE_PASSWORD": "node", "SUPPLYLEDGER_KEY_PASSWORD": "key-pw",
           "COLUMNS": "200"}
    return CliRunner().invoke(app, ["tx", "submit", contract, method, "--data", str(data),
                                    "--key", str(key), "--args", json.dumps(args)], env=env)


def test_tx_submit_refuses_a_machine_key_before_signing(served: tuple[World, Path]) -> None:
    w, keyfile = served
    before = counts(w.c.dir)
    res = _submit(w.c.dir, keyfile, "products", "register_location",
                  {"gln": GLN, "name": "Logger's yard"})
    assert res.exit_code == 2, res.output
    assert "[role_denied]" in res.stderr and MACHINE in res.stderr, res.stderr
    assert counts(w.c.dir) == before  # used to commit it (and the location)
    res = _submit(w.c.dir, keyfile, "identity", "rotate_key",
                  {"did": w.logger.did, "public_key": generate("ed25519").public.b64})
    assert res.exit_code == 0, res.output
    assert counts(w.c.dir)["txs"] == before["txs"] + 1


def test_the_web_api_refuses_a_machine_key_before_signing(served: tuple[World, Path]) -> None:
    from supplyledger.node.service import Node
    from supplyledger.node.settings import Settings

    w, _ = served
    with Node(Settings(w.c.dir, verify_workers=0), w.c.node_key) as node:
        svc = LedgerService(node, CHEAP)
        try:
            svc.accounts.create(w.logger.did, "logger", "logger-pass-1", w.logger.key)
            who = svc.principal(svc.login("logger", "logger-pass-1", "test"), via_cookie=False)
            assert not svc.may_call(who, "products", "register_location")
            assert svc.may_call(who, "identity", "rotate_key")
            assert svc.may_call(who, "sensors", "record")
            before = counts(w.c.dir)
            with pytest.raises(RoleDenied, match="machine key"):
                svc.call(who, "products", "register_location", {"gln": GLN, "name": "Y"})

            async def rest() -> httpx.Response:
                transport = httpx.ASGITransport(app=create_app(svc))
                async with httpx.AsyncClient(transport=transport,
                                             base_url="http://test") as client:
                    r = await client.post("/api/auth/token", json={
                        "login": "logger", "password": "logger-pass-1"})
                    auth = {"Authorization": f"Bearer {r.json()['token']}"}
                    return await client.post("/api/contracts/custody/propose", headers=auth,
                                             json={"batch": w.lots[1], "to": w.shop.did,
                                                   "kind": "custody"})

            r = asyncio.run(rest())
            assert r.status_code == 403 and r.json()["error"]["code"] == "role_denied", r.text
            assert counts(w.c.dir) == before
        finally:
            svc.close()
