"""EPCIS 2.0 capture into the ledger, and export of what was captured.

Capture is atomic: the document's events travel in one ``trace.record_events`` transaction,
so they land in one block together or not at all (the contract's snapshot/revert), and a
refusal lists the reason per event. Only the document's envelope (type, ``@context``,
schemaVersion, creationDate, header fields) is checked here; its events are validated and
hashed once, by the contract's prepare step in the node's verifier processes, because the
ledger cannot trust the submitter anyway. A document with invalid events is therefore
refused by the ledger: a failed transaction with every per-event reason, and no event
recorded.

Events travel as JSON text so EPCIS numbers (``"quantity": 12.5``) survive exactly — the
canonical encoding admits no floats — and export writes back the events as captured, so
every hash id is unchanged on the way out. A document whose numbers a 64-bit float does not
hold exactly (``1e400``, ``0.10000000000000000001``) is refused rather than captured as
other numbers, and a file larger than a capture can take is refused before it is read.
"""

from __future__ import annotations

import json
import math
import secrets
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from supplyledger.contracts.builtin._trace_facts import subject_id
from supplyledger.contracts.builtin.trace import MAX_EVENTS_TEXT
from supplyledger.epcis import (
    EVENT_TYPES,
    EPCISEvent,
    build_document,
    document_problems,
    validate_document,
)
from supplyledger.epcis._common import BUILTIN_PREFIXES, read_context
from supplyledger.errors import (
    EPCISValidationError,
    NotFound,
    PayloadTooLarge,
    SupplyLedgerError,
    ValidationError,
    error_from_code,
)
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.encoding import RepeatedMember, decode, unique_members
from supplyledger.ledger.tx import envelope_bytes_of, make_tx
from supplyledger.node.receipts import Receipt
from supplyledger.node.service import Node
from supplyledger.node.ticket import Ticket
from supplyledger.store.sqlite import SQLiteStore

__all__ = ["Capture", "capture_args", "capture_document", "capture_documents", "capture_tx",
           "export_document", "load_document", "raw_events"]

T = TypeVar("T")


@dataclass(frozen=True)
class Capture:
    tx: str
    height: int
    events: int
    subjects: int


class _Refused(ValueError):
    """JSON the ledger would read differently from its sender."""


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def _number(text: str) -> float:
    """A JSON number with a fraction or exponent, as the float the ledger keeps, only if
    that float is the number: events travel as JSON text of floats, so 1e400 would be
    captured as null and 0.10000000000000000001 as 0.1, silently, under another hash id."""
    v = float(text)
    if not math.isfinite(v) or Decimal(repr(v)) != Decimal(text):
        kept = repr(v) if math.isfinite(v) else "null"
        raise _Refused(f"the number {text[:40]}{'…' if len(text) > 40 else ''}, which the "
                       f"ledger would keep as {kept} (EPCIS numbers travel as 64-bit "
                       "floats): write "
                       + (kept if kept != "null" else "a number within ±1.8e308"))
    return v


def load_document(source: Path | str | bytes | Any) -> Any:
    """A document read as JSON (EPCISValidationError if it is not JSON, names a member twice
    in one object, holds a number the ledger cannot keep exactly, or nests too deeply to
    read). A file larger than the ledger takes of a document's events is refused before it
    is read (PayloadTooLarge)."""
    if isinstance(source, Path):
        size = source.stat().st_size
        if size > MAX_EVENTS_TEXT:
            raise PayloadTooLarge(f"{source.name} is {size} bytes, over the {MAX_EVENTS_TEXT}"
                                  "-byte limit of a captured document: split it into "
                                  "several documents", size=size, limit=MAX_EVENTS_TEXT)
        source = source.read_bytes()
    if isinstance(source, str | bytes):
        try:
            return json.loads(source, parse_constant=_not_json, parse_float=_number,
                              object_pairs_hook=unique_members)
        except RepeatedMember as exc:  # which of the two counts is not defined
            message = reason = (f"the document holds the member {exc.name[:60]!r} twice in "
                                "one object (which one counts is not defined): name it once")
        except _Refused as exc:
            message = reason = f"the document holds {exc}"
        except RecursionError:
            reason = "arrays or objects nested too deeply to read"
            message = f"the document has {reason}"
        except ValueError as exc:
            message, reason = f"the document is not JSON: {exc}", str(exc)
        raise EPCISValidationError(message, errors=[{"event": None, "reason": reason}])
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


def _envelope_problems(doc: Any) -> list[dict[str, Any]]:
    """Problems of the document itself; a document's events are left to the ledger, which
    checks them anyway (a single standalone event is cheap, so it is checked whole)."""
    if isinstance(doc, list):
        return []
    body = doc.get("epcisBody") if isinstance(doc, dict) else None
    kind = doc.get("type") if isinstance(doc, dict) else None
    # (a "type" that is an array or object is reported below, not hashed into a TypeError)
    if not isinstance(body, dict) or (isinstance(kind, str) and kind in EVENT_TYPES):
        return document_problems(doc)  # not a document, or one standalone event: cheap
    if doc.get("type") == "EPCISQueryDocument":
        results = body.get("queryResults")
        inner = results.get("resultsBody") if isinstance(results, dict) else None
        if (isinstance(results, dict) and isinstance(inner, dict)
                and isinstance(inner.get("eventList"), list)):
            inner = {**inner, "eventList": []}
            body = {**body, "queryResults": {**results, "resultsBody": inner}}
    elif isinstance(body.get("eventList"), list):
        body = {**body, "eventList": []}
    return document_problems({**doc, "epcisBody": body})


