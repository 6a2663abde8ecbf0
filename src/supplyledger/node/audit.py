"""Audit: re-check a ledger directory from genesis and name the first bad thing.

Checked: header links and hashes, proposer signatures, tx ids and Merkle roots, every
transaction signature (against the signer's key at that point of history, in worker
processes while the main thread re-executes), re-execution to the same receipts and state
roots, each transaction row's height and index equal to its position, the stored state equal
to the re-executed state, and every projection table equal to a fresh rebuild from the
receipts, rows named by primary key; a projection table built under another release's schema
(an upgraded ledger no node of this release has opened yet) is one ``projection_schema``
finding instead. Tables that hold no ledger data are listed as uncovered. Every schema
object (table, index, trigger, view) a new ledger of this release would not hold is a
finding (``unknown_table``, ``unknown_object``): a trigger can rewrite every later commit.
So is each of its objects the file lacks (``missing_object``: a missing index makes
look-ups scan whole tables) and each table or index of its defined otherwise
(``changed_schema``, ``unknown_object``): a CHECK constraint or a UNIQUE index can make
later commits fail. What a new ledger holds is read from one built by the store in a
throwaway directory, so it follows the migrations and the contracts' tables.
Each block re-executes under the contract rules in force at its height (``rules.adopt``);
at the first block that needs rules the installed code does not implement, or a contract or
method it lacks (a release that added one without a new rules version), the audit stops
with one ``rules_unsupported`` finding: it cannot vouch for that block or any after it.
The rows come from ``store/history.py`` (the store layer holds the SQL); this module only
checks them.

Memory stays bounded whatever the size of the ledger: the re-executed state, the transaction
ids seen and the rebuilt projection tables live in a scratch database on disk
(``history.scratch_tables``), the executor keeps only a bounded cache of the state above it,
and the comparisons at the end merge two key-ordered row streams.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from supplyledger.contracts.executor import Executor
from supplyledger.contracts.projection import Op, Table
from supplyledger.contracts.registry import all_tables, load_builtin
from supplyledger.contracts.runtime import Call, Contract, unsupported
from supplyledger.errors import (
    RulesUnsupported,
    StoreError,
    SupplyLedgerError,
    UnknownContract,
    UnknownMethod,
)
from supplyledger.ledger import block as blk
from supplyledger.ledger import merkle
from supplyledger.ledger.crypto import PublicKey, b64d, generate
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.tx import envelope_bytes_of
from supplyledger.node.audit_work import (
    AuditRow,
    AuditWorkers,
    ScratchState,
    audit_range,
    audit_row,
)
from supplyledger.node.gc_policy import relax_gc
from supplyledger.node.genesis import build_genesis
from supplyledger.node.verifier import StoreKeys
from supplyledger.store import history
from supplyledger.store.history import stored_bytes as _b
from supplyledger.store.migrations import LOCAL_TABLES, MIGRATIONS
from supplyledger.store.readonly import open_readonly, table_names
from supplyledger.store.sqlite import DB_NAME, SQLiteStore, apply_ops

__all__ = ["DERIVED_CORE", "AuditReport", "Finding", "Rebuilt", "audited", "fresh_objects",
           "run_audit"]

CORE_TABLES = ("blocks", "txs", "state", "meta")
# The core tables that hold derived data: `repair` can re-create them (the rest hold the
# record, or this node's own data).
DERIVED_CORE = ("state", "meta")
# The columns of the core tables this module and store/history.py read: a table or column
# dropped or renamed is one ``schema`` finding, where a query would otherwise fail mid-way.
CORE_COLUMNS = {"blocks": ("height", "hash", "header", "signature", "time"),
                "txs": ("pos", "id", "height", "idx", "raw", "signer", "contract", "method",
                        "ok", "receipt"),
                "state": ("key", "value"),
                "meta": ("key", "value")}
CHUNK_TXS = 2048  # about this many stored transactions per worker request (and in memory)
AHEAD = 4  # requests in flight
CACHE_KEYS = 50_000  # state values the executor keeps above the scratch database
FLUSH_KEYS = 20_000  # re-executed writes collected before they go to the scratch database
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Finding:
    kind: str
    detail: str
    height: int | None = None
    tx: str | None = None
    table: str | None = None
    row: str | None = None


@dataclass
class AuditReport:
    ok: bool = True
    blocks: int = 0
    txs: int = 0
    findings: list[Finding] = field(default_factory=list)
    uncovered_tables: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "blocks": self.blocks, "txs": self.txs,
                "findings": [asdict(f) for f in self.findings],
                "uncovered_tables": self.uncovered_tables}


@dataclass(frozen=True)
class Rebuilt:
    """An audit's report and the derived tables as re-execution of the blocks gives them:
    ``meta``, and the state and the projection tables in the scratch database ``scratch``."""

    report: AuditReport
    meta: dict[str, Any]
    scratch: sqlite3.Connection
    tables: dict[str, Table]

    def state_rows(self) -> Iterator[tuple[str, bytes]]:
        """The re-executed state, (key, value) in key order."""
        return history.scratch_state_rows(self.scratch)


class _Auditor:
    def __init__(self, conn: sqlite3.Connection, db_path: Path, workers: int,
                 progress: Progress | None, max_findings: int,
                 contracts: dict[str, Contract] | None = None) -> None:
        self.conn = conn
        self.contracts = contracts or load_builtin()
        self.stopped = False
        self.tables = {t.name: t for t in all_tables(self.contracts)}
        self.scratch = history.scratch_tables(self.tables.values())
        self.state = ScratchState(self.scratch)
        # No batched prefetch: the few misses that reach the scratch database are local.
        self.executor = Executor(self.contracts, self.state.read, max_cache=CACHE_KEYS)
        self.report = AuditReport()
        self.keys = StoreKeys(db_path)
        self.workers = AuditWorkers(str(db_path), workers) if workers else None
        self.progress = progress
        self.max_findings = max_findings
        self.meta_want: dict[str, Any] = {}

    def find(self, kind: str, detail: str, **where: Any) -> None:
        if len(self.report.findings) < self.max_findings:
            self.report.findings.append(Finding(kind, detail, **where))
        self.report.ok = False

    # -- blocks ---------------------------------------------------------------------------
    def blocks(self, top: int) -> Iterator[tuple[int, str, bytes, bytes, Any,
                                                 list[tuple[Any, ...]], dict[int, AuditRow]]]:
        """Blocks in order with their stored tx rows and the workers' rows for them."""
        c = self.conn
        chunks = self._chunks(top)
        sent: list[tuple[int, int]] = []  # requested, not yet answered
        if self.workers is not None:
            for lo, hi in itertools.islice(chunks, AHEAD):
                self.workers.request(lo, hi)
                sent.append((lo, hi))
        while True:
            if self.workers is not None:
                if not sent:
                    return
                lo, hi = sent.pop(0)
                by_pos = dict(self.workers.answer())
                nxt = next(chunks, None)
                if nxt is not None:
                    self.workers.request(*nxt)
                    sent.append(nxt)
            else:
                nxt = next(chunks, None)
                if nxt is None:
                    return
                lo, hi = nxt
                by_pos = dict(audit_range(self.conn, self.keys, self.contracts, lo, hi))
            # Grouped by position, as the readers of a block's transactions find them
            # (proofs, the block API); _positions checks height and idx against it.
            txs: dict[int, list[tuple[Any, ...]]] = {}
            for r in history.tx_rows(c, lo, hi):
                txs.setdefault(r[1] >> 20, []).append(r)
            for b in history.block_rows(c, lo, hi):
                rows = txs.get(b[0], [])
                yield b[0], b[1], _b(b[2]), _b(b[3]), b[4], rows, {
                    t[1]: by_pos[t[1]] for t in rows if t[1] in by_pos}

    def _chunks(self, top: int) -> Iterator[tuple[int, int]]:
        """Block ranges of about CHUNK_TXS stored transactions (one block when it holds
        more), cut as they are asked for: the rows in memory stay bounded whatever the
        block sizes."""
        lo = 0
        while lo <= top:
            end = history.nth_tx_height(self.conn, lo, CHUNK_TXS)
            hi = top if end is None else min(top, max(lo, end - 1))
            yield lo, hi
            lo = hi + 1

    def _core_schema(self) -> bool:
        """Whether every core table has the columns the audit reads; a finding for each
        that has not (and the audit then stops: nothing after could be read)."""
        for table, want in CORE_COLUMNS.items():
            have = {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}
            if not have:
                self.find("schema", f"the {table} table is missing", table=table)
            elif missing := [c for c in want if c not in have]:
                self.find("schema", f"the {table} table lacks the column(s) "
                          f"{', '.join(missing)}", table=table)
        return self.report.ok

    def run(self) -> AuditReport:
        self._run()
        # Also after a stop: an added trigger or view matters most when blocks are damaged.
        self._list_objects()
        return self.report

    def _run(self) -> None:
        prev_hash, prev_root, expect, prev_time = blk.GENESIS_PREV, blk.GENESIS_PREV, 0, 0
        chain: str | None = None
        if not self._core_schema():
            return
        top = history.top_height(self.conn)
        if top < 0:  # every ledger starts with its genesis block
            self.find("missing_block", "the ledger holds no blocks, not even genesis",
                      height=0, table="blocks")
            return
        total = top
        for height, stored_hash, header_bytes, sig, stored_time, txs, work in self.blocks(top):
            if height != expect:
                self.find("missing_block", f"expected block {expect}, found {height}",
                          height=expect)
                return
            try:
                header = blk.Header.decode(header_bytes)
            except SupplyLedgerError as exc:
                self.find("header", f"header unreadable: {exc}", height=height, table="blocks",
                          row=str(height))
                return
            if stored_time != header.time:
                self.find("changed_row", "blocks.time differs from the header's time",
                          height=height, table="blocks", row=str(height))
            if header.hash != stored_hash:
                self.find("block_hash", "stored block hash differs from the header's hash",
                          height=height, table="blocks", row=str(height))
            if header.prev != prev_hash or header.height != height:
                self.find("broken_link", f"header points to {header.prev[:16]}…, previous "
                          f"block is {prev_hash[:16]}…", height=height, table="blocks",
                          row=str(height))
            if chain is None:
                chain = header.chain
            elif header.chain != chain:
                self.find("chain", f"block of chain {header.chain!r} in {chain!r}",
                          height=height, table="blocks", row=str(height))
            if header.time < prev_time:
                self.find("time", "block time goes backwards", height=height, table="blocks",
                          row=str(height))
            self._positions(height, txs)
            if height == 0:
                prev_root = self._genesis(header, txs)
            else:
                prev_root = self._block(header, txs, work, prev_root)
            if self.stopped:
                return
            self._check_proposer(header, sig)
            prev_hash, expect, prev_time = header.hash, height + 1, header.time
            self.report.blocks += 1
            if self.progress is not None and height % 50 == 0:
                self.progress(height, total)
        if self.progress is not None:
            self.progress(total, total)
        self._check_orphans()
        self._check_state()
        self._check_projections()
        self._check_meta(chain)
        self._list_tables()

    def _genesis(self, header: blk.Header, txs: list[tuple[Any, ...]]) -> str:
        if len(txs) != 1:
            self.find("genesis", "block 0 must hold exactly the genesis document", height=0)
            return header.state_root
        _, _, _, tx_id, raw, receipt, *_ = txs[0]
        raw = _b(raw)
        if blk.tx_root([raw]) != header.tx_root or hashlib.sha256(raw).hexdigest() != tx_id:
            self.find("tx_root", "genesis document differs from the one block 0 commits to",
                      height=0, tx=tx_id, table="txs", row=tx_id)
        # Rebuild genesis with a throwaway signer: only its writes and receipt are compared.
        try:
            rec, writes, ops = build_genesis(decode(raw), generate("ed25519"), self.contracts)
        except RulesUnsupported as exc:  # a ledger made by a release with newer rules
            return self._stop_on_rules(0, tx_id, exc.message, header.state_root)
        except (SupplyLedgerError, KeyError, TypeError, ValueError) as exc:
            self.find("genesis", f"genesis document cannot be rebuilt: {exc}", height=0,
                      tx=tx_id, table="txs", row=tx_id)
            return header.state_root
        if rec.txs[0].receipt != _b(receipt) or blk.receipts_root(
                [_b(receipt)]) != header.receipts_root:
            self.find("receipt", "genesis receipt differs from a rebuild", height=0, tx=tx_id,
                      table="txs", row=tx_id)
        root = blk.state_root(blk.GENESIS_PREV, writes)
        if root != header.state_root:
            self.find("state_root", "genesis state differs from the header", height=0)
        self.executor.seed(dict(writes))
        self._keep(0, writes, ops, flush=True)  # seeded keys are not pinned in the cache
        history.record_ids(self.scratch, [(tx_id, 0)])
        self.report.txs += 1
        return root

    def _keep(self, height: int, writes: Sequence[tuple[str, bytes | None]],
              ops: Sequence[Op], *, flush: bool = False) -> None:
        """Keep a block's re-executed writes and projection operations in the scratch
        database; once the writes are written down, the executor may drop them."""
        apply_ops(self.scratch, self.tables, ops)
        self.state.unflushed.update(writes)
        if flush or len(self.state.unflushed) >= FLUSH_KEYS:
            self.state.flush()
            self.executor.committed(height)

    def _block(self, header: blk.Header, txs: list[tuple[Any, ...]],
               work: dict[int, AuditRow], prev_root: str) -> str:
        h = header.height
        if len(txs) != header.tx_count or [t[2] for t in txs] != list(range(len(txs))):
            self.find("tx_count", f"header counts {header.tx_count} txs, stored "
                      f"{len(txs)} (indexes {[t[2] for t in txs][:5]}…)", height=h, table="txs")
        leaves = [work[t[1]][6] if t[1] in work else merkle.leaf_hash(_b(t[4])) for t in txs]
        if merkle.root(leaves).hex() != header.tx_root:
            self.find("tx_root", "transactions differ from the Merkle root in the header",
                      height=h, table="txs")
        stored_receipts = [_b(t[5]) for t in txs]
        if blk.receipts_root(stored_receipts) != header.receipts_root:
            self.find("receipts_root", "stored receipts differ from the header's root",
                      height=h, table="txs")
        calls: list[Call] = []
        stored_id: dict[str, str] = {}
        checked: dict[str, AuditRow] = {}
        rows = [work.get(t[1]) or audit_row(t[3], _b(t[4]), self.keys, self.contracts)
                for t in txs]
        repeated = history.record_ids(self.scratch, [(r[1], t[1]) for t, r in zip(
            txs, rows, strict=True) if r[1] is not None])
        for (_h, pos, _idx, tx_id, _raw, receipt, signer, contract, method, ok), row in zip(
                txs, rows, strict=True):
            _, tid, problem, fields, _fp, _sig_ok, _leaf = row
            if problem is not None or tid is None or fields is None:
                self.find("tx", "stored transaction unreadable: "
                          f"{(problem or {}).get('message')}",
                          height=h, tx=tx_id, table="txs", row=tx_id)
                continue
            if tid != tx_id:
                self.find("tx_id", "stored id is not the hash of the stored envelope",
                          height=h, tx=tx_id, table="txs", row=tx_id)
            if (signer, contract, method) != fields[:3] or fields[4] != header.chain:
                self.find("tx_row", "indexed columns differ from the envelope", height=h,
                          tx=tx_id, table="txs", row=tx_id)
            try:
                receipt_ok = decode(_b(receipt)).get("ok")
            except (SupplyLedgerError, AttributeError):
                receipt_ok = None
            if ok != int(bool(receipt_ok)):
                self.find("changed_row", "txs.ok differs from the receipt", height=h, tx=tx_id,
                          table="txs", row=tx_id)
            if pos in repeated:
                self.find("duplicate_tx", "transaction appears twice", height=h, tx=tx_id,
                          table="txs", row=tx_id)
            stored_id[tid] = tx_id
            checked[tid] = row
            signer_f, contract_f, method_f, time_f, chain_f, value, perr = fields
            calls.append(Call(tid, signer_f, contract_f, method_f, time_f, chain_f, b"", value,
                              perr))

        def key_ok(call: Call, key: PublicKey) -> bool:
            row = checked[call.tx_id]
            good = row[5] if row[4] == key.fp else self._verify_locally(row[0], key)
            if not good:
                sid = stored_id[call.tx_id]
                self.find("signature", "signature does not verify with the signer's key at "
                          "that point", height=h, tx=sid, table="txs", row=sid)
            return True  # execution goes on, so later findings stay precise

        res = self.executor.execute(calls, height=h, key_ok=key_ok)
        by_id = {t[3]: _b(t[5]) for t in txs}
        for call, name, version in res.unsupported[:1]:
            c = self.contracts.get(name)
            return self._stop_on_rules(h, stored_id[call.tx_id], unsupported(c, version).message
                                       if c is not None else f"the ledger adopts {name} rules "
                                       f"v{version}; this supplyledger has no {name} contract",
                                       header.state_root)
        for call, err in res.rejected:
            sid = stored_id[call.tx_id]
            self.find("inadmissible_tx", f"{err.code}: {err.message}", height=h, tx=sid,
                      table="txs", row=sid)
        for call, receipt in zip(res.included, res.receipts, strict=True):
            sid = stored_id[call.tx_id]
            if by_id.get(sid) != receipt:
                lacking = _lacking(self.contracts, call, by_id.get(sid))
                if lacking is not None:
                    return self._stop_on_rules(h, sid, lacking, header.state_root)
                self.find("receipt", "re-execution gives a different receipt", height=h,
                          tx=sid, table="txs", row=sid)
        if blk.receipts_root(res.receipts) != header.receipts_root and len(res.rejected) == 0:
            self.find("reexecution", "re-executed receipts differ from the header's root",
                      height=h)
        root = blk.state_root(prev_root, res.writes)
        if root != header.state_root:
            self.find("state_root", "re-executed state differs from the header's state root",
                      height=h)
        self._keep(h, res.writes, res.ops)
        self.report.txs += len(txs)
        return header.state_root

    def _positions(self, h: int, txs: list[tuple[Any, ...]]) -> None:
        """Each transaction of block ``h`` (found by its position, ``txs.pos``) says the same
        block and index in ``txs.height`` and ``txs.idx``: some readers find a transaction
        by its position, others by those columns, and the Merkle checks see neither."""
        base = h << 20
        for t in txs:
            if t[0] != h or t[1] - base != t[2]:  # pos is an integer (the rowid); idx may not be
                self.find("tx_position", f"stored at position {t[1]} (block {h}, index "
                          f"{t[1] - base}), its row says block {t[0]!r}, index {t[2]!r}",
                          height=h, tx=t[3], table="txs", row=str(t[3]))

    def _stop_on_rules(self, height: int, tx: str, why: str, root: str) -> str:
        """Blocks from here on were decided under contract rules this code does not have:
        one finding, then stop (every later receipt would differ for that reason alone)."""
        self.find("rules_unsupported", f"{why}; the audit stops at this block", height=height,
                  tx=tx, table="txs", row=tx)
        self.stopped = True
        return root

    def _verify_locally(self, stored_id: str, key: PublicKey) -> bool:
        """The worker checked against the stored state's key, which differs from the
        re-executed one (stored state tampered, or a key rotated): check again here."""
        raw = history.tx_raw(self.conn, stored_id)
        if raw is None:
            return False
        try:
            env_bytes, sig_b64 = envelope_bytes_of(_b(raw))
            return key.is_valid(b64d(sig_b64), env_bytes)
        except (SupplyLedgerError, TypeError):
            return False

    def _check_proposer(self, header: blk.Header, sig: bytes) -> None:
        part = self.executor.participant(header.proposer)
        if part is None or "node" not in part.roles:
            self.find("proposer", f"proposer {header.proposer} is not a registered node",
                      height=header.height, table="blocks", row=str(header.height))
            return
        try:
            blk.SignedHeader(header, sig).verify(part.key)
        except SupplyLedgerError as exc:
            self.find("block_signature", exc.message, height=header.height, table="blocks",
                      row=str(header.height))

    # -- tables ---------------------------------------------------------------------------
    def _check_orphans(self) -> None:
        n = history.tx_count(self.conn)
        if n != self.report.txs:
            self.find("extra_rows", f"txs holds {n} rows, the blocks {self.report.txs}",
                      table="txs", row=history.orphan_tx(self.conn))

    def _check_state(self) -> None:
        self.state.flush()
        self.scratch.commit()
        stored = history.state_rows(self.conn)
        self._compare("state", history.scratch_state_rows(self.scratch),
                      ((r[0], _b(r[1])) for r in stored), key=_row_key((0,)),
                      columns=("key", "value"))

    def _check_projections(self) -> None:
        try:
            built_as: dict[str, Any] | None = history.projection_schemas(self.conn)
        except sqlite3.Error as exc:
            built_as = None
            self.find("projection_schema", f"table unreadable: {exc}; every projection "
                      "table is compared as this release declares it", table="projection_schema")
        for t in self.tables.values():
            if built_as is not None and built_as.get(t.name) != t.schema_hash:
                self._other_release(t, built_as.get(t.name))
                continue
            try:
                stored = history.table_rows(self.conn, t)
            except sqlite3.Error as exc:
                self.find("projection", f"table unreadable: {exc}", table=t.name)
                continue
            fresh = history.table_rows(self.scratch, t)
            pk = tuple(t.column_names.index(c) for c in t.primary_key)
            self._compare(t.name, fresh, stored, key=_row_key(pk), columns=t.column_names)

    def _other_release(self, t: Table, built_as: Any) -> None:
        """A projection table whose recorded schema is not this release's: made by another
        release (an upgrade, before a node of this one opened the ledger), so its rows are
        not compared, only named once. Not clean: the record can be edited as well; what
        makes it harmless is that opening the ledger rebuilds the table from the blocks."""
        was = ("no schema is recorded for it" if built_as is None
               else f"its recorded schema is {built_as!r}")
        self.find("projection_schema", f"{was}, this release declares {t.schema_hash!r}: a "
                  "table built by another release (or a record edited), not compared row by "
                  "row. Opening the ledger with a node of this release (supplyledger serve, "
                  "tx submit, …) or `supplyledger repair` rebuilds it from the blocks",
                  table=t.name)

    def _compare(self, table: str, expected: Iterator[Any], stored: Iterator[Any],
                 key: Callable[[Any], Any], columns: tuple[str, ...]) -> None:
        """Merge-compare two key-ordered row streams; report missing, extra, changed rows."""
        e, s = next(expected, None), next(stored, None)
        while e is not None or s is not None:
            if e == s:  # the common case, and equal rows have equal keys: no keys to build
                e, s = next(expected, None), next(stored, None)
            elif s is None or (e is not None and key(e) < key(s)):
                self.find("missing_row", "row a rebuild produces is not stored", table=table,
                          row=_show(key(e)))
                e = next(expected, None)
            elif e is None or key(s) < key(e):
                self.find("extra_row", "stored row that no block produces", table=table,
                          row=_show(key(s)))
                s = next(stored, None)
            else:
                if tuple(e) != tuple(s):
                    self.find("changed_row", "stored row differs from a rebuild: "
                              + _changes(columns, e, s), table=table, row=_show(key(e)))
                e, s = next(expected, None), next(stored, None)

    def _check_meta(self, chain: str | None) -> None:
        meta = history.meta(self.conn)
        want = self.meta_want = {"chain": chain, "genesis": history.block_hash(self.conn, 0)}
        for k in sorted(set(meta) | set(want)):
            if meta.get(k) != want.get(k):
                self.find("changed_row", f"meta {k} is {meta.get(k)!r}, the blocks say "
                          f"{want.get(k)!r}", table="meta", row=k)

    def _list_tables(self) -> None:
        for name in table_names(self.conn):  # unknown ones: _list_objects
            if name in LOCAL_TABLES:
                self.report.uncovered_tables.append({"table": name,
                                                     "reason": LOCAL_TABLES[name]})

    def _list_objects(self) -> None:
        """Compare the file's schema objects with a new ledger's of this release (SQLite's
        own ``sqlite_*`` aside): each one it lacks (``unknown_table``, ``unknown_object``),
        each index it has under another definition (a UNIQUE one in place of a plain one
        would make later commits fail), each table defined otherwise (``changed_schema``: a
        CHECK or a default can make later commits fail or alter them), and each object of
        its that is missing (``missing_object``: a missing index turns look-ups into whole
        table scans). Left out: the indexes of a table that is not this release's, that is
        a projection table another release built (its own finding; rebuilding it restores
        them) or a table named here itself, and a table another finding already names
        (``schema``, ``projection``, ``projection_schema``), with its objects."""
        fresh = fresh_objects(tuple(self.tables.values()), self._recorded_migrations())
        try:
            built_as = history.projection_schemas(self.conn)
        except sqlite3.Error:  # named by _check_projections
            built_as = {}
        rows = [r for r in self.conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
            if not str(r[1]).lower().startswith("sqlite_")]
        unknown = {r[1] for r in rows if r[0] == "table" and (r[0], r[1], r[2]) not in fresh}
        others = unknown | {n for n, t in self.tables.items()
                            if built_as.get(n) != t.schema_hash}
        named = {str(f.table) for f in self.report.findings
                 if f.kind in ("schema", "projection", "projection_schema")}
        for kind, name, table, sql in rows:
            if kind == "index" and table in others:
                continue
            text = _brief_sql(sql)
            expected = fresh.get((kind, name, table))
            if expected is not None:
                if kind == "index" and not _same_sql(expected, sql):
                    self.find("unknown_object", f"index on {table} is not the one supplyledger "
                              f"creates ({_brief_sql(expected)}): {text}", table=name)
                elif (kind == "table" and name not in others | named
                      and not _same_sql(expected, sql)):
                    self.find("changed_schema", f"table defined otherwise than supplyledger "
                              f"defines it: {_difference(expected, sql)}; "
                              f"{self._rebuilt_how(name)}", table=name)
                continue
            if kind == "table":
                self.find("unknown_table", "table not created by supplyledger; it may hold "
                          f"someone's data, so `repair` leaves it: {text}", table=name)
            else:
                on = f" on {table}" if kind in ("index", "trigger") else ""
                self.find("unknown_object", f"{kind}{on} not created by supplyledger: {text}",
                          table=name)
        self._list_missing(fresh, rows, others | named)

    def _list_missing(self, fresh: dict[tuple[str, str, str], str],
                      rows: list[tuple[Any, ...]], skip: set[str]) -> None:
        """A ``missing_object`` finding for each object of ``fresh`` the file lacks, but
        SQLite's own (a UNIQUE or PRIMARY KEY index goes with its table's definition:
        ``changed_schema``), those of a table in ``skip``, and those of a missing table,
        which is named instead."""
        have = {(str(r[0]), str(r[1]), str(r[2])) for r in rows}
        tables = {str(r[1]) for r in rows if r[0] == "table"}
        for (kind, name, table), sql in sorted(fresh.items(), key=lambda kv: kv[0]):
            if ((kind, name, table) in have or name.lower().startswith("sqlite_")
                    or table in skip or (kind != "table" and table not in tables)):
                continue
            if kind == "table":
                self.find("missing_object", f"table that supplyledger creates is missing; "
                          f"`repair` cannot create it again: {_brief_sql(sql)}", table=name)
            else:
                self.find("missing_object", f"{kind} on {table} that supplyledger creates is "
                          f"missing (`repair` creates it again): {_one_line(sql)}", table=name)

    def _recorded_migrations(self) -> frozenset[int] | None:
        """The schema steps the file records: a ledger of an earlier release compares with
        the schema they make (the next node to open it runs the others). None (all) when
        it records none."""
        try:
            done = frozenset(int(r[0]) for r in self.conn.execute(
                "SELECT version FROM schema_migrations"))
        except sqlite3.Error:
            return None
        return done or None

    def _rebuilt_how(self, table: str) -> str:
        """What ``repair`` does about a table defined otherwise."""
        if table in DERIVED_CORE:
            return ("`repair` re-creates it as defined and writes its rows back from the "
                    "blocks")
        if table in self.tables:
            return "`repair` rebuilds it from the blocks"
        return ("it holds the record or this node's own data, which `repair` does not "
                "rewrite: restore the ledger from a backup")


