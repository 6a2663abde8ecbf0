"""Signing keys, signatures and participant ids (PyCA ``cryptography``).

RSA-PSS-SHA256 (2048 or 3072 bits, the papers' choice and the fastest to verify here) and
Ed25519. A participant id is derived from the public key it was created with
(``did:sl:`` + first 20 bytes of SHA-256 over the SubjectPublicKeyInfo DER); rotation keeps
the id and changes the key registered under it.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from supplyledger.errors import CryptoError, InvalidSignature

__all__ = [
    "Algorithm",
    "PrivateKey",
    "PublicKey",
    "b64d",
    "b64e",
    "did_for",
    "generate",
    "spki_fault",
]

Algorithm = Literal["rsa", "rsa3072", "ed25519"]

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
_SHA256 = hashes.SHA256()


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise CryptoError(f"not valid base64: {exc}") from None


def did_for(spki_der: bytes) -> str:
    return "did:sl:" + hashlib.sha256(spki_der).hexdigest()[:40]


_RSA_BITS = (2048, 3072, 4096)
_Verifier = rsa.RSAPublicKey | ed25519.Ed25519PublicKey


def _load_spki(spki: bytes) -> tuple[_Verifier | None, str, str]:
    """The key ``spki`` holds, or None and why not twice: in supplyledger's own words and
    in :meth:`PublicKey.from_spki`'s, which quote the library (identity rules v1 to v5
    recorded those in receipts)."""
    try:
        key = serialization.load_der_public_key(spki)
    except (ValueError, TypeError) as exc:
        return (None, "it is not a DER-encoded SubjectPublicKeyInfo",
                f"unreadable public key: {exc}")
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size in _RSA_BITS:
            return key, "", ""
        return (None, f"it is an RSA key of {key.key_size} bits, not 2048, 3072 or 4096",
                f"RSA keys must be 2048, 3072 or 4096 bits, not {key.key_size}")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key, "", ""
    return (None, "it is neither an RSA nor an Ed25519 key",
            f"unsupported key type {type(key).__name__}")


def spki_fault(spki: bytes) -> str | None:
    """Why ``spki`` is not a key :meth:`PublicKey.from_spki` takes, in supplyledger's own
    words (the library's differ between its releases), or None when it is one."""
    key, ours, _ = _load_spki(spki)
    return None if key is not None else ours


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A verifying key; ``spki`` is its SubjectPublicKeyInfo DER."""

    spki: bytes
    kind: str
    _key: _Verifier
    fp: bytes  # SHA-256 of the SPKI: compared on the hot path, so computed once

    @classmethod
    def from_spki(cls, spki: bytes) -> PublicKey:
        key, _, fault = _load_spki(spki)
        if key is None:
            raise CryptoError(fault)
        kind = "rsa" if isinstance(key, rsa.RSAPublicKey) else "ed25519"
        return cls(spki, kind, key, hashlib.sha256(spki).digest())

    @classmethod
    def from_b64(cls, text: str) -> PublicKey:
        return cls.from_spki(b64d(text))

    @property
    def b64(self) -> str:
        return b64e(self.spki)

    @property
    def did(self) -> str:
        return did_for(self.spki)

    @property
    def fingerprint(self) -> str:
        return self.fp.hex()

    def verify(self, signature: bytes, message: bytes) -> None:
        """Raise :class:`InvalidSignature` unless ``signature`` signs ``message``."""
        try:
            if self.kind == "rsa":
                self._key.verify(signature, message, _PSS, _SHA256)  # type: ignore[call-arg]
            else:
                self._key.verify(signature, message)  # type: ignore[call-arg]
        except _CryptoInvalidSignature:
            raise InvalidSignature("signature does not verify") from None

    def is_valid(self, signature: bytes, message: bytes) -> bool:
        try:
            self.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def rsa_public(self) -> rsa.RSAPublicKey:
        if not isinstance(self._key, rsa.RSAPublicKey):
            raise CryptoError("this operation needs an RSA key")
        return self._key


@dataclass(frozen=True, slots=True)
class PrivateKey:
    """A signing key. Never written anywhere unencrypted (see :mod:`keyfile`)."""

    _key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    public: PublicKey

    @classmethod
    def from_crypto(cls, key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> PrivateKey:
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(key, PublicKey.from_spki(spki))

    @property
    def did(self) -> str:
        return self.public.did

    def sign(self, message: bytes) -> bytes:
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(message, _PSS, _SHA256)
        return self._key.sign(message)

    def pkcs8_der(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @classmethod
    def from_pkcs8_der(cls, der: bytes) -> PrivateKey:
        try:
            key = serialization.load_der_private_key(der, password=None)
        except (ValueError, TypeError) as exc:
            raise CryptoError(f"unreadable private key: {exc}") from None
        if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            raise CryptoError(f"unsupported key type {type(key).__name__}")
        return cls.from_crypto(key)

    def rsa_private(self) -> rsa.RSAPrivateKey:
        if not isinstance(self._key, rsa.RSAPrivateKey):
            raise CryptoError("this operation needs an RSA key")
        return self._key


def generate(algorithm: str = "rsa") -> PrivateKey:
    if algorithm in ("rsa", "rsa2048", "rsa3072"):
        bits = 3072 if algorithm == "rsa3072" else 2048
        return PrivateKey.from_crypto(rsa.generate_private_key(public_exponent=65537,
                                                               key_size=bits))
    if algorithm == "ed25519":
        return PrivateKey.from_crypto(ed25519.Ed25519PrivateKey.generate())
    raise CryptoError(f"unknown algorithm {algorithm!r}: use rsa, rsa3072 or ed25519")
