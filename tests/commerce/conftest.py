"""A commerce world in memory: the built-in contracts run by the executor over a dict.

Calls skip signing (the executor admits a registered signer; signatures are the node's and
the core tests' business), so hundreds of operations per hypothesis example stay cheap.
Every call's projection ops are applied to in-memory tables as well, so tests can check
what the query tables would show.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pytest

from supplyledger.contracts.builtin.identity import ROLES, genesis_writes
from supplyledger.contracts.executor import Executor, encode_writes
from supplyledger.contracts.projection import Delete, Op, Update, Upsert
from supplyledger.contracts.registry import all_tables, load_builtin
from supplyledger.contracts.runtime import Call, prepare_call
from supplyledger.gs1 import gtin_check_digit
from supplyledger.ledger.crypto import generate
from supplyledger.ledger.encoding import decode

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY = 24 * 3_600_000


class TickClock:
    """A node clock from T0 on, each transaction its own millisecond."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> int:
        self.t += 1
        return self.t
CONTRACTS = load_builtin()
_TABLES = {t.name: t for t in all_tables(CONTRACTS)}
# Keys only give each participant its id (ids derive from public keys); made once.
_KEYS = [generate("ed25519") for _ in range(24)]


def gtin(n: int) -> str:
    body = f"400638{n:06d}"
    return body + str(gtin_check_digit(body))


@dataclass
class World:
    store: dict[str, bytes] = field(default_factory=dict)
    tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = field(default_factory=dict)
    time: int = T0
    height: int = 0
    n_keys: int = 1
    events: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.admin = _KEYS[0].did
        genesis = encode_writes(genesis_writes(
            [{"name": "admin", "org": "consortium", "roles": ["admin", "auditor"],
              "public_key": _KEYS[0].public.b64}],
            [{"id": "consortium", "name": "C", "roles": list(ROLES)}], T0))
        self.store.update({k: v for k, v in genesis.items() if v is not None})
        self.exec = Executor(CONTRACTS, self.store.get)

    # -- running calls ------------------------------------------------------------------------
    def call(self, signer: str, contract: str, method: str, args: dict[str, Any], *,
             time: int | None = None) -> dict[str, Any]:
        self.height += 1
        value, error = prepare_call(CONTRACTS, contract, method, args)
        tx_id = hashlib.sha256(f"{self.height}".encode()).hexdigest()
        c = Call(tx_id, signer, contract, method, self.time if time is None else time, "c",
                 b"", value, error)
        res = self.exec.execute([c], height=self.height)
        assert not res.rejected, res.rejected
        for k, v in res.writes:
            if v is None:
                self.store.pop(k, None)
            else:
                self.store[k] = v
        self._apply(res.ops)
        r: dict[str, Any] = decode(res.receipts[0])
        self.events.extend(r.get("events", []))
        return r

    def ok(self, signer: str, contract: str, method: str, args: dict[str, Any],
           **kw: Any) -> Any:
        r = self.call(signer, contract, method, args, **kw)
        assert r["ok"], r["error"]
        return r["result"]

    def fail(self, code: str, signer: str, contract: str, method: str, args: dict[str, Any],
             **kw: Any) -> dict[str, Any]:
        before = dict(self.store)
        r = self.call(signer, contract, method, args, **kw)
        assert not r["ok"], f"expected {code}, call succeeded: {r['result']}"
        assert r["error"]["code"] == code, r["error"]
        assert self.store == before  # a failed call changes nothing
        return dict(r["error"])

    def _apply(self, ops: list[Op]) -> None:
        for op in ops:
            t = _TABLES[op.table]
            rows = self.tables.setdefault(op.table, {})
            if isinstance(op, Upsert):
                row = dict(zip(t.column_names, op.row, strict=True))
                rows[tuple(row[c] for c in t.primary_key)] = row
            elif isinstance(op, Update):
                if op.key in rows:
                    rows[op.key].update(dict(op.values))
            elif isinstance(op, Delete):
                rows.pop(op.key, None)

    # -- state --------------------------------------------------------------------------------
    def get(self, key: str) -> Any:
        raw = self.store.get(key)
        return None if raw is None else decode(raw)

    def read(self, key: str) -> bytes | None:
        return self.store.get(key)

    def order(self, oid: str) -> dict[str, Any]:
        o: dict[str, Any] = self.get(f"orders/o/{oid}")
        return o

    def balance(self, did: str, ccy: str = "EUR") -> int:
        return int(self.get(f"payments/b/{did}/{ccy}") or 0)

    def escrow(self, oid: str) -> int:
        x = self.get(f"payments/x/orders:{oid}")
        return 0 if x is None else int(x["amount"])

    def holding(self, batch: str) -> dict[str, Any]:
        h: dict[str, Any] = self.get(f"custody/h/{batch}")
        return h

    def money_in_ledger(self, ccy: str) -> int:
        """Sum of every balance and escrow in ``ccy``, read straight from state."""
        total = 0
        for k, raw in self.store.items():
            if k.startswith("payments/b/") and k.endswith(f"/{ccy}"):
                total += decode(raw)
            elif k.startswith("payments/x/"):
                x = decode(raw)
                total += x["amount"] if x["ccy"] == ccy else 0
        return total

    # -- participants and goods --------------------------------------------------------------
    def participant(self, *roles: str) -> str:
        """A new member, alone in a new organisation that may hold ``roles``."""
        n = self.n_keys
        key = _KEYS[n]
        self.n_keys += 1
        self.ok(self.admin, "identity", "register_org",
                {"id": f"org{n}", "name": f"Org {n}", "roles": list(roles)})
        self.ok(self.admin, "identity", "register_member",
                {"org": f"org{n}", "public_key": key.public.b64, "name": f"m{n}",
                 "roles": list(roles)})
        return key.did

    def batch(self, maker: str, n: int, lot: str = "L1", *, for_sale: bool = True) -> str:
        """A product type (GTIN n) and a batch of it, made by ``maker``."""
        g = gtin(n)
        if self.get(f"products/t/{g.zfill(14)}") is None:
            self.ok(maker, "products", "create_product", {"gtin": g, "name": f"thing {n}"})
        bid: str = self.ok(maker, "products", "create_batch", {"gtin": g, "lot": lot})["batch"]
        if for_sale:
            self.ok(maker, "products", "declare_for_sale", {"id": bid})
        return bid


