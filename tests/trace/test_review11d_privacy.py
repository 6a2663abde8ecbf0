"""privacy, reviewed: the private store keeps no file the ledger does not serve (a share
refused half-way, an erasure whose clean-up was interrupted), and every damaged file is
reported as such on read."""

from __future__ import annotations

import json
import lzma
import shutil
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from supplyledger.bench.consortium import Consortium, Party
from supplyledger.errors import AccessDenied, CryptoError, DecryptionError, InvalidState
from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.ledger.keyfile import unseal
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import load_node_key
from supplyledger.node.private_data import PrivateData
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.localdb import LocalDB
from supplyledger.store.sqlite import DB_NAME

OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
SECRET = b"Mr Tan, 8 Harbour Lane, Singapore, +65 9000 0000"


def _parties(c: Consortium, keys: list[PrivateKey]) -> dict[str, Party]:
    c.org("people", ["customer"])
    c.org("carrier", ["transporter"])
    return {"alice": c.member("alice", "people", ["customer"], keys[0]),
            "carrier": c.member("carrier", "carrier", ["transporter"], keys[1]),
            "shop": c.member("shop", "people", ["customer"], keys[2]),
            # Ed25519: it signs, but nothing can be wrapped for it with RSA-OAEP. (A
            # device is refused as a machine key first: test_review15_privacy.py.)
            "probe": c.member("probe", "carrier", ["transporter"], generate("ed25519"))}


def _records(c: Consortium) -> list[Path]:
    root = c.dir / "private" / "records"
    return sorted(root.rglob("*")) if root.exists() else []


def test_sharing_with_a_key_that_cannot_receive_writes_nothing(
        consortium: Consortium, rsa_keys: list[PrivateKey]) -> None:
    # The blob and the first wrapped keys were written, then "this operation needs an RSA
    # key" left them behind with no record on the ledger.
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    with pytest.raises(CryptoError, match=f"{p['probe'].did} .*RSA") as info:
        pd.share(p["alice"].key, SECRET, [p["carrier"].did, p["probe"].did])
    assert type(info.value) is CryptoError
    assert _records(c) == []
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    with pytest.raises(CryptoError, match="RSA"):
        pd.grant(p["alice"].key, rid, p["probe"].did)
    assert pd.record(rid)["recipients"] == sorted([p["alice"].did, p["carrier"].did])
    assert len([f for f in _records(c) if f.suffix == ".key"]) == 2


def test_an_interrupted_erasure_is_finished_by_erasing_again(
        consortium: Consortium, rsa_keys: list[PrivateKey], tmp_path: Path) -> None:
    # The ledger's erasure committed but the files outlived it (the process stopped before
    # deleting them); erasing again was refused ("record is erased") and deleted nothing,
    # so ciphertext and wrapped keys stayed for ever.
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    # Listeners run in the order they were added: once this one has seen a block, the
    # service's own shredding of it (on the committer thread) is over.
    seen: list[int] = []
    followed = threading.Condition()

    def follow(height: int) -> None:
        with followed:
            seen.append(height)
            followed.notify_all()

    c.node.on_block(follow)
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    kept = tmp_path / "kept"
    shutil.copytree(c.dir / "private" / "records" / rid, kept)
    pd.erase(p["alice"].key, rid)
    erased_at = c.node.height  # nothing else is in flight: the erasure's block
    with followed:
        assert followed.wait_for(lambda: bool(seen) and max(seen) >= erased_at, timeout=30)
    shutil.copytree(kept, c.dir / "private" / "records" / rid)  # as if never deleted
    with pytest.raises(InvalidState, match="erased"):
        pd.erase(p["alice"].key, rid)
    assert _records(c) == []
    with pytest.raises(AccessDenied, match="erased"):
        pd.read(rid, p["carrier"].key)
    c.stop()
    report = run_audit(c.dir)
    assert report.ok, report.findings


def test_a_stranger_cannot_shred_someone_elses_files(
        consortium: Consortium, rsa_keys: list[PrivateKey]) -> None:
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    before = _records(c)
    with pytest.raises(Exception, match="author"):
        pd.erase(p["carrier"].key, rid)
    assert _records(c) == before
    assert pd.read(rid, p["carrier"].key) == SECRET


def test_a_missing_ciphertext_is_a_clear_decryption_error(
        consortium: Consortium, rsa_keys: list[PrivateKey]) -> None:
    # It was a bare FileNotFoundError (an internal error to the API and web UI).
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    next((c.dir / "private" / "records" / rid).glob("*.bin")).unlink()
    with pytest.raises(DecryptionError, match="no ciphertext"):
        pd.read(rid, p["carrier"].key)


