"""Review of the ledger core's promises on bad input, as a user and an attacker meet them.

``tx submit`` refuses unreadable arguments in one line and writes nothing; ``proof`` tells a
malformed id from an unknown one; ``verify-proof`` answers every broken or forged file with
a ProofError naming the field (never another exception, never "valid"); ``audit`` names a
file that is no ledger, reports a dropped core table or column as a finding instead of a
traceback, and stays clean on an untouched ledger while a node commits beside it.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from supplyledger.cli.main import app
from supplyledger.errors import CryptoError, NotFound, ProofError, ValidationError
from supplyledger.ledger import block as blk
from supplyledger.ledger.crypto import b64e
from supplyledger.ledger.proofs import MAX_PATH, verify_proof
from supplyledger.ledger.tx import MAX_ARGS_DEPTH, make_tx
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import write_key
from supplyledger.node.proofs import proof_for
from supplyledger.store.sqlite import DB_NAME

from .conftest import CHAIN, FAST_KDF, T0, Ledger

ENV = {"SUPPLYLEDGER_NODE_PASSWORD": "node-pw", "SUPPLYLEDGER_KEY_PASSWORD": "key-pw",
       "COLUMNS": "200"}
Doc = dict[str, Any]


def _cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=ENV)


def _one_line_error(res: Result, *fragments: str, code: int = 2) -> None:
    assert res.exit_code == code and isinstance(res.exception, SystemExit), res.output
    line = res.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line, res.stderr
    for f in fragments:
        assert f in line, line


def _org(i: int | str) -> dict[str, Any]:
    return {"id": f"org{i}", "name": f"Org {i}", "roles": ["supplier"]}


# -- tx submit --------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "fragments"), [
    ("nope", ("--args is not JSON",)),
    ("[1, 2]", ("--args must be a JSON object",)),
    ('"text"', ("--args must be a JSON object",)),
    ('{"id": 1.5}', ("floats are not allowed", "[encoding_error]")),
    ('{"id": 99999999999999999999}', ("outside the exact range", "[encoding_error]")),
    ("{\"a\": " * (MAX_ARGS_DEPTH + 1) + "1" + "}" * (MAX_ARGS_DEPTH + 1),
     (f"more than {MAX_ARGS_DEPTH} levels deep", "[validation_error]")),
    ("[" * 100_000 + "]" * 100_000, ("--args is not JSON",)),
    (json.dumps({**_org("big"), "name": "x" * 70_000}),
     ("the limit is 65536", "[payload_too_large]")),
])
def test_tx_submit_refuses_unusable_arguments_and_writes_nothing(
        ledger: Ledger, tmp_path: Path, args: str, fragments: tuple[str, ...]) -> None:
    key = tmp_path / "admin.key"
    write_key(key, ledger.admin, "key-pw", FAST_KDF)
    before = ledger.counts()
    db = (ledger.dir / DB_NAME).read_bytes()
    _one_line_error(_cli("tx", "submit", "identity", "register_org", "--data",
                         str(ledger.dir), "--key", str(key), "--args", args), *fragments)
    assert ledger.counts() == before and (ledger.dir / DB_NAME).read_bytes() == db


def test_a_signature_that_is_not_base64_is_named_as_the_signature(ledger: Ledger) -> None:
    node = ledger.start()
    before = ledger.counts()
    good = json.loads(ledger.tx(ledger.admin, "identity", "register_org", _org(1)))
    for sig in ("***", good["sig"].rstrip("="), good["sig"][:8] + " " + good["sig"][8:]):
        raw = json.dumps({"env": good["env"], "sig": sig}).encode()
        with pytest.raises(CryptoError, match=r"^transaction signature: not valid base64"):
            node.submit(raw).result(10)
    node.stop()
    assert ledger.counts() == before


# -- proof --------------------------------------------------------------------------------------

@pytest.fixture
def five(ledger: Ledger) -> tuple[Ledger, list[str]]:
    """A block of five transactions (height 1); their ids."""
    node = ledger.start(block_max_txs=5, block_max_ms=60_000)
    tickets = [node.submit(ledger.tx(ledger.admin, "identity", "register_org", _org(i)))
               for i in range(5)]
    receipts = [t.result(30) for t in tickets]
    assert {r.height for r in receipts} == {1}
    node.stop()
    return ledger, [r.tx_id for r in receipts]


def test_proof_tells_a_malformed_id_from_an_unknown_one(five: tuple[Ledger, list[str]]
                                                        ) -> None:
    ledger, ids = five
    data = str(ledger.dir)
    for bad in ("nothex", "", ids[0][:10], ids[0] + "0", "g" * 64):
        _one_line_error(_cli("proof", "--data", data, bad, "--json"),
                        "is not a transaction id (64 hexadecimal digits)", "[validation_error]")
    long = _cli("proof", "--data", data, "a" * 100_000)
    _one_line_error(long, "(100000 characters)")
    assert len(long.stderr) < 300  # the id is not echoed whole
    _one_line_error(_cli("proof", "--data", data, "0" * 64), "no committed transaction",
                    "[not_found]")
    # An id copied in upper case is the same id.
    res = _cli("proof", "--data", data, ids[2].upper(), "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["tx"]["id"] == ids[2]
    from supplyledger.store.sqlite import SQLiteStore

    store = SQLiteStore(ledger.dir)
    try:
        genesis = store.block_txs(0)[0][0]
        with pytest.raises(NotFound, match="genesis document"):
            proof_for(store, genesis)
        with pytest.raises(ValidationError):
            proof_for(store, "x" * 63)
    finally:
        store.close()


@pytest.fixture
def middle(five: tuple[Ledger, list[str]]) -> tuple[Ledger, Doc]:
    ledger, ids = five
    from supplyledger.store.sqlite import SQLiteStore

    store = SQLiteStore(ledger.dir)
    try:
        doc = proof_for(store, ids[2])
    finally:
        store.close()
    assert len(doc["tx"]["path"]) == 3 and verify_proof(doc).signer_verified
    return ledger, doc


def _edit(doc: Doc, at: tuple[str, ...], value: Any) -> Doc:
    out = copy.deepcopy(doc)
    parent = out
    for k in at[:-1]:
        parent = parent[k]
    if value is _DROP:
        del parent[at[-1]]
    else:
        parent[at[-1]] = value
    return out


_DROP = object()


@pytest.mark.parametrize(("at", "value", "message"), [
    (("tx", "raw"), 5, "tx.raw must be a string"),
    (("receipt", "raw"), None, "receipt.raw must be a string"),
    (("tx", "raw"), "\ud800", "tx.raw is not valid Unicode text"),
    (("block", "signature"), 5, "block.signature must be a string"),
    (("block", "signature"), "**", "block.signature: not valid base64"),
    (("block", "proposer_key"), ["k"], "block.proposer_key must be a string"),
    (("block", "proposer_key"), "AAAA", "block.proposer_key: unreadable public key"),
    (("tx", "signer_key"), False, "tx.signer_key must be a string"),
    (("tx", "signer_key"), "AAAA", "tx.signer_key: unreadable public key"),
    (("receipt",), _DROP, "receipt must be an object"),
    (("receipt", "path"), _DROP, "receipt lacks path"),
    (("tx", "extra"), 1, "tx has unknown fields 'extra'"),
    (("extra",), {}, "unknown fields 'extra'"),
    (("tx", "index"), 5, "tx.index 5 is outside the block's 5 transactions"),
    (("tx", "index"), -1, "tx.index -1 is outside"),
    (("tx", "index"), 10**100, "tx.index of 101 digits is outside"),
    (("tx", "path"), ["00" * 32] * (MAX_PATH + 1), f"a path has at most {MAX_PATH}"),
    (("tx", "path"), ["00" * 32] * 2_000_000, "holds 2000000 hashes"),
    (("block", "header", "tx_count"), 2**53, "tx_count must be an integer from 0 to 2**53-1"),
])
def test_a_broken_proof_is_refused_naming_the_field(middle: tuple[Ledger, Doc],
                                                    at: tuple[str, ...], value: Any,
                                                    message: str) -> None:
    with pytest.raises(ProofError) as exc:
        verify_proof(_edit(middle[1], at, value))
    assert message in exc.value.message


def test_forged_siblings_and_headers_are_refused(middle: tuple[Ledger, Doc]) -> None:
    ledger, doc = middle
    for i in range(3):  # each sibling hash of the path, one bit changed
        path = list(doc["tx"]["path"])
        path[i] = f"{int(path[i][0], 16) ^ 1:x}" + path[i][1:]
        with pytest.raises(ProofError, match="does not lead to the signed root"):
            verify_proof(_edit(doc, ("tx", "path"), path))
    # The genuine header signed by a key that is not the proposer's.
    header = blk.Header.from_dict(doc["block"]["header"])
    other = b64e(blk.SignedHeader.sign(header, ledger.admin).signature)
    with pytest.raises(ProofError, match="header signature: block 1: proposer signature"):
        verify_proof(_edit(doc, ("block", "signature"), other))
    # ... and with that key named as the proposer's, the header still names the node.
    forged = _edit(_edit(doc, ("block", "signature"), other), ("block", "proposer_key"),
                   ledger.admin.public.b64)
    with pytest.raises(ProofError, match="does not match the header's proposer id"):
        verify_proof(forged)


def test_verify_proof_command_answers_each_broken_file(middle: tuple[Ledger, Doc],
                                                       tmp_path: Path) -> None:
    _, doc = middle
    f = tmp_path / "p.json"
    text = json.dumps(doc)
    cases: list[tuple[bytes, int, str]] = [
        (text[: len(text) // 2].encode(), 2, "is not JSON"),
        (b"", 2, "is not JSON"),
        (b"\xff\xfe{}", 2, "not UTF-8 text"),
        (json.dumps(_edit(doc, ("tx", "raw"), 5)).encode(), 1, "tx.raw must be a string"),
        (json.dumps(_edit(doc, ("tx", "index"), 7)).encode(), 1, "outside the block's"),
    ]
    for data, code, message in cases:
        f.write_bytes(data)
        res = _cli("verify-proof", str(f), "--json")
        assert res.exit_code == code, res.output
        assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
        if code == 1:
            out = json.loads(res.stdout)
            assert out["valid"] is False and message in out["error"]
        else:
            _one_line_error(res, message)
    # A file far larger than any proof is not read whole.
    with f.open("wb") as out_f:
        out_f.truncate(64 * 2**20 + 1)
    _one_line_error(_cli("verify-proof", str(f)), "larger than 64 MiB")


# -- audit --------------------------------------------------------------------------------------

def test_audit_names_a_directory_that_holds_no_ledger(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / DB_NAME).write_bytes(b"not a database at all, " * 100)
    _one_line_error(_cli("audit", "--data", str(junk), "--json"),
                    "cannot be read as a ledger: file is not a database", "[store_error]")
    other = tmp_path / "other"
    other.mkdir()
    sqlite3.connect(other / DB_NAME).execute("CREATE TABLE x (a)").connection.commit()
    _one_line_error(_cli("audit", "--data", str(other)), "is not a supplyledger ledger",
                    "[store_error]")
    _one_line_error(_cli("audit", "--data", str(tmp_path / "missing")), "no ledger at")


def _tamper(ledger: Ledger, sql: str) -> None:
    conn = sqlite3.connect(ledger.dir / DB_NAME)
    try:
        conn.executescript(sql)
    finally:
        conn.close()


@pytest.mark.parametrize(("sql", "table", "detail"), [
    ("DROP TABLE txs", "txs", "the txs table is missing"),
    ("DROP TABLE state", "state", "the state table is missing"),
    ("ALTER TABLE txs RENAME COLUMN signer TO who", "txs", "lacks the column(s) signer"),
    ("ALTER TABLE blocks DROP COLUMN time", "blocks", "lacks the column(s) time"),
])
def test_a_dropped_core_table_or_column_is_a_finding(five: tuple[Ledger, list[str]],
                                                     sql: str, table: str,
                                                     detail: str) -> None:
    ledger, _ = five
    _tamper(ledger, sql)
    res = _cli("audit", "--data", str(ledger.dir), "--json")
    assert res.exit_code == 1, res.output
    report = json.loads(res.stdout)
    assert report["ok"] is False
    assert [(f["kind"], f["table"]) for f in report["findings"]] == [("schema", table)]
    assert detail in report["findings"][0]["detail"]


def test_audit_json_shape_and_the_row_of_an_unreadable_header(
        five: tuple[Ledger, list[str]]) -> None:
    ledger, _ = five
    res = _cli("audit", "--data", str(ledger.dir), "--json")
    clean = json.loads(res.stdout)
    assert res.exit_code == 0 and clean["ok"] is True and clean["findings"] == []
    assert set(clean) == {"ok", "blocks", "txs", "findings", "uncovered_tables"}
    assert (clean["blocks"], clean["txs"]) == (2, 6)
    assert all(set(u) == {"table", "reason"} and u["table"].startswith(("local_", "projection_",
                                                                         "schema_"))
               for u in clean["uncovered_tables"])
    _tamper(ledger, "UPDATE blocks SET header = X'7a7a' WHERE height = 1")
    res = _cli("audit", "--data", str(ledger.dir), "--json")
    assert res.exit_code == 1
    f = json.loads(res.stdout)["findings"][0]
    assert set(f) == {"kind", "height", "tx", "table", "row", "detail"}
    assert (f["kind"], f["height"], f["table"], f["row"]) == ("header", 1, "blocks", "1")


def test_an_audit_beside_a_committing_node_stays_clean(ledger: Ledger) -> None:
    node = ledger.start(block_max_txs=1)
    for i in range(3):
        assert node.submit(ledger.tx(ledger.admin, "identity", "register_org", _org(i))
                           ).result(30).ok
    committed: list[int] = []

    def commit_meanwhile(height: int, total: int) -> None:
        # Called during the audit (at block 0 and after the last block, before the stored
        # tables are compared): the node commits a block each time.
        raw = make_tx(ledger.admin, chain=CHAIN, contract="identity", method="register_org",
                      args=_org(f"x{len(committed)}"), time_ms=T0, nonce=f"m{len(committed)}"
                      ).raw
        committed.append(node.submit(raw).result(30).height)

    report = run_audit(ledger.dir, workers=0, progress=commit_meanwhile)
    assert committed == [4, 5]  # the audit really ran while blocks were committed
    assert report.ok, report.findings[:3]
    assert (report.blocks, report.txs) == (4, 4)  # the ledger as it was when it began
    node.stop()
    assert run_audit(ledger.dir, workers=0).ok
