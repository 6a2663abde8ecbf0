"""Crash safety with a real process kill (DESIGN: Ledger -> Durability).

"A transaction is acknowledged only once its block is committed durably. A crash at any
instant loses no acknowledged transaction and leaves an auditable ledger."

``driver.py`` runs the embedded node in a child process and submits pre-signed trace events;
it logs each acknowledged tx id (after its future resolved) to an fsync-ed ack log. The test
SIGKILLs the child at random instants and after every kill checks:

1. ``run_audit`` passes with no findings, on the directory exactly as the kill left it;
2. every id in the ack logs is in ``txs`` (read-only SQLite), and nothing committed before
   (acknowledged or not) has disappeared;
3. the restarted driver continues the chain with the remainder.

Finally the driver runs to completion: every transaction is committed exactly once, a replay
of committed transactions is refused, and the audit is clean.

The driver runs in its own process group, so the node's verifier worker processes are killed
with it if a test fails; after each kill the test also checks that none of them outlives the
node. A driver that stops acknowledging for a while counts as hung: its thread stacks are
dumped (faulthandler) into the failure message.

Also here: committed transactions sent again after a restart are refused as replays.

The seed is printed (run with ``-s``); set ``SL_CRASH_SEED`` to replay a run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from supplyledger.bench.workload import Signer, batch_txs, batches_for, presign
from supplyledger.errors import ReplayedTransaction
from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.ledger.keyfile import KdfParams
from supplyledger.ledger.tx import envelope_bytes_of, make_tx
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import init_ledger, load_node_key
from supplyledger.node.service import Node, wall_clock_ms
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("driver.py")
PASSWORD = "crash-test"
ROLES = ["manufacturer", "warehouse", "transporter", "supplier", "platform", "inspector"]
TIME_WINDOW_MS = 6 * 3_600_000
N_TXS = 3000


def _seed() -> int:
    env = os.environ.get("SL_CRASH_SEED")
    return int(env) if env else random.SystemRandom().randrange(2**32)


# -- the ledger every test starts from ----------------------------------------------------
@dataclass
class Template:
    ledger: Path
    txs_file: Path
    ids: list[str]
    raws: list[bytes]
    setup_ids: set[str]
    chain: str
    signers: list[Signer]


def _tx_id(raw: bytes) -> str:
    return hashlib.sha256(envelope_bytes_of(raw)[0]).hexdigest()


def _db_ids(ledger: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{ledger / DB_NAME}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM txs")]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """A consortium with six signers (two RSA-2048, four Ed25519) and N_TXS pre-signed
    EPCIS trace events (the benchmark workload), shared read-only by the tests."""
    t0 = time.perf_counter()
    root = tmp_path_factory.mktemp("crash-template")
    ledger = root / "ledger"
    admin, node_key = generate("ed25519"), generate("rsa")
    chain = "crash-" + os.urandom(4).hex()
    init_ledger(ledger, chain=chain, time_ms=wall_clock_ms(), node_password=PASSWORD,
                admins=[("crash-admin", admin, None)], node_key=node_key,
                kdf=KdfParams(n=2**10))
    node = Node(Settings(ledger, time_window_ms=TIME_WINDOW_MS),
                load_node_key(ledger, PASSWORD)).start()
    try:
        t = wall_clock_ms()
        futs = [node.submit(make_tx(admin, chain=chain, contract="identity",
                                    method="register_org",
                                    args={"id": f"org{i}", "name": f"Org {i}", "roles": ROLES},
                                    time_ms=t, nonce=f"org{i}").raw) for i in range(3)]
        for f in futs:
            assert f.result(timeout=60).ok
        signers: list[Signer] = []
        futs = []
        for i, alg in enumerate(["rsa", "ed25519", "ed25519"] * 2):
            k = generate(alg)
            signers.append(Signer(k.did, k.pkcs8_der()))
            futs.append(node.submit(make_tx(
                admin, chain=chain, contract="identity", method="register_member",
                args={"org": f"org{i % 3}", "public_key": k.public.b64, "name": f"member {i}",
                      "roles": ROLES}, time_ms=t, nonce=f"m{i}").raw))
        for f in futs:
            r = f.result(timeout=60)
            assert r.ok, r.error
        # The trace workload records events on existing batches: create them first
        # (product types, then lots), as `supplyledger bench` does.
        for phase in batch_txs(chain, signers, batches_for(N_TXS), t0=t):
            for f in [node.submit(raw) for raw in phase]:
                r = f.result(timeout=60)
                assert r.ok, r.error
    finally:
        node.stop()
    setup_ids = set(_db_ids(ledger))
    raws = presign(chain, signers, N_TXS, t0=wall_clock_ms(), seed=7, workers=2)
    ids = [_tx_id(r) for r in raws]
    assert len(set(ids)) == N_TXS
    txs_file = root / "txs.txt"
    with open(txs_file, "w", encoding="ascii") as f:
        for i, r in zip(ids, raws, strict=True):
            f.write(f"{i} {r.hex()}\n")
    print(f"\n[crash] template: {len(setup_ids)} setup txs, {N_TXS} pre-signed, "
          f"{time.perf_counter() - t0:.1f}s")
    return Template(ledger, txs_file, ids, raws, setup_ids, chain, signers)


# -- running and killing the driver -------------------------------------------------------
@dataclass
class Run:
    """One ledger directory being crashed over and over, and what we know about it."""

    tpl: Template
    dir: Path
    rng: random.Random
    driver_args: list[str]
    acked: set[str] = field(default_factory=set)
    committed: set[str] = field(default_factory=set)
    height: int = 0
    rounds: int = 0
    kills: int = 0

    @property
    def ledger(self) -> Path:
        return self.dir / "ledger"


def _new_run(tpl: Template, tmp_path: Path, seed: int, driver_args: list[str]) -> Run:
    shutil.copytree(tpl.ledger, tmp_path / "ledger")
    run = Run(tpl, tmp_path, random.Random(seed), driver_args)
    run.committed = set(_db_ids(run.ledger))
    return run


def _group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes of process group ``pgid``, from /proc."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            out.append(f"{d.name} {stat[stat.index('(') + 1:stat.rindex(')')]} {fields[0]}")
    return out


def _wait_group_gone(pgid: int, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := _group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _kill_group(pgid: int) -> None:
    """Clean-up only: SIGKILL whatever is left of the group this test started."""
    if _group_members(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def _reader(stream: Any, out: queue.SimpleQueue[str | None]) -> None:
    for line in stream:
        out.put(line.rstrip("\n"))
    out.put(None)


def _wait_line(lines: queue.SimpleQueue[str | None], prefixes: tuple[str, ...],
               deadline: float, proc: subprocess.Popen[str], stderr: Path, ack: Path,
               stall_s: float) -> str | None:
    """The first line starting with one of ``prefixes``; None if the driver exited first.
    Fails if the driver runs past ``deadline`` or its ack log stops growing for ``stall_s``
    (a hung node): then the driver dumps its threads' stacks (faulthandler, SIGUSR1)."""
    size, since = -1, time.monotonic()
    while True:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            now = time.monotonic()
            new = ack.stat().st_size if ack.exists() else 0
            if new != size:
                size, since = new, now
            if now - since > stall_s or now > deadline:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGUSR1)
                    time.sleep(1.0)
                why = (f"no acknowledgement for {stall_s:.0f} s" if now - since > stall_s
                       else "deadline passed")
                raise AssertionError(
                    f"driver hung ({why}) waiting for {prefixes}; stderr (thread stacks):\n"
                    f"{stderr.read_text()[-6000:]}") from None
            continue
        if line is None:
            return None
        if line.startswith(prefixes):
            return line