@functools.lru_cache(maxsize=4)
def fresh_objects(tables: tuple[Table, ...], versions: frozenset[int] | None = None,
                  ) -> dict[tuple[str, str, str], str]:
    """(type, name, table) -> SQL of each schema object a new ledger with ``tables`` holds:
    the store builds one in a throwaway directory (its migrations, then the projection
    tables), so the set follows the code. With ``versions``, only those migrations run:
    the schema of a ledger that recorded them, whose next node runs the rest. Cached: the
    same for every audit of a process (callers must not change it)."""
    steps = MIGRATIONS if versions is None else [m for m in MIGRATIONS if m[0] in versions]
    with tempfile.TemporaryDirectory(prefix="supplyledger-schema-") as d:
        store = SQLiteStore(Path(d), tables, migrations=steps)
        try:
            store.ensure_projections()
            return {(str(r[0]), str(r[1]), str(r[2])): str(r[3] or "")
                    for r in store.reader().execute(
                        "SELECT type, name, tbl_name, sql FROM sqlite_master")}
        finally:
            store.close()


def _one_line(sql: Any) -> str:
    return " ".join(str(sql or "").split())


# A token of SQL: a comment, a string, a quoted name, a word or number, an operator.
_TOKEN = re.compile(r"--[^\n]*|/\*.*?(?:\*/|$)|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`"
                    r"|\[[^\]]*\]|\w+|[!<>=]=|<>|<<|>>|\|\||\S", re.S)


