"""Signature and schema checks in worker processes, off the executor's core.

Each worker parses submitted bytes (strict decode, envelope schema, canonical re-encoding),
refuses ids already committed, verifies the signature with the signer's key as committed in
the store (read through its own read-only SQLite connection) and runs the method's
stateless prepare step. It answers with a compact verdict: the main process never decodes
the envelope. Answers that
depend on state newer than the worker's view (a signer registered or a key rotated in a
block not yet committed) come back as ``UNKNOWN``/``BAD_SIG`` with the key the worker used,
and the main process settles them against the executor's state.

With ``workers=0`` the same code runs on a thread of the main process (tests, tiny nodes).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import Contract, prepare_call
from supplyledger.errors import SupplyLedgerError
from supplyledger.ledger.crypto import PublicKey
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.tx import SignedTx, parse_tx
from supplyledger.node.audit_work import audit_range
from supplyledger.node.frames import read_frame, write_frame
from supplyledger.node.gc_policy import relax_gc
from supplyledger.store.readonly import committed_ids, open_file_readonly, state_value

__all__ = ["BAD_SIG", "INVALID", "OK", "REPLAYED", "REVOKED", "UNKNOWN", "StoreKeys",
           "VerifierPool", "verify_batch"]

OK, UNKNOWN, REVOKED, BAD_SIG, INVALID, REPLAYED, SKIPPED = range(7)
# (status, tx id, key fingerprint used, canonical raw if it differs, error as a dict,
#  the call's fields for OK: signer, contract, method, time, chain, prepared value, error)
CallFields = tuple[str, str, str, int, str, Any, dict[str, Any] | None]
Verdict = tuple[int, str, bytes, bytes | None, dict[str, Any] | None, CallFields | None]


class StoreKeys:
    """Committed facts a worker needs: signer keys (cached, refreshed on a failed
    verification) and whether a transaction id is already in a block."""

    def __init__(self, db_path: Path) -> None:
        self.conn = open_file_readonly(db_path)
        self.cache: dict[str, tuple[PublicKey, bool] | None] = {}

    def committed(self, tx_ids: list[str]) -> set[str]:
        """Which of ``tx_ids`` are already in a block."""
        return committed_ids(self.conn, tx_ids)

    def __call__(self, did: str, refresh: bool = False) -> tuple[PublicKey, bool] | None:
        if not refresh and did in self.cache:
            return self.cache[did]
        raw = state_value(self.conn, f"identity/{participant_key(did)}")
        found = None
        if raw is not None:
            rec = decode(raw)
            found = (PublicKey.from_b64(rec["key"]), rec["status"] == "active")
        if found is not None:  # unknown signers are not cached: they may register soon
            self.cache[did] = found
        return found


def verify_batch(raws: list[bytes], max_bytes: int, keys: StoreKeys,
                 contracts: Mapping[str, Contract],
                 part: tuple[int, int] | None = None) -> list[Verdict]:
    """Verdicts for ``raws``. With ``part`` (i, n) this is one of n workers checking the
    same single large transaction: each parses it and checks its signature (cheap next to
    preparing it), and prepares the i-th share if its method can be split; otherwise
    worker 0 prepares it whole and the others answer ``SKIPPED``."""
    parsed: list[SignedTx | SupplyLedgerError] = []
    for raw in raws:
        try:
            parsed.append(parse_tx(raw, max_bytes=max_bytes))
        except SupplyLedgerError as exc:
            parsed.append(exc)
    seen = keys.committed([t.id for t in parsed if isinstance(t, SignedTx)])
    out: list[Verdict] = []
    for raw, tx in zip(raws, parsed, strict=True):
        if not isinstance(tx, SignedTx):
            out.append((INVALID, "", b"", None, tx.to_dict(), None))
            continue
        canon = None if tx.raw == raw else tx.raw
        if tx.id in seen:
            out.append((REPLAYED, tx.id, b"", None, None, None))
            continue
        found = keys(tx.env["signer"])
        if found is None:
            out.append((UNKNOWN, tx.id, b"", canon, None, None))
            continue
        key, active = found
        if not active:
            out.append((REVOKED, tx.id, key.fp, canon, None, None))
            continue
        if not key.is_valid(tx.sig, tx.env_bytes):
            fresh = keys(tx.env["signer"], refresh=True)
            if fresh is None or fresh[0].fp == key.fp or not fresh[0].is_valid(
                    tx.sig, tx.env_bytes):
                out.append((BAD_SIG, tx.id, key.fp, canon, None, None))
                continue
            key = fresh[0]
        env = tx.env
        share = part if part is not None and _splits(contracts, env) else None
        if part is not None and share is None and part[0] > 0:
            out.append((SKIPPED, tx.id, key.fp, canon, None, None))
            continue
        value, error = prepare_call(contracts, env["contract"], env["method"], env["args"],
                                    share)
        out.append((OK, tx.id, key.fp, canon, None, (env["signer"], env["contract"],
                                                     env["method"], env["time"], env["chain"],
                                                     value, error)))
    return out


def _splits(contracts: Mapping[str, Contract], env: Mapping[str, Any]) -> bool:
    c = contracts.get(env["contract"])
    m = c.methods.get(env["method"]) if c is not None else None
    return m is not None and m.prepare_part is not None


def merge_shares(contracts: Mapping[str, Contract], answers: list[list[Verdict]]
                 ) -> list[Verdict]:
    """One verdict from the n workers' answers about one split transaction. Anything but
    n clean shares (a worker saw other committed state, a share failed) comes back as
    ``UNKNOWN``, which the node settles itself with the whole prepare step, so the error a
    call records never depends on how its preparation was shared out."""
    verdicts = [a[0] for a in answers]
    first = verdicts[0]
    if first[0] == OK and all(v[0] == SKIPPED for v in verdicts[1:]):
        return [first]  # the method does not split: worker 0 prepared it whole
    if first[0] != OK or any(v[0] != OK or v[5] is None or v[5][6] is not None
                             for v in verdicts):
        bad = next((v for v in verdicts if v[0] not in (OK, SKIPPED)), None)
        if bad is not None and bad[0] in (INVALID, REPLAYED):
            return [bad]
        return [(UNKNOWN, first[1], b"", first[3], None, None)]
    fields = first[5]
    assert fields is not None
    m = contracts[fields[1]].methods[fields[2]]
    assert m.merge_parts is not None
    value = m.merge_parts([v[5][5] for v in verdicts if v[5] is not None])
    return [(OK, first[1], first[2], first[3], None, (*fields[:5], value, None))]


def main(argv: list[str] | None = None) -> None:
    """Worker entry point: ``python -m supplyledger.node.verifier DB MAX_BYTES``. Runs until
    its stdin closes (so it never outlives the node)."""
    db_path, max_bytes = (argv or sys.argv[1:])[:2]
    # Ctrl-C at a terminal reaches the whole process group: the parent stops its workers
    # itself (closing stdin, or terminating an audit's), so the key must not kill them
    # mid-answer, each printing a KeyboardInterrupt traceback over the node's drain.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Frames go to a private copy of fd 1; fd 1 itself is pointed at stderr, so a stray
    # print from any library cannot corrupt the protocol.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    relax_gc()
    keys = StoreKeys(Path(db_path))
    contracts = load_builtin()
    inp = sys.stdin.buffer
    while (data := read_frame(inp)) is not None:
        request = pickle.loads(data)
        if isinstance(request, tuple) and request[0] == "audit":  # ("audit", first, last)
            answer: Any = audit_range(keys.conn, keys, contracts, request[1], request[2])
        elif isinstance(request, tuple):  # ("part", [raw], i, n)
            answer = verify_batch(request[1], int(max_bytes), keys, contracts,
                                  (request[2], request[3]))
        else:
            answer = verify_batch(request, int(max_bytes), keys, contracts)
        write_frame(out, pickle.dumps(answer, protocol=5))


def _send(stdin: IO[bytes], request: Any) -> None:
    # If the worker died, the request is already in its in-flight list, and the worker's
    # receiver thread reports that list as lost when it reads the end of the pipe.
    with contextlib.suppress(OSError):
        write_frame(stdin, pickle.dumps(request, protocol=5))


class _Shared:
    """One large transaction sent to every worker; answered once all shares are in."""

    __slots__ = ("answers", "done", "tags")

    def __init__(self, tags: list[Any], n: int) -> None:
        self.tags = tags
        self.answers: list[list[Verdict] | None] = [None] * n
        self.done = False


class VerifierPool:
    """Sends batches of submitted bytes to workers and hands verdicts to ``on_result``.

    A transaction of at least ``split_bytes`` submitted alone goes to every worker, each
    preparing a share (see :func:`verify_batch`), so one large EPCIS capture uses all cores.
    """

    def __init__(self, db_path: Path, max_bytes: int, workers: int,
                 on_result: Callable[[list[Any], list[Verdict]], None],
                 on_lost: Callable[[list[Any]], None], *,
                 split_bytes: int = 256 * 1024,
                 contracts: Mapping[str, Contract] | None = None) -> None:
        # Worker processes load the built-in contracts; other ones (tests of the contract
        # runtime) can only be prepared in this process.
        if contracts is not None and workers:
            raise ValueError("contracts other than the built-in ones need workers=0")
        self.db_path, self.max_bytes, self.on_result = db_path, max_bytes, on_result
        self.on_lost = on_lost
        self.dead = False
        self.n = workers
        self.split_bytes = split_bytes
        self._procs: list[subprocess.Popen[bytes]] = []
        self._inflight: list[list[list[Any] | _Shared]] = []
        self._cv = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._local_keys: StoreKeys | None = None
        self._given = contracts
        self._contracts: Mapping[str, Contract] = {}

    def alive(self) -> int:
        """Verifier processes still running (0 when verifying in-process)."""
        return sum(p.poll() is None for p in self._procs)

    def pids(self) -> list[int]:
        """Process ids of the verifier processes (none when verifying in-process)."""
        return [p.pid for p in self._procs]

    def start(self) -> None:
        self._contracts = self._given or load_builtin()
        if self.n == 0:
            self._local_keys = StoreKeys(self.db_path)
            return
        for i in range(self.n):
            p = subprocess.Popen(
                [sys.executable, "-m", "supplyledger.node.verifier", str(self.db_path),
                 str(self.max_bytes)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self._procs.append(p)
            self._inflight.append([])
            t = threading.Thread(target=self._receive, args=(i,), name=f"sl-recv-{i}",
                                 daemon=True)
            t.start()
            self._threads.append(t)

    def submit(self, raws: list[bytes], tags: list[Any]) -> None:
        """Verify ``raws``; ``tags`` come back with the verdicts, in the same order."""
        if self.n == 0:
            assert self._local_keys is not None
            self.on_result(tags, verify_batch(raws, self.max_bytes, self._local_keys,
                                              self._contracts))
            return
        if self.n > 1 and len(raws) == 1 and len(raws[0]) >= self.split_bytes:
            self._submit_shared(raws, tags)
            return
        with self._cv:
            if self.dead:
                self.on_lost(tags)
                return
            while True:
                i = min(range(self.n), key=lambda j: len(self._inflight[j]))
                if len(self._inflight[i]) < 4:
                    break
                self._cv.wait()
            self._inflight[i].append(tags)
        # Written outside the lock: a full pipe must not block the receivers, which need
        # the lock to drain the worker's answers. Only the dispatcher thread writes, so
        # each worker sees batches in the order they were registered.
        stdin = self._procs[i].stdin
        assert stdin is not None
        _send(stdin, raws)

    def _submit_shared(self, raws: list[bytes], tags: list[Any]) -> None:
        shared = _Shared(tags, self.n)
        with self._cv:
            if self.dead:
                self.on_lost(tags)
                return
            while any(len(q) >= 4 for q in self._inflight):
                self._cv.wait()
            for q in self._inflight:
                q.append(shared)
        for i, p in enumerate(self._procs):
            assert p.stdin is not None
            _send(p.stdin, ("part", raws, i, self.n))

    def _answer(self, entry: list[Any] | _Shared, i: int, verdicts: list[Verdict]) -> None:
        if not isinstance(entry, _Shared):
            self.on_result(entry, verdicts)
            return
        with self._cv:
            entry.answers[i] = verdicts
            complete = not entry.done and all(a is not None for a in entry.answers)
            entry.done = entry.done or complete
        if complete:
            self.on_result(entry.tags, merge_shares(
                self._contracts, [a for a in entry.answers if a is not None]))

    def _receive(self, i: int) -> None:
        stdout = self._procs[i].stdout
        assert stdout is not None
        while True:
            data = read_frame(stdout)
            if data is None:
                with self._cv:
                    lost, self._inflight[i] = self._inflight[i], []
                    self.dead = True
                    self._cv.notify_all()
                    # A shared transaction is lost once, whichever worker died.
                    lost_tags = [e if not isinstance(e, _Shared) else e.tags for e in lost
                                 if not isinstance(e, _Shared) or not e.done]
                    for e in lost:
                        if isinstance(e, _Shared):
                            e.done = True
                for tags in lost_tags:
                    self.on_lost(tags)
                return
            verdicts = pickle.loads(data)
            self._answer(self._inflight[i][0], i, verdicts)
            with self._cv:  # only now, so stop() returns after every verdict is handled
                self._inflight[i].pop(0)
                self._cv.notify_all()

    def stop(self) -> None:
        """Wait for in-flight batches, then stop the workers."""
        with self._cv:
            while any(self._inflight):
                self._cv.wait()
        for p in self._procs:
            if p.stdin is not None:
                p.stdin.close()
        for p in self._procs:
            p.wait(timeout=10)
        for t in self._threads:
            t.join(timeout=10)
        for p in self._procs:
            if p.stdout is not None:
                p.stdout.close()
        if self._local_keys is not None:
            self._local_keys.conn.close()


if __name__ == "__main__":
    main()
