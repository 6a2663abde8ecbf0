"""Keyset-paginated listings over a ledger: blocks, transactions, state keys and the rows of
any declared projection table, plus the single-item lookups the same pages link to.

The store layer holds the only SQL (DESIGN.md, "Layers"), so the queries behind the API's and
the web pages' lists live here; ``api/reads.py`` turns what they return into documents.

- **Keyset pagination.** Every list takes ``limit`` and an opaque ``cursor``: base64url JSON
  (no padding) of the last row's sort key. Page k costs the same as page 1 and rows committed
  meanwhile do not shift pages. A cursor that does not decode to a key of the right length
  of strings and integers is rejected, never turned into SQL.
- **Filters** are equalities on named columns. Table names come from the contracts'
  declarations and filter columns must be ones the table declares, so no request text ever
  becomes an identifier in SQL; values are always bound parameters. A filter is typed by
  its column: an INTEGER column takes a whole number (a yes/no flag, stored as 0/1, takes
  1 or 0; ``true`` is refused, not compared as text and matched by nothing), and an empty
  value matches the rows with no value there (NULL, or empty text).
- **Plain values out.** Rows come back as dicts of column values; ledger bytes (block
  headers, transactions, receipts, state values) stay bytes, because decoding them is the
  ledger's format, a layer above this one. The page limits come in as :class:`PageLimits`,
  so this module needs nothing from the API's settings.
- Each query runs on the store's read connection for the calling thread
  (:meth:`SQLiteStore.reader`), so one :class:`Listings` serves every request thread.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from supplyledger.contracts.projection import Table
from supplyledger.errors import NotFound, ValidationError
from supplyledger.store import tx_ids
from supplyledger.store.sqlite import SQLiteStore

__all__ = ["Listings", "Page", "PageLimits", "decode_cursor", "encode_cursor", "sort_key"]

_BAD_CURSOR = "cursor is not one this server issued"
_INTEGER = re.compile(r"-?[0-9]{1,19}")
_NOT_INTEGER = ("column {col} of table {name} holds integers: filter it by a whole number "
                "(a yes/no flag by 1 or 0), or by an empty value for the rows without one")


def sort_key(t: Table, filters: Mapping[str, str] | None) -> tuple[str, ...]:
    """The columns ``t``'s rows are listed by: its primary key, but in a history (a table
    recording each row's block height, keyed by what it is the history of and the
    transaction) whose subject ``filters`` pins, block order, ``(height, tx)``: an order's
    events in primary-key order came in the order of their transactions' hashes. Unique
    either way, since the pinned columns and the last key column are."""
    pk = t.primary_key
    if (len(pk) > 1 and "height" in t.column_names
            and all(c in (filters or {}) for c in pk[:-1])):
        return ("height", pk[-1])
    return pk


@dataclass(frozen=True, slots=True)
class PageLimits:
    """Rows per page when the caller names no limit, and the most it may ask for."""

    default: int = 50
    max: int = 500


@dataclass
class Page:
    items: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> list[Any]:
    """The sort key of ``n`` strings/integers a cursor holds; anything else is rejected."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise ValidationError(_BAD_CURSOR, arg="cursor") from None
    if (not isinstance(key, list) or len(key) != n
            or not all(isinstance(v, str) or (type(v) is int and -2**63 <= v < 2**63)
                       for v in key)):  # SQLite integers are 64-bit
        raise ValidationError(_BAD_CURSOR, arg="cursor")
    return key


def _equality(name: str, t: Table, col: str, v: str) -> tuple[str, list[Any]]:
    """The WHERE term and parameters of filter ``col`` = ``v`` on table ``name``. SQLite
    compares an INTEGER column with text that is no integer as text, never equal: a value
    such as ``true`` or ``abc`` would answer an empty page, as though nothing matched."""
    if v == "":
        # NULL equals nothing, so "no value" gets its own term ('' never equals an integer).
        return f"({col} IS NULL OR {col} = '')", []
    if dict(t.columns)[col].split()[0].upper() != "INTEGER":
        return f"{col}=?", [v]
    if not _INTEGER.fullmatch(v) or not -2**63 <= int(v) < 2**63:  # SQLite's integers
        raise ValidationError(_NOT_INTEGER.format(col=col, name=name), arg=col)
    return f"{col}=?", [int(v)]


