"""Reading a ledger's database from outside the node's writer: read-only connections for
the commands that report without a running node (``kpi``, ``emissions report``,
``dispatch``), and the two committed facts the verifier processes and the audit look up
(whether transaction ids are already in a block, a state value).

SQLite's ``mode=ro`` means such a reader can never write, and under WAL it reads beside a
node that is writing. The node's own readers come from ``SQLiteStore.reader()`` instead.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from supplyledger.errors import NotFound
from supplyledger.store import tx_ids as tx_ids_
from supplyledger.store.sqlite import DB_NAME

__all__ = ["committed_ids", "open_file_readonly", "open_readonly", "prefixed_state",
           "state_value", "table_names"]

_IDS_PER_QUERY = 500  # well under SQLite's limit on bound parameters


def open_readonly(data_dir: Path) -> sqlite3.Connection:
    """A read-only connection to a ledger directory's database; NotFound without one."""
    path = Path(data_dir) / DB_NAME
    if not path.exists():
        raise NotFound(f"no ledger in {data_dir}")
    return open_file_readonly(path)


def open_file_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to the database file ``path`` (usable from any thread)."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


def committed_ids(conn: sqlite3.Connection, tx_ids: list[str]) -> set[str]:
    """Which of ``tx_ids`` are already in a block."""
    found: set[str] = set()
    want = set(tx_ids)
    for i in range(0, len(tx_ids), _IDS_PER_QUERY):
        part = [t[:tx_ids_.PREFIX] for t in tx_ids[i:i + _IDS_PER_QUERY]]
        found.update(r[0] for r in conn.execute(
            f"SELECT id FROM txs WHERE {tx_ids_.key()} IN ({','.join('?' * len(part))})",
            part) if r[0] in want)
    return found


def state_value(conn: sqlite3.Connection, key: str) -> bytes | None:
    """The committed value under a full state key (``contract/key``), or None."""
    row = conn.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
    return None if row is None else bytes(row[0])


def prefixed_state(conn: sqlite3.Connection, prefix: str) -> dict[str, bytes]:
    """Every committed state entry whose key starts with ``prefix`` (a small family of
    keys, such as the contracts' rules versions): key -> stored bytes."""
    # key >= prefix lets the primary key's index start the scan at the prefix.
    rows = conn.execute("SELECT key, value FROM state WHERE key >= ? ORDER BY key", (prefix,))
    out: dict[str, bytes] = {}
    for k, v in rows:
        if not k.startswith(prefix):
            break
        out[k] = bytes(v)
    return out


def table_names(conn: sqlite3.Connection) -> list[str]:
    """Every table in the file but SQLite's own, by name (a ledger may predate some
    contracts' projection tables; its readers look before they query)."""
    return [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]
