"""The demo consortium: who is in it, and a driver that signs their calls in simulated time.

Paper 002's flour-mill group (a headquarters and subsidiaries for the farm, milling,
granary, transport and sales, audited by an independent grain lab) shares the ledger with
paper 000's e-commerce platforms A, B and C, their suppliers and couriers, customers, a
settlement bank, an arbitration board, a supply-chain financier and the port's customs
office.

People with a web login get RSA keys (RSA so they can receive encrypted customer data);
everyone else gets Ed25519 keys, which are faster to make. Keys live only in memory while
the demo loads; afterwards only the logins' keys remain, sealed under random passwords.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any

from supplyledger.errors import SupplyLedgerError, error_from_code
from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.ledger.tx import make_tx
from supplyledger.node.receipts import Receipt
from supplyledger.node.service import Node

__all__ = ["ORGS", "PEOPLE", "DemoError", "Person", "Sim"]

HOUR = 3_600_000
DAY = 24 * HOUR

# id, name, roles
ORGS: list[tuple[str, str, list[str]]] = [
    ("gw-group", "Golden Wheat Flour Group (HQ)", ["auditor", "inspector"]),
    ("gw-farm", "Golden Wheat Farms", ["supplier", "manufacturer"]),
    ("gw-mill", "Golden Wheat Milling", ["manufacturer", "warehouse"]),
    ("gw-granary", "Golden Wheat Granary", ["warehouse"]),
    ("gw-logistics", "Golden Wheat Logistics", ["transporter"]),
    ("gw-sales", "Golden Wheat Sales", ["platform", "warehouse", "supplier"]),
    ("qa-lab", "Sichuan Grain Quality Lab", ["inspector"]),
    ("platform-a", "Platform A", ["platform", "warehouse", "customer"]),
    ("platform-b", "Platform B", ["platform", "warehouse", "customer"]),
    ("platform-c", "Platform C", ["platform", "warehouse", "customer"]),
    ("supplier-a", "Riverside Baking Supplies", ["supplier", "manufacturer"]),
    ("supplier-b", "Highland Noodle Co.", ["supplier", "manufacturer"]),
    ("supplier-c", "Orchard Oils", ["supplier", "manufacturer"]),
    ("express-a", "SwiftExpress", ["transporter"]),
    ("express-b", "CargoLine", ["transporter"]),
    ("express-c", "LastMile Couriers", ["transporter"]),
    ("bank", "Consortium Settlement Bank", ["settlement"]),
    ("arbitration", "Trade Arbitration Board", ["arbiter"]),
    ("finance", "Supply Chain Finance Ltd", ["financier"]),
    ("customs-cn", "Chengdu Port Customs", ["customs"]),
    ("customers", "Retail customers", ["customer"]),
]

# login (None: no web login), display name, org, roles
PEOPLE: list[tuple[str | None, str, str, list[str]]] = [
    ("auditor", "Li Na (group audit)", "gw-group", ["auditor", "inspector"]),
    ("farm", "Zhang Wei (farm manager)", "gw-farm", ["supplier", "manufacturer"]),
    ("mill", "Chen Jie (mill operations)", "gw-mill", ["manufacturer", "warehouse"]),
    ("granary", "Wang Fang (granary)", "gw-granary", ["warehouse"]),
    ("driver", "Liu Yang (logistics)", "gw-logistics", ["transporter"]),
    ("sales", "Zhao Min (sales)", "gw-sales", ["platform", "warehouse", "supplier"]),
    ("inspector", "Dr. Sun Li (grain lab)", "qa-lab", ["inspector"]),
    ("platform-a", "Platform A operations", "platform-a", ["platform", "warehouse", "customer"]),
    (None, "Platform B operations", "platform-b", ["platform", "warehouse", "customer"]),
    (None, "Platform C operations", "platform-c", ["platform", "warehouse", "customer"]),
    ("supplier-a", "Riverside Baking Supplies", "supplier-a", ["supplier", "manufacturer"]),
    (None, "Highland Noodle Co.", "supplier-b", ["supplier", "manufacturer"]),
    (None, "Orchard Oils", "supplier-c", ["supplier", "manufacturer"]),
    ("courier", "SwiftExpress dispatch", "express-a", ["transporter"]),
    (None, "CargoLine dispatch", "express-b", ["transporter"]),
    (None, "LastMile dispatch", "express-c", ["transporter"]),
    ("bank", "Settlement desk", "bank", ["settlement"]),
    ("arbiter", "Arbitration officer", "arbitration", ["arbiter"]),
    ("financier", "Credit analyst", "finance", ["financier"]),
    ("customs", "Ma Jun (customs officer)", "customs-cn", ["customs"]),
    ("customer", "Alice Wang", "customers", ["customer"]),
    *[(None, name, "customers", ["customer"]) for name in (
        "Bo Chen", "Carmen Li", "Deng Hui", "Emma Xu", "Feng Lei", "Gao Yan", "Hu Jun",
        "Iris Ma")],
]


class DemoError(RuntimeError):
    """A scenario step the contracts refused although the story needs it to succeed."""


@dataclass(frozen=True)
class Person:
    login: str | None
    name: str
    org: str
    roles: tuple[str, ...]
    key: PrivateKey

    @property
    def did(self) -> str:
        return self.key.did


def make_people() -> dict[str, Person]:
    """Keys for everyone; keyed by login, or by name for people without one."""
    out: dict[str, Person] = {}
    for login, name, org, roles in PEOPLE:
        key = generate("rsa" if login else "ed25519")
        out[login or name] = Person(login, name, org, tuple(roles), key)
    return out


class Sim:
    """Signs and submits calls at a simulated time that only moves forward; the node runs
    on the same clock, so block times and contract times follow the story's weeks."""

    def __init__(self, start_ms: int) -> None:
        self.t = start_ms
        self.node: Node | None = None
        self._nonce = itertools.count(1)
        self._lock = threading.Lock()

    def now(self) -> int:
        return self.t

    def at(self, ms: int) -> None:
        self.t = max(self.t, ms)

    def tick(self, minutes: int = 7) -> None:
        self.t += minutes * 60_000

    def submit(self, key: PrivateKey, contract: str, method: str, args: dict[str, Any],
               *, wait: bool = True) -> Any:
        assert self.node is not None
        tx = make_tx(key, chain=self.node.chain, contract=contract, method=method, args=args,
                     time_ms=self.t, nonce=next(self._nonce))
        ticket = self.node.submit(tx.raw)
        return ticket.result(60) if wait else ticket

    def call(self, who: Person | PrivateKey, contract: str, method: str,
             args: dict[str, Any]) -> Receipt:
        key = who.key if isinstance(who, Person) else who
        self.tick(3)
        r: Receipt = self.submit(key, contract, method, args)
        return r

    def ok(self, who: Person | PrivateKey, contract: str, method: str,
           args: dict[str, Any]) -> Any:
        r = self.call(who, contract, method, args)
        if not r.ok:
            err = r.error or {}
            name = who.name if isinstance(who, Person) else "admin"
            raise DemoError(f"{name}: {contract}.{method} refused: {err.get('code')}: "
                            f"{err.get('message')}")
        return r.result

    def refused(self, who: Person, contract: str, method: str, args: dict[str, Any],
                code: str) -> Receipt:
        """A call the story expects the contract to refuse (it is recorded as failed)."""
        r = self.call(who, contract, method, args)
        if r.ok or (r.error or {}).get("code") != code:
            raise DemoError(f"{contract}.{method} by {who.name} should fail with {code}: "
                            f"{r.error or r.result}")
        return r

    def try_submit(self, raw: bytes) -> SupplyLedgerError | None:
        assert self.node is not None
        exc = self.node.submit(raw).exception(60)
        return exc if isinstance(exc, SupplyLedgerError) else None

    @staticmethod
    def error_of(r: Receipt) -> SupplyLedgerError:
        err = r.error or {}
        return error_from_code(err.get("code", ""), err.get("message", ""))