def _tokens(sql: Any) -> list[tuple[str, str]]:
    """(compared, shown) of each token of ``sql`` but comments: a name or keyword compares
    unquoted and in lower case (SQLite quotes a renamed table's name; the copy, drop and
    rename recipe for a changed definition leaves an unchanged one so), a string as is."""
    out: list[tuple[str, str]] = []
    for t in _TOKEN.findall(str(sql or "")):
        if t.startswith(("--", "/*")):
            continue
        if t[0] in "\"`[":
            out.append((t[1:-1].replace('""', '"').lower(), t))
        else:
            out.append((t if t[0] == "'" else t.lower(), t))
    return out


def _same_sql(want: Any, have: Any) -> bool:
    """Whether two definitions are the same but for spacing, comments, quoting of names
    and the case of keywords and names."""
    return [k for k, _ in _tokens(want)] == [k for k, _ in _tokens(have)]


def _difference(want: str, have: str) -> str:
    """Where two definitions differ, on one line: the differing tokens of each, with a few
    either side (the difference can sit past where a brief SQL cuts)."""
    a, b = _tokens(want), _tokens(have)
    keys_a, keys_b = [k for k, _ in a], [k for k, _ in b]
    n = min(len(a), len(b))
    lead = next((i for i in range(n) if keys_a[i] != keys_b[i]), n)
    tail = 0
    while tail < n - lead and keys_a[-1 - tail] == keys_b[-1 - tail]:
        tail += 1

    def part(toks: list[tuple[str, str]]) -> str:
        lo, hi = max(0, lead - 4), len(toks) - max(0, tail - 4)
        text = ""
        for _, t in toks[lo:hi]:
            text += t if not text or text.endswith("(") or t in (")", ",") else " " + t
        text = text if len(text) <= 160 else text[:157] + "..."
        return ("..." if lo else "") + text + ("..." if hi < len(toks) else "")

    return f"stored `{part(b)}` where supplyledger has `{part(a)}`"


