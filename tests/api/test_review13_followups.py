"""Review 13 follow-ups on the REST API and ``tx submit``, on real SQLite ledgers:

* ``rules.adopt`` of a version already in force (or an older one) was signed and recorded
  for good as a failed transaction; it is refused before signing with the contract's own
  error code (``invalid_state``), in the web API and in ``tx submit``, and nothing is
  written, while a real adoption still goes through;
* ``GET /api/contracts`` listed the methods open to any participant as roles ["*"] with no
  word of identity rules v3's machine keys: each method now says whether a machine key may
  sign it (``machines``), as the executor decides, and the answer model documents it.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from supplyledger.api.schemas import MethodDoc
from supplyledger.bench import consortium
from supplyledger.bench.consortium import Consortium
from supplyledger.cli.main import app
from supplyledger.contracts.registry import load_builtin
from supplyledger.errors import InvalidState
from supplyledger.ledger.keyfile import KdfParams
from supplyledger.node.bootstrap import init_ledger, write_key
from supplyledger.node.service import wall_clock_ms
from supplyledger.store.sqlite import DB_NAME

from .conftest import World, bearer

KEY_PW = "key-pw"


def _submit(data: Path, key: Path, args: dict[str, Any]) -> Any:
    env = {"SUPPLYLEDGER_NODE_PASSWORD": "node", "SUPPLYLEDGER_KEY_PASSWORD": KEY_PW,
           "COLUMNS": "200"}
    return CliRunner().invoke(app, ["tx", "submit", "rules", "adopt", "--data", str(data),
                                    "--key", str(key), "--args", json.dumps(args)], env=env)


@pytest.fixture
def stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """A stopped ledger whose genesis was written by a release with trace rules up to v3
    (this release implements v4: one adoption is left to make), and its admin's key file."""
    old = {n: dataclasses.replace(c, versions=(1, 2, 3)) if n == "trace" else c
           for n, c in load_builtin().items()}
    monkeypatch.setattr(consortium, "init_ledger", partial(init_ledger, contracts=old))
    c = Consortium(tmp_path / "ledger", chain="followups", clock=wall_clock_ms)
    try:
        assert c.node.store.get_state("rules/v/trace") is not None
    finally:
        c.stop()
    key = tmp_path / "admin.key"
    write_key(key, c.admin, KEY_PW, KdfParams(n=2**10))
    yield c.dir, key


def _counts(data: Path) -> tuple[int, int]:
    conn = sqlite3.connect(f"file:{data / DB_NAME}?mode=ro", uri=True)
    try:
        return (conn.execute("SELECT COUNT(*) FROM txs").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM state").fetchone()[0])
    finally:
        conn.close()


def test_tx_submit_refuses_adopting_rules_in_force_before_signing(
        stopped: tuple[Path, Path]) -> None:
    data, key = stopped
    res = _submit(data, key, {"contract": "trace", "version": 4})
    assert res.exit_code == 0, res.output  # a real adoption is not refused
    before = _counts(data)
    for version in (4, 2):  # the version in force, an older one
        res = _submit(data, key, {"contract": "trace", "version": version})
        assert res.exit_code == 2, res.output
        assert "[invalid_state]" in res.stderr, res.stderr
        assert "trace already runs rules v4; rules only move forward" in res.stderr
    assert _counts(data) == before  # used to commit a failed transaction


@pytest.mark.anyio
async def test_the_web_api_refuses_adopting_rules_in_force_before_signing(
        client: httpx.AsyncClient, world: World) -> None:
    version = world.service.rules_version("payments")
    admin = await bearer(client, "admin")
    before = world.snapshot()
    for v in (version, 1):
        r = await client.post("/api/contracts/rules/adopt", headers=admin,
                              json={"contract": "payments", "version": v})
        assert r.status_code == 409, r.text  # used to be 200 with a failed receipt
        err = r.json()["error"]
        assert err["code"] == "invalid_state", err
        assert f"payments already runs rules v{version}" in err["message"]
    # a contract this release lacks keeps its own answer (refused unrecorded, as before)
    r = await client.post("/api/contracts/rules/adopt", headers=admin,
                          json={"contract": "nosuch", "version": 1})
    assert r.json()["error"]["code"] == "unknown_contract", r.text
    assert world.snapshot() == before
    # the contract's own answer, run over the committed state: the same code
    from supplyledger.node.signers import stale_adoption

    read = world.node.store.get_state
    refused = stale_adoption(read, world.service.contracts, "rules", "adopt",
                             {"contract": "payments", "version": version})
    assert isinstance(refused, InvalidState) and refused.current == f"v{version}"
    assert stale_adoption(read, world.service.contracts, "rules", "adopt",
                          {"contract": "payments", "version": version + 1}) is None


@pytest.mark.anyio
async def test_the_catalogue_says_which_methods_a_machine_key_may_sign(
        client: httpx.AsyncClient, world: World) -> None:
    r = await client.get("/api/contracts", params={"limit": 100},
                         headers=await bearer(client, "mill"))
    assert r.status_code == 200, r.text
    methods = {(m["contract"], m["method"]): m for c in r.json()["items"]
               for m in c["methods"]}
    assert all(isinstance(m["machines"], bool) for m in methods.values())
    # open to any participant: a machine key only where declared (its own key)
    assert methods["identity", "rotate_key"]["roles"] == ["*"]
    assert methods["identity", "rotate_key"]["machines"] is True
    assert methods["custody", "propose"]["roles"] == ["*"]
    assert methods["custody", "propose"]["machines"] is False
    # naming roles: a machine key where it names a machine role
    assert methods["sensors", "record"]["machines"] is True
    assert methods["products", "create_batch"]["machines"] is False
    one = await client.get("/api/contracts/sensors", headers=await bearer(client, "mill"))
    assert next(m for m in one.json()["methods"] if m["method"] == "record")["machines"]
    # documented in the answer model, and so in the OpenAPI document
    assert "machines" in MethodDoc.model_fields
    spec = (await client.get("/openapi.json")).json()
    assert "machines" in spec["components"]["schemas"]["MethodDoc"]["properties"]
