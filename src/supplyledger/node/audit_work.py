"""The audit's working parts: the parallel half, and the re-executed state on disk.

The parallel half does, per stored transaction, everything that needs no state.

Run in verifier worker processes over a range of blocks (rows read through
``store/history.py``): split and hash the envelope, check its schema, run the method's
prepare step, verify the signature with the signer's key as stored, and hash the Merkle
leaves. The auditor re-executes sequentially and trusts none of the stored-state answers:
when the key a worker used differs from the key in the re-executed state (e.g. a tampered
``state`` table), it verifies again itself.

:class:`ScratchState` keeps the state the auditor re-executes in its scratch database
(``store/history.py``) rather than in memory, so the audit's memory does not grow with the
number of state keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from supplyledger.contracts.runtime import Contract, prepare_call
from supplyledger.errors import SupplyLedgerError
from supplyledger.ledger import merkle
from supplyledger.ledger.crypto import b64d
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.tx import check_envelope, envelope_bytes_of
from supplyledger.node.frames import read_frame, write_frame
from supplyledger.store import history
from supplyledger.store.history import stored_bytes

__all__ = ["BLOOM_BITS", "AuditRow", "AuditWorkers", "ScratchState", "audit_range",
           "audit_row"]

# (stored id, computed id or None, error dict or None, call fields or None,
#  key fingerprint used, signature ok, tx leaf hash)
AuditRow = tuple[str, str | None, dict[str, Any] | None, tuple[Any, ...] | None, bytes, bool,
                 bytes]
BLOOM_BITS = 1 << 26  # 8 MiB: which keys the scratch database may hold


def audit_row(stored_id: str, raw: bytes, keys: Any,
              contracts: Mapping[str, Contract]) -> AuditRow:
    leaf = merkle.leaf_hash(raw)
    try:
        env_bytes, sig_b64 = envelope_bytes_of(raw)
        env = decode(env_bytes)
        check_envelope(env)
        sig = b64d(sig_b64)
    except SupplyLedgerError as exc:
        return (stored_id, None, exc.to_dict(), None, b"", False, leaf)
    tx_id = hashlib.sha256(env_bytes).hexdigest()
    value, error = prepare_call(contracts, env["contract"], env["method"], env["args"])
    fields = (env["signer"], env["contract"], env["method"], env["time"], env["chain"], value,
              error)
    found = keys(env["signer"])
    if found is None:
        return (stored_id, tx_id, None, fields, b"", False, leaf)
    key = found[0]
    return (stored_id, tx_id, None, fields, key.fp, key.is_valid(sig, env_bytes), leaf)


def audit_range(conn: sqlite3.Connection, keys: Any, contracts: Mapping[str, Contract],
                lo: int, hi: int) -> list[tuple[int, AuditRow]]:
    """(position, row) of every stored transaction of blocks ``lo``..``hi``."""
    return [(pos, audit_row(str(tx_id), stored_bytes(raw), keys, contracts))
            for pos, tx_id, raw in history.tx_blobs(conn, lo, hi)]


class AuditWorkers:
    """Worker processes answering block ranges in request order (tiny requests, so the
    auditor never blocks writing while a worker waits for its answer to be read)."""

    def __init__(self, db_path: str, workers: int) -> None:
        self.procs = [subprocess.Popen(
            [sys.executable, "-m", "supplyledger.node.verifier", db_path, str(1 << 30)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(workers)]
        self.sent = 0
        self.got = 0

    def request(self, lo: int, hi: int) -> None:
        """Ask for the rows of blocks ``lo``..``hi``."""
        p = self.procs[self.sent % len(self.procs)]
        assert p.stdin is not None
        write_frame(p.stdin, pickle.dumps(("audit", lo, hi)))
        self.sent += 1

    def answer(self) -> list[tuple[int, AuditRow]]:
        p = self.procs[self.got % len(self.procs)]
        assert p.stdout is not None
        data = read_frame(p.stdout)
        if data is None:
            raise RuntimeError("an audit worker process died")
        self.got += 1
        rows: list[tuple[int, AuditRow]] = pickle.loads(data)
        return rows

    def close(self) -> None:
        """Stop the workers. When the audit stopped early, answers are still owed: a worker
        may be blocked writing one that will never be read, so it is ended instead of
        waited for (it holds nothing but a read-only connection)."""
        owed = self.sent > self.got
        for p in self.procs:
            if p.stdin is not None:
                with contextlib.suppress(OSError):  # a worker that died took the pipe along
                    p.stdin.close()
            if owed:
                p.terminate()
        for p in self.procs:
            p.wait(timeout=30)
            if p.stdout is not None:
                p.stdout.close()


class ScratchState:
    """The re-executed state, in the scratch database: writes are collected (the executor
    caches them meanwhile) and go down in sorted batches, each key once however often it
    was rewritten. A fixed-size Bloom filter of the keys written spares the look-up for a
    key never written, the most common miss (a new key, such as a first event's)."""

    def __init__(self, scratch: sqlite3.Connection) -> None:
        self.scratch = scratch
        self.unflushed: dict[str, bytes | None] = {}
        self.bits = bytearray(BLOOM_BITS >> 3)

    @staticmethod
    def _slots(key: str) -> tuple[int, int]:
        h = hash(key)  # str hashes are cached by Python and stable within this process
        return h & (BLOOM_BITS - 1), (h >> 32) & (BLOOM_BITS - 1)

    def read(self, key: str) -> bytes | None:
        """A key the executor does not cache (collected writes it always does)."""
        a, b = self._slots(key)
        bits = self.bits
        if not (bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1):
            return None
        return history.scratch_state(self.scratch, [key]).get(key)

    def flush(self) -> None:
        """Write the collected writes down, marking their keys in the filter."""
        bits = self.bits
        for key in self.unflushed:
            for i in self._slots(key):
                bits[i >> 3] |= 1 << (i & 7)
        history.write_scratch_state(self.scratch, sorted(self.unflushed.items()))
        self.unflushed = {}
