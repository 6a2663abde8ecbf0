"""The embedded node: admission, ordering, execution and durable commit.

Pipeline::

    submit() -> inbox -> dispatcher -> verifier processes (parse, schema, signature)
             -> verdicts (chain, time window; settle what the workers could not)
             -> orderer (solo: cut at N txs or T ms) -> executor (deterministic)
             -> committer (one SQLite transaction per block, fsync; in a process of its
                own when there are verifier processes) -> futures resolved

A transaction is acknowledged only after the commit of its block returns. The executor runs
block k+1 while block k is being written; if a commit fails the node stops and fails every
unacknowledged transaction, so nothing acknowledged can be lost.
"""

from __future__ import annotations

import collections
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supplyledger.contracts.builtin.rules import PREFIX, check_ledger_rules, in_force
from supplyledger.contracts.executor import Executor
from supplyledger.contracts.projection import Op
from supplyledger.contracts.registry import all_tables, load_builtin
from supplyledger.contracts.runtime import Call, Contract, call_from_env
from supplyledger.errors import (
    InvalidSignature,
    NodeError,
    NodeStopped,
    Overloaded,
    ReplayedTransaction,
    RevokedKey,
    StaleTransaction,
    SupplyLedgerError,
    UnknownSigner,
    WrongChain,
    error_from_code,
)
from supplyledger.ledger import block as blk
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.tx import parse_tx
from supplyledger.node.committer import CommitProcess, ProjectionSource
from supplyledger.node.gc_policy import relax_gc
from supplyledger.node.metrics import NodeMetrics
from supplyledger.node.orderer import SoloOrderer
from supplyledger.node.projections import prepared_methods, projection_ops
from supplyledger.node.receipts import Receipt
from supplyledger.node.settings import Settings
from supplyledger.node.ticket import Ticket
from supplyledger.node.verifier import (
    BAD_SIG,
    INVALID,
    OK,
    REPLAYED,
    Verdict,
    VerifierPool,
)
from supplyledger.store.lock import WriterLock
from supplyledger.store.readonly import prefixed_state
from supplyledger.store.records import BlockRecord, TxRow
from supplyledger.store.sqlite import DB_NAME, SQLiteStore

__all__ = ["Node", "wall_clock_ms"]

Clock = Callable[[], int]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


_Pending = tuple[Call, bytes, "Ticket[Receipt]"]
# How long executed ids stay in memory; far longer than submission-to-commit takes.
RECENT_MS = 60_000


class _Draft:
    """The block being built: what its parts executed so far."""

    __slots__ = ("futs", "included", "keys", "oks", "ops", "receipts", "writes")

    def __init__(self) -> None:
        self.included: list[Call] = []
        self.receipts: list[bytes] = []
        self.oks: list[bool] = []
        self.ops: list[Op] = []
        self.writes: dict[str, bytes | None] = {}
        self.keys: dict[str, bytes] = {}  # tx id -> fingerprint of the key that signed it
        self.futs: dict[str, Ticket[Receipt]] = {}