def _brief_sql(sql: Any) -> str:
    """An object's SQL on one line, cut short (a trigger's body can be long)."""
    text = _one_line(sql)
    return text if len(text) <= 160 else text[:157] + "..."


def _lacking(contracts: dict[str, Contract], call: Call, stored: bytes | None) -> str | None:
    """Why this release cannot re-execute ``call`` as the ledger decided it, if that is why
    the receipts differ: this release lacks the call's contract or method, and the stored
    receipt is not the refusal of an unknown name (the release that decided it had them)."""
    c = contracts.get(call.contract)
    if c is not None and call.method in c.methods:
        return None
    try:
        rec = decode(stored) if stored is not None else None
    except SupplyLedgerError:
        rec = None
    if not isinstance(rec, dict) or not isinstance(rec.get("ok"), bool):
        return None  # no readable outcome: a receipt finding
    err = rec.get("error")
    if not rec["ok"] and isinstance(err, dict) and err.get("code") in (UnknownContract.code,
                                                                       UnknownMethod.code):
        return None  # decided without them too (a reworded refusal): a receipt finding
    if c is None:
        return (f"the ledger runs contract {call.contract!r}; this supplyledger has no such "
                "contract")
    return (f"the ledger runs {call.contract}.{call.method}; the {call.contract} contract of "
            f"this supplyledger has no method {call.method!r} (a release that added it without "
            "a new rules version): audit with a release that has it")