@dataclass
class RoundResult:
    returncode: int
    killed_by_us: bool
    done: dict[str, Any] | None


ACK_LINE = 65  # a tx id and a newline


def _acks_reached(ack: Path, n: int, proc: subprocess.Popen[str], deadline: float) -> None:
    """Return once the ack log holds ``n`` ids (or the driver exited, or time is up)."""
    while proc.poll() is None and time.monotonic() < deadline:
        if ack.exists() and ack.stat().st_size >= n * ACK_LINE:
            return
        time.sleep(0.0005)


def _round(run: Run, *, kill_after: float | None = None, kill_at_acks: int = 0,
           extra: tuple[str, ...] = (), after: str = "FLOWING", timeout: float = 120.0,
           stall_s: float = 20.0) -> RoundResult:
    """Start the driver; SIGKILL it ``kill_after`` seconds after it printed ``after``
    (SUBMITTING: node started; FLOWING: first acknowledgement logged), optionally first
    waiting until this run's ack log holds ``kill_at_acks`` ids; or let it run to
    completion, or until it kills itself."""
    run.rounds += 1
    ack = run.dir / f"ack-{run.rounds}.log"
    stderr = run.dir / f"driver-{run.rounds}.err"
    cmd = [sys.executable, str(DRIVER), "--dir", str(run.ledger), "--password", PASSWORD,
           "--txs", str(run.tpl.txs_file), "--ack", str(ack),
           "--seed", str(run.rng.randrange(2**31)), *run.driver_args, *extra]
    lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    with open(stderr, "w") as err:
        # Its own process group: the node's verifier worker processes are in it too.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                start_new_session=True)
    try:
        assert proc.stdout is not None
        threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + timeout
        killed = False
        if kill_after is not None:
            mark = _wait_line(lines, (after, "DONE "), deadline, proc, stderr, ack, stall_s)
            if mark is not None and mark.startswith(after):
                if kill_at_acks:
                    _acks_reached(ack, kill_at_acks, proc, deadline)
                time.sleep(kill_after)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)  # the crash
                    killed = True
        done = None
        while (line := _wait_line(lines, ("DONE ",), deadline, proc, stderr, ack,
                                  stall_s)) is not None:
            done = json.loads(line[5:])
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        rc = proc.returncode
        # The node's helper processes must not outlive it (they read their stdin to EOF).
        left = _wait_group_gone(proc.pid, 10.0)
        assert not left, f"processes of the killed node still running 10 s later: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_group(proc.pid)
    if rc not in (0, -signal.SIGKILL):
        raise AssertionError(f"driver failed ({rc}); stderr:\n{stderr.read_text()[-3000:]}")
    if rc == -signal.SIGKILL:
        run.kills += 1
    return RoundResult(rc, killed, done)


