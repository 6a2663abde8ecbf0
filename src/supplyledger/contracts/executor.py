"""Deterministic block execution, shared by the node and the audit.

Given ordered, signature-checked transactions and the state before them, produce the
receipts, the sorted write set, the events and the projection operations. Admission rules
that depend on state (signer registered and active, signed with its current key) are
re-checked here, in order, so a key revoked earlier in the same block stops later txs.
Each call runs under the rules version of its contract in force at that point (state key
``rules/v/<contract>``, 1 when absent), so a ``rules.adopt`` earlier in a block applies to
the calls after it; identity's version in force also decides what machine keys may sign
(``runtime.role_refusal``), for every contract's calls. A method's admission check
(``Method.admission``: stateless, given the call's own signed time, but new rules from
some version on) rejects a call before it runs, under the version in force at that point,
like an unknown signer: no receipt, and the audit finds such a call in a stored block
inadmissible.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.contracts.builtin.rules import PREFIX, version_of
from supplyledger.contracts.builtin.rules import refusal as rules_refusal
from supplyledger.contracts.projection import EventMeta, Op
from supplyledger.contracts.runtime import Call, Contract, StateReader, execute_call
from supplyledger.errors import RevokedKey, SupplyLedgerError, UnknownSigner
from supplyledger.ledger.crypto import PublicKey
from supplyledger.ledger.encoding import canonical, decode

__all__ = ["BlockResult", "Executor", "Participant", "project_events"]

_MISSING = object()


@dataclass(frozen=True, slots=True)
class Participant:
    did: str
    roles: frozenset[str]
    org: str | None
    active: bool
    key: PublicKey


@dataclass(slots=True)
class BlockResult:
    included: list[Call] = field(default_factory=list)
    receipts: list[bytes] = field(default_factory=list)
    oks: list[bool] = field(default_factory=list)
    rejected: list[tuple[Call, SupplyLedgerError]] = field(default_factory=list)
    writes: list[tuple[str, bytes | None]] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    # (call, contract, version) where this code lacks the rules: adoptions of them (refused,
    # no receipt) and calls under them (a ``rules_unsupported`` receipt). The audit stops.
    unsupported: list[tuple[Call, str, int]] = field(default_factory=list)


def _rules_in_force(contract: str, read: StateReader) -> int:
    """The rules version of ``contract`` that the ledger's state says is in force."""
    raw = read(PREFIX + contract)
    return 1 if raw is None else version_of(PREFIX + contract, raw)


def project_events(contracts: Mapping[str, Contract], events: Sequence[Any],
                   meta: EventMeta) -> list[Op]:
    ops: list[Op] = []
    for etype, data in events:
        c = contracts.get(etype.split(".", 1)[0])
        fn = c.projectors.get(etype) if c else None
        if fn is not None:
            ops.extend(fn(data, meta))
    return ops