class Node:
    def __init__(self, settings: Settings, node_key: PrivateKey, *,
                 contracts: dict[str, Contract] | None = None, clock: Clock = wall_clock_ms,
                 store: SQLiteStore | None = None) -> None:
        self.settings = settings
        self._own_contracts = contracts  # other than the built-in ones: verify in-process
        self.contracts = contracts or load_builtin()
        if store is None and not (Path(settings.data_dir) / DB_NAME).exists():
            raise NodeError(f"no ledger in {settings.data_dir}: run `supplyledger init` first")
        self._dir_lock = WriterLock(settings.data_dir)
        try:
            self._open(settings, node_key, clock, store)
        except BaseException:
            self._dir_lock.release()
            raise

    def _open(self, settings: Settings, node_key: PrivateKey, clock: Clock,
              store: SQLiteStore | None) -> None:
        self.store = store or SQLiteStore(settings.data_dir, all_tables(self.contracts))
        self.store.check_writable()  # not serving a ledger it cannot commit to
        self.key = node_key
        self.clock = clock
        # Before anything is rebuilt: a ledger this release cannot run is left as it was.
        check_ledger_rules(self.contracts, in_force(prefixed_state(self.store.reader(), PREFIX)))
        # Tables built by another release are rebuilt from the blocks in one transaction.
        self.store.ensure_projections(lambda names: projection_ops(self.store, self.contracts))
        head = self.store.height()
        if head < 0:
            raise NodeError(f"no ledger in {settings.data_dir}: run `supplyledger init` first")
        chain = self.store.get_meta("chain")
        if chain is None:
            raise NodeError("ledger has no chain id recorded")
        self.chain = chain
        hash_, header_bytes, _ = self.store.block(head)  # type: ignore[misc]
        header = blk.Header.decode(header_bytes)
        self._height, self._prev, self._state_root = head, hash_, header.state_root
        self._last_time = header.time
        self.executor = Executor(self.contracts, self.store.get_state,
                                 max_cache=settings.state_cache_keys,
                                 read_many=self.store.get_states)
        me = self.executor.participant(node_key.did)
        if me is None or "node" not in me.roles or me.key.spki != node_key.public.spki:
            raise NodeError(f"{node_key.did} is not a registered node key of chain {chain}")
        # Replay protection: verifier workers refuse ids already committed (the txs primary
        # key); this set holds ids executed recently, which covers the moments between a
        # worker's lookup and the commit that makes an id visible. Ids leave it oldest
        # first (by their execution time, node clock, ms), a few at each block: rebuilding
        # it (60 s of ids) held the interpreter ~50 ms and stalled the node every 64 blocks.
        self._recent: set[str] = set()
        self._recent_order: collections.deque[tuple[int, str]] = collections.deque()
        self._inbox: queue.SimpleQueue[tuple[bytes, Ticket[Receipt]] | None] = (
            queue.SimpleQueue())
        self._orderer = SoloOrderer(settings.block_max_txs, settings.block_max_ms / 1000)
        self._pool = VerifierPool(self.store.path, settings.max_tx_bytes,
                                  settings.verify_workers, self._verdicts, self._lost,
                                  split_bytes=settings.split_tx_bytes,
                                  contracts=self._own_contracts)
        self._commits: queue.Queue[tuple[BlockRecord, list[Any], Any,
                                         list[Ticket[Receipt]]] | None] = queue.Queue(2)
        self._pending = 0
        self._lock = threading.Lock()
        self._running = False
        self._failure: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self._listeners: list[Callable[[int], None]] = []
        self._commit_process: CommitProcess | None = None
        # Blocks the commit process has (or is being sent), oldest first, awaiting answers.
        self._sent: queue.SimpleQueue[tuple[BlockRecord, list[Ticket[Receipt]]] | None] = (
            queue.SimpleQueue())
        self._prepared_methods = prepared_methods(self.contracts)
        self.metrics = NodeMetrics(header.time)  # read by node/metrics.render at scrape

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Node:
        """Start the verifier processes and the node's threads; relaxes this process's
        garbage collector (:func:`~supplyledger.node.gc_policy.relax_gc`)."""
        if not self._dir_lock.held:  # stopped before: another writer may hold it now
            raise NodeStopped("this node was stopped; open a new one")
        relax_gc()
        # With verifier processes, commits get one too (node/committer.py); contracts
        # other than the built-in ones have tables only this process knows.
        if self.settings.verify_workers and self._own_contracts is None:
            self._commit_process = CommitProcess(self.settings.data_dir, self._dir_lock.fd)
            # Projecting a block (events to rows) moves there too, off the builder's
            # interpreter: it derives the rows from what the block records.
            self.executor.project = False
        self._running = True
        self._pool.start()
        self._spawn(self._dispatch_loop, "dispatch")
        self._spawn(self._build_loop, "builder")
        if self._commit_process is None:
            self._spawn(self._commit_loop, "committer")
        else:
            proc = self._commit_process
            self._spawn(lambda: self._send_loop(proc), "commit-send")
            self._spawn(lambda: self._answer_loop(proc), "commit-answer")
        return self

    def _spawn(self, fn: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=fn, name=f"sl-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        """Drain: everything already submitted is executed and committed, then stop."""
        try:
            if not self._running:
                return
            self._running = False
            self._inbox.put(None)
            for t in self._threads:
                t.join()
            self._threads.clear()
            if self._commit_process is not None:
                self._commit_process.close()
                self._commit_process = None
            self.store.close()
        finally:  # even when closing fails: the directory must not stay locked
            self._dir_lock.release()

    def __enter__(self) -> Node:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def height(self) -> int:
        return self._height

    @property
    def pending(self) -> int:
        """Submissions not yet answered (committed or refused)."""
        return self._pending

    @property
    def failure(self) -> BaseException | None:
        return self._failure

    def verifiers_alive(self) -> int:
        """Verifier processes still running (0 when verifying in-process)."""
        return self._pool.alive()

    def commit_process_alive(self) -> bool:
        """Whether blocks are committed by a commit process that is running (False when
        this process commits them itself)."""
        cp = self._commit_process
        return cp is not None and cp.alive()

    def process_ids(self) -> dict[str, list[int]]:
        """The node's processes by role: ``main`` (this one: dispatch, execution, block
        building, and whatever else the host runs in it), ``commit`` and ``verifiers``
        (empty where that work runs on this process's threads)."""
        cp = self._commit_process
        return {"main": [os.getpid()], "commit": [] if cp is None else [cp.pid],
                "verifiers": self._pool.pids()}

    def check_processes(self) -> BaseException | None:
        """Stop accepting (as a failed commit does) once a verifier process or the commit
        process has died, and return the failure. The pool notices a dead verifier only
        when it hands it work, so an idle node would otherwise go on reporting itself
        healthy (``supplyledger_node_failed`` 0) until its first submission is refused;
        ``serve`` polls this and exits, so a supervisor restarts it at once."""
        if self._running and self._failure is None:
            if self._pool.alive() < self._pool.n:
                self._failure = NodeError("a verifier process died")
            elif self._commit_process is not None and not self._commit_process.alive():
                self._failure = NodeError("the commit process died")
        return self._failure

    def on_block(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(height)`` after each durable commit (for live updates)."""
        self._listeners.append(listener)

    # -- admission ------------------------------------------------------------------------
    def submit(self, tx: bytes) -> Ticket[Receipt]:
        """Queue signed transaction bytes; the future resolves after the durable commit.

        Only bytes are accepted: the node must decode every envelope itself, so the object
        it executes is exactly the one whose bytes were signed."""
        fut: Ticket[Receipt] = Ticket()
        if not self._running or self._failure is not None:
            fut.set_exception(NodeStopped("node is not running"))
            return fut
        with self._lock:
            full = self._pending >= self.settings.max_pending
            if not full:
                self._pending += 1
        if full:
            self.metrics.refuse(Overloaded.code)
            fut.set_exception(Overloaded(
                f"{self._pending} transactions pending; try again shortly"))
            return fut
        fut.add_done_callback(self._done)
        self._inbox.put((tx, fut))
        return fut

    def _done(self, _: Ticket[Receipt]) -> None:
        with self._lock:
            self._pending -= 1

    def _dispatch_loop(self) -> None:
        """Batch whatever has arrived and hand it to the verifier pool."""
        inbox, pool = self._inbox, self._pool
        stopping = False
        while not stopping:
            item = inbox.get()
            items = []
            while True:
                if item is None:
                    stopping = True
                    break
                items.append(item)
                if len(items) >= 256:
                    break
                try:
                    item = inbox.get_nowait()
                except queue.Empty:
                    break
            # A large transaction goes alone, so the pool can share it out over its workers.
            large = [it for it in items if len(it[0]) >= pool.split_bytes]
            small = [it for it in items if len(it[0]) < pool.split_bytes] if large else items
            if small:
                pool.submit([raw for raw, _ in small], small)
            for it in large:
                pool.submit([it[0]], [it])
        pool.stop()
        self._orderer.close_one()

    def _verdicts(self, items: list[tuple[bytes, Ticket[Receipt]]],
                  verdicts: list[Verdict]) -> None:
        """Turn worker verdicts into ordered transactions or specific errors."""
        s, chain = self.settings, self.chain
        now = self.clock()
        admitted: list[_Pending] = []
        put = admitted.append
        for (raw, fut), (status, tx_id, fp, canon, err, fields) in zip(items, verdicts,
                                                                     strict=True):
            try:
                if status == INVALID:
                    assert err is not None
                    raise error_from_code(err["code"], err["message"], err.get("details"))
                if status == REPLAYED:
                    raise ReplayedTransaction(f"transaction {tx_id} is already committed",
                                              tx_id=tx_id)
                if status == OK:
                    assert fields is not None
                    signer, contract, method, t, ch, value, perr = fields
                    tx = Call(tx_id, signer, contract, method, t, ch, canon or raw, value, perr)
                else:
                    tx, fp = self._settle(raw, status, fp)
                if tx.chain != chain:
                    raise WrongChain(f"transaction is for chain {tx.chain!r}, this is {chain!r}")
                if abs(tx.time - now) > s.time_window_ms:
                    raise StaleTransaction(
                        f"transaction time is {tx.time - now:+d} ms from the node "
                        f"clock; the window is ±{s.time_window_ms} ms")
                if tx.error is not None and tx.error["code"] != "contract_bug":
                    # Arguments the method's schema or prepare step refuses: stateless, so
                    # the signer learns it now and no block records it (DESIGN: a bad
                    # schema never enters a block). A bug in a prepare step is recorded.
                    raise error_from_code(tx.error["code"], tx.error["message"],
                                          tx.error.get("details"))
            except SupplyLedgerError as exc:
                self.metrics.refuse(exc.code)
                fut.set_exception(exc)
                continue
            put((tx, fp, fut))
        self._orderer.put_many(admitted)

    def _lost(self, items: list[tuple[bytes, Ticket[Receipt]]]) -> None:
        """A verifier process died: its batch was never checked, so nothing was written."""
        self._failure = self._failure or NodeError("a verifier process died")
        for _, fut in items:
            fut.set_exception(NodeError("verifier process died; transaction not accepted"))

    def _settle(self, raw: bytes, status: int, worker_fp: bytes) -> tuple[Call, bytes]:
        """Slow path: the worker's committed view did not suffice; use the executed state."""
        tx = parse_tx(raw, max_bytes=self.settings.max_tx_bytes)
        part = self.executor.peek_participant(tx.env["signer"])
        if part is None:
            raise UnknownSigner(f"unknown signer {tx.env['signer']}")
        if not part.active:
            raise RevokedKey(f"signer {tx.env['signer']} is revoked")
        if status == BAD_SIG and part.key.fp == worker_fp:
            raise InvalidSignature("signature does not verify with the signer's current key")
        try:
            part.key.verify(tx.sig, tx.env_bytes)
        except InvalidSignature:
            raise InvalidSignature(
                "signature does not verify with the signer's current key") from None
        return call_from_env(self.contracts, tx.id, tx.env, tx.raw), part.key.fp

    # -- ordering and execution -----------------------------------------------------------
    def _build_loop(self) -> None:
        draft = _Draft()
        for part, last in self._orderer.parts(1):
            if self._failure is not None:
                for fut in [*draft.futs.values(), *(f for _, _, f in part)]:
                    fut.set_exception(NodeStopped("node stopped after a storage failure"))
                draft = _Draft()
                continue
            try:
                self._execute_part(draft, part)
                if last:
                    done, draft = draft, _Draft()
                    self._seal(done)
            except BaseException as exc:  # a bug here must not hang submitters
                self._fail(exc, [*draft.futs.values(), *(f for _, _, f in part)])
                draft = _Draft()
        self._commits.put(None)

    def _execute_part(self, draft: _Draft, part: list[_Pending]) -> None:
        """Execute one part of the next block on top of the parts before it: executing a
        block's transactions in several calls gives what one call over all of them gives
        (each call's writes are the executor's state for the next)."""
        now = self.clock()
        recent, keys, futs = self._recent, draft.keys, draft.futs
        txs: list[Call] = []
        for tx, key, fut in part:
            tid = tx.tx_id
            if tid in recent or tid in futs:
                self.metrics.refuse(ReplayedTransaction.code)
                fut.set_exception(ReplayedTransaction(
                    f"transaction {tid} was already submitted", tx_id=tid))
                continue
            txs.append(tx)
            keys[tid] = key
            futs[tid] = fut
        if not txs:
            return
        res = self.executor.execute(
            txs, height=self._height + 1, key_ok=lambda t, k: keys[t.tx_id] == k.fp)
        for tx, err in res.rejected:
            self.metrics.refuse(err.code)
            futs.pop(tx.tx_id).set_exception(err)
        order = self._recent_order
        for tx in res.included:
            recent.add(tx.tx_id)
            order.append((now, tx.tx_id))
        draft.included += res.included
        draft.receipts += res.receipts
        draft.oks += res.oks
        draft.ops += res.ops
        draft.writes.update(res.writes)

    def _seal(self, draft: _Draft) -> None:
        """Sign the block of the parts executed and hand it to the commit."""
        if not draft.included:
            return
        now = self.clock()
        height = self._height + 1
        block_time = max(now, self._last_time)
        writes = sorted(draft.writes.items())
        state_root = blk.state_root(self._state_root, writes)
        header = blk.Header(
            chain=self.chain, height=height, prev=self._prev, time=block_time,
            tx_root=blk.tx_root(t.raw for t in draft.included),
            receipts_root=blk.receipts_root(draft.receipts), state_root=state_root,
            tx_count=len(draft.included), proposer=self.key.did,
        )
        signed = blk.SignedHeader.sign(header, self.key)
        rows = tuple(
            TxRow(t.tx_id, i, t.raw, t.signer, t.contract, t.method, ok, r)
            for i, (t, r, ok) in enumerate(zip(draft.included, draft.receipts, draft.oks,
                                               strict=True)))
        rec = BlockRecord(height, header.hash, header.encode(), signed.signature, block_time,
                          rows)
        self._height, self._prev, self._state_root = height, header.hash, state_root
        self._last_time = block_time
        proj = draft.ops if self.executor.project else self._projection_source(draft.included)
        self._commits.put((rec, writes, proj, [draft.futs[t.tx_id] for t in draft.included]))
        cutoff, order, recent = now - RECENT_MS, self._recent_order, self._recent
        while order and order[0][0] < cutoff:
            recent.remove(order.popleft()[1])

    def _projection_source(self, calls: list[Call]) -> ProjectionSource:
        """What the commit process needs besides the block's rows to project it: the
        calls' signed times, and the values of calls whose method prepares them."""
        prep = self._prepared_methods
        return ([c.time for c in calls],
                {i: c.value for i, c in enumerate(calls) if (c.contract, c.method) in prep})

    def _commit_loop(self) -> None:
        """Commit each block in this process, then acknowledge it."""
        while (item := self._commits.get()) is not None:
            rec, writes, proj, futs = item
            if self._failure is not None:
                self._stopped(futs)
                continue
            started = time.perf_counter_ns()
            try:
                self.store.commit_block(rec, writes, proj)
            except BaseException as exc:
                self._fail(exc, futs)
                continue
            self._acknowledge(rec, futs, time.perf_counter_ns() - started)

    def _send_loop(self, proc: CommitProcess) -> None:
        """Hand each block to the commit process; :meth:`_answer_loop` acknowledges it.
        Sending block k+1 while k commits keeps the child from waiting on the node."""
        while (item := self._commits.get()) is not None:
            rec, writes, proj, futs = item
            if self._failure is not None:
                self._stopped(futs)
                continue
            try:
                proc.send(rec, writes, proj)
            except BaseException as exc:  # nothing of it reached the child: no answer comes
                self._fail(exc, futs)
                continue
            self._sent.put((rec, futs))
        self._sent.put(None)

    def _answer_loop(self, proc: CommitProcess) -> None:
        while (item := self._sent.get()) is not None:
            rec, futs = item
            try:
                took_ns = proc.answer(rec.height)
            except BaseException as exc:
                if self._failure is None:
                    self._fail(exc, futs)
                else:  # a block after the failed one: the child did not write it
                    self._stopped(futs)
                continue
            self._acknowledge(rec, futs, took_ns)

    def _acknowledge(self, rec: BlockRecord, futs: list[Ticket[Receipt]],
                     took_ns: int) -> None:
        self.metrics.committed(rec, took_ns)
        self.executor.committed(rec.height)
        for row, fut in zip(rec.txs, futs, strict=True):
            fut.set_result(Receipt(row.id, rec.height, row.index, row.receipt, row.ok))
        for listener in self._listeners:
            listener(rec.height)

    @staticmethod
    def _stopped(futs: list[Ticket[Receipt]]) -> None:
        for f in futs:
            f.set_exception(NodeStopped("node stopped after a storage failure"))

    def _fail(self, exc: BaseException, futs: list[Ticket[Receipt]]) -> None:
        self._failure = exc
        err = NodeStopped(f"node stopped: {exc}")
        for f in futs:
            if not f.done():
                f.set_exception(err)
