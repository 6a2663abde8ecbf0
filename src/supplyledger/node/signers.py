"""Which participant a key signs for, checked before anything is signed.

A participant's id is derived from the key it registered with, and a key rotation keeps
the id: after one, the new key's own ``did`` names nobody, and a transaction must name the
participant as its signer. Commands that sign with a key file (``tx submit``, ``dispatch
plan --submit``, ``epcis import``) ask :func:`registered_as` first, so that an unregistered,
revoked or rotated-away key, or a role the method does not admit (under identity rules v3
also a machine key calling a method not open to machines), is refused with one clear error
and nothing is written: the node would otherwise reject it at admission, or
record it as a failed transaction (a wrong role), a permanent block for a mistake. An
adoption of rules already in force is likewise refused before signing
(:func:`stale_adoption`), for ``tx submit`` and the web API alike.

Pure: it reads committed state through a :data:`StateReader` (full state keys), such as a
node store's ``get_state`` or a read-only connection's ``state_value``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.contracts.builtin.rules import PREFIX, refusal, version_of
from supplyledger.contracts.runtime import (
    Call,
    Contract,
    Ctx,
    StateReader,
    prepare_call,
    role_refusal,
)
from supplyledger.errors import InvalidState, RevokedKey, UnknownSigner
from supplyledger.ledger.crypto import PublicKey
from supplyledger.ledger.encoding import decode

__all__ = ["participant_for", "registered_as", "stale_adoption"]


def participant_for(read: StateReader, key: PublicKey) -> dict[str, Any]:
    """The record of the active participant whose current key is ``key``. Raises
    UnknownSigner (no participant registered this key) or RevokedKey (the participant is
    revoked, or rotated to another key since)."""
    raw = read(f"identity/k/{key.fingerprint}")  # kept after a rotation: names the owner
    if raw is None:
        raise UnknownSigner(f"key {key.did} is not registered on this ledger")
    did = str(decode(raw))
    found = read(f"identity/{participant_key(did)}")
    if found is None:
        raise UnknownSigner(f"unknown signer {did}")
    p: dict[str, Any] = decode(found)
    if p["status"] != "active":
        raise RevokedKey(f"signer {did} is {p['status']}")
    if PublicKey.from_b64(p["key"]).spki != key.spki:
        raise RevokedKey(f"signer {did} no longer uses this key (it was rotated)")
    return p


def _version(read: StateReader, contract: str) -> int:
    raw = read(PREFIX + contract)
    return 1 if raw is None else version_of(PREFIX + contract, raw)


def stale_adoption(read: StateReader, contracts: Mapping[str, Contract], contract: str,
                   method: str, args: Mapping[str, Any]) -> InvalidState | None:
    """Why ``rules.adopt(args)`` would fail on the committed state: rules only move forward,
    so adopting the version in force, or an older one, is ``invalid_state``. The contract's
    own body decides, run over ``read`` with its writes dropped. None for any other call, or
    for arguments refused otherwise (the schema; a contract or version this code lacks,
    which the node refuses unrecorded: :func:`~supplyledger.contracts.builtin.rules.refusal`)."""
    if (contract, method) != ("rules", "adopt") or "rules" not in contracts:
        return None
    value, refused = prepare_call(contracts, contract, method, dict(args))
    if refused is not None or refusal(contracts, Call("", "", contract, method, 0, "", b"",
                                                      value)) is not None:
        return None
    ctx = Ctx(contract="rules", signer="", roles=frozenset(), org=None, time=0, tx_id="",
              read=read, version=_version(read, "rules"))
    try:
        contracts["rules"].methods["adopt"].fn(ctx, value)
    except InvalidState as exc:
        return exc
    return None


def registered_as(read: StateReader, key: PublicKey, contracts: Mapping[str, Contract],
                  contract: str, method: str, args: Mapping[str, Any] | None = None) -> str:
    """The id of the participant ``key`` signs for (:func:`participant_for`), provided it
    holds a role ``contract.method`` admits, as the identity rules in force decide (else
    RoleDenied), and, given the call's ``args``, the call is no adoption of rules already in
    force (else InvalidState). ``contract.method`` must exist in ``contracts``."""
    p = participant_for(read, key)

    def identity() -> int:
        return _version(read, "identity")

    refused = role_refusal(contract, contracts[contract].methods[method],
                           frozenset(p["roles"]), identity)
    if refused is not None:
        raise refused
    stale = None if args is None else stale_adoption(read, contracts, contract, method, args)
    if stale is not None:
        raise stale
    return str(p["did"])
