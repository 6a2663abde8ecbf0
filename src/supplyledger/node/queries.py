"""Trace and recall: pure reads over a ledger directory's store (SQL lives in the store).

``trace`` returns a batch's whole genealogy — upstream through transformations and
aggregations to the raw material, downstream to every derived lot and logistic unit — and
its events in ledger order, each with signer, times, tx id, block height, a verified
inclusion proof and the faults found (see :mod:`supplyledger.node.trace_checks`). The
faulty link is the first event with a fault (a sensor breach recorded against a batch
counts as a fault of the link the batch was in). ``recall`` lists what a problem with a batch
reaches: every downstream lot, logistic unit and shipment, and who holds each lot now. A
logistic unit passes on only what was in it at the time: a reused pallet's later loads are
not downstream of a lot taken off it whole (unpackings are recorded from trace rules v3 on;
on older ledgers a lot stays in a unit from its packing on, which can only say too much).
From trace rules v4 on, an edge or unpacking that only an event declared wrong made (an
EPCIS error declaration withdrew it) is not followed, and both answers list what was skipped
(``withdrawn``: trace in both directions, recall downstream only, the only way it walks);
trace marks the declaration and the event it declares wrong. Edges later events made on top
of a withdrawn one stay. Both paginate; every event and code chain is
checked whatever the page, so a page can still name a fault that happened before it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from supplyledger.contracts.builtin._trace_facts import subject_id
from supplyledger.contracts.builtin._trace_xform import HUB
from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import Contract
from supplyledger.errors import NotFound, SupplyLedgerError, ValidationError
from supplyledger.ledger.encoding import decode
from supplyledger.node.trace_checks import COLUMNS, Checker, Fault, Memo
from supplyledger.store.shipment_rows import shipments_for_batch
from supplyledger.store.sqlite import SQLiteStore

__all__ = ["MAX_PAGE_SIZE", "TraceQueries"]

MAX_PAGE_SIZE = 1000
_UNIT = "https://id.gs1.org/00/"
_LOT = "https://id.gs1.org/01/"


_ALL = (-1, 1 << 62)  # every ledger position (height * 2**20 + transaction index)
Span = tuple[int, int]


def _inside(links: list[int], unpacks: Sequence[int]) -> list[Span]:
    """The position intervals a child was in a parent: from each linking to the next
    unpacking whole (trace rules v3; none on older ledgers: in from its first linking on).
    Within one transaction an unpacking counts as before a linking, so a doubt includes.
    Sorted; neighbours share at most an end."""
    spans: list[Span] = []
    since: int | None = None
    for pos, linked in sorted([(p, 1) for p in links] + [(p, 0) for p in unpacks]):
        if linked and since is None:
            since = pos
        elif not linked and since is not None:
            spans.append((since, pos))
            since = None
    return spans + ([(since, _ALL[1])] if since is not None else [])


class _Spans(NamedTuple):
    """The spans a child was in a parent (see :func:`_inside`) and their ends."""

    spans: list[Span]
    ends: list[int]

    @classmethod
    def of(cls, links: list[int], unpacks: Sequence[int]) -> _Spans:
        spans = _inside(links, unpacks)
        return cls(spans, [t for _, t in spans])


def _meet(wins: list[Span], of: _Spans) -> list[tuple[Span, Span]]:
    """(intersection, span) of each span that sorted disjoint ``wins`` meet. Each window
    finds its first span by bisection, so the cost follows the answer, not the length of
    a reused pallet's history."""
    spans, ends = of
    out: list[tuple[Span, Span]] = []
    for a, b in wins:
        i = bisect_left(ends, a)
        while i < len(spans) and spans[i][0] <= b:
            s, t = spans[i]
            out.append(((max(a, s), min(b, t)), (s, t)))
            i += 1
    return out


def _holds(wins: list[Span], pos: int) -> bool:
    i = bisect_right(wins, (pos, _ALL[1])) - 1
    return i >= 0 and wins[i][1] >= pos


