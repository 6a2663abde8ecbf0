"""Storage: the only place with SQL. ``SQLiteStore`` is the embedded implementation."""

from supplyledger.store.records import BlockRecord, TxRow
from supplyledger.store.sqlite import SQLiteStore

__all__ = ["BlockRecord", "SQLiteStore", "TxRow"]
