"""Genesis: block 0, made from a document rather than a transaction (nobody exists yet to
sign one). It registers the consortium's organisations, its admins and the node keys that
sign blocks; the identity state it seeds is committed by block 0's state root. A new
ledger starts under the newest rules of each contract: the document's ``rules`` names every
contract whose newest rules are past v1 (``rules.adopt`` moves them on later)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from supplyledger.contracts.builtin.identity import genesis_writes
from supplyledger.contracts.builtin.rules import PREFIX
from supplyledger.contracts.executor import encode_writes, genesis_receipt_events
from supplyledger.contracts.projection import EventMeta, Op
from supplyledger.contracts.runtime import Contract, unsupported
from supplyledger.errors import UnknownContract, ValidationError
from supplyledger.ledger import block as blk
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.encoding import canonical
from supplyledger.store.records import BlockRecord, TxRow

__all__ = ["GENESIS_SIGNER", "build_genesis", "genesis_document"]

GENESIS_SIGNER = "genesis"


def genesis_document(*, chain: str, time_ms: int, orgs: list[dict[str, Any]],
                     admins: list[dict[str, Any]],
                     contracts: Mapping[str, Contract] | None = None) -> dict[str, Any]:
    doc = {"chain": chain, "time": time_ms, "orgs": orgs, "admins": admins}
    rules = {n: c.versions[-1] for n, c in sorted((contracts or {}).items())
             if c.versions[-1] > 1}
    if rules:  # absent while every contract is at v1, as in ledgers made before versions
        doc["rules"] = rules
    return doc


def _rules_writes(doc: dict[str, Any], contracts: Mapping[str, Contract]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rules = doc.get("rules", {})
    if not isinstance(rules, dict):
        raise ValidationError("genesis rules must map contract names to versions")
    for name, version in rules.items():
        if type(version) is not int or version < 1:  # bool is an int too: not a version
            raise ValidationError(f"genesis rules of {name!r}: {version!r} is not a version")
        c = contracts.get(name)
        if c is None:
            raise UnknownContract(f"genesis names rules of an unknown contract {name!r}")
        if version not in c.versions:
            raise unsupported(c, version)
        out[PREFIX + name] = version
    return out


def build_genesis(doc: dict[str, Any], node_key: PrivateKey,
                  contracts: Mapping[str, Contract]) -> tuple[
                      BlockRecord, list[tuple[str, bytes | None]], list[Op]]:
    from supplyledger.contracts.executor import project_events

    raw = canonical(doc)
    tx_id = hashlib.sha256(raw).hexdigest()
    writes = genesis_writes(doc["admins"], doc["orgs"], doc["time"])
    writes.update(_rules_writes(doc, contracts))
    encoded = sorted(encode_writes(writes).items())
    events = genesis_receipt_events(writes)
    receipt = blk.receipt_bytes({"tx": tx_id, "ok": True, "result": None, "events": events})
    header = blk.Header(
        chain=doc["chain"], height=0, prev=blk.GENESIS_PREV, time=doc["time"],
        tx_root=blk.tx_root([raw]), receipts_root=blk.receipts_root([receipt]),
        state_root=blk.state_root(blk.GENESIS_PREV, encoded), tx_count=1,
        proposer=node_key.did,
    )
    signed = blk.SignedHeader.sign(header, node_key)
    row = TxRow(tx_id, 0, raw, GENESIS_SIGNER, "genesis", "init", True, receipt)
    rec = BlockRecord(0, header.hash, header.encode(), signed.signature, doc["time"], (row,))
    ops = project_events(contracts, events, EventMeta(tx_id, 0, 0, GENESIS_SIGNER, doc["time"],
                                                      {}))
    return rec, encoded, ops
