"""privacy, reviewed as an attacker and a careful user: crypto-shredding follows the
ledger, whatever path the erasure took; only people and organisations holding an active
RSA key receive data; a reader who can no longer receive does not block a revocation; a
bad share is refused before anything is written, on disk or on the ledger."""

from __future__ import annotations

import shutil
import stat
import time
from pathlib import Path

import pytest

from supplyledger.bench.consortium import Consortium, Party
from supplyledger.errors import (
    AccessDenied,
    CryptoError,
    DecryptionError,
    NotFound,
    PayloadTooLarge,
    ValidationError,
)
from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.node.audit import run_audit
from supplyledger.node.private_data import MAX_DATA_BYTES, PrivateData

SECRET = b"Ms Okafor, 4 Quay Street, Lagos, +234 800 000 0000"


def _parties(c: Consortium, keys: list[PrivateKey]) -> dict[str, Party]:
    c.org("people", ["customer"])
    c.org("carrier", ["transporter"])
    c.org("fleet-iot", ["device"])
    return {"alice": c.member("alice", "people", ["customer"], keys[0]),
            "carrier": c.member("carrier", "carrier", ["transporter"], keys[1]),
            "shop": c.member("shop", "people", ["customer"], keys[2]),
            # A van's logger enrolled with an RSA key: the key can be wrapped for, but it
            # lives in a box on a truck, unattended.
            "logger": c.member("logger", "fleet-iot", ["device"], keys[3])}


def _records(c: Consortium) -> list[Path]:
    root = c.dir / "private" / "records"
    return sorted(root.rglob("*")) if root.exists() else []


def _gone(path: Path, within_s: float = 5.0) -> bool:
    """Whether ``path`` disappears within ``within_s`` (the node shreds after the commit
    is answered, on its committer thread)."""
    deadline = time.monotonic() + within_s
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return not path.exists()


def test_an_erasure_that_bypasses_the_service_still_shreds_the_files(
        consortium: Consortium, rsa_keys: list[PrivateKey]) -> None:
    # An erasure signed outside PrivateData.erase (the contract catalogue's form, a raw
    # `tx submit`, another node) marked the record erased on the ledger and left its
    # ciphertext and every wrapped key on disk for ever.
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    kept = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    c.ok(p["alice"], "privacy", "erase", {"record": rid})
    assert _gone(c.dir / "private" / "records" / rid)
    assert pd.read(kept, p["carrier"].key) == SECRET  # the other record is untouched
    with pytest.raises(AccessDenied, match="erased"):
        pd.read(rid, p["alice"].key)
    c.stop()
    report = run_audit(c.dir)
    assert report.ok, report.findings


def test_files_an_erasure_left_behind_go_when_the_service_starts(
        consortium: Consortium, rsa_keys: list[PrivateKey], tmp_path: Path) -> None:
    # Erased while no node with the service ran (or its files outlived it): the next
    # start finishes the shredding. A folder the ledger does not know (a share still
    # waiting for its block) is not the service's to judge, and stays.
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    folder = c.dir / "private" / "records" / rid
    shutil.copytree(folder, tmp_path / "kept")
    pd.erase(p["alice"].key, rid)
    shutil.copytree(tmp_path / "kept", folder)
    pending = c.dir / "private" / "records" / ("ab" * 16)
    shutil.copytree(tmp_path / "kept", pending)
    PrivateData(c.node)
    assert not folder.exists()
    assert pending.is_dir()


def test_machine_keys_and_revoked_participants_receive_nothing(
        consortium: Consortium, rsa_keys: list[PrivateKey]) -> None:
    # A device holding an RSA key was a valid recipient (and the web form offered it); a
    # revoked participant's data key was wrapped and written before the ledger refused
    # the share, which it recorded as a failed transaction.
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    gone = c.member("gone", "carrier", ["transporter"], generate("rsa"))
    c.ok(c.admin, "identity", "revoke", {"did": gone.did, "reason": "left the chain"})
    height = c.node.height
    with pytest.raises(ValidationError, match=f"{p['logger'].did} is a machine key"):
        pd.share(p["alice"].key, SECRET, [p["carrier"].did, p["logger"].did])
    with pytest.raises(NotFound, match=f"no active participant {gone.did}"):
        pd.share(p["alice"].key, SECRET, [gone.did])
    assert _records(c) == [] and c.node.height == height
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    before, height = _records(c), c.node.height
    with pytest.raises(ValidationError, match="machine key"):
        pd.grant(p["alice"].key, rid, p["logger"].did)
    with pytest.raises(NotFound, match="no active participant"):
        pd.grant(p["alice"].key, rid, gone.did)
    assert _records(c) == before and c.node.height == height


