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


class EventMeta:
    """Where an event came from: enough for projectors to key and time their rows.
    ``args`` is the call's prepared value (the arguments, unless the method prepares them).
    With ``load_args`` instead, ``args`` is loaded on first use: the commit process projects
    from stored blocks, and few projectors read the arguments."""

    __slots__ = ("_args", "_load", "height", "index", "signer", "time", "tx")

    def __init__(self, tx: str, height: int, index: int, signer: str, time: int, args: Any,
                 load_args: Callable[[], Any] | None = None) -> None:
        self.tx, self.height, self.index, self.signer, self.time = (
            tx, height, index, signer, time)
        self._args, self._load = args, load_args

    @property
    def args(self) -> Any:
        if self._load is not None:
            self._args, self._load = self._load(), None
        return self._args

    def __repr__(self) -> str:
        return (f"EventMeta(tx={self.tx!r}, height={self.height}, index={self.index}, "
                f"signer={self.signer!r}, time={self.time}, args={self.args!r})")


Projector = Callable[[dict[str, Any], EventMeta], list[Op]]
