"""A cold chain on a real embedded node for the sensors tests: a manufacturer with a
product (rule: 2-8 °C, 30 min excursion allowed) and a batch, a carrier, and a data logger
(an identity participant with role device) enrolled and bound to the batch. The clock is
the test's: each batch is signed just after its last reading."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from supplyledger.bench.consortium import Consortium, Party
from supplyledger.errors import SupplyLedgerError
from supplyledger.gs1 import gtin_check_digit
from supplyledger.ingest.broker import LocalBroker, find_mosquitto
from supplyledger.ingest.device import DeviceClient
from supplyledger.ledger.crypto import generate
from supplyledger.ledger.tx import SignedTx
from supplyledger.node.receipts import Receipt

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN = 60_000
DAY = 86_400_000
RULE = {"min": 2000, "max": 8000, "excursion_ms": 30 * MIN}


def gtin(n: int) -> str:
    body = f"400638{n:06d}"
    return body + str(gtin_check_digit(body))


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def need_mosquitto() -> None:
    """Skip without Debian's mosquitto, except in CI (CI=true), where that is a failure."""
    if find_mosquitto() is not None:
        return
    reason = "Debian's mosquitto is not installed (bash scripts/setup.sh installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"MQTT tests cannot run in CI: {reason}")
    pytest.skip(reason)


def temps(start: int, *values: int, step: int = 5 * MIN) -> list[dict[str, int]]:
    """Temperature readings (m°C) every ``step`` ms from ``start``."""
    return [{"t": start + i * step, "temp": v} for i, v in enumerate(values)]


@dataclass
class World:
    c: Consortium
    clock: Clock
    maker: Party
    carrier: Party
    gtin: str
    batch: str
    device: DeviceClient
    n: int = field(default=0)

    def submit(self, tx: SignedTx | bytes) -> Receipt:
        return self.c.node.submit(tx.raw if isinstance(tx, SignedTx) else tx).result(30)

    def send(self, readings: list[dict[str, int]], device: DeviceClient | None = None,
             **kw: Any) -> Receipt:
        """Sign (just after the last reading) and submit a batch; the committed receipt."""
        self.clock.t = max(self.clock.t, readings[-1]["t"] + 1000) if readings else \
            self.clock.t
        return self.submit((device or self.device).sign(readings, **kw))

    def ok(self, readings: list[dict[str, int]], **kw: Any) -> dict[str, Any]:
        r = self.send(readings, **kw)
        assert r.ok, r.error
        result: dict[str, Any] = r.result
        return result

    def error(self, readings: list[dict[str, int]], **kw: Any) -> dict[str, Any]:
        r = self.send(readings, **kw)
        assert not r.ok, f"expected a refusal, got {r.result}"
        err: dict[str, Any] = r.error or {}
        return err

    def refused(self, who: Any, contract: str, method: str, args: dict[str, Any]) -> (
            SupplyLedgerError):
        with pytest.raises(SupplyLedgerError) as info:
            self.c.ok(who, contract, method, args)
        return info.value

    def new_device(self, org: str = "maker", *, register: bool = True,
                   bind_to: str | None = None) -> DeviceClient:
        self.n += 1
        key = generate("ed25519")
        self.c.member(f"logger-{self.n}", org, ["device"], key=key)
        if register:
            self.c.ok(self.c.admin, "sensors", "register_device", {"device": key.did})
        if bind_to:
            self.c.ok(self.maker, "sensors", "bind", {"device": key.did, "kind": "batch",
                                                     "target": bind_to})
        return DeviceClient(key, self.c.chain, clock=self.clock)

    def new_batch(self, lot: str) -> str:
        batch: str = self.c.ok(self.maker, "products", "create_batch",
                               {"gtin": self.gtin, "lot": lot})["batch"]
        return batch

    def breaches(self, batch: str | None = None) -> list[dict[str, Any]]:
        import sqlite3

        conn = sqlite3.connect(self.c.dir / "ledger.sqlite")
        conn.row_factory = sqlite3.Row
        try:
            rows = conn.execute("SELECT * FROM sensor_breaches WHERE batch=? ORDER BY started",
                                (batch or self.batch,)).fetchall()
            return [dict(r) for r in rows]
        finally:
            conn.close()


def picked_up_order(w: World, oid: str, batch: str, *, deposit: int) -> tuple[Party, Party]:
    """A shop buys ten of ``batch`` from the maker (1,000 each + 500 freight, EUR, paid in
    by a bank as ``deposit``); the maker dispatches it to the carrier, who picks it up.
    Returns the shop and the bank."""
    c = w.c
    if "shop" not in c.parties:
        c.org("shop", ["customer"])
        c.org("bank", ["settlement"])
        c.member("shop", "shop", ["customer"])
        c.member("bank", "bank", ["settlement"])
    buyer, bank = c.parties["shop"], c.parties["bank"]
    c.ok(bank, "payments", "deposit", {"account": buyer.did, "currency": "EUR",
                                       "amount": deposit})
    c.ok(w.maker, "products", "declare_for_sale", {"id": batch})
    c.ok(buyer, "orders", "place", {
        "id": oid, "seller": w.maker.did, "batch": batch, "quantity": 10, "unit_price": 1000,
        "freight": 500, "currency": "EUR", "earliest": w.clock(), "latest": w.clock() + DAY})
    c.ok(w.maker, "orders", "dispatch", {"order": oid, "transporter": w.carrier.did,
                                         "transport_no": f"TN-{oid}"})
    c.ok(w.carrier, "orders", "pickup", {"order": oid})
    return buyer, bank


def build_world(directory: Path) -> Iterator[World]:
    clock = Clock(T0)
    c = Consortium(directory, clock=clock, max_tx_bytes=256 * 1024)
    try:
        c.org("maker", ["manufacturer", "device"])
        c.org("haul", ["transporter", "device"])
        maker = c.member("maker", "maker", ["manufacturer"])
        carrier = c.member("carrier", "haul", ["transporter"])
        g = gtin(1)
        c.ok(maker, "products", "create_product", {"gtin": g, "name": "vaccine"})
        batch = c.ok(maker, "products", "create_batch", {"gtin": g, "lot": "V1"})["batch"]
        c.ok(maker, "sensors", "set_rule", {"scope": "product", "target": g, "temp": RULE})
        w = World(c, clock, maker, carrier, g, batch, None)  # type: ignore[arg-type]
        w.device = w.new_device(bind_to=batch)
        yield w
    finally:
        c.stop()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path / "ledger")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A real mosquitto with logins, in the test's directory."""
    need_mosquitto()
    with LocalBroker(tmp_path / "mosquitto") as b:
        yield b