_RANK = {type(None): 0, int: 1, float: 1, str: 2, bytes: 3}


def _row_key(pk: tuple[int, ...]) -> Callable[[Any], tuple[tuple[int, Any], ...]]:
    """The primary key (the columns at ``pk``, in key order: the order both streams are
    read in) as a tuple in SQLite's order (NULL < numbers < text < blob), so a value whose
    type was changed by tampering still compares instead of raising."""

    def key(row: Any) -> tuple[tuple[int, Any], ...]:
        return tuple((_RANK.get(type(row[i]), 4), row[i]) for i in pk)

    return key


def _changes(columns: tuple[str, ...], rebuilt: Any, stored: Any) -> str:
    """Which columns differ, with the value the blocks give and the one stored (so a
    reader sees what was edited without opening the database)."""
    return "; ".join(f"{c} {_brief(a)} in the blocks, {_brief(b)} stored"
                     for c, a, b in zip(columns, rebuilt, stored, strict=True) if a != b)


def _brief(v: Any) -> str:
    if isinstance(v, bytes | bytearray | memoryview):
        return f"<{len(v)} bytes>"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _show(key: tuple[tuple[int, Any], ...]) -> str:
    vals = [v for _, v in key]
    return str(vals[0]) if len(vals) == 1 else json.dumps(vals, default=str)


