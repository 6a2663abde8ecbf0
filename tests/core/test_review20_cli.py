"""Review 20 of the command line: a new operator's walk through the core commands (init,
keys, tx submit, proof and verify-proof, audit, backup, repair, rules, serve).

Each test pins a defect found on that walk: ``--args`` naming a member twice was signed
with the last value (and ``NaN`` was refused only as a "float"); ``tx submit`` on a
directory without a ledger asked for the signer's password first; ``serve`` and
``bench-pages`` on a directory in use asked for (and unsealed) the node key before saying
``ledger_in_use``, which the docs promise comes first; ``serve --host`` an address of
another machine was told to stop "the program listening there"; ``verify-proof --trust``
given something that is no key (a participant id) reported a sound proof INVALID (exit 1);
``repair`` on a directory without a ledger left ``node.lock`` in it; a garbled key file gave
a traceback (no ``public_key``; scrypt parameters asking for a terabyte or overflowing) or
an error not naming the file; ``init --help`` hid the default admin's name; ``backup --out``
an existing file was told to "move the ledger aside". Real CLI, real ledgers, real files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supplyledger.store.lock import WriterLock

from .test_cli_review import one_line_error, run
from .test_review10_cli import blocks

NO_PASSWORDS = {"SUPPLYLEDGER_NODE_PASSWORD": "", "SUPPLYLEDGER_KEY_PASSWORD": ""}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("review20") / "ledger"
    res = run("init", "--data", str(data), "--chain", "review20", "--admin", "alice")
    assert res.exit_code == 0, res.output
    return data


def _alice(ledger: Path) -> str:
    return str(ledger / "keys" / "alice.key")


@pytest.mark.parametrize(("args", "says"), [
    ('{"id": "mill", "name": "Mill", "roles": ["manufacturer"], "id": "evil"}',
     "--args is not JSON: the member 'id' appears twice in one object"),
    ('{"id": "mill", "name": "Mill", "roles": ["manufacturer"], "x": NaN}',
     "--args is not JSON: NaN is not a JSON number"),
    ('{"id": "mill", "name": "Mill", "roles": ["manufacturer"], "x": -Infinity}',
     "--args is not JSON: -Infinity is not a JSON number"),
])
def test_args_are_read_strictly_before_anything_is_signed(ledger: Path, args: str,
                                                          says: str) -> None:
    before = blocks(ledger)
    res = run("tx", "submit", "identity", "register_org", "--data", str(ledger), "--key",
              _alice(ledger), "--args", args)
    one_line_error(res, says)
    assert blocks(ledger) == before


def test_a_member_named_once_still_commits(ledger: Path) -> None:
    res = run("tx", "submit", "identity", "register_org", "--data", str(ledger), "--key",
              _alice(ledger), "--args", '{"id": "farm", "name": "Farm", "roles": '
              '["supplier"]}', "--json")
    assert res.exit_code == 0, (res.stdout, res.stderr)
    assert json.loads(res.stdout)["ok"] is True


def test_submit_to_a_directory_without_a_ledger_asks_no_password(ledger: Path,
                                                                 tmp_path: Path) -> None:
    res = run("tx", "submit", "identity", "register_org", "--data", str(tmp_path), "--key",
              _alice(ledger), env=NO_PASSWORDS)  # unset: a prompt would fail here
    one_line_error(res, f"no ledger in {tmp_path}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["serve", "--port", "18999"], ["bench-pages"]])
def test_a_directory_in_use_is_said_before_any_password(ledger: Path,
                                                        command: list[str]) -> None:
    lock = WriterLock(ledger, "test holder")
    try:
        res = run(*command, "--data", str(ledger), env=NO_PASSWORDS)
    finally:
        lock.release()
    one_line_error(res, "in use by test holder", "[ledger_in_use]")


def test_serve_on_an_address_of_another_machine_names_the_host(ledger: Path) -> None:
    # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this machine.
    res = run("serve", "--data", str(ledger), "--host", "192.0.2.1", "--port", "18998")
    one_line_error(res, "cannot listen on 192.0.2.1:18998",
                   "give --host an address of this machine", "[node_error]")
    assert "stop the program" not in res.stderr


@pytest.fixture(scope="module")
def proof_file(ledger: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    res = run("tx", "submit", "identity", "register_org", "--data", str(ledger), "--key",
              _alice(ledger), "--args", '{"id": "mill", "name": "Mill", "roles": '
              '["manufacturer"]}', "--json")
    assert res.exit_code == 0, res.output
    res = run("proof", json.loads(res.stdout)["tx"], "--data", str(ledger), "--json")
    assert res.exit_code == 0, res.output
    f = tmp_path_factory.mktemp("proof") / "proof.json"
    f.write_text(res.stdout)
    return f


def _node_public_key(ledger: Path) -> tuple[str, str]:
    res = run("keys", "show", str(ledger / "node.key"), "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    return doc["public_key"], doc["did"]


def test_verify_proof_refuses_a_trust_that_is_no_key(ledger: Path, proof_file: Path) -> None:
    key, did = _node_public_key(ledger)
    ok = run("verify-proof", str(proof_file), "--trust", key)
    assert ok.exit_code == 0 and "VALID" in ok.stdout, (ok.stdout, ok.stderr)
    for value, says in ((did, "a participant id, not a key"), ("garbage", "not valid base64"),
                        (key[:80], "unreadable public key")):
        res = run("verify-proof", str(proof_file), "--trust", key, "--trust", value)
        one_line_error(res, "--trust", "is not a public key", says, "keys show",
                       "[validation_error]")
        assert "INVALID" not in res.stdout
        res = run("verify-proof", str(proof_file), "--trust", value, "--json")
        assert res.exit_code == 2
        out = json.loads(res.stdout)
        assert out["valid"] is False and out["code"] == "validation_error", out
    # A key that is a key but not this node's is still an invalid proof (exit 1).
    other = run("verify-proof", str(proof_file), "--trust",
                _node_public_key_of_new_key(proof_file.parent))
    assert other.exit_code == 1 and "INVALID" in other.stdout


def _node_public_key_of_new_key(tmp: Path) -> str:
    res = run("keys", "new", str(tmp / "stranger.key"), "--alg", "ed25519")
    assert res.exit_code == 0, res.output
    res = run("keys", "show", str(tmp / "stranger.key"), "--json")
    return str(json.loads(res.stdout)["public_key"])


def test_repair_of_a_directory_without_a_ledger_writes_nothing(tmp_path: Path) -> None:
    one_line_error(run("repair", "--data", str(tmp_path)), f"no ledger in {tmp_path}")
    assert list(tmp_path.iterdir()) == []  # repair used to leave node.lock here
    missing = tmp_path / "missing"
    one_line_error(run("repair", "--data", str(missing)), f"no ledger in {missing}")
    assert not missing.exists()


def _garbled(ledger: Path, tmp: Path, name: str, edit: dict[str, object]) -> Path:
    doc = json.loads((ledger / "keys" / "alice.key").read_text())
    for k, v in edit.items():
        if v is None:
            del doc[k]
        else:
            doc[k] = v
    path = tmp / f"{name}.key"
    path.write_text(json.dumps(doc))
    return path


def test_a_garbled_key_file_is_one_line_naming_it(ledger: Path, tmp_path: Path) -> None:
    kdf = json.loads((ledger / "keys" / "alice.key").read_text())["kdf"]
    for name, edit, says in (
            ("nopub", {"public_key": None}, "no public_key text"),
            ("numpub", {"public_key": 7}, "no public_key text"),
            ("badpub", {"public_key": "!!"}, "not valid base64")):
        path = _garbled(ledger, tmp_path, name, edit)
        one_line_error(run("keys", "show", str(path)), str(path), says, "[key_file_error]")
    before = blocks(ledger)
    for name, edit, says in (
            ("badct", {"ciphertext": "zz"}, "malformed key file: not valid base64"),
            ("hugekdf", {"kdf": {**kdf, "n": 2**30}}, "scrypt n=1073741824"),
            ("overflow", {"kdf": {**kdf, "n": 2**62}}, "more than the 1024 MiB (128*n*r*p bytes)"),
            ("saltint", {"kdf": {**kdf, "salt": 5}}, "malformed key file")):
        path = _garbled(ledger, tmp_path, name, edit)
        res = run("tx", "submit", "identity", "register_org", "--data", str(ledger), "--key",
                  str(path), "--args", '{"id": "x", "name": "X", "roles": ["supplier"]}')
        one_line_error(res, str(path), says, "[key_file_error]")
    assert blocks(ledger) == before


def test_init_help_names_the_default_admin() -> None:
    res = run("init", "--help")
    assert res.exit_code == 0
    assert "default: one admin named admin" in " ".join(res.stdout.split())


def test_backup_to_a_file_says_it_is_a_file(ledger: Path, tmp_path: Path) -> None:
    f = tmp_path / "afile"
    f.write_text("x")
    one_line_error(run("backup", "--data", str(ledger), "--out", str(f)),
                   f"--out {f}: Not a directory")
    assert f.read_text() == "x"
