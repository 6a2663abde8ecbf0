"""Inclusion proofs at the edges of a block, and every edit of every field of a proof.

Proofs of the first, a middle and the last transaction of a block of five, and of the only
transaction of a block of one, verify offline; then each value in each proof is replaced
by a neighbour of the same or another JSON type, and each key removed: every such edit must
be a ProofError (never another exception, never a pass), except removing the optional
signer key, which only withdraws the claim that the transaction's signature was checked.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.errors import ProofError
from supplyledger.ledger import block as blk
from supplyledger.ledger.crypto import b64e
from supplyledger.ledger.proofs import verify_proof
from supplyledger.node.proofs import proof_for

from .conftest import Ledger

Doc = dict[str, Any]
Path_ = tuple[str | int, ...]


@pytest.fixture
def proofs(ledger: Ledger) -> dict[str, Doc]:
    node = ledger.start(block_max_txs=5, block_max_ms=60_000)
    five = [node.submit(ledger.tx(ledger.admin, "identity", "register_org",
                                  {"id": f"org{i}", "name": f"Org {i}", "roles": ["supplier"]}))
            for i in range(5)]
    receipts = [t.result(30) for t in five]
    assert {r.height for r in receipts} == {1} and [r.index for r in receipts] == [0, 1, 2, 3, 4]
    node.stop()
    alone = ledger.start(block_max_txs=1)
    only = alone.submit(ledger.tx(ledger.admin, "identity", "register_org",
                                  {"id": "solo", "name": "Solo", "roles": ["supplier"]})
                        ).result(30)
    out = {"first": proof_for(alone.store, receipts[0].tx_id),
           "middle": proof_for(alone.store, receipts[2].tx_id),
           "last": proof_for(alone.store, receipts[4].tx_id),
           "only": proof_for(alone.store, only.tx_id)}
    assert out["only"]["block"]["header"]["tx_count"] == 1 and out["only"]["tx"]["path"] == []
    return out


def _leaves(doc: Any, at: Path_ = ()) -> Iterator[Path_]:
    if at:
        yield at
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _leaves(v, (*at, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _leaves(v, (*at, i))


def _get(doc: Any, at: Path_) -> Any:
    for k in at:
        doc = doc[k]
    return doc


def _edits(v: Any) -> list[Any]:
    """Values a forger or a careless editor might put instead of ``v``."""
    if isinstance(v, bool):
        return [not v, int(v)]
    if isinstance(v, int):
        return [v + 1, v - 1, str(v), float(v), v + 0.5, True, None]
    if isinstance(v, str):
        flipped = v[:-1] + ("0" if v[-1:] != "0" else "1") if v else "x"
        return [flipped, v.upper() if v != v.upper() else v.lower(), v + " ", " " + v, "",
                None, 0]
    if isinstance(v, list):
        return [v[:-1] if v else ["00" * 32], [*v, "00" * 32], v[::-1] if len(v) > 1 else {},
                None]
    if isinstance(v, dict):
        return [{}, [], None]
    return ["x", 0]


def _verify(doc: Any) -> Any:
    return verify_proof(json.loads(json.dumps(doc)))  # as read back from a file


@pytest.mark.parametrize("which", ["first", "middle", "last", "only"])
def test_every_edit_of_every_field_fails_the_proof(proofs: dict[str, Doc], which: str) -> None:
    doc = proofs[which]
    check = _verify(doc)
    assert check.tx_id == doc["tx"]["id"] and check.signer_verified
    passed, crashed = [], []
    for at in list(_leaves(doc)):
        old = _get(doc, at)
        variants: list[Any] = [v for v in _edits(old) if not (v == old and type(v) is type(old))]
        for value in [*variants, "<removed>"]:
            edited = copy.deepcopy(doc)
            parent = _get(edited, at[:-1])
            if value == "<removed>":
                if at == ("tx", "signer_key"):
                    continue  # optional: see test_a_proof_without_its_signer_key
                parent.pop(at[-1])
            else:
                parent[at[-1]] = value
            try:
                _verify(edited)
                passed.append((at, value))
            except ProofError:
                pass
            except Exception as exc:  # any other exception is a finding
                crashed.append((at, value, repr(exc)))
    # Clearing the signer key (to "" or null) withdraws a claim, like removing it.
    passed = [(at, v) for at, v in passed if not (at == ("tx", "signer_key") and not v)]
    assert passed == [] and crashed == [], (passed[:5], crashed[:5])


def test_a_proof_without_its_signer_key_says_so(proofs: dict[str, Doc], tmp_path: Path) -> None:
    doc = copy.deepcopy(proofs["middle"])
    del doc["tx"]["signer_key"]
    assert _verify(doc).signer_verified is False
    f = tmp_path / "p.json"
    f.write_text(json.dumps(doc))
    res = CliRunner().invoke(app, ["verify-proof", str(f)], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "signature was not checked" in res.stdout, res.stdout


def test_a_proof_re_signed_by_a_participant_that_is_no_node(proofs: dict[str, Doc],
                                                            ledger: Ledger,
                                                            tmp_path: Path) -> None:
    # The consortium admin rebuilds the header under its own id and signs it: consistent
    # in itself, so only a pinned node key tells it apart.
    genuine = proofs["last"]
    node_key = genuine["block"]["proposer_key"]
    doc = copy.deepcopy(genuine)
    header = blk.Header.from_dict({**doc["block"]["header"], "proposer": ledger.admin.did})
    doc["block"].update(header=header.to_dict(), proposer_key=ledger.admin.public.b64,
                        signature=b64e(blk.SignedHeader.sign(header, ledger.admin).signature))
    assert _verify(doc).proposer == ledger.admin.did
    with pytest.raises(ProofError, match="not one of the trusted node keys"):
        verify_proof(doc, trusted_keys=[node_key])
    assert verify_proof(genuine, trusted_keys=[node_key]).ok
    f = tmp_path / "forged.json"
    f.write_text(json.dumps(doc))
    res = CliRunner().invoke(app, ["verify-proof", str(f), "--trust", node_key, "--json"])
    assert res.exit_code == 1 and json.loads(res.stdout)["valid"] is False


@pytest.mark.parametrize("edit", ["no tx id", "index as text", "index with a fraction",
                                  "upper-case path", "deep"])
def test_the_command_answers_invalid_not_with_a_traceback(proofs: dict[str, Doc],
                                                          tmp_path: Path, edit: str) -> None:
    doc = copy.deepcopy(proofs["middle"])
    if edit == "no tx id":
        del doc["tx"]["id"]
    elif edit == "index as text":
        doc["tx"]["index"] = str(doc["tx"]["index"])
    elif edit == "index with a fraction":
        doc["tx"]["index"] += 0.5
    elif edit == "upper-case path":
        doc["tx"]["path"][0] = doc["tx"]["path"][0].upper()
    f = tmp_path / "p.json"
    f.write_text(json.dumps(doc) if edit != "deep" else "[" * 100_000 + "]" * 100_000)
    res = CliRunner().invoke(app, ["verify-proof", str(f), "--json"])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    if edit == "deep":  # not a JSON document this command can read: a usage error
        assert res.exit_code == 2 and "is not JSON" in res.stderr
    else:
        assert res.exit_code == 1 and json.loads(res.stdout)["valid"] is False