def _events_text(events: list[Any]) -> str:
    # The same compact JSON as json.dumps(separators=(",", ":")), several times faster.
    try:
        return msgspec.json.encode(events).decode()
    except (TypeError, ValueError) as exc:
        raise EPCISValidationError(f"the events are not JSON: {exc}",
                                   errors=[{"event": None, "reason": str(exc)}]) from None


def capture_args(doc: Any) -> dict[str, Any]:
    """The ``trace.record_events`` arguments capturing ``doc``, whose envelope is checked
    here (raises EPCISValidationError listing every problem); its events are checked by the
    ledger. Pure: the CLI's import and the REST binding's capture both build on it."""
    problems = _envelope_problems(doc)
    if problems:
        first = problems[0]
        where = "document" if first["event"] is None else f"event {first['event']}"
        raise EPCISValidationError(f"EPCIS {where}: {first['reason']}"
                                   + (f" (and {len(problems) - 1} more)"
                                      if len(problems) > 1 else ""), errors=problems)
    events, namespaces, source = _events_and_terms(doc)
    args: dict[str, Any] = {"events": _events_text(events)}
    if namespaces:
        args["namespaces"] = namespaces
    if source:
        args["source"] = source
    return args


def capture_tx(doc: Any, key: PrivateKey, *, chain: str, time_ms: int,
               signer: str | None = None) -> bytes:
    """Sign the capture transaction of ``doc`` (see :func:`capture_args`)."""
    return make_tx(key, chain=chain, contract="trace", method="record_events",
                   args=capture_args(doc), time_ms=time_ms, nonce=secrets.token_hex(8),
                   signer=signer).raw


def _settled(ticket: Ticket[Receipt], timeout: float) -> Capture:
    receipt = ticket.result(timeout)
    if not receipt.ok:
        err = receipt.error or {}
        raise error_from_code(err.get("code", ""), err.get("message", ""), err.get("details"))
    return Capture(receipt.tx_id, receipt.height, receipt.result["events"],
                   receipt.result["subjects"])


def capture_document(node: Node, doc: Any, key: PrivateKey, *, signer: str | None = None,
                     timeout: float = 600) -> Capture:
    """Capture a document through ``node``; a refused capture raises with per-event errors."""
    raw = capture_tx(doc, key, chain=node.chain, time_ms=node.clock(), signer=signer)
    return _settled(node.submit(raw), timeout)


def capture_documents(node: Node, docs: Iterable[tuple[T, Any]], key: PrivateKey, *,
                      in_flight: int = 3, signer: str | None = None, timeout: float = 600
                      ) -> Iterator[tuple[T, Capture | SupplyLedgerError]]:
    """Capture many documents, each atomically in its own transaction, keeping up to
    ``in_flight`` in the node at once so its verifier processes, executor and commit
    overlap. Yields ``(tag, Capture or the error that refused it)`` in input order; a
    refused document does not stop the others."""
    pending: deque[tuple[T, Ticket[Receipt] | SupplyLedgerError]] = deque()

    def settle() -> tuple[T, Capture | SupplyLedgerError]:
        tag, ticket = pending.popleft()
        if isinstance(ticket, SupplyLedgerError):
            return tag, ticket
        try:
            return tag, _settled(ticket, timeout)
        except SupplyLedgerError as exc:
            return tag, exc

    for tag, doc in docs:
        try:
            raw = capture_tx(doc, key, chain=node.chain, time_ms=node.clock(), signer=signer)
            pending.append((tag, node.submit(raw)))
        except SupplyLedgerError as exc:
            pending.append((tag, exc))
        while len(pending) >= in_flight:
            yield settle()
    while pending:
        yield settle()


def raw_events(store: SQLiteStore, rows: Sequence[tuple[Any, ...]]) -> list[EPCISEvent]:
    """The events of ``trace_events`` rows (all columns, in table order) as captured: each
    read back from the transaction that carries it, so every hash id is unchanged."""
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
    what, arg = (batch, "batch") if batch is not None else (tx or "", "tx")
    if not what.strip():  # (an empty batch was read as none: "no events recorded for None")
        raise ValidationError(f"export needs a {'batch' if arg == 'batch' else 'transaction'}"
                              " id, not an empty one", arg=arg)
    rows = (store.trace_rows([subject_id(what)]) if arg == "batch"
            else store.trace_rows_of_tx(what))
    if not rows:
        raise NotFound(f"no events recorded for {what}")
    doc = build_document(raw_events(store, rows), sender="supplyledger")
    validate_document(doc)
    return doc
