"""Projection operations reach SQLite batched per table, with the result of applying them
one at a time in their order."""

from __future__ import annotations

import random
import sqlite3

import pytest

from supplyledger.contracts.projection import Delete, Op, Table, Update, Upsert
from supplyledger.store.sqlite import apply_ops

TABLES = {t.name: t for t in (
    Table("a", (("k", "TEXT"), ("v", "INTEGER"), ("w", "TEXT")), ("k",)),
    Table("b", (("k", "TEXT"), ("n", "INTEGER"), ("v", "INTEGER")), ("k", "n")),
)}


def _random_ops(rng: random.Random, n: int) -> list[Op]:
    ops: list[Op] = []
    for _ in range(n):
        table = rng.choice("ab")
        key = (rng.choice("xyz"),) if table == "a" else (rng.choice("xy"), rng.randrange(3))
        kind = rng.random()
        if kind < 0.5:
            row = (*key, rng.randrange(100), "w") if table == "a" else (*key, rng.randrange(100))
            ops.append(Upsert(table, row))
        elif kind < 0.8:
            ops.append(Update(table, key, (("v", rng.randrange(100)),)))
        else:
            ops.append(Delete(table, key))
    return ops


def _one_by_one(conn: sqlite3.Connection, ops: list[Op]) -> None:
    for op in ops:
        apply_ops(conn, TABLES, [op])


def _contents(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES}


@pytest.mark.parametrize("seed", range(40))
def test_grouped_by_table_equals_applying_each_in_order(seed: int) -> None:
    ops = _random_ops(random.Random(seed), 60)
    results = []
    for apply in (apply_ops, None):
        conn = sqlite3.connect(":memory:")
        for stmt in (s for t in TABLES.values() for s in t.ddl()):
            conn.execute(stmt)
        if apply is None:
            _one_by_one(conn, ops)
        else:
            apply(conn, TABLES, ops)
        results.append(_contents(conn))
    assert results[0] == results[1]
    assert any(results[0].values())


def test_each_table_is_written_in_one_run() -> None:
    ops: list[Op] = []
    for i in range(50):  # interleaved as a block's transactions interleave them
        ops += [Upsert("a", (f"k{i}", i, "w")), Upsert("b", (f"k{i}", 0, i))]
    conn = sqlite3.connect(":memory:")
    for stmt in (s for t in TABLES.values() for s in t.ddl()):
        conn.execute(stmt)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    apply_ops(conn, TABLES, ops)
    # One trace per row: the tables' rows are not interleaved, so each is one executemany.
    tables = [s.split()[4] for s in statements if s.startswith("INSERT")]
    assert tables == ["a"] * 50 + ["b"] * 50
