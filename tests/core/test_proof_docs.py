"""Proof documents (`supplyledger proof --json` -> `verify-proof`): a genuine proof checks out
offline, and every change to it -- any field, any byte of the transaction or receipt, a
different shape -- is refused as a ProofError naming what failed, never another exception."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.errors import ProofError
from supplyledger.ledger.crypto import generate
from supplyledger.ledger.proofs import verify_proof
from supplyledger.node.proofs import proof_for

from .conftest import Ledger

Doc = dict[str, Any]


@pytest.fixture
def proof(ledger: Ledger) -> Doc:
    node = ledger.start(block_max_ms=200)
    tickets = [node.submit(ledger.tx(ledger.admin, "identity", "register_org",
                                     {"id": f"org{i}", "name": f"Org {i}",
                                      "roles": ["supplier"]})) for i in range(5)]
    receipts = [t.result(10) for t in tickets]
    assert all(r.ok for r in receipts)
    doc = proof_for(node.store, receipts[2].tx_id)
    assert doc["block"]["header"]["tx_count"] > 1  # a real path, not a one-leaf tree
    return doc


def _flip(text: str, at: int) -> str:
    c = text[at]
    return text[:at] + ("A" if c != "A" else "B") + text[at + 1:]


def _set(path: tuple[str, ...], value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _other_key(doc: Doc) -> None:
    doc["block"]["proposer_key"] = generate("ed25519").public.b64


TAMPERS: dict[str, Callable[[Doc], None]] = {
    "tx byte": lambda d: d["tx"].update(raw=_flip(d["tx"]["raw"], len(d["tx"]["raw"]) // 2)),
    "tx id": _set(("tx", "id"), "00" * 32),
    "tx index": lambda d: d["tx"].update(index=d["tx"]["index"] + 1),
    "negative index": _set(("tx", "index"), -1),
    "tx path": lambda d: d["tx"]["path"].__setitem__(0, "ff" * 32),
    "short path": lambda d: d["tx"]["path"].pop(),
    "receipt byte": lambda d: d["receipt"].update(
        raw=d["receipt"]["raw"].replace('"ok":true', '"ok":false')),
    "receipt path": lambda d: d["receipt"]["path"].__setitem__(0, "ee" * 32),
    "header height": lambda d: d["block"]["header"].update(
        height=d["block"]["header"]["height"] + 1),
    "header tx root": _set(("block", "header", "tx_root"), "11" * 32),
    "signature": lambda d: d["block"].update(
        signature=_flip(d["block"]["signature"], 10)),
    "proposer key": _other_key,
    "signer key": lambda d: d["tx"].update(signer_key=generate("ed25519").public.b64),
    "format": _set(("format",), "supplyledger-proof/0"),
    "no block": lambda d: d.pop("block"),
    "header not an object": _set(("block", "header"), []),
    "raw not a string": _set(("tx", "raw"), 7),
    "raw not a transaction": _set(("tx", "raw"), "{}"),
    "raw not JSON": _set(("tx", "raw"), "not json"),
    "receipt not an object": _set(("receipt", "raw"), "[1, 2]"),
    "receipt not JSON": _set(("receipt", "raw"), "{"),
    "signer key not a key": _set(("tx", "signer_key"), "AAAA"),
    "path not hex": lambda d: d["tx"]["path"].__setitem__(0, "zz"),
    "path not a list": _set(("tx", "path"), "ab"),
}


def test_a_genuine_proof_verifies(proof: Doc) -> None:
    check = verify_proof(proof, trusted_keys=[proof["block"]["proposer_key"]])
    assert check.tx_id == proof["tx"]["id"] and check.ok and check.signer_verified


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_every_tamper_is_a_proof_error(proof: Doc, name: str) -> None:
    doc = copy.deepcopy(proof)
    TAMPERS[name](doc)
    with pytest.raises(ProofError):
        verify_proof(doc)


@pytest.mark.parametrize("doc", [[], "proof", 3, None, {"format": "supplyledger-proof/1"}])
def test_other_shapes_are_proof_errors(doc: Any) -> None:
    with pytest.raises(ProofError):
        verify_proof(doc)


def test_an_untrusted_proposer_is_refused(proof: Doc) -> None:
    with pytest.raises(ProofError, match="trusted"):
        verify_proof(proof, trusted_keys=[generate("ed25519").public.b64])


def test_verify_proof_command(proof: Doc, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(proof))
    tampered = copy.deepcopy(proof)
    TAMPERS["tx byte"](tampered)
    bad.write_text(json.dumps(tampered))
    runner = CliRunner()
    ok = runner.invoke(app, ["verify-proof", str(good), "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["valid"] is True
    refused = runner.invoke(app, ["verify-proof", str(bad), "--json"])
    assert refused.exit_code == 1 and json.loads(refused.stdout)["valid"] is False
