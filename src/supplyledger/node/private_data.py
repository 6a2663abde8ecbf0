"""Off-ledger private data (paper 001 Alg. 1 and 4): ciphertext and wrapped keys in
``DATA/private/``, access decided by the ledger's ``privacy`` contract.

Layout (files are named by record id, commitment and a hash of the reader's id; no name or
byte in here is plaintext personal data)::

    private/records/<record>/<commitment>.bin        nonce ‖ AES-256-GCM ciphertext
    private/records/<record>/<commitment>.<who>.key  data key, RSA-OAEP-SHA256 wrapped
    private/keys/<who>.key                           a customer's key file (scrypt-sealed)

The ciphertext holds the plaintext, the author's signature over it and the signing key (a
key the identity contract once registered to the author: the signature still checks after
the author rotates its key), and is bound (GCM associated data) to the record id and author,
so a blob cannot be moved to another record. Ciphertexts of earlier releases hold no key:
their signature is checked with the author's registered key.
Files are content-addressed by commitment: a re-encryption writes new files, the ledger
switches commitment, and only then are the old ones deleted. Every reader needs an RSA key
(the data key is wrapped with RSA-OAEP): a share or grant naming another key is refused
before any file is written. A file the ledger no longer serves is deleted once the ledger
says so, also when the answer to the transaction was lost: an erasure is finished by
erasing again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from supplyledger.contracts.builtin.privacy import record_key
from supplyledger.errors import (
    AccessDenied,
    AlreadyExists,
    ContractError,
    CryptoError,
    DecryptionError,
    Forbidden,
    InvalidSignature,
    NotFound,
    TransactionRejected,
    ValidationError,
    error_from_code,
)
from supplyledger.ledger.crypto import PrivateKey, PublicKey
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.keyfile import read_info
from supplyledger.ledger.tx import make_tx
from supplyledger.node.service import Node

__all__ = ["PrivateData"]

# Starts a payload that names its signing key. An earlier release's payload starts with the
# signature's length (at most 512 bytes), never with these two bytes.
_SIGNED_BY = b"\xff\x01"
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _who(did: str) -> str:
    return hashlib.sha256(did.encode()).hexdigest()[:32]


def _refused(exc: BaseException) -> bool:
    """The transaction was refused for good (at admission, or in its receipt), so it will
    never commit; any other failure (no answer in time, a node stopping) may still."""
    return isinstance(exc, (ContractError, TransactionRejected, ValidationError))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class PrivateData:
    """The service: encrypt and share, read, grant, revoke, erase, retrieve keys."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.root = Path(node.settings.data_dir) / "private"

    # -- ledger ---------------------------------------------------------------------------
    def _submit(self, key: PrivateKey, method: str, args: dict[str, Any]) -> Any:
        tx = make_tx(key, chain=self.node.chain, contract="privacy", method=method, args=args,
                     time_ms=self.node.clock(), nonce=secrets.token_hex(8))
        r = self.node.submit(tx.raw).result(60)
        if not r.ok:
            err = r.error or {}
            raise error_from_code(err.get("code", ""), err.get("message", ""),
                                  err.get("details"))
        return r.result

    def _state(self, key: str) -> Any:
        raw = self.node.store.get_state(key)
        return None if raw is None else decode(raw)

    def record(self, rid: str) -> dict[str, Any]:
        rec = self._state(f"privacy/{record_key(rid)}")
        if rec is None:
            raise NotFound(f"no private record {rid}")
        return rec  # type: ignore[no-any-return]

    def _public(self, did: str) -> PublicKey:
        p = self._state(f"identity/p/{did}")
        if p is None:
            raise NotFound(f"no participant {did}")
        return PublicKey.from_b64(p["key"])

    def _wrapper(self, did: str) -> rsa.RSAPublicKey:
        """The key a data key is wrapped with for ``did``: RSA-OAEP needs an RSA key."""
        try:
            return self._public(did).rsa_public()
        except CryptoError:
            raise CryptoError(f"{did} signs with a key that is not RSA: private data is "
                              "shared only with participants holding an RSA key (the data "
                              "key is wrapped with RSA-OAEP)") from None

    # -- files ----------------------------------------------------------------------------
    def _dir(self, rid: str) -> Path:
        return self.root / "records" / rid

    def _seal(self, rid: str, author: PrivateKey, data: bytes, data_key: bytes,
              readers: list[str]) -> str:
        sig = author.sign(data)
        spki = author.public.spki
        payload = (_SIGNED_BY + len(spki).to_bytes(2, "big") + spki +
                   len(sig).to_bytes(2, "big") + sig + data)
        nonce = os.urandom(12)
        blob = nonce + AESGCM(data_key).encrypt(nonce, payload, f"{rid}|{author.did}".encode())
        commitment = hashlib.sha256(blob).hexdigest()
        # Every reader's key first: a refusal half-way left a blob and some wrapped keys
        # that no ledger record serves.
        wrappers = {did: self._wrapper(did) for did in readers}
        try:
            _write(self._dir(rid) / f"{commitment}.bin", blob)
            for did, public in wrappers.items():
                _write(self._dir(rid) / f"{commitment}.{_who(did)}.key",
                       public.encrypt(data_key, _OAEP))
        except BaseException:
            self._drop(rid, commitment)
            raise
        return commitment

    def _drop(self, rid: str, commitment: str) -> None:
        """Delete the files of one version of a record (its directory once empty)."""
        d = self._dir(rid)
        for f in d.glob(f"{commitment}.*"):
            f.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            d.rmdir()

    def _prune(self, rid: str, keep: str) -> None:
        for f in self._dir(rid).glob("*"):
            if not f.name.startswith(keep + "."):
                f.unlink()

    # -- Alg. 1: share and read -----------------------------------------------------------
    def share(self, author: PrivateKey, data: bytes, recipients: list[str]) -> str:
        """Encrypt ``data`` for ``recipients`` (and the author) and register it; returns
        the record id."""
        rid = secrets.token_hex(16)
        readers = sorted({author.did, *recipients})
        commitment = self._seal(rid, author, data, AESGCM.generate_key(bit_length=256),
                                readers)
        try:
            self._submit(author, "publish", {"record": rid, "commitment": commitment,
                                             "recipients": readers})
        except Exception as exc:
            if _refused(exc):  # else it may still commit: the files must be there
                shutil.rmtree(self._dir(rid), ignore_errors=True)
            raise
        return rid

    def _data_key(self, rid: str, rec: dict[str, Any], reader: PrivateKey) -> bytes:
        if rec["status"] != "active":
            raise AccessDenied(f"record {rid} is {rec['status']}")
        if reader.did not in rec["recipients"]:
            raise AccessDenied(f"{reader.did} has no grant for record {rid}")
        # The grant is the participant's, for as long as it holds this key: a revoked
        # identity or a key replaced since (stolen, lost) opens nothing served here.
        who = self._state(f"identity/p/{reader.did}")
        if who is None or who["status"] != "active":
            raise AccessDenied(f"{reader.did} is {'unknown' if who is None else who['status']}")
        # Compared as keys, not as text: base64 has more than one spelling of some keys
        # (unused low bits), and registration stores the spelling the admin sent.
        if PublicKey.from_b64(who["key"]).spki != reader.public.spki:
            raise AccessDenied(f"that is no longer {reader.did}'s key")
        path = self._dir(rid) / f"{rec['commitment']}.{_who(reader.did)}.key"
        if not path.exists():
            raise DecryptionError(f"no wrapped key for {reader.did} in the private store")
        try:
            return reader.rsa_private().decrypt(path.read_bytes(), _OAEP)
        except ValueError:
            raise DecryptionError(f"the wrapped data key of {reader.did} does not open with its "
                                  "key: the file was damaged or replaced") from None

    def read(self, rid: str, reader: PrivateKey) -> bytes:
        """Decrypt a record as ``reader`` and verify it: the ciphertext matches the ledger's
        commitment and the author's signature holds. Readers without a grant get
        AccessDenied, whatever files they hold."""
        rec = self.record(rid)
        data_key = self._data_key(rid, rec, reader)
        try:
            blob = (self._dir(rid) / f"{rec['commitment']}.bin").read_bytes()
        except FileNotFoundError:
            raise DecryptionError(f"no ciphertext of record {rid} in the private store (the "
                                  "ledger's commitment names a file that is gone)") from None
        if hashlib.sha256(blob).hexdigest() != rec["commitment"]:
            raise DecryptionError("the stored ciphertext does not match the ledger commitment")
        try:
            payload = AESGCM(data_key).decrypt(blob[:12], blob[12:],
                                               f"{rid}|{rec['author']}".encode())
        except InvalidTag:
            raise DecryptionError("ciphertext does not decrypt with the data key unwrapped "
                                  "(the wrapped key file was tampered with)") from None
        signer, payload = self._signer(rec["author"], payload)
        n = int.from_bytes(payload[:2], "big")
        sig, data = payload[2:2 + n], payload[2 + n:]
        try:
            signer.verify(sig, data)
        except InvalidSignature:
            raise DecryptionError("the author's signature over the data does not verify") \
                from None
        return data

    def _signer(self, author: str, payload: bytes) -> tuple[PublicKey, bytes]:
        """The key that signed ``payload`` (and the rest of it): the one it names if the
        identity contract ever registered it to ``author``; in an earlier release's format,
        which names none, the author's key now."""
        if not payload.startswith(_SIGNED_BY):
            return self._public(author), payload
        n = int.from_bytes(payload[2:4], "big")
        try:
            key = PublicKey.from_spki(payload[4:4 + n])
        except CryptoError:
            raise DecryptionError("the ciphertext names an unreadable signing key") from None
        if self._state(f"identity/k/{key.fingerprint}") != author:
            raise DecryptionError(f"the data is signed with a key that was never {author}'s")
        return key, payload[4 + n:]

    # -- grant, revoke, erase -------------------------------------------------------------
    def grant(self, author: PrivateKey, rid: str, recipient: str) -> None:
        rec = self.record(rid)
        data_key = self._data_key(rid, rec, author)
        path = self._dir(rid) / f"{rec['commitment']}.{_who(recipient)}.key"
        # A current reader's file is their access: a refused grant must not remove it
        # (it did: any reader could lock out the author by granting the author).
        if rec["author"] != author.did:
            raise Forbidden(f"only the author of record {rid} may change who reads it")
        if recipient in rec["recipients"]:
            raise AlreadyExists(f"{recipient} already reads record {rid}")
        _write(path, self._wrapper(recipient).encrypt(data_key, _OAEP))
        try:
            self._submit(author, "grant", {"record": rid, "recipient": recipient})
        except Exception as exc:
            # Unless a concurrent grant of the same reader committed meanwhile, or this one
            # still may (no answer is no refusal).
            if _refused(exc) and recipient not in self.record(rid)["recipients"]:
                path.unlink(missing_ok=True)
            raise

    def revoke(self, author: PrivateKey, rid: str, recipient: str) -> None:
        """Re-encrypt under a new data key for the remaining readers, then switch the
        ledger's commitment; the revoked reader's old wrapped key opens nothing served."""
        rec = self.record(rid)
        if rec["author"] != author.did:
            raise AccessDenied(f"only the author of record {rid} may revoke access")
        data = self.read(rid, author)
        readers = [d for d in rec["recipients"] if d != recipient]
        commitment = self._seal(rid, author, data, AESGCM.generate_key(bit_length=256),
                                readers)
        try:
            self._submit(author, "revoke", {"record": rid, "recipient": recipient,
                                            "commitment": commitment})
        except Exception as exc:
            if self.record(rid)["commitment"] == commitment:  # committed, the answer lost
                self._prune(rid, commitment)
            elif _refused(exc):  # the new copy serves nobody
                self._drop(rid, commitment)
            raise
        self._prune(rid, commitment)

    def erase(self, author: PrivateKey, rid: str) -> None:
        """Crypto-shred: the ledger marks the record erased (only its author may), then
        ciphertext and wrapped keys are deleted. Whatever the ledger already says is
        erased is deleted too, even when this erasure is refused: an earlier one whose
        files outlived it (the process stopped in between) is finished by erasing again."""
        try:
            self._submit(author, "erase", {"record": rid})
        finally:
            rec = self._state(f"privacy/{record_key(rid)}")
            if rec is not None and rec["status"] == "erased":
                shutil.rmtree(self._dir(rid), ignore_errors=True)

    # -- Alg. 4: key retrieval ------------------------------------------------------------
    def deposit_key(self, sealed: bytes) -> None:
        """Keep a customer's password-sealed key file (never a plaintext key)."""
        info = read_info(sealed)
        _write(self.root / "keys" / f"{_who(info.did)}.key", sealed)

    def retrieve_key(self, did: str, public_key_b64: str) -> bytes:
        """Return the sealed key file of ``did`` if ``public_key_b64`` is its registered
        key: only the password-encrypted form ever leaves the store."""
        try:
            given = PublicKey.from_b64(public_key_b64).spki
        except CryptoError:
            given = b""
        if self._public(did).spki != given:
            raise AccessDenied(f"{did} is not registered with that public key")
        path = self.root / "keys" / f"{_who(did)}.key"
        if not path.exists():
            raise NotFound(f"no key deposited for {did}")
        sealed = path.read_bytes()
        if read_info(sealed).did != did:
            raise CryptoError("the deposited key file belongs to someone else")
        return sealed
