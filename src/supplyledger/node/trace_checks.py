"""Verifying trace events against the ledger, independently of the query tables.

For each event the checks are the ones a sceptical auditor would make, using only what is
signed or committed: the stored transaction still hashes to its id; its inclusion proof
(tx -> Merkle root -> proposer-signed header, and its receipt -> receipts root) verifies;
the block is the one its successor links to; the signer's signature verifies; the code
chain recomputed from the stored transactions matches; and the projection row equals the
row the contract's own prepare step derives from the transaction. An event can also report
a problem itself: a failed inspection, a bad disposition, a sensor alarm, or a reading
outside the product type's limits. A breach of a cold-chain rule that the sensors contract
recorded against a batch is a fault of the link the batch was in at the time, worded as it
stands for that batch (:func:`for_batch`).

Proofs are built per block from one read of the block (leaf hashes and Merkle levels are
kept in a small LRU), because a genealogy touches many blocks and each proof would
otherwise rehash the whole block.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from supplyledger.contracts.builtin._sensors_model import breach_key, breaches_key
from supplyledger.contracts.builtin._sensors_rules import breach_reason
from supplyledger.contracts.builtin._trace_facts import decode_events, facts_of_events
from supplyledger.contracts.builtin.trace import ZERO, chain_code, event_row
from supplyledger.contracts.projection import EventMeta
from supplyledger.contracts.runtime import Contract, prepare_call
from supplyledger.errors import ProofError, SupplyLedgerError
from supplyledger.ledger import merkle
from supplyledger.ledger.block import Header
from supplyledger.ledger.crypto import PublicKey, b64e
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.proofs import FORMAT, verify_proof
from supplyledger.ledger.tx import envelope_bytes_of
from supplyledger.store.sqlite import SQLiteStore
from supplyledger.store.views import breach_ends

__all__ = ["COLUMNS", "Checker", "Fault", "Memo", "RowFault", "for_batch", "tx_id_of"]

COLUMNS = ("batch", "seq", "tx", "item", "height", "type", "biz_step", "disposition", "link",
           "event_time", "signer", "code", "hash_id", "verdict", "location", "refs")
_CODE = COLUMNS.index("code")


@dataclass(frozen=True)
class Fault:
    kind: str  # tx_hash, proof, signature, block_link, chain, row, inspection, sensor, …
    reason: str


@dataclass(frozen=True)
class RowFault(Fault):
    """A projection row that differs from the one the ledger derives: ``ledger`` holds the
    ledger's value of each column that differs, so a page can show those, not the row's."""

    ledger: dict[str, Any]


@dataclass
class _Block:
    raw: tuple[bytes, bytes]  # header bytes and signature as stored when cached
    header: dict[str, Any]
    header_hash: str
    signature: str
    proposer_key: str
    levels: list[list[bytes]]
    receipt_levels: list[list[bytes]]


# Temperatures convert (UN/ECE Rec. 20 codes), exactly, through degrees Celsius.
_TO_CEL: dict[str, tuple[Decimal, Decimal]] = {  # unit -> (scale, offset): C = v*scale + offset
    "CEL": (Decimal(1), Decimal(0)), "KEL": (Decimal(1), Decimal("-273.15")),
    "FAH": (Decimal(5) / Decimal(9), Decimal(-160) / Decimal(9)),
}


def _unit(lim: dict[str, Any], uom: str | None) -> str:
    """The limit's unit as a suffix, so a reading in FAH is not read against "30" alone."""
    unit = lim.get("uom") or uom
    return f" {unit}" if unit else ""


def _in_unit(value: Decimal, uom: str | None, target: str | None) -> Decimal | None:
    """``value`` in ``uom`` expressed in the limit's unit ``target``; None if they differ
    and do not convert (a reading that cannot be checked against a declared limit)."""
    if not uom or not target or uom == target:
        return value
    if uom not in _TO_CEL or target not in _TO_CEL:
        return None
    scale, offset = _TO_CEL[uom]
    t_scale, t_offset = _TO_CEL[target]
    return (value * scale + offset - t_offset) / t_scale