def _read_ack_logs(run: Run) -> set[str]:
    acked: set[str] = set()
    for path in sorted(run.dir.glob("ack-*.log")):
        data = path.read_text(encoding="ascii")
        lines = data.split("\n")
        # Every line the driver wrote is complete: it writes "<id>\n" with one write().
        assert lines[-1] == "", f"{path.name} ends in a partial line {lines[-1]!r}"
        for line in lines[:-1]:
            assert len(line) == 64 and all(c in "0123456789abcdef" for c in line), line
            acked.add(line)
    return acked


def _check_after_crash(run: Run, what: str) -> None:
    """The three promises, on the ledger directory exactly as the crash left it."""
    t0 = time.perf_counter()
    report = run_audit(run.ledger)
    assert report.ok and not report.findings, (
        f"audit after {what}: {[vars(f) for f in report.findings[:5]]}")
    ids = _db_ids(run.ledger)
    db = set(ids)
    assert len(ids) == len(db) == report.txs
    acked = _read_ack_logs(run)
    lost = acked - db
    assert not lost, f"{len(lost)} acknowledged txs lost after {what}: {sorted(lost)[:5]}"
    vanished = run.committed - db
    assert not vanished, f"{len(vanished)} committed txs vanished after {what}"
    foreign = db - run.tpl.setup_ids - set(run.tpl.ids)
    assert not foreign, f"unknown txs in the ledger after {what}: {sorted(foreign)[:5]}"
    assert report.blocks - 1 >= run.height, f"the chain got shorter after {what}"
    run.height = report.blocks - 1
    new_acks, new_commits = len(acked - run.acked), len(db - run.committed)
    run.acked, run.committed = acked, db
    msg = (f"[crash] {what}: height {report.blocks - 1}, +{new_commits} committed "
           f"(+{new_acks} acked), {len(db) - len(run.tpl.setup_ids)}/{N_TXS} in ledger, "
           f"audit {time.perf_counter() - t0:.1f}s")
    print(msg)