class _Cover:
    """The positions a node was reached for: sorted disjoint intervals."""

    def __init__(self) -> None:
        self.spans: list[Span] = []

    def add(self, a: int, b: int) -> list[Span]:
        """Add [a, b]; returns the parts of it not covered before."""
        iv = self.spans
        i = bisect_right(iv, (a, _ALL[1])) - 1
        if i < 0 or iv[i][1] < a - 1:
            i += 1
        new: list[Span] = []
        cur, lo, hi, j = a, a, b, i
        while j < len(iv) and iv[j][0] <= b + 1:
            s, t = iv[j]
            if s > cur:
                new.append((cur, s - 1))
            cur, lo, hi, j = max(cur, t + 1), min(lo, s), max(hi, t), j + 1
        if cur <= b:
            new.append((cur, b))
        iv[i:j] = [(lo, hi)]
        return new


class _Withdrawn:
    """The edges and unpackings error declarations withdrew (trace rules v4), as one query
    meets them. A transaction's withdrawn items (state ``trace/w/<tx>``) are looked up
    once, and only on a ledger that holds any; what they made is read from the
    transaction's receipt. A link or unpacking that another item of the same transaction
    made as well stays: that event was not declared wrong."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.any = store.get_state("trace/w") is not None
        self.made: dict[str, tuple[set[tuple[str, str]], set[tuple[str, str]]]] = {}
        # what, src, dst, tx skipped, per direction walked (upstream?): recall walks
        # downstream only, and lists only what it skipped there
        self.skipped: dict[bool, dict[tuple[str, str, str, str], None]] = {True: {},
                                                                           False: {}}

    def load(self, txs: Sequence[str]) -> None:
        new = [t for t in dict.fromkeys(txs) if t not in self.made]
        if not new:
            return
        found = self.store.get_states([f"trace/w/{t}" for t in new])
        items = {t: set(decode(found[f"trace/w/{t}"])) for t in new
                 if f"trace/w/{t}" in found}
        stored = self.store.txs_by_id(list(items)) if items else {}
        for t in new:
            tx = stored.get(t)
            self.made[t] = _made(decode(tx[3]), items[t]) if tx else (set(), set())

    def link(self, src: str, dst: str, tx: str, upstream: bool) -> bool:
        return self._gone(0, "link", src, dst, tx, upstream)

    def unpacking(self, child: str, parent: str, tx: str, upstream: bool) -> bool:
        return self._gone(1, "unpacking", child, parent, tx, upstream)

    def _gone(self, i: int, what: str, a: str, b: str, tx: str, upstream: bool) -> bool:
        if (a, b) not in self.made[tx][i]:
            return False
        self.skipped[upstream][(what, a, b, tx)] = None
        return True

    def listed(self, *, upstream: bool = True) -> list[dict[str, str]]:
        """What was skipped, for the answer: {what, src, dst, tx} (an unpacking's src is
        the child taken out, its dst the parent); met walking downstream, and upstream
        too unless ``upstream`` is false (a recall, which never walks up)."""
        met = {**self.skipped[True], **self.skipped[False]} if upstream \
            else self.skipped[False]
        return [{"what": w, "src": a, "dst": b, "tx": t} for w, a, b, t in met]


def _made(receipt: dict[str, Any], items: set[int]) -> tuple[set[tuple[str, str]],
                                                             set[tuple[str, str]]]:
    """(links, unpackings) that only the withdrawn ``items`` of a transaction made, from
    its receipt's ``trace.recorded`` events."""
    gone: tuple[set[tuple[str, str]], set[tuple[str, str]]] = (set(), set())
    kept: tuple[set[tuple[str, str]], set[tuple[str, str]]] = (set(), set())
    for etype, data in receipt.get("events") or ():
        if etype != "trace.recorded":
            continue
        into = gone if data.get("item") in items else kept
        into[0].update((e[0], e[1]) for e in data.get("edges", ()))
        into[1].update((u[0], u[1]) for u in data.get("unpacked", ()))
    return gone[0] - kept[0], gone[1] - kept[1]


class _Near:
    """A node's genealogy edges in one direction, fetched once per query."""

    def __init__(self) -> None:
        self.made: list[tuple[str, int]] = []  # transformation, straight to the other lot
        self.packed: dict[str, _Spans] = {}  # aggregation: when the child was in
        self.joined: dict[str, _Spans] = {}  # to or from a transformation's node: when


