"""``supplyledger keys rotate`` and ``keys rewrap``, run as a user runs them (a real
subprocess on a real SQLite ledger): the participant keeps reading its private records
after a rotation, as author and as reader; a re-wrap cut short is finished by ``keys
rewrap``; the rotation goes through a running node's API; and each refusal (wrong
password, a key that is not the current one, a revoked participant, an output file that
exists, a non-RSA key for a reader of private data, a ledger held by a running node)
changes nothing: no key file, no transaction, no private file.

Before, a rotation was a raw ``tx submit ... identity rotate_key`` and left every data key
wrapped for the old key: the participant could read none of its private records again."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from _serving import wait_serving
from supplyledger.bench.consortium import Consortium, Party
from supplyledger.errors import AccessDenied, DecryptionError
from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.ledger.keyfile import unseal
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import write_key
from supplyledger.node.private_data import PrivateData
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings

from .conftest import FAST_KDF, counts

SECRET = b"Ms Li Wei, 12 Chunxi Road, Chengdu"
NOTE = b"leave at the back door"
NODE_PW = "node"  # the Consortium's node key password
KEY_PW = "key-pw"


@dataclass
class World:
    dir: Path
    c: Consortium
    alice: Party  # a customer: author of both records
    bob: Party  # a carrier: reads the first
    shared: str  # alice's record shared with bob
    own: str  # alice's record for herself only

    @property
    def keys(self) -> Path:
        return self.dir.parent


@pytest.fixture(scope="module")
def rsa_keys() -> list[PrivateKey]:
    return [generate("rsa") for _ in range(2)]


@pytest.fixture
def world(tmp_path: Path, rsa_keys: list[PrivateKey]) -> Iterator[World]:
    c = Consortium(tmp_path / "ledger")
    c.org("people", ["customer"])
    c.org("carrier", ["transporter"])
    alice = c.member("alice", "people", ["customer"], rsa_keys[0])
    bob = c.member("bob", "carrier", ["transporter"], rsa_keys[1])
    pd = PrivateData(c.node)
    shared = pd.share(alice.key, SECRET, [bob.did])
    own = pd.share(alice.key, NOTE, [])
    c.stop()  # the CLI opens the ledger itself
    for p in (alice, bob):
        write_key(tmp_path / f"{p.name}.key", p.key, KEY_PW, FAST_KDF)
    yield World(c.dir, c, alice, bob, shared, own)


def cli(*args: str, pw: str = KEY_PW, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from supplyledger.cli.main import app; app()", *args],
        env={**os.environ, "SUPPLYLEDGER_NODE_PASSWORD": NODE_PW,
             "SUPPLYLEDGER_KEY_PASSWORD": pw, "COLUMNS": "400", **env},
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def rotate(w: World, who: str, *more: str, **env: str) -> subprocess.CompletedProcess[str]:
    return cli("keys", "rotate", "--data", str(w.dir), "--key", str(w.keys / f"{who}.key"),
               *more, **env)


def flat(text: str) -> str:
    return " ".join(text.split())


def snapshot(w: World) -> tuple[dict[str, Any], dict[str, str]]:
    """Ledger row counts and every file under the test directory (key files, private
    store) with its hash."""
    files = {str(p.relative_to(w.keys)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(w.keys.rglob("*")) if p.is_file()
             and p.parent.name != "ledger"}  # the database files change on any open
    return counts(w.dir), files


def read(w: World, rid: str, key: PrivateKey) -> bytes:
    with Node(Settings(w.dir, verify_workers=0), w.c.node_key) as node:
        return PrivateData(node).read(rid, key)


def unsealed(path: Path) -> PrivateKey:
    return unseal(path.read_bytes(), KEY_PW)


def test_the_author_rotates_and_still_reads_its_records(world: World) -> None:
    w = world
    res = rotate(w, "alice", "--out", str(w.keys / "alice2.key"))
    assert res.returncode == 0, res.stderr
    out = flat(res.stdout)
    assert f"rotated {w.alice.did}" in out and "2 re-wrapped for the new key" in out, out
    new = unsealed(w.keys / "alice2.key")
    assert (w.keys / "alice.key").exists()  # the old key file is the user's to destroy
    with Node(Settings(w.dir, verify_workers=0), w.c.node_key) as node:
        pd = PrivateData(node)
        assert pd.read(w.shared, new) == SECRET
        assert pd.read(w.own, new) == NOTE
        assert pd.read(w.shared, w.bob.key) == SECRET  # the other reader is untouched
        with pytest.raises(AccessDenied, match="no longer"):
            pd.read(w.shared, w.alice.key)
        # Still the author: revoking re-encrypts under the new key's signature.
        pd.revoke(new, w.shared, w.bob.did)
        assert pd.read(w.shared, new) == SECRET
    assert run_audit(w.dir, workers=0).ok


def test_a_reader_rotates_and_still_reads(world: World) -> None:
    w = world
    res = rotate(w, "bob")  # default --out: bob.new.key
    assert res.returncode == 0, res.stderr
    assert "1 re-wrapped" in flat(res.stdout), res.stdout
    new = unsealed(w.keys / "bob.new.key")
    assert read(w, w.shared, new) == SECRET
    assert read(w, w.shared, w.alice.key) == SECRET


def test_an_interrupted_rewrap_is_finished_by_keys_rewrap(world: World) -> None:
    w = world
    # A real fault half-way: the second record's wrapped key cannot be replaced (a
    # directory sits where its temporary file goes).
    first, second = sorted([w.shared, w.own])
    # Alice's own wrapped key of that record (named by a hash of her id), not another
    # reader's, whichever order the directory lists them in.
    who = hashlib.sha256(w.alice.did.encode()).hexdigest()[:32]
    key_file = next((w.dir / "private" / "records" / second).glob(f"*.{who}.key"))
    blocker = key_file.with_suffix(".key.tmp")
    blocker.mkdir()
    res = rotate(w, "alice", "--out", str(w.keys / "alice2.key"))
    assert res.returncode == 1, (res.stdout, res.stderr)
    err = flat(res.stderr)
    assert f"rotated {w.alice.did}" in err and "re-wrapping your private records stopped" \
        in err, err
    assert f"keys rewrap --data {w.dir} --old {w.keys / 'alice.key'} --key " \
           f"{w.keys / 'alice2.key'}" in err, err
    new = unsealed(w.keys / "alice2.key")
    texts = {w.shared: SECRET, w.own: NOTE}
    assert read(w, first, new) == texts[first]
    with pytest.raises(Exception, match="does not open"):  # still wrapped for the old key
        read(w, second, new)
    blocker.rmdir()
    res = cli("keys", "rewrap", "--data", str(w.dir), "--old", str(w.keys / "alice.key"),
              "--key", str(w.keys / "alice2.key"))
    assert res.returncode == 0, res.stderr
    assert "1 re-wrapped for the new key, 1 done before" in flat(res.stdout), res.stdout
    assert read(w, first, new) == texts[first] and read(w, second, new) == texts[second]
    # Once more: nothing left to do, and nothing breaks.
    res = cli("keys", "rewrap", "--data", str(w.dir), "--old", str(w.keys / "alice.key"),
              "--key", str(w.keys / "alice2.key"), "--json")
    assert res.returncode == 0, res.stderr
    assert '"rewrapped": []' in res.stdout and '"complete": true' in res.stdout, res.stdout


def _refused(w: World, res: subprocess.CompletedProcess[str], before: Any,
             *fragments: str) -> None:
    assert res.returncode == 2, (res.stdout, res.stderr)
    err = flat(res.stderr)
    assert err.startswith("error: "), err
    for f in fragments:
        assert f in err, err
    assert snapshot(w) == before


def test_a_wrong_password_changes_nothing(world: World) -> None:
    w = world
    before = snapshot(w)
    _refused(w, rotate(w, "alice", pw="not-it"), before,
             f"{w.keys / 'alice.key'}: wrong password", "[key_file_error]")


def test_a_key_that_is_no_longer_current_changes_nothing(world: World) -> None:
    w = world
    assert rotate(w, "alice", "--out", str(w.keys / "alice2.key")).returncode == 0
    before = snapshot(w)
    _refused(w, rotate(w, "alice", "--out", str(w.keys / "alice3.key")), before,
             "no longer uses this key", "[revoked_key]")
    # keys rewrap refuses a NEW key that is not the participant's current key.
    _refused(w, cli("keys", "rewrap", "--data", str(w.dir), "--old",
                    str(w.keys / "alice2.key"), "--key", str(w.keys / "alice.key")), before,
             "no longer uses this key", "[revoked_key]")
    # ... and an OLD key that was never the participant's.
    _refused(w, cli("keys", "rewrap", "--data", str(w.dir), "--old", str(w.keys / "bob.key"),
                    "--key", str(w.keys / "alice2.key")), before,
             f"never {w.alice.did}'s key", "[access_denied]")


def test_a_revoked_participant_changes_nothing(world: World) -> None:
    w = world
    with Node(Settings(w.dir, verify_workers=0), w.c.node_key) as node:
        r = node.submit(w.c.tx(w.c.admin, "identity", "revoke",
                               {"did": w.bob.did, "reason": "left"})).result(60)
        assert r.ok, r.error
    before = snapshot(w)
    _refused(w, rotate(w, "bob"), before, "is revoked", "[revoked_key]")


def test_an_existing_output_file_changes_nothing(world: World) -> None:
    w = world
    (w.keys / "taken.key").write_text("mine")
    before = snapshot(w)
    _refused(w, rotate(w, "alice", "--out", str(w.keys / "taken.key")), before,
             "taken.key exists; refusing to overwrite")


def test_an_ed25519_key_for_a_reader_of_private_data_changes_nothing(world: World) -> None:
    w = world
    before = snapshot(w)
    _refused(w, rotate(w, "bob", "--algo", "ed25519"), before,
             "reads private records", "choose --algo rsa", "[crypto_error]")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_rotation_through_a_running_node(world: World) -> None:
    w = world
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from supplyledger.cli.main import app; app()", "serve",
         "--data", str(w.dir), "--port", str(port)],
        env={**os.environ, "SUPPLYLEDGER_NODE_PASSWORD": NODE_PW, "COLUMNS": "400"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_serving(proc, port)
        # Without --api the ledger is the running node's: refused, saying what to do.
        before = snapshot(w)
        _refused(w, rotate(w, "bob"), before, "is in use by", "pass --api",
                 "nothing was changed", "[ledger_in_use]")
        res = rotate(w, "bob", "--api", f"http://127.0.0.1:{port}")
        assert res.returncode == 0, res.stderr
        assert "1 re-wrapped" in flat(res.stdout), res.stdout
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0, proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert read(w, w.shared, unsealed(w.keys / "bob.new.key")) == SECRET


def test_a_deposited_key_file_follows_the_rotation(world: World) -> None:
    w = world
    with Node(Settings(w.dir, verify_workers=0), w.c.node_key) as node:
        PrivateData(node).deposit_key((w.keys / "alice.key").read_bytes())  # Alg. 4
    res = rotate(w, "alice", "--out", str(w.keys / "alice2.key"))
    assert res.returncode == 0, res.stderr
    assert "deposited on this node now holds the new key" in flat(res.stdout), res.stdout
    new = unsealed(w.keys / "alice2.key")
    with Node(Settings(w.dir, verify_workers=0), w.c.node_key) as node:
        sealed = PrivateData(node).retrieve_key(w.alice.did, new.public.b64)
    # (it was refused as "someone else's": the new key file carries the new key's own id)
    assert unseal(sealed, KEY_PW).public.spki == new.public.spki


def test_after_an_admin_rotates_a_lost_key_the_other_readers_keep_access(world: World) -> None:
    w = world
    replacement = generate("rsa")
    with Node(Settings(w.dir, verify_workers=0), w.c.node_key) as node:
        r = node.submit(w.c.tx(w.c.admin, "identity", "rotate_key",
                               {"did": w.bob.did, "public_key": replacement.public.b64})
                        ).result(60)
        assert r.ok, r.error
        pd = PrivateData(node)
        # Wrapped only for the lost key: nothing can re-wrap it (docs/operations.md).
        with pytest.raises(DecryptionError, match="does not open"):
            pd.read(w.shared, replacement)
        assert pd.read(w.shared, w.alice.key) == SECRET
        # Only the author can give it back: revoke (re-encrypt), then grant again.
        pd.revoke(w.alice.key, w.shared, w.bob.did)
        pd.grant(w.alice.key, w.shared, w.bob.did)
        assert pd.read(w.shared, replacement) == SECRET
