"""Signatures (RSA-PSS-SHA256 2048/3072, Ed25519), participant ids and sealed key files."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from supplyledger.errors import CryptoError, InvalidSignature, KeyFileError
from supplyledger.ledger.crypto import PrivateKey, PublicKey, b64d, b64e, did_for, generate
from supplyledger.ledger.keyfile import KdfParams, read_info, seal, unseal
from supplyledger.node.bootstrap import write_key

from .conftest import FAST_KDF, Keys

MSG = b'{"chain":"c","contract":"trace"}'


@pytest.fixture(params=["rsa", "rsa3072", "ed25519"])
def key(request: pytest.FixtureRequest, keys: Keys) -> PrivateKey:
    return {"rsa": keys.rsa, "rsa3072": keys.rsa3072, "ed25519": keys.ed[0]}[request.param]


def test_key_sizes_and_kinds(keys: Keys) -> None:
    assert keys.rsa.rsa_private().key_size == 2048
    assert keys.rsa3072.rsa_private().key_size == 3072
    assert keys.rsa.public.kind == keys.rsa3072.public.kind == "rsa"
    assert keys.ed[0].public.kind == "ed25519"


def test_sign_verify_round_trip(key: PrivateKey) -> None:
    sig = key.sign(MSG)
    key.public.verify(sig, MSG)
    assert key.public.is_valid(sig, MSG)
    # The verifying key survives its SPKI/base64 round trip.
    PublicKey.from_b64(key.public.b64).verify(sig, MSG)


def test_tampered_message_is_rejected(key: PrivateKey) -> None:
    sig = key.sign(MSG)
    for i in (0, len(MSG) // 2, len(MSG) - 1):
        bad = bytearray(MSG)
        bad[i] ^= 0x01
        with pytest.raises(InvalidSignature):
            key.public.verify(sig, bytes(bad))
    with pytest.raises(InvalidSignature):
        key.public.verify(sig, MSG + b" ")
    assert not key.public.is_valid(sig, MSG[:-1])


def test_tampered_signature_is_rejected(key: PrivateKey) -> None:
    sig = key.sign(MSG)
    for i in (0, len(sig) // 2, len(sig) - 1):
        bad = bytearray(sig)
        bad[i] ^= 0x80
        with pytest.raises(InvalidSignature):
            key.public.verify(bytes(bad), MSG)
    with pytest.raises(InvalidSignature):
        key.public.verify(sig[:-1], MSG)
    with pytest.raises(InvalidSignature):
        key.public.verify(b"", MSG)


def test_wrong_key_is_rejected(keys: Keys) -> None:
    pairs = [(keys.rsa, keys.rsa_b), (keys.rsa_b, keys.rsa), (keys.ed[0], keys.ed[1]),
             (keys.rsa3072, keys.rsa)]
    for signer, other in pairs:
        with pytest.raises(InvalidSignature):
            other.public.verify(signer.sign(MSG), MSG)


def test_rsa_pss_is_randomised_and_ed25519_is_deterministic(keys: Keys) -> None:
    a, b = keys.rsa.sign(MSG), keys.rsa.sign(MSG)
    assert a != b
    keys.rsa.public.verify(a, MSG)
    keys.rsa.public.verify(b, MSG)
    assert len(a) == 256 and len(keys.rsa3072.sign(MSG)) == 384
    assert keys.ed[0].sign(MSG) == keys.ed[0].sign(MSG)


def test_did_is_derived_from_the_public_key(keys: Keys) -> None:
    all_keys = [keys.rsa, keys.rsa_b, keys.rsa3072, keys.admin, *keys.ed]
    dids = [k.did for k in all_keys]
    assert len(set(dids)) == len(dids)
    for k in all_keys:
        # did:sl: + the first 20 bytes of SHA-256 over the SubjectPublicKeyInfo DER.
        assert k.did == "did:sl:" + hashlib.sha256(k.public.spki).digest()[:20].hex()
        assert did_for(k.public.spki) == k.did == k.public.did
        # Deterministic: re-loading the same key (from DER or PKCS#8) gives the same id.
        assert PublicKey.from_spki(k.public.spki).did == k.did
    for k in (keys.rsa, keys.admin):  # (RSA private-key loading is slow: one of each kind)
        assert PrivateKey.from_pkcs8_der(k.pkcs8_der()).did == k.did


def test_public_key_loading_rejects_garbage_and_small_rsa() -> None:
    with pytest.raises(CryptoError):
        PublicKey.from_spki(b"\x30\x03\x02\x01\x00")
    with pytest.raises(CryptoError):
        PublicKey.from_b64("not base64!")
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    spki = weak.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(CryptoError):
        PublicKey.from_spki(spki)


def test_b64_helpers_are_strict() -> None:
    assert b64d(b64e(b"\x00\xffabc")) == b"\x00\xffabc"
    for bad in ("abc", "ab$=", "YWJj\n", "é"):
        with pytest.raises(CryptoError):
            b64d(bad)


def test_unknown_algorithm() -> None:
    with pytest.raises(CryptoError):
        generate("dsa")


# -- key files --------------------------------------------------------------------------------

@pytest.fixture(params=["rsa", "ed25519"])
def sealed(request: pytest.FixtureRequest, keys: Keys) -> tuple[PrivateKey, bytes]:
    k = keys.rsa_b if request.param == "rsa" else keys.ed[2]
    return k, seal(k, "correct horse", FAST_KDF)


def _edit(data: bytes, **changes: Any) -> bytes:
    doc = json.loads(data)
    for path, value in changes.items():
        target = doc
        *parents, last = path.split("__")
        for p in parents:
            target = target[p]
        target[last] = value
    return json.dumps(doc).encode()


def test_key_file_round_trip(sealed: tuple[PrivateKey, bytes]) -> None:
    k, data = sealed
    info = read_info(data)  # readable without the password
    assert info.did == k.did and info.public_key.spki == k.public.spki
    back = unseal(data, "correct horse")
    assert back.pkcs8_der() == k.pkcs8_der()
    back.public.verify(back.sign(MSG), MSG)


def test_key_file_wrong_or_empty_password(sealed: tuple[PrivateKey, bytes]) -> None:
    _, data = sealed
    for pw in ("correct horsE", "correct horse ", "wrong"):
        with pytest.raises(KeyFileError):
            unseal(data, pw)
    with pytest.raises(KeyFileError):
        unseal(data, "")
    with pytest.raises(KeyFileError):
        seal(sealed[0], "", FAST_KDF)


def test_key_file_edits_are_detected(sealed: tuple[PrivateKey, bytes], keys: Keys) -> None:
    _, data = sealed
    other = keys.ed[3]
    doc = json.loads(data)
    salt = bytearray(base64.b64decode(doc["kdf"]["salt"]))
    salt[0] ^= 1
    ct = bytearray(base64.b64decode(doc["ciphertext"]))
    ct[-1] ^= 1
    edits: list[dict[str, Any]] = [
        {"did": other.did},
        {"public_key": other.public.b64},
        {"did": other.did, "public_key": other.public.b64},  # a consistent swap
        {"kdf__n": 2**11},
        {"kdf__r": 9},
        {"kdf__p": 2},
        {"kdf__n": 1000},  # not a power of two
        {"kdf__name": "argon2id"},
        {"kdf__salt": b64e(bytes(salt))},
        {"ciphertext": b64e(bytes(ct))},
        {"nonce": b64e(b"\x00" * 12)},
        {"format": "supplyledger-key/2"},
    ]
    for change in edits:
        with pytest.raises(KeyFileError):
            unseal(_edit(data, **change), "correct horse")
    # The unencrypted header is checked too: its id must be its key's.
    with pytest.raises(KeyFileError):
        read_info(_edit(data, did=other.did))
    with pytest.raises(KeyFileError):
        read_info(_edit(data, public_key=other.public.b64))
    for junk in (b"", b"[]", b"{}", b"not json"):
        with pytest.raises(KeyFileError):
            unseal(junk, "correct horse")


def test_key_file_holds_no_plaintext_private_key(sealed: tuple[PrivateKey, bytes]) -> None:
    k, data = sealed
    der = k.pkcs8_der()
    assert der not in data
    assert der.hex().encode() not in data
    for shift in range(3):  # base64 of the DER at each alignment
        chunk = base64.b64encode(der[shift:])[4:-4]
        assert chunk not in data
    assert b"PRIVATE KEY" not in data
    # The ciphertext is exactly DER + 16-byte GCM tag, and not the DER itself.
    ct = base64.b64decode(json.loads(data)["ciphertext"])
    assert len(ct) == len(der) + 16 and der not in ct
    # Two seals of the same key share no salt, nonce or ciphertext.
    again = json.loads(seal(k, "correct horse", FAST_KDF))
    first = json.loads(data)
    for f in ("nonce", "ciphertext"):
        assert again[f] != first[f]
    assert again["kdf"]["salt"] != first["kdf"]["salt"]


def test_write_key_creates_an_owner_only_file(tmp_path: Path, keys: Keys) -> None:
    path = tmp_path / "sub" / "member.key"
    old = os.umask(0)  # even with a permissive umask the file must be 0600
    try:
        write_key(path, keys.ed[4], "pw", FAST_KDF)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert unseal(path.read_bytes(), "pw").did == keys.ed[4].did
    with pytest.raises(FileExistsError):  # never silently overwrites a key
        write_key(path, keys.ed[5], "pw", FAST_KDF)
    assert unseal(path.read_bytes(), "pw").did == keys.ed[4].did


def test_default_kdf_cost_is_not_weakened() -> None:
    assert KdfParams() == KdfParams(n=2**15, r=8, p=1)
