"""Password-protected key files: PKCS#8 DER sealed with AES-256-GCM under a scrypt key.

The file is JSON so the public key and participant id can be read without the password:
``{"format": "supplyledger-key/1", "did", "public_key", "kdf": {"name": "scrypt", "n", "r",
"p", "salt"}, "nonce", "ciphertext"}``. The id, public key and KDF parameters are bound in as
GCM associated data, so editing any of them makes decryption fail.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from supplyledger.errors import CryptoError, KeyFileError
from supplyledger.ledger.crypto import PrivateKey, PublicKey, b64d, b64e

__all__ = ["KDF_COST_WRITTEN", "MAX_KDF_COST", "KdfParams", "KeyFileInfo", "read_info", "seal",
           "unseal"]

FORMAT = "supplyledger-key/1"
# The scrypt cost a key file may ask for, as 128·n·r·p bytes: its parameters come from the
# file, so an edited one must not make opening it exhaust memory (n=2**30 asks for 1 TiB)
# or overflow the library's arithmetic (n=2**62 panics). supplyledger writes n=2**15, r=8,
# p=1 (32 MiB); the bound allows 32 times that.
MAX_KDF_COST = 2**30
KDF_COST_WRITTEN = 128 * 2**15 * 8  # what KdfParams() asks for


@dataclass(frozen=True, slots=True)
class KdfParams:
    """scrypt cost; the default (2**15, 8, 1) takes ~0.1 s and 32 MiB per derivation."""

    n: int = 2**15
    r: int = 8
    p: int = 1


@dataclass(frozen=True, slots=True)
class KeyFileInfo:
    did: str
    public_key: PublicKey


def _derive(password: str, salt: bytes, params: KdfParams) -> bytes:
    if not password:
        raise KeyFileError("a key file needs a non-empty password")
    kdf = Scrypt(salt=salt, length=32, n=params.n, r=params.r, p=params.p)
    return kdf.derive(password.encode("utf-8"))


def _aad(doc: dict[str, Any]) -> bytes:
    return json.dumps(
        {k: doc[k] for k in ("format", "did", "public_key", "kdf")}, sort_keys=True
    ).encode()


def seal(key: PrivateKey, password: str, params: KdfParams | None = None) -> bytes:
    params = params or KdfParams()
    salt, nonce = os.urandom(16), os.urandom(12)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "did": key.did,
        "public_key": key.public.b64,
        "kdf": {"name": "scrypt", "n": params.n, "r": params.r, "p": params.p, "salt": b64e(salt)},
    }
    ct = AESGCM(_derive(password, salt, params)).encrypt(nonce, key.pkcs8_der(), _aad(doc))
    doc["nonce"] = b64e(nonce)
    doc["ciphertext"] = b64e(ct)
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def _load(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise KeyFileError(f"key file is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise KeyFileError(f"not a {FORMAT} key file")
    return doc


def read_info(data: bytes) -> KeyFileInfo:
    doc = _load(data)
    raw = doc.get("public_key")
    if not isinstance(raw, str):
        raise KeyFileError("malformed key file: no public_key text")
    try:
        pub = PublicKey.from_b64(raw)
    except CryptoError as exc:
        raise KeyFileError(f"malformed key file: {exc.message}") from None
    if pub.did != doc.get("did"):
        raise KeyFileError("key file's id does not match its public key")
    return KeyFileInfo(doc["did"], pub)


def unseal(data: bytes, password: str, max_cost: int = MAX_KDF_COST) -> PrivateKey:
    """The private key of key file ``data``; refused, before any scrypt work, when the
    file asks for more than ``max_cost`` bytes of it (a server taking files from anyone
    passes what it writes itself)."""
    doc = _load(data)
    try:
        kdf = doc["kdf"]
        params = KdfParams(int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
        if min(params.n, params.r, params.p) < 1 or (
                128 * params.n * params.r * params.p > max_cost):
            raise KeyFileError(f"key file asks for scrypt n={params.n}, r={params.r}, "
                               f"p={params.p}: more than the {max_cost // 2**20} MiB "
                               "(128*n*r*p bytes) accepted here")
        key = _derive(password, b64d(kdf["salt"]), params)
        der = AESGCM(key).decrypt(b64d(doc["nonce"]), b64d(doc["ciphertext"]), _aad(doc))
    except InvalidTag:
        raise KeyFileError("wrong password or tampered key file") from None
    except KeyFileError:
        raise
    except CryptoError as exc:  # a salt, nonce or ciphertext that is not base64
        raise KeyFileError(f"malformed key file: {exc.message}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise KeyFileError(f"malformed key file: {exc!s}") from None
    priv = PrivateKey.from_pkcs8_der(der)
    if priv.did != doc["did"]:
        raise KeyFileError("key file's private key does not match its id")
    return priv