class Memo:
    """What verification may keep between queries, each entry keyed by the exact bytes it
    was derived from (so an edit to the store is never answered from the cache): Merkle
    levels per block (checked against the stored header on every use), proof verdicts per
    (tx bytes, receipt bytes, header, signature, keys) and event facts per (tx bytes, item).
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.blocks: OrderedDict[int, _Block] = OrderedDict()
        self.verdicts: OrderedDict[tuple[Any, ...], tuple[dict[str, Any], list[Fault]]] = (
            OrderedDict())
        self.facts: OrderedDict[tuple[bytes, int], tuple[dict[str, Any], dict[str, Any]]] = (
            OrderedDict())

    def put(self, table: OrderedDict[Any, Any], key: Any, value: Any, size: int) -> None:
        table[key] = value
        while len(table) > size:
            table.popitem(last=False)


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    levels = [leaves]
    while len(levels[-1]) > 1:
        lv = levels[-1]
        nxt = [merkle.node_hash(lv[i], lv[i + 1]) for i in range(0, len(lv) - 1, 2)]
        if len(lv) % 2:
            nxt.append(lv[-1])
        levels.append(nxt)
    return levels


def _path(levels: list[list[bytes]], index: int) -> list[str]:
    out: list[str] = []
    i = index
    for lv in levels[:-1]:
        if i ^ 1 < len(lv):
            out.append(lv[i ^ 1].hex())
        i //= 2
    return out


def for_batch(br: dict[str, Any], marks: dict[str, Any], row_end: int | None
              ) -> dict[str, Any]:
    """Breach record ``br`` as it stands for one batch it marks, to word it.

    Sensors rules v4 keep excursions per batch, so the batches one breach marks may part:
    the record goes on until the last of them ends. Whether it still goes on for this batch
    is the batch's committed marks' (``open``); when it ended there is its own
    ``sensor_breaches`` row's (``row_end``), else the record's end (or its last
    out-of-range reading). Marks without ``open`` leave the record as it is."""
    still = marks.get("open")
    if still is None:
        return br
    if br["id"] in still:
        return {**br, "ended": None}
    ended = next((t for t in (row_end, br["ended"]) if t is not None), br["seen"])
    return {**br, "ended": ended}


def tx_id_of(raw: bytes) -> str:
    return hashlib.sha256(envelope_bytes_of(raw)[0]).hexdigest()


class Checker:
    """Verification state for one query, over a :class:`Memo` that outlives it."""

    def __init__(self, store: SQLiteStore, contracts: Mapping[str, Contract],
                 memo: Memo) -> None:
        self.store = store
        self.contracts = contracts
        self.memo = memo
        self._keys: dict[str, PublicKey | None] = {}
        self._prepared: dict[str, Any] = {}
        self._limits: dict[str, dict[str, Any]] = {}
        self._proofs: dict[str, tuple[dict[str, Any], list[Fault]]] = {}
        self._digests: dict[str, bytes] = {}

    # -- keys, blocks, proofs -------------------------------------------------------------
    def key_of(self, did: str) -> PublicKey | None:
        if did not in self._keys:
            raw = self.store.get_state(f"identity/p/{did}")
            self._keys[did] = None if raw is None else PublicKey.from_b64(decode(raw)["key"])
        return self._keys[did]

    def tx_id(self, stored_id: str, raw: bytes) -> str:
        """The id the stored bytes hash to (once per transaction per query)."""
        key = "id:" + stored_id
        if key not in self._digests:
            self._digests[key] = tx_id_of(raw).encode()
        return self._digests[key].decode()

    def digest(self, tx_id: str, raw: bytes) -> bytes:
        if tx_id not in self._digests:
            self._digests[tx_id] = hashlib.sha256(raw).digest()
        return self._digests[tx_id]

    def block(self, height: int) -> tuple[_Block, bool]:
        """The block's proof material, and whether its successor links to it."""
        found = self.store.block(height)
        if found is None:
            raise ProofError(f"block {height} is missing")
        _, header_bytes, sig = found
        header = Header.decode(header_bytes)
        nxt = self.store.block(height + 1)
        successor_ok = nxt is None or Header.decode(nxt[1]).prev == header.hash
        b = self.memo.blocks.get(height)
        if b is not None and b.raw == (header_bytes, sig):
            self.memo.blocks.move_to_end(height)
            return b, successor_ok
        txs = self.store.block_txs(height)
        proposer = self.key_of(header.proposer)
        b = _Block((header_bytes, sig), decode(header_bytes), header.hash, b64e(sig),
                   proposer.b64 if proposer else "", _levels([merkle.leaf_hash(t[2]) for t in txs]),
                   _levels([merkle.leaf_hash(t[3]) for t in txs]))
        self.memo.put(self.memo.blocks, height, b, 256)
        return b, successor_ok

    def proof(self, tx_id: str, height: int, index: int, raw: bytes, receipt: bytes,
              signer: str) -> tuple[dict[str, Any], list[Fault]]:
        """A stored tx's inclusion proof, verified, and what verifying it found (once per
        transaction: the events of one capture share it)."""
        if tx_id not in self._proofs:
            self._proofs[tx_id] = self._proof(tx_id, height, index, raw, receipt, signer)
        return self._proofs[tx_id]

    def _proof(self, tx_id: str, height: int, index: int, raw: bytes, receipt: bytes,
               signer: str) -> tuple[dict[str, Any], list[Fault]]:
        try:
            b, successor_ok = self.block(height)
            key = self.key_of(signer)
            link = [] if successor_ok else [Fault("block_link", f"block {height} is not the "
                                                  "block its successor links to (rewritten)")]
            memo_key = (self.digest(tx_id, raw), hashlib.sha256(receipt).digest(),
                        b.header_hash, b.signature, b.proposer_key, index,
                        key.b64 if key else None)
            hit = self.memo.verdicts.get(memo_key)
            if hit is not None:
                return {**hit[0], "verified": not (hit[1] or link)}, hit[1] + link
            path = _path(b.levels, index)
            doc = {"format": FORMAT,
                   "tx": {"id": tx_id_of(raw), "index": index, "raw": raw.decode("utf-8"),
                          "path": path, "signer_key": key.b64 if key else None},
                   "receipt": {"raw": receipt.decode("utf-8"),
                               "path": _path(b.receipt_levels, index)},
                   "block": {"header": b.header, "signature": b.signature,
                             "proposer_key": b.proposer_key}}
            check = verify_proof(doc)
            faults = [] if check.signer_verified else [
                Fault("signature", f"signer {signer} has no registered key")]
            summary = {"verified": not faults, "block": b.header_hash, "height": height,
                       "index": index, "path_length": len(path)}
            self.memo.put(self.memo.verdicts, memo_key, (summary, faults), self.memo.size)
            return {**summary, "verified": not (faults or link)}, faults + link
        except (SupplyLedgerError, UnicodeDecodeError, IndexError) as exc:
            reason = exc.message if isinstance(exc, SupplyLedgerError) else str(exc)
            return ({"verified": False, "height": height, "index": index},
                    [Fault("proof", f"inclusion proof does not verify: {reason}")])

    # -- chain and rows --------------------------------------------------------------------
    @staticmethod
    def recompute_chain(rows: Sequence[tuple[Any, ...]],
                        txs: Mapping[str, tuple[int, int, bytes, bytes]]) -> list[str | None]:
        """Codes recomputed from stored transactions (None where a tx cannot be read)."""
        out: list[str | None] = []
        code: str | None = ZERO
        ids: dict[str, str | None] = {}  # a capture tx carries thousands of events
        for r in rows:
            if r[2] not in ids:
                tx = txs.get(r[2])
                try:
                    ids[r[2]] = None if tx is None else tx_id_of(tx[2])
                except SupplyLedgerError:
                    ids[r[2]] = None
            tid = ids[r[2]]
            code = None if tid is None or code is None else chain_code(tid, code)
            out.append(code)
        return out

    def facts(self, tx_id: str, raw: bytes, item: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """(envelope, facts of event ``item``) as the contract's prepare step derives them,
        with ``declares``: whether the event is an error declaration."""
        memo_key = (self.digest(tx_id, raw), item)
        hit = self.memo.facts.get(memo_key)
        if hit is not None:
            return hit
        found = self._facts(tx_id, raw, item)
        self.memo.put(self.memo.facts, memo_key, found, self.memo.size * 4)
        return found

    def _facts(self, tx_id: str, raw: bytes, item: int) -> tuple[dict[str, Any], dict[str, Any]]:
        if tx_id not in self._prepared:
            env = decode(envelope_bytes_of(raw)[0])
            args = env["args"]
            if env["contract"] == "trace" and env["method"] == "record_events":
                # Only the events asked for are re-derived (facts are per event), so a
                # page of a 5,000-event capture does not re-validate all of it.
                args = {**args, "events": decode_events(args["events"])}
            self._prepared[tx_id] = (env, args)
        env, args = self._prepared[tx_id]
        if isinstance(args.get("events"), list):
            raw_event = args["events"][item]
            try:
                one = facts_of_events([raw_event], args.get("namespaces"))
            except SupplyLedgerError as exc:
                raise ProofError(f"stored event no longer prepares: {exc.message}") from None
            # (as the contract's facts say it: the trace shows an error declaration)
            return env, one[0] | {"declares": "errorDeclaration" in raw_event}
        value, err = prepare_call(self.contracts, env["contract"], env["method"], args)
        if err is not None:
            raise ProofError(f"stored transaction no longer prepares: {err['message']}")
        return env, value["items"][item]

    def row_faults(self, row: tuple[Any, ...], env: dict[str, Any], facts: dict[str, Any],
                   height: int, index: int) -> list[Fault]:
        meta = EventMeta(row[2], height, index, env["signer"], env["time"], None)
        want = event_row(row[0], row[1], row[_CODE], row[3], facts, meta)
        differ = [(c, got, exp) for c, got, exp in zip(COLUMNS, row, want, strict=True)
                  if got != exp]
        if not differ:
            return []
        diffs = [f"{c} {got!r} (ledger: {exp!r})" for c, got, exp in differ]
        return [RowFault("row", "stored data disagrees with the ledger: " + "; ".join(diffs),
                         {c: exp for c, _, exp in differ})]

    def reported(self, batch: str, facts: dict[str, Any]) -> list[Fault]:
        """Problems the event itself reports (from the ledger's copy, not the table)."""
        out: list[Fault] = []
        verdict = facts["verdict"]
        if verdict:
            kind = ("sensor" if verdict.startswith("sensor") else
                    "inspection" if verdict.startswith("inspection") else "disposition")
            out.append(Fault(kind, verdict))
        for kind, value, uom in facts["readings"]:
            lim = self.limits(batch).get(kind)
            if not lim:
                continue
            try:
                v = _in_unit(Decimal(value), uom, lim.get("uom"))
                if v is None:
                    out.append(Fault("sensor", f"{kind} {value} {uom} cannot be compared with "
                                     f"the limits in {lim['uom']}"))
                elif "max" in lim and v > Decimal(lim["max"]):
                    out.append(Fault("sensor", f"{kind} {value} {uom} above the limit "
                                     f"{lim['max']}{_unit(lim, uom)}"))
                elif "min" in lim and v < Decimal(lim["min"]):
                    out.append(Fault("sensor", f"{kind} {value} {uom} below the limit "
                                     f"{lim['min']}{_unit(lim, uom)}"))
            except InvalidOperation:
                continue
        return out

    def breaches(self, batches: Sequence[str],
                 rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
        """Sensor breaches that mark ``batches``, from the sensors contract's committed
        state (not its tables: only the time a breach ended for a batch is its row's), each
        as a fault of the link the batch was in when the breach was recorded: its last trace
        event at or before that block (else transport for a shipment or container logger,
        storage for one on the batch itself)."""
        out: list[dict[str, Any]] = []
        for batch in batches:
            marks = decode(self.store.get_state(f"sensors/{breaches_key(batch)}") or b"null")
            # The first breach, then the latest ones (the list keeps only the last 32).
            ids = dict.fromkeys([marks["first"], *marks["ids"]]) if marks else {}
            ends = breach_ends(self.store.reader(), batch) if ids else {}
            for bid in ids:
                raw = self.store.get_state(f"sensors/{breach_key(bid)}")
                tx = self.store.txs_by_id([decode(raw)["tx"]]) if raw else {}
                if raw is None or not tx:
                    continue
                br = decode(raw)
                height, index, tx_raw, receipt = tx[br["tx"]]
                before = [r for r in rows if r[0] == batch and r[4] <= height]
                link = before[-1][8] if before else (
                    "storage" if br.get("on") == "batch" else "transport")
                proof, _ = self.proof(br["tx"], height, index, tx_raw, receipt, br["device"])
                out.append({"batch": batch, "seq": before[-1][1] if before else 0,
                            "link": link, "kind": "sensor",
                            "reason": breach_reason(for_batch(br, marks, ends.get(bid))),
                            "breach": bid, "tx": br["tx"], "height": height,
                            "verified": proof["verified"]})
        return out

    def limits(self, batch: str) -> dict[str, Any]:
        """Sensor limits of the batch's product type (empty when none are declared)."""
        gtin = batch[22:36] if batch.startswith("https://id.gs1.org/01/") else ""
        if gtin not in self._limits:
            raw = self.store.get_state(f"products/t/{gtin}") if gtin else None
            self._limits[gtin] = {} if raw is None else decode(raw).get("limits", {})
        return self._limits[gtin]
