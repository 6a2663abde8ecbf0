"""Paper 002 Table 2, measured: an insider edits stored events of each supply-chain link,
in a plain database ("traditional") and in the ledger; what does each system's own query
fail to notice?

The flour-mill chain is recorded once in both systems. Each attempt starts from a pristine
copy, changes the stored data of the link's event as an insider with write access to the
database would, and runs the system's query for the batch:

* traditional — one table of events; the query returns the rows. It has nothing to check
  against, so a forgery is undetected when the query shows the forged value unflagged.
* ledger — the trace query (:mod:`supplyledger.node.queries`). Attempts rotate through four
  insider strategies of growing effort: edit the query table row; edit the stored
  transaction; edit it and re-hash its id everywhere; and additionally recompute the
  traceability codes and chain head so the code chain looks whole again. An attempt is
  undetected when the query reports no fault; located when its first fault names the
  tampered link.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supplyledger.bench.consortium import Consortium
from supplyledger.bench.flourmill import LINKS, build_flour_mill
from supplyledger.contracts.builtin.trace import ZERO, chain_code
from supplyledger.ledger.encoding import canonical, decode
from supplyledger.ledger.tx import envelope_bytes_of
from supplyledger.node.queries import TraceQueries
from supplyledger.store.sqlite import DB_NAME, SQLiteStore

__all__ = ["PAPER_NOTE", "PAPER_TABLE_2", "STRATEGIES", "run_tamper_experiment"]

# Paper 002 Table 2: successful tamperings out of ten per link. The text says the ledger
# "effectively resisted the ten times of tempering" [sic], i.e. none went unnoticed.
PAPER_TABLE_2 = {link: {"traditional": 10, "ledger": 0} for link in LINKS}
# Said with every result, since the ledger's 0 is not what the table itself prints.
PAPER_NOTE = ("paper 002's Table 2 prints \"Ten times\" in both columns; the ledger's 0 is "
              "from its text (\"effectively resisted the ten times\")")
STRATEGIES = ("row", "tx", "tx_rehash", "tx_rehash_codes")
# (event field, projection column, forged value) edited by successive attempts
_FORGERIES = (("disposition", "disposition", "conformant"),
              ("eventTime", "event_time", "2019-12-20T08:00:00.000+08:00"),
              ("bizStep", "biz_step", "inspecting"),
              ("disposition", "disposition", "sellable_accessible"),
              ("eventTime", "event_time", "2019-11-30T08:00:00.000+08:00"))
_COLS = ("batch", "seq", "link", "event_time", "biz_step", "disposition", "data")


def _traditional(path: Path, rows: list[tuple[Any, ...]], txs: dict[str, bytes]) -> None:
    """The same events in the plain database a traditional system would keep."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE events (batch TEXT, seq INTEGER, link TEXT, event_time TEXT, "
                 "biz_step TEXT, disposition TEXT, data TEXT, PRIMARY KEY (batch, seq))")
    for r in rows:
        event = decode(envelope_bytes_of(txs[r[2]])[0])["args"]["event"]
        conn.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?)",
                     (r[0], r[1], r[8], event["eventTime"], r[6], r[7], canonical(event)))
    conn.commit()
    conn.close()


def _traditional_attempt(path: Path, batch: str, seq: int, col: str, forged: str) -> bool:
    """Forge, query, and say whether the query showed the forgery without any warning."""
    conn = sqlite3.connect(path)
    conn.execute(f"UPDATE events SET {col}=? WHERE batch=? AND seq=?", (forged, batch, seq))
    conn.commit()
    rows = conn.execute(f"SELECT {', '.join(_COLS)} FROM events WHERE batch=? ORDER BY seq",
                        (batch,)).fetchall()
    conn.close()
    shown = next(r for r in rows if r[1] == seq)[_COLS.index(col)]
    return bool(shown == forged)  # the query has no check that could flag it


def _edit_tx(conn: sqlite3.Connection, tx_id: str, field: str, forged: str) -> str:
    raw = bytes(conn.execute("SELECT raw FROM txs WHERE id=?", (tx_id,)).fetchone()[0])
    env_bytes, sig = envelope_bytes_of(raw)
    env = decode(env_bytes)
    env["args"]["event"][field] = forged
    new_env = canonical(env)
    conn.execute("UPDATE txs SET raw=? WHERE id=?",
                 (b'{"env":' + new_env + b',"sig":"' + sig.encode() + b'"}', tx_id))
    return hashlib.sha256(new_env).hexdigest()