def test_a_reader_who_can_no_longer_receive_does_not_block_a_revocation(
        consortium: Consortium, rsa_keys: list[PrivateKey]) -> None:
    # The shop lost its key and an admin registered an Ed25519 one (nothing can be
    # wrapped for it); the carrier was revoked as a participant. Revoking anyone from
    # the record failed with "shop signs with a key that is not RSA", so the author
    # could not take the record away from a courier any more.
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    third = c.member("third", "carrier", ["transporter"], generate("rsa"))
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did, p["shop"].did, third.did])
    shop_new = generate("ed25519")
    c.ok(c.admin, "identity", "rotate_key", {"did": p["shop"].did,
                                            "public_key": shop_new.public.b64})
    c.ok(c.admin, "identity", "revoke", {"did": p["carrier"].did, "reason": "key stolen"})
    pd.revoke(p["alice"].key, rid, third.did)
    assert pd.read(rid, p["alice"].key) == SECRET
    for reader in (third.key, p["carrier"].key):
        with pytest.raises(AccessDenied):
            pd.read(rid, reader)
    with pytest.raises(DecryptionError, match="no wrapped key"):
        pd.read(rid, shop_new)
    # Only the author's data key is wrapped now: nothing for the revoked (maybe stolen)
    # key or a key nothing can be wrapped for.
    assert len([f for f in _records(c) if f.suffix == ".key"]) == 1
    assert set(pd.record(rid)["recipients"]) == {p["alice"].did, p["carrier"].did,
                                                 p["shop"].did}


def test_a_bad_share_is_refused_before_anything_is_written(
        consortium: Consortium, rsa_keys: list[PrivateKey]) -> None:
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    height = c.node.height
    with pytest.raises(PayloadTooLarge) as info:
        pd.share(p["alice"].key, b"x" * (MAX_DATA_BYTES + 1), [p["carrier"].did])
    assert info.value.limit == MAX_DATA_BYTES
    with pytest.raises(ValidationError, match="nothing to share"):
        pd.share(p["alice"].key, b"", [p["carrier"].did])
    with pytest.raises(NotFound, match="no active participant did:sl:0000"):
        pd.share(p["alice"].key, SECRET, ["did:sl:" + "0" * 40])
    assert _records(c) == [] and c.node.height == height
    rid = pd.share(p["alice"].key, b"x" * MAX_DATA_BYTES, [p["carrier"].did])
    assert pd.read(rid, p["carrier"].key) == b"x" * MAX_DATA_BYTES


def test_a_record_kept_on_another_node_says_so(consortium: Consortium,
                                               rsa_keys: list[PrivateKey]) -> None:
    # Each node keeps its own private store: a reader on a node that never held the
    # record was told "no wrapped key for you", as if access had been taken away.
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    shutil.rmtree(c.dir / "private" / "records" / rid)
    with pytest.raises(DecryptionError, match="not on this node"):
        pd.read(rid, p["carrier"].key)
    with pytest.raises(CryptoError):
        pd.grant(p["alice"].key, rid, p["shop"].did)


def test_the_private_store_is_the_nodes_alone(consortium: Consortium,
                                               rsa_keys: list[PrivateKey]) -> None:
    # The folders were world-readable: anyone with an account on the host could list
    # every record's files and read their sizes, i.e. the length of each customer's data.
    c = consortium
    p = _parties(c, rsa_keys)
    rid = PrivateData(c.node).share(p["alice"].key, SECRET, [p["carrier"].did])
    folder = c.dir / "private" / "records" / rid
    for d in (folder, folder.parent, folder.parent.parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    for f in folder.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
