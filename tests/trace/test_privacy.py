"""privacy: customer data encrypted per recipient off the ledger (paper 001 Alg. 1 and 4);
grant, revoke, erase; no plaintext anywhere under the ledger directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from supplyledger.bench.consortium import Consortium, Party
from supplyledger.errors import AccessDenied, Forbidden, NotFound
from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.ledger.keyfile import KdfParams, seal, unseal
from supplyledger.node.audit import run_audit
from supplyledger.node.private_data import PrivateData

from .conftest import sql

SECRET = b"Ms Li Wei, 12 Chunxi Road, Chengdu, +86 138 0000 1234"


def _parties(c: Consortium, keys: list[PrivateKey]) -> dict[str, Party]:
    c.org("people", ["customer"])
    c.org("carrier", ["transporter"])
    c.org("shop", ["platform"])
    return {"alice": c.member("alice", "people", ["customer"], keys[0]),
            "carrier": c.member("carrier", "carrier", ["transporter"], keys[1]),
            "shop": c.member("shop", "shop", ["platform"], keys[2]),
            "eve": c.member("eve", "people", ["customer"], keys[3])}


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_share_read_grant_revoke_erase(consortium: Consortium,
                                       rsa_keys: list[PrivateKey]) -> None:
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    assert pd.read(rid, p["carrier"].key) == SECRET
    assert pd.read(rid, p["alice"].key) == SECRET
    with pytest.raises(AccessDenied):  # decryption without a grant
        pd.read(rid, p["shop"].key)
    with pytest.raises(Forbidden):  # only the author grants
        pd.grant(p["carrier"].key, rid, p["shop"].did)
    pd.grant(p["alice"].key, rid, p["shop"].did)
    assert pd.read(rid, p["shop"].key) == SECRET
    old_key_files = {f.name for f in (c.dir / "private" / "records" / rid).glob("*.key")}
    pd.revoke(p["alice"].key, rid, p["carrier"].did)
    with pytest.raises(AccessDenied):
        pd.read(rid, p["carrier"].key)
    assert pd.read(rid, p["shop"].key) == SECRET  # re-encrypted for the others
    new_files = {f.name for f in (c.dir / "private" / "records" / rid).glob("*")}
    assert not new_files & old_key_files  # the old data key's wraps are gone
    # erasure by a stranger is refused and changes nothing
    with pytest.raises(Forbidden):
        pd.erase(p["eve"].key, rid)
    assert pd.read(rid, p["shop"].key) == SECRET
    pd.erase(p["alice"].key, rid)
    assert not (c.dir / "private" / "records" / rid).exists()
    with pytest.raises(AccessDenied):
        pd.read(rid, p["alice"].key)
    assert sql(c, "SELECT status, recipients FROM private_records") == [("erased", "")]
    with pytest.raises(NotFound):
        pd.read("0" * 32, p["alice"].key)
    c.stop()
    report = run_audit(c.dir)
    assert report.ok, report.findings


def test_a_revoked_or_replaced_key_reads_nothing(consortium: Consortium,
                                               rsa_keys: list[PrivateKey]) -> None:
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did, p["shop"].did])
    assert pd.read(rid, p["carrier"].key) == SECRET
    c.ok(c.admin, "identity", "revoke", {"did": p["carrier"].did, "reason": "left the chain"})
    with pytest.raises(AccessDenied, match="revoked"):
        pd.read(rid, p["carrier"].key)
    c.ok(c.admin, "identity", "rotate_key", {"did": p["shop"].did,
                                            "public_key": generate("rsa").public.b64})
    with pytest.raises(AccessDenied, match="no longer"):  # the key the shop lost
        pd.read(rid, p["shop"].key)
    assert pd.read(rid, p["alice"].key) == SECRET


def test_no_plaintext_under_the_ledger_directory(consortium: Consortium,
                                                 rsa_keys: list[PrivateKey]) -> None:
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    pd.grant(p["alice"].key, rid, p["shop"].did)
    assert pd.read(rid, p["shop"].key) == SECRET
    c.stop()
    files = _files(c.dir)
    assert any("private" in f.parts for f in files) and len(files) > 3
    for needle in (SECRET, b"Chunxi Road", b"138 0000 1234"):
        assert not [f for f in files if needle in f.read_bytes()], needle


def test_tampered_ciphertext_and_key_retrieval(consortium: Consortium,
                                               rsa_keys: list[PrivateKey]) -> None:
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    rid = pd.share(p["alice"].key, SECRET, [])
    blob = next((c.dir / "private" / "records" / rid).glob("*.bin"))
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    with pytest.raises(Exception, match="does not match the ledger commitment"):
        pd.read(rid, p["alice"].key)
    # Alg. 4: the customer retrieves its key, only ever in password-sealed form
    alice = p["alice"].key
    pd.deposit_key(seal(alice, "alice-pw", KdfParams(n=2**10)))
    sealed = pd.retrieve_key(alice.did, alice.public.b64)
    assert alice.pkcs8_der() not in sealed
    assert unseal(sealed, "alice-pw").did == alice.did
    with pytest.raises(AccessDenied):
        pd.retrieve_key(alice.did, p["eve"].key.public.b64)
    with pytest.raises(NotFound):
        pd.retrieve_key(p["eve"].did, p["eve"].key.public.b64)


def test_only_customers_publish(consortium: Consortium, rsa_keys: list[PrivateKey]) -> None:
    p = _parties(consortium, rsa_keys)
    with pytest.raises(Exception, match="role"):
        PrivateData(consortium.node).share(p["shop"].key, SECRET, [])
    assert not list((consortium.dir / "private" / "records").glob("*"))