def _finish(run: Run) -> None:
    """Run the driver to completion once; everything committed exactly once."""
    res = _round(run, extra=("--replay", "100"))
    assert res.returncode == 0 and res.done is not None, res
    assert res.done["errors"] == 0 and res.done["acked"] == res.done["submitted"]
    assert res.done["replayed_refused"] == min(100, len(run.committed) - len(run.tpl.setup_ids))
    _check_after_crash(run, "the final clean run")
    conn = sqlite3.connect(f"file:{run.ledger / DB_NAME}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT id, COUNT(*) FROM txs GROUP BY id").fetchall()
        total, refused = conn.execute("SELECT COUNT(*), COUNT(*) - SUM(ok) FROM txs "
                                      "WHERE contract='trace'").fetchone()
    finally:
        conn.close()
    assert {r[0] for r in rows} == run.tpl.setup_ids | set(run.tpl.ids)
    assert all(r[1] == 1 for r in rows), "a tx is stored twice"
    assert total == N_TXS
    # The workload must really execute: a refusal here means the template no longer matches
    # the contracts, and the kills would only have been tested on error receipts.
    assert refused == 0, f"{refused}/{total} refused, e.g. {res.done.get('first_refusal')}"


# -- the tests ----------------------------------------------------------------------------
def test_sigkill_at_random_instants_loses_no_acknowledged_tx(template: Template,
                                                             tmp_path: Path) -> None:
    """Six SIGKILLs 50 ms - 1.5 s into a paced benchmark load (default block cutting; the
    clock starts at the first acknowledgement), a check after each, restart, then a run to
    completion."""
    seed = _seed()
    print(f"\n[crash] random kills: SL_CRASH_SEED={seed}")
    run = _new_run(template, tmp_path, seed,
                   ["--clients", "3", "--window", "200", "--rate", "200"])
    t0 = time.perf_counter()
    for k in range(6):
        delay = run.rng.uniform(0.05, 1.5)
        res = _round(run, kill_after=delay)
        _check_after_crash(run, f"kill {k + 1}, {delay * 1000:.0f} ms after FLOWING "
                                f"({'SIGKILL' if res.killed_by_us else 'exited first'})")
    _finish(run)
    print(f"[crash] random kills: {run.kills} kills, {time.perf_counter() - t0:.1f}s")
    assert run.kills >= 5, "the driver finished before most kills; raise N_TXS"


def test_sigkill_during_block_commit_under_heavy_load(template: Template,
                                                      tmp_path: Path) -> None:
    """Flat-out load from 4 clients with 1000 txs in flight each, blocks cut after 1 ms or 200
    txs, so the committer is almost always inside a commit. The process kills itself inside
    a chosen commit (all rows written, COMMIT not issued / COMMIT with its WAL write and
    fsync in flight / COMMIT returned, nothing acknowledged yet), then external SIGKILLs
    (two at a random instant after a random number of acknowledgements, one during start-up:
    last, since on a fast machine the node may drain everything left within the delay, and
    the others must find work to interrupt), then a run to completion with everything left
    in flight at once, which must drain (regression: VerifierPool once wrote to a worker's
    stdin while holding the lock its receivers need, and deadlocked under such a backlog; a
    driver that stops acknowledging for 20 s fails the test with its thread stacks)."""
    seed = _seed()
    print(f"\n[crash] heavy load: SL_CRASH_SEED={seed}")
    run = _new_run(template, tmp_path, seed,
                   ["--clients", "4", "--window", "1000", "--block-max-ms", "1",
                    "--block-max-txs", "200"])
    t0 = time.perf_counter()
    self_kills = dict.fromkeys(("before", "during", "after"), 0)
    plan = [("self", "before"), ("self", "during"), ("self", "after"),
            ("kill", "acks"), ("kill", "acks"), ("kill", "SUBMITTING")]
    for kind, arg in plan:
        if kind == "kill" and arg == "SUBMITTING":  # while the node starts up
            delay = run.rng.uniform(0.02, 0.3)
            res = _round(run, kill_after=delay, after=arg)
            what = f"SIGKILL {delay * 1000:.0f} ms after SUBMITTING"
        elif kind == "kill":
            # Flat out the node drains thousands of tx/s, so a kill timed in seconds would
            # find the work done: kill at a random point of the commit cycle after a random
            # number of acknowledgements instead.
            acks, delay = run.rng.randrange(1, 400), run.rng.uniform(0.0, 0.03)
            res = _round(run, kill_after=delay, kill_at_acks=acks)
            what = f"SIGKILL {delay * 1000:.1f} ms after ack {acks}"
        else:
            nth = run.rng.randrange(2, 4)
            res = _round(run, extra=("--die-in-commit", f"{nth}:{arg}"))
            what = f"self-SIGKILL in commit {nth} ({arg} COMMIT"
            if arg == "during":
                err = (run.dir / f"driver-{run.rounds}.err").read_text()
                what += ", kill landed " + ("after it returned" if "COMMIT returned" in err
                                            else "before it returned")
            what += ")"
            self_kills[arg] += res.returncode == -signal.SIGKILL
        if res.returncode != -signal.SIGKILL:
            what += " (driver exited first)"
        _check_after_crash(run, what)
    _finish(run)
    print(f"[crash] heavy load: {run.kills} kills, {time.perf_counter() - t0:.1f}s")
    assert run.kills >= 5, "the driver finished before most kills; raise N_TXS"
    assert all(self_kills.values()), f"a commit stage was never hit: {self_kills}"


