"""Paginated, filterable reads for the API and pages.

Every list is keyset-paginated: ``limit`` plus an opaque ``cursor`` (base64url JSON of the
last row's sort key), so page k costs the same as page 1 and rows committed meanwhile do not
shift pages. Filters are equality on named columns; the generic projection reader accepts
only columns its table declares, and table names come from the contracts' declarations,
so no request text ever becomes SQL.

This is the web edge's read model over the store's read connection; it moves into
``store/`` with the store's own query methods once that module grows them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from supplyledger.api.settings import ApiSettings
from supplyledger.contracts.projection import Table
from supplyledger.contracts.runtime import Contract
from supplyledger.errors import NotFound, ValidationError
from supplyledger.ledger.block import Header
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.tx import envelope_bytes_of
from supplyledger.store.sqlite import SQLiteStore

__all__ = ["Page", "Reads", "decode_cursor", "encode_cursor"]


@dataclass
class Page:
    items: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("cursor is not one this server issued", arg="cursor") from None
    if (not isinstance(key, list) or len(key) != n
            or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in key)):
        raise ValidationError("cursor is not one this server issued", arg="cursor")
    return key


def _tx_doc(row: Sequence[Any], *, full: bool) -> dict[str, Any]:
    tx_id, height, idx, raw, signer, contract, method, ok, receipt = row
    doc: dict[str, Any] = {"id": tx_id, "height": height, "index": idx, "signer": signer,
                           "contract": contract, "method": method, "ok": bool(ok)}
    rec = decode(bytes(receipt))
    if not rec.get("ok"):
        doc["error"] = rec.get("error")
    if full:
        env_bytes, sig = envelope_bytes_of(bytes(raw))
        doc["envelope"] = decode(env_bytes)
        doc["signature"] = sig
        doc["receipt"] = rec
    return doc


_TX_COLS = "id, height, idx, raw, signer, contract, method, ok, receipt"
_TX_LIGHT = "id, height, idx, x'', signer, contract, method, ok, receipt"


class Reads:
    def __init__(self, store: SQLiteStore, contracts: Mapping[str, Contract],
                 settings: ApiSettings) -> None:
        self.store = store
        self.settings = settings
        self.tables: dict[str, tuple[str, Table]] = {
            t.name: (name, t) for name, c in contracts.items() for t in c.tables}

    def limit(self, limit: int | None) -> int:
        if limit is None:
            return self.settings.page_default
        if not 1 <= limit <= self.settings.page_max:
            raise ValidationError(f"limit must be 1-{self.settings.page_max}", arg="limit")
        return limit

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.store.reader().execute(sql, tuple(params)).fetchall()

    # -- blocks ---------------------------------------------------------------------------
    def blocks(self, limit: int | None = None, cursor: str | None = None) -> Page:
        n = self.limit(limit)
        where, params = "", []
        if cursor:
            where = " WHERE height < ?"
            params = decode_cursor(cursor, 1)
        rows = self._q(f"SELECT height, hash, header, time FROM blocks{where} "
                       "ORDER BY height DESC LIMIT ?", [*params, n + 1])
        items = []
        for h, hash_, header, t in rows:
            hd = Header.decode(bytes(header))
            items.append({"height": h, "hash": hash_, "time": t, "tx_count": hd.tx_count,
                          "proposer": hd.proposer, "prev": hd.prev})
        return self._page(items, n, lambda it: [it["height"]])

    def block(self, height: int) -> dict[str, Any]:
        found = self.store.block(height)
        if found is None:
            raise NotFound(f"no block {height}")
        hash_, header, sig = found
        txs = [_tx_doc(r, full=False) for r in self._q(
            f"SELECT {_TX_LIGHT} FROM txs WHERE height=? ORDER BY idx", (height,))]
        return {"height": height, "hash": hash_, "header": decode(header),
                "signature": base64.b64encode(sig).decode(), "txs": txs}

    # -- transactions ---------------------------------------------------------------------
    def txs(self, limit: int | None = None, cursor: str | None = None, *,
            signer: str | None = None, contract: str | None = None, method: str | None = None,
            ok: bool | None = None, height: int | None = None) -> Page:
        n = self.limit(limit)
        where, params = ["height > 0"], []
        for col, v in (("signer", signer), ("contract", contract), ("method", method),
                       ("height", height)):
            if v is not None:
                where.append(f"{col}=?")
                params.append(v)
        if ok is not None:
            where.append("ok=?")
            params.append(int(ok))
        if cursor:
            h, i = decode_cursor(cursor, 2)
            where.append("(height < ? OR (height = ? AND idx < ?))")
            params += [h, h, i]
        rows = self._q(f"SELECT {_TX_LIGHT} FROM txs WHERE {' AND '.join(where)} "
                       "ORDER BY height DESC, idx DESC LIMIT ?", [*params, n + 1])
        return self._page([_tx_doc(r, full=False) for r in rows], n,
                          lambda it: [it["height"], it["index"]])

    def tx(self, tx_id: str) -> dict[str, Any]:
        rows = self._q(f"SELECT {_TX_COLS} FROM txs WHERE id=?", (tx_id,))
        if not rows:
            raise NotFound(f"no committed transaction {tx_id}")
        if rows[0][1] == 0:
            raise NotFound("block 0 holds the genesis document, not a transaction")
        return _tx_doc(rows[0], full=True)

    def receipt(self, tx_id: str) -> dict[str, Any]:
        rows = self._q("SELECT height, idx, receipt FROM txs WHERE id=?", (tx_id,))
        if not rows:
            raise NotFound(f"no committed transaction {tx_id}")
        h, i, rec = rows[0]
        return {"tx": tx_id, "height": h, "index": i, **decode(bytes(rec))}

    # -- state ----------------------------------------------------------------------------
    def state(self, key: str) -> dict[str, Any]:
        raw = self.store.get_state(key)
        if raw is None:
            raise NotFound(f"no state under {key!r}")
        return {"key": key, "value": decode(raw)}

    def state_keys(self, prefix: str, limit: int | None = None,
                   cursor: str | None = None) -> Page:
        n = self.limit(limit)
        start = decode_cursor(cursor, 1)[0] if cursor else ""
        if not isinstance(start, str):
            raise ValidationError("cursor is not one this server issued", arg="cursor")
        rows = self._q("SELECT key, value FROM state WHERE key >= ? AND key > ? "
                       "ORDER BY key LIMIT ?", (prefix, start, n + 1))
        items = [{"key": k, "value": decode(bytes(v))} for k, v in rows if k.startswith(prefix)]
        return self._page(items, n, lambda it: [it["key"]])

    # -- projection tables ----------------------------------------------------------------
    def table(self, name: str) -> Table:
        if name not in self.tables:
            raise NotFound(f"no projection table {name!r}")
        return self.tables[name][1]

    def rows(self, name: str, limit: int | None = None, cursor: str | None = None,
             filters: Mapping[str, str] | None = None,
             contains: Mapping[str, str] | None = None) -> Page:
        """Rows of any declared projection table in primary-key order. ``filters`` are
        equalities; ``contains`` matches one item of a list column (items separated by
        commas or spaces)."""
        t = self.table(name)
        n = self.limit(limit)
        cols = t.column_names
        where, params = [], []
        for col, v in (filters or {}).items():
            if col not in cols:
                raise ValidationError(f"table {name} has no column {col!r}", arg=col)
            where.append(f"{col}=?")
            params.append(v)
        for col, v in (contains or {}).items():
            if col not in cols:
                raise ValidationError(f"table {name} has no column {col!r}", arg=col)
            where.append(f"instr(' ' || replace({col}, ',', ' ') || ' ', ' ' || ? || ' ') > 0")
            params.append(v)
        pk = t.primary_key
        if cursor:
            where.append(f"({', '.join(pk)}) > ({', '.join('?' * len(pk))})")
            params += decode_cursor(cursor, len(pk))
        rows = self._q(f"SELECT {', '.join(cols)} FROM {name}"
                       + (f" WHERE {' AND '.join(where)}" if where else "")
                       + f" ORDER BY {', '.join(pk)} LIMIT ?", [*params, n + 1])
        items = [dict(zip(cols, r, strict=True)) for r in rows]
        return self._page(items, n, lambda it: [it[k] for k in pk])

    def recent_batches(self, n: int = 20) -> list[dict[str, Any]]:
        if "trace_events" not in self.tables:
            return []
        return [{"batch": b, "events": c, "height": h} for b, c, h in self._q(
            "SELECT batch, COUNT(*), MAX(height) h FROM trace_events GROUP BY batch "
            "ORDER BY h DESC LIMIT ?", (n,))]

    def count(self, name: str) -> int:
        self.table(name)
        return int(self._q(f"SELECT COUNT(*) FROM {name}")[0][0])

    @staticmethod
    def _page(items: list[dict[str, Any]], n: int, key: Any) -> Page:
        if len(items) > n:
            return Page(items[:n], encode_cursor(key(items[n - 1])))
        return Page(items, None)
