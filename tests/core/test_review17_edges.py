"""Review 17: ``verify-proof FILE --json`` on a file that is no proof at all (not JSON, not
UTF-8, far too large, missing, a directory) exited 2 with nothing on stdout, so a script
reading the JSON failed on its own parse instead of learning why. Under ``--json`` every
outcome is now one JSON object on stdout, in the shape the command already gave an invalid
proof (``{"valid": false, "error": ...}``, now with the error's ``code``); the exit codes are
unchanged (0 valid, 1 invalid, 2 not a proof) and the one-line error stays on stderr.
``proof --json`` had the same gap (no ledger, a malformed or unknown id): its refusals are
``{"ok": false, "code", "error"}``, as other commands' refusals are. Real ledger, real CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from supplyledger.cli.main import app
from supplyledger.store.sqlite import DB_NAME

from .conftest import Ledger

ENV = {"SUPPLYLEDGER_NODE_PASSWORD": "node-pw", "COLUMNS": "200"}


def _cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=ENV)


def _refused(res: Result, code: int, shape: dict[str, Any], error_code: str,
             fragment: str) -> dict[str, Any]:
    """``res`` exited ``code`` with one JSON object on stdout naming the problem (and, for
    exit 2, the same problem in one line on stderr)."""
    assert res.exit_code == code, (res.stdout, res.stderr)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    out = json.loads(res.stdout)  # the whole of stdout is the one document
    assert isinstance(out, dict)
    assert out == {**shape, "code": error_code, "error": out["error"]}
    assert fragment in out["error"], out
    if code == 2:
        line = res.stderr.strip()
        assert line.startswith("error: ") and "\n" not in line and fragment in line
    return out


@pytest.fixture
def proof_file(ledger: Ledger, tmp_path: Path) -> Path:
    """A genuine proof, written by ``proof --json``."""
    node = ledger.start(block_max_txs=1)
    receipt = node.submit(ledger.tx(ledger.admin, "identity", "register_org", {
        "id": "mill", "name": "Mill", "roles": ["manufacturer"]})).result(30)
    node.stop()
    assert receipt.ok
    res = _cli("proof", receipt.tx_id, "--data", str(ledger.dir), "--json")
    assert res.exit_code == 0, res.output
    f = tmp_path / "proof.json"
    f.write_text(res.stdout)
    return f


def test_verify_proof_json_answers_every_file_that_is_no_proof(proof_file: Path,
                                                               tmp_path: Path) -> None:
    text = proof_file.read_text()
    f = tmp_path / "p.json"
    cases: list[tuple[bytes, str, str]] = [
        (text[: len(text) // 2].encode(), "encoding_error", "is not JSON: "),
        (b"", "encoding_error", "is not JSON: Expecting value"),
        (b"\xff\xfe{}", "encoding_error", "is not JSON: not UTF-8 text"),
        (b"[" * 100_000, "encoding_error", "is not JSON"),  # too deep to parse
    ]
    for data, code, fragment in cases:
        f.write_bytes(data)
        _refused(_cli("verify-proof", str(f), "--json"), 2, {"valid": False}, code,
                 f"{f} {fragment}")
    with f.open("wb") as out_f:  # sparse: nothing this large is read, nor written
        out_f.truncate(64 * 2**20 + 1)
    _refused(_cli("verify-proof", str(f), "--json"), 2, {"valid": False},
             "payload_too_large", "larger than 64 MiB")
    missing = tmp_path / "missing.json"
    _refused(_cli("verify-proof", str(missing), "--json"), 2, {"valid": False},
             "file_error", f"{missing}: No such file or directory")
    _refused(_cli("verify-proof", str(tmp_path), "--json"), 2, {"valid": False},
             "file_error", f"{tmp_path}: Is a directory")


def test_verify_proof_json_keeps_its_other_outcomes(proof_file: Path, tmp_path: Path) -> None:
    ok = _cli("verify-proof", str(proof_file), "--json")
    assert ok.exit_code == 0 and ok.stderr == ""
    assert json.loads(ok.stdout)["valid"] is True
    doc = json.loads(proof_file.read_text())
    doc["tx"]["index"] = 7
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    res = _cli("verify-proof", str(bad), "--json")
    _refused(res, 1, {"valid": False}, "proof_error", "outside the block's")
    assert res.stderr == ""  # an invalid proof is an answer, not a failure of the command
    # A JSON document that is not a proof is an invalid proof, as before.
    bad.write_text("[]")
    _refused(_cli("verify-proof", str(bad), "--json"), 1, {"valid": False}, "proof_error",
             "not a supplyledger-proof/1 document")


def test_verify_proof_without_json_prints_nothing_on_stdout(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_bytes(b"nope")
    res = _cli("verify-proof", str(f))
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.startswith(f"error: {f} is not JSON") and "[encoding_error]" in res.stderr


def test_proof_json_answers_every_refusal(ledger: Ledger, tmp_path: Path) -> None:
    data = str(ledger.dir)
    shape = {"ok": False}
    for where in (tmp_path / "empty", tmp_path / "missing"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        _refused(_cli("proof", "ab" * 32, "--data", str(where), "--json"), 2, shape,
                 "not_found", f"no ledger in {where}")
    assert list((tmp_path / "empty").iterdir()) == []  # no database created there
    _refused(_cli("proof", "nothex", "--data", data, "--json"), 2, shape, "validation_error",
             "is not a transaction id")
    _refused(_cli("proof", "0" * 64, "--data", data, "--json"), 2, shape, "not_found",
             "no committed transaction")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / DB_NAME).write_bytes(b"not a database at all, " * 100)
    _refused(_cli("proof", "0" * 64, "--data", str(junk), "--json"), 2, shape,
             "store_error", "cannot be read as a ledger: file is not a database")
    # Without --json, the same refusal is the stderr line only.
    res = _cli("proof", "0" * 64, "--data", str(tmp_path / "missing"))
    assert res.exit_code == 2 and res.stdout == ""
    assert f"no ledger in {tmp_path / 'missing'}" in res.stderr


@pytest.mark.parametrize("command", [["proof", "ab" * 32], ["trace", "lot-1"],
                                     ["epcis", "export", "--batch", "lot-1"]])
def test_read_commands_leave_a_database_that_is_no_ledger_as_it_was(
        tmp_path: Path, command: list[str]) -> None:
    """A read command pointed at another program's SQLite file used to add the ledger's
    tables to it (the store's migrations) before failing; now it refuses and writes nothing."""
    import sqlite3

    db = tmp_path / DB_NAME
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO notes VALUES (1, 'not a ledger')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    res = _cli(*command, "--data", str(tmp_path))
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert "holds no ledger" in res.stderr
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [DB_NAME]
