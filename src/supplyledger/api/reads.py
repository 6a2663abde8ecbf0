"""The API's and the pages' read documents: what :mod:`supplyledger.store.listings` returns,
with the ledger's bytes decoded into JSON-ready documents.

The SQL, the keyset pagination (cursors, :class:`Page`) and the column checks live in the
store (DESIGN.md, "Layers": store holds the only SQL); the store hands back raw ledger bytes
because decoding headers, signed envelopes and receipts is the ledger's format, a layer
above it. What stays here is the shape the REST API promises: decoded headers and
envelopes, base64 signatures, a failed call's error next to its transaction. Projection
rows need no decoding and pass straight through.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from supplyledger.api.settings import ApiSettings
from supplyledger.contracts.projection import Table
from supplyledger.contracts.runtime import Contract
from supplyledger.errors import NotFound, ValidationError
from supplyledger.ledger.block import Header
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.tx import envelope_bytes_of
from supplyledger.store.listings import Listings, Page, PageLimits, decode_cursor, sort_key
from supplyledger.store.sqlite import SQLiteStore

__all__ = ["BAD_CURSOR", "Reads", "typed_cursor"]

BAD_CURSOR = "cursor is not one this server issued"  # the store's words for a forged one
_SQL_TYPES: dict[str, type] = {"INTEGER": int, "TEXT": str}


def typed_cursor(cursor: str | None, *kinds: type | None) -> None:
    """Refuse (422) a cursor whose sort key is not of ``kinds`` (heights are integers,
    names text; None takes either). The store checks a cursor's shape and compares what it
    holds, and SQLite orders every integer before every text: an edited cursor (``["a"]``
    for a height) would answer the first page again, and a client following it loop."""
    if cursor:
        key = decode_cursor(cursor, len(kinds))
        if any(kind is not None and type(v) is not kind
               for v, kind in zip(key, kinds, strict=True)):
            raise ValidationError(BAD_CURSOR, arg="cursor")


def _tx_doc(row: Mapping[str, Any], *, full: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": row["id"], "height": row["height"], "index": row["index"],
                           "signer": row["signer"], "contract": row["contract"],
                           "method": row["method"], "ok": row["ok"]}
    rec = decode(row["receipt"])
    if not rec.get("ok"):
        doc["error"] = rec.get("error")
    if full:
        env_bytes, sig = envelope_bytes_of(row["raw"])
        doc["envelope"] = decode(env_bytes)
        doc["signature"] = sig
        doc["receipt"] = rec
    return doc


class Reads:
    def __init__(self, store: SQLiteStore, contracts: Mapping[str, Contract],
                 settings: ApiSettings) -> None:
        self.store = store
        self.listings = Listings(store, {name: c.tables for name, c in contracts.items()},
                                 PageLimits(settings.page_default, settings.page_max))
        # Declared projection tables by name: (contract, table).
        self.tables: dict[str, tuple[str, Table]] = self.listings.tables

    # -- blocks ---------------------------------------------------------------------------
    def blocks(self, limit: int | None = None, cursor: str | None = None) -> Page:
        typed_cursor(cursor, int)  # a height
        page = self.listings.blocks(limit, cursor)
        items = []
        for it in page.items:
            hd = Header.decode(it["header"])
            items.append({"height": it["height"], "hash": it["hash"], "time": it["time"],
                          "tx_count": hd.tx_count, "proposer": hd.proposer, "prev": hd.prev})
        return Page(items, page.next_cursor)

    def block(self, height: int) -> dict[str, Any]:
        b = self.listings.block(height)
        return {"height": height, "hash": b["hash"], "header": decode(b["header"]),
                "signature": base64.b64encode(b["signature"]).decode(),
                "txs": [_tx_doc(r, full=False) for r in b["txs"]]}

    # -- transactions ---------------------------------------------------------------------
    def txs(self, limit: int | None = None, cursor: str | None = None, *,
            signer: str | None = None, contract: str | None = None, method: str | None = None,
            ok: bool | None = None, height: int | None = None) -> Page:
        typed_cursor(cursor, int, int)  # a height and an index in its block
        page = self.listings.txs(limit, cursor, signer=signer, contract=contract,
                                 method=method, ok=ok, height=height)
        return Page([_tx_doc(r, full=False) for r in page.items], page.next_cursor)

    def tx(self, tx_id: str) -> dict[str, Any]:
        return _tx_doc(self.listings.tx(tx_id), full=True)

    def receipt(self, tx_id: str) -> dict[str, Any]:
        h, i, rec = self.listings.receipt(tx_id)
        return {"tx": tx_id, "height": h, "index": i, **decode(rec)}

    # -- state ----------------------------------------------------------------------------
    def state(self, key: str) -> dict[str, Any]:
        raw = self.store.get_state(key)
        if raw is None:
            raise NotFound(f"no state under {key!r}")
        return {"key": key, "value": decode(raw)}

    def state_keys(self, prefix: str, limit: int | None = None,
                   cursor: str | None = None) -> Page:
        page = self.listings.state_keys(prefix, limit, cursor)
        return Page([{"key": it["key"], "value": decode(it["value"])} for it in page.items],
                    page.next_cursor)

    # -- projection tables: plain values already ------------------------------------------
    def table(self, name: str) -> Table:
        return self.listings.table(name)

    def rows(self, name: str, limit: int | None = None, cursor: str | None = None,
             filters: Mapping[str, str] | None = None,
             contains: Mapping[str, str] | None = None) -> Page:
        t = self.table(name)
        types = dict(t.columns)
        typed_cursor(cursor, *(_SQL_TYPES.get(types[k].split()[0].upper())
                               for k in sort_key(t, filters)))
        return self.listings.rows(name, limit, cursor, filters, contains)

    def naming(self, name: str, columns: Sequence[str], value: str, newest: str | None,
               limit: int, also: Sequence[tuple[str, str]] = ()
               ) -> tuple[list[dict[str, Any]], int]:
        return self.listings.naming(name, columns, value, newest, limit, also)

    def count(self, name: str) -> int:
        return self.listings.count(name)