def _page(total: int, page: int, size: int) -> tuple[int, int, int]:
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationError(f"page must be >= 1 and page size 1..{MAX_PAGE_SIZE}")
    pages = max(1, -(-total // size))
    return (page - 1) * size, min(total, page * size), pages


class TraceQueries:
    """Queries over one store. Keeps a small cache of block Merkle levels between calls."""

    def __init__(self, store: SQLiteStore, contracts: Mapping[str, Contract] | None = None,
                 *, cache_size: int = 4096) -> None:
        self.store = store
        self.contracts = contracts or load_builtin()
        self._memo = Memo(cache_size)

    def _near(self, ids: list[str], upstream: bool, gone: _Withdrawn) -> dict[str, _Near]:
        near = {n: _Near() for n in ids}
        links: dict[tuple[str, str, bool], list[int]] = {}
        edges = self.store.trace_links(ids, upstream=upstream)
        outs = self.store.trace_unpacked(ids, upstream=upstream)
        if gone.any:  # (rules v4) what error declarations withdrew is not followed
            gone.load([r[3] for r in edges] + [r[2] for r in outs])
            edges = [r for r in edges if not gone.link(r[0], r[1], r[3], upstream)]
            outs = [r for r in outs if not gone.unpacking(r[0], r[1], r[2], upstream)]
        for src, dst, kind, _, pos in edges:
            here, other = (dst, src) if upstream else (src, dst)
            if kind == "aggregation" or HUB in (src[:len(HUB)], dst[:len(HUB)]):
                links.setdefault((here, other, kind == "aggregation"), []).append(pos)
            else:
                near[here].made.append((other, pos))
        unpacked: dict[tuple[str, str], list[int]] = {}
        for child, parent, _, pos in outs:
            pair = (parent, child) if upstream else (child, parent)
            unpacked.setdefault(pair, []).append(pos)
        for (here, other, packed), at in links.items():
            spans = _Spans.of(at, unpacked.get((here, other), ()))
            (near[here].packed if packed else near[here].joined)[other] = spans
        return near

    def _closure(self, start: str, *, upstream: bool, gone: _Withdrawn) -> list[str]:
        """Every id reachable from ``start`` (nearest first). A parent (a pallet, a case) is
        followed only while the child was in it: from a lot downstream, a pallet's
        transformation counts if it happened between the lot's packing and its unpacking;
        upstream from what a pallet was milled into, only what was on it then. Each id is
        reached with the ledger positions (windows) it matters for; a transformation's node
        (its parts joined, trace rules v3) joins an input and an output named while both
        were in it, and is passed through, never listed. Each node's edges are read once
        and each window is worked on once, so the cost grows with the answer and the
        edges, not with their product."""
        cover: dict[str, _Cover] = {start: _Cover()}
        cover[start].add(*_ALL)
        out: list[str] = []
        frontier: dict[str, list[Span]] = {start: [_ALL]}
        near: dict[str, _Near] = {}
        first: set[str] = set()  # nodes whose window-free steps were taken
        nxt: dict[str, list[Span]] = {}

        def step(other: str, a: int, b: int) -> None:
            c = cover.get(other)
            if c is None:
                c = cover[other] = _Cover()
                if not other.startswith(HUB):
                    out.append(other)
            new = c.add(a, b)
            if new:  # only what is new is worked on
                nxt.setdefault(other, []).extend(new)

        while frontier:
            near.update(self._near([n for n in frontier if n not in near], upstream, gone))
            for here, wins in frontier.items():
                wins.sort()
                e, hub = near[here], here.startswith(HUB)
                for other, spans in e.packed.items():
                    for (a, b), _ in _meet(wins, spans):
                        step(other, a, b)
                if upstream:
                    if here not in first:  # what made it, whatever the window
                        first.add(here)
                        for other, pos in e.made:
                            step(other, pos, pos)
                        for other, spans in ({} if hub else e.joined).items():
                            for a, b in spans.spans:
                                step(other, a, b)
                    for other, spans in (e.joined if hub else {}).items():
                        for _, (went_in, _end) in _meet(wins, spans):  # an input joined
                            step(other, went_in, went_in)  # then: what was on it then
                    continue
                for other, pos in e.made:
                    if _holds(wins, pos):
                        step(other, *_ALL)
                for other, spans in e.joined.items():
                    if hub:  # an output named while the input was in the transformation
                        if _meet(wins, spans):
                            step(other, *_ALL)
                    else:  # into the transformation, if it held the goods then
                        for a, b in spans.spans:
                            if _holds(wins, a):
                                step(other, a, b)
            frontier, nxt = nxt, {}
        return out

    def genealogy(self, batch: str) -> tuple[str, list[str], list[str]]:
        """(canonical batch id, upstream ids, downstream ids), nearest first."""
        return self._genealogy(batch)[:3]

    def _genealogy(self, batch: str) -> tuple[str, list[str], list[str], _Withdrawn]:
        bid = subject_id(batch)
        gone = _Withdrawn(self.store)
        up = self._closure(bid, upstream=True, gone=gone)
        down = self._closure(bid, upstream=False, gone=gone)
        # (an object whose every link was withdrawn is still known: the answer says so)
        if not up and not down and not any(gone.skipped.values()) \
                and not self.store.trace_rows([bid]) \
                and self.store.get_state(f"custody/h/{bid}") is None:
            raise NotFound(f"no batch or traced object {batch}")
        return bid, up, down, gone

    def trace(self, batch: str, *, page: int = 1, page_size: int = 50) -> dict[str, Any]:
        bid, up, down, gone = self._genealogy(batch)
        nodes = [*reversed(up), bid, *down]
        rows = self.store.trace_rows(nodes)
        txs = self.store.txs_by_id([r[2] for r in rows])
        check = Checker(self.store, self.contracts, self._memo)
        # Chains are recomputed whole, per batch, from the stored transactions.
        recomputed: dict[tuple[str, int], str | None] = {}
        by_batch: dict[str, list[tuple[Any, ...]]] = {}
        for r in rows:
            by_batch.setdefault(r[0], []).append(r)
        chains = []
        for b, rs in by_batch.items():
            codes = check.recompute_chain(rs, txs)
            broken = next((r[1] for r, c in zip(rs, codes, strict=True) if c != r[11]), None)
            head = self.store.get_state(f"trace/b/{b}")
            head_code = decode(head)["code"] if head else None
            if broken is None and codes and codes[-1] != head_code:
                broken = rs[-1][1]
            chains.append({"batch": b, "events": len(rs), "head": head_code, "ok": broken is None,
                           "broken_at": broken})
            recomputed.update({(r[0], r[1]): c for r, c in zip(rs, codes, strict=True)})

        def order(r: tuple[Any, ...]) -> tuple[int, int, int, str, int]:
            tx = txs.get(r[2])
            return (r[4], tx[1] if tx else 1 << 30, r[3], r[0], r[1])

        rows.sort(key=order)
        lo, hi, pages = _page(len(rows), page, page_size)
        # Every event is checked, not only this page's: the verdict and the faulty link
        # are the whole genealogy's, whichever page is shown.
        checked = [self._event(r, txs.get(r[2]), recomputed.get((r[0], r[1])), check)
                   for r in rows]
        declared = {e["hash_id"] for e in checked if e["error_declaration"]}
        for e in checked:  # the event an error declaration says was wrong
            e["declared_wrong"] = not e["error_declaration"] and e["hash_id"] in declared
        events = checked[lo:hi]
        names = self.store.participant_names([e["signer"] for e in events])
        for e in events:
            e["signer_name"], e["signer_org"] = names.get(e["signer"], ("", ""))
        found = [(e["height"], {"batch": e["batch"], "seq": e["seq"], "link": e["link"], **f})
                 for e in checked for f in e["faults"]]
        # Cold-chain breaches take their place among the events by block (sort is stable).
        found += [(b["height"], b) for b in check.breaches(nodes, rows)]
        faulty = [f for _, f in sorted(found, key=lambda hf: hf[0])]
        for c in chains:
            if not c["ok"]:
                faulty.append({"batch": c["batch"], "seq": c["broken_at"], "link": "",
                               "kind": "chain", "reason": f"code chain of {c['batch']} breaks "
                               f"at event {c['broken_at']}"})
        return {"batch": bid, "upstream": up, "downstream": down, "chains": chains,
                "events_total": len(rows), "page": page, "page_size": page_size,
                "pages": pages, "events": events, "faults": faulty,
                "faulty_link": faulty[0] if faulty else None,
                # links and unpackings error declarations withdrew (rules v4), not followed
                "withdrawn": gone.listed(),
                # Shipments that carried the batch, with each order's gCO2e (WTW) share.
                "shipments": shipments_for_batch(self.store.reader(), bid)}

    def _event(self, r: tuple[Any, ...], tx: tuple[int, int, bytes, bytes] | None,
               code: str | None, check: Checker) -> dict[str, Any]:
        e: dict[str, Any] = dict(zip(COLUMNS, r, strict=True))
        e["error_declaration"] = False
        faults: list[Fault] = []
        if tx is None:
            faults.append(Fault("tx_missing", f"transaction {r[2]} is not in the ledger"))
            e.update(proof={"verified": False}, faults=[f.__dict__ for f in faults])
            return e
        height, index, raw, receipt = tx
        try:
            if check.tx_id(r[2], raw) != r[2]:
                faults.append(Fault("tx_hash", "the stored transaction no longer hashes to "
                                    f"its id {r[2][:12]}…"))
        except SupplyLedgerError as exc:
            faults.append(Fault("tx_hash", f"stored transaction unreadable: {exc.message}"))
        proof, pf = check.proof(r[2], height, index, raw, receipt, r[10])
        faults.extend(pf)
        if code != r[11]:
            faults.append(Fault("chain", f"traceability code {r[11][:12]}… is not "
                                f"H(tx id ‖ previous code) over the stored transactions"))
        try:
            env, facts = check.facts(r[2], raw, r[3])
            faults.extend(check.row_faults(r, env, facts, height, index))
            faults.extend(check.reported(r[0], facts))
            e["time"] = env["time"]
            e["error_declaration"] = bool(facts.get("declares"))
        except (SupplyLedgerError, KeyError, IndexError, TypeError) as exc:
            reason = exc.message if isinstance(exc, SupplyLedgerError) else repr(exc)
            faults.append(Fault("tx", f"stored transaction unreadable: {reason}"))
        e.update(index=index, proof=proof, faults=[f.__dict__ for f in faults])
        return e

    def recall(self, batch: str, *, page: int = 1, page_size: int = 50) -> dict[str, Any]:
        """Everything a problem with ``batch`` reaches, and who holds it now."""
        bid, _, down, gone = self._genealogy(batch)
        affected = [bid, *down]
        holdings = self.store.holdings(affected)
        lots_meta = self.store.batch_rows(affected)
        names = self.store.participant_names(
            [h[i] for h in holdings.values() for i in (0, 2)])
        entries: list[dict[str, Any]] = []
        for n in affected:
            if n.startswith(_UNIT):
                entries.append({"kind": "logistic_unit", "id": n})
            elif n in holdings or n.startswith(_LOT):
                h = holdings.get(n)
                meta = lots_meta.get(n, ("", "", "", "", None))
                # remaining: what transformations and packing have not taken (None when
                # the lot declared no quantity)
                entries.append({"kind": "lot", "id": n, "gtin": meta[0], "lot": meta[1],
                                "quantity": meta[2], "uom": meta[3], "remaining": meta[4],
                                "owner": h[0] if h else "", "custodian": h[2] if h else "",
                                "custodian_org": h[3] if h else "",
                                "custodian_name": names.get(h[2], ("", ""))[0] if h else ""})
            else:
                entries.append({"kind": "object", "id": n})
        shipments: dict[str, dict[str, Any]] = {}
        for r in self.store.trace_rows(affected):
            if r[8] == "transport":
                for ref in (r[15].split() or [f"{r[0]}#{r[1]}"]):
                    s = shipments.setdefault(ref, {"kind": "shipment", "id": ref,
                                                   "lots": [], "last_event": ""})
                    if r[0] not in s["lots"]:
                        s["lots"].append(r[0])
                    s["last_event"] = max(s["last_event"], r[9])
        entries.extend(shipments.values())
        lo, hi, pages = _page(len(entries), page, page_size)
        return {"batch": bid, "total": len(entries), "page": page, "page_size": page_size,
                "pages": pages, "withdrawn": gone.listed(upstream=False),
                "counts": {k: sum(1 for e in entries if e["kind"] == k)
                           for k in ("lot", "logistic_unit", "shipment", "object")},
                "affected": entries[lo:hi]}
