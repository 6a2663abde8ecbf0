"""Off-ledger private data (paper 001 Alg. 1 and 4): ciphertext and wrapped keys in
``DATA/private/``, access decided by the ledger's ``privacy`` contract.

Layout (files are named by record id, commitment and a hash of the reader's id; no name or
byte in here is plaintext personal data)::

    private/records/<record>/<commitment>.bin        nonce ‖ AES-256-GCM ciphertext
    private/records/<record>/<commitment>.<who>.key  data key, RSA-OAEP-SHA256 wrapped
    private/keys/<who>.key                           a customer's key file (scrypt-sealed)
    private/keys/<who>.rotating                      a web user's next key (scrypt-sealed),
                                                     kept until the ledger answers a rotation

The ciphertext holds the plaintext, the author's signature over it and the signing key (a
key the identity contract once registered to the author: the signature still checks after
the author rotates its key), and is bound (GCM associated data) to the record id and author,
so a blob cannot be moved to another record. Ciphertexts of earlier releases hold no key:
their signature is checked with the author's registered key.
Files are content-addressed by commitment: a re-encryption writes new files, the ledger
switches commitment, and only then are the old ones deleted. A new reader (share, grant)
is an active participant that is not a machine key (a device or node, unattended) and
holds an RSA key (the data key is wrapped with RSA-OAEP): anyone else is refused before
any file is written or anything signed. A revocation re-encrypts for the remaining readers
who can read now (active, RSA key); one revoked as a participant, or whose key became one
nothing can be wrapped for, gets no wrapped key (they could not open one) and does not
block it. A file the ledger no longer serves is deleted once the ledger says so, also
when the answer to the transaction was lost: an erasure is finished by erasing again.
Crypto-shredding follows the ledger, not this service's calls: every block that erases a
record deletes its files here, however the erasure was signed (the contract catalogue's
form, a raw ``tx submit``, another node), and a service starting deletes those of records
erased while none ran. The store is the node's alone (folders 0700, files 0600): sizes
would tell the length of each customer's data.

Key rotation (:func:`rewrap`): a data key is wrapped for a reader's key of the time, so a
participant that rotates its key moves each wrapped key it holds to the new one (unwrap
with the old private key, wrap with the new public key; each file is replaced atomically
under its own name, which names the participant, not the key). A run cut short is
finished by running it again: a file that already opens with the new key is left as it
is. Nothing re-wraps for a key that was lost: records wrapped only for it stay unreadable
by that participant (their other readers keep access).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from supplyledger.contracts.builtin.privacy import record_key
from supplyledger.contracts.runtime import MACHINE_ROLES, StateReader
from supplyledger.errors import (
    AccessDenied,
    AlreadyExists,
    ContractError,
    CryptoError,
    DecryptionError,
    Forbidden,
    InvalidSignature,
    NotFound,
    PayloadTooLarge,
    SupplyLedgerError,
    TransactionRejected,
    ValidationError,
    error_from_code,
)
from supplyledger.ledger.crypto import PrivateKey, PublicKey
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.keyfile import read_info
from supplyledger.ledger.tx import make_tx
from supplyledger.node.service import Node
from supplyledger.node.signers import participant_for

__all__ = ["MAX_DATA_BYTES", "PrivateData", "Rewrapped", "keep_pending_key",
           "pending_key_path", "reads_private_data", "recipient_refusal", "rewrap",
           "rewrap_owner"]

_log = logging.getLogger(__name__)

# A record is a delivery address or a phone number, read whole into memory on every read:
# 4096 characters of the web form in UTF-8 at most.
MAX_DATA_BYTES = 16 * 1024

# Starts a payload that names its signing key. An earlier release's payload starts with the
# signature's length (at most 512 bytes), never with these two bytes.
_SIGNED_BY = b"\xff\x01"
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
# In the receipt of a transaction that erased a record (its event's name).
_ERASED = b'"privacy.erased"'


def _who(did: str) -> str:
    return hashlib.sha256(did.encode()).hexdigest()[:32]


def recipient_refusal(did: str, participant: dict[str, Any] | None) -> SupplyLedgerError | None:
    """Why ``did`` (its ledger record ``participant``) may not be given a record to read,
    or None: a participant unknown or no longer active, a machine key (roles all device or
    node: it runs unattended and acts for nobody), or a key nothing can be wrapped for."""
    if participant is None or participant["status"] != "active":
        return NotFound(f"no active participant {did}")
    roles = set(participant["roles"])
    if roles and roles <= MACHINE_ROLES:
        return ValidationError(f"{did} is a machine key ({', '.join(sorted(roles))}): "
                               "private data is shared with people and organisations, not "
                               "with the devices and nodes that run unattended",
                               arg="recipients")
    if PublicKey.from_b64(participant["key"]).kind != "rsa":
        return CryptoError(f"{did} signs with a key that is not RSA: private data is shared "
                           "only with participants holding an RSA key (the data key is "
                           "wrapped with RSA-OAEP)")
    return None


def _refused(exc: BaseException) -> bool:
    """The transaction was refused for good (at admission, or in its receipt), so it will
    never commit; any other failure (no answer in time, a node stopping) may still."""
    return isinstance(exc, (ContractError, TransactionRejected, ValidationError))


def _mkdir(d: Path) -> None:
    """``d`` and its missing parents, for this user alone (``mkdir -p`` leaves the parents
    at the default mode)."""
    if not d.is_dir():
        _mkdir(d.parent)
        d.mkdir(mode=0o700, exist_ok=True)


def _write(path: Path, data: bytes) -> None:
    _mkdir(path.parent)
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
        if self.root.is_dir():  # made by an earlier release at the default mode
            self.root.chmod(0o700)
            records = self.root / "records"
            self._shred([d.name for d in records.iterdir()] if records.is_dir() else [])
        node.on_block(self._follow)

    # -- crypto-shredding, as the ledger says -----------------------------------------------
    def _shred(self, rids: list[str]) -> None:
        """Delete the files of those of ``rids`` the ledger says are erased (final: nothing
        in flight can make one readable again, so no lock is needed)."""
        for rid in rids:
            rec = self._state(f"privacy/{record_key(rid)}")
            if rec is not None and rec["status"] == "erased":
                shutil.rmtree(self._dir(rid), ignore_errors=True)

    def _follow(self, height: int) -> None:
        """Shred the records block ``height`` erased, however the erasure was signed. Runs
        on the node's committer thread, which must go on whatever happens here: a failure
        is logged, and the next start shreds what is left."""
        try:
            self._shred([e[1]["record"] for *_, receipt in self.node.store.block_txs(height)
                         if _ERASED in receipt
                         for e in decode(receipt).get("events", [])
                         if e[0] == "privacy.erased"])
        except Exception:
            _log.exception("shredding the private records erased in block %d failed", height)

    # -- ledger ---------------------------------------------------------------------------
    def _submit(self, key: PrivateKey, method: str, args: dict[str, Any]) -> Any:
        tx = make_tx(key, chain=self.node.chain, contract="privacy", method=method, args=args,
                     time_ms=self.node.clock(), nonce=secrets.token_hex(8),
                     signer=self._owner(key))
        r = self.node.submit(tx.raw).result(60)
        if not r.ok:
            err = r.error or {}
            raise error_from_code(err.get("code", ""), err.get("message", ""),
                                  err.get("details"))
        return r.result

    def _state(self, key: str) -> Any:
        raw = self.node.store.get_state(key)
        return None if raw is None else decode(raw)

    def _owner(self, key: PrivateKey) -> str:
        """The participant ``key`` was registered to: after a rotation the key's own id
        names nobody, the ledger's key index names its owner. (Whether it is still the
        owner's current key is checked where access is decided.)"""
        owner = self._state(f"identity/k/{key.public.fingerprint}")
        return key.did if owner is None else str(owner)

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
        """The key a data key is wrapped with for ``did``, a new reader
        (:func:`recipient_refusal` says who may be one)."""
        refusal = recipient_refusal(did, self._state(f"identity/p/{did}"))
        if refusal is not None:
            raise refusal
        return self._public(did).rsa_public()

    def _wrappers(self, readers: list[str]) -> dict[str, rsa.RSAPublicKey]:
        """The keys to wrap a new data key for, of the readers who can read now (active,
        with an RSA key): the others could not open a wrapped key, and one for a revoked
        participant's key (perhaps stolen) would only be a risk."""
        keys = {}
        for did in readers:
            p = self._state(f"identity/p/{did}")
            if p is not None and p["status"] == "active":
                key = PublicKey.from_b64(p["key"])
                if key.kind == "rsa":
                    keys[did] = key.rsa_public()
        return keys

    # -- files ----------------------------------------------------------------------------
    def _dir(self, rid: str) -> Path:
        return self.root / "records" / rid

    def _seal(self, rid: str, author: PrivateKey, data: bytes, data_key: bytes,
              wrappers: dict[str, rsa.RSAPublicKey]) -> str:
        sig = author.sign(data)
        spki = author.public.spki
        payload = (_SIGNED_BY + len(spki).to_bytes(2, "big") + spki +
                   len(sig).to_bytes(2, "big") + sig + data)
        nonce = os.urandom(12)
        bound = f"{rid}|{self._owner(author)}".encode()
        blob = nonce + AESGCM(data_key).encrypt(nonce, payload, bound)
        commitment = hashlib.sha256(blob).hexdigest()
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
        if not data:
            raise ValidationError("nothing to share: the data is empty", arg="data")
        if len(data) > MAX_DATA_BYTES:
            raise PayloadTooLarge(f"{len(data)} bytes to share, over the {MAX_DATA_BYTES}-"
                                  "byte limit of a private record", size=len(data),
                                  limit=MAX_DATA_BYTES)
        rid = secrets.token_hex(16)
        readers = sorted({self._owner(author), *recipients})
        # Every reader's key first: a refusal half-way left a blob and some wrapped keys
        # that no ledger record serves.
        wrappers = {did: self._wrapper(did) for did in readers}
        commitment = self._seal(rid, author, data, AESGCM.generate_key(bit_length=256),
                                wrappers)
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
        did = self._owner(reader)
        if did not in rec["recipients"]:
            raise AccessDenied(f"{did} has no grant for record {rid}")
        # The grant is the participant's, for as long as it holds this key: a revoked
        # identity or a key replaced since (stolen, lost) opens nothing served here.
        who = self._state(f"identity/p/{did}")
        if who is None or who["status"] != "active":
            raise AccessDenied(f"{did} is {'unknown' if who is None else who['status']}")
        # Compared as keys, not as text: base64 has more than one spelling of some keys
        # (unused low bits), and registration stores the spelling the admin sent.
        if PublicKey.from_b64(who["key"]).spki != reader.public.spki:
            raise AccessDenied(f"that is no longer {did}'s key")
        path = self._dir(rid) / f"{rec['commitment']}.{_who(did)}.key"
        if not path.parent.is_dir():
            raise DecryptionError(f"record {rid} is not on this node: each node keeps the "
                                  "files of the records shared through it (read it on that "
                                  "node)")
        if not path.exists():
            raise DecryptionError(f"no wrapped key for {did} in the private store")
        try:
            return reader.rsa_private().decrypt(path.read_bytes(), _OAEP)
        except ValueError:
            raise DecryptionError(f"the wrapped data key of {did} does not open with its "
                                  "key: the file was damaged or replaced (or wrapped for "
                                  "an earlier key: finish a rotation with `supplyledger "
                                  "keys rewrap`)") from None

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
        if rec["author"] != self._owner(author):
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
        if rec["author"] != self._owner(author):  # forbidden, as the contract and grant say
            raise Forbidden(f"only the author of record {rid} may revoke access")
        data = self.read(rid, author)
        commitment = self._seal(rid, author, data, AESGCM.generate_key(bit_length=256),
                                self._wrappers([d for d in rec["recipients"]
                                                if d != recipient]))
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
        """Crypto-shred: the ledger marks the record erased (its author may; under privacy
        rules v2 also an admin, once the author is revoked), then ciphertext and wrapped
        keys are deleted. Whatever the ledger already says is erased is deleted too, even
        when this erasure is refused: an earlier one whose files outlived it (the process
        stopped in between) is finished by erasing again."""
        try:
            self._submit(author, "erase", {"record": rid})
        finally:
            rec = self._state(f"privacy/{record_key(rid)}")
            if rec is not None and rec["status"] == "erased":
                shutil.rmtree(self._dir(rid), ignore_errors=True)

    # -- Alg. 4: key retrieval ------------------------------------------------------------
    def deposit_key(self, sealed: bytes) -> None:
        """Keep a customer's password-sealed key file (never a plaintext key), under the
        participant the ledger registered its key to: after a rotation the key's own id
        names nobody."""
        info = read_info(sealed)
        owner = self._state(f"identity/k/{info.public_key.fingerprint}")
        _write(self.root / "keys" / f"{_who(str(owner or info.did))}.key", sealed)

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
        # Compared as keys: a rotated participant's key file carries the new key's own id.
        if read_info(sealed).public_key.spki != given:
            raise CryptoError(f"the deposited key file is not {did}'s current key")
        return sealed