def _ledger_attempt(db: Path, batch: str, seq: int, strategy: str, forgery: tuple[str, ...],
                    ) -> tuple[bool, bool, dict[str, Any] | None]:
    """(noticed, located at the tampered event, first fault)."""
    field, col, forged = forgery
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    if strategy == "row":
        conn.execute(f"UPDATE trace_events SET {col}=?, verdict='' WHERE batch=? AND seq=?",
                     (forged, batch, seq))
    else:
        old = conn.execute("SELECT tx FROM trace_events WHERE batch=? AND seq=?",
                           (batch, seq)).fetchone()[0]
        new = _edit_tx(conn, old, field, forged)
        if strategy != "tx":
            conn.execute("UPDATE txs SET id=? WHERE id=?", (new, old))
            conn.execute("UPDATE trace_events SET tx=? WHERE tx=?", (new, old))
        if strategy == "tx_rehash_codes":
            code = ZERO
            for s, tx in conn.execute("SELECT seq, tx FROM trace_events WHERE batch=? "
                                      "ORDER BY seq", (batch,)).fetchall():
                code = chain_code(tx, code)
                conn.execute("UPDATE trace_events SET code=? WHERE batch=? AND seq=?",
                             (code, batch, s))
            conn.execute("UPDATE state SET value=? WHERE key=?",
                         (canonical({"code": code, "n": s}), f"trace/b/{batch}"))
    conn.execute("COMMIT")
    conn.close()
    store = SQLiteStore(db.parent)
    try:
        result = TraceQueries(store).trace(batch, page_size=1000)
    finally:
        store.close()
    first = result["faulty_link"]
    located = first is not None and first["batch"] == batch and first["seq"] == seq
    return first is not None, located, first


def _copy_db(src_path: Path, dst_path: Path) -> None:
    """Copy a live SQLite database page by page (safe with WAL files and open readers)."""
    src, dst = sqlite3.connect(src_path), sqlite3.connect(dst_path)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def run_tamper_experiment(attempts: int = 10, *, workdir: Path | None = None,
                          progress: Callable[[str, int], None] | None = None) -> dict[str, Any]:
    """Paper 002 Table 2 by real attempts. The ledgers stay in ``workdir`` when one is
    given (``workdir`` in the result), and are removed afterwards otherwise."""
    if workdir is not None:
        return _tamper_in(Path(workdir), attempts, progress)
    with tempfile.TemporaryDirectory(prefix="sl-tamper-") as tmp:
        return {**_tamper_in(Path(tmp), attempts, progress), "workdir": None}


def _tamper_in(work: Path, attempts: int,
               progress: Callable[[str, int], None] | None) -> dict[str, Any]:
    led = work / "ledger"
    with Consortium(led) as c:
        chain = build_flour_mill(c)
    pristine = work / "pristine.sqlite"
    _copy_db(led / DB_NAME, pristine)
    store = SQLiteStore(led)
    rows = store.trace_rows([chain.wheat, chain.flour])
    txs = {k: v[2] for k, v in store.txs_by_id([r[2] for r in rows]).items()}
    baseline = TraceQueries(store).trace(chain.flour)["faults"]
    store.close()
    if baseline:
        raise RuntimeError(f"the untampered chain already has faults: {baseline}")
    plain = work / "traditional.sqlite"
    _traditional(plain, rows, txs)
    plain_copy = work / "traditional.pristine.sqlite"
    shutil.copy(plain, plain_copy)
    out = []
    for link in LINKS:
        batch, seq = chain.events[link]
        trad = ledger = located = 0
        by_strategy: dict[str, int] = dict.fromkeys(STRATEGIES, 0)
        reasons: list[str] = []
        for i in range(attempts):
            forgery = _FORGERIES[i % len(_FORGERIES)]
            shutil.copy(plain_copy, plain)
            trad += _traditional_attempt(plain, batch, seq, forgery[1], forgery[2])
            _copy_db(pristine, led / DB_NAME)
            strategy = STRATEGIES[i % len(STRATEGIES)]
            noticed, at, first = _ledger_attempt(led / DB_NAME, batch, seq, strategy, forgery)
            ledger += not noticed
            by_strategy[strategy] += not noticed
            located += at
            if first is not None and len(reasons) < len(STRATEGIES):
                reasons.append(f"{strategy}: {first['kind']}: {first['reason'][:120]}")
            if progress is not None:
                progress(link, i + 1)
        out.append({"link": link, "attempts": attempts, "traditional_undetected": trad,
                    "ledger_undetected": ledger, "ledger_located": located,
                    "ledger_undetected_by_strategy": by_strategy, "ledger_reasons": reasons,
                    "paper_traditional_tampered": PAPER_TABLE_2[link]["traditional"],
                    "paper_ledger_tampered": PAPER_TABLE_2[link]["ledger"]})
    return {"links": out, "strategies": list(STRATEGIES), "paper_note": PAPER_NOTE,
            "workdir": str(work)}
