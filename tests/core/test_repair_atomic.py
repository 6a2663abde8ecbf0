"""``supplyledger repair`` is one transaction: the objects it drops (an index, trigger or
view supplyledger did not create) and the tables it writes back commit together or not at
all. They were two: a full disk during the write-back left the trigger and the index
dropped and the tables as edited.

A full disk is stood in for by a file-size limit on a real ``supplyledger repair`` process
(as in tests/core/test_review15_ops.py: the same failed write, without a mount). The limit
must leave room for the audit's scratch file, which is larger than the write-back, so the
repair's writes are made to land past it: a WAL that VACUUM filled, kept from being reset by
a reader holding it, and the limit a little above its end (the drop fits, the write-back
does not).
"""

from __future__ import annotations

import os
import resource
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.test_review16_schema_objects import _objects
from supplyledger.node.audit import run_audit
from supplyledger.node.repair import repair
from supplyledger.store.sqlite import DB_NAME

from .test_audit import Built
from .test_audit import built as built
from .test_repair import _digest

SKIM = ("CREATE TRIGGER skim AFTER INSERT ON state BEGIN "
        "UPDATE state SET value = X'00' WHERE key = NEW.key; END")
# Past the WAL's end: the drop writes a few pages (the schema's), the write-back of the
# query table emptied below some 35 (about 140 KB).
ROOM = 64 << 10


def _tampered(built: Built, tmp_path: Path) -> Path:
    """A copy of the ledger with an added trigger and index, a state row deleted and a
    query table emptied."""
    d = tmp_path / "copy"
    shutil.copytree(built.dir, d)
    conn = sqlite3.connect(d / DB_NAME)
    try:
        for stmt in (SKIM, "CREATE INDEX ix_txs_signer ON txs (signer)",
                     f"DELETE FROM state WHERE key='trace/b/{built.batch}'",
                     "DELETE FROM trace_events"):
            conn.execute(stmt)
        conn.commit()
    finally:
        conn.close()
    return d


def _findings(d: Path) -> list[tuple[str, str | None, Any]]:
    return [(f.kind, f.table, f.row) for f in run_audit(d, workers=0).findings]


@contextmanager
def _wal_held(d: Path) -> Iterator[int]:
    """VACUUM the ledger into its WAL and hold a read transaction on it (the WAL is neither
    reset nor checkpointed away) for as long as the ``with`` block lasts; yields a file-size
    limit ``ROOM`` past the WAL's end."""
    db = d / DB_NAME
    reader = sqlite3.connect(db, isolation_level=None)
    try:
        reader.execute("SELECT 1 FROM sqlite_master").fetchone()  # open: no checkpoint on close
        vacuum = sqlite3.connect(db, isolation_level=None)
        vacuum.execute("VACUUM")  # in WAL mode: every page into the WAL
        vacuum.close()
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM state").fetchone()
        yield (d / f"{DB_NAME}-wal").stat().st_size + ROOM
    finally:
        reader.close()


def _repair(d: Path, limit: int) -> subprocess.CompletedProcess[str]:
    """``supplyledger repair`` in a process of its own, its files limited to ``limit`` bytes
    each (writes past it fail as on a full disk)."""
    return subprocess.run(
        [sys.executable, "-c", "from supplyledger.cli.main import app; app()",
         "repair", "--data", str(d)],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "400"})


def test_a_full_disk_during_the_write_back_leaves_the_dropped_objects_too(
        built: Built, tmp_path: Path) -> None:
    d = _tampered(built, tmp_path)
    with _wal_held(d) as limit:
        before, digest, objects = _findings(d), _digest(d), _objects(d)
        assert {(k, t) for k, t, _ in before} == {
            ("unknown_object", "skim"), ("unknown_object", "ix_txs_signer"),
            ("missing_row", "state"), ("missing_row", "trace_events")}

        res = _repair(d, limit)

    assert res.returncode == 2, res
    assert "nothing changed: disk I/O error [store_error]" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr + res.stdout, res
    # Neither the trigger and the index dropped nor anything written back.
    assert {("trigger", "skim"), ("index", "ix_txs_signer")} <= _objects(d) == objects
    assert _digest(d) == digest and _findings(d) == before

    # With room on the disk, the same repair does all of it.
    rep = repair(d, workers=0)
    assert rep.ok and rep.after is not None and rep.after.ok, rep.to_dict()
    assert sorted(rep.dropped) == ["index ix_txs_signer", "trigger skim"]
    assert rep.restored == ["state", "trace_events"]
    assert _objects(d) == _objects(built.dir)