def pending_key_path(data_dir: Path, did: str) -> Path:
    """Where a web rotation keeps ``did``'s next key, sealed, until the ledger answers."""
    return Path(data_dir) / "private" / "keys" / f"{_who(did)}.rotating"


def keep_pending_key(data_dir: Path, did: str, sealed: bytes) -> None:
    """Keep ``did``'s next key (a sealed key file), synced, before the rotation is sent."""
    _write(pending_key_path(data_dir, did), sealed)


# -- key rotation: re-wrap a participant's data keys ------------------------------------
@dataclass(frozen=True, slots=True)
class Rewrapped:
    """What :func:`rewrap` did, by record id."""

    did: str
    rewrapped: tuple[str, ...]  # moved to the new key now
    earlier: tuple[str, ...]  # already for the new key (an earlier run was cut short)
    unreadable: tuple[str, ...]  # opens with neither key (damaged, or for a key lost)
    missing: tuple[str, ...]  # the ledger lists the participant, no wrapped key is here
    deposit: str  # the deposited key file: "none", "replaced", "current" or "stale"

    @property
    def complete(self) -> bool:
        return not self.unreadable and self.deposit != "stale"


def rewrap_owner(read: StateReader, old: PublicKey, new: PublicKey) -> str:
    """The participant whose data keys move from ``old`` to ``new``: ``new`` must be its
    current key (else UnknownSigner or RevokedKey, also when it is revoked) and ``old`` a
    key the ledger once registered to it (else AccessDenied)."""
    if old.spki == new.spki:
        raise ValidationError("the old and the new key are the same key")
    did = str(participant_for(read, new)["did"])
    owner = read(f"identity/k/{old.fingerprint}")
    if owner is None or decode(owner) != did:
        raise AccessDenied(f"the old key was never {did}'s key: it unwraps nothing of theirs")
    return did


