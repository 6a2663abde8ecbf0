"""EPCIS 2.0 capture into the ledger, and export of what was captured.

Capture is atomic: the document's events travel in one ``trace.record_events`` transaction,
so they land in one block together or not at all (the contract's snapshot/revert), and a
refusal lists the reason per event. The document is validated here first (cheap, and it
keeps invalid documents off the ledger); the contract's prepare step validates again and
computes every event's CBV 2.0 hash id, because the ledger cannot trust the submitter.

Events travel as JSON text so EPCIS numbers (``"quantity": 12.5``) survive exactly — the
canonical encoding admits no floats — and export writes back the events as captured, so
every hash id is unchanged on the way out.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supplyledger.contracts.builtin._trace_facts import subject_id
from supplyledger.epcis import EPCISEvent, build_document, document_problems, validate_document
from supplyledger.epcis._common import BUILTIN_PREFIXES, read_context
from supplyledger.errors import EPCISValidationError, NotFound, error_from_code
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.tx import envelope_bytes_of, make_tx
from supplyledger.node.service import Node
from supplyledger.store.sqlite import SQLiteStore

__all__ = ["Capture", "capture_document", "capture_tx", "export_document", "load_document"]


@dataclass(frozen=True)
class Capture:
    tx: str
    height: int
    events: int
    subjects: int


def load_document(source: Path | str | bytes | Any) -> Any:
    if isinstance(source, Path):
        source = source.read_bytes()
    if isinstance(source, str | bytes):
        try:
            return json.loads(source)
        except ValueError as exc:
            raise EPCISValidationError(f"the document is not JSON: {exc}",
                                       errors=[{"event": None, "reason": str(exc)}]) from None
    return source


def _events_and_terms(doc: Any) -> tuple[list[Any], dict[str, str], str | None]:
    if isinstance(doc, list):
        return doc, {}, None
    if doc.get("type") != "EPCISDocument" and doc.get("type") != "EPCISQueryDocument":
        terms, _ = read_context(doc.get("@context"))
        return [doc], {k: v for k, v in terms.items() if BUILTIN_PREFIXES.get(k) != v}, None
    terms, _ = read_context(doc.get("@context"))
    body = doc["epcisBody"]
    if doc["type"] == "EPCISQueryDocument":
        body = body["queryResults"]["resultsBody"]
    source = doc.get("instanceIdentifier") or doc.get("id")
    return (list(body["eventList"]), {k: v for k, v in terms.items()
                                      if BUILTIN_PREFIXES.get(k) != v},
            str(source)[:500] if source else None)


def capture_tx(doc: Any, key: PrivateKey, *, chain: str, time_ms: int,
               signer: str | None = None) -> bytes:
    """Validate ``doc`` and sign its capture transaction (raises EPCISValidationError
    listing every problem per event)."""
    problems = document_problems(doc)
    if problems:
        first = problems[0]
        where = "document" if first["event"] is None else f"event {first['event']}"
        raise EPCISValidationError(f"EPCIS {where}: {first['reason']}"
                                   + (f" (and {len(problems) - 1} more)"
                                      if len(problems) > 1 else ""), errors=problems)
    events, namespaces, source = _events_and_terms(doc)
    args: dict[str, Any] = {"events": json.dumps(events, ensure_ascii=False,
                                                 separators=(",", ":"))}
    if namespaces:
        args["namespaces"] = namespaces
    if source:
        args["source"] = source
    return make_tx(key, chain=chain, contract="trace", method="record_events", args=args,
                   time_ms=time_ms, nonce=secrets.token_hex(8), signer=signer).raw


def capture_document(node: Node, doc: Any, key: PrivateKey, *, signer: str | None = None,
                     timeout: float = 600) -> Capture:
    """Capture a document through ``node``; a refused capture raises with per-event errors."""
    raw = capture_tx(doc, key, chain=node.chain, time_ms=node.clock(), signer=signer)
    receipt = node.submit(raw).result(timeout)
    if not receipt.ok:
        err = receipt.error or {}
        raise error_from_code(err.get("code", ""), err.get("message", ""), err.get("details"))
    return Capture(receipt.tx_id, receipt.height, receipt.result["events"],
                   receipt.result["subjects"])


def _raw_events(store: SQLiteStore, rows: Sequence[tuple[Any, ...]]) -> list[EPCISEvent]:
    txs = store.txs_by_id([r[2] for r in rows])
    loaded: dict[str, tuple[list[Any], dict[str, str]]] = {}
    out: list[EPCISEvent] = []
    for i, r in enumerate(rows):
        if r[2] not in loaded:
            args = decode(envelope_bytes_of(txs[r[2]][2])[0])["args"]
            if "events" in args:
                loaded[r[2]] = (json.loads(args["events"]), args.get("namespaces", {}))
            else:
                loaded[r[2]] = ([args["event"]], {})
        events, ns = loaded[r[2]]
        out.append(EPCISEvent(i, r[5], r[9], r[12], ns, events[r[3]]))
    return out


def export_document(store: SQLiteStore, *, batch: str | None = None,
                    tx: str | None = None) -> dict[str, Any]:
    """An EPCIS 2.0 document of a batch's events (or of one capture transaction), as they
    were captured; validated before it is returned."""
    if (batch is None) == (tx is None):
        raise ValueError("export needs exactly one of batch or tx")
    rows = store.trace_rows([subject_id(batch)]) if batch else store.trace_rows_of_tx(tx or "")
    if not rows:
        raise NotFound(f"no events recorded for {batch or tx}")
    doc = build_document(_raw_events(store, rows), sender="supplyledger")
    validate_document(doc)
    return doc
