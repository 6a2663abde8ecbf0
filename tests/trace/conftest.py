"""Fixtures for the traceability tests: a consortium ledger on an embedded node (verifier on
a thread, fixed clock), and the flour-mill chain of paper 002 recorded on it."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.conftest import World, build_world
from supplyledger.api import create_app
from supplyledger.bench.consortium import Consortium
from supplyledger.bench.flourmill import FlourMill, build_flour_mill
from supplyledger.errors import SupplyLedgerError
from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.node.queries import TraceQueries
from supplyledger.store.sqlite import DB_NAME, SQLiteStore

T0 = 1_767_225_600_000


@pytest.fixture(scope="session")
def rsa_keys() -> list[PrivateKey]:
    return [generate("rsa") for _ in range(4)]


@pytest.fixture
def consortium(tmp_path: Path) -> Iterator[Consortium]:
    c = Consortium(tmp_path / "ledger", clock=lambda: T0, max_tx_bytes=8 << 20)
    yield c
    c.stop()


@pytest.fixture
def mill(consortium: Consortium) -> FlourMill:
    return build_flour_mill(consortium)


def error_of(c: Consortium, who: Any, contract: str, method: str,
             args: dict[str, Any]) -> SupplyLedgerError:
    """The error a call fails with (the test fails if the call succeeds)."""
    with pytest.raises(SupplyLedgerError) as info:
        c.ok(who, contract, method, args)
    return info.value


def queries(c: Consortium) -> TraceQueries:
    return TraceQueries(SQLiteStore(c.dir))


def sql(c: Consortium, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Write access to the ledger database, as an insider would have it."""
    conn = sqlite3.connect(c.dir / DB_NAME, isolation_level=None)
    try:
        return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


# -- the REST API over a ledger of the API tests' world (tests/api/conftest.py) ----------
@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def api_keys() -> list[PrivateKey]:
    return [generate("rsa") for _ in range(5)]


@pytest.fixture
def api_world(tmp_path: Path, api_keys: list[PrivateKey]) -> Iterator[World]:
    w = build_world(tmp_path / "ledger", api_keys)
    yield w
    w.node.stop()
    w.service.close()


@pytest.fixture
async def api_client(api_world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(api_world.service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as c:
        yield c
