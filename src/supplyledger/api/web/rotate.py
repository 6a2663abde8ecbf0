"""The account page's "Rotate my key": what ``supplyledger keys rotate`` does for a key
file, for a web user whose key this node holds (sealed under their password).

The new key is sealed under the same password and kept in ``DATA/private/keys/<who>.rotating``
before the rotation is signed, so a rotation the ledger commits never names a key that
nobody holds: if the answer is lost (a commit timeout, a restart), the next "Rotate my
key" finds the ledger naming the kept key and finishes with it instead of rotating again.
A rotation refused for good drops the kept key. Once committed, every data key wrapped
for the user in this node's private store is re-wrapped for the new key
(:func:`supplyledger.node.private_data.rewrap`), and only then does the account store the
new key (the user's other sessions end) and the kept copy go: a re-wrap that stops
half-way is finished by rotating again, with the old key still at hand.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from supplyledger.api.service import LedgerService, Principal
from supplyledger.errors import (
    ContractError,
    CryptoError,
    RevokedKey,
    StoreError,
    SupplyLedgerError,
    TransactionRejected,
    ValidationError,
    error_from_code,
)
from supplyledger.ledger.crypto import PrivateKey, PublicKey, generate
from supplyledger.ledger.keyfile import read_info, unseal
from supplyledger.ledger.tx import make_tx
from supplyledger.node.private_data import (
    Rewrapped,
    keep_pending_key,
    pending_key_path,
    reads_private_data,
    rewrap,
)
from supplyledger.node.signers import participant_for

__all__ = ["rotate_account_key"]


def _algo(key: PublicKey) -> str:
    if key.kind != "rsa":
        return key.kind
    return "rsa3072" if key.rsa_public().key_size >= 3072 else "rsa"


def rotate_account_key(svc: LedgerService, who: Principal, password: str,
                       client: str) -> Rewrapped:
    """Rotate the logged-in user's key (``password`` is theirs, asked again) and re-wrap
    their private data keys. Refused, changing nothing: a wrong password, a participant
    revoked, or an account key that is no longer the participant's (an admin rotated it)."""
    old = svc.accounts.open_key(who.session, password, client)
    data_dir = Path(svc.node.settings.data_dir)
    read = svc.node.store.get_state
    pending = pending_key_path(data_dir, who.did)
    kept = pending.read_bytes() if pending.exists() else None
    p = svc.participant(who.did)
    current = None if p is None else PublicKey.from_b64(str(p["key"]))
    if (current is not None and current.spki != old.public.spki and kept is not None
            and read_info(kept).public_key.spki == current.spki):
        # An earlier rotation from this page committed, its answer lost: finish it.
        new, sealed = unseal(kept, password), kept
    else:
        try:
            owner = participant_for(read, old.public)["did"]
        except RevokedKey:
            owner = None
        if owner != who.did:
            raise RevokedKey("the key this account holds is no longer your key on the ledger "
                             "(it was rotated elsewhere): there is nothing to rotate here")
        new = generate(_algo(old.public))
        if new.public.kind != "rsa" and reads_private_data(data_dir, read, who.did):
            raise CryptoError("you read private records, whose data keys are wrapped with "
                              "RSA-OAEP, and your key is not RSA: ask an admin to rotate it")
        sealed = svc.accounts.seal_key(new, password)
        keep_pending_key(data_dir, who.did, sealed)
        _commit(svc, who, old, new, pending)
    # Re-wrapped while the account still holds the old key and the new one is kept: if
    # this stops half-way, the next "Rotate my key" finishes it (the resumed branch above).
    try:
        done = rewrap(data_dir, read, old, new, sealed)
    except OSError as exc:
        raise StoreError(f"your key was rotated, but re-wrapping your private records "
                         f"stopped ({exc.strerror or exc}); rotate again to finish") from None
    svc.accounts.replace_key(who.session, sealed, new)
    pending.unlink(missing_ok=True)
    return done


def _commit(svc: LedgerService, who: Principal, old: PrivateKey, new: PrivateKey,
            pending: Path) -> None:
    tx = make_tx(old, chain=svc.chain, contract="identity", method="rotate_key",
                 args={"did": who.did, "public_key": new.public.b64},
                 time_ms=svc.node.clock(), nonce=secrets.token_hex(8), signer=who.did)
    try:
        receipt = svc.submit_raw(tx.raw)
    except (SupplyLedgerError, TimeoutError) as exc:
        if isinstance(exc, ContractError | TransactionRejected | ValidationError):
            pending.unlink(missing_ok=True)  # refused for good
            raise
        # It may still commit: the kept key lets the next attempt finish it.
        raise SupplyLedgerError("your key rotation was sent but not confirmed; rotate again "
                                "to finish it (nothing is lost)") from None
    if not receipt.ok:
        pending.unlink(missing_ok=True)
        err = receipt.error or {}
        raise error_from_code(str(err.get("code", "")), str(err.get("message", "")),
                              err.get("details"))