class Executor:
    """Holds executed state above the store (``cache``) so the next block can run while the
    previous one is still being written.

    With ``max_cache`` set, the cache is trimmed once it grows past that many keys: values
    the store already holds are dropped and read again on demand, while values written by
    blocks not yet committed (see :meth:`committed`) always stay. The node's store is its
    database; the audit's is its scratch database, where it writes re-executed state down
    in batches (``node/audit_work.py``). Without ``max_cache`` the cache grows with the
    state (unit tests)."""

    def __init__(self, contracts: Mapping[str, Contract], read_store: StateReader, *,
                 max_cache: int | None = None,
                 read_many: Callable[[list[str]], Mapping[str, bytes]] | None = None) -> None:
        self.contracts = contracts
        self._read_store = read_store
        self._read_many = read_many
        self.cache: dict[str, bytes | None] = {}
        self._participants: dict[str, Participant | None] = {}
        self._versions: dict[str, int] = {}  # contract -> rules in force, as executed
        self._max_cache = max_cache
        self._written_at: dict[str, int] = {}  # key -> height of its latest write
        self._durable = -1  # highest height the store has committed
        self.project = True  # False: leave projection to whoever commits the block

    def committed(self, height: int) -> None:
        """The store has durably committed blocks up to ``height`` (any thread)."""
        self._durable = height  # a single int store: atomic under the GIL

    def _trim(self) -> None:
        durable = self._durable
        pending = {k: h for k, h in self._written_at.items() if h > durable}
        self.cache = {k: self.cache[k] for k in pending}
        self._written_at = pending

    def read(self, key: str) -> bytes | None:
        v = self.cache.get(key, _MISSING)
        if v is _MISSING:
            v = self._read_store(key)
            self.cache[key] = v
        return v  # type: ignore[return-value]

    def prefetch(self, txs: Sequence[Call]) -> None:
        """Fill the cache with what ``txs`` declare they will read (their methods' ``reads``
        hints), in batched store reads. Same values read() would fetch one at a time:
        keys already cached (executed, possibly uncommitted) are never fetched."""
        if self._read_many is None:
            return
        cache, wanted = self.cache, dict[str, None]()
        for tx in txs:
            c = self.contracts.get(tx.contract)
            m = c.methods.get(tx.method) if c is not None else None
            if m is not None and m.reads is not None and tx.error is None:
                try:
                    wanted.update(dict.fromkeys(m.reads(tx.value)))
                except Exception:  # a hint must never stop a block
                    continue
        missing = [k for k in wanted if k not in cache]
        if missing:
            found = self._read_many(missing)
            cache.update((k, found.get(k)) for k in missing)

    def participant(self, did: str, read: StateReader | None = None) -> Participant | None:
        if read is None:
            p = self._participants.get(did, _MISSING)
            if p is not _MISSING:
                return p  # type: ignore[return-value]
        raw = (read or self.read)(f"identity/{participant_key(did)}")
        if raw is None:
            part = None
        else:
            rec = decode(raw)
            part = Participant(did, frozenset(rec["roles"]), rec.get("org"),
                               rec["status"] == "active", PublicKey.from_b64(rec["key"]))
        if read is None:
            self._participants[did] = part
        return part

    def peek_participant(self, did: str) -> Participant | None:
        """Participant as executed so far, for other threads: reads without filling the
        caches, so a slow read can never write back a value a newer block replaced."""
        key = f"identity/{participant_key(did)}"
        raw = self.cache.get(key, _MISSING)
        if raw is _MISSING:
            raw = self._read_store(key)
        if raw is None:
            return None
        rec = decode(raw)  # type: ignore[arg-type]
        return Participant(did, frozenset(rec["roles"]), rec.get("org"),
                           rec["status"] == "active", PublicKey.from_b64(rec["key"]))

    def seed(self, writes: Mapping[str, bytes | None]) -> None:
        """Apply writes that did not come from a transaction (genesis)."""
        self.cache.update(writes)
        self._participants.clear()
        self._versions.clear()

    def execute(self, txs: Sequence[Call], *, height: int,
                key_ok: Callable[[Call, PublicKey], bool] | None = None) -> BlockResult:
        """Execute ``txs`` in order. ``key_ok(tx, current_key)`` is asked with the signer's
        key as of that transaction: the node answers whether the signature was verified
        with that key; the audit schedules the verification and answers True."""
        block: dict[str, bytes | None] = {}
        res = BlockResult()
        self.prefetch(txs)
        cache = self.cache  # (replaced only by _trim, after the block)

        def read(key: str) -> bytes | None:
            # This block's writes, then the cache; the store only for keys in neither.
            v = block.get(key, _MISSING)
            if v is _MISSING:
                v = cache.get(key, _MISSING)
                if v is _MISSING:
                    return self.read(key)
            return v  # type: ignore[return-value]

        dirty: set[str] = set()
        contracts, versions, project = self.contracts, self._versions, self.project
        for tx in txs:
            signer = tx.signer
            part = self.participant(signer, read) if signer in dirty else self.participant(signer)
            if part is None:
                res.rejected.append((tx, UnknownSigner(f"unknown signer {signer}")))
                continue
            if not part.active:
                res.rejected.append((tx, RevokedKey(f"signer {signer} is revoked")))
                continue
            if key_ok is not None and not key_ok(tx, part.key):
                res.rejected.append((tx, RevokedKey(
                    f"signer {signer} no longer uses the key that signed this transaction")))
                continue
            refused = rules_refusal(contracts, tx)
            if refused is not None:  # what this code lacks must not decide a receipt
                res.rejected.append((tx, refused))
                res.unsupported.append((tx, tx.value["contract"], tx.value["version"]))
                continue
            c = contracts.get(tx.contract)
            version = versions.get(tx.contract)
            if version is None:
                version = _rules_in_force(tx.contract, read)
                if c is not None:  # not per unknown name: senders choose those freely
                    versions[tx.contract] = version
            if c is not None and version not in c.versions:
                res.unsupported.append((tx, tx.contract, version))
            elif c is not None and tx.error is None:
                m = c.methods.get(tx.method)
                bad = None if m is None or m.admit is None else m.admission(
                    signer, tx.value, version, tx.time)
                if bad is not None:
                    res.rejected.append((tx, bad))
                    continue
            identity = versions.get("identity")
            if identity is None:  # (cached like the others; an adoption drops it below)
                identity = versions["identity"] = _rules_in_force("identity", read)
            out = execute_call(contracts, tx, roles=part.roles, org=part.org, read=read,
                               version=version, identity=identity)
            index = len(res.included)
            res.included.append(tx)
            res.receipts.append(out.receipt)
            res.oks.append(out.ok)
            if out.writes:
                block.update(out.writes)
                for k in out.writes:
                    if k.startswith("identity/p/"):
                        dirty.add(k[11:])
                    elif k.startswith(PREFIX):
                        versions.pop(k[len(PREFIX):], None)
            if out.events and project:
                meta = EventMeta(tx.tx_id, height, index, signer, tx.time, tx.value)
                res.ops.extend(project_events(contracts, out.events, meta))
        res.writes = sorted(block.items())
        self.cache.update(block)
        if self._max_cache is not None:
            self._written_at.update(dict.fromkeys(block, height))
            if len(self.cache) > self._max_cache:
                self._trim()
        for did in dirty:
            self._participants.pop(did, None)
        return res


def genesis_receipt_events(writes: Mapping[str, Any]) -> list[list[Any]]:
    """Events that project the genesis identities like registered ones."""
    events: list[list[Any]] = []
    for k in sorted(writes):
        v = writes[k]
        if k.startswith("identity/o/"):
            events.append(["identity.org_registered", v])
        elif k.startswith("identity/p/"):
            key = PublicKey.from_b64(v["key"])
            events.append(["identity.member_registered", {
                "did": v["did"], "name": v["name"], "org": v["org"], "roles": v["roles"],
                "fingerprint": key.fingerprint}])
        elif k.startswith(PREFIX):
            events.append(["rules.adopted", {"contract": k[len(PREFIX):],
                                             "version": v, "previous": 1}])
    return events


def encode_writes(writes: Mapping[str, Any]) -> dict[str, bytes | None]:
    return {k: canonical(v) for k, v in writes.items()}