def _targets(data_dir: Path, read: StateReader, did: str) -> Iterator[tuple[str, Path]]:
    """(record id, wrapped key file) of every active record in this node's store that the
    ledger says ``did`` reads; the file may be missing."""
    records = Path(data_dir) / "private" / "records"
    if not records.is_dir():
        return
    for d in sorted(records.iterdir()):
        raw = read(f"privacy/{record_key(d.name)}")
        rec = None if raw is None else decode(raw)
        if rec is not None and rec["status"] == "active" and did in rec["recipients"]:
            yield d.name, d / f"{rec['commitment']}.{_who(did)}.key"


def reads_private_data(data_dir: Path, read: StateReader, did: str) -> bool:
    """Whether ``did`` reads a record held in ``data_dir`` (then its key must stay RSA)."""
    return next(_targets(data_dir, read, did), None) is not None


def _unwrap(key: rsa.RSAPrivateKey | None, blob: bytes) -> bytes | None:
    if key is None:
        return None
    try:
        return key.decrypt(blob, _OAEP)
    except ValueError:
        return None


def rewrap(data_dir: Path, read: StateReader, old: PrivateKey, new: PrivateKey,
           sealed_new: bytes | None = None) -> Rewrapped:
    """Move every data key wrapped for the participant in ``data_dir`` from ``old`` to
    ``new`` (its current key, :func:`rewrap_owner`). Idempotent: run again after an
    interruption, it re-wraps only what is still for ``old``. A deposited key file
    (Alg. 4) holding ``old`` is replaced by ``sealed_new`` when given."""
    did = rewrap_owner(read, old.public, new.public)
    targets = list(_targets(data_dir, read, did))
    if targets and new.public.kind != "rsa":
        raise CryptoError(f"{did} reads private records, whose data keys are wrapped with "
                          "RSA-OAEP: its new key must be RSA")
    old_rsa = old.rsa_private() if old.public.kind == "rsa" else None
    new_rsa = new.rsa_private() if targets else None
    done: dict[str, list[str]] = {"now": [], "earlier": [], "unreadable": [], "missing": []}
    for rid, path in targets:
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            done["missing"].append(rid)
            continue
        data_key = _unwrap(old_rsa, blob)
        if data_key is not None:
            # Same name: os.replace swaps the old wrap for the new one atomically.
            _write(path, new.public.rsa_public().encrypt(data_key, _OAEP))
            done["now"].append(rid)
        else:
            done["earlier" if _unwrap(new_rsa, blob) is not None else "unreadable"].append(rid)
    return Rewrapped(did, tuple(done["now"]), tuple(done["earlier"]),
                     tuple(done["unreadable"]), tuple(done["missing"]),
                     _redeposit(Path(data_dir), did, old, new, sealed_new))


def _redeposit(data_dir: Path, did: str, old: PrivateKey, new: PrivateKey,
               sealed_new: bytes | None) -> str:
    path = data_dir / "private" / "keys" / f"{_who(did)}.key"
    if not path.exists():
        return "none"
    held = read_info(path.read_bytes()).public_key.spki
    if held == new.public.spki:
        return "current"
    if held != old.public.spki or sealed_new is None:
        return "stale"
    if read_info(sealed_new).public_key.spki != new.public.spki:
        raise ValidationError("the sealed key file given is not the new key")
    _write(path, sealed_new)
    return "replaced"
