"""Where a benchmark's CPU goes: per process of the node, and per stage of a transaction's
checks on one core.

The committed rate alone does not say why it sits where it does; these two readings,
taken in the same run, do. Both are in microseconds of CPU per transaction, so they
compare across the machine's faster and slower spells better than rates do.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from supplyledger.contracts.runtime import Contract, prepare_call
from supplyledger.ledger.crypto import PublicKey
from supplyledger.ledger.tx import SignedTx, parse_tx

__all__ = ["ProcessClock", "stage_costs"]

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a running process, from ``/proc`` (Linux); None
    elsewhere or once it has gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            # Fields after the command name, which may itself hold spaces and parentheses.
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


class ProcessClock:
    """CPU used by groups of processes between :meth:`start` and :meth:`stop`."""

    def __init__(self, groups: Mapping[str, list[int]]) -> None:
        self._groups = {name: list(pids) for name, pids in groups.items()}
        self._start: dict[int, float | None] = {}

    def _read(self) -> dict[int, float | None]:
        return {pid: _cpu_s(pid) for pids in self._groups.values() for pid in pids}

    def start(self) -> None:
        self._start = self._read()

    def stop(self, per: int) -> dict[str, float] | None:
        """Microseconds of CPU per unit of work (``per`` units) for each group and their
        ``total``; None when some process could not be read (not Linux, or one exited)."""
        if per <= 0:
            return None
        end, start = self._read(), self._start
        used: dict[int, float] = {}
        for pid, t in end.items():
            t0 = start.get(pid)
            if t is None or t0 is None:
                return None
            used[pid] = t - t0
        out = {name: round(sum(used[p] for p in pids) * 1e6 / per, 1)
               for name, pids in self._groups.items()}
        out["total"] = round(sum(out.values()), 1)
        return out


def stage_costs(raws: list[bytes], keys: Mapping[str, PublicKey],
                contracts: Mapping[str, Contract], max_bytes: int) -> dict[str, float]:
    """Microseconds of this thread's CPU per transaction for each check a verifier process
    runs on it: ``parse`` (decode, envelope schema, canonical bytes), ``verify`` (the
    signature) and ``prepare`` (the method's stateless step: for a trace event, its EPCIS
    validation and event hash). The audit repeats all three for every transaction."""

    def parse(rs: list[bytes]) -> list[SignedTx]:
        return [parse_tx(r, max_bytes=max_bytes) for r in rs]

    def verify(txs: list[SignedTx]) -> None:
        for t in txs:
            keys[t.signer].verify(t.sig, t.env_bytes)

    def prepare(txs: list[SignedTx]) -> None:
        for t in txs:
            prepare_call(contracts, t.contract, t.method, t.args, None)

    first = parse(raws[:1])  # first calls pay one-off costs (lazy imports, regexes)
    verify(first)
    prepare(first)
    t0 = time.thread_time()
    txs = parse(raws)
    t1 = time.thread_time()
    verify(txs)
    t2 = time.thread_time()
    prepare(txs)
    t3 = time.thread_time()
    n = max(1, len(raws))
    return {stage: round(dt * 1e6 / n, 1)
            for stage, dt in (("parse", t1 - t0), ("verify", t2 - t1), ("prepare", t3 - t2))}