# -- replays after a restart ---------------------------------------------------------------
def _node(ledger: Path, clock: Any = wall_clock_ms, **settings: Any) -> Node:
    s = Settings(ledger, time_window_ms=settings.pop("time_window_ms", TIME_WINDOW_MS),
                 **settings)
    return Node(s, load_node_key(ledger, PASSWORD), clock=clock).start()


def test_replay_after_restart_and_pruning_is_refused(template: Template, tmp_path: Path) -> None:
    """A committed tx sent again after a restart, and again after enough blocks that any
    in-memory replay memory has been pruned (the node prunes at heights % 64 == 0), is
    refused as a replay; it must not reach a block (a duplicate id fails the commit on the
    txs primary key and halts the node)."""
    ledger = tmp_path / "ledger"
    shutil.copytree(template.ledger, ledger)
    node = _node(ledger, block_max_txs=4)
    try:
        futs = [node.submit(r) for r in template.raws[:60]]
        for f in futs:
            f.result(timeout=60)  # committed (a contract refusal is committed too)
    finally:
        node.stop()
    node = _node(ledger, block_max_txs=4)  # restart
    try:
        assert node.height < 64
        exc = node.submit(template.raws[1]).exception(timeout=60)
        assert isinstance(exc, ReplayedTransaction), f"replay right after restart gave {exc!r}"
        i = 60
        while node.height < 65:  # the node prunes its replay memory at a height % 64 == 0
            node.submit(template.raws[i]).result(timeout=60)
            i += 1
        fut = node.submit(template.raws[0])
        exc = fut.exception(timeout=60)
        assert isinstance(exc, ReplayedTransaction), f"replay of a committed tx gave {exc!r}"
        node.submit(template.raws[i]).result(timeout=60)  # the node still serves
    finally:
        node.stop()
    report = run_audit(ledger)
    assert report.ok and not report.findings, report.findings[:3]


def test_replay_of_future_dated_tx_after_restart_is_refused(template: Template,
                                                            tmp_path: Path) -> None:
    """A tx dated ahead of the node clock (inside the window) is committed; after a restart
    1.5 windows later it is still inside the window (its own time is what counts, not its
    block's), so sending it again must be refused as a replay."""
    ledger = tmp_path / "ledger"
    shutil.copytree(template.ledger, ledger)
    window = 60_000
    now = [wall_clock_ms()]
    key = PrivateKey.from_pkcs8_der(template.signers[1].pkcs8)
    tx = make_tx(key, chain=template.chain, contract="identity", method="register_org",
                 args={"id": "future-1", "name": "F", "roles": ["supplier"]},
                 time_ms=now[0] + window * 9 // 10, nonce="future-1")  # committed, role_denied
    node = _node(ledger, clock=lambda: now[0], time_window_ms=window)
    try:
        node.submit(tx.raw).result(timeout=60)  # committed
    finally:
        node.stop()
    now[0] += window * 3 // 2  # the tx is now 0.6 windows in the past: still admissible
    node = _node(ledger, clock=lambda: now[0], time_window_ms=window)
    try:
        exc = node.submit(tx.raw).exception(timeout=60)
        assert isinstance(exc, ReplayedTransaction), f"replay of a committed tx gave {exc!r}"
    finally:
        node.stop()
    report = run_audit(ledger)
    assert report.ok and not report.findings, report.findings[:3]
