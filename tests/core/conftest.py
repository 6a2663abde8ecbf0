"""Shared fixtures for the ledger-core tests.

Keys are generated once per session (RSA generation costs 50-300 ms each); ledgers are made
per test in ``tmp_path`` with a cheap KDF and an injected clock, so nothing depends on the
wall clock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.ledger.keyfile import KdfParams
from supplyledger.ledger.tx import make_tx
from supplyledger.node.bootstrap import init_ledger
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms: every test ledger starts here
CHAIN = "core-test"
FAST_KDF = KdfParams(n=2**10)


@dataclass(frozen=True)
class Keys:
    rsa: PrivateKey  # RSA-2048, the node key
    rsa_b: PrivateKey  # a second RSA-2048 key (wrong-key checks, RSA signer)
    rsa3072: PrivateKey
    admin: PrivateKey  # Ed25519 consortium admin
    ed: list[PrivateKey]  # spare Ed25519 keys for members


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(generate("rsa"), generate("rsa"), generate("rsa3072"), generate("ed25519"),
                [generate("ed25519") for _ in range(8)])


def counts(data_dir: Path) -> dict[str, Any]:
    """Height and row counts, read through a separate read-only connection."""
    conn = sqlite3.connect(f"file:{data_dir / DB_NAME}?mode=ro", uri=True)
    try:
        out: dict[str, Any] = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                               for t in ("blocks", "txs", "state")}
        out["height"] = conn.execute("SELECT MAX(height) FROM blocks").fetchone()[0]
        return out
    finally:
        conn.close()


@dataclass
class Ledger:
    """A fresh ledger directory plus helpers to sign transactions and run nodes on it."""

    dir: Path
    keys: Keys
    nodes: list[Node] = field(default_factory=list)
    nonce: int = 0

    @property
    def admin(self) -> PrivateKey:
        return self.keys.admin

    @property
    def node_key(self) -> PrivateKey:
        return self.keys.rsa

    def start(self, clock: Callable[[], int] = lambda: T0, **settings: Any) -> Node:
        # Verification on a thread of this process unless a test asks for worker processes
        # (their start-up would dominate these small ledgers).
        settings.setdefault("verify_workers", 0)
        node = Node(Settings(self.dir, **settings), self.node_key, clock=clock).start()
        self.nodes.append(node)
        return node

    def tx(self, key: PrivateKey, contract: str, method: str, args: dict[str, Any], *,
           time_ms: int = T0, chain: str = CHAIN, nonce: int | str | None = None) -> bytes:
        self.nonce += 1
        return make_tx(key, chain=chain, contract=contract, method=method, args=args,
                       time_ms=time_ms, nonce=self.nonce if nonce is None else nonce).raw

    def counts(self) -> dict[str, Any]:
        return counts(self.dir)


@pytest.fixture
def ledger(tmp_path: Path, keys: Keys) -> Iterator[Ledger]:
    d = tmp_path / "ledger"
    init_ledger(d, chain=CHAIN, time_ms=T0, node_password="node-pw",
                admins=[("admin", keys.admin, None)], node_key=keys.rsa, kdf=FAST_KDF)
    led = Ledger(d, keys)
    yield led
    for node in led.nodes:
        node.stop()
