"""``supplyledger tx submit`` checks the signer as the web API checks a call before signing:
a wrong role, a revoked or rotated-away key is refused with its own error and exit 2, and
nothing is written; a participant that rotated its key signs with the new key under its
own id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from supplyledger.cli.main import app
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.tx import make_tx
from supplyledger.node.bootstrap import init_ledger, write_key
from supplyledger.node.service import Node, wall_clock_ms
from supplyledger.node.settings import Settings

from .conftest import CHAIN, FAST_KDF, Keys, counts

ENV = {"SUPPLYLEDGER_NODE_PASSWORD": "node-pw", "SUPPLYLEDGER_KEY_PASSWORD": "key-pw",
       "COLUMNS": "200"}


def _run(data: Path, key: Path, contract: str, method: str, args: str) -> Result:
    return CliRunner().invoke(app, ["tx", "submit", contract, method, "--data", str(data),
                                    "--key", str(key), "--args", args], env=ENV)


def _refused(res: Result, *fragments: str) -> None:
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), res.output
    line = res.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line, res.stderr
    for f in fragments:
        assert f in line, line


def _commit(data: Path, keys: Keys, *calls: tuple[PrivateKey, str, str, dict[str, Any]]
            ) -> None:
    """Commit ``calls`` through a node that is stopped afterwards (the CLI opens its own)."""
    with Node(Settings(data, verify_workers=0), keys.rsa) as node:
        for n, (key, method, contract, args) in enumerate(calls):
            raw = make_tx(key, chain=CHAIN, contract=contract, method=method, args=args,
                          time_ms=node.clock(), nonce=f"setup{n}").raw
            r = node.submit(raw).result(30)
            assert r.ok, r.error


@pytest.fixture
def world(tmp_path: Path, keys: Keys) -> Path:
    d = tmp_path / "ledger"
    init_ledger(d, chain=CHAIN, time_ms=wall_clock_ms(), node_password="node-pw",
                admins=[("alice", keys.admin, "key-pw")], node_key=keys.rsa, kdf=FAST_KDF)
    member = keys.ed[3]
    _commit(d, keys,
            (keys.admin, "register_org", "identity",
             {"id": "acme", "name": "Acme", "roles": ["supplier"]}),
            (keys.admin, "register_member", "identity",
             {"org": "acme", "public_key": member.public.b64, "name": "m",
              "roles": ["supplier"]}))
    for i in (3, 4, 5):
        write_key(tmp_path / f"k{i}.key", keys.ed[i], "key-pw", FAST_KDF)
    return d


def test_a_wrong_role_is_refused_before_signing(world: Path) -> None:
    before = counts(world)
    _refused(_run(world, world.parent / "k3.key", "identity", "register_org",
                  '{"id": "mine", "name": "M", "roles": ["supplier"]}'),
             "needs the role admin", "[role_denied]")  # (identity v4's words)
    assert counts(world) == before  # used to commit a failed transaction


def test_an_unregistered_key_is_refused(world: Path) -> None:
    before = counts(world)
    _refused(_run(world, world.parent / "k5.key", "identity", "revoke",
                  '{"did": "x", "reason": "r"}'), "is not registered", "[unknown_signer]")
    assert counts(world) == before


def test_a_rotated_participant_signs_with_its_new_key_under_its_own_id(world: Path,
                                                                        keys: Keys) -> None:
    old, new = keys.ed[3], keys.ed[4]
    _commit(world, keys, (old, "rotate_key", "identity",
                          {"did": old.did, "public_key": new.public.b64}))
    before = counts(world)
    _refused(_run(world, world.parent / "k3.key", "identity", "revoke",
                  f'{{"did": "{old.did}", "reason": "old key"}}'), "rotated", "[revoked_key]")
    assert counts(world) == before
    # The new key's own id is not registered: the participant's is (it used to be refused
    # as an unknown signer).
    res = _run(world, world.parent / "k4.key", "identity", "revoke",
               f'{{"did": "{old.did}", "reason": "leaving"}}')
    assert res.exit_code == 0, res.output
    assert counts(world)["txs"] == before["txs"] + 1
    # Revoked now: refused before signing.
    _refused(_run(world, world.parent / "k4.key", "identity", "revoke",
                  f'{{"did": "{old.did}", "reason": "again"}}'), "is revoked",
             "[revoked_key]")