@contextmanager
def audited(data_dir: Path, *, workers: int = 2, progress: Progress | None = None,
            max_findings: int = 1000, contracts: dict[str, Contract] | None = None
            ) -> Iterator[Rebuilt]:
    """Audit a ledger directory and keep what the blocks say its derived tables hold, for
    as long as the ``with`` block lasts (``supplyledger repair`` writes it back).
    ``contracts`` (default: the built-in ones) needs ``workers=0``: worker processes load
    the built-in contracts."""
    path = Path(data_dir) / DB_NAME
    if not path.exists():
        raise FileNotFoundError(f"no ledger at {path}")
    if contracts is not None and workers:
        raise ValueError("an audit with other contracts than the built-in ones runs in this "
                         "process: pass workers=0")
    relax_gc()
    conn = open_readonly(path.parent)
    try:
        _snapshot(conn, path)
        auditor = _Auditor(conn, path, workers, progress, max_findings, contracts)
        try:
            try:
                report = auditor.run()
                auditor.state.flush()  # also after a stop: the rows read back are complete
            finally:
                if auditor.workers is not None:
                    auditor.workers.close()
                auditor.keys.conn.close()
            conn.rollback()  # the snapshot ends here: `repair` writes within the block
            yield Rebuilt(report, auditor.meta_want, auditor.scratch, auditor.tables)
        finally:
            auditor.scratch.close()  # SQLite deletes the scratch file
    finally:
        conn.close()


