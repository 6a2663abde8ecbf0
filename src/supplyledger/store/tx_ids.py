"""Finding committed transactions by id.

A transaction id is the SHA-256 of its envelope in hex, so ids arrive in random order. An
index over whole ids (64 characters an entry) gave each new transaction a leaf page of its
own: a block of a thousand transactions rewrote nearly as many 4 KB pages of that index,
into the WAL and again at the checkpoint, about a third of what a commit wrote
(docs/performance.md, commerce, "Session 29"). Since migration 5 the ``txs`` table indexes
the ids' first 12 hex digits (48 bits) instead: a third of the entry size, so a block
shares each page of the index among more of its transactions. Ids may share a prefix, so
every look-up compares the whole id too. Uniqueness rests on the node's duplicate checks
(store/readonly.committed_ids and the node's memory of recent ids), and the audit names an
id stored twice (``duplicate_tx``).
"""

from __future__ import annotations

__all__ = ["PREFIX", "key", "match"]

PREFIX = 12  # hex digits; the index expression of migration 5 (store/migrations.py)


def key(column: str = "id") -> str:
    """The indexed expression over ``column`` (a ``txs.id``), for ``IN`` lists of
    prefixes (``id[:PREFIX]``); the caller then keeps the rows whose whole id it asked
    for."""
    return f"substr({column}, 1, {PREFIX})"


def match(column: str, value: str) -> str:
    """An SQL condition that ``column`` (a ``txs.id``) equals ``value`` (an SQL
    expression: a parameter or a column), written so that SQLite answers it with the
    prefix index: its expression must appear as the index declares it, and the unary
    ``+`` keeps SQLite from propagating a constant ``value`` into it (``substr(?, ...)``
    matches no index, and the table would be scanned)."""
    return f"{key(column)} = {key(value)} AND +{column} = {value}"