def test_a_tampered_wrapped_key_is_reported_as_such(
        consortium: Consortium, rsa_keys: list[PrivateKey]) -> None:
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    d = c.dir / "private" / "records" / rid
    theirs = list(d.glob("*.key"))
    # Flipped bits: RSA-OAEP refuses it.
    for f in theirs:
        raw = bytearray(f.read_bytes())
        raw[7] ^= 0x40
        f.write_bytes(bytes(raw))
    with pytest.raises(DecryptionError, match=r"wrapped data key .* damaged or replaced"):
        pd.read(rid, p["carrier"].key)
    # A well-formed wrap of another data key (anyone can make one from the public key):
    # the ciphertext, which matches the ledger, does not open under it.
    for f in theirs:
        f.write_bytes(p["carrier"].key.public.rsa_public().encrypt(b"\x00" * 32, OAEP))
    with pytest.raises(DecryptionError, match="tampered"):
        pd.read(rid, p["carrier"].key)


def test_a_failed_revocation_keeps_what_the_ledger_serves(
        consortium: Consortium, rsa_keys: list[PrivateKey]) -> None:
    # A refused revocation deletes only its own new copy; the readers still read.
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    before = _records(c)
    with pytest.raises(Exception, match="not a revocable reader"):
        pd.revoke(p["alice"].key, rid, p["shop"].did)
    assert _records(c) == before
    assert pd.read(rid, p["carrier"].key) == SECRET


def test_a_change_that_commits_despite_an_error_keeps_its_files(
        consortium: Consortium, rsa_keys: list[PrivateKey],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The answer lost after the commit (a timeout): share deleted the files of a record
    # now on the ledger, and revoke those of the commitment the ledger had switched to,
    # so nobody could read the record any more.
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    submit = pd._submit

    def lost_answer(*args: object, **kw: object) -> object:
        submit(*args, **kw)  # type: ignore[arg-type]
        raise TimeoutError("no answer in 60 s")

    monkeypatch.setattr(pd, "_submit", lost_answer)
    with pytest.raises(TimeoutError):
        pd.share(p["alice"].key, SECRET, [p["carrier"].did, p["shop"].did])
    (rid,) = [d.name for d in (c.dir / "private" / "records").iterdir()]
    with pytest.raises(TimeoutError):
        pd.revoke(p["alice"].key, rid, p["shop"].did)
    monkeypatch.undo()
    assert pd.read(rid, p["carrier"].key) == SECRET
    with pytest.raises(AccessDenied):
        pd.read(rid, p["shop"].key)
    assert {f.name.split(".")[0] for f in _records(c) if f.is_file()} == {
        pd.record(rid)["commitment"]}


def test_readers_still_read_after_the_author_rotates_its_key(
        consortium: Consortium, rsa_keys: list[PrivateKey]) -> None:
    # The author's signature inside the ciphertext was checked with the author's current
    # key: after a routine key rotation every reader got "the author's signature over the
    # data does not verify", as if the record had been tampered with.
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    new = generate("rsa")
    c.ok(p["alice"], "identity", "rotate_key", {"did": p["alice"].did,
                                                "public_key": new.public.b64})
    assert pd.read(rid, p["carrier"].key) == SECRET


def test_a_record_sealed_by_an_earlier_release_still_reads(tmp_path: Path) -> None:
    # Its ciphertext holds the signature alone (no signing key): checked with the author's
    # registered key, as that release did. (The ledger of tests/core/test_upgrade.py.)
    fixture = Path(__file__).parents[1] / "core" / "data" / "release-c797c06"
    secrets = json.loads((fixture / "logins.json").read_text())
    d = tmp_path / "ledger"
    shutil.copytree(fixture, d, ignore=shutil.ignore_patterns("*.xz", "logins.json"))
    with lzma.open(fixture / "ledger.sqlite.xz") as src, (d / DB_NAME).open("wb") as dst:
        shutil.copyfileobj(src, dst)
    db = LocalDB(d / DB_NAME)
    try:
        row = db.account_by_login("customer")
        assert row is not None
        key = unseal(row.sealed_key, secrets["logins"]["customer"])
    finally:
        db.close()
    (rid,) = [r.name for r in (fixture / "private" / "records").iterdir()]
    with Node(Settings(d), load_node_key(d, secrets["node_key_password"])) as node:
        assert PrivateData(node).read(rid, key).startswith(b"Alice Wang\n")
