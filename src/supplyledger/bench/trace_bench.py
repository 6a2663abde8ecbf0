"""Traceability benchmark: trace latency in a large ledger, paging a long history, and
EPCIS capture throughput.

The ledger is filled as fast as the node allows: whole EPCIS documents of ``doc_events``
events captured in one transaction each (the import path), about objects that form short
chains. A 50-event genealogy (wheat lots -> flour lots, recorded link by link with
``record_event``) is interleaved with the fill so its events sit in many different blocks,
and one batch receives ``long_events`` events. Trace latency is measured twice: with a
fresh query object each time (cold: every block's Merkle levels are rebuilt from the
store) and with one long-lived query object (warm: what a running API server sees).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supplyledger.bench.consortium import Consortium, Party
from supplyledger.bench.flourmill import gtin, object_event
from supplyledger.bench.workdir import kept, ledger_dir
from supplyledger.epcis.bench import typical_document
from supplyledger.node.epcis_ingest import Capture, capture_document, capture_documents
from supplyledger.node.queries import TraceQueries
from supplyledger.store.sqlite import SQLiteStore

__all__ = ["run_trace_bench"]

Progress = Callable[[str, int, int], None]
_CTX = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


def _doc(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"@context": [_CTX], "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2024-01-01T00:00:00Z", "epcisBody": {"eventList": events}}


def _fill_doc(k: int, n: int, objects: int) -> dict[str, Any]:
    ev = []
    for i in range(n):
        j = k * n + i
        ev.append({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving",
                   "disposition": "in_progress", "eventTimeZoneOffset": "+00:00",
                   "eventTime": f"2024-02-{1 + j % 28:02d}T{j % 24:02d}:{j % 60:02d}:00Z",
                   "epcList": [f"urn:epc:id:sgtin:4012345.011111.{j % objects}"],
                   "readPoint": {"id": f"urn:epc:id:sgln:4012345.00001.{j % 97}"}})
    return _doc(ev)


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))], 2)


def _genealogy(c: Consortium, who: Party, step: int, state: dict[str, Any]) -> None:
    """Event ``step`` of the 50-event genealogy: five wheat lots with four events each, one
    TransformationEvent milling all five into the flour lot, then 29 flour events."""
    wheat, flour = state["wheat"], state["flour"][0]
    t = f"2024-03-01T00:00:{step % 60:02d}Z"
    if step < 20:
        b = wheat[step // 4]
        event = object_event(t, "commissioning" if step % 4 == 0 else "storing", "active", b,
                             action="ADD" if step % 4 == 0 else "OBSERVE")
    elif step == 20:
        b = flour
        event = {"type": "TransformationEvent", "eventTime": t, "eventTimeZoneOffset": "+00:00",
                 "inputQuantityList": [{"epcClass": w, "quantity": 100} for w in wheat],
                 "outputQuantityList": [{"epcClass": flour, "quantity": 400}],
                 "bizStep": "commissioning", "disposition": "active"}
    else:
        b = flour
        event = object_event(t, "shipping" if step % 2 else "receiving", "in_transit", b)
    c.ok(who, "trace", "record_event", {"batch": b, "event": event})


def _import_rates(c: Consortium, who: Party, doc_events: int, docs: int) -> dict[str, Any]:
    """EPCIS capture of typical documents (fresh identifiers each): one document at a time
    (its whole path: envelope check, signing, verification with validation and hashing,
    execution, commit) and a stream of ``docs`` documents with three in flight. One
    document first, untimed, stands for the node having captured before: a running node's
    verifier processes hold the per-process caches of identifier classes, locations and
    vocabulary that a fresh one still has to fill."""
    capture_document(c.node, typical_document(doc_events, seed=999), who.key)
    one = []
    for seed in range(3):
        doc = typical_document(doc_events, seed=1000 + seed)
        t0 = time.perf_counter()
        capture_document(c.node, doc, who.key)
        one.append(doc_events / (time.perf_counter() - t0))
    stream = ((k, typical_document(doc_events, seed=2000 + k)) for k in range(docs))
    t0 = time.perf_counter()
    for k, out in capture_documents(c.node, stream, who.key, in_flight=3):
        if not isinstance(out, Capture):
            raise RuntimeError(f"benchmark document {k} was refused: {out}")
    # Building the documents is inside the timed loop: it stands for reading them.
    stream_eps = docs * doc_events / (time.perf_counter() - t0)
    return {"import_events_per_s": round(stream_eps), "import_docs": docs,
            "import_one_doc_events_per_s": round(statistics.median(one))}


def run_trace_bench(*, total_events: int = 1_000_000, doc_events: int = 5000,
                    long_events: int = 10_000, runs: int = 200, import_docs: int = 8,
                    data_dir: Path | None = None,
                    progress: Progress | None = None) -> dict[str, Any]:
    with ledger_dir(data_dir, "sl-trace-bench-") as work:
        res = _bench(work, total_events=total_events, doc_events=doc_events,
                     long_events=long_events, runs=runs, import_docs=import_docs,
                     say=progress or (lambda stage, done, total: None))
    return res | {"data_dir": kept(data_dir, work)}


def _bench(work: Path, *, total_events: int, doc_events: int, long_events: int, runs: int,
           import_docs: int, say: Progress) -> dict[str, Any]:
    c = Consortium(work, verify_workers=2, max_tx_bytes=64 << 20,
                   time_window_ms=24 * 3_600_000)
    try:
        c.org("mill", ["manufacturer", "warehouse", "transporter"])
        who = c.member("mill", "mill", ["manufacturer", "warehouse", "transporter"])
        wg, fg = gtin("690123400001"), gtin("690123400002")
        c.ok(who, "products", "create_product", {"gtin": wg, "name": "Wheat"})
        c.ok(who, "products", "create_product", {"gtin": fg, "name": "Flour"})
        state = {k: [c.ok(who, "products", "create_batch", {"gtin": g, "lot": f"{k}{i}"})
                     ["batch"] for i in range(5)] for k, g in (("wheat", wg), ("flour", fg))}
        long_batch = c.ok(who, "products", "create_batch", {"gtin": fg, "lot": "LONG"})["batch"]
        imports = _import_rates(c, who, doc_events, import_docs)
        docs = max(1, (total_events - long_events) // doc_events)
        objects = max(1, total_events // 20)
        t0, step, filled = time.perf_counter(), 0, doc_events
        for k in range(docs):
            capture_document(c.node, _fill_doc(k, doc_events, objects), who.key)
            filled += doc_events
            while step < 50 and step * docs <= 50 * (k + 1):
                _genealogy(c, who, step, state)
                step += 1
            say("fill", filled, total_events)
        while step < 50:
            _genealogy(c, who, step, state)
            step += 1
        for k in range(0, long_events, doc_events):
            n = min(doc_events, long_events - k)
            capture_document(c.node, _doc([object_event(
                # one second apart: each is another event (trace rules v2 take one once)
                f"2024-04-{1 + (k + i) // 86400 % 28:02d}T{(k + i) // 3600 % 24:02d}:"
                f"{(k + i) // 60 % 60:02d}:{(k + i) % 60:02d}Z", "storing",
                "active", long_batch, qty=1) for i in range(n)]), who.key)
            filled += n
        fill_eps = filled / (time.perf_counter() - t0)
        height = c.node.height
    finally:
        c.stop()
    store = SQLiteStore(work)
    try:
        target = state["flour"][0]
        cold, warm = [], []
        warm_q = TraceQueries(store)
        size = len(warm_q.trace(target, page_size=1000)["events"])
        for i in range(runs):
            q = TraceQueries(store, warm_q.contracts)
            t = time.perf_counter()
            res = q.trace(target)
            cold.append((time.perf_counter() - t) * 1000)
            assert not res["faults"], res["faults"]
            t = time.perf_counter()
            warm_q.trace(target)
            warm.append((time.perf_counter() - t) * 1000)
            say("trace", i + 1, runs)
        pages = []
        q = TraceQueries(store, warm_q.contracts)
        last = -(-long_events // 50)
        for page in (1, last // 2, last):
            t = time.perf_counter()
            res = q.trace(long_batch, page=page, page_size=50)
            pages.append({"page": page, "ms": round((time.perf_counter() - t) * 1000, 1),
                          "events": len(res["events"]), "faults": len(res["faults"])})
    finally:
        store.close()
    return {"ledger_events": filled + 50, "blocks": height, "fill_events_per_s": round(fill_eps),
            **imports, "genealogy_events": size,
            "trace_cold_ms": {"p50": round(statistics.median(cold), 2), "p99": _pct(cold, 99)},
            "trace_warm_ms": {"p50": round(statistics.median(warm), 2), "p99": _pct(warm, 99)},
            "long_batch_events": long_events, "long_batch_pages": pages}