def _page(items: list[dict[str, Any]], n: int,
          key: Callable[[dict[str, Any]], list[Any]]) -> Page:
    """``items`` were fetched with LIMIT n + 1: one more than n means another page exists."""
    if len(items) > n:
        return Page(items[:n], encode_cursor(key(items[n - 1])))
    return Page(items, None)


_TX_COLS = "id, height, idx, raw, signer, contract, method, ok, receipt"
# Lists never show the signed bytes: an empty blob keeps the row shape without reading them.
_TX_LIGHT = "id, height, idx, x'', signer, contract, method, ok, receipt"


def _tx_row(row: Sequence[Any]) -> dict[str, Any]:
    tx_id, height, idx, raw, signer, contract, method, ok, receipt = row
    return {"id": tx_id, "height": height, "index": idx, "raw": bytes(raw), "signer": signer,
            "contract": contract, "method": method, "ok": bool(ok), "receipt": bytes(receipt)}


class Listings:
    """The lists and lookups of one ledger. ``tables`` maps each contract's name to the
    projection tables it declares; only those tables can be listed."""

    def __init__(self, store: SQLiteStore, tables: Mapping[str, Iterable[Table]],
                 limits: PageLimits | None = None) -> None:
        self.store = store
        self.limits = limits or PageLimits()
        self.tables: dict[str, tuple[str, Table]] = {
            t.name: (contract, t) for contract, ts in tables.items() for t in ts}

    def limit(self, limit: int | None) -> int:
        if limit is None:
            return self.limits.default
        if not 1 <= limit <= self.limits.max:
            raise ValidationError(f"limit must be 1-{self.limits.max}", arg="limit")
        return limit

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.store.reader().execute(sql, tuple(params)).fetchall()

    # -- blocks ---------------------------------------------------------------------------
    def blocks(self, limit: int | None = None, cursor: str | None = None) -> Page:
        """Newest first; items ``{height, hash, time, header}`` (header: its stored bytes)."""
        n = self.limit(limit)
        where, params = "", []
        if cursor:
            where = " WHERE height < ?"
            params = decode_cursor(cursor, 1)
        rows = self._q(f"SELECT height, hash, header, time FROM blocks{where} "
                       "ORDER BY height DESC LIMIT ?", [*params, n + 1])
        items = [{"height": h, "hash": hash_, "time": t, "header": bytes(header)}
                 for h, hash_, header, t in rows]
        return _page(items, n, lambda it: [it["height"]])

    def block(self, height: int) -> dict[str, Any]:
        """``{height, hash, header, signature, txs}``; the transactions in block order, their
        signed bytes left out (``raw`` is empty)."""
        found = self.store.block(height)
        if found is None:
            raise NotFound(f"no block {height}")
        hash_, header, sig = found
        txs = [_tx_row(r) for r in self._q(
            f"SELECT {_TX_LIGHT} FROM txs WHERE height=? ORDER BY idx", (height,))]
        return {"height": height, "hash": hash_, "header": header, "signature": sig,
                "txs": txs}

    # -- transactions ---------------------------------------------------------------------
    def txs(self, limit: int | None = None, cursor: str | None = None, *,
            signer: str | None = None, contract: str | None = None, method: str | None = None,
            ok: bool | None = None, height: int | None = None) -> Page:
        """Transactions after genesis, newest first, signed bytes left out; items
        ``{id, height, index, raw, signer, contract, method, ok, receipt}``."""
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
        return _page([_tx_row(r) for r in rows], n, lambda it: [it["height"], it["index"]])

    def tx(self, tx_id: str) -> dict[str, Any]:
        """One committed transaction with its signed bytes (same keys as :meth:`txs`)."""
        rows = self._q(f"SELECT {_TX_COLS} FROM txs WHERE {tx_ids.match('id', '?1')}",
                       (tx_id,))
        if not rows:
            raise NotFound(f"no committed transaction {tx_id}")
        if rows[0][1] == 0:
            raise NotFound("block 0 holds the genesis document, not a transaction")
        return _tx_row(rows[0])

    def receipt(self, tx_id: str) -> tuple[int, int, bytes]:
        """(height, index, receipt bytes) of a committed transaction."""
        rows = self._q(
            f"SELECT height, idx, receipt FROM txs WHERE {tx_ids.match('id', '?1')}", (tx_id,))
        if not rows:
            raise NotFound(f"no committed transaction {tx_id}")
        h, i, rec = rows[0]
        return h, i, bytes(rec)

    # -- state ----------------------------------------------------------------------------
    def state_keys(self, prefix: str, limit: int | None = None,
                   cursor: str | None = None) -> Page:
        """State entries whose key starts with ``prefix``, in key order; items
        ``{key, value}`` (value: the stored canonical bytes)."""
        n = self.limit(limit)
        start = decode_cursor(cursor, 1)[0] if cursor else ""
        if not isinstance(start, str):
            raise ValidationError(_BAD_CURSOR, arg="cursor")
        # key >= prefix lets the primary key's index start the scan at the prefix; rows past
        # the prefix's range are dropped below (LIKE would not use the index).
        rows = self._q("SELECT key, value FROM state WHERE key >= ? AND key > ? "
                       "ORDER BY key LIMIT ?", (prefix, start, n + 1))
        items = [{"key": k, "value": bytes(v)} for k, v in rows if k.startswith(prefix)]
        return _page(items, n, lambda it: [it["key"]])

    # -- projection tables ----------------------------------------------------------------
    def table(self, name: str) -> Table:
        if name not in self.tables:
            raise NotFound(f"no projection table {name!r}")
        return self.tables[name][1]

    def rows(self, name: str, limit: int | None = None, cursor: str | None = None,
             filters: Mapping[str, str] | None = None,
             contains: Mapping[str, str] | None = None) -> Page:
        """Rows of any declared projection table in :func:`sort_key` order. ``filters``
        are equalities typed by their columns (an empty value: no value, see the module
        docstring); ``contains`` matches one item of a list column (items separated by
        commas or spaces)."""
        t = self.table(name)
        n = self.limit(limit)
        cols = t.column_names
        where: list[str] = []
        params: list[Any] = []
        for col, v in (filters or {}).items():
            if col not in cols:
                raise ValidationError(f"table {name} has no column {col!r}", arg=col)
            term, bound = _equality(name, t, col, v)
            where.append(term)
            params += bound
        for col, v in (contains or {}).items():
            if col not in cols:
                raise ValidationError(f"table {name} has no column {col!r}", arg=col)
            where.append(f"instr(' ' || replace({col}, ',', ' ') || ' ', ' ' || ? || ' ') > 0")
            params.append(v)
        pk = sort_key(t, filters)
        if cursor:
            where.append(f"({', '.join(pk)}) > ({', '.join('?' * len(pk))})")
            params += decode_cursor(cursor, len(pk))
        rows = self._q(f"SELECT {', '.join(cols)} FROM {name}"
                       + (f" WHERE {' AND '.join(where)}" if where else "")
                       + f" ORDER BY {', '.join(pk)} LIMIT ?", [*params, n + 1])
        items = [dict(zip(cols, r, strict=True)) for r in rows]
        return _page(items, n, lambda it: [it[k] for k in pk])

    def naming(self, name: str, columns: Sequence[str], value: str, newest: str | None,
               limit: int, also: Sequence[tuple[str, str]] = ()
               ) -> tuple[list[dict[str, Any]], int]:
        """The ``limit`` rows of table ``name`` in which any of ``columns`` equals ``value``
        or a column of ``also`` its paired value (a participant's organisation, say) --
        newest first by column ``newest`` (then by primary key, descending) -- and how
        many such rows there are. An inbox: what concerns one participant, latest first."""
        t = self.table(name)
        cols = t.column_names
        for col in (*columns, *(c for c, _ in also), *([newest] if newest else [])):
            if col not in cols:
                raise ValidationError(f"table {name} has no column {col!r}", arg=col)
        if not columns and not also:
            return [], 0
        where = " OR ".join([f"{c}=?" for c in columns] + [f"{c}=?" for c, _ in also])
        params = [value] * len(columns) + [v for _, v in also]
        order = ", ".join(f"{c} DESC" for c in ((newest,) if newest else ()) + t.primary_key)
        rows = self._q(f"SELECT {', '.join(cols)} FROM {name} WHERE {where} ORDER BY {order} "
                       "LIMIT ?", [*params, self.limit(limit)])
        n = self._q(f"SELECT COUNT(*) FROM {name} WHERE {where}", params)[0][0]
        return [dict(zip(cols, r, strict=True)) for r in rows], int(n)

    def count(self, name: str) -> int:
        self.table(name)
        return int(self._q(f"SELECT COUNT(*) FROM {name}")[0][0])
