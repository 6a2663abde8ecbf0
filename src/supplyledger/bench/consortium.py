"""A small consortium on an embedded node: organisations, members and a way to call
contracts and wait for the receipt. Used by the tampering experiment, the trace benchmark
and the traceability tests, so each builds its supply chain the same way."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supplyledger.errors import error_from_code
from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.ledger.keyfile import KdfParams
from supplyledger.ledger.tx import make_tx
from supplyledger.node.bootstrap import init_ledger
from supplyledger.node.receipts import Receipt
from supplyledger.node.service import Node, wall_clock_ms
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME

__all__ = ["Consortium", "Party"]


@dataclass(frozen=True)
class Party:
    name: str
    org: str
    key: PrivateKey

    @property
    def did(self) -> str:
        return self.key.did


class Consortium:
    """Creates a ledger in ``data_dir`` and runs a node on it. ``clock`` fixes the node's
    time (tests); transactions are stamped with the same clock."""

    def __init__(self, data_dir: Path, *, chain: str = "trace", clock: Callable[[], int]
                 = wall_clock_ms, node_key: PrivateKey | None = None,
                 admin: PrivateKey | None = None, **settings: Any) -> None:
        self.dir = Path(data_dir)
        self.clock = clock
        self.admin = admin or generate("ed25519")
        self.node_key = node_key or generate("ed25519")
        init_ledger(self.dir, chain=chain, time_ms=clock(), node_password="node",
                    admins=[("admin", self.admin, None)], node_key=self.node_key,
                    kdf=KdfParams(n=2**10))
        settings.setdefault("verify_workers", 0)
        self.settings = Settings(self.dir, **settings)
        self.node = Node(self.settings, self.node_key, clock=clock).start()
        self.chain = self.node.chain
        self._nonce = itertools.count(1)
        self.parties: dict[str, Party] = {}

    def stop(self) -> None:
        self.node.stop()

    def rows(self, sql: str, *params: Any) -> list[Any]:
        """A query's rows read from the ledger file through a connection of its own, as
        any reader of the directory sees them."""
        conn = sqlite3.connect(self.dir / DB_NAME)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def __enter__(self) -> Consortium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def tx(self, key: PrivateKey, contract: str, method: str, args: dict[str, Any]) -> bytes:
        return make_tx(key, chain=self.chain, contract=contract, method=method, args=args,
                       time_ms=self.clock(), nonce=next(self._nonce)).raw

    def call(self, who: Party | PrivateKey, contract: str, method: str,
             args: dict[str, Any]) -> Receipt:
        key = who.key if isinstance(who, Party) else who
        return self.node.submit(self.tx(key, contract, method, args)).result(60)

    def ok(self, who: Party | PrivateKey, contract: str, method: str,
           args: dict[str, Any]) -> Any:
        """Call and return the result; a failed call raises its error."""
        r = self.call(who, contract, method, args)
        if not r.ok:
            err = r.error or {}
            raise error_from_code(err.get("code", ""), err.get("message", ""),
                                  err.get("details"))
        return r.result

    def org(self, org: str, roles: list[str]) -> None:
        self.ok(self.admin, "identity", "register_org", {"id": org, "name": org.title(),
                                                         "roles": roles})

    def member(self, name: str, org: str, roles: list[str],
               key: PrivateKey | None = None) -> Party:
        key = key or generate("ed25519")
        self.ok(self.admin, "identity", "register_member",
                {"org": org, "public_key": key.public.b64, "name": name, "roles": roles})
        party = Party(name, org, key)
        self.parties[name] = party
        return party
