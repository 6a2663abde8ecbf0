"""Projection tables: query tables derived from receipts' events, droppable and rebuildable.

A contract declares its tables and, per event type it emits, a projector that turns the event
(and the transaction that caused it) into row operations. Projectors are pure, so the audit
can rebuild every table from blocks and compare it row by row with what is stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["Delete", "EventMeta", "Op", "Projector", "Table", "Update", "Upsert"]


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    def ddl(self) -> list[str]:
        cols = ", ".join(f"{c} {t}" for c, t in self.columns)
        pk = ", ".join(self.primary_key)
        stmts = [f"CREATE TABLE IF NOT EXISTS {self.name} ({cols}, PRIMARY KEY ({pk}))"]
        for idx in self.indexes:
            stmts.append(
                f"CREATE INDEX IF NOT EXISTS ix_{self.name}_{'_'.join(idx)} "
                f"ON {self.name} ({', '.join(idx)})"
            )
        return stmts

    @property
    def schema_hash(self) -> str:
        return hashlib.sha256("\n".join(self.ddl()).encode()).hexdigest()[:16]


# Row operations are named tuples: immutable, and made several times faster than frozen
# dataclasses (one or more per event on the node's busiest thread). Tell them apart by
# type, never by equality: as tuples, Upsert("t", k) == Delete("t", k).
class Upsert(NamedTuple):
    table: str
    row: tuple[Any, ...]


class Update(NamedTuple):
    table: str
    key: tuple[Any, ...]
    values: tuple[tuple[str, Any], ...]


class Delete(NamedTuple):
    table: str
    key: tuple[Any, ...]


Op = Upsert | Update | Delete


@dataclass(slots=True)  # not frozen: made per event on the node's busiest thread
class EventMeta:
    """Where an event came from: enough for projectors to key and time their rows.
    ``args`` is the call's prepared value (the arguments, unless the method prepares them)."""

    tx: str
    height: int
    index: int
    signer: str
    time: int
    args: Any


Projector = Callable[[dict[str, Any], EventMeta], list[Op]]