def _snapshot(conn: sqlite3.Connection, path: Path) -> None:
    """Start the one read transaction every query of the audit runs in. A node may be
    committing blocks meanwhile (the audit runs beside it): read statement by statement,
    the stored state and query tables, read last, would hold blocks the audit never
    re-executed, and a clean ledger would show findings. Raises StoreError for a file
    that is no SQLite database, or one that holds none of a ledger's tables."""
    try:
        conn.execute("BEGIN")
        names = set(table_names(conn))  # the first read: the snapshot is taken here
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} cannot be read as a ledger: {exc}") from None
    if not names & {*CORE_TABLES, "schema_migrations"}:
        raise StoreError(f"{path} is not a supplyledger ledger: it has none of the tables "
                         f"{', '.join(CORE_TABLES)}")


def run_audit(data_dir: Path, *, workers: int = 2, progress: Progress | None = None,
              max_findings: int = 1000, contracts: dict[str, Contract] | None = None
              ) -> AuditReport:
    """Audit a ledger directory. ``workers`` processes do the stateless checks (0: in this
    process, for small ledgers and tests). Relaxes this process's garbage collector
    (:func:`~supplyledger.node.gc_policy.relax_gc`)."""
    with audited(data_dir, workers=workers, progress=progress, max_findings=max_findings,
                 contracts=contracts) as rebuilt:
        return rebuilt.report