@dataclass
class Cast:
    """The usual parties of an order."""

    w: World
    bank: str
    buyer: str
    seller: str
    carrier: str
    arbiter: str
    financier: str
    stranger: str

    def fund(self, did: str, amount: int, ccy: str = "EUR") -> None:
        self.w.ok(self.bank, "payments", "deposit",
                  {"account": did, "currency": ccy, "amount": amount})

    def place(self, oid: str, batch: str, *, qty: int = 10, price: int = 1000,
              freight: int = 500, latest: int | None = None, **extra: Any) -> dict[str, Any]:
        args = {"id": oid, "seller": self.seller, "batch": batch, "quantity": qty,
                "unit_price": price, "freight": freight, "currency": "EUR",
                "earliest": self.w.time, "latest": latest or self.w.time + 5 * DAY, **extra}
        return self.w.call(self.buyer, "orders", "place", args)

    def to_delivered(self, oid: str, batch: str, **kw: Any) -> None:
        r = self.place(oid, batch, **kw)
        assert r["ok"], r
        self.w.ok(self.seller, "orders", "dispatch",
                  {"order": oid, "transporter": self.carrier, "transport_no": f"TN-{oid}"})
        self.w.ok(self.carrier, "orders", "pickup", {"order": oid})
        self.w.ok(self.carrier, "orders", "deliver", {"order": oid})


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def cast(world: World) -> Cast:
    w = world
    return Cast(w, bank=w.participant("settlement"), buyer=w.participant("customer"),
                seller=w.participant("manufacturer", "supplier"),
                carrier=w.participant("transporter"), arbiter=w.participant("arbiter"),
                financier=w.participant("financier"), stranger=w.participant("customer"))
